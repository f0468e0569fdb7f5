/*
 * align.h - the order in which a worker hands its partitions' fetched records to
 * the chain: by record timestamp across its partitions, not in fetch order
 * (Kafka Streams' PartitionGroup and max.task.idle.ms; Flink's watermark
 * alignment does the same between splits).
 *
 * Why: a consumer fetches a backlog partition by partition, up to a message set
 * or max.partition.fetch.bytes each, so in fetch order one partition's first
 * ~1,600 records (a few weeks of event time of a whole stream split in 64) came
 * before another's first. Rules that read other partitions (the population
 * state: unit-value baselines, certificate uses) then decided on what those
 * partitions had not reached yet: on a 200,000-record backlog in 64
 * partitions, certificate_reuse 605-663 and unit_value_outlier 426-464 against
 * replay's 851 and 564. Aligned, partitions progress together in time, as
 * replay's do (bench/RESULTS.md § "Partitions in timestamp order").
 *
 * A partition "waits" while it holds no record and more of it is known to be on
 * the broker (the worker says which: not at its end, not restoring); the oldest
 * held record is taken only when no partition waits. The worker forces takes
 * when the wait has lasted too long or the buffer is full (records are then
 * taken in timestamp order among those held, as before this module in effect).
 *
 * Items are opaque (the worker's rd_kafka_message_t): this module never calls
 * librdkafka and allocates only when a partition's queue grows.
 *
 * @locality: the worker thread that owns it.
 */
#ifndef CF_ALIGN_H
#define CF_ALIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cf_align cf_align;

/** Destroys an item (cf_align_free, cf_align_drop). */
typedef void (*cf_align_drop_fn)(void *item);

/** A buffer for partitions 0 .. n_parts - 1; NULL when out of memory. */
cf_align *cf_align_new(int32_t n_parts);
/** Free it, each item still held passed to drop (NULL: none). */
void cf_align_free(cf_align *a, cf_align_drop_fn drop);
/** Hold item, partition p's next record (timestamp ts, bytes of memory); -1 when out of
 *  memory (the item is then not held). */
int cf_align_add(cf_align *a, int32_t p, int64_t ts, size_t bytes, void *item);
/** Whether p, while it holds nothing, may still deliver a record older than those held. */
void cf_align_set_wait(cf_align *a, int32_t p, bool wait);
/** The oldest record held (ties: the first added); NULL when none is held or, unless
 *  force, a partition waits. */
void *cf_align_take(cf_align *a, bool force);
/** Records are held but none can be taken without force: a partition waits. */
bool cf_align_blocked(const cf_align *a);
/** Bytes held (the sum of cf_align_add's). */
size_t cf_align_bytes(const cf_align *a);
/** Records held. */
size_t cf_align_count(const cf_align *a);
/** Drop p's records (each passed to drop) and its wait: p was revoked. */
void cf_align_drop(cf_align *a, int32_t p, cf_align_drop_fn drop);

#endif
