/*
 * test_cert_rep.c - certificate_reuse's replica value held in two parts
 * (stages/detect/cert_rep.c) behaves as the inline record it replaced: random
 * sequences of uses (repeats, earlier uses, ties in time, more declarations
 * and exporters than kept, ids longer than kept) merged into both leave the
 * same observable state and write the same bytes after every use; a value
 * set from a snapshot's record (restore) writes the record's bytes; and in a
 * table that grows and evicts, the out-of-line parts follow their values and
 * are freed (ASan: no leak, no double free).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "stages/detect/detect_int.h"

/* ---- the reference: the inline record and its merge and encoding as of 3eef8e1 ---- */

typedef struct ref_rep {
        int64_t last_ms;
        uint64_t uses;
        uint8_t nd, ne;
        cf_cert_use decl[CF_CERT_KEEP];
        cf_cert_use exp[CF_CERT_EXP];
        char exp_id[CF_CERT_EXP][CF_CERT_ID_LEN];
        char first_decl[CF_CERT_DECL_ID];
} ref_rep;

static void keep_id(char *dst, size_t cap, const char *s, size_t n)
{
        if (n > cap - 1) n = cap - 1;
        memcpy(dst, s, n);
        dst[n] = '\0';
}

static inline bool before(int64_t t, uint64_t h, const cf_cert_use *u)
{
        return t < u->t || (t == u->t && h < u->h);
}

static int keep_earliest(cf_cert_use *a, uint8_t *n, int cap, int64_t t, uint64_t h)
{
        for (int i = 0; i < *n; i++) {
                if (a[i].h != h) continue;
                if (!before(t, h, &a[i])) return -1;
                memmove(a + i, a + i + 1, (size_t)(*n - i - 1) * sizeof(*a));
                (*n)--;
                break;
        }
        int p = 0;
        while (p < *n && !before(t, h, &a[p]))
                p++;
        if (p >= cap) return -1;
        int m = *n < cap ? *n : cap - 1;
        memmove(a + p + 1, a + p, (size_t)(m - p) * sizeof(*a));
        a[p] = (cf_cert_use){t, h};
        if (*n < cap) (*n)++;
        return p;
}

static void ref_merge(ref_rep *v, const cf_cert_event *e)
{
        v->uses++;
        int p = keep_earliest(v->decl, &v->nd, CF_CERT_KEEP, e->t, e->decl_h);
        if (p == 0) keep_id(v->first_decl, sizeof(v->first_decl), e->decl, strlen(e->decl));
        char ids[CF_CERT_EXP][CF_CERT_ID_LEN];
        cf_cert_use old[CF_CERT_EXP];
        uint8_t on = v->ne;
        memcpy(ids, v->exp_id, sizeof(ids));
        memcpy(old, v->exp, sizeof(old));
        if (keep_earliest(v->exp, &v->ne, CF_CERT_EXP, e->t, e->exp_h) < 0) return;
        for (int i = 0; i < v->ne; i++) {
                if (v->exp[i].h == e->exp_h) {
                        keep_id(v->exp_id[i], CF_CERT_ID_LEN, e->exporter, strlen(e->exporter));
                        continue;
                }
                for (int j = 0; j < on; j++)
                        if (old[j].h == v->exp[i].h) memcpy(v->exp_id[i], ids[j], CF_CERT_ID_LEN);
        }
}

static void ref_put(cf_buf *out, const ref_rep *v)
{
        cf_st_put_i64(out, v->last_ms);
        cf_st_put_u64(out, v->uses);
        cf_st_put_u8(out, v->nd);
        for (int i = 0; i < v->nd; i++) {
                cf_st_put_i64(out, v->decl[i].t);
                cf_st_put_u64(out, v->decl[i].h);
        }
        cf_st_put_u8(out, v->ne);
        for (int i = 0; i < v->ne; i++) {
                cf_st_put_i64(out, v->exp[i].t);
                cf_st_put_u64(out, v->exp[i].h);
                cf_st_put_str8(out, v->exp_id[i]);
        }
        cf_st_put_str8(out, v->first_decl);
}

/* ---- checks ---- */

/* Same counts, uses, ids and bytes written. */
static void same(const ref_rep *r, const cf_cert_rep *v)
{
        assert_int_equal(r->uses, v->uses);
        assert_int_equal(r->nd, v->nd);
        assert_int_equal(r->ne, v->ne);
        assert_true(v->more || (v->nd <= 1 && v->ne <= 1));
        for (int i = 0; i < r->nd; i++) {
                assert_int_equal(r->decl[i].t, cf_cert_decl(v, i)->t);
                assert_int_equal(r->decl[i].h, cf_cert_decl(v, i)->h);
        }
        for (int i = 0; i < r->ne; i++) {
                assert_int_equal(r->exp[i].t, cf_cert_exp(v, i)->t);
                assert_int_equal(r->exp[i].h, cf_cert_exp(v, i)->h);
                assert_string_equal(r->exp_id[i], cf_cert_exp_id(v, i));
        }
        if (r->nd) assert_string_equal(r->first_decl, v->first_decl);
        cf_buf a = {0}, b = {0};
        ref_put(&a, r);
        cf_cert_rep_put(&b, v);
        assert_int_equal(a.len, b.len);
        assert_memory_equal(a.p, b.p, a.len);
        cf_buf_free(&a);
        cf_buf_free(&b);
}

/* A value restored from r's record (get_cert reads it whole, then sets it) writes r. */
static void same_restored(const ref_rep *r)
{
        cf_cert_full f = {.last_ms = r->last_ms, .uses = r->uses, .nd = r->nd, .ne = r->ne};
        memcpy(f.decl, r->decl, sizeof(f.decl));
        memcpy(f.exp, r->exp, sizeof(f.exp));
        memcpy(f.exp_id, r->exp_id, sizeof(f.exp_id));
        memcpy(f.first_decl, r->first_decl, sizeof(f.first_decl));
        cf_cert_rep w = {0};
        cf_cert_rep_set(&w, &f);
        same(r, &w);
        cf_cert_rep_drop(NULL, 0, &w);
}

/* A random use of a certificate with nd_keys declarations and ne_keys exporters; ids carry
 * the use's number (which use's id is kept shows) and are sometimes longer than kept. */
static cf_cert_event random_use(int n, int nd_keys, int ne_keys, int64_t t)
{
        cf_cert_event e = {.key = 1, .t = t};
        e.decl_h = 1000 + (uint64_t)(rand() % nd_keys);
        e.exp_h = 2000 + (uint64_t)(rand() % ne_keys);
        if (rand() % 50 == 0) e.exp_h = e.decl_h; /* hashes of both kinds may meet */
        int ld = rand() % 8 == 0 ? 40 : 0, le = rand() % 8 == 0 ? 30 : 0;
        char id[96]; /* cut to fit as cert_check cuts them */
        snprintf(id, sizeof id, "D%llu-%d%.*s", (unsigned long long)e.decl_h, n, ld,
                 "dddddddddddddddddddddddddddddddddddddddd");
        cf_cert_keep_id(e.decl, sizeof e.decl, id, strlen(id));
        snprintf(id, sizeof id, "E%llu-%d%.*s", (unsigned long long)e.exp_h, n, le,
                 "eeeeeeeeeeeeeeeeeeeeeeeeeeeeee");
        cf_cert_keep_id(e.exporter, sizeof e.exporter, id, strlen(id));
        return e;
}

static void test_random_sequences(void **state)
{
        (void)state;
        int max_nd = 0, max_ne = 0, small = 0;
        for (unsigned seed = 1; seed <= 3000; seed++) {
                srand(seed);
                int nd_keys = 1 + rand() % 12, ne_keys = 1 + rand() % 5;
                int len = 1 + rand() % 40, spread = 1 + rand() % 20;
                ref_rep r = {0};
                cf_cert_rep v = {0};
                int64_t base = 1700000000000 + rand() % 1000, last = INT64_MIN;
                for (int i = 0; i < len; i++) {
                        /* times in a small range: ties, and uses earlier than the kept ones */
                        cf_cert_event e = random_use(i, nd_keys, ne_keys, base + rand() % spread);
                        if (e.t > last) last = e.t;
                        r.last_ms = v.last_ms = last; /* as the table stamps it */
                        ref_merge(&r, &e);
                        cf_cert_rep_merge(&v, &e);
                        same(&r, &v);
                        same_restored(&r);
                }
                if (r.nd > max_nd) max_nd = r.nd;
                if (r.ne > max_ne) max_ne = r.ne;
                small += !v.more;
                cf_cert_rep_drop(NULL, 0, &v);
                assert_null(v.more);
        }
        /* the sequences filled the lists, and left many values inline */
        assert_int_equal(max_nd, CF_CERT_KEEP);
        assert_int_equal(max_ne, CF_CERT_EXP);
        assert_true(small >= 100);
}

/* In a table that grows and evicts, values move with what they hold out of line. */
static void test_in_a_table(void **state)
{
        (void)state;
        enum { KEYS = 3000 };
        cf_kvtab t = {0};
        cf_kvtab_init(&t, sizeof(cf_cert_rep), 1000, 0);
        t.drop = cf_cert_rep_drop;
        ref_rep *r = calloc(KEYS, sizeof(*r));
        assert_non_null(r);
        srand(99);
        int64_t now = 1700000000000;
        for (int i = 0; i < 40000; i++) {
                uint64_t k = (uint64_t)(rand() % (i < 20000 ? 600 : KEYS));
                now += rand() % 3;
                cf_cert_event e = random_use(i, 1 + (int)(k % 10), 1 + (int)(k % 4), now);
                bool created;
                cf_cert_rep *v = cf_kvtab_put(&t, k + 1, now, &created);
                if (created) memset(&r[k], 0, sizeof(r[k])); /* evicted since: starts again */
                ref_merge(&r[k], &e);
                cf_cert_rep_merge(v, &e);
                r[k].last_ms = v->last_ms;
                if (i % 97 == 0) same(&r[k], v);
        }
        assert_true(t.evicted > 0);
        size_t live = 0;
        for (uint64_t k = 0; k < KEYS; k++) {
                const cf_cert_rep *v = cf_kvtab_get(&t, k + 1);
                if (!v) continue;
                same(&r[k], v);
                live++;
        }
        assert_int_equal(live, t.n);
        cf_kvtab_free(&t);
        free(r);
}

int main(void)
{
        const struct CMUnitTest tests[] = {cmocka_unit_test(test_random_sequences),
                                           cmocka_unit_test(test_in_a_table)};
        return cmocka_run_group_tests(tests, NULL, NULL);
}
