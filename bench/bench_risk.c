/*
 * bench_risk.c - the risk model's speed on one thread (issue 16 targets:
 * scoring >= 1M declarations/s, learning >= 200k outcomes/s).
 *
 * The outcomes of FILE (the KCS CSV, or outcome JSONL) are decoded once,
 * untimed; then, RUNS times: a fresh model learns every outcome, looping over
 * the file until at least 1M were learnt, and scores every declaration until
 * at least 2M were scored. Prints per run learnt/s and scored/s on the thread's
 * CPU clock (the machine is shared; wall time is printed too) and the medians.
 *
 * usage: bench_risk FILE.csv|FILE.jsonl [RUNS (3)] [MODEL.yaml]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench_util.h"
#include "bench/kcs/kcs.h"
#include "pipeline/core/clock.h"
#include "pipeline/core/stage.h"
#include "stages/detect/risk/risk.h"

extern const cf_stage_plugin cf_stage_decode;

#define BATCH 4096

static double cpu_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return ts.tv_sec + ts.tv_nsec / 1e9;
}

static cf_risk *model(const char *path)
{
        char err[1024];
        cf_node *doc = path ? cf_yaml_load_file(path, err, sizeof err) : NULL;
        if (path && !doc) {
                fprintf(stderr, "bench_risk: %s\n", err);
                exit(2);
        }
        cf_risk_cfg rc = {0};
        cf_risk *m = NULL;
        if (!cf_config_map_apply(cf_risk_config_map, "model", doc, NULL, &rc, err, sizeof err))
                m = cf_risk_new(&rc, err, sizeof err);
        if (!m) {
                fprintf(stderr, "bench_risk: %s\n", err);
                exit(2);
        }
        cf_config_map_free(cf_risk_config_map, &rc);
        cf_yaml_free(doc);
        return m;
}

int main(int argc, char **argv)
{
        if (argc < 2) {
                fprintf(stderr, "usage: bench_risk FILE.csv|FILE.jsonl [RUNS] [MODEL.yaml]\n");
                return 2;
        }
        int runs = argc > 2 ? atoi(argv[2]) : 3;
        if (runs < 1 || runs > 64) runs = 3;
        const char *model_path = argc > 3 ? argv[3] : NULL;
        char err[1024];
        cf_buf in = {0};
        size_t l = strlen(argv[1]), rows;
        if (l > 4 && !strcmp(argv[1] + l - 4, ".csv")) {
                if (cf_kcs_to_jsonl(argv[1], NULL, &in, &rows, err, sizeof err)) {
                        fprintf(stderr, "bench_risk: %s\n", err);
                        return 2;
                }
        } else {
                FILE *f = fopen(argv[1], "rb");
                char tmp[1 << 16];
                size_t n;
                if (!f) {
                        perror(argv[1]);
                        return 2;
                }
                while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
                        cf_buf_put(&in, tmp, n);
                fclose(f);
        }
        /* decode once: batches stay alive, their OK records are what is timed */
        cf_stage dec = {.p = &cf_stage_decode};
        cf_stage_env env = {.base_dir = CF_DATADIR};
        if (cf_stage_decode.init(&dec, &env, err, sizeof err)) {
                fprintf(stderr, "bench_risk: %s\n", err);
                return 2;
        }
        size_t nb = 0, cap = 0, nrec = 0, pos = 0;
        cf_batch *batches = NULL;
        const cf_record **recs = NULL;
        while (pos < in.len) {
                if (nb == cap)
                        batches = realloc(batches, (cap = cap ? cap * 2 : 16) * sizeof(cf_batch));
                cf_batch *b = &batches[nb++];
                cf_batch_init(b, BATCH);
                while (b->n < b->cap && pos < in.len) {
                        const char *s = in.p + pos, *e = memchr(s, '\n', in.len - pos);
                        size_t n = e ? (size_t)(e - s) : in.len - pos;
                        pos += n + 1;
                        cf_batch_add(b, s, n);
                }
                cf_stage_decode.learn(&dec, b);
                recs = realloc(recs, (nrec + b->n) * sizeof(*recs));
                for (size_t i = 0; i < b->n; i++)
                        if (b->recs[i].status == CF_REC_OK) recs[nrec++] = &b->recs[i];
        }
        if (!nrec) {
                fprintf(stderr, "bench_risk: no outcome decoded\n");
                return 2;
        }
        printf("bench_risk: %zu outcomes from %s\n", nrec, argv[1]);
        double *lr = calloc((size_t)runs, sizeof(double)),
               *sr = calloc((size_t)runs, sizeof(double));
        volatile double sink = 0;
        for (int run = 0; run < runs; run++) {
                cf_risk *m = model(model_path);
                size_t learnt = 0, scored = 0;
                double c0 = cpu_s(), w0 = cf_mono_s();
                while (learnt < 1000000)
                        for (size_t i = 0; i < nrec; i++, learnt++) {
                                const cf_record *r = recs[i];
                                cf_risk_learn(m, &r->decl, r->outcome.kind >= CF_OUTCOME_FRAUD);
                        }
                double lc = cpu_s() - c0, lw = cf_mono_s() - w0;
                c0 = cpu_s(), w0 = cf_mono_s();
                while (scored < 2000000)
                        for (size_t i = 0; i < nrec; i++, scored++)
                                sink += cf_risk_score(m, &recs[i]->decl);
                double sc = cpu_s() - c0, sw = cf_mono_s() - w0;
                lr[run] = learnt / lc;
                sr[run] = scored / sc;
                printf("run %d: learnt %.0f/s (wall %.0f/s), scored %.0f/s (wall %.0f/s), "
                       "%zu MB model\n",
                       run + 1, lr[run], learnt / lw, sr[run], scored / sw, cf_risk_bytes(m) >> 20);
                cf_risk_free(m);
        }
        cf_bench_sort(lr, runs);
        cf_bench_sort(sr, runs);
        printf("median of %d: learning %.0f outcomes/s, scoring %.0f declarations/s (CPU time)\n",
               runs, lr[runs / 2], sr[runs / 2]);
        for (size_t i = 0; i < nb; i++)
                cf_batch_destroy(&batches[i]);
        free(batches);
        free(recs);
        free(lr);
        free(sr);
        cf_stage_decode.destroy(&dec);
        cf_buf_free(&in);
        return 0;
}
