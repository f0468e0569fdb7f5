/*
 * test_vol_own.c - a partition's own volume contribution held sparse
 * (stages/detect/vol_own.c) behaves as the rings (cf_vol_rep) do: after every
 * addition of random sequences (rings moving on, late slots, slots left
 * behind, zero and negative amounts, saturation), both hold the same newest
 * hour and day and the same slot list, and write the same bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "pipeline/core/config_map.h"
#include "stages/detect/detect_int.h"

static void *vol_cfg(void)
{
        void *cfg = calloc(1, cf_rule_origin_volume_surge.cfg_size);
        char err[256];
        assert_non_null(cfg);
        assert_int_equal(cf_config_map_apply(cf_rule_origin_volume_surge.config_map, "rules.x",
                                             NULL, NULL, cfg, err, sizeof err),
                         0);
        return cfg;
}

static cf_vol_rep *dense_new(const void *cfg, int64_t hour)
{
        uint16_t nh, nd;
        cf_vol_ring_sizes(cfg, &nh, &nd);
        cf_vol_rep *v = calloc(1, sizeof(cf_vol_rep) + (size_t)(nh + nd) * 12);
        assert_non_null(v);
        cf_vol_rep_init(v, nh, nd, hour);
        return v;
}

static void push(void *op, bool day, int64_t at, int64_t cents, uint32_t decl)
{
        *(cf_vol_slot *)cf_vec_push(op, sizeof(cf_vol_slot)) =
            (cf_vol_slot){.at = at, .cents = cents, .decl = decl, .day = day};
}

/* Same newest hour and day, same slots, same bytes written. */
static void same(cf_vol_rep *d, const cf_vol_own *o)
{
        assert_int_equal(d->cur_hour, o->cur_hour);
        assert_int_equal(d->cur_day, o->cur_day);
        cf_vec l = {0};
        cf_vol_rep_each(d, push, &l);
        assert_int_equal(l.n, o->n);
        const cf_vol_slot *s = l.v;
        uint32_t hours = 0;
        for (size_t i = 0; i < l.n; i++) {
                assert_int_equal(s[i].day, o->s[i].day);
                assert_int_equal(s[i].at, o->s[i].at);
                assert_int_equal(s[i].cents, o->s[i].cents);
                assert_int_equal(s[i].decl, o->s[i].decl);
                hours += !s[i].day;
        }
        assert_int_equal(hours, o->nhs);
        cf_buf a = {0}, b = {0};
        cf_vol_rep_put(&a, d);
        cf_vol_slots_put(&b, o->s, o->n);
        assert_int_equal(a.len, b.len);
        assert_memory_equal(a.p, b.p, a.len);
        cf_buf_free(&a);
        cf_buf_free(&b);
        free(l.v);
}

static void test_random_sequences(void **state)
{
        (void)state;
        void *cfg = vol_cfg();
        size_t slots_max = 0;
        for (unsigned seed = 1; seed <= 300; seed++) {
                srand(seed);
                int64_t h0 = 10000 + rand() % 1000;
                cf_vol_rep *d = dense_new(cfg, h0);
                cf_vol_own o = {0};
                cf_vol_own_init(&o, cfg, h0);
                same(d, &o);
                int64_t t = h0;
                for (int i = 0; i < 400; i++) {
                        int r = rand() % 100;
                        /* time moves on mostly by hours, sometimes by days; some records late */
                        t += r < 60 ? rand() % 3 : r < 63 ? 24 * (rand() % 40) : 0;
                        int64_t at = t - (rand() % 4 == 0 ? rand() % (24 * 40) : 0);
                        int64_t cents = rand() % 10 == 0 ? 0 : (int64_t)(rand() % 100000);
                        int64_t decl = rand() % 3;
                        if (rand() % 20 == 0) cents = -cents; /* a replica's take-out */
                        if (rand() % 20 == 0) decl = -decl;
                        if (rand() % 200 == 0) cents = INT64_MAX - rand() % 10; /* saturation */
                        if (rand() % 3 == 0) {
                                bool day = rand() % 2;
                                int64_t a = day ? at / 24 : at;
                                cf_vol_ring_add(d, day, a, cents, decl);
                                cf_vol_own_ring_add(&o, day, a, cents, decl);
                        } else {
                                cf_vol_event e = {.key = 1, .t = at * 3600000, .hour = at};
                                e.cents = cents < 0 ? 0 : cents;
                                e.decl = (uint32_t)(decl < 0 ? 0 : decl);
                                cf_vol_rep_add(d, &e);
                                cf_vol_own_add(&o, &e);
                        }
                        same(d, &o);
                        if (o.n > slots_max) slots_max = o.n;
                }
                cf_vol_own_drop(NULL, 0, &o);
                free(d);
        }
        /* the sequences filled rings, not only a few slots */
        assert_true(slots_max >= 30);
        cf_config_map_free(cf_rule_origin_volume_surge.config_map, cfg);
        free(cfg);
}

/* A value restored from its slot list (vol_get's way) is the one that wrote it. */
static void test_rebuilt_from_slots(void **state)
{
        (void)state;
        void *cfg = vol_cfg();
        srand(7);
        cf_vol_own o = {0};
        cf_vol_own_init(&o, cfg, 5000);
        for (int i = 0; i < 300; i++) {
                cf_vol_event e = {.key = 1, .hour = 5000 + i * 2 - rand() % 30};
                e.cents = rand() % 5000;
                e.decl = (uint32_t)(rand() % 2);
                cf_vol_own_add(&o, &e);
        }
        cf_buf b = {0};
        cf_vol_slots_put(&b, o.s, o.n);
        char err[128];
        cf_st_dec dec;
        cf_st_dec_init(&dec, b.p, b.len, "test", err, sizeof err);
        cf_vec slots = {0};
        int64_t top_hour, top_day;
        assert_true(cf_vol_slots_get(&dec, &slots, &top_hour, &top_day));
        cf_vol_own r = {0};
        cf_vol_own_init_slots(&r, cfg, top_hour, top_day);
        cf_vol_own_add_slots(&r, &slots);
        assert_true(o.n >= 30);
        assert_int_equal(r.n, o.n);
        assert_int_equal(r.nhs, o.nhs);
        for (uint32_t i = 0; i < o.n; i++) {
                assert_int_equal(r.s[i].day, o.s[i].day);
                assert_int_equal(r.s[i].at, o.s[i].at);
                assert_int_equal(r.s[i].cents, o.s[i].cents);
                assert_int_equal(r.s[i].decl, o.s[i].decl);
        }
        free(slots.v);
        cf_buf_free(&b);
        cf_vol_own_drop(NULL, 0, &o);
        cf_vol_own_drop(NULL, 0, &r);
        cf_config_map_free(cf_rule_origin_volume_surge.config_map, cfg);
        free(cfg);
}

int main(void)
{
        const struct CMUnitTest tests[] = {cmocka_unit_test(test_random_sequences),
                                           cmocka_unit_test(test_rebuilt_from_slots)};
        return cmocka_run_group_tests(tests, NULL, NULL);
}
