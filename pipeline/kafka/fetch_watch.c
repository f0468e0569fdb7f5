/*
 * fetch_watch.c - a partition that silently stops being fetched is found and
 * started again (pipeline.fetch_stall_timeout).
 *
 * Why: librdkafka (2.0.2 here) drops a partition's op whose version barrier was
 * overtaken (rd_kafka_toppar_op_serve: "outdated"). The barrier is taken by the
 * calling thread and the op queued after it, so an application's pause/resume
 * and the main thread's fetch start of a re-assignment, made at the same moment
 * for the same partition, can be served out of order: the resume is dropped
 * (the partition stays paused) or the fetch start is (it never fetches).
 * restore.c re-assigned a restored partition and resumed it right after: such a
 * moment (seen; it now resumes a while after, restore.c). Other moments remain
 * (a resume just after an earlier re-assignment of the same partition whose
 * fetch start librdkafka makes late, under load; librdkafka issues #2190 and
 * #5591 describe the kind), and nothing errs: the partition's lag grows while
 * the worker waits for records. So this watch.
 *
 * So every check (a quarter of the timeout, 100 ms to 5 s) a restored partition
 * from which no record came for the timeout is looked at, while the worker's
 * consumer queue is empty (with records waiting, the worker is behind, not the
 * fetcher: a deep queue is never a stall). It is suspect when the input's end,
 * asked of the broker, is past the partition's position and librdkafka's
 * fetcher has not seen that end (its cached high watermark, refreshed by every
 * fetch response, is below it: records it cannot deliver, such as transaction
 * markers, do not count). Still so a check later, with still no record, it is
 * stalled: counted, logged as an error, its gauge set, and it is re-assigned at
 * its exact position (cf_worker_reposition: the fetch gate sees no move, what
 * was processed is not again) and resumed a little later, as a restored
 * partition is (cf_restore_resume_later). If that meets the same race, the
 * next timeout tries again.
 *
 * @locality: worker thread (its loop).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "pipeline/core/clock.h"
#include "pipeline/kafka/service_int.h"

#define COMPONENT "worker"

/* Longest wait for the broker's answer on the input's ends (the loop is held that long). */
#define ENDS_WAIT_MS 2000

void cf_fetch_watch_restart(cf_worker *w, int32_t p)
{
        w->fw[p].rx_ms = cf_mono_ms();
        w->fw[p].suspect_ms = 0;
}

void cf_fetch_watch_restart_all(cf_worker *w)
{
        for (int32_t p = 0; p < CF_SVC_MAX_PARTITIONS; p++)
                if (w->assigned[p]) cf_fetch_watch_restart(w, p);
}

void cf_fetch_watch_revoke(cf_worker *w, int32_t p)
{
        w->fw[p].stalled = false;
        w->fw[p].suspect_ms = 0;
        if (w->fw[p].stalled_g) cf_gauge_unset(w->fw[p].stalled_g);
}

void cf_fetch_watch_unstalled(cf_worker *w, int32_t p)
{
        w->fw[p].stalled = false;
        cf_gauge_set(w->fw[p].stalled_g, 0);
        cf_log(CF_LOG_INFO, COMPONENT, "worker %d: partition %d: records come again", w->id, p);
}

/* The offset of p's next record to process; -1 when not known (nothing processed yet and
 * no absolute start: auto.offset.reset latest). committed: the group's, -1 none. */
static int64_t position(const cf_worker *w, int32_t p, int64_t committed, int64_t lo)
{
        if (w->next_offset[p] >= 0) return w->next_offset[p];
        if (w->start_at[p] >= 0) return w->start_at[p];
        if (w->start_at[p] == RD_KAFKA_OFFSET_INVALID && committed >= 0) return committed;
        if (w->start_at[p] == RD_KAFKA_OFFSET_BEGINNING) return lo;
        if (w->start_at[p] == RD_KAFKA_OFFSET_INVALID && w->svc->sc.offset_reset != CF_RESET_LATEST)
                return lo; /* no committed offset: it starts at the beginning */
        return -1;
}

/* Is p due for a look: assigned, restored, nothing from it for the timeout (or suspect)? */
static bool due(const cf_worker *w, int32_t p, int64_t now)
{
        return w->assigned[p] && !w->rp[p].pending &&
               (w->fw[p].suspect_ms || now - w->fw[p].rx_ms >= w->svc->sc.fetch_stall_timeout_ms);
}

/* Found stalled: counted, logged, flagged. */
static void stalled(cf_worker *w, int32_t p, int64_t pos, int64_t hi, int64_t seen, int64_t now)
{
        cf_fetch_watch *f = &w->fw[p];
        if (!f->stalled_g) {
                char num[16];
                snprintf(num, sizeof num, "%d", (int)p);
                f->stalled_g = cf_metric_series(w->m.f_fetch_stalled, w->svc->sc.topic_in, num);
        }
        f->stalled = true;
        cf_gauge_set(f->stalled_g, 1);
        cf_counter_inc(w->m.fetch_stalls);
        cf_log(CF_LOG_ERROR, COMPONENT,
               "worker %d: partition %d: not fetched: no record for %.1f s while the input "
               "ends at %" PRId64 ", past its position %" PRId64
               " (librdkafka's fetcher saw up to %" PRId64 "); re-assigned at its position and "
               "resumed",
               w->id, p, (double)(now - f->rx_ms) / 1000.0, hi, pos, seen);
}

/* Look at the due partitions in l (their ends and committed offsets asked of the broker). */
static void look(cf_worker *w, rd_kafka_topic_partition_list_t *ends,
                 rd_kafka_topic_partition_list_t *com, int64_t now)
{
        const cf_service_cfg *sc = &w->svc->sc;
        bool any = false;
        for (int i = 0; i < ends->cnt; i++) {
                int32_t p = ends->elems[i].partition;
                cf_fetch_watch *f = &w->fw[p];
                int64_t hi = ends->elems[i].err ? -1 : ends->elems[i].offset;
                if (hi < 0) continue; /* not known this time: looked at again next check */
                int64_t c = com->elems[i].err ? -1 : com->elems[i].offset;
                int64_t lo = -1, seen = -1;
                if (rd_kafka_get_watermark_offsets(w->consumer, sc->topic_in, p, &lo, &seen))
                        seen = -1;
                int64_t pos = position(w, p, c, lo < 0 ? 0 : lo);
                if (pos < 0 || hi <= pos || seen >= hi) {
                        /* nothing to fetch, or the fetcher is past it: idle, not stalled */
                        cf_fetch_watch_restart(w, p);
                        continue;
                }
                if (!f->suspect_ms) {
                        f->suspect_ms = now; /* a fetch may be under way: confirmed next check */
                        f->suspect_hi = hi;
                } else if (seen < f->suspect_hi) {
                        stalled(w, p, pos, hi, seen, now);
                        cf_restore_resume_later(w, p); /* after the re-assignment below */
                        cf_fetch_watch_restart(w, p);  /* the next try after another timeout */
                        any = true;
                }
        }
        if (any) {
                w->any_reset = true;
                cf_worker_reposition(w); /* every partition at its exact position */
        }
}

void cf_fetch_watch_poll(cf_worker *w)
{
        int64_t timeout = w->svc->sc.fetch_stall_timeout_ms, now = cf_mono_ms();
        int64_t every = timeout / 4 < 100 ? 100 : timeout / 4 > 5000 ? 5000 : timeout / 4;
        if (!timeout || now - w->watch_ms < every) return;
        w->watch_ms = now;
        /* records waiting: the worker is behind, not the fetcher */
        if (rd_kafka_queue_length(w->cq) > 0 || (w->align && cf_align_count(w->align))) return;
        rd_kafka_topic_partition_list_t *ends = NULL, *com = NULL;
        for (int32_t p = 0; p < CF_SVC_MAX_PARTITIONS; p++) {
                if (!due(w, p, now)) continue;
                if (!ends) {
                        ends = rd_kafka_topic_partition_list_new(8);
                        com = rd_kafka_topic_partition_list_new(8);
                }
                rd_kafka_topic_partition_list_add(ends, w->svc->sc.topic_in, p)->offset =
                    RD_KAFKA_OFFSET_END; /* as a timestamp: the latest offset */
                rd_kafka_topic_partition_list_add(com, w->svc->sc.topic_in, p);
        }
        if (!ends) return;
        /* one request each for every partition due, not one per partition. The ends through
         * the reader outside the group: the group's consumer sends the request behind its
         * fetch, which the broker holds for fetch.wait.max.ms when, as here, the partitions
         * are idle (500 ms by default: the worker's loop was held that long every check);
         * the committed offsets go to the group coordinator's own connection. */
        rd_kafka_t *rk = cf_changelog_reader(w);
        rd_kafka_resp_err_t e =
            rd_kafka_offsets_for_times(rk ? rk : w->consumer, ends, ENDS_WAIT_MS);
        if (!e) e = rd_kafka_committed(w->consumer, com, ENDS_WAIT_MS);
        if (!e) look(w, ends, com, now);
        rd_kafka_topic_partition_list_destroy(ends);
        rd_kafka_topic_partition_list_destroy(com);
}
