/*
 * test_kafka_population.c - population state shared across the group (issue
 * 13 items 3-4, DESIGN §6): two `customsflow run` processes in one consumer
 * group on the mock cluster (8 input partitions), fed a generated stream at a
 * live pace, flag what one `replay` of the same stream flags (Jaccard of the
 * flagged lines >= 0.99), including certificates reused by exporters whose
 * records went to different partitions (and different processes); and
 * `replay --partitions 8` puts every record in the partition the producer's
 * partitioner chose; and one in-process service on a backlog, inside one commit
 * interval, still sees the stream's certificate reuses and unit-value baselines
 * (pipeline.publish_records; with exactly_once, the reuses).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "bench/gen/gen.h"
#include "helpers/kafka_harness.h"
#include "pipeline/core/clock.h"
#include "stages/detect/detect.h"
#include "helpers/test_cases.h"

#define N     40000
#define SEED  61
#define PARTS 8
#define PER_S 4000.0 /* a live stream: ten seconds */
#define GROUP "population"

static const char *bin(void)
{
        const char *b = getenv("CF_BIN");
        return b ? b : CF_BINDIR "/customsflow";
}

static pid_t spawn_run(kh *h, int port)
{
        char listen[64];
        snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
        const char *const env[] = {"CUSTOMSFLOW_METRICS_LISTEN",
                                   listen,
                                   "CUSTOMSFLOW_PIPELINE_BATCH_SIZE",
                                   "500",
                                   "CUSTOMSFLOW_PIPELINE_COMMIT_INTERVAL",
                                   "100ms",
                                   "CUSTOMSFLOW_LOG_LEVEL",
                                   "warn",
                                   NULL};
        return kh_spawn_run(h, GROUP, env);
}

/* Status of GET /readyz on port (0: no answer). */
static int readyz(int port)
{
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
        struct timeval tv = {.tv_sec = 2};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        int code = 0;
        char buf[1024];
        const char req[] = "GET /readyz HTTP/1.0\r\nHost: x\r\n\r\n";
        if (!connect(fd, (struct sockaddr *)&a, sizeof a) &&
            write(fd, req, sizeof req - 1) == (ssize_t)(sizeof req - 1)) {
                ssize_t r = read(fd, buf, sizeof buf - 1);
                if (r > 0) {
                        buf[r] = '\0';
                        sscanf(buf, "HTTP/1.%*d %d", &code);
                }
        }
        close(fd);
        return code;
}

/* The stream as lines (the generator is deterministic: what kh_produce_gen_paced sent). */
static char **stream_lines(void)
{
        char err[256];
        cf_gen_opts o;
        cf_gen_opts_default(&o);
        o.seed = SEED;
        o.count = N;
        o.bad_rate = 0.01;
        o.dup_rate = 0.02;
        cf_gen *g = cf_gen_new(&o, err, sizeof err);
        if (!g) fail_msg("%s", err);
        char **lines = calloc(N, sizeof *lines);
        cf_buf line = {0}, key = {0};
        for (size_t i = 0; i < N; i++) {
                line.len = key.len = 0;
                if (cf_gen_next(g, &line, &key, NULL)) fail_msg("short stream");
                lines[i] = strndup(line.p, line.len);
        }
        cf_buf_free(&line);
        cf_buf_free(&key);
        cf_gen_free(g);
        return lines;
}

/* Rules a flag message names, as a bit set (registry positions). */
static uint32_t rules_of(const char *msg)
{
        cf_rule_set rs;
        char err[128];
        cf_detect_rule_set(&rs, err, sizeof err);
        uint32_t m = 0;
        for (int i = 0; i < rs.n; i++) {
                char pat[96];
                snprintf(pat, sizeof pat, "\"rule\":\"%s\"", rs.names[i]);
                if (strstr(msg, pat)) m |= 1u << i;
        }
        return m;
}

typedef struct flags {
        kh *h;
        uint32_t *by_line; /* rules fired, by stream index */
} flags;

/* A flag from the flags topic: source partition and offset -> stream index. */
static void on_flag(const rd_kafka_message_t *m, void *op)
{
        flags *f = op;
        const char *src = strstr((const char *)m->payload, "\"source\":{");
        if (!src) fail_msg("flag without source");
        int part = -1;
        long long off = -1;
        const char *pp = strstr(src, "\"partition\":"), *po = strstr(src, "\"offset\":");
        if (!pp || !po || sscanf(pp, "\"partition\":%d", &part) != 1 ||
            sscanf(po, "\"offset\":%lld", &off) != 1)
                fail_msg("flag source unreadable");
        char *msg = strndup(m->payload, m->len);
        for (size_t i = 0; i < f->h->n_msgs; i++)
                if (f->h->msgs[i].partition == part && f->h->msgs[i].offset == off) {
                        f->by_line[i] |= rules_of(msg);
                        break;
                }
        free(msg);
}

static void replay_flags(char **lines, uint32_t *by_line)
{
        char dir[] = "/tmp/cf-population-XXXXXX", in[256], out[256], cmd[1024];
        assert_non_null(mkdtemp(dir));
        snprintf(in, sizeof in, "%s/in.jsonl", dir);
        snprintf(out, sizeof out, "%s/flags.jsonl", dir);
        FILE *f = fopen(in, "w");
        for (size_t i = 0; i < N; i++)
                fprintf(f, "%s\n", lines[i]);
        fclose(f);
        snprintf(cmd, sizeof cmd, "%s replay --no-progress --in %s --flags %s > /dev/null", bin(),
                 in, out);
        assert_int_equal(system(cmd), 0);
        f = fopen(out, "r");
        char *ln = NULL;
        size_t cap = 0;
        while (getline(&ln, &cap, f) > 0) {
                const char *src = strstr(ln, "\"source\":{");
                long long line = 0;
                const char *pl = src ? strstr(src, "\"line\":") : NULL;
                if (!pl || sscanf(pl, "\"line\":%lld", &line) != 1 || line < 1 || line > N)
                        fail_msg("replay flag without a line");
                by_line[line - 1] |= rules_of(ln);
        }
        free(ln);
        fclose(f);
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd)) {
        }
}

/* First stream index using certificate cert, or -1. */
static long first_use(char **lines, const char *cert)
{
        char c[128];
        for (size_t i = 0; i < N; i++) {
                kh_json_str(lines[i], "certificate_of_origin", c, sizeof c);
                if (!strcmp(c, cert)) return (long)i;
        }
        return -1;
}

/* Rules fired per stream index: by the run (h's flags topic) and by replay of lines. */
static void rules_by_line(kh *h, char **lines, uint32_t **kafka, uint32_t **replay)
{
        *kafka = calloc(N, sizeof **kafka);
        *replay = calloc(N, sizeof **replay);
        flags f = {h, *kafka};
        kh_read_topic(h, "customs.flags", on_flag, &f);
        replay_flags(lines, *replay);
}

/* What the run's flags (on h's flags topic) share with replay's of the same lines. */
typedef struct agreement {
        double jaccard;            /* of the flagged lines */
        size_t cross;              /* certificate reuses whose first use was in another partition */
        size_t run_cert, rep_cert; /* certificate_reuse flags: the run's, replay's */
        size_t any;                /* lines flagged by either */
} agreement;

static agreement compare(kh *h, char **lines)
{
        agreement a = {0};
        uint32_t *kafka, *replay;
        rules_by_line(h, lines, &kafka, &replay);
        size_t both = 0, nk = 0, nr = 0;
        int cert = cf_detect_rule_index("certificate_reuse");
        cf_rule_set rs;
        char err[128];
        cf_detect_rule_set(&rs, err, sizeof err);
        size_t per_k[CF_RULES_MAX] = {0}, per_r[CF_RULES_MAX] = {0}, per_both[CF_RULES_MAX] = {0};
        for (size_t i = 0; i < N; i++) {
                both += kafka[i] && replay[i];
                nk += kafka[i] != 0;
                nr += replay[i] != 0;
                a.any += kafka[i] || replay[i];
                for (int r = 0; r < rs.n; r++) {
                        per_k[r] += kafka[i] >> r & 1;
                        per_r[r] += replay[i] >> r & 1;
                        per_both[r] += (kafka[i] & replay[i]) >> r & 1;
                }
                if (!(kafka[i] >> cert & 1)) continue;
                /* a reuse whose first use went to another partition */
                char c[128];
                kh_json_str(lines[i], "certificate_of_origin", c, sizeof c);
                long first = first_use(lines, c);
                if (first >= 0 && h->msgs[first].partition != h->msgs[i].partition) a.cross++;
        }
        a.jaccard = a.any ? (double)both / (double)a.any : 0;
        a.run_cert = per_k[cert];
        a.rep_cert = per_r[cert];
        for (int r = 0; r < rs.n; r++)
                if (per_k[r] || per_r[r])
                        printf("  %-32s run %5zu replay %5zu both %5zu\n", rs.names[r], per_k[r],
                               per_r[r], per_both[r]);
        printf("flagged lines: run %zu, replay %zu, Jaccard %.4f; certificate reuses across "
               "partitions flagged by the run: %zu\n",
               nk, nr, a.jaccard, a.cross);
        free(kafka);
        free(replay);
        return a;
}

static void free_lines(char **lines)
{
        for (size_t i = 0; i < N; i++)
                free(lines[i]);
        free(lines);
}

static void test_two_processes_flag_what_replay_flags(void **state)
{
        (void)state;
        kh h;
        kh_start(&h, 1, PARTS);
        char **lines = stream_lines();
        int port[2] = {kh_free_port(), kh_free_port()};
        pid_t pid[2] = {spawn_run(&h, port[0]), spawn_run(&h, port[1])};
        /* both ready: both assigned (the group formed with both) and both read the
         * population topics */
        double t0 = cf_mono_s();
        while ((readyz(port[0]) != 200 || readyz(port[1]) != 200) && cf_mono_s() - t0 < 60)
                usleep(200 * 1000);
        assert_int_equal(readyz(port[0]), 200);
        assert_int_equal(readyz(port[1]), 200);
        kh_produce_gen_paced(&h, SEED, N, 0.01, 0.02, PER_S);
        for (int i = 0; i < 1200 && kh_uncommitted(&h, GROUP) != 0; i++)
                usleep(100 * 1000);
        assert_int_equal(kh_uncommitted(&h, GROUP), 0);
        for (int i = 0; i < 2; i++) {
                int st;
                kill(pid[i], SIGTERM);
                waitpid(pid[i], &st, 0);
                assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        }
        /* the messages of the stream are the lines, in order */
        assert_int_equal(h.n_msgs, N);
        for (size_t i = 0; i < N; i++) {
                char exp[64];
                kh_json_str(lines[i], "exporter_id", exp, sizeof exp);
                if (exp[0] && !strcmp(h.msgs[i].kind, "valid"))
                        assert_int_equal(cf_partition_of(exp, strlen(exp), PARTS),
                                         h.msgs[i].partition);
        }
        agreement a = compare(&h, lines);
        assert_true(a.any > 1000);
        assert_true(a.jaccard >= 0.99);
        assert_true(a.cross >= 5);
        free_lines(lines);
        kh_stop(&h);
}

/* Certificate reuses replay flags at lines [from, N) whose first use is at a line before
 * from in another partition (*expect), and of them those the run flagged too. Over the
 * whole stream, the run flags >= 95 % of replay's reuses (and, with baselines, >= 80 % of
 * its unit-value outliers). */
static size_t reuses_after(kh *h, char **lines, size_t from, bool baselines, size_t *expect)
{
        uint32_t *kafka, *replay;
        rules_by_line(h, lines, &kafka, &replay);
        int cert = cf_detect_rule_index("certificate_reuse");
        int uv = cf_detect_rule_index("unit_value_outlier");
        size_t seen = 0, all_k = 0, all_r = 0, uv_k = 0, uv_r = 0;
        *expect = 0;
        for (size_t i = 0; i < N; i++) {
                all_k += kafka[i] >> cert & 1;
                all_r += replay[i] >> cert & 1;
                uv_k += kafka[i] >> uv & 1;
                uv_r += replay[i] >> uv & 1;
        }
        printf("flags in all: certificate_reuse the run %zu, replay %zu; unit_value_outlier the "
               "run %zu, replay %zu\n",
               all_k, all_r, uv_k, uv_r);
        if (baselines) { /* every publish_records (5,000 here) */
                assert_true(uv_r >= 20);
                assert_true(uv_k * 10 >= uv_r * 8);
        }
        /* a worker's own uses are in its replica from the next batch on, and its partitions
         * go in timestamp order (pipeline.align_buffer): what is missed is reuses within a
         * batch (99 and 101 of 101 seen; in fetch order, align_buffer 0, 84 and 87) */
        assert_true(all_r >= 50);
        assert_true(all_k * 100 >= all_r * 95);
        for (size_t i = from; i < N; i++) {
                if (!(replay[i] >> cert & 1)) continue;
                char c[128];
                kh_json_str(lines[i], "certificate_of_origin", c, sizeof c);
                long first = first_use(lines, c);
                if (first < 0 || (size_t)first >= from ||
                    h->msgs[first].partition == h->msgs[i].partition)
                        continue;
                ++*expect;
                seen += kafka[i] >> cert & 1;
        }
        free(kafka);
        free(replay);
        return seen;
}

/* The backlog cases: one in-process service (eos: exactly_once, whose commit must come
 * within the transaction timeout; else a commit_interval of 1 h, no commit until the
 * stop). The stream's first half is a backlog; once it is processed and a second has
 * passed, the second half comes. */
static void backlog_case(bool eos)
{
        kh h;
        kh_start(&h, 1, PARTS);
        char **lines = stream_lines();
        setenv("CUSTOMSFLOW_PIPELINE_COMMIT_INTERVAL", eos ? "30s" : "1h", 1);
        if (eos) {
                setenv("CUSTOMSFLOW_PROCESSING_GUARANTEE", "exactly_once", 1);
                setenv("CUSTOMSFLOW_PIPELINE_INSTANCE_ID", "population-eos", 1);
        }
        /* the default is 50,000; set from outside, that value (0: the test fails) */
        bool own = !getenv("CUSTOMSFLOW_PIPELINE_PUBLISH_RECORDS");
        if (own) setenv("CUSTOMSFLOW_PIPELINE_PUBLISH_RECORDS", "5000", 1);
        kh_produce_gen_part(&h, SEED, N, 0.01, 0.02, 0, N / 2);
        cf_service *s = kh_service(&h, eos ? "population-eos" : "population-backlog", 1);
        assert_true(kh_wait_in(s, N / 2, 120));
        sleep(1);
        kh_produce_gen_part(&h, SEED, N, 0.01, 0.02, N / 2, N);
        assert_true(kh_wait_in(s, N, 120));
        kh_finish(s, NULL);
        unsetenv("CUSTOMSFLOW_PIPELINE_COMMIT_INTERVAL");
        unsetenv("CUSTOMSFLOW_PROCESSING_GUARANTEE");
        unsetenv("CUSTOMSFLOW_PIPELINE_INSTANCE_ID");
        if (own) unsetenv("CUSTOMSFLOW_PIPELINE_PUBLISH_RECORDS");
        assert_int_equal(h.n_msgs, N);
        size_t expect, seen = reuses_after(&h, lines, N / 2, !eos, &expect);
        printf("certificate reuses in the second half, first used in the first half in another "
               "partition: replay %zu, the run %zu\n",
               expect, seen);
        assert_true(expect >= 5);
        assert_int_equal(seen, expect);
        free_lines(lines);
        kh_stop(&h);
}

/* at_least_once: a partition's population contributions reach the other partitions' rules
 * only through the publishes between commits (pipeline.publish_records, 5,000 here;
 * certificate uses after every batch, into the worker's own replica at once), and the
 * backlog's partitions go in timestamp order. The run flags at least 95 % of the
 * certificate reuses and 80 % of the unit-value outliers replay flags in the whole stream
 * (83-86 % of the reuses in fetch order: CUSTOMSFLOW_PIPELINE_ALIGN_BUFFER=0; 39-53 % with
 * uses published only every 100 ms; none of either at commits only), and every reuse replay
 * flags in the second half of a certificate first used in the first half, in another
 * partition (none with publishes at commits only: CUSTOMSFLOW_PIPELINE_PUBLISH_RECORDS=0). */
static void test_backlog_publishes_between_commits(void **state)
{
        (void)state;
        backlog_case(false);
}

/* exactly_once: the uses of each batch are in the transaction (the other workers see them
 * at its commit), and in the worker's own replica at once: one worker flags the reuses as
 * above (the baselines wait for the commit). */
static void test_backlog_uses_exactly_once(void **state)
{
        (void)state;
        backlog_case(true);
}

int main(int argc, char **argv)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_two_processes_flag_what_replay_flags),
            cmocka_unit_test(test_backlog_publishes_between_commits),
            cmocka_unit_test(test_backlog_uses_exactly_once)};
        return CF_RUN_CASES(tests, argc, argv);
}
