/*
 * bench_aggregate.c - the aggregate stage alone, on one thread (issue #6's
 * acceptance: >= 5M records/s).
 *
 * Generated declarations (the seeded generator, in process) are decoded once
 * into memory; then only the aggregate stage's process() over batches of
 * 4096 plus the final flush is timed, stats messages included (written into
 * the batch's output buffer, not to a file). Two event-time densities:
 * the generator's default (5,000 declarations a day: ~210 a 1 h window, so a
 * window's messages are emitted every ~210 records) and 5M a day (~210,000
 * a window).
 *
 * usage: bench_aggregate [RECORDS (default 1000000) [RUNS (default 3) [WHICH]]]
 *   WHICH: default | dense | p64 | both (default both: all three); one alone
 *   is handy under perf, with many runs so the timed part dominates
 *
 * p64: the default density spread over 64 input partitions by exporter, as
 * the service keys its input (the Kafka bench's topic): every partition's
 * windows hold 1/64 of the records, so nearly every record is a group of its
 * own and a window summary comes every ~3 records. The worst case for the
 * stage's output volume.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_util.h"
#include "bench/gen/gen.h"
#include "pipeline/core/clock.h"
#include "pipeline/core/stage.h"

extern const cf_stage_plugin cf_stage_decode;
extern const cf_stage_plugin cf_stage_aggregate;

#define BATCH 4096

typedef struct gen_text {
        cf_buf text;
        size_t *off; /* message i is text.p[off[i] .. off[i + 1]) */
        size_t n;
} gen_text;

/* Generate n messages at per_day (seed 1, the generator's defaults otherwise). */
static void make_text(gen_text *t, uint64_t n, double per_day)
{
        cf_gen_opts o;
        cf_gen_opts_default(&o);
        o.seed = 1;
        o.count = n;
        o.per_day = per_day;
        o.reference = CF_DATADIR "/reference";
        char err[512];
        cf_gen *g = cf_gen_new(&o, err, sizeof(err));
        if (!g) {
                fprintf(stderr, "gen: %s\n", err);
                exit(2);
        }
        memset(t, 0, sizeof(*t));
        t->off = malloc((n + 1) * sizeof(*t->off));
        cf_buf key = {0};
        uint64_t k = 0;
        for (; k < n; k++) {
                t->off[k] = t->text.len;
                if (cf_gen_next(g, &t->text, &key, NULL)) break;
                cf_buf_reset(&key);
        }
        t->off[k] = t->text.len;
        t->n = (size_t)k;
        cf_buf_free(&key);
        cf_gen_free(g);
}

/* Input partitions the records are spread over (1: all in partition 0). */
static int g_parts = 1;

/* Spread records over g_parts partitions by exporter (the service's input
 * key), then order every BATCH of them by partition, keeping each
 * partition's order: the runs a consumer gets when it fetches per partition. */
static void partition_records(cf_batch *b)
{
        if (g_parts <= 1) return;
        cf_record *tmp = malloc(BATCH * sizeof(*tmp));
        for (size_t off = 0; off < b->n; off += BATCH) {
                size_t m = b->n - off < BATCH ? b->n - off : BATCH, k = 0;
                cf_record *r = b->recs + off;
                for (size_t i = 0; i < m; i++)
                        r[i].src.partition =
                            (int32_t)(cf_decl_exporter_h(&r[i].decl) % (uint64_t)g_parts);
                for (int p = 0; p < g_parts; p++)
                        for (size_t i = 0; i < m; i++)
                                if (r[i].src.partition == p) tmp[k++] = r[i];
                memcpy(r, tmp, m * sizeof(*r));
        }
        free(tmp);
}

/* Fill b with messages [from, to) of t and decode them (partition 0, or
 * spread as partition_records says). */
static void decode_range(cf_stage *dec, cf_batch *b, const gen_text *t, size_t from, size_t to)
{
        for (size_t i = from; i < to; i++) {
                cf_record *r = cf_batch_add(b, t->text.p + t->off[i], t->off[i + 1] - t->off[i]);
                r->src.partition = 0;
        }
        if (cf_stage_decode.process(dec, b)) {
                fprintf(stderr, "decode failed\n");
                exit(2);
        }
        partition_records(b);
}

/*
 * One run of the aggregate stage over t; returns records/s of its own time.
 * warm: each batch is decoded right before the stage sees it, as in the
 * chain (the batch's text and records are in cache); cold: every record was
 * decoded up front into `all`, so the stage reads them from memory.
 */
static double run_once(const gen_text *t, cf_stage *dec, cf_batch *all, bool warm, size_t *msgs,
                       size_t *bytes)
{
        cf_stage st = {.p = &cf_stage_aggregate};
        cf_stage_env env = {.pipeline_version = "bench"};
        char err[256];
        if (cf_stage_aggregate.init(&st, &env, err, sizeof(err))) exit(2);
        cf_batch v;
        cf_batch_init(&v, BATCH);
        cf_record *own = v.recs;
        *msgs = *bytes = 0;
        double spent = 0;
        for (size_t off = 0; off < t->n; off += BATCH) {
                size_t m = t->n - off < BATCH ? t->n - off : BATCH;
                cf_batch_reset(&v);
                if (warm) {
                        decode_range(dec, &v, t, off, off + m);
                } else {
                        v.recs = all->recs + off;
                        v.n = m;
                }
                double t0 = cf_mono_s();
                cf_stage_aggregate.process(&st, &v);
                spent += cf_mono_s() - t0;
                *msgs += v.n_outs;
                *bytes += v.out.len;
                v.recs = own;
        }
        v.n = 0;
        cf_batch_reset(&v);
        double t0 = cf_mono_s();
        cf_stage_aggregate.flush(&st, &v, 0, 1);
        spent += cf_mono_s() - t0;
        *msgs += v.n_outs;
        *bytes += v.out.len;
        cf_batch_destroy(&v);
        cf_stage_aggregate.destroy(&st);
        return (double)t->n / spent;
}

static void bench(const char *label, uint64_t n, double per_day, int runs)
{
        gen_text t;
        make_text(&t, n, per_day);
        cf_stage dec = {.p = &cf_stage_decode};
        cf_stage_env env = {.base_dir = CF_DATADIR};
        char err[512];
        if (cf_stage_decode.init(&dec, &env, err, sizeof(err))) {
                fprintf(stderr, "decode: %s\n", err);
                exit(2);
        }
        cf_batch all;
        cf_batch_init(&all, t.n);
        decode_range(&dec, &all, &t, 0, t.n);
        double *rate[2] = {malloc(runs * sizeof(double)), malloc(runs * sizeof(double))};
        size_t msgs = 0, bytes = 0;
        /* interleaved, so both modes see the same machine noise */
        for (int run = 0; run < runs; run++)
                for (int warm = 1; warm >= 0; warm--)
                        rate[warm][run] = run_once(&t, &dec, &all, warm, &msgs, &bytes);
        for (int warm = 1; warm >= 0; warm--) {
                double *r = rate[warm];
                cf_bench_sort(r, runs);
                printf("%-27s %-5s %8zu records %10.0f records/s (median of %d; min %.0f, max "
                       "%.0f)  %zu stats messages, %.1f MB\n",
                       label, warm ? "warm" : "cold", t.n, r[runs / 2], runs, r[0], r[runs - 1],
                       msgs, bytes / 1e6);
                free(r);
        }
        cf_batch_destroy(&all);
        cf_stage_decode.destroy(&dec);
        cf_buf_free(&t.text);
        free(t.off);
}

int main(int argc, char **argv)
{
        uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
        int runs = argc > 2 ? atoi(argv[2]) : 3;
        if (runs < 1) runs = 1;
        const char *which = argc > 3 ? argv[3] : "both";
        if (!strcmp(which, "both") || !strcmp(which, "default"))
                bench("5,000 declarations/day", n, 5000, runs);
        if (!strcmp(which, "both") || !strcmp(which, "dense"))
                bench("5,000,000 declarations/day", n, 5e6, runs);
        if (!strcmp(which, "both") || !strcmp(which, "p64")) {
                g_parts = 64;
                bench("5,000/day, 64 partitions", n, 5000, runs);
        }
        return 0;
}
