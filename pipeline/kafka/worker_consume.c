/*
 * worker_consume.c - what a worker takes from its consumer for a batch: in the order
 * fetched, or (pipeline.align_buffer) in record-timestamp order across its partitions
 * through align.c, holding the fetched records of partitions that are ahead.
 *
 * @locality: worker thread (its loop; the consumer's callbacks, rebalances included, run
 * inside these polls).
 */
#include <stdio.h>
#include <stdlib.h>

#include "pipeline/core/clock.h"
#include "pipeline/kafka/service_int.h"

/* Longest slice of a batch's wait between two polls of the producer. */
#define CONSUME_SLICE_MS 5

/* Up to batch_size messages into w->msgs in fetch order, waiting at most wait_ms: until the
 * batch is full, the wait is over, or (some taken) the queue ran dry. The wait
 * is sliced to serve delivery reports, which only a poll on this thread does:
 * with one blocking wait a batch's acknowledgement waited for the next batch
 * to fill (up to batch_timeout) and be processed (customsflow_batch_seconds
 * p50 ~120 ms at 66k records/s). Returns the messages taken, -1 on error. */
static ssize_t consume_fetched(cf_worker *w, int wait_ms)
{
        size_t max = (size_t)w->svc->sc.batch_size, n = 0;
        int64_t deadline = cf_mono_ms() + wait_ms;
        for (;;) {
                int64_t left = deadline - cf_mono_ms();
                int slice =
                    left <= 0 ? 0 : (int)(left < CONSUME_SLICE_MS ? left : CONSUME_SLICE_MS);
                ssize_t got = rd_kafka_consume_batch_queue(w->cq, slice, w->msgs + n, max - n);
                if (got < 0) return n ? (ssize_t)n : got;
                n += (size_t)got;
                if (n == max || left <= 0 || (n && !got)) return (ssize_t)n;
                w->produced_unpolled = 0;
                rd_kafka_poll(w->producer, 0);
        }
}

/* ---- timestamp order across partitions (align.h) ---- */

static void drop_msg(void *m)
{
        rd_kafka_message_destroy(m);
}

void cf_worker_align_drop(cf_worker *w, int32_t p)
{
        if (w->align) cf_align_drop(w->align, p, drop_msg);
}

void cf_worker_align_free(cf_worker *w)
{
        cf_align_free(w->align, drop_msg);
        w->align = NULL;
        free(w->pull);
        w->pull = NULL;
}

/* A partition is waited for while it holds nothing and more of it is on the broker: it is
 * assigned, its state is in place (a restoring partition is paused: its records come after
 * its restore, and the others do not wait for it) and its fetcher has not said it is at its
 * end since its last record. */
static void align_waits(cf_worker *w)
{
        for (int32_t p = 0; p < CF_SVC_MAX_PARTITIONS; p++)
                cf_align_set_wait(w->align, p,
                                  w->assigned[p] && !w->rp[p].pending && !w->at_eof[p]);
}

/* Move what the consumer queue holds into the buffer, waiting at most wait_ms for the
 * first, while the buffer is under pipeline.align_buffer. Errors are handled here (an
 * offset reset is applied after the batch, as before). Returns the messages pulled. */
static size_t align_pull(cf_worker *w, int wait_ms)
{
        const cf_service_cfg *sc = &w->svc->sc;
        size_t pulled = 0;
        while (cf_align_bytes(w->align) < (size_t)sc->align_buffer) {
                ssize_t got =
                    rd_kafka_consume_batch_queue(w->cq, wait_ms, w->pull, (size_t)sc->batch_size);
                if (got <= 0) break;
                for (ssize_t i = 0; i < got; i++) {
                        rd_kafka_message_t *m = w->pull[i];
                        int32_t p = m->partition;
                        if (m->err) {
                                if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF && cf_part_ok(p)) {
                                        w->at_eof[p] = true;
                                        cf_align_set_wait(w->align, p, false);
                                } else {
                                        cf_worker_consume_error(w, m);
                                }
                                rd_kafka_message_destroy(m);
                                continue;
                        }
                        /* fetched before a revoke: the new owner will process it */
                        if (!cf_part_ok(p) || !w->assigned[p]) {
                                rd_kafka_message_destroy(m);
                                continue;
                        }
                        if (cf_align_add(w->align, p, rd_kafka_message_timestamp(m, NULL),
                                         m->len + m->key_len + sizeof *m, m)) {
                                /* the record would be skipped: stop, uncommitted, instead */
                                rd_kafka_message_destroy(m);
                                snprintf(w->fatal_reason, sizeof w->fatal_reason,
                                         "out of memory holding fetched records "
                                         "(pipeline.align_buffer)");
                                atomic_store(&w->fatal, true);
                                continue;
                        }
                        w->at_eof[p] = false;
                }
                pulled += (size_t)got;
                if ((size_t)got < (size_t)sc->batch_size) break;
                wait_ms = 0;
        }
        return pulled;
}

/* Up to max - n messages from the buffer into w->msgs + n, oldest first. A partition
 * waited for holds the others back until pipeline.align_wait has passed or the buffer
 * is full; then the batch goes on without it (counted). */
static size_t align_take(cf_worker *w, size_t n, size_t max)
{
        const cf_service_cfg *sc = &w->svc->sc;
        bool blocked = cf_align_blocked(w->align);
        if (!blocked) {
                w->align_blocked_ms = 0;
        } else if (!w->align_blocked_ms) {
                w->align_blocked_ms = cf_mono_ms();
        }
        bool force = blocked && (cf_mono_ms() - w->align_blocked_ms >= sc->align_wait_ms ||
                                 cf_align_bytes(w->align) >= (size_t)sc->align_buffer);
        size_t n0 = n;
        void *m;
        while (n < max && (m = cf_align_take(w->align, force)))
                w->msgs[n++] = m;
        if (force && n > n0) cf_counter_inc(w->m.align_forced);
        return n;
}

/* consume_fetched's contract, in timestamp order across the partitions (align.h). */
static ssize_t consume_aligned(cf_worker *w, int wait_ms)
{
        size_t max = (size_t)w->svc->sc.batch_size, n = 0;
        int64_t deadline = cf_mono_ms() + wait_ms;
        align_waits(w);
        for (;;) {
                int64_t left = deadline - cf_mono_ms();
                int slice =
                    left <= 0 ? 0 : (int)(left < CONSUME_SLICE_MS ? left : CONSUME_SLICE_MS);
                /* a slice's wait for input only while nothing can be taken: none held, or
                 * a partition waited for */
                bool idle = !n && (!cf_align_count(w->align) || cf_align_blocked(w->align));
                size_t got = align_pull(w, idle ? slice : 0);
                n = align_take(w, n, max);
                if (n == max || left <= 0) return (ssize_t)n;
                /* some taken and nothing more came, or the rest waits for a partition */
                if (n && (!got || cf_align_blocked(w->align))) return (ssize_t)n;
                w->produced_unpolled = 0;
                rd_kafka_poll(w->producer, 0);
        }
}

ssize_t cf_worker_consume(cf_worker *w, int wait_ms)
{
        return w->align ? consume_aligned(w, wait_ms) : consume_fetched(w, wait_ms);
}
