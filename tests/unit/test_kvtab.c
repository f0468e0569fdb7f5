/*
 * test_kvtab.c - the detect stage's keyed table (stages/detect/kvtab.c) at any
 * count of slots: random puts, removals and lookups agree with a plain array
 * through growth, evictions and tables restored to a size that is not a power
 * of two; what a table writes (snapshot) depends on its content only, not on
 * its capacity or history; a restore and a restore plus a delta write the same
 * bytes as the table they were taken from; a key's home slot follows its hash.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "stages/detect/kvtab.h"

/* A value: the table's last-use time first, then two counters. */
typedef struct val {
        int64_t last_ms;
        uint64_t a, b;
} val;

static void val_put(cf_buf *out, const void *v)
{
        const val *x = v;
        cf_st_put_i64(out, x->last_ms);
        cf_st_put_u64(out, x->a);
        cf_st_put_u64(out, x->b);
}

static bool val_get(cf_st_dec *d, int version, void *v, const void *cfg)
{
        (void)version;
        (void)cfg;
        val *x = v;
        x->last_ms = cf_st_i64(d);
        x->a = cf_st_u64(d);
        x->b = cf_st_u64(d);
        return cf_st_ok(d);
}

static uint64_t rng = 88172645463325252ull;

static uint64_t next_rand(void)
{
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        return rng;
}

static void snap(cf_kvtab *t, cf_buf *out)
{
        cf_buf_reset(out);
        cf_kvtab_snapshot(t, out, val_put);
}

/* A restore of bytes into a new table of the same settings; asserts it succeeds. */
static void restore(cf_kvtab *t, const cf_buf *in, size_t max, int64_t window)
{
        char err[256] = "";
        cf_st_dec d;
        cf_kvtab_init(t, sizeof(val), max, window);
        cf_st_dec_init(&d, in->p, in->len, "kvtab", err, sizeof(err));
        assert_int_equal(cf_kvtab_restore(t, &d, 2, val_get, NULL), 0);
        assert_string_equal(err, "");
}

static bool is_pow2(size_t x)
{
        return x && !(x & (x - 1));
}

/* Puts, removals and gets over a small key space agree with an array of what
 * each key holds, in a table that grows from 8 slots and in one restored at a
 * size that is not a power of two (probes wrap round its end). */
static void test_agrees_with_array(void **state)
{
        (void)state;
        enum { KEYS = 5000, OPS = 200000 };
        val *ref = calloc(KEYS, sizeof(*ref));
        bool *in = calloc(KEYS, sizeof(*in));
        assert_non_null(ref);
        assert_non_null(in);
        cf_kvtab t;
        cf_kvtab_init(&t, sizeof(val), KEYS, 0); /* never evicts: the array is the truth */
        int64_t now = 1700000000000;
        for (int round = 0; round < 2; round++) {
                for (int i = 0; i < OPS; i++) {
                        uint64_t k = next_rand() % KEYS;
                        now += (int64_t)(next_rand() % 3);
                        if (next_rand() % 4 == 0) {
                                cf_kvtab_del(&t, k); /* key 0 is a key too (normalised) */
                                in[k] = false;
                                continue;
                        }
                        bool created;
                        val *v = cf_kvtab_put(&t, k, now, &created);
                        assert_int_equal(created, !in[k]);
                        if (created) memset(&ref[k], 0, sizeof(ref[k]));
                        v->a += k + 1;
                        v->b = (uint64_t)i;
                        ref[k].a += k + 1;
                        ref[k].b = (uint64_t)i;
                        ref[k].last_ms = v->last_ms;
                        in[k] = true;
                }
                size_t live = 0;
                for (uint64_t k = 0; k < KEYS; k++) {
                        const val *v = cf_kvtab_get(&t, k);
                        assert_int_equal(v != NULL, in[k]);
                        if (!v) continue;
                        live++;
                        assert_memory_equal(v, &ref[k], sizeof(val));
                }
                assert_int_equal(live, t.n);
                /* the second round runs on a restored copy: sized at once, any count of slots */
                cf_buf b = {0};
                snap(&t, &b);
                cf_kvtab_free(&t);
                restore(&t, &b, KEYS, 0);
                cf_buf_free(&b);
                assert_int_equal(t.n, live);
                assert_false(is_pow2(t.cap));
        }
        cf_kvtab_free(&t);
        free(ref);
        free(in);
}

/* Two tables with the same content but different capacities and histories
 * write the same bytes, and go on deciding alike (evictions at the bound,
 * expiry), a restore plus a delta equals the table the delta was taken from. */
static void test_bytes_independent_of_capacity(void **state)
{
        (void)state;
        enum { MAX = 3000 };
        const int64_t window = 40000;
        cf_kvtab a, b, c;
        cf_kvtab_init(&a, sizeof(val), MAX, window);
        int64_t now = 1700000000000;
        for (int i = 0; i < 20000; i++) {
                uint64_t k = next_rand() % 9000;
                now += (int64_t)(next_rand() % 4);
                val *v = cf_kvtab_put(&a, k, now, NULL);
                v->a++;
        }
        assert_true(a.evicted > 0);
        cf_buf sa = {0}, sb = {0}, base = {0}, delta = {0};
        snap(&a, &sa);
        restore(&b, &sa, MAX, window);
        assert_int_not_equal(a.cap, b.cap);
        snap(&b, &sb);
        assert_int_equal(sa.len, sb.len);
        assert_memory_equal(sa.p, sb.p, sa.len);

        /* c: restored from this base, then given a's delta of the next changes */
        cf_buf_put(&base, sa.p, sa.len);
        restore(&c, &base, MAX, window);
        cf_kvtab_track(&a, true);
        for (int i = 0; i < 20000; i++) {
                uint64_t k = next_rand() % 9000;
                now += (int64_t)(next_rand() % 4);
                if (next_rand() % 8 == 0) {
                        cf_kvtab_del(&a, k);
                        cf_kvtab_del(&b, k);
                        continue;
                }
                val *va = cf_kvtab_put(&a, k, now, NULL);
                val *vb = cf_kvtab_put(&b, k, now, NULL);
                va->a++;
                vb->a++;
        }
        assert_int_equal(a.evicted, b.evicted);
        assert_int_equal(a.expired, b.expired);
        snap(&a, &sa);
        snap(&b, &sb);
        assert_int_equal(sa.len, sb.len);
        assert_memory_equal(sa.p, sb.p, sa.len);

        cf_kvtab_delta(&a, &delta, val_put, NULL);
        char err[256] = "";
        cf_st_dec d;
        cf_st_dec_init(&d, delta.p, delta.len, "kvtab", err, sizeof(err));
        assert_int_equal(cf_kvtab_apply_delta(&c, &d, val_get, NULL, NULL, false), 0);
        cf_st_dec_init(&d, delta.p, delta.len, "kvtab", err, sizeof(err));
        assert_int_equal(cf_kvtab_apply_delta(&c, &d, val_get, NULL, NULL, true), 0);
        assert_string_equal(err, "");
        snap(&c, &sb);
        assert_int_equal(sa.len, sb.len);
        assert_memory_equal(sa.p, sb.p, sa.len);

        cf_kvtab_free(&a);
        cf_kvtab_free(&b);
        cf_kvtab_free(&c);
        cf_buf_free(&sa);
        cf_buf_free(&sb);
        cf_buf_free(&base);
        cf_buf_free(&delta);
}

/* A restore sizes a table for its entries at once: within 70 % load and, for a
 * large table, well above the 35 % a power of two could leave. An empty table
 * given a delta is sized the same way. */
static void test_restore_sizing(void **state)
{
        (void)state;
        const size_t counts[] = {5, 100, 3052, 4097, 100000};
        for (size_t ci = 0; ci < sizeof(counts) / sizeof(counts[0]); ci++) {
                size_t n = counts[ci];
                cf_kvtab t;
                cf_kvtab_init(&t, sizeof(val), n, 0);
                cf_kvtab_track(&t, true);
                for (uint64_t k = 1; k <= n; k++)
                        cf_kvtab_put(&t, k * 7919, 1700000000000 + (int64_t)k, NULL);
                cf_buf s = {0}, dl = {0};
                snap(&t, &s);
                cf_kvtab_delta(&t, &dl, val_put, NULL);
                cf_kvtab r;
                restore(&r, &s, n, 0);
                assert_int_equal(r.n, n);
                assert_true((r.n + 1) * 10 <= r.cap * 7);
                if (n >= 1000) assert_true(r.n * 100 >= r.cap * 55);
                cf_kvtab e;
                char err[256] = "";
                cf_st_dec d;
                cf_kvtab_init(&e, sizeof(val), n, 0);
                cf_st_dec_init(&d, dl.p, dl.len, "kvtab", err, sizeof(err));
                assert_int_equal(cf_kvtab_apply_delta(&e, &d, val_get, NULL, NULL, true), 0);
                assert_int_equal(e.n, n);
                assert_int_equal(e.cap, r.cap);
                cf_kvtab_free(&t);
                cf_kvtab_free(&r);
                cf_kvtab_free(&e);
                cf_buf_free(&s);
                cf_buf_free(&dl);
        }
}

/* A key's home slot is within the table and grows with its Fibonacci hash. */
static void test_home_follows_hash(void **state)
{
        (void)state;
        const size_t caps[] = {8, 13, 4096, 5087, 1u << 20, 1300001};
        for (size_t ci = 0; ci < sizeof(caps) / sizeof(caps[0]); ci++) {
                cf_kvtab t = {.cap = caps[ci]};
                uint64_t prev_h = 0;
                size_t prev_slot = 0;
                /* keys in the order of their hash: k = h * inverse (mod 2^64) */
                for (int i = 0; i < 100000; i++) {
                        uint64_t h = prev_h + (next_rand() >> 14) + 1;
                        if (h < prev_h) break; /* wrapped */
                        uint64_t k =
                            h * 0xF1DE83E19937733Dull; /* inverse of the Fibonacci constant */
                        assert_int_equal(k * 0x9E3779B97F4A7C15ull, h);
                        size_t s = cf_kvtab_home(&t, k);
                        assert_true(s < t.cap);
                        assert_true(s >= prev_slot);
                        prev_h = h;
                        prev_slot = s;
                }
                assert_true(prev_slot > t.cap / 2);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_agrees_with_array),
            cmocka_unit_test(test_bytes_independent_of_capacity),
            cmocka_unit_test(test_restore_sizing),
            cmocka_unit_test(test_home_follows_hash),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
