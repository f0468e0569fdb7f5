/*
 * kafka_harness.c - see kafka_harness.h.
 */
#include "helpers/kafka_harness.h"

#include <arpa/inet.h>
#include <execinfo.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench/gen/gen.h"
#include "pipeline/core/clock.h"

#define DIE(...)                                                                                   \
        do {                                                                                       \
                fprintf(stderr, "kafka_harness: " __VA_ARGS__);                                    \
                fprintf(stderr, "\n");                                                             \
                abort();                                                                           \
        } while (0)

static const char *const topics[] = {
    "customs.declarations",  "customs.flags",         "customs.stats",           "customs.dlq",
    "customsflow.changelog", "customsflow.baselines", "customsflow.certificates"};

/* An abort in a Kafka test (a librdkafka or mock-cluster assertion, glibc's
 * heap checks, DIE) otherwise leaves only "Subprocess aborted" in ctest's
 * output: print the aborting thread's stack first (backtrace_symbols_fd does not
 * allocate), then abort as before. A rare CI abort of test_kafka_faults came
 * with no stack to read. */
static void on_abort(int sig)
{
        void *frames[64];
        int n = backtrace(frames, 64);
        static const char head[] = "kafka_harness: SIGABRT; the aborting thread's stack:\n";
        if (write(2, head, sizeof head - 1) < 0) n = 0;
        backtrace_symbols_fd(frames, n, 2);
        signal(sig, SIG_DFL);
        raise(sig);
}

void kh_start(kh *h, int brokers, int partitions)
{
        char err[512];
        signal(SIGABRT, on_abort);
        memset(h, 0, sizeof *h);
        h->partitions = partitions;
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_conf_set(c, "log_level", "2", NULL, 0);
        /* KH_MOCK_DEBUG=mock (any librdkafka debug contexts): the mock broker's own debug log on
         * stderr, e.g. its group state machine when a test waits on an assignment */
        const char *dbg = getenv("KH_MOCK_DEBUG");
        if (dbg && *dbg) {
                rd_kafka_conf_set(c, "log_level", "7", NULL, 0);
                if (rd_kafka_conf_set(c, "debug", dbg, err, sizeof err) != RD_KAFKA_CONF_OK)
                        DIE("KH_MOCK_DEBUG: %s", err);
        }
        h->mrk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
        if (!h->mrk) DIE("%s", err);
        h->mc = rd_kafka_mock_cluster_new(h->mrk, brokers);
        if (!h->mc) DIE("no mock cluster");
        /* the population topics with several partitions: a worker reads all of them */
        for (int i = 0; i < 7; i++)
                if (rd_kafka_mock_topic_create(h->mc, topics[i],
                                               (i == 0 || i == 4) ? partitions
                                               : i > 4            ? 3
                                                                  : 1,
                                               1))
                        DIE("topic %s", topics[i]);
        h->bootstrap = rd_kafka_mock_cluster_bootstraps(h->mc);
        if (cf_config_load(&h->cfg, CF_SRCDIR "/deploy/examples/customsflow.yaml", err, sizeof err))
                DIE("%s", err);
}

typedef struct dr_ctx {
        kh *h;
        size_t base;
} dr_ctx;

static void on_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
        (void)opaque;
        (void)rk;
        kh_msg *k = m->_private;
        if (m->err) DIE("produce: %s", rd_kafka_err2str(m->err));
        k->partition = m->partition;
        k->offset = m->offset;
}

void kh_json_str(const char *t, const char *name, char *out, size_t n)
{
        char pat[32];
        snprintf(pat, sizeof pat, "\"%s\":\"", name);
        const char *p = strstr(t, pat);
        out[0] = '\0';
        if (!p) return;
        p += strlen(pat);
        const char *e = strchr(p, '"');
        snprintf(out, n, "%.*s", (int)(e ? e - p : 0), p);
}

static void produce_range(kh *h, uint64_t seed, uint64_t count, double bad_rate, double dup_rate,
                          size_t from, size_t to, bool record, double per_s)
{
        double t0 = cf_mono_s();
        char err[512];
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_conf_set(c, "bootstrap.servers", h->bootstrap, NULL, 0);
        rd_kafka_conf_set(c, "linger.ms", "5", NULL, 0);
        rd_kafka_conf_set_dr_msg_cb(c, on_dr);
        rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
        if (!p) DIE("%s", err);
        cf_gen_opts o;
        cf_gen_opts_default(&o);
        o.seed = seed;
        o.count = count;
        o.bad_rate = bad_rate;
        o.dup_rate = dup_rate;
        cf_gen *g = cf_gen_new(&o, err, sizeof err);
        if (!g) DIE("%s", err);
        if (record) {
                h->cap_msgs = h->n_msgs + count;
                h->msgs = realloc(h->msgs, h->cap_msgs * sizeof *h->msgs);
        }
        cf_buf line = {0}, key = {0}, truth = {0};
        kh_msg scratch;
        for (size_t i = 0;; i++) {
                line.len = key.len = truth.len = 0;
                if (cf_gen_next(g, &line, &key, &truth)) break;
                if (i < from || i >= to) continue;
                cf_buf_putc(&truth, '\0');
                kh_msg *k = record ? &h->msgs[h->n_msgs++] : &scratch;
                memset(k, 0, sizeof *k);
                kh_json_str(truth.p, "kind", k->kind, sizeof k->kind);
                kh_json_str(truth.p, "bad_code", k->bad_code, sizeof k->bad_code);
                snprintf(k->key, sizeof k->key, "%.*s", (int)key.len, key.p);
                while (rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topics[0]),
                                         RD_KAFKA_V_KEY(key.p, key.len),
                                         RD_KAFKA_V_VALUE(line.p, line.len),
                                         RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                         RD_KAFKA_V_OPAQUE(record ? k : &scratch),
                                         RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                        rd_kafka_poll(p, 10);
                rd_kafka_poll(p, 0);
                if (!record) rd_kafka_flush(p, 10000); /* scratch is reused */
                if (per_s > 0 && (i + 1) % 200 == 0) { /* paced: a live stream */
                        double ahead = t0 + (double)(i + 1) / per_s - cf_mono_s();
                        if (ahead > 0) usleep((useconds_t)(ahead * 1e6));
                }
        }
        if (rd_kafka_flush(p, 30000)) DIE("flush timed out");
        cf_buf_free(&line);
        cf_buf_free(&key);
        cf_buf_free(&truth);
        cf_gen_free(g);
        rd_kafka_destroy(p);
}

void kh_produce_gen(kh *h, uint64_t seed, uint64_t count, double bad_rate, double dup_rate)
{
        produce_range(h, seed, count, bad_rate, dup_rate, 0, count, true, 0);
}

void kh_produce_gen_paced(kh *h, uint64_t seed, uint64_t count, double bad_rate, double dup_rate,
                          double per_s)
{
        produce_range(h, seed, count, bad_rate, dup_rate, 0, count, true, per_s);
}

void kh_produce_gen_part(kh *h, uint64_t seed, uint64_t count, double bad_rate, double dup_rate,
                         size_t from, size_t to)
{
        produce_range(h, seed, count, bad_rate, dup_rate, from, to, true, 0);
}

void kh_reproduce(kh *h, uint64_t seed, uint64_t count, double bad_rate, double dup_rate,
                  size_t from, size_t to)
{
        produce_range(h, seed, count, bad_rate, dup_rate, from, to, false, 0);
}

void kh_finish(cf_service *s, cf_counters *k)
{
        cf_service_stop(s);
        int rc = cf_service_wait(s);
        if (rc) DIE("service exited %d", rc);
        if (k) cf_service_counters(s, k);
        cf_service_destroy(s);
}

uint64_t kh_metric_sum(cf_service *s, const char *name)
{
        cf_buf b = {0};
        cf_service_metrics(s, &b);
        cf_buf_putc(&b, '\0');
        uint64_t sum = 0;
        size_t nl = strlen(name);
        for (const char *l = b.p; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
                if (!strncmp(l, name, nl) && (l[nl] == '{' || l[nl] == ' ')) {
                        const char *v = strchr(l, ' ');
                        if (v) sum += strtoull(v + 1, NULL, 10);
                }
        cf_buf_free(&b);
        return sum;
}

cf_service *kh_service(kh *h, const char *group_id, int workers)
{
        char err[1024];
        char w[16];
        snprintf(w, sizeof w, "%d", workers);
        setenv("CUSTOMSFLOW_PIPELINE_GROUP_ID", group_id, 1);
        setenv("CUSTOMSFLOW_METRICS_LISTEN", "127.0.0.1:0", 1);
        setenv("CUSTOMSFLOW_WORKERS", w, 1);
        /* The mock cluster keeps a closed member until its session times out
         * (the default 45 s) before it rebalances: keep that short here. */
        setenv("CUSTOMSFLOW_KAFKA_CONSUMER_SESSION_TIMEOUT_MS", "6000", 1);
        cf_service *s = cf_service_new(&h->cfg, h->bootstrap, err, sizeof err);
        if (!s) DIE("%s", err);
        if (cf_service_start(s, err, sizeof err)) DIE("%s", err);
        return s;
}

/* Poll have(s, what) every 100 ms until it reaches n, for at most timeout_s. */
static bool wait_for(cf_service *s, uint64_t n, double timeout_s,
                     uint64_t (*have)(cf_service *, const char *), const char *what)
{
        double t0 = cf_mono_s();
        for (;;) {
                uint64_t v = have(s, what);
                if (v >= n) return true;
                if (cf_mono_s() - t0 > timeout_s) {
                        fprintf(stderr, "%s: %llu of %llu after %.0f s\n", what,
                                (unsigned long long)v, (unsigned long long)n, timeout_s);
                        return false;
                }
                usleep(100 * 1000);
        }
}

static uint64_t counted_in(cf_service *s, const char *unused)
{
        (void)unused;
        cf_counters k;
        cf_service_counters(s, &k);
        return k.in;
}

static uint64_t assigned_workers(cf_service *s, const char *unused)
{
        (void)unused;
        return (uint64_t)cf_service_assigned_workers(s);
}

long long kh_metric(cf_service *s, const char *name)
{
        cf_buf b = {0};
        cf_service_metrics(s, &b);
        cf_buf_putc(&b, '\0');
        char key[128];
        snprintf(key, sizeof key, "\n%s ", name);
        const char *p = strstr(b.p, key);
        long long v = p ? atoll(p + strlen(key)) : -1;
        cf_buf_free(&b);
        return v;
}

bool kh_wait_in(cf_service *s, uint64_t n, double timeout_s)
{
        return wait_for(s, n, timeout_s, counted_in, "kh_wait_in");
}

bool kh_wait_metric_sum(cf_service *s, const char *name, uint64_t at_least, double timeout_s)
{
        return wait_for(s, at_least, timeout_s, kh_metric_sum, name);
}

bool kh_wait_assigned(cf_service *s, int workers, double timeout_s)
{
        return wait_for(s, (uint64_t)workers, timeout_s, assigned_workers, "kh_wait_assigned");
}

int kh_free_port(void)
{
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET};
        inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
        socklen_t n = sizeof a;
        if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) ||
            getsockname(fd, (struct sockaddr *)&a, &n))
                DIE("no free port");
        close(fd);
        return ntohs(a.sin_port);
}

rd_kafka_t *kh_group_reader(kh *h, const char *group_id)
{
        char err[512];
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_conf_set(c, "bootstrap.servers", h->bootstrap, NULL, 0);
        rd_kafka_conf_set(c, "group.id", group_id, NULL, 0);
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
        if (!rk) DIE("%s", err);
        return rk;
}

rd_kafka_t *kh_join_member(kh *h, const char *group)
{
        char err[512];
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_conf_set(c, "bootstrap.servers", h->bootstrap, NULL, 0);
        rd_kafka_conf_set(c, "group.id", group, NULL, 0);
        rd_kafka_conf_set(c, "enable.auto.commit", "false", NULL, 0);
        rd_kafka_conf_set(c, "partition.assignment.strategy", "roundrobin", NULL, 0);
        rd_kafka_conf_set(c, "session.timeout.ms", "6000", NULL, 0);
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
        if (!rk) DIE("%s", err);
        rd_kafka_poll_set_consumer(rk);
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, "customs.declarations", RD_KAFKA_PARTITION_UA);
        if (rd_kafka_subscribe(rk, l)) DIE("subscribe to the input");
        rd_kafka_topic_partition_list_destroy(l);
        double t0 = cf_mono_s();
        for (;;) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
                if (m) rd_kafka_message_destroy(m);
                rd_kafka_topic_partition_list_t *a = NULL;
                int held = !rd_kafka_assignment(rk, &a) && a ? a->cnt : 0;
                if (a) rd_kafka_topic_partition_list_destroy(a);
                if (held) return rk;
                if (cf_mono_s() - t0 > 60) DIE("the extra member of %s got no partition", group);
        }
}

int kh_committed_on(kh *h, rd_kafka_t *rk, int64_t *out)
{
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(h->partitions);
        for (int p = 0; p < h->partitions; p++)
                rd_kafka_topic_partition_list_add(l, topics[0], p);
        int rc = rd_kafka_committed(rk, l, 10000) ? -1 : 0;
        for (int p = 0; p < h->partitions; p++)
                out[p] = l->elems[p].offset < 0 ? -1 : l->elems[p].offset;
        rd_kafka_topic_partition_list_destroy(l);
        return rc;
}

int kh_committed(kh *h, const char *group_id, int64_t *out)
{
        rd_kafka_t *rk = kh_group_reader(h, group_id);
        int rc = kh_committed_on(h, rk, out);
        rd_kafka_destroy(rk);
        return rc;
}

/* One reading of the gap; -1 when a request failed (the watermark query's
 * failure used to leave `hi` uninitialised: a spurious non-zero gap). */
static int64_t uncommitted_once(kh *h, const char *group_id)
{
        rd_kafka_t *rk = kh_group_reader(h, group_id);
        int64_t *c = calloc((size_t)h->partitions, sizeof *c);
        int64_t gap = kh_committed_on(h, rk, c) ? -1 : 0;
        for (int p = 0; p < h->partitions && gap >= 0; p++) {
                int64_t lo = 0, hi = 0;
                if (rd_kafka_query_watermark_offsets(rk, topics[0], p, &lo, &hi, 10000)) {
                        gap = -1;
                        break;
                }
                gap += hi - (c[p] < 0 ? 0 : c[p]);
        }
        free(c);
        rd_kafka_destroy(rk);
        return gap;
}

int64_t kh_uncommitted(kh *h, const char *group_id)
{
        /* a request can fail transiently right after injected faults or a
         * broker restart: retry before reporting -1 */
        int64_t gap = -1;
        for (int i = 0; i < 5 && (gap = uncommitted_once(h, group_id)) < 0; i++)
                usleep(200 * 1000);
        return gap;
}

pid_t kh_spawn_run_at(const char *bootstrap, const char *group_id, const char *log,
                      const char *const *env)
{
        const char *bin = getenv("CF_BIN");
        if (!bin) bin = CF_BINDIR "/customsflow";
        pid_t pid = fork();
        if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a failed test */
                if (log && !freopen(log, "w", stderr)) _exit(126);
                setenv("CUSTOMSFLOW_KAFKA_BOOTSTRAP_SERVERS", bootstrap, 1);
                setenv("CUSTOMSFLOW_PIPELINE_GROUP_ID", group_id, 1);
                setenv("CUSTOMSFLOW_METRICS_LISTEN", "127.0.0.1:0", 1);
                setenv("CUSTOMSFLOW_KAFKA_CONSUMER_SESSION_TIMEOUT_MS", "6000", 1);
                for (int i = 0; env && env[i]; i += 2)
                        setenv(env[i], env[i + 1], 1);
                execl(bin, bin, "run", "-c", CF_SRCDIR "/deploy/examples/customsflow.yaml",
                      (char *)NULL);
                _exit(127);
        }
        return pid;
}

pid_t kh_spawn_run(kh *h, const char *group_id, const char *const *env)
{
        return kh_spawn_run_at(h->bootstrap, group_id, NULL, env);
}

size_t kh_read_topic(kh *h, const char *topic, void (*fn)(const rd_kafka_message_t *m, void *op),
                     void *op)
{
        char err[512];
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_conf_set(c, "bootstrap.servers", h->bootstrap, NULL, 0);
        rd_kafka_conf_set(c, "group.id", "kh-reader", NULL, 0);
        rd_kafka_conf_set(c, "enable.partition.eof", "true", NULL, 0);
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
        if (!rk) DIE("%s", err);
        const struct rd_kafka_metadata *md;
        rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
        /* right after a broker outage the first request can fail: retry */
        rd_kafka_resp_err_t me = RD_KAFKA_RESP_ERR_NO_ERROR;
        for (int i = 0; i < 5 && (me = rd_kafka_metadata(rk, 0, t, &md, 10000)); i++)
                usleep(500 * 1000);
        if (me) DIE("metadata %s: %s", topic, rd_kafka_err2str(me));
        int np = md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(t);
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(np);
        for (int p = 0; p < np; p++)
                rd_kafka_topic_partition_list_add(l, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_assign(rk, l);
        rd_kafka_topic_partition_list_destroy(l);
        size_t n = 0;
        int eofs = 0;
        double t0 = cf_mono_s();
        while (eofs < np && cf_mono_s() - t0 < 30) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 500);
                if (!m) continue;
                if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
                        eofs++;
                else if (!m->err) {
                        fn(m, op);
                        n++;
                }
                rd_kafka_message_destroy(m);
        }
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        return n;
}

void kh_header(const rd_kafka_message_t *m, const char *name, char *out, size_t n)
{
        rd_kafka_headers_t *hd = NULL;
        const void *v;
        size_t len;
        out[0] = '\0';
        if (rd_kafka_message_headers(m, &hd) || rd_kafka_header_get_last(hd, name, &v, &len))
                return;
        snprintf(out, n, "%.*s", (int)len, (const char *)v);
}

typedef struct dlq_ctx {
        kh *h;
        char (*code)[40]; /* per produced message: DLQ code seen ("" none) */
} dlq_ctx;

static void on_dlq(const rd_kafka_message_t *m, void *op)
{
        dlq_ctx *d = op;
        char part[16], off[32], code[40];
        kh_header(m, "source.partition", part, sizeof part);
        kh_header(m, "source.offset", off, sizeof off);
        kh_header(m, "error.code", code, sizeof code);
        int32_t p = atoi(part);
        int64_t o = atoll(off);
        for (size_t i = 0; i < d->h->n_msgs; i++)
                if (d->h->msgs[i].partition == p && d->h->msgs[i].offset == o) {
                        /* a dead letter keeps the input key (Kafka Connect's DLQ) */
                        char key[72];
                        snprintf(key, sizeof key, "%.*s", (int)m->key_len,
                                 m->key ? (const char *)m->key : "");
                        snprintf(d->code[i], 40, "%s",
                                 strcmp(key, d->h->msgs[i].key) ? "(input key lost)" : code);
                        return;
                }
}

size_t kh_check_dlq(kh *h, size_t *dlq_count)
{
        dlq_ctx d = {h, calloc(h->n_msgs, 40)};
        *dlq_count = kh_read_topic(h, "customs.dlq", on_dlq, &d);
        size_t misses = 0;
        for (size_t i = 0; i < h->n_msgs; i++) {
                bool bad = !strcmp(h->msgs[i].kind, "bad");
                if (bad && strcmp(d.code[i], h->msgs[i].bad_code)) {
                        if (misses < 5)
                                fprintf(stderr, "message %zu: expected DLQ %s, got '%s'\n", i,
                                        h->msgs[i].bad_code, d.code[i]);
                        misses++;
                } else if (!bad && d.code[i][0]) {
                        fprintf(stderr, "message %zu (%s) dead-lettered as %s\n", i,
                                h->msgs[i].kind, d.code[i]);
                        misses++;
                }
        }
        free(d.code);
        return misses;
}

void kh_stop(kh *h)
{
        cf_config_free(&h->cfg);
        rd_kafka_mock_cluster_destroy(h->mc);
        rd_kafka_destroy(h->mrk);
        free(h->msgs);
        memset(h, 0, sizeof *h);
}

void kh_produce_raw(kh *h, const char *topic, int32_t partition, const char *key, const void *value,
                    size_t len, ...)
{
        char err[512];
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_conf_set(c, "bootstrap.servers", h->bootstrap, NULL, 0);
        rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
        if (!p) DIE("%s", err);
        rd_kafka_headers_t *hs = rd_kafka_headers_new(4);
        va_list ap;
        va_start(ap, len);
        for (const char *n; (n = va_arg(ap, const char *));)
                rd_kafka_header_add(hs, n, -1, va_arg(ap, const char *), -1);
        va_end(ap);
        rd_kafka_resp_err_t e = rd_kafka_producev(
            p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
            RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE((void *)value, len),
            RD_KAFKA_V_HEADERS(hs), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (e) DIE("produce to %s: %s", topic, rd_kafka_err2str(e));
        if (rd_kafka_flush(p, 10000)) DIE("flush timed out");
        rd_kafka_destroy(p);
}
