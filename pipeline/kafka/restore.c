/*
 * restore.c - assigned partitions get their state back in the worker loop,
 * not in the rebalance callback (DESIGN §4, issue 18).
 *
 * The rebalance callback only assigns, pauses the new partitions and marks
 * them pending. Between batches the loop restores them together: one lookup
 * of the committed and changelog end offsets for every partition due (not one
 * per partition), then up to RESTORE_IN_FLIGHT changelog partitions read at
 * once by one consumer, in slices of at most RESTORE_SLICE_MS: the consumer is
 * served between slices (so max.poll.interval.ms is never at risk however
 * large the state) and the partitions already restored go on. A read ends at
 * the end offset looked up (no wait for a timeout); each partition is applied
 * as soon as its read is whole, and the next one takes its place. Measured
 * before (bench/RESULTS.md § state): one partition per loop turn, each
 * followed by the loop's batch wait (batch_timeout, 100 ms), 0.11 s per
 * partition. A partition is resumed only once its state is in place, at an
 * exact position:
 *
 * librdkafka may have fetched records of a partition before its pause took
 * effect. Those that reach the worker are not processed (cf_restore_hold
 * notes them in the partition's fetch gate); those still queued should be
 * dropped by the pause (an op version barrier) while, with nothing consumed
 * yet, the fetch position stays past them. So a restored partition is
 * re-assigned at the lowest offset the worker held back, or else at its start
 * position (the committed offset, RD_KAFKA_OFFSET_INVALID looks it up, or
 * where an offset reset put it), never simply resumed; and since some of the
 * earlier fetch's messages can still come after the re-assignment, the gate
 * drops them until the new fetch's first record (fetch_gate.h).
 *
 * A failed restore (changelog unreadable, snapshot refused by a stage) follows
 * state.on_restore_error: retry (default: the partition stays paused,
 * customsflow_restore_failing{partition} is 1, /readyz is not ready, retried
 * with a doubling backoff), fail (the worker stops: the service exits
 * non-zero) or start_empty (the partition starts with empty state; an error,
 * counted).
 *
 * @locality: worker thread (its loop and its rebalance callback).
 */
#include <inttypes.h>
#include <stdio.h>

#include "pipeline/core/clock.h"
#include "pipeline/kafka/service_int.h"

#define COMPONENT "restore"

/* Longest stretch of changelog reading between two batches of the loop. */
#define RESTORE_SLICE_MS 100

/* How long after the last (re-)assignment a partition re-assigned at its position is resumed.
 * rd_kafka_assign returns before librdkafka's main thread has made the fetch starts (once the
 * fetchers it stopped have stopped: about 1 ms here, more under load), and librdkafka (2.0.2)
 * drops a partition's op whose version barrier another op overtook: a barrier is taken by the
 * calling thread and its op queued after it, so a resume made by this thread in the same
 * instant as the main thread's fetch start can be served first, and the fetch start is then
 * dropped as outdated. The partition is never fetched, with no error (seen in
 * test_kafka_metrics under ASan with librdkafka debug, 3 runs of 75, each time: the main
 * thread's barrier v14 for "Start consuming", this thread's "Resume ... (v15)", then "received
 * outdated op FETCH_START (v14) ... (opv15)").
 * Resumed a while after the re-assignment, the resume comes after its fetch start; one made
 * later still than this is found by fetch_watch.c. */
#define RESUME_AFTER_ASSIGN_MS 50

/* Changelog partitions read at once, at most: a read holds what its partition's changelog has
 * (bases and deltas) until it is applied, so this bounds a restore's memory. */
#define RESTORE_IN_FLIGHT 64

static void set_restoring(cf_worker *w)
{
        cf_gauge_set(w->m.restoring, w->n_restoring);
        atomic_store(&w->restoring, w->n_restoring > 0);
}

static void set_failing(cf_worker *w, int32_t p, bool failing)
{
        cf_restore_part *r = &w->rp[p];
        if (r->failing != failing) atomic_fetch_add(&w->restore_failing, failing ? 1 : -1);
        r->failing = failing;
        if (!r->failing_g) {
                char num[16];
                snprintf(num, sizeof num, "%d", (int)p);
                r->failing_g = cf_metric_series(w->m.f_restore_failing, w->svc->sc.topic_in, num);
        }
        cf_gauge_set(r->failing_g, failing);
}

void cf_restore_assigned(cf_worker *w, int32_t p)
{
        cf_restore_part *r = &w->rp[p];
        if (!r->pending) w->n_restoring++;
        r->pending = true;
        r->attempts = 0;
        r->due_ms = 0;
        r->assigned_ms = cf_mono_ms();
        r->looked_up = r->resume_now = false;
        if (r->resume_wait) w->n_resume_wait--; /* paused again until its new restore */
        r->resume_wait = false;
        cf_changelog_read_free(w, w->clog_rd[p]); /* assigned again: a fresh lookup */
        set_failing(w, p, false);
        set_restoring(w);
}

void cf_restore_pause_pending(cf_worker *w)
{
        if (!w->n_restoring) return;
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(w->n_restoring);
        for (int32_t p = 0; p < CF_SVC_MAX_PARTITIONS; p++)
                if (w->rp[p].pending) rd_kafka_topic_partition_list_add(l, w->svc->sc.topic_in, p);
        rd_kafka_pause_partitions(w->consumer, l);
        rd_kafka_topic_partition_list_destroy(l);
}

/* p is no longer pending: in place (done) or given up (revoked). */
static void clear(cf_worker *w, int32_t p)
{
        if (!w->rp[p].pending) return;
        w->rp[p].pending = false;
        w->rp[p].looked_up = false;
        w->n_restoring--;
        set_failing(w, p, false);
        set_restoring(w);
        cf_changelog_read_free(w, w->clog_rd[p]);
}

void cf_restore_revoked(cf_worker *w, int32_t p)
{
        clear(w, p);
}

bool cf_restore_hold(cf_worker *w, int32_t p, int64_t offset)
{
        cf_restore_part *r = &w->rp[p];
        if (!r->pending) return false;
        cf_fetch_gate_hold(&w->gate[p], offset);
        return true;
}

/* p's state is in place: re-assigned at its exact position (see the top) by resume_round, with
 * the others of this round (one re-assignment for them all), then resumed. */
static void resume(cf_worker *w, int32_t p)
{
        cf_restore_part *r = &w->rp[p];
        double secs = (double)(cf_mono_ms() - r->assigned_ms) / 1000.0;
        int64_t at = cf_fetch_gate_resume(&w->gate[p]); /* the first record held back */
        uint32_t attempts = r->attempts;
        clear(w, p);
        cf_histogram_observe(w->m.restore_seconds, secs);
        cf_worker_metrics_restored(w, p);
        w->reset_to[p] = at >= 0 ? at : w->start_at[p];
        w->reset_pending[p] = true;
        w->any_reset = true;
        w->pop_dirty[p] = true; /* a restored contribution is published whole (detect_bucket.c) */
        r->resume_now = true;
        cf_log(CF_LOG_INFO, COMPONENT,
               "worker %d: partition %d resumed %.3f s after its assignment (%u failed "
               "attempt(s))",
               w->id, p, secs, attempts);
}

void cf_restore_resume_later(cf_worker *w, int32_t p)
{
        if (!w->rp[p].resume_wait) w->n_resume_wait++;
        w->rp[p].resume_wait = true;
}

/* Resume the partitions re-assigned for it, once RESUME_AFTER_ASSIGN_MS passed since the last
 * (re-)assignment: not in the instant librdkafka makes its fetch starts. */
static void resume_waiting(cf_worker *w)
{
        if (!w->n_resume_wait || cf_mono_ms() - w->assign_ms < RESUME_AFTER_ASSIGN_MS) return;
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(w->n_resume_wait);
        for (int32_t p = 0; p < CF_SVC_MAX_PARTITIONS; p++) {
                if (!w->rp[p].resume_wait) continue;
                w->rp[p].resume_wait = false;
                if (w->assigned[p]) rd_kafka_topic_partition_list_add(l, w->svc->sc.topic_in, p);
        }
        w->n_resume_wait = 0;
        if (l->cnt) rd_kafka_resume_partitions(w->consumer, l);
        rd_kafka_topic_partition_list_destroy(l);
}

/* Give the partitions restored in this round their positions; resumed a little later. */
static void resume_round(cf_worker *w)
{
        bool any = false;
        for (int32_t p = 0; p < CF_SVC_MAX_PARTITIONS; p++) {
                if (!w->rp[p].resume_now) continue;
                w->rp[p].resume_now = false;
                if (!w->assigned[p]) continue;
                cf_restore_resume_later(w, p);
                any = true;
        }
        if (any) cf_worker_reposition(w);
        resume_waiting(w);
}

/* An attempt at p failed for why: state.on_restore_error decides. */
static void failed(cf_worker *w, int32_t p, const char *why)
{
        const cf_service_cfg *sc = &w->svc->sc;
        cf_restore_part *r = &w->rp[p];
        r->attempts++;
        r->looked_up = false; /* a retry looks the offsets up again */
        cf_changelog_read_free(w, w->clog_rd[p]);
        cf_counter_inc(w->m.restore_errors);
        if (sc->restore_policy == CF_RESTORE_FAIL) {
                snprintf(w->fatal_reason, sizeof w->fatal_reason,
                         "partition %d: state not restored: %.400s (state.on_restore_error: fail)",
                         p, why);
                atomic_store(&w->fatal, true);
                return; /* the worker stops; run exits non-zero */
        }
        if (sc->restore_policy == CF_RESTORE_START_EMPTY) {
                char err[256];
                cf_chain_restore(w->chain, p, NULL, 0, err, sizeof err);
                cf_changelog_restored(w, p, NULL);
                cf_txn_snapshot_restored(w, p, NULL, NULL, 0);
                cf_log(CF_LOG_ERROR, COMPONENT,
                       "worker %d: partition %d: state not restored: %s; starting EMPTY "
                       "(state.on_restore_error: start_empty): duplicates of records seen "
                       "before will not be recognised",
                       w->id, p, why);
                resume(w, p);
                return;
        }
        int64_t wait = sc->restore_backoff_ms;
        for (uint32_t i = 1; i < r->attempts && wait < sc->restore_backoff_max_ms; i++)
                wait *= 2;
        if (wait > sc->restore_backoff_max_ms) wait = sc->restore_backoff_max_ms;
        r->due_ms = cf_mono_ms() + wait;
        set_failing(w, p, true);
        cf_log(CF_LOG_ERROR, COMPONENT,
               "worker %d: partition %d: state not restored (attempt %u): %s; the partition "
               "stays paused, retrying in %lld ms (state.on_restore_error: retry)",
               w->id, p, r->attempts, why, (long long)wait);
}

/* p's read is whole: apply what it found. */
static void apply(cf_worker *w, int32_t p)
{
        cf_clog_found f;
        cf_changelog_read_result(w->clog_rd[p], &f);
        const cf_buf *snap = f.snap;
        size_t nd = f.nd, done = 0;
        char err[512] = "", why[640];
        cf_counter_add(w->m.restore_records, f.records);
        cf_counter_add(w->m.restore_bytes, f.bytes);
        int rc = cf_chain_restore(w->chain, p, snap ? snap->p : NULL, snap ? snap->len : 0, err,
                                  sizeof err);
        /* then the deltas written on it, in order (changelog_pick.h) */
        for (; !rc && done < nd; done++)
                rc = cf_chain_apply_delta(w->chain, p, f.deltas[done]->p, f.deltas[done]->len, err,
                                          sizeof err);
        if (rc) {
                if (done)
                        snprintf(why, sizeof why,
                                 "delta %zu of %zu (on a snapshot of %zu bytes) "
                                 "refused: %s",
                                 done, nd, snap ? snap->len : 0, err);
                else
                        snprintf(why, sizeof why, "snapshot of %zu bytes refused: %s",
                                 snap ? snap->len : 0, err);
                failed(w, p, why); /* frees the read */
                return;
        }
        bool goes_on = cf_changelog_restored(w, p, &f);
        cf_txn_snapshot_restored(w, p, snap, f.deltas, nd);
        if (snap)
                cf_log(CF_LOG_INFO, COMPONENT,
                       "worker %d: partition %d: state restored (a snapshot of %zu bytes and %zu "
                       "deltas, %" PRIu64 " changelog records read); its next checkpoint: %s",
                       w->id, p, snap->len, nd, f.records,
                       goes_on ? "the next delta on them" : "a full snapshot");
        resume(w, p); /* frees the read */
}

/* Is p waiting for a lookup: pending, due, not looked up, not being read? */
static bool lookup_due(const cf_worker *w, int32_t p, int64_t now)
{
        const cf_restore_part *r = &w->rp[p];
        return r->pending && !r->looked_up && r->due_ms <= now && !w->clog_rd[p];
}

/* One lookup of the committed and changelog end offsets for every partition due. */
static void lookup(cf_worker *w)
{
        int64_t now = cf_mono_ms();
        size_t n = 0;
        for (int32_t p = 0; p < CF_SVC_MAX_PARTITIONS; p++)
                n += lookup_due(w, p, now);
        if (!n) return;
        int32_t *parts = malloc(n * sizeof *parts);
        int64_t *bound = malloc(n * sizeof *bound), *end = malloc(n * sizeof *end);
        int64_t *from = malloc(n * sizeof *from);
        char(*why)[CF_CLOG_WHY] = malloc(n * sizeof *why);
        if (!parts || !bound || !end || !from || !why) abort();
        n = 0;
        for (int32_t p = 0; p < CF_SVC_MAX_PARTITIONS; p++)
                if (lookup_due(w, p, now)) parts[n++] = p;
        cf_changelog_lookup(w, parts, n, bound, end, from, why);
        for (size_t i = 0; i < n && !atomic_load(&w->fatal); i++) {
                cf_restore_part *r = &w->rp[parts[i]];
                if (bound[i] < 0 || end[i] < 0) {
                        failed(w, parts[i], why[i]);
                        continue;
                }
                r->looked_up = true;
                r->bound = bound[i];
                r->end = end[i];
                r->from = from[i];
        }
        free(parts);
        free(bound);
        free(end);
        free(from);
        free(why);
}

/* Start reading looked-up partitions while fewer than RESTORE_IN_FLIGHT are read. */
static void start(cf_worker *w)
{
        char err[512];
        for (int32_t p = 0; p < CF_SVC_MAX_PARTITIONS && w->n_clog_rd < RESTORE_IN_FLIGHT &&
                            !atomic_load(&w->fatal);
             p++) {
                cf_restore_part *r = &w->rp[p];
                if (!r->pending || !r->looked_up || w->clog_rd[p]) continue;
                if (!cf_changelog_read_start(w, p, r->bound, r->end, r->from, err, sizeof err))
                        failed(w, p, err);
        }
}

/* Apply the reads that are whole, retry or give up the failed ones. */
static void finish(cf_worker *w)
{
        for (int32_t p = 0; p < CF_SVC_MAX_PARTITIONS && w->n_clog_rd && !atomic_load(&w->fatal);
             p++) {
                if (!w->clog_rd[p] || !w->rp[p].pending) continue;
                const char *why;
                int st = cf_changelog_read_state(w->clog_rd[p], &why);
                if (st > 0) {
                        apply(w, p);
                } else if (st < 0) {
                        char copy[CF_CLOG_WHY];
                        snprintf(copy, sizeof copy, "%s", why);
                        failed(w, p, copy);
                }
        }
}

bool cf_restore_poll(cf_worker *w)
{
        if (atomic_load(&w->fatal)) return false;
        if (!w->n_restoring) {
                resume_waiting(w);
                return false;
        }
        lookup(w);
        start(w);
        finish(w); /* those with nothing to read */
        start(w);
        if (w->n_clog_rd && !atomic_load(&w->fatal)) {
                cf_changelog_reads_step(w, RESTORE_SLICE_MS);
                finish(w);
                start(w);
        }
        resume_round(w);
        if (atomic_load(&w->fatal)) return false;
        int64_t now = cf_mono_ms();
        bool more = w->n_clog_rd > 0;
        for (int32_t p = 0; p < CF_SVC_MAX_PARTITIONS && !more; p++)
                more = lookup_due(w, p, now);
        return more; /* true: the loop does not wait for records before the next slice */
}
