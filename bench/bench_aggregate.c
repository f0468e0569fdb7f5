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
 * usage: bench_aggregate [RECORDS (default 1000000) [RUNS (default 3)]]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/gen/gen.h"
#include "pipeline/stage.h"

extern const cf_stage_plugin cf_stage_decode;
extern const cf_stage_plugin cf_stage_aggregate;

#define BATCH 4096

static double now_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

/* Generate n messages at per_day and decode them into one batch (kept). */
static void make_records(cf_batch *all, cf_buf *text, uint64_t n, double per_day)
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
        size_t *off = malloc((n + 1) * sizeof(*off));
        cf_buf key = {0};
        uint64_t k = 0;
        for (; k < n; k++) {
                off[k] = text->len;
                if (cf_gen_next(g, text, &key, NULL)) break;
                cf_buf_reset(&key);
        }
        off[k] = text->len;
        cf_batch_init(all, (size_t)k);
        for (uint64_t i = 0; i < k; i++) {
                cf_record *r = cf_batch_add(all, text->p + off[i], off[i + 1] - off[i]);
                r->src.partition = 0;
        }
        cf_stage dec = {.p = &cf_stage_decode};
        cf_stage_env env = {.base_dir = CF_DATADIR};
        if (cf_stage_decode.init(&dec, &env, err, sizeof(err)) ||
            cf_stage_decode.process(&dec, all)) {
                fprintf(stderr, "decode: %s\n", err);
                exit(2);
        }
        cf_stage_decode.destroy(&dec);
        cf_buf_free(&key);
        free(off);
        cf_gen_free(g);
}

static void bench(const char *label, uint64_t n, double per_day, int runs)
{
        cf_buf text = {0};
        cf_batch all;
        make_records(&all, &text, n, per_day);
        double *rate = malloc(runs * sizeof(double));
        size_t msgs = 0, bytes = 0;
        for (int run = 0; run < runs; run++) {
                cf_stage st = {.p = &cf_stage_aggregate};
                cf_stage_env env = {.pipeline_version = "bench"};
                char err[256];
                if (cf_stage_aggregate.init(&st, &env, err, sizeof(err))) exit(2);
                cf_batch v;
                cf_batch_init(&v, 1);
                cf_record *own = v.recs;
                msgs = bytes = 0;
                double spent = 0;
                for (size_t off = 0; off < all.n; off += BATCH) {
                        cf_batch_reset(&v);
                        v.recs = all.recs + off;
                        v.n = all.n - off < BATCH ? all.n - off : BATCH;
                        double t0 = now_s();
                        cf_stage_aggregate.process(&st, &v);
                        spent += now_s() - t0;
                        msgs += v.n_outs;
                        bytes += v.out.len;
                }
                v.recs = own;
                v.n = 0;
                cf_batch_reset(&v);
                double t0 = now_s();
                cf_stage_aggregate.flush(&st, &v, 0, 1);
                spent += now_s() - t0;
                msgs += v.n_outs;
                bytes += v.out.len;
                rate[run] = (double)all.n / spent;
                cf_batch_destroy(&v);
                cf_stage_aggregate.destroy(&st);
        }
        qsort(rate, runs, sizeof(double), cmp_d);
        printf("%-32s %9zu records  %12.0f records/s (median of %d; min %.0f, max %.0f)  "
               "%zu stats messages, %.1f MB\n",
               label, all.n, rate[runs / 2], runs, rate[0], rate[runs - 1], msgs, bytes / 1e6);
        free(rate);
        cf_batch_destroy(&all);
        cf_buf_free(&text);
}

int main(int argc, char **argv)
{
        uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
        int runs = argc > 2 ? atoi(argv[2]) : 3;
        if (runs < 1) runs = 1;
        bench("5,000 declarations/day", n, 5000, runs);
        bench("5,000,000 declarations/day", n, 5e6, runs);
        return 0;
}
