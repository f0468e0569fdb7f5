/*
 * bench_detect.c - the detect stage's throughput on one thread (issue 5):
 * a generated file is decoded and deduplicated once (untimed), batch by
 * batch, then the detect stage runs over every batch with all rules on,
 * three times with a fresh stage (fresh state); prints records/s per pass
 * and the median, for the whole pass (cold start: the state tables grow from
 * empty) and for its second half alone (state warmed by the first half, as
 * in a service that has been running: most growth is behind it).
 *
 * Population state (unit value, volume, certificates) is merged at epoch
 * barriers, as replay does: batches are one epoch each (EPOCH lines, replay's
 * default epoch_lines, or argv[3]) and every barrier (publish, apply, settle)
 * is timed with the stage.
 *
 * usage: bench_detect FILE.jsonl [CONFIG (default deploy/examples/customsflow.yaml)] [EPOCH]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench_util.h"
#include "pipeline/core/clock.h"
#include "pipeline/core/config.h"
#include "pipeline/core/stage.h"

extern const cf_stage_plugin cf_stage_decode, cf_stage_dedup, cf_stage_detect;

#define EPOCH 128

/* The epoch barrier of one partition (replay's, pipeline/cli/replay_epochs.c). */
static void barrier(cf_stage *det, cf_buf *buf)
{
        char err[256];
        cf_buf_reset(buf);
        cf_stage_detect.publish(det, 0, CF_GLOBAL_DELTA, buf);
        size_t off = 0;
        cf_global_msg m;
        while (cf_global_next(buf->p, buf->len, &off, &m) > 0)
                if (cf_stage_detect.apply(det, &m, err, sizeof err)) {
                        fprintf(stderr, "bench_detect: %s\n", err);
                        exit(1);
                }
        cf_stage_detect.settle(det);
}

static cf_stage make(const cf_stage_plugin *p, const cf_config *cfg)
{
        char path[64], err[1024];
        snprintf(path, sizeof(path), "stages.%s", p->name);
        cf_stage_env env = {.root = cfg->root,
                            .cfg = cf_yaml_path(cfg->root, path),
                            .base_dir = cfg->base_dir,
                            .pipeline_version = "bench"};
        cf_stage st = {.p = p};
        if (p->init && p->init(&st, &env, err, sizeof(err))) {
                fprintf(stderr, "bench_detect: %s: %s\n", p->name, err);
                exit(2);
        }
        return st;
}

/* CPU time of this thread: the machine is shared, so wall time includes
 * time other processes ran; both are printed. */
static double cpu_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
        if (argc < 2) {
                fprintf(stderr, "usage: bench_detect FILE.jsonl [CONFIG] [EPOCH]\n");
                return 2;
        }
        const char *conf = argc > 2 ? argv[2] : CF_DATADIR "/customsflow.yaml";
        size_t BATCH = argc > 3 ? (size_t)atol(argv[3]) : EPOCH;
        if (BATCH < 1) BATCH = EPOCH;
        cf_config cfg;
        char err[1024];
        if (cf_config_load(&cfg, conf, err, sizeof(err))) {
                fprintf(stderr, "bench_detect: %s\n", err);
                return 2;
        }
        FILE *in = fopen(argv[1], "rb");
        if (!in) {
                perror(argv[1]);
                return 2;
        }
        cf_stage dec = make(&cf_stage_decode, &cfg), dd = make(&cf_stage_dedup, &cfg);
        size_t nb = 0, cap = 0, total = 0, ok = 0;
        cf_batch *bs = NULL;
        char *line = NULL;
        size_t lcap = 0;
        ssize_t len;
        for (;;) {
                if (nb == cap) {
                        cap = cap ? cap * 2 : 64;
                        bs = realloc(bs, cap * sizeof(*bs));
                }
                cf_batch *b = &bs[nb];
                cf_batch_init(b, BATCH);
                size_t n = 0;
                while (n < BATCH && (len = getline(&line, &lcap, in)) > 0) {
                        if (line[len - 1] == '\n') len--;
                        char *copy = cf_arena_strndup(&b->arena, line, (size_t)len);
                        cf_batch_add(b, copy, (size_t)len);
                        n++;
                }
                if (!n) {
                        cf_batch_destroy(b);
                        break;
                }
                cf_stage_decode.process(&dec, b);
                cf_stage_dedup.process(&dd, b);
                for (size_t i = 0; i < b->n; i++)
                        ok += b->recs[i].status == CF_REC_OK;
                total += b->n;
                nb++;
        }
        fclose(in);
        free(line);
        printf("bench_detect: %zu records, %zu processed (after decode and dedup), %zu epochs of "
               "%zu lines\n",
               total, ok, nb, BATCH);
        cf_buf gbuf = {0};
        double rate[3], crate[3], hrate[3];
        size_t flagged = 0, ok_half = 0;
        for (size_t k = nb / 2; k < nb; k++)
                for (size_t i = 0; i < bs[k].n; i++)
                        ok_half += bs[k].recs[i].status == CF_REC_OK;
        for (int pass = 0; pass < 3; pass++) {
                cf_stage det = make(&cf_stage_detect, &cfg);
                for (size_t k = 0; k < nb; k++)
                        for (size_t i = 0; i < bs[k].n; i++) {
                                cf_record *r = &bs[k].recs[i];
                                r->n_reasons = r->cap_reasons = 0;
                                r->reasons = NULL;
                                r->flagged = false;
                        }
                double t0 = cf_mono_s(), c0 = cpu_s(), ch = 0;
                for (size_t k = 0; k < nb; k++) {
                        if (k == nb / 2) ch = cpu_s();
                        cf_stage_detect.process(&det, &bs[k]);
                        barrier(&det, &gbuf);
                }
                double dt = cf_mono_s() - t0, ct = cpu_s() - c0;
                hrate[pass] = (double)ok_half / (cpu_s() - ch);
                crate[pass] = (double)ok / ct;
                flagged = 0;
                for (size_t k = 0; k < nb; k++)
                        for (size_t i = 0; i < bs[k].n; i++)
                                flagged += bs[k].recs[i].flagged;
                rate[pass] = (double)ok / dt;
                printf("pass %d: detect %.3f s wall, %.3f s CPU: %.0f records/s wall, %.0f CPU "
                       "(processed records), %zu flagged; second half %.0f CPU\n",
                       pass + 1, dt, ct, rate[pass], crate[pass], flagged, hrate[pass]);
                cf_stage_detect.destroy(&det);
        }
        cf_bench_sort(rate, 3);
        cf_bench_sort(crate, 3);
        cf_bench_sort(hrate, 3);
        printf("detect stage median: %.0f records/s wall, %.0f records/s of CPU time, one thread; "
               "second half (state warmed by the first) %.0f records/s of CPU time\n",
               rate[1], crate[1], hrate[1]);
        for (size_t k = 0; k < nb; k++)
                cf_batch_destroy(&bs[k]);
        free(bs);
        cf_buf_free(&gbuf);
        cf_stage_decode.destroy(&dec);
        cf_stage_dedup.destroy(&dd);
        cf_config_free(&cfg);
        return 0;
}
