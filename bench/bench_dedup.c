/*
 * bench_dedup.c - dedup figures on one thread (issue 4's acceptance):
 *
 *  1. table lookups/s at 1M keys (cf_dd_key_lookup on pre-computed hashes of
 *     random keys): hits and misses, one by one and prefetching 8 keys ahead
 *     as the stage does;
 *  2. the whole stage (hashing the canonical record + key and shipment
 *     tables) in records/s: 1M new records, then the same 1M re-delivered;
 *  3. memory per key at 1M and 10M keys: the state's own accounting
 *     (cf_dd_part_bytes: table slots, slice counts, id pools) and the RSS
 *     growth of the process as a cross-check; key table alone and whole state;
 *  4. snapshot size and restore time for 1M keys (median of 3);
 *  5. (mode window only) a moving window: records spaced so the default 30-day
 *     window holds BIG_KEYS of them, 2 windows to warm up, then 3 timed ones
 *     during which keys expire as fast as they come: records/s and the state's
 *     bytes per live key sampled 12 times (a running service's steady state;
 *     the other figures are of a state that only grows).
 *
 * usage: bench_dedup [BIG_KEYS (default 10000000) [table|stage|window]]
 * Records are built in memory (no JSON) so the stage is timed alone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench_util.h"
#include "pipeline/core/clock.h"
#include "pipeline/core/stage.h"
#include "pipeline/core/xorshift.h"
#include "stages/dedup/dedup_table.h"

extern const cf_stage_plugin cf_stage_dedup;

#define BATCH       4096
#define TOUCH_BATCH 128 /* replay's epoch: the batches the stage sees */

static double rss_mb(void)
{
        return cf_bench_rss_bytes() / 1048576.0;
}

static uint64_t rng = 0x2545F4914F6CDD1Dull;

static uint64_t rnd(void)
{
        return cf_xorshift64(&rng);
}

/* ---- records built in memory: 3 lines per declaration, unique shipments ---- */

typedef struct recs {
        cf_batch b;
        char ids[BATCH][24];
} recs;

static const cf_str S_EXP = {"VN-EXP-0042", 11}, S_IMP = {"US-IMP-0007", 11},
                    S_HS = {"9403500000", 10}, S_CT = {"MSCU1234567", 11};

static int64_t step_ms = 100; /* event time between records: 10M = 11.6 days */

static void fill_batch(recs *rs, uint64_t from, size_t n)
{
        cf_batch_reset(&rs->b);
        for (size_t i = 0; i < n; i++) {
                uint64_t k = from + i;
                int len = snprintf(rs->ids[i], sizeof(rs->ids[i]), "DEC-2025-%09llu",
                                   (unsigned long long)(k / 3));
                cf_record *r = cf_batch_add(&rs->b, rs->ids[i], (size_t)len);
                cf_decl *d = &r->decl;
                d->declaration_id = (cf_str){rs->ids[i], (uint32_t)len};
                d->line = (int64_t)(k % 3) + 1;
                d->event_time_ms = 1735689600000LL + (int64_t)k * step_ms;
                d->hs_code = S_HS;
                d->hs6 = 940350;
                d->origin_country = d->export_country = CF_CC('V', 'N');
                d->exporter_id = S_EXP;
                d->importer_id = S_IMP;
                d->quantity = (double)k;
                memcpy(d->unit, "NMB", 4);
                d->customs_value = 1000 + (double)(k % 977);
                memcpy(d->currency, "USD", 4);
                d->container_id = S_CT;
                d->present = CF_HAS_CONTAINER;
        }
}

/* The dedup stage with its metrics in reg. */
static cf_stage stage_new(uint64_t max_entries, cf_metrics *reg)
{
        char y[128], err[256];
        snprintf(y, sizeof(y), "max_entries: %llu\n", (unsigned long long)max_entries);
        cf_node *n = cf_yaml_load_string("bench.yaml", y, strlen(y), err, sizeof(err));
        cf_stage st = {.p = &cf_stage_dedup};
        cf_stage_env env = {.cfg = n, .metrics = reg};
        if (!n || cf_stage_dedup.init(&st, &env, err, sizeof(err))) {
                fprintf(stderr, "init: %s\n", err);
                exit(2);
        }
        cf_yaml_free(n);
        return st;
}

static long long metric(cf_stage *st, cf_metrics *reg, const char *name)
{
        cf_buf b = {0};
        cf_stage_dedup.collect(st, -1, 0);
        cf_metrics_encode(&b, &reg, 1);
        cf_buf_putc(&b, 0);
        const char *p = strstr(b.p, name);
        long long v = p ? atoll(p + strlen(name) + 1) : -1;
        cf_buf_free(&b);
        return v;
}

/* Run keys [from, from + n) through the stage; returns seconds spent in process(). */
static double stage_pass(cf_stage *st, recs *rs, uint64_t from, uint64_t n, uint64_t *dups)
{
        double spent = 0;
        *dups = 0;
        for (uint64_t k = from; k < from + n; k += BATCH) {
                size_t m = from + n - k < BATCH ? (size_t)(from + n - k) : BATCH;
                fill_batch(rs, k, m);
                double t0 = cf_mono_s();
                cf_stage_dedup.process(st, &rs->b);
                spent += cf_mono_s() - t0;
                for (size_t i = 0; i < m; i++)
                        *dups += rs->b.recs[i].status == CF_REC_DUPLICATE;
        }
        return spent;
}

static void bench_stage(uint64_t n, int restore_too)
{
        recs *rs = calloc(1, sizeof(*rs));
        cf_batch_init(&rs->b, BATCH);
        double rss0 = rss_mb();
        cf_metrics *reg = cf_metrics_new();
        cf_stage st = stage_new(2 * n, reg);
        uint64_t dups;
        double t_fill = stage_pass(&st, rs, 0, n, &dups);
        double rss1 = rss_mb();
        long long bytes = metric(&st, reg, "customsflow_dedup_state_bytes{partition=\"0\"}");
        long long keys =
            metric(&st, reg, "customsflow_dedup_entries{partition=\"0\",table=\"keys\"}");
        printf("stage %lluM keys: new records %.2f M rec/s (%.0f ns/rec)\n",
               (unsigned long long)(n / 1000000), n / t_fill / 1e6, t_fill / n * 1e9);
        printf("stage %lluM keys: state %.1f bytes/key by its accounting (keys+shipments+ids), "
               "RSS growth %.1f bytes/key, %lld keys held\n",
               (unsigned long long)(n / 1000000), (double)bytes / (double)keys,
               (rss1 - rss0) * 1048576.0 / (double)keys, keys);
        double t_dup = stage_pass(&st, rs, 0, n, &dups);
        printf("stage %lluM keys: re-delivered records %.2f M rec/s (%llu of %llu dropped)\n",
               (unsigned long long)(n / 1000000), n / t_dup / 1e6, (unsigned long long)dups,
               (unsigned long long)n);
        if (restore_too) {
                cf_buf snap = {0};
                double t0 = cf_mono_s();
                cf_stage_dedup.snapshot(&st, 0, &snap);
                double t_snap = cf_mono_s() - t0;
                double tr[3];
                char err[256];
                for (int i = 0; i < 3; i++) {
                        cf_metrics *reg2 = cf_metrics_new();
                        cf_stage st2 = stage_new(2 * n, reg2);
                        t0 = cf_mono_s();
                        if (cf_stage_dedup.restore(&st2, 0, snap.p, snap.len, err, sizeof(err)))
                                fprintf(stderr, "restore: %s\n", err), exit(2);
                        tr[i] = cf_mono_s() - t0;
                        if (metric(&st2, reg2,
                                   "customsflow_dedup_entries{partition=\"0\",table=\"keys\"}") !=
                            keys)
                                fprintf(stderr, "restore lost keys\n"), exit(2);
                        cf_stage_dedup.destroy(&st2);
                        cf_metrics_free(reg2);
                }
                cf_bench_sort(tr, 3);
                printf("snapshot %lluM keys: %.1f MB (%.1f bytes/key) in %.3f s; restore median "
                       "%.3f s (min %.3f, max %.3f)\n",
                       (unsigned long long)(n / 1000000), snap.len / 1048576.0,
                       (double)snap.len / (double)keys, t_snap, tr[1], tr[0], tr[2]);
                cf_buf_free(&snap);
        }
        cf_stage_dedup.destroy(&st);
        cf_metrics_free(reg);
        cf_batch_destroy(&rs->b);
        free(rs);
}

/* A window moving through n-record windows (see the top comment, 5). */
static void bench_window(uint64_t n)
{
        recs *rs = calloc(1, sizeof(*rs));
        cf_batch_init(&rs->b, BATCH);
        cf_metrics *reg = cf_metrics_new();
        cf_stage st = stage_new(2 * n, reg);
        step_ms = (int64_t)30 * 86400 * 1000 / (int64_t)n;
        uint64_t dups, chunk = n / 4;
        stage_pass(&st, rs, 0, 2 * n, &dups);
        double spent = 0, bpk[12], sum = 0;
        long long keys = 0;
        for (int i = 0; i < 12; i++) {
                spent += stage_pass(&st, rs, 2 * n + (uint64_t)i * chunk, chunk, &dups);
                long long bytes =
                    metric(&st, reg, "customsflow_dedup_state_bytes{partition=\"0\"}");
                keys =
                    metric(&st, reg, "customsflow_dedup_entries{partition=\"0\",table=\"keys\"}");
                bpk[i] = (double)bytes / (double)keys;
                sum += bpk[i];
        }
        cf_bench_sort(bpk, 12);
        printf("window %lluM keys: new records %.2f M rec/s (%.0f ns/rec) while as many expire; "
               "state %.1f bytes/key (mean of 12 samples, range %.1f-%.1f), %lld keys held\n",
               (unsigned long long)(n / 1000000), 12 * chunk / spent / 1e6,
               spent / (12 * chunk) * 1e9, sum / 12, bpk[0], bpk[11], keys);
        cf_stage_dedup.destroy(&st);
        cf_metrics_free(reg);
        cf_batch_destroy(&rs->b);
        free(rs);
}

/* ---- the key table alone ---- */

/* Look q[0..n) up the stage's way: each batch's first slots loaded (cf_dd_touch), then its
 * lookups. Returns how many were found. */
static uint64_t touched_lookups(cf_dd_part *p, const uint64_t *q, int n)
{
        uint64_t found = 0;
        for (int i0 = 0; i0 < n; i0 += TOUCH_BATCH) {
                int e = i0 + TOUCH_BATCH < n ? i0 + TOUCH_BATCH : n;
                for (int i = i0; i < e; i++)
                        cf_dd_touch(p, q[i], 0);
                for (int i = i0; i < e; i++) {
                        cf_dd_found f;
                        cf_dd_key_lookup(p, q[i], 7, &f);
                        found += f.exact != NULL;
                }
        }
        return found;
}

/* max_entries = 2n: the table is somewhere in its growth; = n: sized by the bound. */
static void bench_table(uint64_t n, int lookups, uint64_t max_entries)
{
        cf_dd_limits l = {
            .window_s = 30 * 86400, .slices = 30, .max_entries = (int64_t)max_entries};
        cf_dd_part *p = cf_dd_part_new(&l);
        uint64_t *kh = malloc(n * sizeof(*kh));
        int64_t t0s = 1735689600;
        for (uint64_t i = 0; i < n; i++) {
                kh[i] = rnd() | 1;
                cf_dd_advance(p, t0s);
                cf_dd_found f;
                cf_dd_reserve(p);
                cf_dd_key_lookup(p, kh[i], 7, &f);
                cf_dd_key_insert(p, f.ins, kh[i], 7, (uint32_t)t0s);
        }
        printf("table %lluM keys, max_entries %lluM: key table %.1f bytes/key (%zu slots of %zu "
               "bytes, load %.2f)\n",
               (unsigned long long)(n / 1000000), (unsigned long long)(max_entries / 1000000),
               (double)p->kcap * sizeof(cf_dd_key) / p->klive, p->kcap, sizeof(cf_dd_key),
               (double)p->kused / p->kcap);
        if (lookups) {
                enum { L = 10000000 };
                uint64_t *q = malloc(L * sizeof(*q));
                for (int i = 0; i < L; i++)
                        q[i] = kh[rnd() % n];
                uint64_t found = 0;
                double t0 = cf_mono_s();
                for (int i = 0; i < L; i++) {
                        cf_dd_found f;
                        cf_dd_key_lookup(p, q[i], 7, &f);
                        found += f.exact != NULL;
                }
                double t_hit = cf_mono_s() - t0;
                /* the stage's way: a batch's first slots loaded (cf_dd_touch), then its lookups */
                t0 = cf_mono_s();
                found = touched_lookups(p, q, L);
                double t_hit_pf = cf_mono_s() - t0;
                for (int i = 0; i < L; i++)
                        q[i] = rnd() | 1;
                t0 = cf_mono_s();
                uint64_t miss = L - touched_lookups(p, q, L);
                double t_miss_pf = cf_mono_s() - t0;
                printf("table %lluM keys: lookups hit %.1f M/s, hit with touch %.1f M/s, "
                       "miss with touch %.1f M/s (%llu/%d found, %llu/%d missed)\n",
                       (unsigned long long)(n / 1000000), L / t_hit / 1e6, L / t_hit_pf / 1e6,
                       L / t_miss_pf / 1e6, (unsigned long long)found, L, (unsigned long long)miss,
                       L);
                free(q);
        }
        free(kh);
        cf_dd_part_free(p);
}

int main(int argc, char **argv)
{
        uint64_t big = argc > 1 ? strtoull(argv[1], NULL, 10) : 10000000;
        const char *only = argc > 2 ? argv[2] : "";
        if (!strcmp(only, "window")) {
                bench_window(big);
                return 0;
        }
        if (strcmp(only, "stage")) {
                bench_table(1000000, 1, 2000000);
                bench_table(1000000, 0, 1000000);
                bench_table(big, 0, 2 * big);
                bench_table(big, 0, big);
        }
        if (strcmp(only, "table")) {
                bench_stage(1000000, 1);
                bench_stage(big, 0);
        }
        return 0;
}
