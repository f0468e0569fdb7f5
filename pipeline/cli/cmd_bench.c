/*
 * cmd_bench.c - `customsflow bench`: one command for people who benchmark
 * (issue 15). Generates the data, then measures side by side in one run, each
 * figure the median of --repeats runs: the parse-only yardstick (simdjson DOM,
 * bench/simdjson_shim.cpp), each stage alone (its time within the chain), the
 * chain in process, and `replay` with every output at 1..--threads threads
 * (a child process each, which reports its own peak RSS: VmHWM). Table on
 * stdout, a progress line on stderr, --report DIR: report.json and SVG charts
 * (bench_report.h).
 *
 * @locality: main thread.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/gen/gen.h"
#include "pipeline/cli/bench_report.h"
#include "pipeline/cli/cli.h"
#include "pipeline/core/config.h"
#include "pipeline/core/fileio.h"
#include "pipeline/core/keyroute.h"
#include "pipeline/core/metrics.h"

#include "bench/yardstick.h"

enum { MAX_REPEATS = 15, MAX_ROWS = 48, PARTS = 16, EPOCH = 128 };
static const char *const stage_names[] = {"decode", "dedup", "detect", "aggregate", "encode"};
#define N_STAGE_ROWS 5
/* the chain's other costs, timed like the stages: the last two timing slots */
enum { T_ROUTE = N_STAGE_ROWS, T_BARRIER, N_TIMED };
static const char *const timed_names[N_TIMED] = {"decode alone",
                                                 "dedup alone",
                                                 "detect alone",
                                                 "aggregate alone",
                                                 "encode alone",
                                                 "routing by exporter_id",
                                                 "epoch barrier (population merge)"};

typedef struct bench_opts {
        uint64_t count, seed;
        long long threads, repeats;
        int kafka, progress, keep;
        const char *report, *config;
} bench_opts;

typedef struct line {
        const char *p;
        size_t n;
} line;

typedef struct bench {
        bench_opts o;
        cf_bench_meta m;
        char dir[64]; /* the data and the replay outputs */
        char data[128];
        char *buf; /* the data file, padded */
        line *ls;
        size_t n;
        cf_bench_row rows[MAX_ROWS];
        size_t n_rows;
        char err[1024];
} bench;

static const cf_opt bench_rows[] = {
    CF_OPT_ROW_U64("count", bench_opts, count, 1, 1LL << 34, "N", "records (default 1000000)"),
    CF_OPT_ROW_U64("seed", bench_opts, seed, 0, 0, "S", "generator seed (default 11)"),
    CF_OPT_ROW_LL("threads", bench_opts, threads, 1, 256, "N",
                  "replay at 1..N threads (default: the number of cores)"),
    CF_OPT_ROW_LL("repeats", bench_opts, repeats, 1, MAX_REPEATS, "R",
                  "runs per figure (default 3, at most 15)"),
    CF_OPT_ROW_ON("kafka", bench_opts, kafka,
                  "also the Kafka path: bench/bench_kafka of the bench build (next to this "
                  "binary, or $CUSTOMSFLOW_BENCH_KAFKA) on the mock cluster, kcat raw consume "
                  "and 1..N workers"),
    CF_OPT_ROW_STR("report", 0, bench_opts, report, "DIR",
                   "write DIR/report.json (schemas/bench_report.schema.json), DIR/stages.svg "
                   "and DIR/threads.svg"),
    CF_OPT_ROW_STR("config", 'c', bench_opts, config, "FILE",
                   "config (as replay finds it by default)"),
    CF_OPT_ROW_ON("keep-data", bench_opts, keep,
                  "keep the generated data and outputs (their folder is named)"),
    CF_OPT_ROW_OFF("no-progress", bench_opts, progress, "no progress line on stderr"),
    {0},
};

static const cf_opts_spec bench_spec = {
    .prog = "customsflow bench",
    .about = "Generates N declarations (gen --seed S --bad-rate 0.01 --dup-rate 0.02), then\n"
             "measures side by side, each figure the median of R runs: a simdjson DOM\n"
             "parse-only pass (the yardstick), each stage alone (its time within the chain),\n"
             "the chain in process, and `replay` with flags, stats and dead-letter files at\n"
             "1..N threads (--partitions 16). Prints a table: records/s, ratio to the\n"
             "yardstick, MB/s, p50/p99 batch latency, peak RSS, dedup bytes per key.\n",
    .opts = bench_rows,
};

static int parse_opts(int argc, char **argv, bench_opts *o)
{
        *o = (bench_opts){.count = 1000000, .seed = 11, .repeats = 3, .progress = isatty(2)};
        int rc = cf_opts_main(&bench_spec, argc, argv, o, NULL);
        if (rc) return rc;
        if (!o->threads) {
                long c = sysconf(_SC_NPROCESSORS_ONLN);
                o->threads = c > 0 ? c : 1;
        }
        return 0;
}

static void progress(const bench *b, const char *what)
{
        if (!b->o.progress) return;
        fprintf(stderr, "\r\033[K  bench: %s", what);
        if (!*what) fprintf(stderr, "\r");
}

static void machine(cf_bench_meta *m)
{
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        m->cores = c > 0 ? (int)c : 1;
        double l[1] = {0};
        if (getloadavg(l, 1) == 1) m->loadavg = l[0];
        snprintf(m->cpu, sizeof(m->cpu), "unknown");
        FILE *f = fopen("/proc/cpuinfo", "r");
        char s[512];
        while (f && fgets(s, sizeof(s), f)) {
                char *v = strchr(s, ':');
                if (strncmp(s, "model name", 10) || !v) continue;
                v += 1 + strspn(v + 1, " \t");
                v[strcspn(v, "\n")] = '\0';
                snprintf(m->cpu, sizeof(m->cpu), "%s", v);
                break;
        }
        if (f) fclose(f);
}

/* The generator's default mix of the issue: 1 % bad input, 2 % re-deliveries. */
static int generate(bench *b)
{
        cf_gen_opts go;
        cf_gen_opts_default(&go);
        go.seed = b->o.seed;
        go.count = b->o.count;
        go.bad_rate = 0.01;
        go.dup_rate = 0.02;
        cf_gen *g = cf_gen_new(&go, b->err, sizeof(b->err));
        if (!g) return -1;
        FILE *f = fopen(b->data, "wb");
        if (!f) {
                snprintf(b->err, sizeof(b->err), "%s: %s", b->data, strerror(errno));
                cf_gen_free(g);
                return -1;
        }
        cf_buf l = {0}, k = {0};
        uint64_t i = 0;
        while (!cf_gen_next(g, &l, &k, NULL)) {
                cf_buf_putc(&l, '\n');
                if (l.len > (1 << 20) && fwrite(l.p, 1, l.len, f) != l.len) break;
                if (l.len > (1 << 20)) cf_buf_reset(&l);
                cf_buf_reset(&k);
                if (++i % 50000 == 0 && b->o.progress) {
                        char s[64];
                        snprintf(s, sizeof(s), "generating %llu/%llu", (unsigned long long)i,
                                 (unsigned long long)b->o.count);
                        progress(b, s);
                }
        }
        int rc = fwrite(l.p, 1, l.len, f) == l.len && !ferror(f) ? 0 : -1;
        if (fclose(f) || rc) snprintf(b->err, sizeof(b->err), "%s: write error", b->data), rc = -1;
        cf_buf_free(&l);
        cf_buf_free(&k);
        cf_gen_free(g);
        return rc;
}

/* The data in memory, split into lines, with simdjson's padding after it. */
static int load(bench *b)
{
        cf_buf f = {0};
        if (cf_read_file_capped(b->data, SIZE_MAX / 2, &f, b->err, sizeof(b->err))) return -1;
        b->m.bytes = f.len;
        cf_buf_put(&f,
                   "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
                   "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
                   64);
        b->buf = f.p;
        size_t cap = 1024, n = 0;
        b->ls = malloc(cap * sizeof(line));
        for (char *p = f.p, *end = f.p + b->m.bytes; p < end;) {
                char *nl = memchr(p, '\n', (size_t)(end - p));
                if (!nl) nl = end;
                if (n == cap && !(b->ls = realloc(b->ls, (cap *= 2) * sizeof(line)))) abort();
                b->ls[n++] = (line){p, (size_t)(nl - p)};
                p = nl + 1;
        }
        b->n = n;
        return 0;
}

/* This thread's CPU seconds: figures a loaded machine disturbs less than wall time. */
static double cpu_s(void)
{
        struct timespec t;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
        return t.tv_sec + t.tv_nsec / 1e9;
}

static cf_bench_row *row(bench *b, const char *kind, int threads, const char *fmt, const char *s)
{
        cf_bench_row *r = &b->rows[b->n_rows++];
        *r = (cf_bench_row){.kind = kind,
                            .threads = threads,
                            .mbs = -1,
                            .p50_ms = -1,
                            .p99_ms = -1,
                            .rss_mb = -1,
                            .bytes_per_key = -1,
                            .cpu_s_per_m = -1};
        snprintf(r->name, sizeof(r->name), fmt, s);
        return r;
}

static double median(double *v, int n)
{
        for (int i = 1; i < n; i++) /* insertion sort: a handful of values */
                for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
                        double t = v[j];
                        v[j] = v[j - 1], v[j - 1] = t;
                }
        return v[n / 2];
}

/* Records/s and MB/s of a median time. */
static void rate(bench *b, cf_bench_row *r, double s)
{
        r->rps = s > 0 ? b->n / s : 0;
        r->mbs = s > 0 ? b->m.bytes / s / 1e6 : 0;
}

static int yardstick(bench *b)
{
        double t[MAX_REPEATS], c[MAX_REPEATS];
        size_t ok = 0;
#ifdef CF_HAVE_SIMDJSON
        cf_simdjson *sj = cf_simdjson_new();
        for (int r = 0; r < b->o.repeats; r++) {
                double t0 = cf_mono_s(), c0 = cpu_s();
                for (size_t i = 0; i < b->n; i++)
                        ok += cf_simdjson_parse(sj, b->ls[i].p, b->ls[i].n) == 0;
                t[r] = cf_mono_s() - t0;
                c[r] = (cpu_s() - c0) / ((double)b->n / 1e6);
        }
        cf_simdjson_free(sj);
        cf_bench_row *y = row(b, "yardstick", 0, "%s", "simdjson DOM parse-only");
        rate(b, y, median(t, (int)b->o.repeats));
        y->cpu_s_per_m = median(c, (int)b->o.repeats);
        return ok ? 0 : -1;
#else
        snprintf(b->err, sizeof(b->err), "built without simdjson: no yardstick");
        (void)t, (void)c, (void)ok;
        return -1;
#endif
}

/* One pass of the chain in process as replay runs it (routed, epochs of 128 lines,
 * the population merged at each), every stage timed apart; per-batch times in lat. */
static int chain_pass(bench *b, const cf_config *cfg, double st[N_TIMED], double sc[N_TIMED],
                      double *lat, size_t *n_lat, double *bpk)
{
        cf_chain *c = cf_chain_new(cfg->root, cfg->base_dir, b->err, sizeof(b->err));
        if (!c) return -1;
        cf_stage *s[N_STAGE_ROWS];
        for (int i = 0; i < N_STAGE_ROWS; i++)
                s[i] = cf_chain_stage(c, stage_names[i]);
        cf_keyroute *kr = cf_keyroute_new();
        cf_batch bt;
        cf_batch_init(&bt, EPOCH);
        bt.replay = true;
        cf_buf scratch = {0};
        int32_t parts[PARTS];
        for (int p = 0; p < PARTS; p++)
                parts[p] = p;
        int rc = 0;
        *n_lat = 0;
        for (size_t i = 0; i < b->n && !rc;) {
                cf_batch_reset(&bt);
                bt.now_ms = cf_now_ms();
                double t0 = cf_mono_s(), c0 = cpu_s();
                for (; i < b->n && bt.n < bt.cap; i++) {
                        const line *l = &b->ls[i];
                        size_t readable = (size_t)(b->buf + b->m.bytes + 64 - l->p);
                        cf_record *r = cf_batch_add(&bt, l->p, l->n);
                        r->src = (cf_source){
                            .topic = "bench",
                            .offset = (int64_t)i + 1,
                            .is_file = true,
                            .partition = cf_keyroute_partition(kr, l->p, l->n, readable, PARTS)};
                }
                st[T_ROUTE] += cf_mono_s() - t0;
                sc[T_ROUTE] += cpu_s() - c0;
                for (int k = 0; k < N_STAGE_ROWS && !rc; k++) {
                        double t1 = cf_mono_s(), c1 = cpu_s();
                        if (s[k] && s[k]->p->process) rc = s[k]->p->process(s[k], &bt);
                        st[k] += cf_mono_s() - t1;
                        sc[k] += cpu_s() - c1;
                }
                double t1 = cf_mono_s(), c1 = cpu_s();
                if (!rc) rc = cf_chain_barrier(c, parts, PARTS, &scratch, b->err, sizeof(b->err));
                st[T_BARRIER] += cf_mono_s() - t1;
                sc[T_BARRIER] += cpu_s() - c1;
                lat[(*n_lat)++] = cf_mono_s() - t0;
        }
        cf_chain_collect(c);
        cf_metrics *reg = cf_chain_registry(c);
        double keys = cf_metrics_sum(reg, "customsflow_dedup_entries", "table", "keys");
        *bpk =
            keys > 0 ? cf_metrics_sum(reg, "customsflow_dedup_state_bytes", NULL, NULL) / keys : -1;
        cf_buf_free(&scratch);
        cf_batch_destroy(&bt);
        cf_keyroute_free(kr);
        cf_chain_destroy(c);
        return rc;
}

static int cmp_d(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

static int stages(bench *b)
{
        cf_config cfg;
        if (cf_config_load(&cfg, b->o.config, b->err, sizeof(b->err))) return -1;
        double st[MAX_REPEATS][N_TIMED] = {{0}}, sc[MAX_REPEATS][N_TIMED] = {{0}};
        double tot[MAX_REPEATS], ctot[MAX_REPEATS], p50[MAX_REPEATS], p99[MAX_REPEATS], bpk = -1;
        double per_m = (double)b->n / 1e6;
        size_t cap = b->n / EPOCH + 2, nl = 0;
        double *lat = malloc(cap * sizeof(double));
        int rc = 0;
        for (int r = 0; r < b->o.repeats && !rc; r++) {
                char s[64];
                snprintf(s, sizeof(s), "stages in process, run %d/%lld", r + 1, b->o.repeats);
                progress(b, s);
                double t0 = cf_mono_s(), c0 = cpu_s();
                rc = chain_pass(b, &cfg, st[r], sc[r], lat, &nl, &bpk);
                tot[r] = cf_mono_s() - t0;
                ctot[r] = (cpu_s() - c0) / per_m;
                qsort(lat, nl, sizeof(double), cmp_d);
                p50[r] = nl ? 1e3 * lat[nl / 2] : -1;
                p99[r] = nl ? 1e3 * lat[nl * 99 / 100] : -1;
        }
        free(lat);
        cf_config_free(&cfg);
        if (rc) return -1;
        int R = (int)b->o.repeats;
        for (int k = 0; k < N_TIMED; k++) {
                double v[MAX_REPEATS], w[MAX_REPEATS];
                for (int r = 0; r < R; r++)
                        v[r] = st[r][k], w[r] = sc[r][k] / per_m;
                cf_bench_row *x = row(b, "stage", 0, "%s", timed_names[k]);
                rate(b, x, median(v, R));
                x->cpu_s_per_m = median(w, R);
        }
        cf_bench_row *c = row(b, "chain", 0, "%s", "chain in process (no files)");
        rate(b, c, median(tot, R));
        c->p50_ms = median(p50, R);
        c->p99_ms = median(p99, R);
        c->bytes_per_key = bpk;
        c->cpu_s_per_m = median(ctot, R);
        return 0;
}

/* A member of replay's one-line summary ("key": number), -1 when absent. */
static double summary_num(const char *s, const char *key)
{
        const char *p = strstr(s, key);
        return p ? strtod(p + strlen(key), NULL) : -1;
}

/* One `replay --threads t` child with every output; its figures from its summary
 * (elapsed_s: the run without start-up; peak_rss_mb) and wait4 (CPU seconds). */
static int replay_child(bench *b, int t, cf_bench_row *out)
{
        char th[16], in[128], fl[128], stt[128], dlq[128], sum[128];
        snprintf(th, sizeof(th), "%d", t);
        snprintf(in, sizeof(in), "%s", b->data);
        snprintf(fl, sizeof(fl), "%s/flags.jsonl", b->dir);
        snprintf(stt, sizeof(stt), "%s/stats.jsonl", b->dir);
        snprintf(dlq, sizeof(dlq), "%s/dlq.jsonl", b->dir);
        snprintf(sum, sizeof(sum), "%s/summary.json", b->dir);
        char *argv[24] = {"customsflow", "replay", "--no-progress", "--timings", "--in",    in,
                          "--threads",   th,       "--partitions",  "16",        "--flags", fl,
                          "--stats",     stt,      "--dlq",         dlq};
        int a = 16;
        if (b->o.config) argv[a++] = "-c", argv[a++] = (char *)b->o.config;
        argv[a] = NULL;
        pid_t pid = fork();
        if (pid == 0) {
                if (!freopen(sum, "w", stdout)) _exit(127);
                execv("/proc/self/exe", argv);
                _exit(127);
        }
        int status;
        struct rusage ru;
        if (pid < 0 || wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) ||
            WEXITSTATUS(status)) {
                snprintf(b->err, sizeof(b->err), "replay --threads %d failed (see %s)", t, sum);
                return -1;
        }
        cf_buf s = {0};
        if (cf_read_file_capped(sum, 1 << 20, &s, b->err, sizeof(b->err))) return -1;
        cf_buf_putc(&s, '\0');
        double el = summary_num(s.p, "\"elapsed_s\":");
        rate(b, out, el);
        out->p50_ms = summary_num(s.p, "\"p50\":");
        out->p99_ms = summary_num(s.p, "\"p99\":");
        /* the child's own peak (replay --timings: VmHWM); its ru_maxrss would be at least
         * this process's resident set at the fork, which Linux keeps across the exec */
        out->rss_mb = summary_num(s.p, "\"peak_rss_mb\":");
        if (out->rss_mb < 0) out->rss_mb = ru.ru_maxrss / 1024.0;
        double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
                     ru.ru_stime.tv_usec / 1e6;
        out->cpu_s_per_m = cpu / ((double)b->n / 1e6);
        cf_buf_free(&s);
        return 0;
}

/* replay at 1..threads, the thread counts interleaved in each repeat (side by side). */
static int replays(bench *b)
{
        int T = (int)b->o.threads;
        cf_bench_row runs[MAX_REPEATS][16];
        if (T > 16) T = 16;
        for (int r = 0; r < b->o.repeats; r++)
                for (int t = 1; t <= T; t++) {
                        char s[64];
                        snprintf(s, sizeof(s), "replay --threads %d, run %d/%lld", t, r + 1,
                                 b->o.repeats);
                        progress(b, s);
                        runs[r][t - 1] = (cf_bench_row){0};
                        if (replay_child(b, t, &runs[r][t - 1])) return -1;
                }
        int R = (int)b->o.repeats;
        for (int t = 1; t <= T; t++) {
                char name[32];
                snprintf(name, sizeof(name), "%d", t);
                cf_bench_row *o = row(b, "replay", t, "replay --threads %s, all outputs", name);
                double v[5][MAX_REPEATS];
                for (int r = 0; r < R; r++) {
                        const cf_bench_row *x = &runs[r][t - 1];
                        v[0][r] = x->rps, v[1][r] = x->p50_ms, v[2][r] = x->p99_ms;
                        v[3][r] = x->rss_mb, v[4][r] = x->cpu_s_per_m;
                }
                o->rps = median(v[0], R);
                o->mbs = o->rps * ((double)b->m.bytes / (double)b->n) / 1e6;
                o->p50_ms = median(v[1], R), o->p99_ms = median(v[2], R);
                o->rss_mb = median(v[3], R), o->cpu_s_per_m = median(v[4], R);
        }
        return 0;
}

/* --kafka: bench/bench_kafka (the bench build, next to this binary: build/bench/) on
 * librdkafka's mock cluster, kcat's raw consume and the service at 1..--threads
 * workers side by side; its "median of" line gives the rows. */
static int kafka_rows(bench *b)
{
        char exe[4096], cmd[8192];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        if (n <= 0) n = 0;
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) *slash = '\0';
        const char *env = getenv("CUSTOMSFLOW_BENCH_KAFKA");
        char path[4200];
        snprintf(path, sizeof(path), "%s/bench/bench_kafka", exe);
        if (env && *env) snprintf(path, sizeof(path), "%s", env);
        if (access(path, X_OK)) {
                snprintf(b->err, sizeof(b->err),
                         "--kafka: %.800s not found (build with -DCF_BENCH=ON, or set "
                         "CUSTOMSFLOW_BENCH_KAFKA to bench_kafka's path)",
                         path);
                return -1;
        }
        char workers[64] = "1";
        for (int w = 2; w <= b->o.threads && w <= 4; w++)
                snprintf(workers + strlen(workers), sizeof(workers) - strlen(workers), ",%d", w);
        snprintf(cmd, sizeof(cmd), "'%s' --count %llu --runs %lld --workers %s --no-latency%s%s",
                 path, (unsigned long long)b->o.count, b->o.repeats, workers,
                 b->o.config ? " --config " : "", b->o.config ? b->o.config : "");
        progress(b, "kafka path on the mock cluster (bench_kafka)");
        FILE *p = popen(cmd, "r");
        char l[2048], med[2048] = "";
        while (p && fgets(l, sizeof(l), p))
                if (!strncmp(l, "median of", 9)) snprintf(med, sizeof(med), "%s", l);
        if (!p || pclose(p) || !*med) {
                snprintf(b->err, sizeof(b->err), "--kafka: %.900s failed", cmd);
                return -1;
        }
        const char *k = strstr(med, "kcat ");
        cf_bench_row *r = row(b, "kafka", 0, "%s", "kafka raw consume (kcat)");
        r->rps = k ? strtod(k + 5, NULL) : 0;
        for (const char *q = med; (q = strstr(q, "pipeline workers ")); q++) {
                char *e;
                int w = (int)strtol(q + 17, &e, 10);
                char name[16];
                snprintf(name, sizeof(name), "%d", w);
                cf_bench_row *x = row(b, "kafka", w, "kafka service, workers: %s", name);
                x->rps = strtod(e, NULL);
        }
        return 0;
}

static void cleanup(bench *b)
{
        if (b->o.keep) {
                fprintf(stderr, "customsflow bench: data and outputs kept in %s\n", b->dir);
                return;
        }
        static const char *const f[] = {"d.jsonl", "flags.jsonl", "stats.jsonl", "dlq.jsonl",
                                        "summary.json"};
        char p[128];
        for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
                snprintf(p, sizeof(p), "%s/%s", b->dir, f[i]);
                unlink(p);
        }
        rmdir(b->dir);
}

int cf_cmd_bench(int argc, char **argv)
{
        static bench b; /* large: not on the stack */
        memset(&b, 0, sizeof(b));
        int prc = parse_opts(argc, argv, &b.o);
        if (prc) return prc > 0 ? 0 : 2;
        b.m = (cf_bench_meta){.count = b.o.count,
                              .seed = b.o.seed,
                              .threads = (int)b.o.threads,
                              .repeats = (int)b.o.repeats};
        machine(&b.m);
        const char *tmp = getenv("TMPDIR");
        snprintf(b.dir, sizeof(b.dir), "%s/customsflow-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(b.dir)) {
                fprintf(stderr, "customsflow bench: cannot create %s: %s\n", b.dir,
                        strerror(errno));
                return 1;
        }
        snprintf(b.data, sizeof(b.data), "%s/d.jsonl", b.dir);
        int rc = generate(&b) || load(&b);
        if (!rc) progress(&b, "simdjson parse-only (yardstick)");
        rc = rc || yardstick(&b) || stages(&b) || replays(&b);
        if (!rc && b.o.kafka) rc = kafka_rows(&b);
        progress(&b, "");
        if (!rc) cf_bench_print(stdout, &b.m, b.rows, b.n_rows);
        if (!rc && b.o.report &&
            cf_bench_write_report(b.o.report, &b.m, b.rows, b.n_rows, b.err, sizeof(b.err)))
                rc = -1;
        if (rc) fprintf(stderr, "customsflow bench: %s\n", b.err);
        cleanup(&b);
        free(b.buf);
        free(b.ls);
        return rc ? 1 : 0;
}
