/*
 * test_risk.c - the risk model (stages/detect/risk): it learns a planted
 * pattern, explains it, holds bit-identical weights on two instances fed the
 * same outcomes, snapshots and restores exactly, refuses corrupt snapshots,
 * and keeps its memory bounded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "stages/detect/risk/risk.h"

static cf_risk *model(const char *yaml)
{
        char err[512];
        cf_node *doc =
            yaml ? cf_yaml_load_string("test", yaml, strlen(yaml), err, sizeof err) : NULL;
        cf_risk_cfg cfg = {0};
        assert_int_equal(
            cf_config_map_apply(cf_risk_config_map, "model", doc, NULL, &cfg, err, sizeof err), 0);
        cf_risk *m = cf_risk_new(&cfg, err, sizeof err);
        if (!m) fail_msg("%s", err);
        cf_config_map_free(cf_risk_config_map, &cfg);
        cf_yaml_free(doc);
        return m;
}

typedef struct gen {
        uint64_t s;
        char imp[32], dec[16], hs[16]; /* hs: room for any int, as -Wformat-truncation asks */
        cf_decl d;
} gen;

static uint32_t rnd(gen *g, uint32_t n)
{
        g->s ^= g->s << 13, g->s ^= g->s >> 7, g->s ^= g->s << 17;
        return (uint32_t)(g->s % n);
}

/* A declaration; fraud when the importer is IMP-7 or the HS6 is 610910 from CN,
 * plus 5 % label noise. */
static bool next(gen *g)
{
        memset(&g->d, 0, sizeof g->d);
        int imp = (int)rnd(g, 200), hs = (int)rnd(g, 50);
        snprintf(g->imp, sizeof g->imp, "IMP-%d", imp);
        snprintf(g->dec, sizeof g->dec, "DEC-%d", (int)rnd(g, 20));
        snprintf(g->hs, sizeof g->hs, "%06d", 610900 + hs);
        cf_decl *d = &g->d;
        d->importer_id = (cf_str){g->imp, (uint32_t)strlen(g->imp)};
        d->exporter_id = (cf_str){"EXP", 3};
        d->declarant_id = (cf_str){g->dec, (uint32_t)strlen(g->dec)};
        d->present |= CF_HAS_DECLARANT;
        d->hs_code = (cf_str){g->hs, 6};
        d->hs6 = (uint32_t)(610900 + hs);
        d->origin_country = rnd(g, 2) ? CF_CC('C', 'N') : CF_CC('V', 'N');
        d->export_country = d->origin_country;
        d->quantity = 1 + rnd(g, 1000);
        memcpy(d->unit, "KGM", 4);
        memcpy(d->currency, "USD", 4);
        d->value_usd = d->customs_value = d->quantity * (1 + rnd(g, 20));
        bool fraud = imp == 7 || (hs == 10 && d->origin_country == CF_CC('C', 'N'));
        if (rnd(g, 100) < 5) fraud = !fraud;
        return fraud;
}

static void set_importer(gen *g, const char *imp)
{
        snprintf(g->imp, sizeof g->imp, "%s", imp);
        g->d.importer_id = (cf_str){g->imp, (uint32_t)strlen(g->imp)};
        g->d.importer_h = 0;
}

static void test_learns_and_explains(void **state)
{
        (void)state;
        cf_risk *m = model(NULL);
        gen g = {.s = 42};
        for (int i = 0; i < 20000; i++) {
                bool y = next(&g);
                cf_risk_learn(m, &g.d, y);
        }
        assert_int_equal(cf_risk_outcomes(m), 20000);
        next(&g);
        g.d.hs6 = 610901; /* no planted HS pattern */
        g.d.hs_code = (cf_str){"610901", 6};
        set_importer(&g, "IMP-7");
        double bad = cf_risk_score(m, &g.d);
        cf_risk_contrib top[5];
        int k = cf_risk_top(m, &g.d, top, 5);
        set_importer(&g, "IMP-8");
        double good = cf_risk_score(m, &g.d);
        assert_true(bad > 0.5);
        assert_true(good < 0.2);
        /* the importer is among the features that raised the score, by name */
        assert_true(k >= 1);
        int named = 0;
        for (int i = 0; i < k; i++) {
                assert_true(top[i].contribution > 0);
                if (i) assert_true(top[i].contribution <= top[i - 1].contribution);
                named |= strstr(top[i].name, "IMP-7") != NULL;
        }
        if (!named) fail_msg("IMP-7 not in the top features (first: %s)", top[0].name);
        cf_risk_free(m);
}

/* Two instances fed the same outcomes hold bit-identical state; a third that
 * restarts from a snapshot half way and learns the rest ends identical too. */
static void test_deterministic(void **state)
{
        (void)state;
        cf_risk *a = model(NULL), *b = model(NULL), *c = model(NULL);
        gen ga = {.s = 7}, gb = {.s = 7};
        cf_buf snap = {0};
        char err[256];
        for (int i = 0; i < 10000; i++) {
                bool y = next(&ga);
                cf_risk_learn(a, &ga.d, y);
                y = next(&gb);
                cf_risk_learn(b, &gb.d, y);
                if (i == 4999) {
                        cf_risk_snapshot(b, &snap);
                        assert_int_equal(cf_risk_restore(c, snap.p, snap.len, err, sizeof err), 0);
                        assert_int_equal(cf_risk_checksum(c), cf_risk_checksum(b));
                }
                if (i >= 5000) cf_risk_learn(c, &gb.d, y);
        }
        assert_int_equal(cf_risk_checksum(a), cf_risk_checksum(b));
        assert_int_equal(cf_risk_checksum(c), cf_risk_checksum(a));
        cf_buf sa = {0}, sb = {0};
        cf_risk_snapshot(a, &sa);
        cf_risk_snapshot(c, &sb);
        assert_int_equal(sa.len, sb.len);
        assert_memory_equal(sa.p, sb.p, sa.len);
        /* one outcome more on one side: they differ */
        cf_risk_learn(a, &ga.d, true);
        assert_int_not_equal(cf_risk_checksum(a), cf_risk_checksum(b));
        cf_buf_free(&snap);
        cf_buf_free(&sa);
        cf_buf_free(&sb);
        cf_risk_free(a);
        cf_risk_free(b);
        cf_risk_free(c);
}

static void test_snapshot_refusals(void **state)
{
        (void)state;
        cf_risk *m = model(NULL);
        gen g = {.s = 3};
        for (int i = 0; i < 500; i++) {
                bool y = next(&g);
                cf_risk_learn(m, &g.d, y);
        }
        cf_buf snap = {0};
        cf_risk_snapshot(m, &snap);
        char err[256];
        cf_risk *r = model(NULL);
        /* a NaN weight is refused (the checksum is the sealed global state's, checked
         * before); the model is left empty. The first slot's z: after magic, version,
         * fingerprint, outcomes, frauds, count and the slot's index. */
        const size_t z0 = 6 + 2 + 8 * 3 + 8 + 4;
        char keep[4];
        memcpy(keep, snap.p + z0, 4);
        memcpy(snap.p + z0, "\x00\x00\xc0\x7f", 4);
        assert_int_equal(cf_risk_restore(r, snap.p, snap.len, err, sizeof err), -1);
        assert_non_null(strstr(err, "weight slot"));
        assert_int_equal(cf_risk_outcomes(r), 0);
        memcpy(snap.p + z0, keep, 4);
        /* truncated */
        assert_int_equal(cf_risk_restore(r, snap.p, snap.len - 3, err, sizeof err), -1);
        /* other settings: re-learn (1), empty */
        cf_risk *o = model("features: [importer_id]\n");
        assert_int_equal(cf_risk_restore(o, snap.p, snap.len, err, sizeof err), 1);
        assert_int_equal(cf_risk_outcomes(o), 0);
        /* the intact one restores */
        assert_int_equal(cf_risk_restore(r, snap.p, snap.len, err, sizeof err), 0);
        assert_int_equal(cf_risk_outcomes(r), 500);
        assert_int_equal(cf_risk_checksum(r), cf_risk_checksum(m));
        cf_buf_free(&snap);
        cf_risk_free(m);
        cf_risk_free(r);
        cf_risk_free(o);
}

/* Memory is fixed by the config: many new entities do not grow it. */
static void test_bounded(void **state)
{
        (void)state;
        cf_risk *m = model("hash_bits: 12\nencoding_bits: 10\n");
        size_t bytes = cf_risk_bytes(m);
        assert_int_equal(bytes, 4096 * 12 + 1024 * 8);
        gen g = {.s = 11};
        char imp[32];
        for (int i = 0; i < 50000; i++) {
                bool y = next(&g);
                snprintf(imp, sizeof imp, "NEW-%d", i);
                set_importer(&g, imp);
                cf_risk_learn(m, &g.d, y);
        }
        assert_int_equal(cf_risk_bytes(m), bytes);
        assert_true(cf_risk_used(m) <= 4096);
        cf_risk_free(m);
}

static void test_bad_config(void **state)
{
        (void)state;
        char err[256];
        cf_risk_cfg cfg = {0};
        const char *y = "features: [importer_id, \"hs6*no_such_field\"]\n";
        cf_node *doc = cf_yaml_load_string("t", y, strlen(y), err, sizeof err);
        assert_int_equal(
            cf_config_map_apply(cf_risk_config_map, "model", doc, NULL, &cfg, err, sizeof err), 0);
        assert_null(cf_risk_new(&cfg, err, sizeof err));
        assert_non_null(strstr(err, "no_such_field"));
        cf_config_map_free(cf_risk_config_map, &cfg);
        cf_yaml_free(doc);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_learns_and_explains), cmocka_unit_test(test_deterministic),
            cmocka_unit_test(test_snapshot_refusals),   cmocka_unit_test(test_bounded),
            cmocka_unit_test(test_bad_config),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
