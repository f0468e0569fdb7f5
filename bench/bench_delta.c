/*
 * bench_delta.c - what a commit writes to the changelog (issue 18): a full
 * snapshot of the partition (before) against a delta of the records since
 * the last commit (after), with a large state in one partition.
 *
 *  1. builds the state: KEYS generated records (default 1,000,000) through a
 *     chain with change tracking on, event times packed into 20 days so that
 *     dedup keeps every key (the bundled config: 30-day window);
 *  2. the full snapshot: bytes, per stage, and time (median of 3);
 *  3. COMMITS commits of PER records each (defaults 10 x 2000): the delta's
 *     bytes (and aggregate's part of them: its changed windows' counters,
 *     changed groups and sketches; its snapshot for comparison) and time;
 *  4. process time of the same records with tracking off, and on with a
 *     delta taken every PER records as the service's commits do (the hot
 *     path's cost of recording changes, plus writing the deltas), median of 3
 *     runs each.
 *
 * usage: bench_delta [KEYS [PER [COMMITS]]]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_util.h"
#include "bench/gen/gen.h"
#include "pipeline/core/chain.h"
#include "pipeline/core/clock.h"
#include "pipeline/core/config.h"
#include "pipeline/core/stenc.h"

#define BATCH 1000
#define RUNS  3

static char **lines;
static size_t nlines;

static void generate(size_t n)
{
        cf_gen_opts o;
        cf_gen_opts_default(&o);
        o.seed = 11;
        o.count = n;
        o.per_day = (double)n / 20.0; /* 20 days: inside dedup's 30-day window */
        char err[256];
        cf_gen *g = cf_gen_new(&o, err, sizeof(err));
        if (!g) {
                fprintf(stderr, "bench_delta: %s\n", err);
                exit(1);
        }
        lines = calloc(n, sizeof(*lines));
        cf_buf line = {0}, key = {0};
        while (nlines < n && !cf_gen_next(g, &line, &key, NULL)) {
                lines[nlines++] = strndup(line.p, line.len);
                cf_buf_reset(&line);
                cf_buf_reset(&key);
        }
        cf_buf_free(&line);
        cf_buf_free(&key);
        cf_gen_free(g);
}

static cf_chain *chain(bool track)
{
        cf_config cfg;
        char err[1024];
        if (cf_config_load(&cfg, CF_BENCH_CONFIG, err, sizeof(err))) {
                fprintf(stderr, "bench_delta: %s\n", err);
                exit(1);
        }
        cf_chain *c = cf_chain_new(cfg.root, cfg.base_dir, err, sizeof(err));
        cf_config_free(&cfg);
        if (!c) {
                fprintf(stderr, "bench_delta: %s\n", err);
                exit(1);
        }
        cf_chain_track_changes(c, track);
        return c;
}

/* Lines [from, to) through c, partition 0, in batches; seconds spent. */
static double feed(cf_chain *c, size_t from, size_t to)
{
        cf_batch b;
        cf_batch_init(&b, BATCH);
        double t0 = cf_mono_s();
        for (size_t i = from; i < to;) {
                cf_batch_reset(&b);
                b.now_ms = 1767225600000LL;
                for (; i < to && b.n < BATCH; i++) {
                        cf_record *r = cf_batch_add(&b, lines[i], strlen(lines[i]));
                        r->src = (cf_source){.topic = "t", .offset = (int64_t)i};
                }
                cf_chain_process(c, &b);
                cf_chain_flush(c, &b, b.now_ms, 0);
        }
        double dt = cf_mono_s() - t0;
        cf_batch_destroy(&b);
        return dt;
}

/* Lines [from, to) through c in commits of `every` records, each followed by a delta when
 * tracking is on (what the service's commits do). Seconds spent. */
static double feed_commits(cf_chain *c, size_t from, size_t to, size_t every)
{
        cf_buf d = {0};
        double t0 = cf_mono_s();
        for (size_t i = from; i < to; i += every) {
                size_t end = i + every < to ? i + every : to;
                feed(c, i, end);
                cf_buf_reset(&d);
                if (cf_chain_tracking(c)) cf_chain_delta(c, 0, &d);
        }
        cf_buf_free(&d);
        return cf_mono_s() - t0;
}

/* One stage's snapshot bytes of partition 0. */
static size_t stage_bytes(cf_chain *c, const char *name)
{
        cf_stage *st = cf_chain_stage(c, name);
        cf_buf b = {0};
        if (st && st->p->snapshot) st->p->snapshot(st, 0, &b);
        size_t n = b.len;
        cf_buf_free(&b);
        return n;
}

/* One stage's block bytes in a chain delta (pipeline/core/chain_state.c: seal header, base,
 * number, then per stage its name (str8) and a block (u64 length, bytes)). */
static size_t delta_stage_bytes(const cf_buf *d, const char *name)
{
        size_t i = CF_ST_SEAL_HEADER + 16;
        while (i + 9 <= d->len) {
                size_t n = (unsigned char)d->p[i];
                bool hit = n == strlen(name) && !memcmp(d->p + i + 1, name, n);
                i += 1 + n;
                uint64_t len = cf_st_load64((const unsigned char *)d->p + i);
                i += 8 + len;
                if (hit) return (size_t)len;
        }
        return 0;
}

int main(int argc, char **argv)
{
        size_t keys = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
        size_t per = argc > 2 ? strtoull(argv[2], NULL, 10) : 2000;
        int commits = argc > 3 ? atoi(argv[3]) : 10;
        generate(keys + per * (size_t)commits);
        printf("records: %zu of state, then %d commits of %zu\n", keys, commits, per);

        cf_chain *c = chain(true);
        double build = feed(c, 0, keys);
        printf("state built in %.2f s\n", build);
        double ts[RUNS];
        size_t full = 0;
        for (int r = 0; r < RUNS; r++) {
                cf_buf s = {0};
                double t0 = cf_mono_s();
                cf_chain_snapshot(c, 0, &s);
                ts[r] = cf_mono_s() - t0;
                full = s.len;
                cf_buf_free(&s);
        }
        cf_bench_sort(ts, RUNS);
        printf("full snapshot: %zu bytes (dedup %zu, detect %zu, aggregate %zu), %.1f ms "
               "(median of %d)\n",
               full, stage_bytes(c, "dedup"), stage_bytes(c, "detect"), stage_bytes(c, "aggregate"),
               ts[RUNS / 2] * 1e3, RUNS);

        double dts[64];
        size_t dsum = 0, asum = 0;
        int n = commits < 64 ? commits : 64;
        for (int k = 0; k < n; k++) {
                feed(c, keys + (size_t)k * per, keys + (size_t)(k + 1) * per);
                cf_buf d = {0};
                double t0 = cf_mono_s();
                cf_chain_delta(c, 0, &d);
                dts[k] = cf_mono_s() - t0;
                size_t agg = delta_stage_bytes(&d, "aggregate");
                printf("  commit %2d: delta %zu bytes (aggregate %zu, its snapshot %zu), %.2f "
                       "ms\n",
                       k + 1, d.len, agg, stage_bytes(c, "aggregate"), dts[k] * 1e3);
                dsum += d.len;
                asum += agg;
                cf_buf_free(&d);
        }
        cf_bench_sort(dts, n);
        printf("per commit of %zu records: full snapshot %zu bytes, delta %zu bytes (mean; "
               "aggregate's part %zu): %.0fx smaller; delta time %.2f ms median\n",
               per, full, dsum / (size_t)n, asum / (size_t)n,
               (double)full / (double)(dsum / (size_t)n), dts[n / 2] * 1e3);
        cf_chain_destroy(c);

        /* the hot path: the same records with tracking off, and on with a delta per commit */
        size_t m = keys < 300000 ? keys : 300000;
        double off[RUNS], on[RUNS];
        for (int r = 0; r < RUNS; r++) {
                cf_chain *x = chain(false);
                off[r] = feed_commits(x, 0, m, per);
                cf_chain_destroy(x);
                x = chain(true);
                on[r] = feed_commits(x, 0, m, per);
                cf_chain_destroy(x);
        }
        cf_bench_sort(off, RUNS);
        cf_bench_sort(on, RUNS);
        printf("process %zu records in commits of %zu: tracking off %.3f s, on with a delta per "
               "commit %.3f s (median of %d; on/off %.3f)\n",
               m, per, off[RUNS / 2], on[RUNS / 2], RUNS, on[RUNS / 2] / off[RUNS / 2]);
        for (size_t i = 0; i < nlines; i++)
                free(lines[i]);
        free(lines);
        return 0;
}
