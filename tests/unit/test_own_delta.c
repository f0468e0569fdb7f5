/*
 * test_own_delta.c - a partition's own population contributions (the service's
 * cumulative mode, stages/detect/detect_own.c) in its changelog deltas, written
 * as their changes against what the last delta left (delta version 3): the
 * sketch buckets and ring slots changed, removed and added, across generations
 * (baseline_period 1d), ring moves (a 6h/3d volume window), late records and
 * evictions at the tables' bound (40 keys, then the keys come back whole).
 *
 * After every delta, a partition restored from the first snapshot plus every
 * delta so far holds the same detect state, byte for byte, as the one that
 * wrote them: a delta that lost one bucket's or one slot's change fails here.
 * And the own tables' deltas are small: a few bytes per key changed, not the
 * value whole. Deltas of version 2 (an earlier build's, fixtures/delta_v2) are
 * still read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include <unistd.h>

#include "helpers/detect_fx.h"
#include "pipeline/core/chain.h"
#include "pipeline/core/global.h"

#define HS_CODES 45 /* distinct HS6: unit-value keys (and volume keys per origin) */
#define ROUNDS   60

static const char rules[] =
    "score_cap: 100\n"
    "flag_threshold: 50\n"
    "reference:\n"
    "  trade_measures: " FIX "/reference/trade_measures.csv\n"
    "  watchlist: " FIX "/reference/watchlist.csv\n"
    "  exporters: " FIX "/reference/exporters.csv\n"
    "  route_watchlist: " FIX "/reference/route_watchlist.csv\n"
    "rules:\n"
    "  unit_value_outlier: {weight: 50, z: 4.0, min_samples: 50, baseline_period: 1d,"
    " max_entries: 40}\n"
    "  origin_volume_surge: {weight: 50, short_window: 12h, long_window: 3d, min_history: 1d,"
    " max_entries: 200}\n";

static char dir[] = "/tmp/cf-owndelta-XXXXXX";

static cf_chain *chain(cf_config *cfg, bool track)
{
        char err[1024];
        cf_chain *c = cf_chain_new(cfg->root, cfg->base_dir, err, sizeof err);
        if (!c) fail_msg("%s", err);
        cf_chain_track_changes(c, track);
        return c;
}

/* n records through partition 0 of a: random HS codes and origins, prices spread over a few
 * sketch buckets, event times around *now (moving on by up to step_s each, some late). */
static void feed(cf_chain *a, int n, int64_t *now, int round, int step_s)
{
        static const char *const origins[] = {"VN", "TH", "MY"};
        cf_batch ba;
        cf_batch_init(&ba, 64);
        char *lines[64];
        for (int i = 0; i < n; i++) {
                *now += (int64_t)(rand() % step_s) * 1000;
                int64_t t = *now - (rand() % 5 == 0 ? (int64_t)(rand() % 30) * 3600000 : 0);
                time_t sec = (time_t)(t / 1000);
                struct tm tm;
                gmtime_r(&sec, &tm);
                char when[32], hs[16], id[32], exporter[32];
                strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
                snprintf(hs, sizeof hs, "%06d0000", 100000 + rand() % HS_CODES);
                snprintf(id, sizeof id, "D-%d-%d", round, i);
                snprintf(exporter, sizeof exporter, "TH-EXP-%d", rand() % 5);
                lines[i] = rec_json(&(rec){.id = id,
                                           .hs = hs,
                                           .origin = origins[rand() % 3],
                                           .exporter = exporter,
                                           .time = when,
                                           .qty = 10,
                                           .value = 500 + rand() % 4000});
                cf_batch_add(&ba, lines[i], strlen(lines[i]));
        }
        assert_int_equal(cf_chain_process(a, &ba), 0);
        for (int i = 0; i < n; i++)
                free(lines[i]);
        cf_batch_destroy(&ba);
}

static cf_buf detect_snapshot(cf_chain *c)
{
        cf_stage *st = cf_chain_stage(c, "detect");
        cf_buf b = {0};
        assert_int_equal(st->p->snapshot(st, 0, &b), 0);
        return b;
}

/* The value of series in c's /metrics. */
static double metric(cf_chain *c, const char *series)
{
        cf_buf x = {0};
        cf_chain_collect(c);
        cf_metrics *reg = cf_chain_registry(c);
        cf_metrics_encode(&x, &reg, 1);
        cf_buf_putc(&x, '\0');
        const char *p = strstr(x.p, series);
        if (!p) fail_msg("no %s in\n%s", series, x.p);
        double v = strtod(p + strlen(series), NULL);
        cf_buf_free(&x);
        return v;
}

static void test_deltas_rebuild_the_state(void **state)
{
        (void)state;
        assert_non_null(mkdtemp(dir));
        cf_config cfg;
        fx_config(dir, rules, &cfg);
        for (unsigned seed = 1; seed <= 3; seed++) {
                srand(seed);
                /* a: the writer (the service's worker); r: restored from its checkpoints */
                cf_chain *a = chain(&cfg, true);
                cf_buf s0 = {0}, out = {0};
                int64_t now = 1741600800000LL; /* 2025-03-10T10:00:00Z */
                for (int i = 0; i < 50; i++)   /* values of many buckets and slots */
                        feed(a, 60, &now, -1 - i, 30);
                assert_int_equal(cf_chain_publish(a, 0, CF_GLOBAL_CUMULATIVE, &out), 0);
                assert_int_equal(cf_chain_snapshot(a, 0, &s0), 0);
                cf_chain *r = chain(&cfg, false);
                char err[512];
                if (cf_chain_restore(r, 0, s0.p, s0.len, err, sizeof err)) fail_msg("%s", err);
                for (int k = 1; k <= ROUNDS; k++) {
                        feed(a, 1 + rand() % 20, &now, k, 300);
                        cf_buf_reset(&out);
                        assert_int_equal(cf_chain_publish(a, 0, CF_GLOBAL_CUMULATIVE, &out), 0);
                        cf_buf d = {0};
                        assert_int_equal(cf_chain_delta(a, 0, &d), 0);
                        if (cf_chain_apply_delta(r, 0, d.p, d.len, err, sizeof err))
                                fail_msg("seed %u delta %d refused: %s", seed, k, err);
                        cf_buf x = detect_snapshot(a), y = detect_snapshot(r);
                        if (x.len != y.len || memcmp(x.p, y.p, x.len))
                                fail_msg("seed %u: after delta %d the restored detect state "
                                         "differs (%zu vs %zu bytes)",
                                         seed, k, y.len, x.len);
                        cf_buf_free(&x);
                        cf_buf_free(&y);
                        cf_buf_free(&d);
                }
                /* the bound was reached (removals, keys back whole) and the deltas were
                 * changes: measured 30-33 bytes a key (unit value) and ~66 (volume), key and the
                 * table's counters included; written whole 77-90 and ~180 */
                const char *tables[] = {"unit_value_outlier.own", "origin_volume_surge.own"};
                for (int i = 0; i < 2; i++) {
                        char s[160];
                        snprintf(s, sizeof s, "customsflow_detect_delta_bytes_total{table=\"%s\"}",
                                 tables[i]);
                        double bytes = metric(a, s);
                        snprintf(s, sizeof s, "customsflow_detect_delta_keys_total{table=\"%s\"}",
                                 tables[i]);
                        double keys = metric(a, s);
                        print_message("seed %u %s: %.0f keys in %d deltas, %.1f bytes a key\n",
                                      seed, tables[i], keys, ROUNDS, bytes / keys);
                        assert_true(keys > ROUNDS);
                        assert_true(bytes / keys < (i ? 100 : 50));
                }
                cf_buf_free(&s0);
                cf_buf_free(&out);
                cf_chain_destroy(a);
                cf_chain_destroy(r);
        }
        cf_config_free(&cfg);
        char p[600];
        snprintf(p, sizeof p, "%s/rules.yaml", dir);
        unlink(p);
        snprintf(p, sizeof p, "%s/c.yaml", dir);
        unlink(p);
        rmdir(dir);
}

static cf_buf slurp(const char *name)
{
        char path[512];
        snprintf(path, sizeof path, "%s/fixtures/delta_v2/%s", CF_TESTDIR, name);
        FILE *f = fopen(path, "rb");
        if (!f) fail_msg("%s: cannot open", path);
        cf_buf b = {0};
        char chunk[4096];
        size_t n;
        while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
                cf_buf_put(&b, chunk, n);
        fclose(f);
        return b;
}

/* Deltas an earlier build wrote (version 2: the own values whole; fixtures/delta_v2/README.md)
 * are read: the state they rebuild is the one their writer held. */
static void test_reads_version_2(void **state)
{
        (void)state;
        fx *f = fx_new();
        cf_chain_track_changes(f->chain, true); /* as the service, which goes on writing v3 */
        cf_buf s0 = slurp("s0"), d1 = slurp("d1"), d2 = slurp("d2"),
               want = slurp("detect.expected");
        char err[512];
        if (cf_chain_restore(f->chain, 0, s0.p, s0.len, err, sizeof err) ||
            cf_chain_apply_delta(f->chain, 0, d1.p, d1.len, err, sizeof err) ||
            cf_chain_apply_delta(f->chain, 0, d2.p, d2.len, err, sizeof err))
                fail_msg("%s", err);
        cf_buf got = detect_snapshot(f->chain);
        assert_int_equal(got.len, want.len);
        assert_memory_equal(got.p, want.p, want.len);
        cf_buf_free(&got);
        cf_buf_free(&s0);
        cf_buf_free(&d1);
        cf_buf_free(&d2);
        cf_buf_free(&want);
        fx_free(f);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_deltas_rebuild_the_state),
            cmocka_unit_test(test_reads_version_2),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
