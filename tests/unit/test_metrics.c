/*
 * test_metrics.c - the metrics registry (pipeline/core/metrics.h) and the
 * accounting invariant (pipeline/core/accounting.h): two workers' registries
 * merged into one series per label set, label and help escaping, histogram
 * buckets, counters that never go back, and customsflow_invariant_ok made 0
 * by counts that do not add up. Every exposition is also checked by
 * `promtool check metrics` (Debian prometheus).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "helpers/decode_fx.h"
#include "helpers/prom.h"
#include "pipeline/core/accounting.h"
#include "pipeline/core/config.h"
#include "pipeline/core/metrics.h"

static const char *text(cf_buf *b)
{
        cf_buf_putc(b, '\0');
        b->len--;
        return b->p;
}

/* Encode n registries into a fresh buffer (free it). */
static cf_buf encode(cf_metrics *const *regs, size_t n)
{
        cf_buf b = {0};
        cf_metrics_encode(&b, regs, n);
        text(&b);
        return b;
}

/* promtool accepts the exposition in b (format and lint); b is freed. */
static void assert_promtool_ok_free(cf_buf *b)
{
        if (prom_promtool(b->p)) fail_msg("promtool check metrics refused:\n%s", b->p);
        cf_buf_free(b);
}

/* Free the n workers' registries. */
static void free_regs(cf_metrics **w, size_t n)
{
        for (size_t i = 0; i < n; i++)
                cf_metrics_free(w[i]);
}

/* Two workers each had partition 3 (it moved between them), both count
 * duplicates and have a lag: one series each in the output, summed; the old
 * owner's unset gauge does not count; a gauge merged by MIN takes the worst. */
static void test_merge_two_workers(void **state)
{
        (void)state;
        cf_metrics *w[2] = {cf_metrics_new(), cf_metrics_new()};
        cf_series *in[2], *lag[2], *ok[2];
        for (int i = 0; i < 2; i++) {
                cf_metric *f =
                    cf_metrics_counter(w[i], "x_records_total", "records", "topic,partition");
                in[i] = cf_metric_series(f, "t", "3");
                cf_counter_add(cf_metric_series(f, "t", i ? "10" : "2"), 5);
                cf_metric *g =
                    cf_metrics_gauge(w[i], "x_lag", "lag", "topic,partition", CF_MERGE_SUM);
                lag[i] = cf_metric_series(g, "t", "3");
                ok[i] = cf_metric_series(cf_metrics_gauge(w[i], "x_ok", "ok", NULL, CF_MERGE_MIN));
                cf_gauge_set(ok[i], 1);
        }
        cf_counter_add(in[0], 100); /* worker 0 had it first */
        cf_gauge_set(lag[0], 40);
        cf_gauge_unset(lag[0]);    /* revoked */
        cf_counter_add(in[1], 20); /* then worker 1 */
        cf_gauge_set(lag[1], 7);
        cf_gauge_set(ok[1], 0);
        cf_buf b = encode(w, 2);
        assert_string_equal(b.p, "# HELP x_records_total records\n"
                                 "# TYPE x_records_total counter\n"
                                 "x_records_total{topic=\"t\",partition=\"2\"} 5\n"
                                 "x_records_total{topic=\"t\",partition=\"3\"} 120\n"
                                 "x_records_total{topic=\"t\",partition=\"10\"} 5\n"
                                 "# HELP x_lag lag\n"
                                 "# TYPE x_lag gauge\n"
                                 "x_lag{topic=\"t\",partition=\"3\"} 7\n"
                                 "# HELP x_ok ok\n"
                                 "# TYPE x_ok gauge\n"
                                 "x_ok 0\n");
        assert_promtool_ok_free(&b);
        free_regs(w, 2);
}

/* A family only one worker declared still appears; declaring it again
 * returns the same family and series; no registry gives a sink. */
static void test_declare_and_lookup(void **state)
{
        (void)state;
        cf_metrics *w[2] = {cf_metrics_new(), cf_metrics_new()};
        cf_metric *f = cf_metrics_counter(w[0], "a_total", "a", "k");
        assert_ptr_equal(cf_metrics_counter(w[0], "a_total", "a", "k"), f);
        assert_ptr_equal(cf_metric_series(f, "v"), cf_metric_series(f, "v"));
        /* many series: the index grows and every one is found again */
        char v[16];
        cf_series *s[300];
        for (int i = 0; i < 300; i++) {
                snprintf(v, sizeof v, "%d", i);
                s[i] = cf_metric_series(f, v);
                cf_counter_add(s[i], (uint64_t)i);
        }
        for (int i = 0; i < 300; i++) {
                snprintf(v, sizeof v, "%d", i);
                assert_ptr_equal(cf_metric_series(f, v), s[i]);
        }
        cf_counter_inc(cf_metric_series(cf_metrics_counter(w[1], "b_total", "b", NULL)));
        cf_counter_inc(cf_metric_series(cf_metrics_counter(NULL, "c_total", "c", NULL)));
        cf_buf b = encode(w, 2);
        assert_int_equal(prom_value(b.p, "a_total{k=\"299\"}", -1), 299);
        assert_int_equal(prom_value(b.p, "b_total", -1), 1);
        assert_null(strstr(b.p, "c_total"));
        assert_promtool_ok_free(&b);
        free_regs(w, 2);
}

/* Label values are escaped (backslash, quote, newline), UTF-8 passes; help
 * text escapes backslash and newline. */
static void test_escaping(void **state)
{
        (void)state;
        cf_metrics *m = cf_metrics_new();
        cf_metric *f = cf_metrics_counter(m, "esc_total", "a \\ help\nline", "file");
        cf_counter_inc(cf_metric_series(f, "C:\\in \"q\"\nx\xc3\xa9"));
        cf_buf b = encode(&m, 1);
        assert_string_equal(b.p, "# HELP esc_total a \\\\ help\\nline\n"
                                 "# TYPE esc_total counter\n"
                                 "esc_total{file=\"C:\\\\in \\\"q\\\"\\nx\xc3\xa9\"} 1\n");
        assert_promtool_ok_free(&b);
        cf_metrics_free(m);
}

/* Buckets are cumulative with the given bounds, +Inf last, _sum and _count;
 * a value equal to a bound falls in that bucket (le); two workers sum. */
static void test_histogram(void **state)
{
        (void)state;
        static const double bounds[] = {0.005, 0.1, 1, 2.5};
        cf_metrics *w[2] = {cf_metrics_new(), cf_metrics_new()};
        cf_series *h[2];
        for (int i = 0; i < 2; i++)
                h[i] = cf_metric_series(
                    cf_metrics_histogram(w[i], "lat_seconds", "latency", NULL, bounds, 4));
        cf_histogram_observe(h[0], 0.001);
        cf_histogram_observe(h[0], 0.1); /* le="0.1" */
        cf_histogram_observe(h[1], 0.5);
        cf_histogram_observe(h[1], 7);
        cf_buf b = encode(w, 2);
        assert_string_equal(b.p, "# HELP lat_seconds latency\n"
                                 "# TYPE lat_seconds histogram\n"
                                 "lat_seconds_bucket{le=\"0.005\"} 1\n"
                                 "lat_seconds_bucket{le=\"0.1\"} 2\n"
                                 "lat_seconds_bucket{le=\"1\"} 3\n"
                                 "lat_seconds_bucket{le=\"2.5\"} 3\n"
                                 "lat_seconds_bucket{le=\"+Inf\"} 4\n"
                                 "lat_seconds_sum 7.601\n"
                                 "lat_seconds_count 4\n");
        assert_promtool_ok_free(&b);
        /* with labels, le comes last */
        cf_metric *f = cf_metrics_histogram(w[0], "by_seconds", "x", "stage", bounds, 1);
        cf_histogram_observe(cf_metric_series(f, "decode"), 1);
        b = encode(w, 1);
        assert_non_null(strstr(b.p, "by_seconds_bucket{stage=\"decode\",le=\"0.005\"} 0\n"
                                    "by_seconds_bucket{stage=\"decode\",le=\"+Inf\"} 1\n"
                                    "by_seconds_sum{stage=\"decode\"} 1\n"
                                    "by_seconds_count{stage=\"decode\"} 1\n"));
        cf_buf_free(&b);
        free_regs(w, 2);
}

/* A counter never goes back: not when its partition moves from one worker to
 * another (the old owner's count stays in the sum), and not when the state
 * it follows is replaced (restore) or shrinks. */
static void test_counter_monotonic(void **state)
{
        (void)state;
        cf_metrics *w[2] = {cf_metrics_new(), cf_metrics_new()};
        cf_series *c[2];
        for (int i = 0; i < 2; i++)
                c[i] =
                    cf_metric_series(cf_metrics_counter(w[i], "ev_total", "e", "partition"), "0");
        uint64_t state_count = 0, seen = 0, last = 0;
        for (int step = 0; step < 40; step++) {
                int owner = (step / 10) % 2; /* the partition moves every 10 steps */
                if (step % 10 == 0) {
                        /* restored on the new owner: its state says 1000, already counted */
                        state_count = 1000 + (uint64_t)step;
                        cf_counter_follow(c[owner], &seen, state_count, 1);
                }
                state_count += (uint64_t)(step % 3);
                if (step == 25) state_count -= 2; /* a reload rebuilt a smaller state */
                cf_counter_follow(c[owner], &seen, state_count, 0);
                cf_buf b = encode(w, 2);
                uint64_t v = (uint64_t)prom_value(b.p, "ev_total{partition=\"0\"}", -1);
                cf_buf_free(&b);
                if (v < last)
                        fail_msg("step %d: counter went back from %llu to %llu", step,
                                 (unsigned long long)last, (unsigned long long)v);
                last = v;
        }
        /* what was counted: the increments only (0+1+2 per 3 steps), never a restored value */
        uint64_t want = 0;
        for (int step = 0; step < 40; step++)
                want += (uint64_t)(step % 3);
        want -= 1; /* step 25 added 1 then lost 2: nothing counted there */
        assert_int_equal(last, want);
        free_regs(w, 2);
}

/* The consumed offsets come from their range: gaps (transaction markers,
 * compaction) are not records, a rewind starts a new run. */
static void test_offset_range(void **state)
{
        (void)state;
        cf_offset_range r;
        cf_offset_range_reset(&r);
        assert_int_equal(cf_offset_range_consumed(&r), 0);
        for (int64_t o = 100; o < 110; o++)
                cf_offset_range_add(&r, o);
        assert_int_equal(cf_offset_range_consumed(&r), 10);
        cf_offset_range_add(&r, 112); /* 110, 111 never delivered */
        assert_int_equal(cf_offset_range_consumed(&r), 11);
        cf_offset_range_add(&r, 105); /* re-delivered from 105 */
        cf_offset_range_add(&r, 106);
        assert_int_equal(cf_offset_range_consumed(&r), 13);
}

/* customsflow_invariant_ok is 1 while the chain's outcomes account for every
 * consumed offset, and 0 for good once they do not. */
static void test_invariant_fails(void **state)
{
        (void)state;
        cf_metrics *m = cf_metrics_new();
        cf_series *ok = cf_metric_series(
            cf_metrics_gauge(m, "customsflow_invariant_ok", "invariant", NULL, CF_MERGE_MIN));
        cf_gauge_set(ok, 1);
        cf_offset_range r;
        cf_offset_range_reset(&r);
        for (int64_t o = 0; o < 10; o++)
                cf_offset_range_add(&r, o);
        cf_part_counts good = {.processed = 7, .duplicates = 2, .dead_lettered = 1};
        assert_true(cf_invariant_check(ok, cf_offset_range_consumed(&r), &good));
        assert_int_equal(prom_reg_value(m, "customsflow_invariant_ok"), 1);
        cf_part_counts lost = {.processed = 7, .duplicates = 1, .dead_lettered = 1}; /* one lost */
        assert_false(cf_invariant_check(ok, cf_offset_range_consumed(&r), &lost));
        assert_int_equal(prom_reg_value(m, "customsflow_invariant_ok"), 0);
        /* a later good commit does not make it true again */
        assert_true(cf_invariant_check(ok, cf_offset_range_consumed(&r), &good));
        assert_int_equal(prom_reg_value(m, "customsflow_invariant_ok"), 0);
        cf_metrics_free(m);
}

/* The risk model's state is the same on every worker (each learns every
 * outcome): two workers' copies merge to one copy's counts (MAX), and its info
 * series follows the checksum (the old one removed, not piled up). */
static void test_replicated_state(void **state)
{
        (void)state;
        char err[512];
        cf_config cfg;
        assert_int_equal(
            cf_config_load(&cfg, CF_SRCDIR "/deploy/examples/customsflow.yaml", err, sizeof err),
            0);
        cf_chain *c[2];
        cf_metrics *regs[2];
        for (int i = 0; i < 2; i++) {
                c[i] = cf_chain_new(cfg.root, cfg.base_dir, err, sizeof err);
                assert_non_null(c[i]);
                regs[i] = cf_chain_registry(c[i]);
        }
        size_t len;
        char *p = decode_fx_slurp(CF_SRCDIR "/schemas/examples/outcome/fraud.json", &len);
        cf_batch b;
        cf_batch_init(&b, 4);
        for (int round = 1; round <= 2; round++) {
                for (int i = 0; i < 2; i++) {
                        cf_batch_reset(&b);
                        cf_batch_add(&b, p, len);
                        assert_int_equal(cf_chain_learn(c[i], &b), 0);
                        cf_chain_collect(c[i]);
                }
                cf_buf m = encode(regs, 2);
                assert_int_equal(prom_value(m.p, "customsflow_risk_model_outcomes_total", -1),
                                 round);
                /* each outcome in one cell (predicted x found), once */
                assert_int_equal(prom_sum(m.p, "customsflow_risk_model_progressive_total"), round);
                assert_int_equal(prom_count(m.p, "customsflow_risk_model_info"), 1);
                assert_int_equal(prom_sum(m.p, "customsflow_decode_outcomes_total"), round);
                assert_promtool_ok_free(&m);
        }
        free(p);
        cf_batch_destroy(&b);
        for (int i = 0; i < 2; i++)
                cf_chain_destroy(c[i]);
        cf_config_free(&cfg);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_merge_two_workers), cmocka_unit_test(test_declare_and_lookup),
            cmocka_unit_test(test_escaping),          cmocka_unit_test(test_histogram),
            cmocka_unit_test(test_counter_monotonic), cmocka_unit_test(test_offset_range),
            cmocka_unit_test(test_invariant_fails),   cmocka_unit_test(test_replicated_state),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
