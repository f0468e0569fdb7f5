/*
 * test_console_crash.c - the console's Kafka ingestion killed with SIGKILL
 * mid-stream (after its first offset commit) and restarted: every flag of
 * the topic must be exactly one case, every version and reason exactly once,
 * and the group's offsets must reach the end. The topic also holds a
 * re-delivered copy of 400 flags (at-least-once upstream). Committing offsets
 * before the store transaction (or a non-idempotent upsert) makes it fail.
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
#include <sqlite3.h>

#include "helpers/kafka_harness.h"
#include "helpers/test_cases.h"

#define TOPIC "console.flags"
#define PARTS 3

static char tmp[128], db[200];

static pid_t spawn_console(kh *h)
{
        const char *bin = getenv("CF_BIN");
        if (!bin) bin = CF_BINDIR "/customsflow";
        pid_t pid = fork();
        if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                setenv("CUSTOMSFLOW_KAFKA_BOOTSTRAP_SERVERS", h->bootstrap, 1);
                setenv("CUSTOMSFLOW_TOPICS_FLAGS", TOPIC, 1);
                setenv("CUSTOMSFLOW_CONSOLE_GROUP_ID", "crash", 1);
                setenv("CUSTOMSFLOW_CONSOLE_INGEST_BATCH", "100", 1); /* many transactions */
                setenv("CUSTOMSFLOW_CONSOLE_PUBLISH", "false", 1);
                setenv("CUSTOMSFLOW_LOG_LEVEL", "warn", 1);
                setenv("CUSTOMSFLOW_KAFKA_CONSUMER_MAX_PARTITION_FETCH_BYTES", "8192", 1);
                setenv("CUSTOMSFLOW_KAFKA_CONSUMER_SESSION_TIMEOUT_MS", "6000", 1);
                execl(bin, bin, "console", "-c", CF_SRCDIR "/deploy/examples/customsflow.yaml",
                      "--db", db, "--listen", "127.0.0.1:0", (char *)NULL);
                _exit(127);
        }
        return pid;
}

/* Sum over the topic of committed offsets of group "crash" (0 when none). */
static int64_t committed(kh *h)
{
        char err[512];
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_conf_set(c, "bootstrap.servers", h->bootstrap, NULL, 0);
        rd_kafka_conf_set(c, "group.id", "crash", NULL, 0);
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(PARTS);
        for (int p = 0; p < PARTS; p++)
                rd_kafka_topic_partition_list_add(l, TOPIC, p);
        int64_t sum = 0;
        if (!rd_kafka_committed(rk, l, 10000))
                for (int p = 0; p < PARTS; p++)
                        sum += l->elems[p].offset > 0 ? l->elems[p].offset : 0;
        rd_kafka_topic_partition_list_destroy(l);
        rd_kafka_destroy(rk);
        return sum;
}

static long long q(const char *sql)
{
        sqlite3 *d;
        sqlite3_stmt *st;
        long long n = -1;
        if (sqlite3_open_v2(db, &d, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
            sqlite3_prepare_v2(d, sql, -1, &st, NULL) == SQLITE_OK) {
                sqlite3_busy_timeout(d, 5000);
                if (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int64(st, 0);
                sqlite3_finalize(st);
        }
        sqlite3_close(d);
        return n;
}

typedef struct expect {
        size_t lines;
        long long reasons; /* of the distinct lines */
} expect;

/* Produce every line of the flags file (key declaration_id), then the first
 * 400 again; returns the number of messages produced. */
static int64_t produce_flags(kh *h, const char *path, expect *e)
{
        char err[512];
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_conf_set(c, "bootstrap.servers", h->bootstrap, NULL, 0);
        rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
        int64_t n = 0;
        for (int pass = 0; pass < 2; pass++) {
                FILE *f = fopen(path, "r");
                assert_non_null(f);
                char *line = NULL;
                size_t cap = 0;
                ssize_t len;
                for (size_t i = 0; (len = getline(&line, &cap, f)) > 0; i++) {
                        if (pass == 1 && i >= 400) break;
                        if (pass == 0) {
                                e->lines++;
                                for (char *s = line; (s = strstr(s, "\"rule\":")); s++)
                                        e->reasons++;
                        }
                        char *id = strstr(line, "\"declaration_id\":\"") + 18;
                        size_t idn = strcspn(id, "\"");
                        while (rd_kafka_producev(p, RD_KAFKA_V_TOPIC(TOPIC),
                                                 RD_KAFKA_V_KEY(id, idn),
                                                 RD_KAFKA_V_VALUE(line, (size_t)len - 1),
                                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                                 RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                                rd_kafka_poll(p, 10);
                        n++;
                }
                free(line);
                fclose(f);
        }
        assert_int_equal(rd_kafka_flush(p, 30000), 0);
        rd_kafka_destroy(p);
        return n;
}

static void test_kill9_exactly_one_case(void **state)
{
        (void)state;
        const char *bin = getenv("CF_BIN");
        if (!bin) bin = CF_BINDIR "/customsflow";
        snprintf(tmp, sizeof tmp, "/tmp/cf_console_crash_%d", getpid());
        snprintf(db, sizeof db, "%s/console.db", tmp);
        char cmd[1024];
        snprintf(cmd, sizeof cmd,
                 "mkdir -p %s && %s gen --seed 9 --count 30000 --fraud-rate 0.25 --out %s/d.jsonl "
                 "2>/dev/null && %s replay --in %s/d.jsonl --flags %s/f.jsonl >/dev/null",
                 tmp, bin, tmp, bin, tmp, tmp);
        assert_int_equal(system(cmd), 0);
        kh h;
        kh_start(&h, 1, 1);
        assert_int_equal(rd_kafka_mock_topic_create(h.mc, TOPIC, PARTS, 1), 0);
        char path[200];
        snprintf(path, sizeof path, "%s/f.jsonl", tmp);
        expect e = {0};
        int64_t total = produce_flags(&h, path, &e);
        assert_true(e.lines > 3000);
        pid_t a = spawn_console(&h);
        int64_t done = 0;
        for (int i = 0; i < 600 && done == 0; i++) {
                usleep(20 * 1000);
                done = committed(&h);
        }
        assert_true(done > 0);     /* it committed something ... */
        assert_true(done < total); /* ... but not everything: killed mid-stream */
        kill(a, SIGKILL);
        int st;
        waitpid(a, &st, 0);
        long long before = q("SELECT count(*) FROM cases");
        print_message("killed at %lld of %lld offsets, %lld cases stored\n", (long long)done,
                      (long long)total, before);
        pid_t b = spawn_console(&h);
        for (int i = 0; i < 1200 && committed(&h) < total; i++)
                usleep(50 * 1000);
        assert_int_equal(committed(&h), total);
        kill(b, SIGTERM);
        waitpid(b, &st, 0);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        /* every distinct flag line is one version; distinct declarations are the cases */
        long long cases = q("SELECT count(*) FROM cases");
        long long distinct = q("SELECT count(DISTINCT declaration_id || '/' || line) FROM cases");
        assert_int_equal(cases, distinct);
        assert_int_equal(q("SELECT count(*) FROM versions"), (long long)e.lines);
        assert_int_equal(q("SELECT count(*) FROM reasons"), e.reasons);
        snprintf(
            cmd, sizeof cmd,
            "test $(sed "
            "'s/.*\"declaration\":{\"declaration_id\":\"\\([^\"]*\\)\",\"line\":\\([0-9]*\\).*/"
            "\\1\\/\\2/' "
            "%s/f.jsonl | sort -u | wc -l) -eq %lld",
            tmp, cases);
        assert_int_equal(system(cmd), 0); /* cases = distinct (declaration_id, line) of the topic */
        kh_stop(&h);
        snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
        system(cmd);
}

int main(int argc, char **argv)
{
        const struct CMUnitTest tests[] = {cmocka_unit_test(test_kill9_exactly_one_case)};
        return CF_RUN_CASES(tests, argc, argv);
}
