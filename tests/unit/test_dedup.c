/*
 * test_dedup.c - dedup decisions on real records (JSON -> decode -> dedup):
 * exact duplicates, amendments, conflicting resubmissions, duplicate
 * shipments, event-time expiry, the bound and its eviction counter,
 * out-of-order event times, per-partition state.
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

#define N(a) (sizeof(a) / sizeof((a)[0]))

static int setup(void **state)
{
        *state = dd_fx_new(NULL);
        return 0;
}

static int teardown(void **state)
{
        dd_fx_free(*state);
        return 0;
}

static void assert_status(const cf_batch *b, const int *want, size_t n)
{
        assert_int_equal(b->n, n);
        for (size_t i = 0; i < n; i++)
                if ((int)b->recs[i].status != want[i])
                        fail_msg("record %zu: status %d, want %d (%s)", i, b->recs[i].status,
                                 want[i], b->recs[i].err_msg ? b->recs[i].err_msg : "");
}

static void test_exact_duplicates(void **state)
{
        dd_fx *f = *state;
        dd_rec a = {.id = "DEC-1", .line = 1};
        dd_rec l2 = {.id = "DEC-1", .line = 2};
        dd_rec recs[] = {a, a, l2, a};
        int want[] = {CF_REC_OK, CF_REC_DUPLICATE, CF_REC_OK, CF_REC_DUPLICATE};
        assert_status(dd_run(f, 0, recs, N(recs)), want, N(want));
        /* A later batch: still a duplicate, with no signal. */
        cf_batch *b = dd_run(f, 0, &a, 1);
        assert_int_equal(b->recs[0].status, CF_REC_DUPLICATE);
        assert_int_equal(b->recs[0].signals, 0);
        /* The same declaration re-serialised (key order, spacing, 120.0, an escaped
         * letter, the same instant in another offset) is the same record. */
        const char *same =
            "{ \"line\":1,\"declaration_id\":\"DEC-\\u0031\",\"event_time\":"
            "\"2025-03-14T17:30:00+08:00\",\"hs_code\":\"9403500000\",\"origin_country\":\"VN\","
            "\"export_country\":\"VN\",\"exporter_id\":\"VN-EXP-0042\",\"importer_id\":"
            "\"US-IMP-0007\",\"quantity\":120.0,\"unit\":\"NMB\",\"customs_value\":1.845e4,"
            "\"currency\":\"USD\",\"amendment\":0 }";
        b = dd_run_lines(f, 0, &same, 1);
        assert_int_equal(b->recs[0].status, CF_REC_DUPLICATE);
        assert_int_equal(dd_metric(f, "customsflow_dedup_decisions_total{decision=\"duplicate\"}"),
                         4);
}

static void test_dead_letters_skipped(void **state)
{
        dd_fx *f = *state;
        char *ok = dd_render(&(dd_rec){.id = "DEC-9"});
        const char *lines[] = {"{\"declaration_id\": \"DEC-9\"}", ok,
                               "{\"declaration_id\": \"DEC-9\"}", ok};
        cf_batch *b = dd_run_lines(f, 0, lines, N(lines));
        int want[] = {CF_REC_DEAD_LETTER, CF_REC_OK, CF_REC_DEAD_LETTER, CF_REC_DUPLICATE};
        assert_status(b, want, N(want));
        assert_string_equal(b->recs[0].err_code, "missing_field");
        free(ok);
}

static void test_amendments(void **state)
{
        dd_fx *f = *state;
        dd_rec v0 = {.id = "DEC-A", .line = 1};
        dd_rec v1 = {.id = "DEC-A",
                     .line = 1,
                     .amendment = 1,
                     .value = 19000,
                     .time = "2025-03-15T10:00:00Z"};
        dd_rec v3 = {.id = "DEC-A",
                     .line = 1,
                     .amendment = 3,
                     .value = 19500,
                     .time = "2025-03-16T10:00:00Z"};
        dd_rec recs[] = {v0, v1, v0, v1, v3};
        cf_batch *b = dd_run(f, 0, recs, N(recs));
        int want[] = {CF_REC_OK, CF_REC_OK, CF_REC_DUPLICATE, CF_REC_DUPLICATE, CF_REC_OK};
        assert_status(b, want, N(want));
        assert_int_equal(b->recs[0].signals, 0);
        assert_int_equal(b->recs[1].signals, CF_SIG_AMENDMENT);
        const char *ev = b->recs[1].sig_evidence[0];
        assert_non_null(ev);
        assert_non_null(strstr(ev, "\"previous_amendment\":0,\"amendment\":1"));
        assert_non_null(strstr(ev, "\"seen_at\":\"2025-03-14T09:30:00.000Z\""));
        assert_int_equal(b->recs[4].signals, CF_SIG_AMENDMENT);
        assert_non_null(strstr(b->recs[4].sig_evidence[0], "\"previous_amendment\":1,"));
        assert_non_null(strstr(b->recs[4].sig_evidence[0], "2025-03-15T10:00:00.000Z"));
        assert_null(b->recs[4].sig_evidence[1]);
        /* An amendment with no earlier version is just a new record. */
        b = dd_run(f, 0, &(dd_rec){.id = "DEC-B", .amendment = 2, .qty = 7}, 1);
        assert_int_equal(b->recs[0].status, CF_REC_OK);
        assert_int_equal(b->recs[0].signals, 0);
}

static void test_conflicting_resubmission(void **state)
{
        dd_fx *f = *state;
        dd_rec v0 = {.id = "DEC-C", .line = 2};
        dd_rec changed = {.id = "DEC-C", .line = 2, .value = 99};
        dd_rec amended = {.id = "DEC-C", .line = 2, .amendment = 2, .value = 98};
        dd_rec stale = {.id = "DEC-C", .line = 2, .amendment = 1, .value = 97};
        /* absent amendment counts as 0: the same as v0, not a new version */
        dd_rec absent = {.id = "DEC-C", .line = 2, .amendment = -1};
        dd_rec recs[] = {v0, changed, amended, stale, absent};
        cf_batch *b = dd_run(f, 0, recs, N(recs));
        int want[] = {CF_REC_OK, CF_REC_OK, CF_REC_OK, CF_REC_OK, CF_REC_DUPLICATE};
        assert_status(b, want, N(want));
        assert_int_equal(b->recs[1].signals, CF_SIG_CONFLICTING_RESUBMISSION);
        const char *ev = b->recs[1].sig_evidence[1];
        assert_non_null(ev);
        assert_non_null(strstr(ev, "\"previous_amendment\":0,\"amendment\":0"));
        assert_non_null(strstr(ev, "\"seen_at\":\"2025-03-14T09:30:00.000Z\""));
        /* two different 12-hex-digit fingerprints */
        const char *p1 = strstr(ev, "\"previous_fingerprint\":\"");
        const char *p2 = strstr(ev, "\"fingerprint\":\"");
        assert_non_null(p1);
        assert_non_null(p2);
        p1 += strlen("\"previous_fingerprint\":\"");
        p2 += strlen("\"fingerprint\":\"");
        assert_int_equal(strchr(p1, '"') - p1, 12);
        assert_int_equal(strchr(p2, '"') - p2, 12);
        assert_memory_not_equal(p1, p2, 12);
        assert_int_equal(b->recs[2].signals, CF_SIG_AMENDMENT);
        /* lower than the amendment already seen: conflicting, against amendment 2 */
        assert_int_equal(b->recs[3].signals, CF_SIG_CONFLICTING_RESUBMISSION);
        assert_non_null(
            strstr(b->recs[3].sig_evidence[1], "\"previous_amendment\":2,\"amendment\":1"));
        assert_int_equal(
            dd_metric(f,
                      "customsflow_dedup_decisions_total{decision=\"conflicting_resubmission\"}"),
            2);
}

static void test_duplicate_shipment(void **state)
{
        dd_fx *f = *state;
        const char *ct = "MSCU1234567";
        dd_rec a1 = {.id = "DEC-S1", .line = 1, .container = ct};
        dd_rec a2 = {.id = "DEC-S1", .line = 2, .container = ct}; /* same declaration */
        dd_rec b1 = {.id = "DEC-S2", .line = 1, .container = ct, .time = "2025-03-15T08:00:00Z"};
        /* same parties, other goods or quantity or container: not the same shipment */
        dd_rec c1 = {.id = "DEC-S3", .line = 1, .container = ct, .hs = "9403600000"};
        dd_rec c2 = {.id = "DEC-S3", .line = 2, .container = ct, .qty = 121};
        dd_rec c3 = {.id = "DEC-S3", .line = 3, .container = "MSCU7654321"};
        dd_rec recs[] = {a1, a2, b1, c1, c2, c3};
        cf_batch *b = dd_run(f, 0, recs, N(recs));
        int want[] = {CF_REC_OK, CF_REC_OK, CF_REC_OK, CF_REC_OK, CF_REC_OK, CF_REC_OK};
        assert_status(b, want, N(want));
        for (size_t i = 0; i < N(recs); i++)
                if (i != 2) assert_int_equal(b->recs[i].signals, 0);
        assert_int_equal(b->recs[2].signals, CF_SIG_DUPLICATE_SHIPMENT);
        assert_string_equal(b->recs[2].sig_evidence[2],
                            "{\"other_declaration_id\":\"DEC-S1\",\"seen_at\":"
                            "\"2025-03-14T09:30:00.000Z\"}");
        /* A fourth declaration of it names the latest one, in a later batch. */
        dd_rec d1 = {.id = "DEC-S4", .line = 7, .container = ct, .time = "2025-03-16T08:00:00Z"};
        b = dd_run(f, 0, &d1, 1);
        assert_int_equal(b->recs[0].signals, CF_SIG_DUPLICATE_SHIPMENT);
        assert_string_equal(b->recs[0].sig_evidence[2],
                            "{\"other_declaration_id\":\"DEC-S2\",\"seen_at\":"
                            "\"2025-03-15T08:00:00.000Z\"}");
        /* Amendments of the original and of a copy, same shipment fields: the
         * shipment was already declared under their own declaration, no signal. */
        dd_rec a1v1 = a1, b1v1 = b1;
        a1v1.amendment = b1v1.amendment = 1;
        a1v1.extra = b1v1.extra = "\"goods_description\": \"corrected\"";
        dd_rec amends[] = {a1v1, b1v1};
        b = dd_run(f, 0, amends, 2);
        assert_int_equal(b->recs[0].signals, CF_SIG_AMENDMENT);
        assert_int_equal(b->recs[1].signals, CF_SIG_AMENDMENT);
        /* Exact re-delivery is dropped before the shipment check. */
        b = dd_run(f, 0, &b1, 1);
        assert_int_equal(b->recs[0].status, CF_REC_DUPLICATE);
        assert_int_equal(b->recs[0].signals, 0);
}

static void test_duplicate_shipment_off(void **state)
{
        dd_fx *f = dd_fx_new("duplicate_shipment: false\n");
        dd_rec recs[] = {{.id = "X1", .container = "MSCU1234567"},
                         {.id = "X2", .container = "MSCU1234567"}};
        cf_batch *b = dd_run(f, 0, recs, 2);
        assert_int_equal(b->recs[1].status, CF_REC_OK);
        assert_int_equal(b->recs[1].signals, 0);
        dd_fx_free(f);
}

static void test_expiry_by_event_time(void **state)
{
        dd_fx *f = dd_fx_new("window: 2d\nslices: 2\n");
        dd_rec old = {.id = "E-1", .time = "2025-03-01T00:00:00Z"};
        dd_rec mid = {.id = "E-2", .time = "2025-03-02T23:59:59Z"};
        dd_rec recs[] = {old, mid, old};
        cf_batch *b = dd_run(f, 0, recs, N(recs));
        int want[] = {CF_REC_OK, CF_REC_OK, CF_REC_DUPLICATE};
        assert_status(b, want, N(want));
        /* Event time moves on 5 days: E-1 and E-2 left the window. Their
         * re-deliveries are processed again, counted as late, not dropped. */
        dd_rec later = {.id = "E-3", .time = "2025-03-06T00:00:00Z"};
        dd_rec recs2[] = {later, old, mid, later};
        b = dd_run(f, 0, recs2, N(recs2));
        int want2[] = {CF_REC_OK, CF_REC_OK, CF_REC_OK, CF_REC_DUPLICATE};
        assert_status(b, want2, N(want2));
        assert_int_equal(
            dd_metric(f, "customsflow_dedup_expired_total{partition=\"0\",table=\"keys\"}"), 2);
        assert_int_equal(dd_metric(f, "customsflow_dedup_late_total{partition=\"0\"}"), 2);
        assert_int_equal(dd_metric(f, "customsflow_dedup_entries{partition=\"0\",table=\"keys\"}"),
                         1);
        dd_fx_free(f);
}

static void test_window_kept_at_least(void **state)
{
        /* Anything younger than the window is remembered, whatever the slicing. */
        dd_fx *f = dd_fx_new("window: 30d\nslices: 7\n");
        dd_rec first = {.id = "W-1", .time = "2025-01-01T12:00:00Z"};
        dd_rec last = {.id = "W-2", .time = "2025-01-31T11:59:59Z"}; /* 30d - 1s later */
        dd_rec recs[] = {first, last, first};
        cf_batch *b = dd_run(f, 0, recs, N(recs));
        int want[] = {CF_REC_OK, CF_REC_OK, CF_REC_DUPLICATE};
        assert_status(b, want, N(want));
        dd_fx_free(f);
}

static void test_bound_and_evictions(void **state)
{
        dd_fx *f = dd_fx_new("window: 10d\nslices: 10\nmax_entries: 10\n");
        dd_rec recs[11];
        char ids[11][16], times[11][32];
        for (int i = 0; i < 11; i++) {
                snprintf(ids[i], sizeof(ids[i]), "B-%d", i);
                snprintf(times[i], sizeof(times[i]), "2025-03-%02dT10:00:00Z", i + 1);
                recs[i] = (dd_rec){.id = ids[i], .time = times[i], .qty = i + 1};
        }
        dd_run(f, 0, recs, 10);
        assert_int_equal(dd_metric(f, "customsflow_dedup_entries{partition=\"0\",table=\"keys\"}"),
                         10);
        assert_int_equal(
            dd_metric(f, "customsflow_dedup_evicted_total{partition=\"0\",table=\"keys\"}"), 0);
        /* The 11th key goes over the bound: the oldest day (B-0) is evicted, counted. */
        dd_run(f, 0, &recs[10], 1);
        assert_int_equal(
            dd_metric(f, "customsflow_dedup_evicted_total{partition=\"0\",table=\"keys\"}"), 1);
        assert_int_equal(
            dd_metric(f, "customsflow_dedup_evicted_total{partition=\"0\",table=\"shipments\"}"),
            1);
        assert_int_equal(dd_metric(f, "customsflow_dedup_entries{partition=\"0\",table=\"keys\"}"),
                         10);
        dd_rec again[] = {recs[0], recs[1], recs[10]};
        cf_batch *b = dd_run(f, 0, again, 3);
        int want[] = {CF_REC_OK, CF_REC_DUPLICATE, CF_REC_DUPLICATE};
        assert_status(b, want, N(want));
        dd_fx_free(f);
}

static void test_bound_single_slice(void **state)
{
        /* Every entry in the open slice: reaching the bound empties the table. */
        dd_fx *f = dd_fx_new("max_entries: 5\n");
        dd_rec recs[6];
        char ids[6][16];
        for (int i = 0; i < 6; i++) {
                snprintf(ids[i], sizeof(ids[i]), "S-%d", i);
                recs[i] = (dd_rec){.id = ids[i], .qty = i + 1};
        }
        dd_run(f, 0, recs, 6);
        assert_int_equal(
            dd_metric(f, "customsflow_dedup_evicted_total{partition=\"0\",table=\"keys\"}"), 5);
        dd_rec again[] = {recs[0], recs[5]};
        cf_batch *b = dd_run(f, 0, again, 2);
        int want[] = {CF_REC_OK, CF_REC_DUPLICATE};
        assert_status(b, want, N(want));
        dd_fx_free(f);
}

static void test_out_of_order(void **state)
{
        dd_fx *f = dd_fx_new("window: 30d\nslices: 30\n");
        dd_rec d10 = {.id = "O-10", .time = "2025-03-10T00:00:00Z"};
        dd_rec d3 = {.id = "O-3", .time = "2025-03-03T00:00:00Z"};
        dd_rec d20 = {.id = "O-20", .time = "2025-03-20T00:00:00Z"};
        dd_rec recs[] = {d10, d3, d20, d3, d10};
        cf_batch *b = dd_run(f, 0, recs, N(recs));
        int want[] = {CF_REC_OK, CF_REC_OK, CF_REC_OK, CF_REC_DUPLICATE, CF_REC_DUPLICATE};
        assert_status(b, want, N(want));
        /* the watermark is the max event time, not the last one */
        assert_int_equal(dd_metric(f, "customsflow_dedup_watermark_seconds{partition=\"0\"}"),
                         1742428800); /* 2025-03-20 */
        assert_int_equal(dd_metric(f, "customsflow_dedup_late_total{partition=\"0\"}"), 0);
        /* 2025-04-05: 03-03 is now out of the window, 03-10 still in it. */
        dd_rec d36 = {.id = "O-36", .time = "2025-04-05T00:00:00Z"};
        dd_rec recs2[] = {d36, d3, d10};
        b = dd_run(f, 0, recs2, N(recs2));
        int want2[] = {CF_REC_OK, CF_REC_OK, CF_REC_DUPLICATE};
        assert_status(b, want2, N(want2));
        assert_int_equal(dd_metric(f, "customsflow_dedup_late_total{partition=\"0\"}"), 1);
        dd_fx_free(f);
}

static void test_partitions(void **state)
{
        dd_fx *f = *state;
        dd_rec a = {.id = "P-1"};
        dd_run(f, 0, &a, 1);
        cf_batch *b = dd_run(f, 3, &a, 1);
        assert_int_equal(b->recs[0].status, CF_REC_OK);
        b = dd_run(f, 3, &a, 1);
        assert_int_equal(b->recs[0].status, CF_REC_DUPLICATE);
        assert_int_equal(dd_metric(f, "customsflow_dedup_entries{partition=\"3\",table=\"keys\"}"),
                         1);
        /* drop forgets one partition only */
        f->dd.p->drop(&f->dd, 3);
        b = dd_run(f, 3, &a, 1);
        assert_int_equal(b->recs[0].status, CF_REC_OK);
        b = dd_run(f, 0, &a, 1);
        assert_int_equal(b->recs[0].status, CF_REC_DUPLICATE);
}

static void test_bad_config(void **state)
{
        extern const cf_stage_plugin cf_stage_dedup;
        const char *bad[] = {"window: 3 fortnights\n", "slices: 0\n", "max_entries: -1\n",
                             "unknown_key: 1\n"};
        for (size_t i = 0; i < N(bad); i++) {
                char err[512] = "";
                cf_node *y =
                    cf_yaml_load_string("d.yaml", bad[i], strlen(bad[i]), err, sizeof(err));
                assert_non_null(y);
                cf_stage st = {.p = &cf_stage_dedup};
                cf_stage_env env = {.cfg = y};
                assert_int_equal(cf_stage_dedup.init(&st, &env, err, sizeof(err)), -1);
                if (!strstr(err, "d.yaml:1")) fail_msg("%s: %s", bad[i], err);
                cf_stage_dedup.destroy(&st);
                cf_yaml_free(y);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_exact_duplicates, setup, teardown),
            cmocka_unit_test_setup_teardown(test_dead_letters_skipped, setup, teardown),
            cmocka_unit_test_setup_teardown(test_amendments, setup, teardown),
            cmocka_unit_test_setup_teardown(test_conflicting_resubmission, setup, teardown),
            cmocka_unit_test_setup_teardown(test_duplicate_shipment, setup, teardown),
            cmocka_unit_test(test_duplicate_shipment_off),
            cmocka_unit_test(test_expiry_by_event_time),
            cmocka_unit_test(test_window_kept_at_least),
            cmocka_unit_test(test_bound_and_evictions),
            cmocka_unit_test(test_bound_single_slice),
            cmocka_unit_test(test_out_of_order),
            cmocka_unit_test_setup_teardown(test_partitions, setup, teardown),
            cmocka_unit_test(test_bad_config),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
