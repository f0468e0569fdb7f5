/*
 * commit.c - checkpoints and offset commits (DESIGN §4).
 *
 * A partition's commit is: its population contributions (population.c) and its
 * checkpoint (changelog_write.c) produced, every output produced so far acknowledged,
 * then its offset committed. The committed offset and the checkpoint then describe the
 * same point of the stream, so a crash re-delivers at most what came after it.
 *
 * at_least_once spreads a commit over the batches that follow commit_interval (a
 * "round"): between two batches the worker checkpoints partitions for at most
 * pipeline.checkpoint_slice, then goes back to its input; once every partition dirty
 * at the round's turn is checkpointed, it waits for the acks and commits all their
 * offsets at once. A turn lasts as long as the batch before it when that is longer, so a
 * backlog (full batches) does not stretch a round over many commit intervals. Done in one go, a
 * commit of 256 partitions with 1M keys stalled the worker 2-3 s (serialising and producing 20-60
 * MB), and every record consumed meanwhile waited for it (bench/RESULTS.md § state). A partition's
 * offset is the one its checkpoint covers, not where it is by the round's end: records processed
 * after its checkpoint make it dirty again, for the next round.
 *
 * exactly_once, a revoke, a shutdown, and checkpoint_slice 0 commit at once
 * (cf_commit_parts): a transaction commits everything it holds together, and a
 * revoked partition must be committed before it is let go.
 *
 * @locality: worker thread.
 */
#include <stdio.h>

#include "pipeline/core/clock.h"
#include "pipeline/kafka/population.h"
#include "pipeline/kafka/service_int.h"

#define COMPONENT "worker"

/* Longest wait for a commit's result. A synchronous rd_kafka_commit() has no
 * timeout and was seen to block for good after the coordinator went away
 * (the mock cluster's broker-down test): then the commit counts as failed,
 * the offsets stay uncommitted (at-least-once) and the next commit covers
 * them. */
#define COMMIT_WAIT_MS 10000

rd_kafka_resp_err_t cf_commit_offsets_wait(cf_worker *w, rd_kafka_topic_partition_list_t *l)
{
        rd_kafka_queue_t *q = rd_kafka_queue_new(w->consumer);
        rd_kafka_resp_err_t e = rd_kafka_commit_queue(w->consumer, l, q, NULL, NULL);
        int64_t t0 = cf_mono_ms();
        while (!e) {
                rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 100);
                if (ev) {
                        if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_OFFSET_COMMIT) {
                                e = rd_kafka_event_error(ev);
                                rd_kafka_event_destroy(ev);
                                break;
                        }
                        rd_kafka_event_destroy(ev);
                }
                if (cf_mono_ms() - t0 > COMMIT_WAIT_MS || cf_worker_stop_left_ms(w) <= 0)
                        e = RD_KAFKA_RESP_ERR__TIMED_OUT;
        }
        rd_kafka_queue_destroy(q);
        return e;
}

/* Offsets l are committed. */
static void commit_done(cf_worker *w, const rd_kafka_topic_partition_list_t *l)
{
        cf_service_kafka_ok(w->svc);
        for (int i = 0; i < l->cnt; i++) {
                int32_t p = l->elems[i].partition;
                w->committed[p] = l->elems[i].offset;
                /* exactly_once: not outside a transaction; the next checkpoint does it */
                if (w->svc->sc.changelog && !w->svc->sc.eos) cf_changelog_committed(w, p);
        }
        cf_counter_inc(w->m.commits);
}

/* Not committed after all: l's partitions are checkpointed again by the next round
 * (their changes since are in that checkpoint's delta) and their offsets committed. */
static void commit_undone(cf_worker *w, const rd_kafka_topic_partition_list_t *l)
{
        for (int i = 0; i < l->cnt; i++) {
                int32_t p = l->elems[i].partition;
                if (w->assigned[p]) w->dirty[p] = true;
        }
}

static bool due(const cf_worker *w, int32_t p, const rd_kafka_topic_partition_list_t *only)
{
        if (!w->assigned[p] || !w->dirty[p] || w->next_offset[p] < 0) return false;
        return !only || rd_kafka_topic_partition_list_find(only, w->svc->sc.topic_in, p);
}

/* Produce p's population contributions and checkpoint, and add the offset they cover
 * to l. 0, 1 when it failed and the round goes on (at_least_once: counted, p stays
 * dirty, its offset uncommitted), -1 when the commit is over (exactly_once: the
 * transaction aborted). */
static int checkpoint(cf_worker *w, int32_t p, rd_kafka_topic_partition_list_t *l)
{
        /* the population contributions of what is committed go first (their acks are
         * awaited with the rest): a crash re-processes and re-publishes, and a
         * contribution is the partition's whole, so a repeat changes nothing. Only in the
         * rounds that publish (cf_population_commit_due): a checkpoint of another may hold
         * contributions not published yet, which the partition's next owner publishes
         * whole when it restores it (detect_bucket.c), so none is lost to the replicas. */
        if (w->round.publish) {
                w->pop_dirty[p] = false; /* what is published now is all until the next record */
                double t0 = cf_mono_s();
                int e = cf_population_publish(w, p);
                w->round.pub_s += cf_mono_s() - t0;
                if (e) {
                        cf_counter_inc(w->m.checkpoint_errors);
                        cf_log(CF_LOG_ERROR, COMPONENT,
                               "worker %d: partition %d: population publish failed; offsets not "
                               "committed",
                               w->id, p);
                        return cf_txn_failed(w, "population publish failed") ? -1 : 1;
                }
        } else {
                cf_population_fold(w, p);
        }
        if (w->svc->sc.changelog && cf_changelog_write(w, p)) {
                /* counted, retried at the next commit; /readyz turns 503 once
                 * pipeline.failures_not_ready happen in a row */
                cf_counter_inc(w->m.checkpoint_errors);
                if (w->svc->sc.eos) return cf_txn_failed(w, "a checkpoint failed");
                cf_log(CF_LOG_ERROR, COMPONENT,
                       "worker %d: partition %d: checkpoint failed; offsets not committed", w->id,
                       p);
                return 1;
        }
        cf_worker_metrics_check(w, p);
        rd_kafka_topic_partition_list_add(l, w->svc->sc.topic_in, p)->offset = w->next_offset[p];
        w->dirty[p] = false; /* what comes next is in the next round's checkpoint */
        return 0;
}

/* Wait for every ack, then commit the offsets of the round's checkpoints. */
static int finish(cf_worker *w, rd_kafka_topic_partition_list_t *l, bool failed)
{
        /* population contributions and checkpoints: one wait for them all */
        bool unacked = cf_worker_wait_acks(w) != 0;
        cf_changelog_acked(w, !unacked);
        if (unacked) {
                commit_undone(w, l);
                return cf_txn_failed(w, "an output was not delivered");
        }
        for (int i = 0; i < l->cnt && w->svc->sc.changelog; i++) /* where each chain starts */
                cf_changelog_commit_meta(w, l->elems[i].partition, &l->elems[i]);
        int rc = 0;
        if (w->svc->sc.eos) {
                /* exactly_once: the offsets commit in the transaction with the
                 * outputs and checkpoints; a failure has aborted and rewound it */
                if (cf_txn_commit(w, l)) {
                        failed = true;
                        rc = -1;
                } else if (l->cnt) {
                        commit_done(w, l);
                }
        } else if (l->cnt) {
                rd_kafka_resp_err_t e = cf_commit_offsets_wait(w, l);
                if (e) {
                        /* offsets stay uncommitted: the next commit covers them */
                        cf_counter_inc(w->m.commit_errors);
                        commit_undone(w, l);
                        failed = true;
                        cf_log(CF_LOG_WARN, COMPONENT, "worker %d: commit failed: %s", w->id,
                               rd_kafka_err2str(e));
                        rc = -1;
                } else {
                        commit_done(w, l);
                }
        }
        if (failed)
                atomic_fetch_add(&w->failures_in_row, 1);
        else
                atomic_store(&w->failures_in_row, 0);
        w->last_commit_ms = cf_mono_ms();
        return failed ? -1 : rc;
}

/* Checkpoint the round's partitions from r->next on, for at most budget_ms (< 0: all);
 * then, once none is left, finish the round. 1 while partitions are left. */
static int round_step(cf_worker *w, int64_t budget_ms, int *rc)
{
        cf_commit_round *r = &w->round;
        int64_t t0 = cf_mono_ms();
        bool wrote = false;
        *rc = 0;
        while (r->next < CF_SVC_MAX_PARTITIONS) {
                int32_t p = r->next++;
                if (!due(w, p, r->only)) continue;
                int c = checkpoint(w, p, r->l);
                if (c < 0) { /* exactly_once: aborted and rewound, nothing to commit */
                        cf_commit_round_drop(w);
                        *rc = -1;
                        return 0;
                }
                if (c) r->failed = true;
                if (!wrote) {
                        cf_counter_inc(w->m.checkpoint_slices);
                        r->slices++;
                }
                wrote = true;
                if (budget_ms >= 0 && cf_mono_ms() - t0 >= budget_ms) return 1;
        }
        if (r->publish) cf_population_published(w, r->pub_s);
        rd_kafka_topic_partition_list_t *l = r->l;
        bool failed = r->failed;
        r->l = NULL; /* l is finish()'s now; the rest of the round goes */
        cf_commit_round_free(w);
        *rc = finish(w, l, failed);
        if (!*rc && l->cnt) {
                double took = cf_mono_s() - r->t0;
                cf_histogram_observe(w->m.commit_seconds, took);
                cf_log(CF_LOG_DEBUG, COMPONENT,
                       "worker %d: %d partition(s) committed %.3f s after the commit was due, "
                       "checkpointed in %u slice(s)",
                       w->id, l->cnt, took, r->slices);
        }
        rd_kafka_topic_partition_list_destroy(l);
        return 0;
}

static void round_start(cf_worker *w, const rd_kafka_topic_partition_list_t *only)
{
        cf_commit_round *r = &w->round;
        r->l = rd_kafka_topic_partition_list_new(8);
        r->only = only ? rd_kafka_topic_partition_list_copy(only) : NULL;
        r->next = 0;
        r->failed = false;
        r->slices = 0;
        r->t0 = cf_mono_s();
        r->publish = cf_population_commit_due(w);
        r->pub_s = 0;
}

void cf_commit_round_free(cf_worker *w)
{
        cf_commit_round *r = &w->round;
        if (r->l) rd_kafka_topic_partition_list_destroy(r->l);
        if (r->only) rd_kafka_topic_partition_list_destroy(r->only);
        r->l = r->only = NULL;
}

void cf_commit_round_drop(cf_worker *w)
{
        if (!w->round.l) return;
        /* the round's checkpoints count as not acknowledged (their acks are not awaited:
         * an assignment is lost when the cluster is out of reach): their partitions'
         * next checkpoints are full snapshots */
        cf_changelog_acked(w, false);
        cf_commit_round_free(w);
}

int cf_commit_parts(cf_worker *w, const rd_kafka_topic_partition_list_t *only)
{
        int rc = 0;
        /* a round in progress first: its checkpoints are written, their offsets not
         * committed yet */
        if (w->round.l) round_step(w, -1, &rc);
        if (atomic_load(&w->fatal)) return -1;
        /* the at-least-once rule: no offset is committed before every output
         * produced so far (of these batches and all before) is acknowledged.
         * The batches' outputs first: behind a commit's population contributions
         * and checkpoints in the broker's request pipeline, the acks of the batches
         * just before it took ~0.8 s (customsflow_batch_seconds). */
        if (cf_worker_wait_acks(w)) return cf_txn_failed(w, "an output was not delivered");
        round_start(w, only);
        int r2;
        round_step(w, -1, &r2);
        return rc ? rc : r2;
}

bool cf_commit_poll(cf_worker *w)
{
        const cf_service_cfg *sc = &w->svc->sc;
        if (!w->round.l) {
                if (cf_mono_ms() - w->last_commit_ms < sc->commit_interval_ms) return false;
                /* the model's checkpoint first: exactly_once commits it too */
                cf_outcomes_checkpoint(w, false);
                if (sc->eos || sc->checkpoint_slice_ms <= 0) {
                        cf_commit_parts(w, NULL);
                        return false;
                }
                round_start(w, NULL);
        }
        /* as long as the batch before, when that is longer: with a backlog (batches of
         * batch_size) a round of 256 partitions at 10 ms a turn took 15 s, not the ~3 s
         * of its checkpoints; this way checkpoints take at most half the worker's time and
         * a record waits at most one batch longer */
        int64_t budget = sc->checkpoint_slice_ms;
        if (w->last_batch_ms > budget) budget = w->last_batch_ms;
        int rc;
        bool more = round_step(w, budget, &rc) == 1;
        /* the slice's acks before the next batch: that batch's outputs otherwise queue
         * behind the slice's checkpoints in the broker's pipeline, and a round's batches
         * all waited for them (bench_state: p50 of consume -> acked 167-220 ms against
         * 80-100 ms this way) */
        if (more) cf_worker_wait_acks(w);
        return more;
}
