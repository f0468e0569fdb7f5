/*
 * test_dedup_snapshot.c - dedup state: snapshot -> restore gives the same
 * decisions, malformed snapshots are refused (and leave the state alone),
 * restore under other limits, reload keeping state, and a randomised run
 * against a brute-force model (many keys: table growth and rebuilds).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "helpers/dedup_fixture.h"
#include "pipeline/core/xorshift.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(uint32_t n)
{
        return (uint32_t)(cf_xorshift64(&rng) % n);
}

/* A stream over a small key space: re-deliveries, amendments, conflicts,
 * shared shipments, out-of-order event times across days [day0, day0+span). */
typedef struct gen_rec {
        char id[16], time[32], ct[16];
        dd_rec r;
} gen_rec;

static void gen(gen_rec *g, int nkeys, int day0, int span)
{
        int k = (int)rnd((uint32_t)nkeys);
        int am = (int)rnd(3);
        /* event time is part of the record: fixed per (key, amendment), so
         * re-deliveries happen; days spread over [day0, day0 + span) */
        int day = day0 + (k * 7 + am) % span;
        snprintf(g->id, sizeof(g->id), "G-%d", k / 3);
        snprintf(g->time, sizeof(g->time), "2025-%02d-%02dT%02d:00:00Z", 1 + day / 28, 1 + day % 28,
                 am);
        snprintf(g->ct, sizeof(g->ct), "MSCU%07d", k % 5);
        g->r = (dd_rec){.id = g->id,
                        .line = 1 + k % 3,
                        .time = g->time,
                        .amendment = am,
                        .qty = 1 + rnd(2),
                        .value = 100 + (k % 2),
                        .container = g->ct};
}

static void run_same(dd_fx *a, dd_fx *b, const dd_rec *recs, size_t n)
{
        cf_batch *ba = dd_run(a, 0, recs, n);
        cf_batch *bb = dd_run(b, 0, recs, n);
        for (size_t i = 0; i < n; i++) {
                const cf_record *x = &ba->recs[i], *y = &bb->recs[i];
                assert_int_equal(x->status, y->status);
                assert_int_equal(x->signals, y->signals);
                for (int s = 0; s < 3; s++) {
                        if (!x->sig_evidence[s] || !y->sig_evidence[s]) {
                                assert_ptr_equal(x->sig_evidence[s], y->sig_evidence[s]);
                                continue;
                        }
                        assert_string_equal(x->sig_evidence[s], y->sig_evidence[s]);
                }
        }
}

static void restore_into(dd_fx *dst, const char *snap, size_t len)
{
        char err[256] = "";
        if (dst->dd.p->restore(&dst->dd, 0, snap, len, err, sizeof(err)))
                fail_msg("restore: %s", err);
}

static void test_roundtrip_same_decisions(void **state)
{
        const char *cfg = "window: 10d\nslices: 5\nmax_entries: 150\n";
        dd_fx *a = dd_fx_new(cfg);
        gen_rec g[200];
        dd_rec recs[200];
        /* 600 records over 20 days: expiry and the bound both happen. */
        for (int round = 0; round < 3; round++) {
                for (int i = 0; i < 200; i++) {
                        gen(&g[i], 240, round * 7, 7);
                        recs[i] = g[i].r;
                }
                dd_run(a, 0, recs, 200);
        }
        assert_true(
            dd_metric(a, "customsflow_dedup_evicted_total{partition=\"0\",table=\"keys\"}") +
                dd_metric(a, "customsflow_dedup_expired_total{partition=\"0\",table=\"keys\"}") >
            0);
        size_t len;
        char *snap = dd_snapshot(a, 0, &len);
        dd_fx *b = dd_fx_new(cfg);
        restore_into(b, snap, len);
        long long ka = dd_metric(a, "customsflow_dedup_entries{partition=\"0\",table=\"keys\"}");
        assert_true(ka > 0);
        assert_int_equal(dd_metric(b, "customsflow_dedup_entries{partition=\"0\",table=\"keys\"}"),
                         ka);
        assert_int_equal(
            dd_metric(b, "customsflow_dedup_entries{partition=\"0\",table=\"shipments\"}"),
            dd_metric(a, "customsflow_dedup_entries{partition=\"0\",table=\"shipments\"}"));
        assert_int_equal(dd_metric(b, "customsflow_dedup_watermark_seconds{partition=\"0\"}"),
                         dd_metric(a, "customsflow_dedup_watermark_seconds{partition=\"0\"}"));
        /* Then the same stream through both: identical decisions and evidence. */
        for (int round = 0; round < 3; round++) {
                for (int i = 0; i < 200; i++) {
                        gen(&g[i], 240, 14 + round * 3, 5);
                        recs[i] = g[i].r;
                }
                run_same(a, b, recs, 200);
        }
        assert_true(dd_metric(b, "customsflow_dedup_decisions_total{decision=\"duplicate\"}") > 10);
        /* A snapshot of the restored state restores to the same again. */
        size_t len2;
        char *snap2 = dd_snapshot(b, 0, &len2);
        dd_fx *c = dd_fx_new(cfg);
        restore_into(c, snap2, len2);
        for (int i = 0; i < 200; i++) {
                gen(&g[i], 240, 20, 3);
                recs[i] = g[i].r;
        }
        run_same(b, c, recs, 200);
        free(snap);
        free(snap2);
        dd_fx_free(a);
        dd_fx_free(b);
        dd_fx_free(c);
}

static void test_bad_snapshots(void **state)
{
        dd_fx *a = dd_fx_new(NULL);
        dd_rec r1 = {.id = "R-1", .container = "MSCU1234567"};
        dd_rec r2 = {.id = "R-2", .container = "MSCU1234567", .time = "2025-03-14T10:00:00Z"};
        dd_rec recs[] = {r1, r2};
        dd_run(a, 0, recs, 2);
        size_t len;
        char *snap = dd_snapshot(a, 0, &len);
        assert_true(len > 40);
        char *bad = malloc(len + 8);
        char err[256];
        struct {
                const char *what;
                size_t off, len;
                int byte;
        } cases[] = {
            {"magic", 0, len, 'X'},
            {"version", 4, len, 9},
            {"truncated header", 0, 20, -1},
            {"truncated entries", 0, len - 3, -1},
            {"trailing bytes", 0, len + 5, -1},
            {"key count", 24, len, 0x7f},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                memcpy(bad, snap, len);
                memset(bad + len, 0, 8);
                if (cases[i].byte >= 0) bad[cases[i].off] = (char)cases[i].byte;
                err[0] = 0;
                if (!a->dd.p->restore(&a->dd, 0, bad, cases[i].len, err, sizeof(err)))
                        fail_msg("%s: accepted", cases[i].what);
                if (!strstr(err, "dedup snapshot"))
                        fail_msg("%s: message '%s'", cases[i].what, err);
        }
        /* A refused snapshot leaves the state as it was. */
        cf_batch *b = dd_run(a, 0, &r1, 1);
        assert_int_equal(b->recs[0].status, CF_REC_DUPLICATE);
        /* Empty restore = start empty. */
        restore_into(a, NULL, 0);
        b = dd_run(a, 0, &r2, 1);
        assert_int_equal(b->recs[0].status, CF_REC_OK);
        assert_int_equal(b->recs[0].signals, 0);
        /* Restore the good one: re-delivery dropped, shipment id recovered. */
        restore_into(a, snap, len);
        dd_rec r3 = {.id = "R-3", .container = "MSCU1234567"};
        dd_rec again[] = {r1, r3};
        b = dd_run(a, 0, again, 2);
        assert_int_equal(b->recs[0].status, CF_REC_DUPLICATE);
        assert_int_equal(b->recs[1].signals, CF_SIG_DUPLICATE_SHIPMENT);
        assert_non_null(strstr(b->recs[1].sig_evidence[2], "\"other_declaration_id\":\"R-2\""));
        free(bad);
        free(snap);
        dd_fx_free(a);
}

/* Random corruption of a real snapshot: refused or accepted, never a crash or
 * an out-of-bounds read (this test runs under ASan in the sanitizer build). */
static void test_corrupt_snapshots(void **state)
{
        dd_fx *a = dd_fx_new("window: 10d\nslices: 5\n");
        gen_rec g[200];
        dd_rec recs[200];
        for (int i = 0; i < 200; i++) {
                gen(&g[i], 240, 0, 7);
                recs[i] = g[i].r;
        }
        dd_run(a, 0, recs, 200);
        size_t len;
        char *snap = dd_snapshot(a, 0, &len);
        char *bad = malloc(len);
        int refused = 0, accepted = 0;
        for (int it = 0; it < 3000; it++) {
                memcpy(bad, snap, len);
                size_t n = len;
                int flips = 1 + (int)rnd(4);
                for (int k = 0; k < flips; k++)
                        bad[rnd((uint32_t)len)] ^= (char)(1 + rnd(255));
                if (rnd(4) == 0) n = rnd((uint32_t)len);
                char err[256];
                if (a->dd.p->restore(&a->dd, 1, bad, n, err, sizeof(err))) {
                        refused++;
                } else {
                        accepted++;
                        dd_run(a, 1, recs, 20); /* and the state it made still works */
                }
        }
        assert_true(refused > 0 && accepted > 0);
        free(bad);
        free(snap);
        dd_fx_free(a);
}

static void test_restore_other_limits(void **state)
{
        dd_fx *a = dd_fx_new("window: 30d\nslices: 30\n");
        dd_rec recs[40];
        char ids[40][16], times[40][32];
        for (int i = 0; i < 40; i++) {
                snprintf(ids[i], sizeof(ids[i]), "L-%d", i);
                snprintf(times[i], sizeof(times[i]), "2025-03-%02dT10:00:00Z", 1 + i / 2);
                recs[i] = (dd_rec){.id = ids[i], .time = times[i], .qty = i + 1};
        }
        dd_run(a, 0, recs, 40);
        size_t len;
        char *snap = dd_snapshot(a, 0, &len);
        /* 5-day window, at most 6 keys: only the newest days come back, and the
         * ones over the bound are counted as evicted. */
        dd_fx *b = dd_fx_new("window: 5d\nslices: 5\nmax_entries: 6\n");
        restore_into(b, snap, len);
        long long n = dd_metric(b, "customsflow_dedup_entries{partition=\"0\",table=\"keys\"}");
        assert_true(n >= 1 && n <= 6);
        assert_true(
            dd_metric(b, "customsflow_dedup_evicted_total{partition=\"0\",table=\"keys\"}") > 0);
        cf_batch *bb = dd_run(b, 0, &recs[39], 1);
        assert_int_equal(bb->recs[0].status, CF_REC_DUPLICATE);
        bb = dd_run(b, 0, &recs[0], 1);
        assert_int_equal(bb->recs[0].status, CF_REC_OK);
        free(snap);
        dd_fx_free(a);
        dd_fx_free(b);
}

static void test_reload_keeps_state(void **state)
{
        dd_fx *a = dd_fx_new(NULL);
        dd_rec r = {.id = "RL-1"};
        dd_run(a, 0, &r, 1);
        const char *y = "window: 7d\nslices: 7\n";
        char err[256];
        cf_node *n = cf_yaml_load_string("r.yaml", y, strlen(y), err, sizeof(err));
        cf_stage_env env = {.cfg = n};
        assert_int_equal(a->dd.p->reload(&a->dd, &env, err, sizeof(err)), 0);
        cf_yaml_free(n);
        cf_batch *b = dd_run(a, 0, &r, 1);
        assert_int_equal(b->recs[0].status, CF_REC_DUPLICATE);
        /* a bad reload is refused and changes nothing */
        const char *bad = "slices: 0\n";
        n = cf_yaml_load_string("r.yaml", bad, strlen(bad), err, sizeof(err));
        env.cfg = n;
        assert_int_equal(a->dd.p->reload(&a->dd, &env, err, sizeof(err)), -1);
        cf_yaml_free(n);
        b = dd_run(a, 0, &r, 1);
        assert_int_equal(b->recs[0].status, CF_REC_DUPLICATE);
        dd_fx_free(a);
}

/* Brute-force model of the key decisions: every (key, version) seen. */
typedef struct mver {
        int key, amend, qty, value;
} mver;

static void test_against_model(void **state)
{
        dd_fx *a = dd_fx_new(NULL);
        enum { NREC = 12000, NKEYS = 4000 };
        mver *seen = calloc(NREC, sizeof(*seen));
        size_t nseen = 0;
        gen_rec g[200];
        dd_rec recs[200];
        int k_of[200];
        size_t dups = 0, amends = 0, conflicts = 0;
        for (int done = 0; done < NREC; done += 200) {
                for (int i = 0; i < 200; i++) {
                        gen(&g[i], NKEYS, 0, 20);
                        recs[i] = g[i].r;
                        k_of[i] = atoi(g[i].id + 2) * 3 + g[i].r.line - 1;
                        recs[i].container = NULL; /* shipments are not modelled here */
                        /* event time is part of the record: one per (key, amendment) */
                        snprintf(g[i].time, sizeof(g[i].time), "2025-03-%02dT%02d:00:00Z",
                                 1 + k_of[i] % 20, recs[i].amendment);
                        recs[i].qty = 1 + (k_of[i] % 50) + 100 * rnd(2);
                }
                cf_batch *b = dd_run(a, 0, recs, 200);
                for (int i = 0; i < 200; i++) {
                        mver v = {k_of[i], recs[i].amendment, (int)recs[i].qty, (int)recs[i].value};
                        int exact = 0, any = 0, max_am = -1;
                        for (size_t j = 0; j < nseen; j++) {
                                if (seen[j].key != v.key) continue;
                                any = 1;
                                if (seen[j].amend > max_am) max_am = seen[j].amend;
                                if (!memcmp(&seen[j], &v, sizeof(v))) exact = 1;
                        }
                        const cf_record *r = &b->recs[i];
                        uint32_t sig =
                            r->signals & (CF_SIG_AMENDMENT | CF_SIG_CONFLICTING_RESUBMISSION);
                        if (exact) {
                                assert_int_equal(r->status, CF_REC_DUPLICATE);
                                dups++;
                                continue;
                        }
                        assert_int_equal(r->status, CF_REC_OK);
                        seen[nseen++] = v;
                        if (!any) {
                                if (sig)
                                        fail_msg("new key %d (%s line %d): %s", v.key, recs[i].id,
                                                 recs[i].line, r->sig_evidence[1]);
                        } else if (v.amend > max_am) {
                                assert_int_equal(sig, CF_SIG_AMENDMENT);
                                amends++;
                        } else {
                                assert_int_equal(sig, CF_SIG_CONFLICTING_RESUBMISSION);
                                char want[64];
                                snprintf(want, sizeof(want), "\"previous_amendment\":%d,", max_am);
                                assert_non_null(strstr(r->sig_evidence[1], want));
                                conflicts++;
                        }
                }
        }
        /* the stream exercised every branch */
        assert_true(dups > 100 && amends > 100 && conflicts > 100);
        assert_int_equal(dd_metric(a, "customsflow_dedup_entries{partition=\"0\",table=\"keys\"}"),
                         (long long)nseen);
        free(seen);
        dd_fx_free(a);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_roundtrip_same_decisions),
            cmocka_unit_test(test_bad_snapshots),
            cmocka_unit_test(test_corrupt_snapshots),
            cmocka_unit_test(test_restore_other_limits),
            cmocka_unit_test(test_reload_keeps_state),
            cmocka_unit_test(test_against_model),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
