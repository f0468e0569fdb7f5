/*
 * bench_decode.c - decode-path figures on one thread, side by side in one run
 * over the same file: JSON parse-only (jsmn; simdjson when built with it),
 * the decode stage, and the full stage chain (replay without output files).
 *
 * usage: bench_decode FILE.jsonl [REPEATS]
 * Prints records/s and MB/s for each, and the ratios.
 */
#define JSMN_STRICT
#define JSMN_PARENT_LINKS /* as stages/decode.c */
#define JSMN_STATIC
#include <jsmn.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_util.h"
#include "pipeline/core/chain.h"
#include "pipeline/core/clock.h"
#include "pipeline/core/config.h"
#include "pipeline/core/stage.h"

#include "bench/yardstick.h"

extern const cf_stage_plugin cf_stage_decode;

typedef struct line {
        const char *p;
        size_t n;
} line;

static line *load(const char *path, size_t *n_lines, size_t *bytes, char **buf)
{
        FILE *f = fopen(path, "rb");
        if (!f) {
                perror(path);
                exit(2);
        }
        fseek(f, 0, SEEK_END);
        long sz = ftell(f);
        fseek(f, 0, SEEK_SET);
        *buf = malloc((size_t)sz + 64); /* + padding for simdjson */
        if (fread(*buf, 1, (size_t)sz, f) != (size_t)sz) exit(2);
        fclose(f);
        memset(*buf + sz, 0, 64);
        size_t cap = 1 << 20, n = 0;
        line *ls = malloc(cap * sizeof(*ls));
        char *p = *buf, *end = *buf + sz;
        while (p < end) {
                char *nl = memchr(p, '\n', (size_t)(end - p));
                if (!nl) nl = end;
                if (n == cap) ls = realloc(ls, (cap *= 2) * sizeof(*ls));
                ls[n++] = (line){p, (size_t)(nl - p)};
                p = nl + 1;
        }
        *n_lines = n;
        *bytes = (size_t)sz;
        return ls;
}

static void report(const char *name, size_t n, size_t bytes, double s, double base)
{
        printf("%-26s %10.0f rec/s %8.1f MB/s", name, n / s, bytes / s / 1e6);
        if (base > 0) printf("   x%.2f of jsmn parse-only", (n / s) / base);
        printf("\n");
}

/* Reset b and fill it with the lines from i on (file sources, offsets from 1); the next i. */
static size_t fill(cf_batch *b, const line *ls, size_t n, size_t i)
{
        cf_batch_reset(b);
        for (; i < n && b->n < b->cap; i++) {
                cf_record *rec = cf_batch_add(b, ls[i].p, ls[i].n);
                rec->src = (cf_source){.topic = "bench", .offset = (int64_t)i + 1, .is_file = true};
        }
        return i;
}

int main(int argc, char **argv)
{
        if (argc < 2) {
                fprintf(stderr, "usage: bench_decode FILE.jsonl [REPEATS]\n");
                return 2;
        }
        int reps = argc > 2 ? atoi(argv[2]) : 3;
        size_t n, bytes;
        char *buf;
        line *ls = load(argv[1], &n, &bytes, &buf);
        printf("file %s: %zu records, %zu bytes (%.0f B/record), %d repeats, median\n", argv[1], n,
               bytes, (double)bytes / n, reps);

        double t_jsmn[16], t_simd[16], t_dec[16], t_chain[16];
        reps = reps > 16 ? 16 : reps;
        jsmntok_t *toks = malloc(sizeof(jsmntok_t) * 2048);
        char err[512];
        cf_stage dec = {.p = &cf_stage_decode};
        cf_stage_env env = {.base_dir = CF_DATADIR};
        if (cf_stage_decode.init(&dec, &env, err, sizeof(err))) {
                fprintf(stderr, "%s\n", err);
                return 1;
        }
        cf_config cfg;
        if (cf_config_load(&cfg, NULL, err, sizeof(err))) return 1;
        cf_chain *chain = cf_chain_new(cfg.root, cfg.base_dir, err, sizeof(err));
        if (!chain) {
                fprintf(stderr, "%s\n", err);
                return 1;
        }
        cf_batch b;
        cf_batch_init(&b, 4096);
#ifdef CF_HAVE_SIMDJSON
        cf_simdjson *sj = cf_simdjson_new();
#endif
        size_t ok = 0;
        for (int r = 0; r < reps; r++) {
                double t0 = cf_mono_s();
                for (size_t i = 0; i < n; i++) {
                        jsmn_parser p;
                        jsmn_init(&p);
                        ok += jsmn_parse(&p, ls[i].p, ls[i].n, toks, 2048) > 0;
                }
                t_jsmn[r] = cf_mono_s() - t0;
#ifdef CF_HAVE_SIMDJSON
                t0 = cf_mono_s();
                for (size_t i = 0; i < n; i++)
                        ok += cf_simdjson_parse(sj, ls[i].p, ls[i].n) == 0;
                t_simd[r] = cf_mono_s() - t0;
#endif
                /* decode stage alone, batches of 4096 */
                t0 = cf_mono_s();
                for (size_t i = 0; i < n;) {
                        i = fill(&b, ls, n, i);
                        cf_stage_decode.process(&dec, &b);
                        for (size_t k = 0; k < b.n; k++)
                                ok += b.recs[k].status == CF_REC_OK;
                }
                t_dec[r] = cf_mono_s() - t0;
        }
        /* full chain once per repeat on a fresh chain (stateful stages) */
        for (int r = 0; r < reps; r++) {
                cf_chain_destroy(chain);
                chain = cf_chain_new(cfg.root, cfg.base_dir, err, sizeof(err));
                double t0 = cf_mono_s();
                for (size_t i = 0; i < n;) {
                        i = fill(&b, ls, n, i);
                        cf_chain_process(chain, &b);
                }
                t_chain[r] = cf_mono_s() - t0;
        }
        double *arrs[] = {t_jsmn, t_simd, t_dec, t_chain};
        for (int a = 0; a < 4; a++)
                cf_bench_sort(arrs[a], reps);
        double base = n / t_jsmn[reps / 2];
        report("jsmn parse-only", n, bytes, t_jsmn[reps / 2], 0);
#ifdef CF_HAVE_SIMDJSON
        report("simdjson DOM parse-only", n, bytes, t_simd[reps / 2], base);
#endif
        report("decode stage", n, bytes, t_dec[reps / 2], base);
        report("full chain (replay core)", n, bytes, t_chain[reps / 2], base);
        const cf_counters *k = cf_chain_counters(chain);
        printf("chain: in %llu processed %llu duplicates %llu dead %llu flagged %llu (check %zu)\n",
               (unsigned long long)k->in, (unsigned long long)k->processed,
               (unsigned long long)k->duplicates, (unsigned long long)k->dead_lettered,
               (unsigned long long)k->flagged, ok);
        cf_chain_destroy(chain);
        cf_stage_decode.destroy(&dec);
        cf_batch_destroy(&b);
        cf_config_free(&cfg);
        free(toks);
        free(ls);
        free(buf);
        return 0;
}
