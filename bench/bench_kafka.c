/*
 * bench_kafka.c - the Kafka path, side by side in one run on one broker
 * (librdkafka's mock cluster, in this process, on 127.0.0.1):
 *
 *  1. throughput: N generated records are preloaded into the input topic;
 *     then, per repetition, `kcat -C -e` reads all of them (raw consume,
 *     output to a pipe this process drains and counts) and the service
 *     (cf_service, fresh consumer group, workers 1 and 2) processes all of
 *     them. Both are timed from their first record to their N-th: the group
 *     join / kcat's connect are reported apart, not counted.
 *  2. latency: with the service running on fresh topics, records are produced
 *     at a fixed rate; for every output (dead letters always, flags once the
 *     detect stage flags anything) the time from the input's produce
 *     timestamp to the output reaching a consumer is recorded: p50/p99.
 *
 * --serve runs only the preloaded cluster, for a `customsflow run` in another
 * process (bench/kafka_cpu.sh: the service's own CPU per record).
 *
 * usage: bench_kafka --help (the options: the table before main)
 * Env CUSTOMSFLOW_* overrides apply to the service as in `customsflow run`.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "bench/bench_cpu.h"
#include "bench/bench_kafka_util.h"
#include "bench/bench_util.h"
#include "bench/gen/gen.h"
#include "pipeline/core/clock.h"
#include "pipeline/core/config.h"
#include "pipeline/core/opts.h"
#include "pipeline/kafka/service.h"

#define DIE(...) CF_BENCH_DIE("bench_kafka", __VA_ARGS__)

#define TOPIC_IN  "customs.declarations"
#define WARMUP_MS 2000 /* latency: inputs produced before this are reported apart */

/* --workers 1,2 and --rates 5000,20000: up to 4 values */
typedef struct list4 {
        double v[4];
        int n;
} list4;

typedef struct opts {
        uint64_t count;
        int partitions, runs;
        list4 workers, rates;
        double lat_seconds, per_day, serve_rate;
        int latency, throughput, lat_runs, serve;
        const char *config;
} opts;

/* generator density (declarations per day of event time; 0: its default) */
static double per_day;

static rd_kafka_t *mrk;
static rd_kafka_mock_cluster_t *mc;
static const char *bootstrap;

/* "a,b,c": up to 4 numbers in [lo, hi] */
static int parse_list(const char *s, list4 *l, double lo, double hi)
{
        l->n = 0;
        for (char *end; *s; s = *end ? end + 1 : end) {
                if (l->n == 4) return -1;
                double x = strtod(s, &end);
                if (end == s || (*end && *end != ',') || !(x >= lo && x <= hi)) return -1;
                l->v[l->n++] = x;
        }
        return l->n ? 0 : -1;
}

static int parse_workers(const char *s, void *dst)
{
        list4 *l = dst;
        if (parse_list(s, l, 1, 64)) return -1;
        for (int i = 0; i < l->n; i++) /* whole numbers */
                if (l->v[i] != (int)l->v[i]) return -1;
        return 0;
}

static int parse_rates(const char *s, void *dst)
{
        return parse_list(s, dst, 1, 1e9);
}

static void start_cluster(const opts *o)
{
        char err[512];
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_conf_set(c, "log_level", "2", NULL, 0);
        mrk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
        if (!mrk) DIE("%s", err);
        mc = rd_kafka_mock_cluster_new(mrk, 1);
        if (!mc) DIE("no mock cluster");
        /* outputs of the throughput runs (1% bad input goes to the DLQ) */
        const char *t1[] = {"customs.flags", "customs.stats", "customs.dlq",
                            "customsflow.baselines", "customsflow.certificates"};
        for (int i = 0; i < 5; i++)
                if (rd_kafka_mock_topic_create(mc, t1[i], 4, 1)) DIE("topic %s", t1[i]);
        if (rd_kafka_mock_topic_create(mc, TOPIC_IN, o->partitions, 1) ||
            rd_kafka_mock_topic_create(mc, "customsflow.changelog", o->partitions, 1))
                DIE("topics");
        if (cf_bench_mock_nodelay(mc, err, sizeof err)) DIE("mock: %s", err);
        bootstrap = rd_kafka_mock_cluster_bootstraps(mc);
}

/* ---- producing generated records ---- */

typedef struct sent {
        int32_t partition;
        int64_t offset, ts_ms;
} sent;

typedef struct prod_ctx {
        sent *v;
        size_t n, cap;
        uint64_t failed;
        cf_bench_acks acks; /* produce -> delivery report */
} prod_ctx;

static void on_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
        prod_ctx *p = opaque;
        (void)rk;
        if (m->err) {
                p->failed++;
                return;
        }
        if (p->n == p->cap) {
                p->cap = p->cap ? p->cap * 2 : 65536;
                p->v = realloc(p->v, p->cap * sizeof *p->v);
        }
        p->v[p->n++] = (sent){m->partition, m->offset, (int64_t)(intptr_t)m->_private};
        cf_bench_acks_add(&p->acks, m);
}

/* Produce count generated records to topic, at rate records/s (0: as fast as
 * possible); delivery reports (partition, offset, timestamp) go to ctx. */
static void produce(const char *topic, uint64_t seed, uint64_t count, double rate, double bad,
                    prod_ctx *ctx)
{
        char err[512];
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_conf_set(c, "bootstrap.servers", bootstrap, NULL, 0);
        rd_kafka_conf_set(c, "linger.ms", rate > 0 ? "5" : "20", NULL, 0);
        rd_kafka_conf_set_dr_msg_cb(c, on_dr);
        rd_kafka_conf_set_opaque(c, ctx);
        rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
        if (!p) DIE("%s", err);
        cf_gen_opts go;
        cf_gen_opts_default(&go);
        go.seed = seed;
        go.count = count;
        if (per_day > 0) go.per_day = per_day;
        if (bad >= 0) go.bad_rate = bad;
        cf_gen *g = cf_gen_new(&go, err, sizeof err);
        if (!g) DIE("%s", err);
        /* the produce timestamp is the message's CreateTime, and comes back
         * with the delivery report (partition, offset) */
        if (cf_bench_gen_produce(p, topic, g, rate, 0)) DIE("flush timed out");
        if (ctx->failed) DIE("%" PRIu64 " records not delivered", ctx->failed);
        cf_gen_free(g);
        rd_kafka_destroy(p);
}

/* The mock cluster drops a partition's oldest message sets beyond a few MB:
 * every partition must still start at offset 0 and hold everything sent. */
static void check_kept(const char *topic, int partitions, uint64_t expect, double *bytes)
{
        char err[512];
        int64_t maxp;
        if (cf_bench_kept(bootstrap, topic, partitions, expect, &maxp, err, sizeof err))
                DIE("%s", err);
        uint64_t total = expect;
        fprintf(stderr,
                "preloaded %" PRIu64 " records in %d partitions (largest %" PRId64
                "), %.0f bytes/record; watermarks checked: nothing truncated\n",
                total, partitions, maxp, *bytes / (double)total);
}

/* ---- kcat ---- */

typedef struct run_fig {
        double cpu;     /* the service's CPU seconds per 1M records (pipeline runs) */
        double rate;    /* records/s, first to last record */
        double startup; /* s, start to first record */
        double total;   /* s, start to last record */
} run_fig;

/* Run kcat over the whole input topic; its output (one line per record) is
 * drained here and counted, so the run also proves nothing was lost. */
static run_fig run_kcat(uint64_t count)
{
        int fd[2];
        if (pipe(fd)) DIE("pipe: %s", strerror(errno));
        double t_start = cf_mono_s();
        pid_t pid = fork();
        if (pid < 0) DIE("fork: %s", strerror(errno));
        if (pid == 0) {
                dup2(fd[1], 1);
                close(fd[0]);
                close(fd[1]);
                execlp("kcat", "kcat", "-b", bootstrap, "-C", "-t", TOPIC_IN, "-o", "beginning",
                       "-e", "-q", "-f", "%s\n", (char *)NULL);
                _exit(127);
        }
        close(fd[1]);
        static char buf[1 << 16];
        uint64_t lines = 0;
        double t_first = 0, t_last = 0;
        for (;;) {
                ssize_t n = read(fd[0], buf, sizeof buf);
                if (n < 0 && errno == EINTR) continue;
                if (n <= 0) break;
                if (!t_first) t_first = cf_mono_s();
                for (char *p = buf, *e = buf + n; (p = memchr(p, '\n', (size_t)(e - p))); p++)
                        lines++;
                if (lines >= count && !t_last) t_last = cf_mono_s();
        }
        close(fd[0]);
        int st;
        waitpid(pid, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st)) DIE("kcat failed (status %d)", st);
        if (lines != count) DIE("kcat read %" PRIu64 " of %" PRIu64 " records", lines, count);
        return (run_fig){0, (double)count / (t_last - t_first), t_first - t_start,
                         t_last - t_start};
}

/* ---- the service ---- */

static cf_service *service(cf_config *cfg, const char *group, int workers)
{
        char err[1024], w[16];
        snprintf(w, sizeof w, "%d", workers);
        setenv("CUSTOMSFLOW_PIPELINE_GROUP_ID", group, 1);
        setenv("CUSTOMSFLOW_WORKERS", w, 1);
        cf_service *s = cf_service_new(cfg, bootstrap, err, sizeof err);
        if (!s) DIE("%s", err);
        if (cf_service_start(s, err, sizeof err)) DIE("%s", err);
        return s;
}

static void service_end(cf_service *s)
{
        cf_service_stop(s);
        if (cf_service_wait(s)) DIE("service stopped with an error");
        cf_service_destroy(s);
}

static run_fig run_pipeline(cf_config *cfg, uint64_t count, int workers, int run)
{
        char group[96];
        snprintf(group, sizeof group, "bench-%d-r%d-w%d", (int)getpid(), run, workers);
        cf_bench_cpu_mark cm;
        cf_bench_cpu_mark_set(&cm);
        double t_start = cf_mono_s();
        int64_t start_ms = cf_now_ms();
        cf_service *s = service(cfg, group, workers);
        uint64_t in = 0;
        int64_t first_ms = 0;
        /* BENCH_KAFKA_TRACE=1: progress every 100 ms, to see stalls */
        bool trace = getenv("BENCH_KAFKA_TRACE") != NULL;
        double t_trace = 0;
        for (;;) {
                cf_service_progress(s, &in, &first_ms);
                if (trace && first_ms && cf_mono_s() - t_trace >= 0.1) {
                        t_trace = cf_mono_s();
                        fprintf(stderr, "  %.2f s: %" PRIu64 "\n", t_trace - t_start, in);
                }
                if (in >= count) break;
                if (cf_mono_s() - t_start > 300 || cf_service_failed(s))
                        DIE("pipeline: %" PRIu64 " of %" PRIu64 " records", in, count);
                usleep(500);
        }
        double t_last = cf_mono_s();
        /* first_ms is when the first batch was received (wall clock) */
        double startup = (double)(first_ms - start_ms) / 1000.0;
        service_end(s); /* every output acknowledged, offsets committed */
        double cpu = cf_bench_cpu_since(&cm) * 1e6 / (double)count;
        if (in != count) DIE("pipeline counted %" PRIu64 " of %" PRIu64, in, count);
        double busy = (t_last - t_start) - startup;
        return (run_fig){cpu, (double)count / busy, startup, t_last - t_start};
}

/* ---- latency ---- */

typedef struct seen {
        int32_t src_partition;
        int64_t src_offset, recv_ms, out_ts_ms;
        char kind; /* 'd' dead letter, 'f' flag */
} seen;

typedef struct observer {
        const char *dlq, *flags;
        atomic_bool stop;
        pthread_mutex_t mtx;
        seen *v;
        size_t n, cap;
} observer;

static int64_t header_num(const rd_kafka_message_t *m, const char *name)
{
        rd_kafka_headers_t *h = NULL;
        const void *v;
        size_t len;
        char tmp[32];
        if (rd_kafka_message_headers(m, &h) || rd_kafka_header_get_last(h, name, &v, &len) ||
            len >= sizeof tmp)
                return -1;
        memcpy(tmp, v, len);
        tmp[len] = '\0';
        return strtoll(tmp, NULL, 10);
}

/* A flag message's "source":{"topic":..,"partition":P,"offset":O} (DESIGN §3). */
static bool flag_source(const rd_kafka_message_t *m, int32_t *p, int64_t *o)
{
        char *v = strndup(m->payload, m->len);
        char *s = strstr(v, "\"source\":");
        char *pp = s ? strstr(s, "\"partition\":") : NULL;
        char *po = s ? strstr(s, "\"offset\":") : NULL;
        bool ok = pp && po;
        if (ok) {
                *p = (int32_t)strtol(pp + 12, NULL, 10);
                *o = strtoll(po + 9, NULL, 10);
        }
        free(v);
        return ok;
}

/* Reads the output topics from the beginning as they fill (a consumer like any
 * downstream one, short fetch wait so it adds little of its own). */
static void *observe_main(void *arg)
{
        observer *ob = arg;
        char err[512];
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_conf_set(c, "bootstrap.servers", bootstrap, NULL, 0);
        rd_kafka_conf_set(c, "group.id", "bench-observer", NULL, 0);
        rd_kafka_conf_set(c, "fetch.wait.max.ms", "5", NULL, 0);
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
        if (!rk) DIE("%s", err);
        rd_kafka_poll_set_consumer(rk);
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
        for (int p = 0; p < 4; p++) {
                rd_kafka_topic_partition_list_add(l, ob->dlq, p)->offset =
                    RD_KAFKA_OFFSET_BEGINNING;
                rd_kafka_topic_partition_list_add(l, ob->flags, p)->offset =
                    RD_KAFKA_OFFSET_BEGINNING;
        }
        rd_kafka_assign(rk, l);
        rd_kafka_topic_partition_list_destroy(l);
        while (!atomic_load(&ob->stop)) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 50);
                if (!m) continue;
                int64_t recv = cf_now_ms();
                seen s = {.recv_ms = recv,
                          .out_ts_ms = rd_kafka_message_timestamp(m, NULL),
                          .src_partition = -1};
                if (!m->err && !strcmp(rd_kafka_topic_name(m->rkt), ob->dlq)) {
                        s.kind = 'd';
                        s.src_partition = (int32_t)header_num(m, "source.partition");
                        s.src_offset = header_num(m, "source.offset");
                } else if (!m->err && flag_source(m, &s.src_partition, &s.src_offset)) {
                        s.kind = 'f';
                }
                rd_kafka_message_destroy(m);
                if (s.src_partition < 0) continue;
                pthread_mutex_lock(&ob->mtx);
                if (ob->n == ob->cap) {
                        ob->cap = ob->cap ? ob->cap * 2 : 4096;
                        ob->v = realloc(ob->v, ob->cap * sizeof *ob->v);
                }
                ob->v[ob->n++] = s;
                pthread_mutex_unlock(&ob->mtx);
        }
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        return NULL;
}

static size_t observed(observer *ob, char kind)
{
        size_t n = 0;
        pthread_mutex_lock(&ob->mtx);
        for (size_t i = 0; i < ob->n; i++)
                n += ob->v[i].kind == kind;
        pthread_mutex_unlock(&ob->mtx);
        return n;
}

/* Print p50/p99/max of v; p50 and p99 also go to out (when not NULL). */
static void percentiles(const char *what, double *v, size_t n, double *out)
{
        if (!n) {
                printf("  %-28s n 0 (nothing to measure)\n", what);
                return;
        }
        qsort(v, n, sizeof *v, cf_bench_cmp_d);
        if (out) {
                out[0] = v[(size_t)(0.50 * (double)(n - 1))];
                out[1] = v[(size_t)(0.99 * (double)(n - 1))];
        }
        printf("  %-28s n %-6zu p50 %7.1f ms  p99 %7.1f ms  max %7.1f ms\n", what, n,
               v[(size_t)(0.50 * (double)(n - 1))], v[(size_t)(0.99 * (double)(n - 1))], v[n - 1]);
}

/* One latency run on fresh topics; the dead letters' steady-state p50/p99 go
 * to out[0..1] and those of all dead letters to out[2..3]. */
static void run_latency(cf_config *cfg, const opts *o, double rate, int workers, int run,
                        double *out)
{
        char in[64], dlq[64], flags[64], stats[64], group[96];
        int parts = 8;
        snprintf(in, sizeof in, "bench.lat%.0f.r%d.in", rate, run);
        snprintf(dlq, sizeof dlq, "bench.lat%.0f.r%d.dlq", rate, run);
        snprintf(flags, sizeof flags, "bench.lat%.0f.r%d.flags", rate, run);
        snprintf(stats, sizeof stats, "bench.lat%.0f.r%d.stats", rate, run);
        snprintf(group, sizeof group, "bench-lat-%d-%.0f-r%d", (int)getpid(), rate, run);
        if (rd_kafka_mock_topic_create(mc, in, parts, 1) ||
            rd_kafka_mock_topic_create(mc, dlq, 4, 1) ||
            rd_kafka_mock_topic_create(mc, flags, 4, 1) ||
            rd_kafka_mock_topic_create(mc, stats, 4, 1))
                DIE("latency topics");
        setenv("CUSTOMSFLOW_TOPICS_INPUT", in, 1);
        setenv("CUSTOMSFLOW_TOPICS_DLQ", dlq, 1);
        setenv("CUSTOMSFLOW_TOPICS_FLAGS", flags, 1);
        setenv("CUSTOMSFLOW_TOPICS_STATS", stats, 1);
        cf_service *s = service(cfg, group, workers);
        const cf_service_cfg *sc = cf_service_config(s);
        double t0 = cf_mono_s();
        while (!cf_service_ready(s))
                if (cf_mono_s() - t0 > 60)
                        DIE("service not ready");
                else
                        usleep(10000);
        observer ob = {.dlq = dlq, .flags = flags};
        pthread_mutex_init(&ob.mtx, NULL);
        pthread_t th;
        pthread_create(&th, NULL, observe_main, &ob);
        usleep(500 * 1000); /* observer assigned before the first output */
        uint64_t count = (uint64_t)(rate * o->lat_seconds);
        prod_ctx pc = {0};
        produce(in, 7, count, rate, 0.05, &pc);
        /* every dead letter the service counted must reach the observer */
        uint64_t in_n = 0;
        int64_t first;
        t0 = cf_mono_s();
        cf_counters k;
        for (;;) {
                cf_service_progress(s, &in_n, &first);
                cf_service_counters(s, &k);
                if (in_n >= count && k.in >= count && observed(&ob, 'd') >= k.dead_lettered &&
                    observed(&ob, 'f') >= k.flagged)
                        break;
                if (cf_mono_s() - t0 > 30) {
                        fprintf(stderr, "latency: outputs incomplete after 30 s\n");
                        break;
                }
                usleep(20000);
        }
        atomic_store(&ob.stop, true);
        pthread_join(th, NULL);
        const char *fw = getenv("CUSTOMSFLOW_KAFKA_CONSUMER_FETCH_WAIT_MAX_MS");
        if (!fw) fw = getenv("CUSTOMSFLOW_KAFKA_FETCH_WAIT_MAX_MS");
        printf("\nlatency at %.0f records/s for %.0f s (%" PRIu64 " records, %d partitions, "
               "workers %d, bad-rate 0.05, fraud-rate 0.05)\n"
               "  config: pipeline.batch_size %" PRId64 ", batch_timeout %" PRId64
               " ms, commit_interval %" PRId64 " ms, kafka fetch.wait.max.ms %s\n"
               "  counted: in %" PRIu64 " dead_lettered %" PRIu64 " flagged %" PRIu64 "\n",
               rate, o->lat_seconds, count, parts, workers, sc->batch_size, sc->batch_timeout_ms,
               sc->commit_interval_ms, fw ? fw : "500 (default)", (uint64_t)k.in,
               (uint64_t)k.dead_lettered, (uint64_t)k.flagged);
        service_end(s);
        /* produce timestamp by (partition, offset): offsets are dense from 0 */
        int64_t *ts[64] = {0};
        size_t len[64] = {0};
        for (size_t i = 0; i < pc.n; i++) {
                sent *x = &pc.v[i];
                if (x->partition < 0 || x->partition >= parts) continue;
                if ((size_t)x->offset >= len[x->partition]) {
                        size_t nl = (size_t)x->offset * 2 + 1024;
                        ts[x->partition] = realloc(ts[x->partition], nl * sizeof(int64_t));
                        for (size_t j = len[x->partition]; j < nl; j++)
                                ts[x->partition][j] = -1;
                        len[x->partition] = nl;
                }
                ts[x->partition][x->offset] = x->ts_ms;
        }
        /* all outputs, and the steady state: inputs produced after the first
         * WARMUP_MS (the consumer's first fetches after assignment are slower) */
        int64_t t_first = INT64_MAX;
        for (size_t i = 0; i < pc.n; i++)
                if (pc.v[i].ts_ms < t_first) t_first = pc.v[i].ts_ms;
        double *all[2], *steady[2], worst[64] = {0}; /* worst: per second of produce time */
        size_t n[2] = {0, 0}, ns[2] = {0, 0}, unmatched = 0;
        for (int i = 0; i < 2; i++) {
                all[i] = calloc(ob.n + 1, sizeof(double));
                steady[i] = calloc(ob.n + 1, sizeof(double));
        }
        for (size_t i = 0; i < ob.n; i++) {
                seen *x = &ob.v[i];
                int kind = x->kind == 'f';
                if (x->src_partition >= parts || x->src_offset < 0 ||
                    (size_t)x->src_offset >= len[x->src_partition] ||
                    ts[x->src_partition][x->src_offset] < 0) {
                        unmatched++;
                        continue;
                }
                int64_t t = ts[x->src_partition][x->src_offset];
                double lat = (double)(x->recv_ms - t);
                all[kind][n[kind]++] = lat;
                if (t - t_first >= WARMUP_MS) steady[kind][ns[kind]++] = lat;
                size_t sec = (size_t)(t - t_first) / 1000;
                if (sec < 64 && lat > worst[sec]) worst[sec] = lat;
        }
        percentiles("dead letters, all", all[0], n[0], out + 2);
        percentiles("dead letters, after warm-up", steady[0], ns[0], out);
        percentiles("flags, all", all[1], n[1], NULL);
        percentiles("flags, after warm-up", steady[1], ns[1], NULL);
        printf("  worst latency (ms) by second of produce time:");
        for (int i = 0; i < 64 && i <= (int)o->lat_seconds; i++)
                printf(" %.0f", worst[i]);
        printf("\n");
        if (unmatched) printf("  unmatched outputs: %zu\n", unmatched);
        for (int i = 0; i < 2; i++) {
                free(all[i]);
                free(steady[i]);
        }
        for (int p = 0; p < parts; p++)
                free(ts[p]);
        free(pc.v);
        free(pc.acks.v);
        free(ob.v);
        pthread_mutex_destroy(&ob.mtx);
        unsetenv("CUSTOMSFLOW_TOPICS_INPUT");
        unsetenv("CUSTOMSFLOW_TOPICS_DLQ");
        unsetenv("CUSTOMSFLOW_TOPICS_FLAGS");
        unsetenv("CUSTOMSFLOW_TOPICS_STATS");
}

/* Messages produced to every topic of the cluster (the sum of its partitions' end
 * offsets; the mock cluster never compacts), one stderr line each: what the service
 * produced to each output, changelog and population topic. */
static void print_topic_counts(void)
{
        char err[512];
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_conf_set(c, "bootstrap.servers", bootstrap, NULL, 0);
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
        if (!rk) return;
        const struct rd_kafka_metadata *md = NULL;
        if (!rd_kafka_metadata(rk, 1, NULL, &md, 10000)) {
                for (int t = 0; t < md->topic_cnt; t++) {
                        const char *name = md->topics[t].topic;
                        if (name[0] == '_') continue;
                        int64_t sum = 0, lo, hi;
                        for (int p = 0; p < md->topics[t].partition_cnt; p++)
                                if (!rd_kafka_query_watermark_offsets(
                                        rk, name, md->topics[t].partitions[p].id, &lo, &hi, 5000))
                                        sum += hi;
                        fprintf(stderr, "topic %s: %" PRId64 " messages in %d partitions\n", name,
                                sum, md->topics[t].partition_cnt);
                }
                rd_kafka_metadata_destroy(md);
        }
        rd_kafka_destroy(rk);
}

/* --serve: the preloaded cluster for a service in another process, whose
 * getrusage then holds nothing of the broker's or the bench's work. With
 * --serve-rate the records are produced at that rate once a line arrives on
 * stdin (the service is ready): the mock broker keeps only ~5 MB per partition,
 * too little for a backlog of 1M keyed records, but enough for a stream the
 * service keeps up with; it then reads every record or stops at a reset. */
static int serve(const opts *o)
{
        prod_ctx pc = {0};
        char buf[256];
        if (o->serve_rate > 0) {
                printf("%s\n", bootstrap);
                fflush(stdout);
                if (read(0, buf, sizeof buf) <= 0) return 0;
                produce(TOPIC_IN, 1, o->count, o->serve_rate, -1, &pc);
                fprintf(stderr, "produced %" PRIu64 " records at %.0f/s\n", o->count,
                        o->serve_rate);
                cf_bench_acks_print(stderr, "", &pc.acks);
        } else {
                produce(TOPIC_IN, 1, o->count, 0, -1, &pc);
                char err[512];
                int64_t maxp;
                if (cf_bench_kept(bootstrap, TOPIC_IN, o->partitions, o->count, &maxp, err,
                                  sizeof err))
                        DIE("%s", err);
                fprintf(stderr,
                        "preloaded %" PRIu64 " records in %d partitions (largest %" PRId64 ")\n",
                        o->count, o->partitions, maxp);
                printf("%s\n", bootstrap);
                fflush(stdout);
        }
        free(pc.v);
        free(pc.acks.v);
        while (read(0, buf, sizeof buf) > 0)
                ;
        print_topic_counts();
        rd_kafka_mock_cluster_destroy(mc);
        rd_kafka_destroy(mrk);
        return 0;
}

/* ---- main ---- */

static const cf_opt rows[] = {
    CF_OPT_ROW_U64("count", opts, count, 1, 0, "N", "records preloaded (default 200000)"),
    CF_OPT_ROW_INT("partitions", opts, partitions, 1, 1024, "P", "input partitions (default 64)"),
    CF_OPT_ROW_INT("runs", opts, runs, 1, 15, "R", "throughput runs (default 3)"),
    CF_OPT_ROW_FN("workers", opts, workers, parse_workers, "up to 4 worker counts in [1, 64]",
                  "W,W", "the service's worker counts (default 1,2; latency: the first)"),
    CF_OPT_ROW_FN("rates", opts, rates, parse_rates, "up to 4 rates in [1, 1e9]", "R,R",
                  "latency: records/s produced (default 5000,20000)"),
    CF_OPT_ROW_DOUBLE("lat-seconds", opts, lat_seconds, 0.1, 3600, "S",
                      "latency: seconds produced per run (default 10)"),
    CF_OPT_ROW_INT("lat-runs", opts, lat_runs, 1, 15, "R", "latency runs per rate (default 3)"),
    CF_OPT_ROW_OFF("no-latency", opts, latency, "skip the latency part"),
    CF_OPT_ROW_OFF("no-throughput", opts, throughput, "skip the throughput part"),
    CF_OPT_ROW_ON(
        "serve", opts, serve,
        "only the cluster: preload, print the bootstrap address, serve until stdin closes "
        "(a `customsflow run` in another process measures alone: bench/kafka_cpu.sh)"),
    CF_OPT_ROW_DOUBLE("serve-rate", opts, serve_rate, 0, 1e9, "R",
                      "--serve: produce at R records/s once a line arrives on stdin, not before"),
    CF_OPT_ROW_STR("config", 0, opts, config, "FILE",
                   "config (default the bundled deploy/examples/customsflow.yaml)"),
    CF_OPT_ROW_DOUBLE("per-day", opts, per_day, 0, 1e9, "N",
                      "generator: declarations per day of event time (default 0: its own)"),
    {0},
};

static const cf_opts_spec spec = {
    .prog = "bench_kafka",
    .about = "The Kafka path on librdkafka's mock cluster in this process: kcat raw consume\n"
             "and the service's throughput side by side, then latency at fixed rates.\n"
             "Env CUSTOMSFLOW_* overrides apply to the service as in `customsflow run`.\n",
    .opts = rows,
};

int main(int argc, char **argv)
{
        opts o = {.count = 200000,
                  .partitions = 64,
                  .runs = 3,
                  .workers = {{1, 2}, 2},
                  .rates = {{5000, 20000}, 2},
                  .lat_seconds = 10,
                  .lat_runs = 3,
                  .latency = 1,
                  .throughput = 1,
                  .config = CF_DATADIR "/customsflow.yaml"};
        int prc = cf_opts_main(&spec, argc, argv, &o, NULL);
        if (prc) return prc > 0 ? 0 : 2;
        per_day = o.per_day;
        signal(SIGPIPE, SIG_IGN);
        char err[1024];
        cf_config cfg;
        if (cf_bench_service_config(&cfg, o.config, err, sizeof err)) DIE("%s", err);
        start_cluster(&o);
        if (o.serve) return serve(&o);
        printf("bench_kafka: mock cluster %s (1 broker, in this process), config %s\n", bootstrap,
               o.config);
        if (o.throughput) {
                prod_ctx pc = {0};
                double t0 = cf_mono_s();
                produce(TOPIC_IN, 1, o.count, 0, -1, &pc);
                fprintf(stderr, "preload: %.1f s\n", cf_mono_s() - t0);
                free(pc.v);
                free(pc.acks.v);
                /* record size: the generator's, measured on the same seed */
                double bytes = 0;
                cf_gen_opts go;
                cf_gen_opts_default(&go);
                go.count = o.count;
                if (per_day > 0) go.per_day = per_day;
                cf_gen *g = cf_gen_new(&go, err, sizeof err);
                cf_buf line = {0}, key = {0};
                while (!cf_gen_next(g, &line, &key, NULL)) {
                        bytes += (double)line.len;
                        line.len = key.len = 0;
                }
                cf_gen_free(g);
                cf_buf_free(&line);
                cf_buf_free(&key);
                check_kept(TOPIC_IN, o.partitions, o.count, &bytes);
                double kc[16], pl[4][16], cpu[4][16];
                printf("\nthroughput: %" PRIu64 " records, %d partitions; records/s from the "
                       "first record to the last (start-up in brackets)\n",
                       o.count, o.partitions);
                for (int r = 0; r < o.runs; r++) {
                        run_fig f = run_kcat(o.count);
                        kc[r] = f.rate;
                        printf("run %d: kcat %9.0f/s (%.2f s)", r + 1, f.rate, f.startup);
                        for (int w = 0; w < o.workers.n; w++) {
                                f = run_pipeline(&cfg, o.count, (int)o.workers.v[w], r);
                                pl[w][r] = f.rate;
                                cpu[w][r] = f.cpu;
                                printf("  pipeline w%d %9.0f/s (%.2f s) %.2fx %.2f CPU-s/1M",
                                       (int)o.workers.v[w], f.rate, f.startup, f.rate / kc[r],
                                       f.cpu);
                        }
                        printf("\n");
                        fflush(stdout);
                }
                double mk = cf_bench_median(kc, o.runs);
                printf("median of %d: kcat %.0f records/s (%.1f MB/s)", o.runs, mk,
                       mk * bytes / (double)o.count / 1e6);
                for (int w = 0; w < o.workers.n; w++) {
                        double m = cf_bench_median(pl[w], o.runs);
                        printf("; pipeline workers %d %.0f records/s = %.2f x kcat, %.2f CPU-s "
                               "per 1M records",
                               (int)o.workers.v[w], m, m / mk, cf_bench_median(cpu[w], o.runs));
                }
                printf("\n");
                fflush(stdout);
        }
        for (int i = 0; o.latency && i < o.rates.n; i++) {
                double f[4][16] = {{0}};
                for (int r = 0; r < o.lat_runs; r++) {
                        double out[4] = {0};
                        run_latency(&cfg, &o, o.rates.v[i], (int)o.workers.v[0], r, out);
                        for (int j = 0; j < 4; j++)
                                f[j][r] = out[j];
                        fflush(stdout);
                }
                double m[4];
                for (int j = 0; j < 4; j++)
                        m[j] = cf_bench_median(f[j], o.lat_runs);
                printf("median of %d at %.0f records/s: dead letters after warm-up p50 %.1f ms p99 "
                       "%.1f ms; all p50 %.1f ms p99 %.1f ms\n",
                       o.lat_runs, o.rates.v[i], m[0], m[1], m[2], m[3]);
        }
        cf_config_free(&cfg);
        rd_kafka_mock_cluster_destroy(mc);
        rd_kafka_destroy(mrk);
        return 0;
}
