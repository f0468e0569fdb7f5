/*
 * test_kafka_restore.c - state restores in the worker loop, partition paused
 * (DESIGN §4, issue 18), and state.on_restore_error:
 *  - retry (default): a corrupt snapshot in the changelog (right key and
 *    headers, damaged bytes) keeps its partition paused -- none of its records
 *    processed or committed -- with customsflow_restore_failing 1, the error
 *    counter growing (retried), /readyz 503 "restoring"; the other partition
 *    goes on.
 *  - start_empty: the same partition starts empty and everything is processed.
 *  - fail: `customsflow run` exits non-zero.
 *  - a transient failure (the changelog partition without a leader) is
 *    retried and succeeds once the leader is back: the restored state
 *    recognises every re-delivered record, and none was processed before.
 *  - the group's committed offsets unknown at the lookup (OffsetFetch answered
 *    late) fail the attempt, retried; never read as "no committed offset".
 *  - the restore consumer's own fetch limit is kept within a configured
 *    message.max.bytes (librdkafka refuses it below): the state still comes back.
 *  - many partitions (more than a restore reads at once) are restored
 *    together: one lookup of committed and changelog end offsets for all of
 *    them, not one per partition (customsflow_restore_lookups_total; the
 *    per-partition restore this replaced made one per partition and waited a
 *    loop turn, batch_timeout, after each), and every partition's state is
 *    its own: every re-delivered record is a duplicate.
 *  - a restore reads the changelog from the offset of the base its committed
 *    offset's metadata names ("cf.clog=<offset>", written with every commit),
 *    not from the beginning: only the records from there are read
 *    (customsflow_restore_records_total); metadata naming an offset that
 *    holds no chain covering the committed offset (inside a base), or no
 *    metadata at all (older builds), reads the whole log, and the state is
 *    whole either way.
 *  - after a restore of a base and its deltas, the next checkpoint is a delta
 *    on that chain (not a full snapshot), the commits name the same base, and
 *    the state restored from there is whole.
 *  - a base replaced by a newer one is tombstoned once the newer one's
 *    offsets are committed, even when the instance stops right after.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers/kafka_harness.h"
#include "helpers/prom.h"
#include "pipeline/core/clock.h"
#include "helpers/test_cases.h"

#define N    2000
#define SEED 81
#define BAD  0.02

#define SERIES(name, p) name "{topic=\"customs.declarations\",partition=\"" #p "\"}"

static size_t count_part(const kh *h, int32_t p, size_t from, size_t to, const char *kind)
{
        size_t n = 0;
        for (size_t i = from; i < to; i++)
                n += h->msgs[i].partition == p && (!kind || !strcmp(h->msgs[i].kind, kind));
        return n;
}

/* The value of series on /metrics (def when absent, -1 when /metrics fails). */
static double metric(cf_service *s, const char *series, double def)
{
        cf_buf b = {0};
        double v = prom_http_get(cf_service_metrics_addr(s), "/metrics", &b) == 200
                       ? prom_value(b.p, series, def)
                       : -1;
        cf_buf_free(&b);
        return v;
}

static bool wait_metric(cf_service *s, const char *series, double at_least, double timeout_s)
{
        double t0 = cf_mono_s();
        while (cf_mono_s() - t0 < timeout_s) {
                if (metric(s, series, 0) >= at_least) return true;
                usleep(100 * 1000);
        }
        fprintf(stderr, "%s stayed below %g for %.0f s\n", series, at_least, timeout_s);
        return false;
}

/* A snapshot of input partition p of group with the right key and headers and damaged bytes. */
static void corrupt_snapshot(kh *h, const char *group, int32_t p)
{
        char key[128];
        snprintf(key, sizeof key, "%s/customs.declarations/%d/0", group, (int)p);
        static const char damaged[] = "CFST\x02\xff\xff\xff\xffnot a snapshot of any stage";
        kh_produce_raw(h, "customsflow.changelog", p, key, damaged, sizeof damaged - 1,
                       "cf.snapshot", "7", "cf.chunks", "1", "cf.offset", "0", NULL);
}

static void test_corrupt_snapshot_retry(void **state)
{
        (void)state;
        kh h;
        kh_start(&h, 1, 2);
        kh_produce_gen(&h, SEED, N, BAD, 0.0);
        corrupt_snapshot(&h, "rretry", 0);
        setenv("CUSTOMSFLOW_STATE_RESTORE_BACKOFF", "200ms", 1);
        cf_service *s = kh_service(&h, "rretry", 1);
        size_t n1 = count_part(&h, 1, 0, h.n_msgs, NULL);
        assert_true(kh_wait_in(s, n1, 60)); /* partition 1 goes on */
        assert_true(wait_metric(s, "customsflow_restore_errors_total", 3, 30)); /* retried */
        assert_int_equal(metric(s, SERIES("customsflow_restore_failing", 0), -1), 1);
        assert_int_equal(metric(s, SERIES("customsflow_restore_failing", 1), 0), 0);
        assert_int_equal(metric(s, "customsflow_partitions_restoring", -1), 1);
        cf_buf b = {0};
        assert_int_equal(prom_http_get(cf_service_metrics_addr(s), "/readyz", &b), 503);
        fprintf(stderr, "/readyz: %s\n", b.p);
        assert_non_null(strstr(b.p, "restoring"));
        assert_non_null(strstr(b.p, "failing"));
        cf_buf_free(&b);
        /* none of partition 0's records processed: counted in nowhere */
        assert_int_equal(metric(s, SERIES("customsflow_records_in_total", 0), 0), 0);
        assert_int_equal(metric(s, SERIES("customsflow_records_in_total", 1), 0), n1);
        cf_counters k;
        kh_finish(s, &k);
        assert_int_equal(k.in, n1);
        int64_t committed[2];
        assert_int_equal(kh_committed(&h, "rretry", committed), 0);
        assert_int_equal(committed[0], -1); /* nothing of it committed either */
        assert_int_equal(committed[1], n1);
        unsetenv("CUSTOMSFLOW_STATE_RESTORE_BACKOFF");
        kh_stop(&h);
}

static void test_corrupt_snapshot_start_empty(void **state)
{
        (void)state;
        kh h;
        kh_start(&h, 1, 2);
        kh_produce_gen(&h, SEED, N, BAD, 0.0);
        corrupt_snapshot(&h, "rempty", 0);
        setenv("CUSTOMSFLOW_STATE_ON_RESTORE_ERROR", "start_empty", 1);
        cf_service *s = kh_service(&h, "rempty", 1);
        assert_true(kh_wait_in(s, N, 60));
        assert_int_equal(metric(s, "customsflow_restore_errors_total", -1), 1);
        assert_int_equal(metric(s, SERIES("customsflow_restore_failing", 0), 0), 0);
        assert_int_equal(metric(s, "customsflow_partitions_restoring", -1), 0);
        cf_counters k;
        kh_finish(s, &k);
        assert_int_equal(k.in, N);
        assert_int_equal(k.processed + k.dead_lettered + k.duplicates, N);
        unsetenv("CUSTOMSFLOW_STATE_ON_RESTORE_ERROR");
        kh_stop(&h);
}

static void test_corrupt_snapshot_fail(void **state)
{
        (void)state;
        kh h;
        kh_start(&h, 1, 2);
        kh_produce_gen(&h, SEED, N, BAD, 0.0);
        corrupt_snapshot(&h, "rfail", 0);
        static const char *const env[] = {"CUSTOMSFLOW_STATE_ON_RESTORE_ERROR", "fail", NULL};
        pid_t pid = kh_spawn_run(&h, "rfail", env);
        int status = 0;
        pid_t r = 0;
        for (int i = 0; i < 600 && !(r = waitpid(pid, &status, WNOHANG)); i++)
                usleep(100 * 1000);
        if (!r) kill(pid, SIGKILL), waitpid(pid, &status, 0);
        assert_int_equal(r, pid); /* it stopped by itself */
        assert_true(WIFEXITED(status));
        fprintf(stderr, "customsflow run exited %d\n", WEXITSTATUS(status));
        assert_int_not_equal(WEXITSTATUS(status), 0);
        int64_t committed[2];
        assert_int_equal(kh_committed(&h, "rfail", committed), 0);
        assert_int_equal(committed[0], -1);
        kh_stop(&h);
}

/* Service A of group processes the whole stream of seed (2 partitions) and commits it all;
 * then the stream's first half is re-delivered for the next instance. */
static void processed_then_half_again(kh *h, const char *group, uint64_t seed)
{
        kh_start(h, 1, 2);
        kh_produce_gen(h, seed, N, BAD, 0.0);
        cf_service *a = kh_service(h, group, 1);
        assert_true(kh_wait_in(a, N, 60));
        kh_finish(a, NULL);
        assert_int_equal(kh_uncommitted(h, group), 0);
        kh_reproduce(h, seed, N, BAD, 0.0, 0, N / 2);
}

/* Finish s, which read the re-delivered half: its restored state recognised every valid
 * record of both partitions as a duplicate, and processed none again. */
static void finish_half_all_duplicates(kh *h, cf_service *s)
{
        cf_counters k;
        kh_finish(s, &k);
        size_t bad = count_part(h, 0, 0, N / 2, "bad") + count_part(h, 1, 0, N / 2, "bad");
        assert_int_equal(k.in, N / 2);
        assert_int_equal(k.duplicates, N / 2 - bad);
        assert_int_equal(k.processed, 0);
}

static void test_transient_failure_retried(void **state)
{
        (void)state;
        kh h;
        /* the first half re-delivered; partition 1's changelog loses its leader */
        processed_then_half_again(&h, "rtrans", SEED + 1);
        size_t again1 = count_part(&h, 1, 0, N / 2, NULL);
        rd_kafka_mock_partition_set_leader(h.mc, "customsflow.changelog", 1, -1);
        setenv("CUSTOMSFLOW_STATE_RESTORE_BACKOFF", "200ms", 1);
        /* the log says why (it said "attempt 1): ;" when the changelog's end was unknown) */
        char logp[64];
        snprintf(logp, sizeof logp, "/tmp/cf_rtrans_%d.log", (int)getpid());
        fflush(stderr);
        int saved = dup(2), fd = open(logp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        assert_true(saved >= 0 && fd >= 0 && dup2(fd, 2) == 2);
        cf_service *b = kh_service(&h, "rtrans", 1);
        bool waited = wait_metric(b, "customsflow_restore_errors_total", 1, 60);
        fflush(stderr);
        dup2(saved, 2);
        close(saved);
        close(fd);
        assert_true(waited);
        FILE *lf = fopen(logp, "r");
        char line[4096];
        int why_lines = 0, empty = 0;
        while (lf && fgets(line, sizeof line, lf)) {
                const char *at = strstr(line, "partition 1: state not restored (attempt ");
                if (!at) continue;
                why_lines++;
                const char *why = strstr(at, "): ");
                if (!why || why[3] == ';' || why[3] == '"') {
                        empty++;
                        fprintf(stderr, "no reason: %s", line);
                }
        }
        if (lf) fclose(lf);
        unlink(logp);
        assert_true(why_lines >= 1);
        assert_int_equal(empty, 0);
        assert_int_equal(metric(b, SERIES("customsflow_restore_failing", 1), -1), 1);
        cf_buf body = {0};
        assert_int_equal(prom_http_get(cf_service_metrics_addr(b), "/readyz", &body), 503);
        cf_buf_free(&body);
        assert_true(kh_wait_in(b, N / 2 - again1, 60)); /* partition 0 goes on */
        assert_int_equal(metric(b, SERIES("customsflow_records_in_total", 1), 0), 0);

        rd_kafka_mock_partition_set_leader(h.mc, "customsflow.changelog", 1, 1);
        assert_true(kh_wait_in(b, N / 2, 60));
        assert_int_equal(metric(b, SERIES("customsflow_restore_failing", 1), -1), 0);
        finish_half_all_duplicates(&h, b);
        unsetenv("CUSTOMSFLOW_STATE_RESTORE_BACKOFF");
        kh_stop(&h);
}

/* The group's committed offsets unknown at the lookup (OffsetFetch answered after the
 * lookup's 5 s): the attempt fails and is retried. It was read as "no committed offset", so
 * the bound became the input's end and any checkpoint there could be restored, also one whose
 * offsets were never committed (its records then dropped as duplicates, their outputs never
 * produced); here the restore "succeeded" at once and this test fails. */
static void test_committed_unknown_retried(void **state)
{
        (void)state;
        kh h;
        processed_then_half_again(&h, "rcommitted", SEED + 3);
        /* the next OffsetFetch requests (the consumer's own for its positions, then the
         * restore's lookup) are answered after 6.5 s */
        rd_kafka_mock_broker_push_request_error_rtts(h.mc, 1, 9 /* OffsetFetch */, 3, 0, 6500, 0,
                                                     6500, 0, 6500);
        setenv("CUSTOMSFLOW_STATE_RESTORE_BACKOFF", "200ms", 1);
        cf_service *b = kh_service(&h, "rcommitted", 1);
        assert_true(wait_metric(b, "customsflow_restore_errors_total", 1, 60));
        assert_true(kh_wait_in(b, N / 2, 90));
        finish_half_all_duplicates(&h, b); /* then restored right */
        unsetenv("CUSTOMSFLOW_STATE_RESTORE_BACKOFF");
        kh_stop(&h);
}

#define MANY 80 /* partitions: more than restore.c reads at once (RESTORE_IN_FLIGHT, 64) */

static void test_many_partitions_one_lookup(void **state)
{
        (void)state;
        kh h;
        kh_start(&h, 1, MANY);
        kh_produce_gen(&h, SEED + 2, N, BAD, 0.0);
        cf_service *a = kh_service(&h, "rmany", 1);
        assert_true(kh_wait_in(a, N, 120));
        kh_finish(a, NULL);
        assert_int_equal(kh_uncommitted(&h, "rmany"), 0);
        size_t bad = 0, parts_with = 0;
        for (int32_t p = 0; p < MANY; p++) {
                bad += count_part(&h, p, 0, N, "bad");
                parts_with += count_part(&h, p, 0, N, NULL) > 0;
        }
        assert_true(parts_with > 64); /* the stream reaches more partitions than one read set */

        kh_reproduce(&h, SEED + 2, N, BAD, 0.0, 0, N);
        cf_service *b = kh_service(&h, "rmany", 1);
        assert_true(kh_wait_in(b, N, 120));
        assert_true(wait_metric(b, "customsflow_restores_total", MANY, 60));
        double lookups = metric(b, "customsflow_restore_lookups_total", -1);
        fprintf(stderr, "%d partitions restored with %.0f lookup(s)\n", MANY, lookups);
        /* one per assignment (a second only if the group rebalanced) */
        assert_true(lookups >= 1 && lookups <= 2);
        assert_int_equal(metric(b, "customsflow_restore_errors_total", -1), 0);
        cf_counters k;
        kh_finish(b, &k);
        assert_int_equal(k.in, N);
        assert_int_equal(k.duplicates, N - bad); /* every partition got its own state back */
        assert_int_equal(k.processed, 0);
        kh_stop(&h);
}

/* The restore consumer reads with its own fetch.max.bytes (changelog.c, 4 MiB), which
 * librdkafka refuses below message.max.bytes: with a kafka: message.max.bytes above it the
 * consumer must still be created (its fetch limit raised to it) and the state restored. */
static void test_restore_with_large_message_max(void **state)
{
        (void)state;
        kh h;
        kh_start(&h, 1, 2);
        kh_produce_gen(&h, SEED + 9, N, BAD, 0.0);
        setenv("CUSTOMSFLOW_KAFKA_MESSAGE_MAX_BYTES", "8388608", 1);
        cf_service *a = kh_service(&h, "rmsgmax", 1);
        assert_true(kh_wait_in(a, N, 60));
        kh_finish(a, NULL);
        size_t bad = count_part(&h, 0, 0, N, "bad") + count_part(&h, 1, 0, N, "bad");
        kh_reproduce(&h, SEED + 9, N, BAD, 0.0, 0, N);
        cf_service *b = kh_service(&h, "rmsgmax", 1);
        assert_true(kh_wait_in(b, N, 60));
        assert_true(wait_metric(b, "customsflow_restores_total", 2, 30));
        assert_int_equal(metric(b, "customsflow_restore_errors_total", -1), 0);
        cf_counters k;
        kh_finish(b, &k);
        unsetenv("CUSTOMSFLOW_KAFKA_MESSAGE_MAX_BYTES");
        assert_int_equal(k.in, N);
        assert_int_equal(k.duplicates, N - bad); /* the state came back */
        assert_int_equal(k.processed, 0);
        kh_stop(&h);
}

static void ignore(const rd_kafka_message_t *m, void *op)
{
        (void)m;
        (void)op;
}

/* The changelog offset in group's committed metadata of partition 0 (-1: none); *offset the
 * committed offset. */
static int64_t committed_from(kh *h, const char *group, int64_t *offset)
{
        rd_kafka_t *rk = kh_group_reader(h, group);
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, "customs.declarations", 0);
        assert_int_equal(rd_kafka_committed(rk, l, 10000), 0);
        *offset = l->elems[0].offset;
        char meta[64] = "";
        size_t n = l->elems[0].metadata_size < sizeof meta - 1 ? l->elems[0].metadata_size
                                                               : sizeof meta - 1;
        if (l->elems[0].metadata) memcpy(meta, l->elems[0].metadata, n);
        meta[n] = '\0';
        rd_kafka_topic_partition_list_destroy(l);
        rd_kafka_destroy(rk);
        fprintf(stderr, "committed %lld, metadata '%s'\n", (long long)*offset, meta);
        return strncmp(meta, "cf.clog=", 8) ? -1 : strtoll(meta + 8, NULL, 10);
}

/* Commit offset of partition 0 for group with metadata meta (NULL: none), as a member of the
 * group (the mock cluster refuses commits from outside it). */
static void commit_with(kh *h, const char *group, int64_t offset, const char *meta)
{
        rd_kafka_t *rk = kh_join_member(h, group);
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_t *e =
            rd_kafka_topic_partition_list_add(l, "customs.declarations", 0);
        e->offset = offset;
        if (meta) {
                e->metadata = strdup(meta);
                e->metadata_size = strlen(meta);
        }
        assert_int_equal(rd_kafka_commit(rk, l, 0), 0);
        rd_kafka_topic_partition_list_destroy(l);
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
}

/* Re-deliver the whole stream to a new instance of group: every valid record is a duplicate
 * (the state came back whole); returns the changelog records its restore read. */
static double restore_all_duplicates(kh *h, const char *group, uint64_t seed, size_t bad)
{
        kh_reproduce(h, seed, N, BAD, 0.0, 0, N);
        cf_service *s = kh_service(h, group, 1);
        assert_true(kh_wait_in(s, N, 60));
        double read = metric(s, "customsflow_restore_records_total", -1);
        assert_int_equal(metric(s, "customsflow_restore_errors_total", -1), 0);
        cf_counters k;
        kh_finish(s, &k);
        assert_int_equal(k.in, N);
        assert_int_equal(k.duplicates, N - bad);
        assert_int_equal(k.processed, 0);
        return read;
}

static void test_reads_from_committed_base(void **state)
{
        (void)state;
        kh h;
        kh_start(&h, 1, 1);
        /* small chunks: a base is many records, so an offset inside one is not a chain */
        setenv("CUSTOMSFLOW_STATE_CHUNK_BYTES", "1KiB", 1);
        /* a base at every checkpoint (a restored chain otherwise goes on with deltas) */
        setenv("CUSTOMSFLOW_STATE_FULL_SNAPSHOT_RATIO", "0", 1);
        /* three instances, each on a third of the stream: each restores the state of the one
         * before and writes a base of its own after it */
        for (size_t i = 0; i < 3; i++) {
                kh_produce_gen_part(&h, SEED + 3, N, BAD, 0.0, i * N / 3, (i + 1) * N / 3);
                cf_service *s = kh_service(&h, "rbase", 1);
                assert_true(kh_wait_in(s, (i + 1) * N / 3 - i * N / 3, 60));
                kh_finish(s, NULL);
        }
        assert_int_equal(kh_uncommitted(&h, "rbase"), 0);
        size_t bad = count_part(&h, 0, 0, N, "bad");
        size_t total = kh_read_topic(&h, "customsflow.changelog", ignore, NULL);
        int64_t committed, from = committed_from(&h, "rbase", &committed);
        assert_true(from > 0 && (size_t)from < total); /* bases of the first two before it */
        double read = restore_all_duplicates(&h, "rbase", SEED + 3, bad);
        fprintf(stderr, "changelog of %zu records, base at %lld: %.0f read\n", total,
                (long long)from, read);
        /* from the base on only (a global checkpoint may have come after the count) */
        assert_true(read >= (double)(total - (size_t)from) && read < (double)total);

        /* metadata naming an offset inside the last base: no chain covering the committed
         * offset from there, so the whole log is read */
        total = kh_read_topic(&h, "customsflow.changelog", ignore, NULL);
        from = committed_from(&h, "rbase", &committed);
        assert_true(from > 0);
        char meta[64];
        snprintf(meta, sizeof meta, "cf.clog=%lld", (long long)from + 1);
        commit_with(&h, "rbase", committed, meta);
        read = restore_all_duplicates(&h, "rbase", SEED + 3, bad);
        assert_true(read >= (double)(total - (size_t)from - 1 + total));

        /* no metadata (a build before it): the whole log */
        total = kh_read_topic(&h, "customsflow.changelog", ignore, NULL);
        from = committed_from(&h, "rbase", &committed);
        commit_with(&h, "rbase", committed, NULL);
        read = restore_all_duplicates(&h, "rbase", SEED + 3, bad);
        assert_true(read >= (double)total);
        unsetenv("CUSTOMSFLOW_STATE_CHUNK_BYTES");
        unsetenv("CUSTOMSFLOW_STATE_FULL_SNAPSHOT_RATIO");
        kh_stop(&h);
}

/* After a restore of a base and its deltas, checkpoints go on with deltas on that chain: the
 * first is a delta of what changed since (it was a full snapshot of the whole state: every
 * assignment wrote every partition's full snapshot at its first commit), the commits go on
 * naming the same base in their metadata, and a restore from there gets the whole state. */
/* Messages of the changelog whose key starts with prefix (values and tombstones). */
typedef struct key_count {
        const char *prefix;
        size_t n;
} key_count;

static void on_key_count(const rd_kafka_message_t *m, void *op)
{
        key_count *c = op;
        size_t pl = strlen(c->prefix);
        c->n += m->key_len >= pl && !memcmp(m->key, c->prefix, pl);
}

static size_t count_keys(kh *h, const char *prefix)
{
        key_count c = {prefix, 0};
        kh_read_topic(h, "customsflow.changelog", on_key_count, &c);
        return c.n;
}

static void test_restore_goes_on_with_deltas(void **state)
{
        (void)state;
        kh h;
        kh_start(&h, 1, 1);
        setenv("CUSTOMSFLOW_PIPELINE_COMMIT_INTERVAL", "200ms", 1);
        /* no new base by size: A's first checkpoint may come before most records (its base
         * was 2,176 bytes in a CI run of the ASan build, its two deltas 322 KB: 100x that
         * base was not enough); 1000 is the config's bound */
        setenv("CUSTOMSFLOW_STATE_FULL_SNAPSHOT_RATIO", "1000", 1);
        const uint64_t seed = SEED + 4;
        const size_t last = 50; /* records B gets after its restore */
        kh_produce_gen_part(&h, seed, N, BAD, 0.0, 0, N / 2);
        cf_service *a = kh_service(&h, "rgoes", 1);
        assert_true(kh_wait_in(a, N / 2, 60));
        kh_produce_gen_part(&h, seed, N, BAD, 0.0, N / 2, N - last); /* deltas on the base */
        assert_true(kh_wait_in(a, N - last, 60));
        kh_finish(a, NULL);
        assert_int_equal(kh_uncommitted(&h, "rgoes"), 0);
        int64_t committed, from_a = committed_from(&h, "rgoes", &committed);
        assert_true(from_a >= 0);
        const char *bases = "rgoes/customs.declarations/0/b/",
                   *deltas = "rgoes/customs.declarations/0/d/";
        size_t bases_a = count_keys(&h, bases), deltas_a = count_keys(&h, deltas);
        assert_true(bases_a >= 1 && deltas_a >= 1); /* A wrote deltas on its base */

        cf_service *b = kh_service(&h, "rgoes", 1);
        assert_true(wait_metric(b, "customsflow_restores_total", 1, 60));
        long long restored = kh_metric(b, "customsflow_restore_bytes_total");
        kh_produce_gen_part(&h, seed, N, BAD, 0.0, N - last, N);
        assert_true(kh_wait_in(b, last, 60));
        for (int i = 0; i < 100 && kh_uncommitted(&h, "rgoes"); i++)
                usleep(100 * 1000);
        assert_int_equal(kh_uncommitted(&h, "rgoes"), 0);
        long long ck = kh_metric(b, "customsflow_checkpoints_total");
        long long bytes = kh_metric(b, "customsflow_checkpoint_bytes_total");
        fprintf(stderr,
                "B restored %lld bytes of changelog; then %lld checkpoint(s) of %lld bytes for "
                "%zu records\n",
                restored, ck, bytes, last);
        assert_true(ck >= 1);
        /* deltas of 50 records on A's chain, no base: decided on the changelog's keys, not on
         * sizes (a delta of 50 records was 286 KB against 325 KB restored when A had written
         * only two deltas on a nearly empty base: CI, ASan build) */
        assert_int_equal(count_keys(&h, bases), bases_a);
        assert_true(count_keys(&h, deltas) > deltas_a);
        kh_finish(b, NULL);
        int64_t from_b = committed_from(&h, "rgoes", &committed);
        assert_int_equal(committed, N);
        assert_int_equal(from_b, from_a); /* the same base */

        size_t bad = count_part(&h, 0, 0, N, "bad");
        restore_all_duplicates(&h, "rgoes", seed, bad); /* A's base, A's and B's deltas */
        unsetenv("CUSTOMSFLOW_PIPELINE_COMMIT_INTERVAL");
        unsetenv("CUSTOMSFLOW_STATE_FULL_SNAPSHOT_RATIO");
        kh_stop(&h);
}

/* The changelog keys of partition 0's bases ("<group>/customs.declarations/0/b/<id>/<i>") and
 * whether their last record is a value (live) or a tombstone. */
typedef struct base_keys {
        const char *prefix;
        char key[64][96];
        bool live[64];
        size_t n;
} base_keys;

static void on_base_key(const rd_kafka_message_t *m, void *op)
{
        base_keys *b = op;
        size_t pl = strlen(b->prefix);
        if (m->key_len <= pl || m->key_len >= sizeof b->key[0] || memcmp(m->key, b->prefix, pl))
                return;
        size_t i = 0;
        while (i < b->n &&
               (strlen(b->key[i]) != m->key_len || memcmp(b->key[i], m->key, m->key_len)))
                i++;
        if (i == b->n) {
                assert_true(b->n < 64);
                memcpy(b->key[b->n], m->key, m->key_len);
                b->key[b->n++][m->key_len] = '\0';
        }
        b->live[i] = m->payload != NULL;
}

/* A base replaced by a newer one is tombstoned once the offsets covering the newer one are
 * committed, not at the partition's next checkpoint: an instance stopped (or a partition
 * revoked) right after left it in the log for good -- a restore reads from the committed base
 * on and never lists it, and compaction keeps keys that are never written again. */
static void test_replaced_base_tombstoned(void **state)
{
        (void)state;
        kh h;
        kh_start(&h, 1, 1);
        setenv("CUSTOMSFLOW_PIPELINE_COMMIT_INTERVAL", "200ms", 1);
        setenv("CUSTOMSFLOW_STATE_FULL_SNAPSHOT_RATIO", "0", 1); /* a base every checkpoint */
        kh_produce_gen_part(&h, SEED + 5, N, BAD, 0.0, 0, N / 2);
        cf_service *a = kh_service(&h, "rtomb", 1);
        assert_true(kh_wait_in(a, N / 2, 60));
        for (int i = 0; i < 100 && kh_uncommitted(&h, "rtomb"); i++)
                usleep(100 * 1000);
        assert_int_equal(kh_uncommitted(&h, "rtomb"), 0); /* a first base, committed */
        kh_produce_gen_part(&h, SEED + 5, N, BAD, 0.0, N / 2, N);
        assert_true(kh_wait_in(a, N, 60));
        kh_finish(a, NULL); /* stopped right after the commit of the last base */
        assert_int_equal(kh_uncommitted(&h, "rtomb"), 0);
        base_keys b = {.prefix = "rtomb/customs.declarations/0/b/"};
        kh_read_topic(&h, "customsflow.changelog", on_base_key, &b);
        char ids[64][17];
        size_t n_ids = 0, live_ids = 0;
        for (size_t i = 0; i < b.n; i++) {
                const char *id = b.key[i] + strlen(b.prefix);
                size_t j = 0;
                while (j < n_ids && strncmp(ids[j], id, 16))
                        j++;
                if (j == n_ids) snprintf(ids[n_ids++], sizeof ids[0], "%.16s", id);
        }
        for (size_t j = 0; j < n_ids; j++) {
                bool live = false;
                for (size_t i = 0; i < b.n; i++)
                        live |= b.live[i] && !strncmp(b.key[i] + strlen(b.prefix), ids[j], 16);
                live_ids += live;
        }
        fprintf(stderr, "%zu bases written, %zu not tombstoned\n", n_ids, live_ids);
        assert_true(n_ids >= 2);
        assert_int_equal(live_ids, 1); /* the committed one */
        size_t bad = count_part(&h, 0, 0, N, "bad");
        restore_all_duplicates(&h, "rtomb", SEED + 5, bad); /* and it is whole */
        unsetenv("CUSTOMSFLOW_PIPELINE_COMMIT_INTERVAL");
        unsetenv("CUSTOMSFLOW_STATE_FULL_SNAPSHOT_RATIO");
        kh_stop(&h);
}

int main(int argc, char **argv)
{
        const struct CMUnitTest tests[] = {cmocka_unit_test(test_corrupt_snapshot_retry),
                                           cmocka_unit_test(test_corrupt_snapshot_start_empty),
                                           cmocka_unit_test(test_corrupt_snapshot_fail),
                                           cmocka_unit_test(test_transient_failure_retried),
                                           cmocka_unit_test(test_committed_unknown_retried),
                                           cmocka_unit_test(test_many_partitions_one_lookup),
                                           cmocka_unit_test(test_restore_with_large_message_max),
                                           cmocka_unit_test(test_reads_from_committed_base),
                                           cmocka_unit_test(test_restore_goes_on_with_deltas),
                                           cmocka_unit_test(test_replaced_base_tombstoned)};
        return CF_RUN_CASES(tests, argc, argv);
}
