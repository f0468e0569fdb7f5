/*
 * worker_metrics.c - a worker's runtime series (records per partition, lag,
 * commits, errors, batch latency, the accounting invariant), declared in the
 * worker's chain registry next to its stages' series: one registry per
 * worker, written by the worker thread only; /metrics merges them.
 *
 * Batch latency is two histograms: consume -> processed (the chain ran and
 * the outputs were handed to the producer) and consume -> acknowledged (the
 * delivery report of the batch's last output came back). Every output carries
 * its batch's cf_batch_ack as message opaque; batches without output have no
 * acknowledgement to wait for and are not observed in the second.
 *
 * @locality: worker thread, except init/free (main thread, before/after it).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "pipeline/core/clock.h"
#include "pipeline/kafka/service_int.h"

#define COMPONENT "worker"

static const double lat_bounds_s[] = {0.001, 0.002, 0.005, 0.01, 0.025, 0.05,
                                      0.1,   0.25,  0.5,   1,    2.5,   5};
#define N_LAT (sizeof(lat_bounds_s) / sizeof(lat_bounds_s[0]))
static const double restore_bounds_s[] = {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300};
#define N_RESTORE (sizeof(restore_bounds_s) / sizeof(restore_bounds_s[0]))
/* end to end: a record may have waited in its topic for hours (a backlog, a restart) */
static const double e2e_bounds_s[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                      2.5,   5,    10,    30,   60,  300,  3600};
#define N_E2E (sizeof(e2e_bounds_s) / sizeof(e2e_bounds_s[0]))

static cf_series *histogram(cf_metrics *m, const char *name, const char *help)
{
        return cf_metric_series(cf_metrics_histogram(m, name, help, NULL, lat_bounds_s, N_LAT));
}

void cf_service_metrics_init(cf_service *s)
{
        s->reg = cf_metrics_new();
        pthread_mutex_init(&s->reg_mtx, NULL);
        cf_metric *f = cf_metrics_gauge(s->reg, "customsflow_state",
                                        "1 for the instance's current state (what /readyz "
                                        "reports), else 0",
                                        "state", CF_MERGE_MAX);
        for (int i = 0; i < CF_SVC_STATES; i++)
                s->m_state[i] = cf_metric_series(f, cf_service_state_name((cf_svc_state)i));
        s->m_auth_errors =
            cf_metrics_counter_series(s->reg, "customsflow_kafka_auth_errors_total",
                                      "Kafka authentication, authorization and TLS failures");
}

void cf_service_metrics_free(cf_service *s)
{
        cf_metrics_free(s->reg);
        pthread_mutex_destroy(&s->reg_mtx);
}

void cf_worker_metrics_init(cf_worker *w)
{
        cf_metrics *m = cf_chain_registry(w->chain);
        cf_worker_metrics *x = &w->m;
        x->f_in = cf_metrics_counter(m, "customsflow_records_in_total",
                                     "records consumed, per input partition", "topic,partition");
        x->f_lag = cf_metrics_gauge(m, "customsflow_consumer_lag",
                                    "high watermark minus next offset to process, per assigned "
                                    "input partition",
                                    "topic,partition", CF_MERGE_SUM);
        x->invariant_ok =
            cf_metrics_gauge_series(m, "customsflow_invariant_ok",
                                    "1 while at every commit each partition's consumed offsets "
                                    "equalled processed + duplicates + dead_lettered as counted by "
                                    "the chain; 0 once not",
                                    CF_MERGE_MIN);
        cf_gauge_set(x->invariant_ok, 1);
        x->outq = cf_metrics_gauge_series(m, "customsflow_producer_queue_depth",
                                          "messages awaiting acks", CF_MERGE_SUM);
        x->commits = cf_metrics_counter_series(m, "customsflow_commits_total", "offset commits");
        x->commit_errors = cf_metrics_counter_series(m, "customsflow_commit_errors_total",
                                                     "failed offset commits");
        x->delivery_errors = cf_metrics_counter_series(m, "customsflow_delivery_errors_total",
                                                       "outputs not delivered");
        x->checkpoints = cf_metrics_counter_series(m, "customsflow_checkpoints_total",
                                                   "state checkpoints written");
        x->checkpoint_bytes =
            cf_metrics_counter_series(m, "customsflow_checkpoint_bytes_total",
                                      "bytes of state checkpoints written to the changelog");
        x->checkpoint_errors =
            cf_metrics_counter_series(m, "customsflow_checkpoint_errors_total",
                                      "failed state checkpoints (offsets of the partition not "
                                      "committed; retried)");
        x->lost = cf_metrics_counter_series(
            m, "customsflow_assignments_lost_total",
            "assignments lost (the group session expired): let go without a checkpoint or a "
            "commit; the new owner processes again from the last commit");
        x->resets = cf_metrics_counter_series(m, "customsflow_offset_resets_total",
                                              "positions out of range reset by auto.offset.reset");
        x->f_skipped = cf_metrics_counter(m, "customsflow_offsets_skipped_total",
                                          "offsets skipped by offset resets (records deleted "
                                          "before they were read: lost upstream of every other "
                                          "counter)",
                                          "topic,partition");
        x->refetched = cf_metrics_counter_series(
            m, "customsflow_refetched_total",
            "records delivered again after a re-assignment and not processed twice (this "
            "assignment had processed their offsets already), or of a fetch from before the "
            "partition moved back (a resume after its restore, a rewind)");
        x->align_forced = cf_metrics_counter_series(
            m, "customsflow_align_forced_total",
            "batches that took records out of timestamp order across partitions: a partition "
            "with records on the broker sent none within pipeline.align_wait, or "
            "pipeline.align_buffer was full");
        x->outcome_relearns =
            cf_metrics_counter_series(m, "customsflow_outcome_relearns_total",
                                      "model checkpoints not usable: the model re-learnt from the "
                                      "start of the outcomes topic");
        x->outcomes_start_s = cf_metrics_gauge_series(
            m, "customsflow_outcomes_start_seconds",
            "seconds the worker's last start took to restore the risk model and read the "
            "outcomes topic to its end, before its first declaration",
            CF_MERGE_MAX);
        cf_metric *pop = cf_metrics_counter(m, "customsflow_population_messages_total",
                                            "population-state messages published (contributions, "
                                            "certificate uses), applied to the workers' replicas, "
                                            "refused as malformed",
                                            "result");
        x->pop_published = cf_metric_series(pop, "published");
        x->pop_applied = cf_metric_series(pop, "applied");
        x->pop_refused = cf_metric_series(pop, "refused");
        x->restores =
            cf_metrics_counter_series(m, "customsflow_restores_total",
                                      "partition states restored on assignment (empty when none)");
        x->f_restore_failing = cf_metrics_gauge(
            m, "customsflow_restore_failing",
            "1 while the last restore of the partition's state failed (the partition stays "
            "paused and is retried: state.on_restore_error: retry), else 0",
            "topic,partition", CF_MERGE_MAX);
        x->restoring = cf_metrics_gauge_series(m, "customsflow_partitions_restoring",
                                               "assigned partitions whose state is not restored "
                                               "yet (paused)",
                                               CF_MERGE_SUM);
        x->restore_errors = cf_metrics_counter_series(
            m, "customsflow_restore_errors_total",
            "failed attempts to restore a partition's state (changelog unreadable, snapshot "
            "refused)");
        x->restore_bytes = cf_metrics_counter_series(m, "customsflow_restore_bytes_total",
                                                     "changelog bytes (keys and values) read by "
                                                     "restores");
        x->restore_records = cf_metrics_counter_series(m, "customsflow_restore_records_total",
                                                       "changelog records read by restores");
        x->restore_lookups = cf_metrics_counter_series(
            m, "customsflow_restore_lookups_total",
            "lookups of committed and changelog end offsets by restores (each for every "
            "partition due at the time)");
        x->restore_seconds = cf_metric_series(cf_metrics_histogram(
            m, "customsflow_restore_seconds",
            "partition restore: assignment to the partition resumed with its state", NULL,
            restore_bounds_s, N_RESTORE));
        x->f_fetch_stalled = cf_metrics_gauge(
            m, "customsflow_partition_fetch_stalled",
            "1 while the partition is found stalled: its input has records past its position, "
            "none came for pipeline.fetch_stall_timeout and librdkafka's fetcher is not past them "
            "(re-assigned and resumed; 0 once its records come)",
            "topic,partition", CF_MERGE_MAX);
        x->fetch_stalls = cf_metrics_counter_series(
            m, "customsflow_fetch_stalls_total",
            "partitions found stalled (each re-assigned at its position and resumed)");
        x->pauses = cf_metrics_counter_series(m, "customsflow_backpressure_pauses_total",
                                              "times fetching was paused waiting for output acks");
        x->commit_seconds = cf_metric_series(cf_metrics_histogram(
            m, "customsflow_commit_seconds",
            "commit: commit_interval due to offsets committed (at_least_once: the "
            "checkpoints spread over batches, pipeline.checkpoint_slice)",
            NULL, restore_bounds_s, N_RESTORE));
        x->checkpoint_slices = cf_metrics_counter_series(
            m, "customsflow_checkpoint_slices_total",
            "slices of commits: turns between two batches in which partitions were checkpointed");
        x->batch_processed = histogram(m, "customsflow_batch_processed_seconds",
                                       "batch latency: consume to processed by the stages and "
                                       "outputs handed to the producer");
        x->batch_acked = histogram(m, "customsflow_batch_seconds",
                                   "batch latency: consume to every output of the batch "
                                   "acknowledged by the broker (batches with outputs)");
        x->record_e2e = cf_metric_series(cf_metrics_histogram(
            m, "customsflow_record_e2e_seconds",
            "end-to-end latency: a batch's oldest record's Kafka timestamp (the producer's "
            "CreateTime, or the broker's LogAppendTime) to every output of the batch "
            "acknowledged; includes its time in the topic and the consumer's queue, and "
            "depends on the producer's clock (as Kafka Streams' record-e2e-latency)",
            NULL, e2e_bounds_s, N_E2E));
}

void cf_worker_metrics_free(cf_worker *w)
{
        for (size_t i = 0; i < w->m.n_acks; i++)
                free(w->m.all_acks[i]);
        free(w->m.all_acks);
        w->m.all_acks = NULL;
        w->m.free_acks = NULL;
        w->m.n_acks = 0;
}

void cf_worker_metrics_assign(cf_worker *w, int32_t p)
{
        cf_worker_part *wp = &w->parts[p];
        if (!wp->in) {
                char num[16];
                snprintf(num, sizeof num, "%d", (int)p);
                wp->in = cf_metric_series(w->m.f_in, w->svc->sc.topic_in, num);
                wp->lag = cf_metric_series(w->m.f_lag, w->svc->sc.topic_in, num);
                wp->skipped = cf_metric_series(w->m.f_skipped, w->svc->sc.topic_in, num);
        }
        cf_offset_range_reset(&wp->range);
}

void cf_worker_metrics_restored(cf_worker *w, int32_t p)
{
        cf_chain_part_counts(w->chain, p, &w->parts[p].base);
        cf_counter_inc(w->m.restores);
        cf_worker_metrics_mark(w, p);
}

void cf_worker_metrics_mark(cf_worker *w, int32_t p)
{
        cf_worker_part_mark *k = &w->parts_committed[p];
        k->in = cf_counter_get(w->parts[p].in);
        k->range = w->parts[p].range;
        cf_chain_part_counts(w->chain, p, &k->counts);
}

void cf_worker_metrics_rewind(cf_worker *w, int32_t p)
{
        const cf_worker_part_mark *k = &w->parts_committed[p];
        cf_counter_rewind(w->parts[p].in, k->in);
        w->parts[p].range = k->range;
        cf_chain_part_counts_rewind(w->chain, p, &k->counts);
}

void cf_worker_metrics_revoke(cf_worker *w, int32_t p)
{
        if (w->parts[p].lag) cf_gauge_unset(w->parts[p].lag);
}

int64_t cf_worker_metrics_refresh(cf_worker *w)
{
        int64_t max_lag = -1;
        for (int32_t p = 0; p < CF_SVC_MAX_PARTITIONS; p++) {
                if (!w->assigned[p]) continue;
                int64_t lo = -1, hi = -1;
                if (rd_kafka_get_watermark_offsets(w->consumer, w->svc->sc.topic_in, p, &lo, &hi) ||
                    hi < 0) {
                        cf_gauge_unset(w->parts[p].lag);
                        continue;
                }
                int64_t next = w->next_offset[p] >= 0 ? w->next_offset[p]
                               : w->committed[p] >= 0 ? w->committed[p]
                                                      : lo;
                cf_gauge_set(w->parts[p].lag, (double)(hi - next));
                if (hi - next > max_lag) max_lag = hi - next;
        }
        cf_gauge_set(w->m.outq, (double)rd_kafka_outq_len(w->producer));
        cf_chain_collect(w->chain);
        return max_lag;
}

bool cf_worker_metrics_check(cf_worker *w, int32_t p)
{
        cf_worker_part *wp = &w->parts[p];
        cf_part_counts now, o;
        cf_chain_part_counts(w->chain, p, &now);
        o = (cf_part_counts){
            now.processed - wp->base.processed, now.duplicates - wp->base.duplicates,
            now.dead_lettered - wp->base.dead_lettered, now.flagged - wp->base.flagged};
        uint64_t consumed = cf_offset_range_consumed(&wp->range);
        if (cf_invariant_check(w->m.invariant_ok, consumed, &o)) return true;
        cf_log(CF_LOG_ERROR, COMPONENT,
               "worker %d: partition %d: accounting invariant broken: %" PRIu64
               " offsets consumed != processed %" PRIu64 " + duplicates %" PRIu64
               " + dead_lettered %" PRIu64,
               w->id, p, consumed, o.processed, o.duplicates, o.dead_lettered);
        return false;
}

cf_batch_ack *cf_batch_ack_open(cf_worker *w, double t0)
{
        cf_worker_metrics *x = &w->m;
        cf_batch_ack *a = x->free_acks;
        if (a) {
                x->free_acks = a->next_free;
        } else {
                /* a pool: batches in flight are bounded by the commit interval's acks */
                a = malloc(sizeof *a);
                if (!a) abort();
                if (!(x->n_acks & (x->n_acks - 1))) { /* 0, 1, 2, 4...: double */
                        x->all_acks =
                            realloc(x->all_acks, (x->n_acks ? 2 * x->n_acks : 1) * sizeof(a));
                        if (!x->all_acks) abort();
                }
                x->all_acks[x->n_acks++] = a;
        }
        *a = (cf_batch_ack){.t0 = t0, .waited = -1, .open = true};
        return a;
}

/* Back to the pool: only once no output of the batch can report any more. */
static void release(cf_worker *w, cf_batch_ack *a)
{
        a->next_free = w->m.free_acks;
        w->m.free_acks = a;
}

void cf_batch_ack_close(cf_worker *w, cf_batch_ack *a)
{
        a->open = false;
        if (!a->pending) release(w, a);
}

void cf_batch_ack_report(cf_worker *w, cf_batch_ack *a, bool ok)
{
        if (!ok) a->failed = true;
        if (a->pending) a->pending--;
        if (a->open || a->pending) return;
        if (!a->failed) {
                double took = cf_mono_s() - a->t0;
                cf_histogram_observe(w->m.batch_acked, took);
                if (a->waited >= 0) cf_histogram_observe(w->m.record_e2e, a->waited + took);
        }
        release(w, a);
}
