/*
 * fetch_gate.h - which fetched records of one input partition the worker
 * hands to the chain: each offset once per assignment, in order, and never
 * one of an earlier fetch after the partition was moved back.
 *
 * Why: moving a partition (a re-assignment at new positions, a seek) does not
 * take the earlier fetch's messages out of the consumer queue at once; seen on
 * librdkafka's mock cluster, both after a re-assignment (760 of 16,384 records
 * delivered twice) and after a restore resumed a partition. Delivered again
 * below what was processed, they are skipped (AGAIN). Worse, when the new
 * position is below records the earlier fetch delivers next (a partition
 * resumed after its restore at the first record it held back; a rewind after
 * an aborted transaction), taking one of those moved the partition past the
 * records the new fetch then delivers, which were skipped as AGAIN: the
 * partition never committed past them (test_kafka_restore, 1,980 of 2,000
 * records). So after such a move the gate waits for the new fetch's first
 * record, an offset in [wait_lo, wait_hi] (records it saw before the move:
 * they exist), and drops the earlier fetch's records until then (STALE).
 *
 * @locality: the worker thread that owns the partition.
 */
#ifndef CF_FETCH_GATE_H
#define CF_FETCH_GATE_H

#include <stdint.h>

/** One partition's gate (all -1: nothing taken, held or awaited). */
typedef struct cf_fetch_gate {
        int64_t taken_to;         /* handed to the chain up to (exclusive), -1 none */
        int64_t held_lo, held_hi; /* fetched while its restore was pending, -1 none */
        int64_t wait_lo, wait_hi; /* moved: the new fetch's first record is in here, -1 none */
} cf_fetch_gate;

/** What to do with a fetched record. */
typedef enum cf_fetch_verdict {
        CF_FETCH_TAKE,  /* process it */
        CF_FETCH_AGAIN, /* processed already in this assignment */
        CF_FETCH_STALE, /* of a fetch before the partition moved */
} cf_fetch_verdict;

/** The partition (newly) assigned: nothing taken, held or awaited. */
void cf_fetch_gate_reset(cf_fetch_gate *g);
/** A record fetched while the partition's state is not in place: fetched again later. */
void cf_fetch_gate_hold(cf_fetch_gate *g, int64_t offset);
/** The state is in place: the position to resume at (the lowest record held, -1: none
 *  held, the partition's own position), awaiting the new fetch's first record. */
int64_t cf_fetch_gate_resume(cf_fetch_gate *g);
/** Records from offset on are processed again (a rewind after an aborted transaction):
 *  taken again, awaiting the new fetch's first record. */
void cf_fetch_gate_rewind(cf_fetch_gate *g, int64_t offset);
/** The position moved somewhere whose records are not known (an offset reset): stop
 *  awaiting a record. */
void cf_fetch_gate_moved(cf_fetch_gate *g);
/** The verdict on a fetched record at offset (TAKE moves the gate past it). */
cf_fetch_verdict cf_fetch_gate_take(cf_fetch_gate *g, int64_t offset);

#endif
