/*
 * restore.c - assigned partitions get their state back in the worker loop,
 * not in the rebalance callback (DESIGN §4, issue 18).
 *
 * The rebalance callback only assigns, pauses the new partitions and marks
 * them pending. Between batches the loop restores them one at a time, in
 * slices of RESTORE_SLICE_MS: the consumer is served between slices (so
 * max.poll.interval.ms is never at risk however large the state) and the
 * partitions already restored go on. A partition is resumed only once its
 * state is in place, at an exact position:
 *
 * librdkafka may have fetched records of a partition before its pause took
 * effect. Those that reach the worker are not processed (cf_restore_hold
 * notes the lowest offset); those still queued are dropped by the pause (an
 * op version barrier) while, with nothing consumed yet, the fetch position
 * stays past them. So a restored partition is re-assigned at the lowest offset
 * the worker held back, or else at its start position (the committed offset,
 * RD_KAFKA_OFFSET_INVALID looks it up, or where an offset reset put it), never
 * simply resumed.
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
        r->drop_from = -1;
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
        w->n_restoring--;
        set_failing(w, p, false);
        set_restoring(w);
        if (w->rd && w->rd_p == p) {
                cf_changelog_read_free(w, w->rd);
                w->rd = NULL;
        }
}

void cf_restore_revoked(cf_worker *w, int32_t p)
{
        clear(w, p);
}

bool cf_restore_hold(cf_worker *w, int32_t p, int64_t offset)
{
        cf_restore_part *r = &w->rp[p];
        if (!r->pending) return false;
        if (r->drop_from < 0 || offset < r->drop_from) r->drop_from = offset;
        return true;
}

/* p's state is in place: resume it at its exact position (see the top). */
static void resume(cf_worker *w, int32_t p)
{
        cf_restore_part *r = &w->rp[p];
        double secs = (double)(cf_mono_ms() - r->assigned_ms) / 1000.0;
        int64_t at = r->drop_from;
        uint32_t attempts = r->attempts;
        clear(w, p);
        cf_histogram_observe(w->m.restore_seconds, secs);
        cf_worker_metrics_restored(w, p);
        w->reset_to[p] = at >= 0 ? at : w->start_at[p];
        w->reset_pending[p] = true;
        w->any_reset = true;
        cf_worker_reposition(w);
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, w->svc->sc.topic_in, p);
        rd_kafka_resume_partitions(w->consumer, l);
        rd_kafka_topic_partition_list_destroy(l);
        cf_log(CF_LOG_INFO, COMPONENT,
               "worker %d: partition %d resumed %.3f s after its assignment (%u failed "
               "attempt(s))",
               w->id, p, secs, attempts);
}

/* An attempt at p failed for why: state.on_restore_error decides. */
static void failed(cf_worker *w, int32_t p, const char *why)
{
        const cf_service_cfg *sc = &w->svc->sc;
        cf_restore_part *r = &w->rp[p];
        r->attempts++;
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

/* The read of w->rd_p is done: apply what it found. */
static void apply(cf_worker *w)
{
        int32_t p = w->rd_p;
        uint64_t records, bytes;
        const cf_buf *const *deltas;
        const cf_buf *keys;
        size_t nd, done = 0;
        const cf_buf *snap = cf_changelog_read_result(w->rd, &deltas, &nd, &keys, &records, &bytes);
        char err[512] = "", why[640];
        cf_counter_add(w->m.restore_records, records);
        cf_counter_add(w->m.restore_bytes, bytes);
        int rc = cf_chain_restore(w->chain, p, snap ? snap->p : NULL, snap ? snap->len : 0, err,
                                  sizeof err);
        /* then the deltas written on it, in order (changelog_pick.h) */
        for (; !rc && done < nd; done++)
                rc = cf_chain_apply_delta(w->chain, p, deltas[done]->p, deltas[done]->len, err,
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
                cf_changelog_read_free(w, w->rd);
                w->rd = NULL;
                failed(w, p, why);
                return;
        }
        cf_changelog_restored(w, p, keys);
        cf_txn_snapshot_restored(w, p, snap, deltas, nd);
        if (snap)
                cf_log(CF_LOG_INFO, COMPONENT,
                       "worker %d: partition %d: state restored (a snapshot of %zu bytes and %zu "
                       "deltas, %" PRIu64 " changelog records read)",
                       w->id, p, snap->len, nd, records);
        resume(w, p); /* frees the read */
}

/* The next pending partition due for an attempt, round robin; -1 none. */
static int32_t next_due(cf_worker *w)
{
        int64_t now = cf_mono_ms();
        for (int32_t i = 0; i < CF_SVC_MAX_PARTITIONS; i++) {
                int32_t p = (w->rd_next + i) % CF_SVC_MAX_PARTITIONS;
                if (w->rp[p].pending && w->rp[p].due_ms <= now) return p;
        }
        return -1;
}

bool cf_restore_poll(cf_worker *w)
{
        if (!w->n_restoring || atomic_load(&w->fatal)) return false;
        char err[512];
        if (!w->rd) {
                int32_t p = next_due(w);
                if (p < 0) return false; /* every pending one waits for its retry */
                w->rd_next = (p + 1) % CF_SVC_MAX_PARTITIONS;
                w->rd = cf_changelog_read_start(w, p, err, sizeof err);
                w->rd_p = p;
                if (!w->rd) {
                        failed(w, p, err);
                        return w->n_restoring > 0;
                }
        }
        int rc = cf_changelog_read_step(w, w->rd, RESTORE_SLICE_MS, err, sizeof err);
        if (rc > 0) {
                apply(w);
        } else if (rc < 0) {
                int32_t p = w->rd_p;
                cf_changelog_read_free(w, w->rd);
                w->rd = NULL;
                failed(w, p, err);
        }
        return w->rd != NULL;
}
