/*
 * test_kafka_delta.c - the incremental changelog on the mock cluster (issue
 * 18): commits write deltas of what changed, a restart restores the full
 * snapshot plus the deltas written on it.
 *
 *  1. instance A processes the stream in three waves (a commit after each):
 *     a full snapshot, then deltas;
 *  2. instance B starts (restores A's snapshot + deltas) and gets the second
 *     and third waves again: every one is a duplicate (state the deltas
 *     alone carried); then 8 small waves: B's checkpoints are deltas on A's
 *     chain from the first on (no full snapshot after a restore), each a
 *     small part of the state B restored (customsflow_checkpoint_bytes_total
 *     per checkpoint, customsflow_restore_bytes_total);
 *  3. instance C gets B's small waves again: all duplicates (A's snapshot,
 *     A's deltas and B's);
 *  4. exactly_once: a transaction aborted (EndTxn refused) after deltas were
 *     committed rewinds to the snapshot plus those deltas: re-deliveries of
 *     what only the deltas hold are all duplicates.
 * One partition, no bad records or duplicates in the stream, so the counts
 * are exact.
 *  5. commits spread over batches (pipeline.checkpoint_slice, 64 partitions, a
 *     live stream): every offset the group ever committed is the input offset a
 *     checkpoint of its partition covers -- not where the partition had got to
 *     by the end of the commit.
 */
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers/kafka_harness.h"
#include "helpers/test_cases.h"

#define SEED  33
#define TOTAL 3800
#define GROUP "delta"

/* Produce the stream's messages [from, to) and wait until s counted *in + (to - from) in and a
 * commit (every 200 ms) covered them. */
static void wave(kh *h, cf_service *s, size_t from, size_t to, uint64_t *in, bool again)
{
        if (again)
                kh_reproduce(h, SEED, TOTAL, 0, 0, from, to);
        else
                kh_produce_gen_part(h, SEED, TOTAL, 0, 0, from, to);
        *in += to - from;
        assert_true(kh_wait_in(s, *in, 90));
        usleep(800 * 1000);
}

static void test_deltas_restore(void **state)
{
        (void)state;
        setenv("CUSTOMSFLOW_PIPELINE_COMMIT_INTERVAL", "200ms", 1);
        /* no second base by size: A's deltas reach ~2x its base (the default ratio) when a
         * wave is split over two commits, and B's first checkpoint was then a full snapshot.
         * 100 was not enough either: A's first commit comes a few records into the first wave
         * (bases of 1,390-3,945 bytes seen), and A's deltas reach ~475 KB, so B's first
         * checkpoint was a full one once (CI, 2026-12-02: base 3,945, deltas 474,403). At 1000
         * (the schema's most) a 1,390-byte base allows 1.39 MB, twice all the test's deltas. */
        setenv("CUSTOMSFLOW_STATE_FULL_SNAPSHOT_RATIO", "1000", 1);
        kh h;
        kh_start(&h, 1, 1);

        cf_service *a = kh_service(&h, GROUP, 1);
        uint64_t in = 0;
        for (size_t k = 0; k < 3; k++)
                wave(&h, a, k * 1000, (k + 1) * 1000, &in, false);
        long long a_ck = kh_metric(a, "customsflow_checkpoints_total");
        print_message("A: %lld checkpoints, %lld bytes\n", a_ck,
                      kh_metric(a, "customsflow_checkpoint_bytes_total"));
        assert_true(a_ck >= 3);
        kh_finish(a, NULL);

        cf_service *b = kh_service(&h, GROUP, 1);
        in = 0;
        wave(&h, b, 1000, 3000, &in, true); /* A's second and third waves again */
        long long first = kh_metric(b, "customsflow_checkpoint_bytes_total");
        long long restored = kh_metric(b, "customsflow_restore_bytes_total");
        long long ck0 = kh_metric(b, "customsflow_checkpoints_total");
        assert_true(ck0 >= 1);
        for (size_t k = 0; k < 8; k++)
                wave(&h, b, 3000 + k * 100, 3100 + k * 100, &in, false);
        long long bytes = kh_metric(b, "customsflow_checkpoint_bytes_total") - first;
        long long ck = kh_metric(b, "customsflow_checkpoints_total") - ck0;
        print_message("B: restored %lld bytes; first checkpoint(s) %lld bytes (a delta on A's "
                      "chain), then %lld checkpoints of 100 records: %lld bytes each\n",
                      restored, first, ck, ck ? bytes / ck : 0);
        assert_true(ck >= 8);
        /* deltas, the first too, are a small part of the state (the rest of them: the
         * aggregate stage's open windows, written in full) */
        assert_true(first * 4 < restored);
        assert_true(bytes / ck * 4 < restored);
        cf_counters k;
        kh_finish(b, &k);
        assert_int_equal(k.duplicates, 2000); /* A's deltas were restored */
        assert_int_equal(k.processed, 800);

        cf_service *c = kh_service(&h, GROUP, 1);
        in = 0;
        wave(&h, c, 3000, 3800, &in, true);
        kh_finish(c, &k);
        assert_int_equal(k.in, 800);
        assert_int_equal(k.duplicates, 800); /* A's snapshot + A's deltas + B's */
        unsetenv("CUSTOMSFLOW_PIPELINE_COMMIT_INTERVAL");
        unsetenv("CUSTOMSFLOW_STATE_FULL_SNAPSHOT_RATIO");
        kh_stop(&h);
}

/* exactly_once: an aborted transaction rewinds to the committed state, which is the full
 * snapshot plus the deltas committed since: records those deltas alone hold are still
 * duplicates after the rewind. */
static void test_eos_rewind_keeps_deltas(void **state)
{
        (void)state;
        setenv("CUSTOMSFLOW_PROCESSING_GUARANTEE", "exactly_once", 1);
        setenv("CUSTOMSFLOW_PIPELINE_INSTANCE_ID", "delta-eos", 1);
        setenv("CUSTOMSFLOW_PIPELINE_COMMIT_INTERVAL", "200ms", 1);
        kh h;
        kh_start(&h, 1, 1);
        cf_service *s = kh_service(&h, "delta-eos", 1);
        uint64_t in = 0;
        wave(&h, s, 0, 1000, &in, false);    /* the full snapshot */
        wave(&h, s, 1000, 1600, &in, false); /* deltas */
        wave(&h, s, 1600, 2200, &in, false);
        uint64_t before = kh_metric_sum(s, "customsflow_commit_errors_total");
        rd_kafka_mock_push_request_errors(h.mc, 26 /* EndTxn */, 1,
                                          RD_KAFKA_RESP_ERR_UNKNOWN_PRODUCER_ID);
        kh_produce_gen_part(&h, SEED, TOTAL, 0, 0, 2200, 2300);
        for (int i = 0; i < 200 && kh_metric_sum(s, "customsflow_commit_errors_total") == before;
             i++)
                usleep(100 * 1000);
        assert_true(kh_metric_sum(s, "customsflow_commit_errors_total") > before); /* aborted */
        kh_reproduce(&h, SEED, TOTAL, 0, 0, 1000, 2200); /* what only the deltas hold */
        for (int i = 0; i < 600 && kh_uncommitted(&h, "delta-eos"); i++)
                usleep(100 * 1000);
        assert_int_equal(kh_uncommitted(&h, "delta-eos"), 0);
        cf_counters k;
        kh_finish(s, &k);
        print_message("exactly_once: %llu duplicates of the 1,200 re-delivered after an abort\n",
                      (unsigned long long)k.duplicates);
        assert_int_equal(k.duplicates, 1200);
        unsetenv("CUSTOMSFLOW_PROCESSING_GUARANTEE");
        unsetenv("CUSTOMSFLOW_PIPELINE_INSTANCE_ID");
        unsetenv("CUSTOMSFLOW_PIPELINE_COMMIT_INTERVAL");
        kh_stop(&h);
}

#define SPREAD_PARTS 64
#define SAMPLES      4096

/* The group's committed offsets, sampled while the service runs (another thread). */
typedef struct samples {
        kh *h;
        volatile bool stop;
        size_t n;
        int64_t off[SAMPLES][SPREAD_PARTS];
} samples;

static void *sample(void *arg)
{
        samples *s = arg;
        while (!s->stop && s->n < SAMPLES) {
                if (!kh_committed(s->h, "spread", s->off[s->n])) s->n++;
                usleep(20 * 1000);
        }
        return NULL;
}

/* The input offsets the checkpoints of each partition cover (cf.offset). */
typedef struct covered {
        int64_t *off[SPREAD_PARTS];
        size_t n[SPREAD_PARTS], cap[SPREAD_PARTS];
} covered;

static void on_checkpoint(const rd_kafka_message_t *m, void *op)
{
        covered *c = op;
        char pre[64], v[32];
        int32_t p = m->partition;
        snprintf(pre, sizeof pre, "spread/customs.declarations/%d/", p);
        if (!m->payload || p < 0 || p >= SPREAD_PARTS || m->key_len < strlen(pre) ||
            memcmp(m->key, pre, strlen(pre)))
                return; /* tombstones, the model's checkpoints */
        kh_header(m, "cf.offset", v, sizeof v);
        if (!v[0]) fail_msg("a checkpoint without cf.offset");
        if (c->n[p] == c->cap[p]) {
                c->cap[p] = c->cap[p] ? 2 * c->cap[p] : 64;
                c->off[p] = realloc(c->off[p], c->cap[p] * sizeof *c->off[p]);
        }
        c->off[p][c->n[p]++] = strtoll(v, NULL, 10);
}

static bool is_covered(const covered *c, int32_t p, int64_t off)
{
        for (size_t i = 0; i < c->n[p]; i++)
                if (c->off[p][i] == off) return true;
        return false;
}

/* at_least_once spreads a commit's checkpoints over the batches after it is due; a
 * partition keeps processing after its checkpoint, and its commit must name the offset the
 * checkpoint covers. Committing where it had got to by the end of the round fails this
 * (its state on restore would miss the records in between). */
static void test_spread_commits_cover_checkpoints(void **state)
{
        (void)state;
        setenv("CUSTOMSFLOW_PIPELINE_COMMIT_INTERVAL", "100ms", 1);
        setenv("CUSTOMSFLOW_PIPELINE_CHECKPOINT_SLICE", "1ms", 1);
        setenv("CUSTOMSFLOW_PIPELINE_BATCH_SIZE", "100", 1);
        kh h;
        kh_start(&h, 1, SPREAD_PARTS);
        cf_service *s = kh_service(&h, "spread", 1);
        assert_true(kh_wait_assigned(s, 1, 60));
        samples *sm = calloc(1, sizeof *sm);
        sm->h = &h;
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, sample, sm), 0);
        kh_produce_gen_paced(&h, SEED, 18000, 0.01, 0.02, 3000); /* 6 s */
        assert_true(kh_wait_in(s, 18000, 90));
        for (int i = 0; i < 300 && kh_uncommitted(&h, "spread"); i++)
                usleep(100 * 1000);
        sm->stop = true;
        pthread_join(th, NULL);
        uint64_t slices = kh_metric_sum(s, "customsflow_checkpoint_slices_total");
        uint64_t commits = kh_metric_sum(s, "customsflow_commits_total");
        kh_finish(s, NULL);
        print_message("%" PRIu64 " commits in %" PRIu64 " slices; %zu samples of the committed "
                      "offsets\n",
                      commits, slices, sm->n);
        /* one commit at least while records flowed (and the one the wait above saw):
         * only those can name an offset short of where the partition had got to */
        assert_true(commits >= 2);
        assert_true(slices > commits); /* commits did spread over batches */
        covered *c = calloc(1, sizeof *c);
        kh_read_topic(&h, "customsflow.changelog", on_checkpoint, c);
        size_t checked = 0;
        for (size_t i = 0; i < sm->n; i++)
                for (int32_t p = 0; p < SPREAD_PARTS; p++) {
                        int64_t off = sm->off[i][p];
                        if (off < 0) continue;
                        if (!is_covered(c, p, off))
                                fail_msg("partition %d: committed offset %" PRId64
                                         " is no checkpoint's (%zu checkpoints)",
                                         p, off, c->n[p]);
                        checked++;
                }
        assert_true(checked > 0);
        for (int p = 0; p < SPREAD_PARTS; p++)
                free(c->off[p]);
        free(c);
        free(sm);
        unsetenv("CUSTOMSFLOW_PIPELINE_COMMIT_INTERVAL");
        unsetenv("CUSTOMSFLOW_PIPELINE_CHECKPOINT_SLICE");
        unsetenv("CUSTOMSFLOW_PIPELINE_BATCH_SIZE");
        kh_stop(&h);
}

int main(int argc, char **argv)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_deltas_restore),
            cmocka_unit_test(test_eos_rewind_keeps_deltas),
            cmocka_unit_test(test_spread_commits_cover_checkpoints),
        };
        return CF_RUN_CASES(tests, argc, argv);
}
