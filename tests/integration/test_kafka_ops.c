/*
 * test_kafka_ops.c - what an operator sees, on the mock cluster:
 *  - /readyz goes starting -> restoring -> ready -> draining (polled over
 *    HTTP while the service starts, restores and stops); /healthz stays ok;
 *  - 2,000 half-open HTTP connections (a slowloris from one address) do not
 *    keep /healthz from answering within 1 s;
 *  - topics checked at start: a missing changelog is refused (and with
 *    topics.create, created or refused: the mock cannot create), a changelog
 *    with fewer partitions than the input is refused -- never half-used;
 *  - an offset reset past deleted records is counted as skipped offsets;
 *  - a broker's authorization failure stops the instance within seconds;
 *  - commits failing in a row turn /readyz to "degraded" until one succeeds.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers/kafka_harness.h"
#include "pipeline/core/clock.h"
#include "helpers/test_cases.h"

/* GET path from the service's metrics endpoint: status code, body in out. */
static int http_get(cf_service *s, const char *path, char *out, size_t n)
{
        const char *addr = cf_service_metrics_addr(s);
        int port = atoi(strrchr(addr, ':') + 1);
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
        struct timeval tv = {.tv_sec = 5};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        out[0] = '\0';
        if (connect(fd, (struct sockaddr *)&a, sizeof a)) {
                close(fd);
                return -1;
        }
        char req[256];
        int rl = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: x\r\n\r\n", path);
        if (write(fd, req, (size_t)rl) != rl) {
                close(fd);
                return -1;
        }
        char buf[65536];
        size_t got = 0;
        ssize_t r;
        while (got < sizeof buf - 1 && (r = read(fd, buf + got, sizeof buf - 1 - got)) > 0)
                got += (size_t)r;
        buf[got] = '\0';
        close(fd);
        int code = 0;
        if (sscanf(buf, "HTTP/1.%*d %d", &code) != 1) return -1;
        const char *body = strstr(buf, "\r\n\r\n");
        snprintf(out, n, "%s", body ? body + 4 : "");
        return code;
}

typedef struct poller {
        cf_service *s;
        volatile bool stop;
        char seen[16][32]; /* distinct consecutive /readyz states */
        int n_seen;
        int health_bad;
} poller;

static void *poll_main(void *arg)
{
        poller *p = arg;
        char body[512];
        while (!p->stop) {
                int code = http_get(p->s, "/readyz", body, sizeof body);
                char state[32] = "";
                sscanf(body, "%31[a-z]", state);
                if (code > 0 && (p->n_seen == 0 || strcmp(p->seen[p->n_seen - 1], state)) &&
                    p->n_seen < 16)
                        snprintf(p->seen[p->n_seen++], 32, "%s", state);
                if ((code == 200) != !strcmp(state, "ready")) p->health_bad++;
                if (http_get(p->s, "/healthz", body, sizeof body) != 200) p->health_bad++;
                usleep(5 * 1000);
        }
        return NULL;
}

static void test_readyz_transitions(void **state)
{
        (void)state;
        kh h;
        kh_start(&h, 1, 2);
        kh_produce_gen(&h, 61, 2000, 0.02, 0.0);
        /* a first run leaves state in the changelog, so the second restores it */
        cf_service *a = kh_service(&h, "readyz", 1);
        assert_true(kh_wait_in(a, 2000, 60));
        cf_service_stop(a);
        assert_int_equal(cf_service_wait(a), 0);
        cf_service_destroy(a);
        /* a slow broker: restoring lasts long enough to be seen */
        rd_kafka_mock_broker_set_rtt(h.mc, 1, 150);
        cf_service *s = kh_service(&h, "readyz", 1);
        poller p = {.s = s};
        pthread_t th;
        pthread_create(&th, NULL, poll_main, &p);
        assert_true(kh_wait_assigned(s, 1, 60));
        char body[256];
        for (int i = 0; i < 200 && http_get(s, "/readyz", body, sizeof body) != 200; i++)
                usleep(50 * 1000);
        assert_int_equal(http_get(s, "/readyz", body, sizeof body), 200);
        /* the poller samples every ~5 ms: let it see "ready" before the stop ends it (CI
         * once stopped the service between two of its samples: starting, restoring,
         * draining) */
        for (int i = 0; i < 200 && __atomic_load_n(&p.n_seen, __ATOMIC_ACQUIRE) < 3; i++)
                usleep(10 * 1000);
        cf_service_stop(s);
        assert_int_equal(cf_service_wait(s), 0);
        p.stop = true;
        pthread_join(th, NULL);
        for (int i = 0; i < p.n_seen; i++)
                fprintf(stderr, "/readyz: %s\n", p.seen[i]);
        assert_int_equal(p.n_seen, 4);
        assert_string_equal(p.seen[0], "starting");
        assert_string_equal(p.seen[1], "restoring");
        assert_string_equal(p.seen[2], "ready");
        assert_string_equal(p.seen[3], "draining");
        assert_int_equal(p.health_bad, 0); /* 503 only when not ready; /healthz always ok */
        cf_service_destroy(s);
        kh_stop(&h);
}

#define HALF_OPEN 2000

static void test_http_half_open(void **state)
{
        (void)state;
        struct rlimit rl;
        getrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur < 3 * HALF_OPEN) {
                rl.rlim_cur = rl.rlim_max;
                setrlimit(RLIMIT_NOFILE, &rl);
        }
        getrlimit(RLIMIT_NOFILE, &rl);
        assert_true(rl.rlim_cur >= 3 * HALF_OPEN); /* clients and server share this process */
        kh h;
        kh_start(&h, 1, 1);
        cf_service *s = kh_service(&h, "http", 1);
        const char *addr = cf_service_metrics_addr(s);
        struct sockaddr_in to = {.sin_family = AF_INET,
                                 .sin_port = htons((uint16_t)atoi(strrchr(addr, ':') + 1))};
        inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
        /* a slowloris from 127.0.0.2: connect, send half a request, never finish */
        static int fds[HALF_OPEN];
        int connected = 0;
        for (int i = 0; i < HALF_OPEN; i++) {
                fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
                struct sockaddr_in from = {.sin_family = AF_INET};
                inet_pton(AF_INET, "127.0.0.2", &from.sin_addr);
                bind(fds[i], (struct sockaddr *)&from, sizeof from);
                if (connect(fds[i], (struct sockaddr *)&to, sizeof to) == 0 || errno == EINPROGRESS)
                        connected++;
        }
        usleep(200 * 1000);
        for (int i = 0; i < HALF_OPEN; i++) {
                ssize_t w = write(fds[i], "GET /metrics HTTP/1.1\r\nHost: x\r\n", 32);
                (void)w;
        }
        fprintf(stderr, "%d of %d half-open connections made\n", connected, HALF_OPEN);
        assert_true(connected >= HALF_OPEN * 9 / 10);
        char body[256];
        double t0 = cf_mono_s();
        int code = http_get(s, "/healthz", body, sizeof body);
        double took = cf_mono_s() - t0;
        fprintf(stderr, "/healthz with %d half-open connections: %d in %.3f s\n", HALF_OPEN, code,
                took);
        assert_int_equal(code, 200);
        assert_true(took < 1.0);
        for (int i = 0; i < HALF_OPEN; i++)
                close(fds[i]);
        cf_service_stop(s);
        cf_service_wait(s);
        cf_service_destroy(s);
        kh_stop(&h);
}

/* A service whose start is expected to fail; returns the error. */
static void start_refused(kh *h, const char *want, char *err, size_t n)
{
        setenv("CUSTOMSFLOW_PIPELINE_GROUP_ID", "topics", 1);
        setenv("CUSTOMSFLOW_METRICS_LISTEN", "127.0.0.1:0", 1);
        cf_service *s = cf_service_new(&h->cfg, h->bootstrap, err, n);
        assert_non_null(s);
        assert_int_equal(cf_service_start(s, err, n), -1);
        fprintf(stderr, "refused: %s\n", err);
        assert_non_null(strstr(err, want));
        cf_service_destroy(s);
}

static void test_missing_changelog_refused(void **state)
{
        (void)state;
        kh h;
        kh_start(&h, 1, 2);
        char err[1024];
        setenv("CUSTOMSFLOW_TOPICS_CHANGELOG", "app.changelog", 1);
        start_refused(&h, "topics.changelog 'app.changelog' does not exist", err, sizeof err);
        /* told to create it: the mock has no CreateTopics, so it is refused too,
         * with the broker's reason (a real broker creates it) */
        setenv("CUSTOMSFLOW_TOPICS_CREATE", "true", 1);
        start_refused(&h, "cannot create topic", err, sizeof err);
        unsetenv("CUSTOMSFLOW_TOPICS_CREATE");
        /* what a broker's auto-creation would have made: one partition for two */
        setenv("CUSTOMSFLOW_TOPICS_CHANGELOG", "customs.stats", 1);
        start_refused(&h, "has 1 partition(s), the input 'customs.declarations' has 2", err,
                      sizeof err);
        unsetenv("CUSTOMSFLOW_TOPICS_CHANGELOG");
        setenv("CUSTOMSFLOW_TOPICS_INPUT", "no.such.input", 1);
        start_refused(&h, "topics.input 'no.such.input' does not exist", err, sizeof err);
        unsetenv("CUSTOMSFLOW_TOPICS_INPUT");
        kh_stop(&h);
}

#define SKIPPED_P0                                                                                 \
        "customsflow_offsets_skipped_total{topic=\"customs.declarations\",partition=\"0\"}"

static void test_offset_reset_counted(void **state)
{
        (void)state;
        unsetenv("CUSTOMSFLOW_TOPICS_CHANGELOG"); /* a failed test before may have left them */
        unsetenv("CUSTOMSFLOW_TOPICS_CREATE");
        unsetenv("CUSTOMSFLOW_TOPICS_INPUT");
        kh h;
        kh_start(&h, 1, 1);
        char err[512];
        /* the group read up to offset 1, then went away ... */
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_conf_set(c, "bootstrap.servers", h.bootstrap, NULL, 0);
        rd_kafka_conf_set(c, "group.id", "reset", NULL, 0);
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, "customs.declarations", 0)->offset = 1;
        assert_int_equal(rd_kafka_commit(rk, l, 0), 0);
        rd_kafka_topic_partition_list_destroy(l);
        /* ... while more was produced than the mock keeps: the oldest records are gone */
        kh_produce_gen(&h, 71, 30000, 0.0, 0.0);
        int64_t lo = 0, hi = 0;
        assert_int_equal(
            rd_kafka_query_watermark_offsets(rk, "customs.declarations", 0, &lo, &hi, 10000), 0);
        rd_kafka_destroy(rk);
        fprintf(stderr, "partition 0 holds offsets %lld..%lld\n", (long long)lo, (long long)hi);
        assert_true(lo > 1);
        cf_service *s = kh_service(&h, "reset", 1);
        assert_true(kh_wait_in(s, (uint64_t)(hi - lo), 60));
        for (int i = 0; i < 30 && kh_metric(s, SKIPPED_P0) < 0; i++)
                usleep(100 * 1000); /* published once a second */
        long long skipped = kh_metric(s, SKIPPED_P0);
        fprintf(stderr, "skipped offsets: %lld\n", skipped);
        assert_int_equal(skipped, lo - 1);
        cf_counters k;
        cf_service_counters(s, &k);
        assert_int_equal(k.in, hi - lo); /* read from the log start on */
        cf_service_stop(s);
        assert_int_equal(cf_service_wait(s), 0);
        cf_service_destroy(s);
        kh_stop(&h);
}

#define API_FETCH         1 /* Kafka protocol ApiKeys */
#define API_OFFSET_COMMIT 8

/* Commits that keep failing are counted and turn /readyz to 503 ("degraded")
 * after pipeline.failures_not_ready in a row; once they go through again the
 * service is ready again (each failure is retried at the next commit). */
static void test_commit_failures_not_ready(void **state)
{
        (void)state;
        unsetenv("CUSTOMSFLOW_TOPICS_CHANGELOG");
        setenv("CUSTOMSFLOW_PIPELINE_COMMIT_INTERVAL", "100ms", 1);
        setenv("CUSTOMSFLOW_STATE_CHANGELOG", "false", 1);
        kh h;
        kh_start(&h, 1, 1);
        cf_service *s = kh_service(&h, "commits", 1);
        assert_true(kh_wait_assigned(s, 1, 60));
        char body[256];
        for (int i = 0; i < 100 && http_get(s, "/readyz", body, sizeof body) != 200; i++)
                usleep(50 * 1000);
        /* 20 refusals: at one commit every 100 ms, ~2 s of failing commits */
        rd_kafka_resp_err_t errs[20];
        for (int i = 0; i < 20; i++)
                errs[i] = RD_KAFKA_RESP_ERR_OFFSET_METADATA_TOO_LARGE; /* refused, not retried */
        rd_kafka_mock_push_request_errors_array(h.mc, API_OFFSET_COMMIT, 20, errs);
        poller p = {.s = s};
        pthread_t th;
        pthread_create(&th, NULL, poll_main, &p);
        kh_reproduce(&h, 91, 50, 0.0, 0.0, 0, 50); /* something to commit */
        bool degraded = false, ready_again = false;
        double t0 = cf_mono_s();
        while (!ready_again && cf_mono_s() - t0 < 30) {
                usleep(50 * 1000);
                for (int i = 0; i < p.n_seen; i++) {
                        degraded |= !strcmp(p.seen[i], "degraded");
                        ready_again |= degraded && !strcmp(p.seen[i], "ready");
                }
        }
        p.stop = true;
        pthread_join(th, NULL);
        long long errors = 0;
        for (int i = 0; i < 30 && errors < 3; i++) { /* /metrics is published once a second */
                errors = kh_metric(s, "customsflow_commit_errors_total");
                usleep(100 * 1000);
        }
        fprintf(stderr, "commit errors %lld, degraded %d, ready again %d\n", errors, degraded,
                ready_again);
        assert_true(errors >= 3);
        assert_true(degraded);
        assert_true(ready_again);
        cf_service_stop(s);
        assert_int_equal(cf_service_wait(s), 0);
        cf_service_destroy(s);
        kh_stop(&h);
        unsetenv("CUSTOMSFLOW_PIPELINE_COMMIT_INTERVAL");
        unsetenv("CUSTOMSFLOW_STATE_CHANGELOG");
}

/* An authorization failure a broker reports (the mock cannot fail TLS or SASL,
 * but it can answer the service's fetches with TOPIC_AUTHORIZATION_FAILED, as
 * a broker does without a Read ACL): counted, /healthz fails, the instance
 * stops with an error within seconds (kafka.fail_on_auth_error, the default). */
static void test_authorization_failure_fails_fast(void **state)
{
        (void)state;
        unsetenv("CUSTOMSFLOW_TOPICS_CHANGELOG");
        kh h;
        kh_start(&h, 1, 1);
        cf_service *s = kh_service(&h, "acl", 1);
        assert_true(kh_wait_assigned(s, 1, 60));
        rd_kafka_resp_err_t errs[8];
        for (int i = 0; i < 8; i++)
                errs[i] = RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED;
        double t0 = cf_mono_s();
        rd_kafka_mock_push_request_errors_array(h.mc, API_FETCH, 8, errs);
        char body[512];
        while (!cf_service_failed(s) && cf_mono_s() - t0 < 15)
                usleep(50 * 1000);
        double took = cf_mono_s() - t0;
        cf_service_stop(s); /* (already stopping when it failed) */
        int rc = cf_service_wait(s);
        int code = http_get(s, "/healthz", body, sizeof body);
        fprintf(stderr, "stopped %.1f s after the failure (exit code %d); /healthz %d: %s", took,
                rc, code, body);
        assert_int_equal(rc, 1);
        assert_true(took < 15);
        assert_int_equal(code, 503);
        assert_non_null(strstr(body, "TOPIC_AUTHORIZATION_FAILED"));
        cf_buf b = {0};
        cf_service_metrics(s, &b);
        cf_buf_putc(&b, '\0');
        assert_null(strstr(b.p, "customsflow_kafka_auth_errors_total 0\n"));
        cf_buf_free(&b);
        cf_service_destroy(s);
        kh_stop(&h);
}

int main(int argc, char **argv)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_readyz_transitions),
            cmocka_unit_test(test_http_half_open),
            cmocka_unit_test(test_missing_changelog_refused),
            cmocka_unit_test(test_offset_reset_counted),
            cmocka_unit_test(test_authorization_failure_fails_fast),
            cmocka_unit_test(test_commit_failures_not_ready),
        };
        return CF_RUN_CASES(tests, argc, argv);
}
