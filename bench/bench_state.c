/*
 * bench_state.c - the service with a large partition state (issue 18), on
 * librdkafka's mock cluster in this process, per run:
 *
 *  1. state + maximum rate: N distinct declarations (default 1M, generator
 *     dup-rate 0, all in one event-time day so dedup's window keeps every key)
 *     are preloaded; a service (fresh group) processes them: N keys of
 *     dedup state. Records/s from the first record to the N-th is the
 *     maximum rate.
 *  2. latency at half the maximum rate: new declarations are produced at
 *     rate/2 for --seconds while the same service runs; p50/p99 of
 *     consume -> every output acknowledged (customsflow_batch_seconds, the
 *     service's histogram: interpolated inside its buckets), of its own part,
 *     consume -> every output handed to the producer
 *     (customsflow_batch_processed_seconds; the rest is the broker's ack), and the changelog
 *     bytes per commit (customsflow_checkpoint_bytes_total / commits_total,
 *     deltas over the phase), and where they come from (per stage, deltas and full
 *     snapshots; per detect table, delta bytes and keys).
 *  3. restore: the service stops (final checkpoint) and a new one joins the
 *     same group: time from its first assignment to every partition resumed
 *     with its state (customsflow_partitions_restoring back to 0), and the
 *     changelog bytes/records it read; --restores K: K such restores of the
 *     same changelog in turn (none processes anything, so none writes), their
 *     median.
 *  4. after the (last) restore, new declarations at the phase 2 rate for
 *     --after seconds, then the restored instance's first commit: its
 *     changelog bytes per commit and the batches' p99 (a restore used to be
 *     followed by every partition's full snapshot at once).
 *
 * usage: bench_state --help (the options: the table before main)
 * --rate: phase 2 at R records/s instead of half the measured maximum (the same load for two
 * builds whose phase 1 differs: before restores went together, a fresh group's 256 empty
 * partitions took 26 s to resume, and the "maximum rate" measured mostly that).
 * Env CUSTOMSFLOW_* overrides apply to the service as in `customsflow run`.
 */
#include <stdbool.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "bench/bench_kafka_util.h"
#include "bench/bench_util.h"
#include "bench/gen/gen.h"
#include "pipeline/core/clock.h"
#include "pipeline/core/config.h"
#include "pipeline/core/opts.h"
#include "pipeline/kafka/service.h"

#define DIE(...) CF_BENCH_DIE("bench_state", __VA_ARGS__)

static const char *bootstrap;

/* --linger: the paced producer's linger.ms. The mock broker stores each produce request's
 * records of a partition as one message set, answers a fetch with at most one message set per
 * partition and finds it by walking the partition's list from its start (librdkafka 2.0.2,
 * rdkafka_mock.c: "FIXME: Maintain an index"): at 5 ms and 20,000 records/s over 256
 * partitions a set holds ~1 record, and in phase 2 35-50 % of this process's CPU samples were
 * that walk, on the cores the service runs on. A real broker does neither. */
static const char *linger_ms = "5";

static void on_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
        (void)rk;
        if (!m->err) cf_bench_acks_add(opaque, m);
}

/* Produce count generated declarations (seed) to the input, at rate records/s (0: at once),
 * round robin over spread partitions. Paced, prints its own acks (the broker's part). */
static void produce(uint64_t seed, uint64_t count, double rate, int32_t spread)
{
        char err[512];
        cf_bench_acks acks = {0};
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_conf_set(c, "bootstrap.servers", bootstrap, NULL, 0);
        if (rate > 0) { /* a preload's acks are not looked at */
                rd_kafka_conf_set_dr_msg_cb(c, on_dr);
                rd_kafka_conf_set_opaque(c, &acks);
        }
        if (rd_kafka_conf_set(c, "linger.ms", rate > 0 ? linger_ms : "50", err, sizeof err))
                DIE("--linger: %s", err);
        rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
        if (!p) DIE("%s", err);
        cf_gen_opts go;
        cf_gen_opts_default(&go);
        go.seed = seed;
        go.count = count;
        go.dup_rate = 0;
        go.bad_rate = 0;
        go.per_day = 10e6; /* every key inside dedup's window */
        cf_gen *g = cf_gen_new(&go, err, sizeof err);
        if (!g) DIE("%s", err);
        /* round robin: keyed by exporter (or unkeyed, sticky), the largest partitions passed
         * the mock cluster's 5 MB per partition (it drops the oldest records) at 1M */
        if (cf_bench_gen_produce(p, "customs.declarations", g, rate, spread))
                DIE("flush timed out");
        cf_gen_free(g);
        rd_kafka_destroy(p);
        if (rate > 0) {
                char pre[64];
                snprintf(pre, sizeof pre, "  %" PRIu64 " records at %.0f/s: ", count, rate);
                cf_bench_acks_print(stdout, pre, &acks);
        }
}

/* Sum of the samples of series prefix ("name" or "name{labels") in the service's /metrics. */
static double metric(cf_service *s, const char *prefix)
{
        cf_buf b = {0};
        cf_service_metrics(s, &b);
        cf_buf_put(&b, "", 1);
        double sum = 0;
        size_t n = strlen(prefix);
        bool in_labels = strchr(prefix, '{') != NULL;
        for (const char *l = b.p; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
                if (strncmp(l, prefix, n) || (!in_labels && l[n] != ' ' && l[n] != '{')) continue;
                const char *v = strchr(l, ' ');
                if (v) sum += strtod(v + 1, NULL);
        }
        cf_buf_free(&b);
        return sum;
}

/* The value of series (its whole name with labels) in a /metrics text, 0 when absent. */
static double sample_in(const char *text, const char *series, size_t n)
{
        for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
                if (!strncmp(l, series, n) && l[n] == ' ') return strtod(l + n + 1, NULL);
        return 0;
}

/* Where phase 2's changelog bytes come from: per commit, each stage's bytes in deltas and
 * full snapshots (customsflow_state_bytes_total) and each detect table's delta bytes and keys
 * (customsflow_detect_delta_*), from two /metrics texts (before, after: NUL-terminated). */
static void breakdown(const char *before, const char *after, double commits, int r)
{
        static const char *const fams[] = {"customsflow_state_bytes_total{",
                                           "customsflow_detect_delta_bytes_total{",
                                           "customsflow_detect_delta_keys_total{"};
        for (int f = 0; f < 3; f++)
                for (const char *l = after; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
                        if (strncmp(l, fams[f], strlen(fams[f]))) continue;
                        const char *sp = strchr(l, ' ');
                        if (!sp) continue;
                        size_t n = (size_t)(sp - l);
                        double d = strtod(sp + 1, NULL) - sample_in(before, l, n);
                        printf("run %d: phase 2 per commit: %.*s %.0f\n", r + 1, (int)n, l,
                               commits > 0 ? d / commits : d);
                }
        fflush(stdout);
}

#define N_LE 12
static const char *const le[N_LE] = {"0.001", "0.002", "0.005", "0.01", "0.025", "0.05",
                                     "0.1",   "0.25",  "0.5",   "1",    "2.5",   "5"};

/* Cumulative bucket counts of histogram name (the last: +Inf): customsflow_batch_seconds
 * (consume -> every output acknowledged) or customsflow_batch_processed_seconds (consume ->
 * every output handed to the producer: the service's own part). */
static void buckets(cf_service *s, const char *name, double *out)
{
        char series[128];
        for (int i = 0; i < N_LE; i++) {
                snprintf(series, sizeof series, "%s_bucket{le=\"%s\"", name, le[i]);
                out[i] = metric(s, series);
        }
        snprintf(series, sizeof series, "%s_count", name);
        out[N_LE] = metric(s, series);
}

/* Both latency histograms at one moment: consume -> acked and the service's own part. */
typedef struct lat_snap {
        double acked[N_LE + 1], produced[N_LE + 1];
} lat_snap;

static void snap(cf_service *s, lat_snap *l)
{
        buckets(s, "customsflow_batch_seconds", l->acked);
        buckets(s, "customsflow_batch_processed_seconds", l->produced);
}

/* Quantile q (ms) of the observations between two bucket snapshots, linear inside a bucket. */
static double quantile(const double *a, const double *b, double q)
{
        double total = b[N_LE] - a[N_LE], want = q * total, lo = 0, below = 0;
        if (total <= 0) return -1;
        for (int i = 0; i < N_LE; i++) {
                double hi = strtod(le[i], NULL), in = b[i] - a[i];
                if (in >= want) return 1000 * (lo + (hi - lo) * (want - below) / (in - below));
                below = in;
                lo = hi;
        }
        return 1000 * strtod(le[N_LE - 1], NULL); /* above the last bound: at least it */
}

static cf_service *service(cf_config *cfg, const char *group)
{
        char err[1024];
        setenv("CUSTOMSFLOW_PIPELINE_GROUP_ID", group, 1);
        cf_service *s = cf_service_new(cfg, bootstrap, err, sizeof err);
        if (!s) DIE("%s", err);
        if (cf_service_start(s, err, sizeof err)) DIE("%s", err);
        return s;
}

static void wait_in(cf_service *s, uint64_t n, double timeout_s)
{
        uint64_t in = 0;
        int64_t first;
        double t0 = cf_mono_s();
        while (cf_service_progress(s, &in, &first), in < n) {
                if (cf_service_failed(s) || cf_mono_s() - t0 > timeout_s)
                        DIE("%" PRIu64 " of %" PRIu64 " records processed", in, n);
                usleep(1000);
        }
}

typedef struct figs {
        double max_rate, keys, p50, p99, bytes_per_commit, restore_s, restore_mb;
        double after_bytes, after_p99; /* the restored instance's first commit(s) */
        double restore_cpu;            /* the process's CPU time in the restore */
} figs;

/* A fresh mock cluster (one broker) with the service's topics. */
static rd_kafka_mock_cluster_t *cluster(rd_kafka_t **mrk, int partitions)
{
        char err[512];
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_conf_set(c, "log_level", "2", NULL, 0);
        *mrk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
        if (!*mrk) DIE("%s", err);
        rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(*mrk, 1);
        if (!mc) DIE("no mock cluster");
        const char *outs[] = {"customs.flags", "customs.stats", "customs.dlq",
                              "customsflow.baselines", "customsflow.certificates"};
        for (int i = 0; i < 5; i++)
                if (rd_kafka_mock_topic_create(mc, outs[i], 4, 1)) DIE("topic %s", outs[i]);
        if (rd_kafka_mock_topic_create(mc, "customs.declarations", partitions, 1) ||
            rd_kafka_mock_topic_create(mc, "customsflow.changelog", partitions, 1))
                DIE("topics");
        if (cf_bench_mock_nodelay(mc, err, sizeof err)) DIE("mock: %s", err);
        bootstrap = rd_kafka_mock_cluster_bootstraps(mc);
        return mc;
}

static double fixed_rate; /* --rate, 0: half the maximum */

static int n_restores = 1; /* --restores */
static double after_s = 1; /* --after */

/* CPU seconds of this process (every thread) so far: less sensitive than the wall clock to
 * what else runs on the machine. */
static double process_cpu_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Memory faulted in so far, machine-wide, in MB, and the huge pages among it (*huge): from
 * /proc/vmstat, huge-page faults (2 MiB each) and small ones. On a VM the first touch of a
 * page can cost more than the work done on it (bench/RESULTS.md § "A restore's time is its
 * memory's first touch"). */
static double faulted_mb(double *huge)
{
        FILE *f = fopen("/proc/vmstat", "r");
        char n[64];
        double x, small = 0;
        *huge = 0;
        while (f && fscanf(f, "%63s %lf", n, &x) == 2) {
                if (!strcmp(n, "thp_fault_alloc")) *huge = x;
                if (!strcmp(n, "pgfault")) small = x;
        }
        if (f) fclose(f);
        return *huge * 2.097152 + small * (double)sysconf(_SC_PAGESIZE) / 1e6;
}

/* A new instance of group restores; *secs from its first assignment to every partition resumed
 * with its state, *cpu the process's CPU time in it, *mb the changelog read. Returns it
 * running. */
static cf_service *restore(cf_config *cfg, const char *group, int r, double *secs, double *cpu,
                           double *mb)
{
        double t0 = cf_mono_s(), cpu0 = 0;
        cf_service *s = service(cfg, group);
        double t_assigned = 0, rss0 = 0, flt0 = 0, huge0 = 0, huge1;
        /* polled without /metrics: rendering it twice every 5 ms took ~0.4 s of CPU from the
         * restore measured (2 cores); a worker counts its partitions as restoring before it
         * counts itself assigned */
        for (;;) {
                if (!t_assigned && cf_service_assigned_workers(s) > 0) {
                        t_assigned = cf_mono_s(), cpu0 = process_cpu_s();
                        rss0 = cf_bench_rss_bytes() / 1e6, flt0 = faulted_mb(&huge0);
                }
                if (t_assigned && !cf_service_restoring(s)) break;
                if (cf_mono_s() - t0 > 600 || cf_service_failed(s)) DIE("restore not done");
                usleep(1000);
        }
        *secs = cf_mono_s() - t_assigned;
        *cpu = process_cpu_s() - cpu0;
        double flt = faulted_mb(&huge1) - flt0, rss = cf_bench_rss_bytes() / 1e6 - rss0;
        struct timespec rt;
        clock_gettime(CLOCK_REALTIME, &rt);
        double now = (double)rt.tv_sec + (double)rt.tv_nsec / 1e9;
        if (metric(s, "customsflow_restores_total") < 1) DIE("no partition restored");
        *mb = metric(s, "customsflow_restore_bytes_total") / 1e6;
        printf("run %d: restore: %.3f s from assignment to every partition resumed, %.3f s of CPU "
               "(the process: worker, mock broker, clients; %.1f MB, %.0f changelog records read; "
               "%.1f s from start)\n",
               r + 1, *secs, *cpu, *mb, metric(s, "customsflow_restore_records_total"),
               cf_mono_s() - t0);
        printf("run %d: restore memory: resident +%.0f MB, %.0f MB faulted in (machine-wide, %.0f "
               "huge pages); window for `perf record -k CLOCK_REALTIME` + `perf report --time`: "
               "%.3f,%.3f\n",
               r + 1, rss, flt, huge1 - huge0, now - *secs, now);
        fflush(stdout);
        return s;
}

/* After a restore: new records at rate for after_s, then its first commit (the changelog bytes
 * of its checkpoints: before, every partition's full snapshot) and the batches' p99. */
static void after(cf_service *s, figs *f, double rate, int partitions, int r)
{
        lat_snap l0, l1;
        snap(s, &l0);
        uint64_t n = (uint64_t)(rate * after_s);
        produce(3000 + (uint64_t)r, n, rate, partitions);
        wait_in(s, n, 120);
        double t0 = cf_mono_s();
        while (metric(s, "customsflow_commits_total") < 1) {
                if (cf_mono_s() - t0 > 60 || cf_service_failed(s)) DIE("no commit");
                usleep(50 * 1000);
        }
        snap(s, &l1);
        double commits = metric(s, "customsflow_commits_total");
        f->after_bytes = metric(s, "customsflow_checkpoint_bytes_total") / commits;
        f->after_p99 = quantile(l0.acked, l1.acked, 0.99);
        printf("run %d: after the restore, %" PRIu64 " records at %.0f/s: %.0f commit(s), %.0f "
               "changelog bytes per commit, consume->acked p99 %.1f ms, consume->produced p99 "
               "%.1f ms\n",
               r + 1, n, rate, commits, f->after_bytes, f->after_p99,
               quantile(l0.produced, l1.produced, 0.99));
        fflush(stdout);
}

static figs run(cf_config *cfg, uint64_t count, int partitions, double seconds, int r)
{
        figs f = {0};
        rd_kafka_t *mrk;
        rd_kafka_mock_cluster_t *mc = cluster(&mrk, partitions);
        const char *group = "bench-state";
        /* 1. state and maximum rate */
        double t0 = cf_mono_s();
        produce(1000 + (uint64_t)r, count, 0, partitions);
        char err[512];
        int64_t largest;
        if (cf_bench_kept(bootstrap, "customs.declarations", partitions, count, &largest, err,
                          sizeof err))
                DIE("%s", err);
        fprintf(stderr, "run %d: preloaded %" PRIu64 " records in %.1f s\n", r + 1, count,
                cf_mono_s() - t0);
        cf_service *s = service(cfg, group);
        uint64_t in = 0;
        int64_t first = 0;
        while (cf_service_progress(s, &in, &first), !first)
                usleep(1000);
        double t_first = cf_mono_s();
        wait_in(s, count, 600);
        f.max_rate = (double)count / (cf_mono_s() - t_first);
        usleep(1500 * 1000); /* stage gauges refresh about once a second */
        f.keys = metric(s, "customsflow_dedup_entries");
        /* 2. half the maximum rate */
        lat_snap l0, l1;
        snap(s, &l0);
        double c0 = metric(s, "customsflow_commits_total");
        double k0 = metric(s, "customsflow_checkpoint_bytes_total");
        cf_buf m0 = {0}, m1 = {0};
        cf_service_metrics(s, &m0);
        cf_buf_put(&m0, "", 1);
        double rate = fixed_rate > 0 ? fixed_rate : f.max_rate / 2;
        uint64_t more = (uint64_t)(rate * seconds);
        produce(2000 + (uint64_t)r, more, rate, partitions);
        wait_in(s, count + more, 120);
        snap(s, &l1);
        double c1 = metric(s, "customsflow_commits_total");
        double k1 = metric(s, "customsflow_checkpoint_bytes_total");
        f.p50 = quantile(l0.acked, l1.acked, 0.50);
        f.p99 = quantile(l0.acked, l1.acked, 0.99);
        f.bytes_per_commit = c1 > c0 ? (k1 - k0) / (c1 - c0) : -1;
        cf_service_metrics(s, &m1);
        cf_buf_put(&m1, "", 1);
        breakdown(m0.p, m1.p, c1 - c0, r);
        cf_buf_free(&m0);
        cf_buf_free(&m1);
        printf("run %d: %.0f keys (dedup entries); max rate %.0f records/s; at %.0f/s for %.0f s: "
               "consume->acked p50 %.1f ms p99 %.1f ms (%.0f batches), consume->produced p50 "
               "%.1f ms p99 %.1f ms; %.0f commits, %.0f changelog bytes per commit\n",
               r + 1, f.keys, f.max_rate, rate, seconds, f.p50, f.p99,
               l1.acked[N_LE] - l0.acked[N_LE], quantile(l0.produced, l1.produced, 0.50),
               quantile(l0.produced, l1.produced, 0.99), c1 - c0, f.bytes_per_commit);
        cf_service_stop(s);
        if (cf_service_wait(s)) DIE("service stopped with an error");
        cf_service_destroy(s);
        /* 3. restore in a new instance of the group, n_restores times (a restore that
         * processes nothing writes no checkpoint: each reads the same changelog) */
        double rs[16], cpu[16];
        for (int i = 0; i < n_restores; i++) {
                bool last = i == n_restores - 1;
                s = restore(cfg, group, r, &rs[i], &cpu[i], &f.restore_mb);
                if (last && after_s > 0) after(s, &f, rate, partitions, r);
                cf_service_stop(s);
                if (cf_service_wait(s)) DIE("service stopped with an error");
                cf_service_destroy(s);
        }
        f.restore_s = cf_bench_median(rs, n_restores);
        f.restore_cpu = cf_bench_median(cpu, n_restores);
        rd_kafka_mock_cluster_destroy(mc);
        rd_kafka_destroy(mrk);
        return f;
}

typedef struct opts {
        uint64_t count;
        int partitions, runs, restores;
        double seconds, rate, after;
        const char *config, *workers, *linger;
} opts;

static const cf_opt rows[] = {
    CF_OPT_ROW_U64("count", opts, count, 1, 0, "N",
                   "distinct declarations preloaded: keys of dedup state (default 1000000)"),
    CF_OPT_ROW_INT("partitions", opts, partitions, 1, 1024, "P", "input partitions (default 256)"),
    CF_OPT_ROW_INT("runs", opts, runs, 1, 15, "R", "runs (default 3)"),
    CF_OPT_ROW_DOUBLE("seconds", opts, seconds, 0.1, 3600, "S",
                      "latency phase at half the maximum rate (default 20)"),
    CF_OPT_ROW_DOUBLE("rate", opts, rate, 0, 1e7, "R",
                      "phase 2 at R records/s (default 0: half the maximum rate measured)"),
    CF_OPT_ROW_INT("restores", opts, restores, 1, 16, "K",
                   "restores per run of the same changelog, their median (default 1)"),
    CF_OPT_ROW_DOUBLE("after", opts, after, 0, 600, "S",
                      "records at the phase 2 rate for S s after the last restore, then its "
                      "first commit's changelog bytes (default 1; 0: none)"),
    CF_OPT_ROW_STR("workers", 0, opts, workers, "W",
                   "the service's workers (CUSTOMSFLOW_WORKERS; default 1)"),
    CF_OPT_ROW_STR("linger", 0, opts, linger, "MS",
                   "linger.ms of the paced producers (phase 2, after the restore; default 5)"),
    CF_OPT_ROW_STR("config", 0, opts, config, "FILE",
                   "config (default the bundled deploy/examples/customsflow.yaml)"),
    {0},
};

static const cf_opts_spec spec = {
    .prog = "bench_state",
    .about = "The service with a large partition state on librdkafka's mock cluster:\n"
             "maximum rate, latency at half of it, restore time (see the top of\n"
             "bench/bench_state.c). Env CUSTOMSFLOW_* overrides apply to the service.\n",
    .opts = rows,
};

int main(int argc, char **argv)
{
        opts o = {.count = 1000000,
                  .partitions = 256,
                  .runs = 3,
                  .seconds = 20,
                  .restores = 1,
                  .after = 1,
                  .config = CF_DATADIR "/customsflow.yaml",
                  .workers = "1",
                  .linger = "5"};
        int prc = cf_opts_main(&spec, argc, argv, &o, NULL);
        if (prc) return prc > 0 ? 0 : 2;
        uint64_t count = o.count;
        int partitions = o.partitions, runs = o.runs;
        double seconds = o.seconds;
        const char *config = o.config, *workers = o.workers;
        fixed_rate = o.rate;
        n_restores = o.restores;
        after_s = o.after;
        linger_ms = o.linger;
        setenv("CUSTOMSFLOW_WORKERS", workers, 1);
        char err[1024];
        cf_config cfg;
        if (cf_bench_service_config(&cfg, config, err, sizeof err)) DIE("%s", err);
        printf("bench_state: a mock cluster per run (1 broker, in this process), %" PRIu64
               " keys, %d partitions, workers %s, config %s\n",
               count, partitions, workers, config);
        double v[10][16];
        for (int r = 0; r < runs; r++) {
                figs f = run(&cfg, count, partitions, seconds, r);
                double x[10] = {f.max_rate,         f.keys,      f.p50,         f.p99,
                                f.bytes_per_commit, f.restore_s, f.restore_cpu, f.restore_mb,
                                f.after_bytes,      f.after_p99};
                for (int i = 0; i < 10; i++)
                        v[i][r] = x[i];
        }
        printf("median of %d: max rate %.0f records/s; keys %.0f; in phase 2 p50 %.1f ms p99 "
               "%.1f ms; %.0f changelog bytes per commit; restore %.3f s, %.3f s CPU (%.1f MB); "
               "after it %.0f bytes per commit, p99 %.1f ms\n",
               runs, cf_bench_median(v[0], runs), cf_bench_median(v[1], runs),
               cf_bench_median(v[2], runs), cf_bench_median(v[3], runs),
               cf_bench_median(v[4], runs), cf_bench_median(v[5], runs),
               cf_bench_median(v[6], runs), cf_bench_median(v[7], runs),
               cf_bench_median(v[8], runs), cf_bench_median(v[9], runs));
        cf_config_free(&cfg);
        return 0;
}
