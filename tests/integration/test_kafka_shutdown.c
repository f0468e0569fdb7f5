/*
 * test_kafka_shutdown.c - `customsflow run` as child processes:
 *  - SIGTERM at full rate, 20 times (10 at a time, each its own group, each
 *    consuming a backlog as fast as it can): every run exits 0 (it aborted
 *    with exit 134 in librdkafka's rd_kafka_q_serve assert when close served
 *    fetched messages as callbacks), commits exactly what it processed
 *    (nothing lost, nothing to re-process), and leaves its group (the
 *    coordinator answered its LeaveGroup); every line it wrote on stderr,
 *    librdkafka's included, is a JSON log line.
 *  - SIGTERM while the cluster is unreachable at start: exit 0 within 2 s
 *    (start-up made blocking metadata requests, 4 x 5 s, before).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers/kafka_harness.h"
#include "pipeline/core/clock.h"
#include "helpers/test_cases.h"

#define N          240000 /* records produced (the mock keeps the last ~5 MB of each partition) */
#define PARTITIONS 32     /* ~7k records each: a backlog no run drains in 0.5 s */
#define RUNS       20
#define AT_ONCE    10

static pid_t spawn_run(const char *bootstrap, const char *group, const char *log)
{
        const char *const env[] = {"CUSTOMSFLOW_PIPELINE_COMMIT_INTERVAL",
                                   "200ms",
                                   "CUSTOMSFLOW_KAFKA_CONSUMER_SESSION_TIMEOUT_MS",
                                   "30000",
                                   "CUSTOMSFLOW_LOG_LEVEL",
                                   "debug",
                                   "CUSTOMSFLOW_KAFKA_CONSUMER_DEBUG", /* LeaveGroup in the log */
                                   "cgrp",
                                   NULL};
        return kh_spawn_run_at(bootstrap, group, log, env);
}

/* Records of the input a group has committed: per partition, its committed
 * offset minus the log start (the mock keeps a few MB per partition and had
 * deleted the oldest records before any run started). */
static int64_t committed_records(kh *h, const char *group, int64_t *available)
{
        char err[512];
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_conf_set(c, "bootstrap.servers", h->bootstrap, NULL, 0);
        rd_kafka_conf_set(c, "group.id", group, NULL, 0);
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(h->partitions);
        for (int p = 0; p < h->partitions; p++)
                rd_kafka_topic_partition_list_add(l, "customs.declarations", p);
        assert_int_equal(rd_kafka_committed(rk, l, 10000), 0);
        int64_t sum = 0;
        *available = 0;
        for (int p = 0; p < h->partitions; p++) {
                int64_t lo = 0, hi = 0;
                assert_int_equal(rd_kafka_query_watermark_offsets(rk, "customs.declarations", p,
                                                                  &lo, &hi, 10000),
                                 0);
                if (l->elems[p].offset > lo) sum += l->elems[p].offset - lo;
                *available += hi - lo;
        }
        rd_kafka_topic_partition_list_destroy(l);
        rd_kafka_destroy(rk);
        return sum;
}

/* Every line of the run's stderr is a JSON log line, librdkafka's included
 * (its own format is "%7|1700000000.000|FAC|client| ..."). */
static bool all_json(const char *log)
{
        FILE *f = fopen(log, "r");
        char line[65536];
        bool ok = f != NULL;
        while (ok && fgets(line, sizeof line, f)) {
                size_t n = strlen(line);
                if (n == sizeof line - 1) continue; /* the rest of a long line */
                ok = !strncmp(line, "{\"ts\":", 6) && n >= 2 && line[n - 2] == '}';
                if (!ok) fprintf(stderr, "%s: not a JSON log line: %.200s", log, line);
        }
        if (f) fclose(f);
        return ok;
}

/* "in" of the run's last log line ("stopped: in N ..."), -1 if absent */
static long long stopped_in(const char *log)
{
        FILE *f = fopen(log, "r");
        char line[4096];
        long long in = -1;
        while (f && fgets(line, sizeof line, f)) {
                const char *p = strstr(line, "stopped: in ");
                if (p) in = atoll(p + 12);
        }
        if (f) fclose(f);
        return in;
}

/* Does the run's log have this text? A run left its group when its log has
 * "LeaveGroup response received" (librdkafka's cgrp debug line: the
 * coordinator answered). The mock cluster has no DescribeGroups to ask, and
 * keeps a group rebalancing for a session timeout even after its last member
 * left, so a joining probe cannot tell either. */
static bool log_has(const char *log, const char *what)
{
        FILE *f = fopen(log, "r");
        char line[8192];
        bool has = false;
        while (f && !has && fgets(line, sizeof line, f))
                has = strstr(line, what) != NULL;
        if (f) fclose(f);
        return has;
}

static void test_sigterm_at_full_rate(void **state)
{
        (void)state;
        kh h;
        kh_start(&h, 1, PARTITIONS);
        kh_produce_gen(&h, 51, N, 0.01, 0.01);
        int64_t backlog;
        committed_records(&h, "nobody", &backlog);
        fprintf(stderr, "backlog: %lld records\n", (long long)backlog);
        char groups[RUNS][32], logs[RUNS][64];
        int exited0 = 0, mid_stream = 0, exact = 0, left = 0, json = 0;
        for (int r = 0; r < RUNS; r += AT_ONCE) {
                pid_t pid[AT_ONCE];
                for (int i = 0; i < AT_ONCE; i++) {
                        snprintf(groups[r + i], sizeof groups[0], "term-%d", r + i);
                        snprintf(logs[r + i], sizeof logs[0], "/tmp/cf_term_%d_%d.log", getpid(),
                                 r + i);
                        pid[i] = spawn_run(h.bootstrap, groups[r + i], logs[r + i]);
                }
                /* SIGTERM 0.1 s after each run's first offset commit (librdkafka's
                 * cgrp debug line; only the worker commits, and only what it
                 * processed): mid-backlog, at full rate, whatever the machine's
                 * speed. A fixed delay after the assignment (or the restore) left
                 * some runs stopped before their first record (the mock cluster
                 * serving ten consumers can take over 0.5 s to a first fetch) and
                 * others past the end of the backlog on a faster machine. */
                double committed_at[AT_ONCE] = {0}, t0 = cf_mono_s();
                for (int left_ = AT_ONCE; left_ > 0 && cf_mono_s() - t0 < 60;) {
                        usleep(20 * 1000);
                        for (int i = 0; i < AT_ONCE; i++) {
                                if (committed_at[i] < 0) continue; /* signalled */
                                if (!committed_at[i] && log_has(logs[r + i], "OffsetCommit for"))
                                        committed_at[i] = cf_mono_s();
                                if (committed_at[i] && cf_mono_s() - committed_at[i] >= 0.1) {
                                        kill(pid[i], SIGTERM);
                                        committed_at[i] = -1;
                                        left_--;
                                }
                        }
                }
                for (int i = 0; i < AT_ONCE; i++)
                        if (committed_at[i] >= 0) kill(pid[i], SIGTERM); /* never committed */
                double t_term = cf_mono_s();
                for (int i = 0; i < AT_ONCE; i++) {
                        int st;
                        waitpid(pid[i], &st, 0);
                        if (i == AT_ONCE - 1)
                                fprintf(stderr, "round %d: stopped %.1f s after the last SIGTERM\n",
                                        r / AT_ONCE, cf_mono_s() - t_term);
                        const char *log = logs[r + i];
                        if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
                                exited0++;
                        else
                                fprintf(stderr, "run %d: %s %d (log %s)\n", r + i,
                                        WIFEXITED(st) ? "exit" : "signal",
                                        WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), log);
                        long long in = stopped_in(log);
                        int64_t avail;
                        long long committed = committed_records(&h, groups[r + i], &avail);
                        if (in > 0 && in < backlog)
                                mid_stream++;
                        else
                                fprintf(stderr, "run %d: stopped having processed %lld of %lld\n",
                                        r + i, in, (long long)backlog);
                        json += all_json(log);
                        if (log_has(log, "LeaveGroup response received"))
                                left++;
                        else
                                fprintf(stderr, "run %d: did not leave its group (log %s)\n", r + i,
                                        log);
                        /* every processed record committed, no committed offset past it */
                        if (in == committed)
                                exact++;
                        else
                                fprintf(stderr, "run %d: processed %lld, committed %lld (log %s)\n",
                                        r + i, in, committed, log);
                }
        }
        fprintf(stderr,
                "%d runs: %d exited 0, %d stopped mid-backlog, %d committed exactly, %d left "
                "their group\n",
                RUNS, exited0, mid_stream, exact, left);
        assert_int_equal(exited0, RUNS);
        assert_int_equal(exact, RUNS);
        assert_int_equal(left, RUNS);
        assert_int_equal(json, RUNS);            /* librdkafka's lines (debug cgrp here) too */
        assert_true(mid_stream >= RUNS * 3 / 4); /* the SIGTERMs did land under load */
        for (int i = 0; i < RUNS; i++)
                unlink(logs[i]);
        kh_stop(&h);
}

static void test_sigterm_while_cluster_unreachable(void **state)
{
        (void)state;
        char log[64];
        snprintf(log, sizeof log, "/tmp/cf_term_unreach_%d.log", getpid());
        pid_t pid = spawn_run("127.0.0.1:1", "unreachable", log); /* nothing listens there */
        sleep(2); /* started: checking topics, retrying the cluster */
        double t0 = cf_mono_s();
        kill(pid, SIGTERM);
        int st = 0;
        while (waitpid(pid, &st, WNOHANG) == 0 && cf_mono_s() - t0 < 10)
                usleep(10 * 1000);
        double took = cf_mono_s() - t0;
        if (took >= 10) { /* still running: fail, without waiting for it */
                kill(pid, SIGKILL);
                waitpid(pid, &st, 0);
        }
        fprintf(stderr, "exit after SIGTERM: %.2f s\n", took);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
        assert_true(took < 2.0);
        unlink(log);
}

int main(int argc, char **argv)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_sigterm_at_full_rate),
            cmocka_unit_test(test_sigterm_while_cluster_unreachable)};
        return CF_RUN_CASES(tests, argc, argv);
}
