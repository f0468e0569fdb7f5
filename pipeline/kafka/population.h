/*
 * population.h - the population state on Kafka (DESIGN §6): what makes the
 * unit-value and volume baselines and the certificate uses global across the
 * group. Every worker
 *  - publishes, at each commit and before its checkpoint, and at_least_once also
 *    every pipeline.publish_records records between commits, what its partitions
 *    contributed since the last publish (cf_chain_publish, cumulative mode;
 *    between those, certificate uses after every batch, CF_GLOBAL_USES, which
 *    go into its own replica at once too):
 *    baselines to topics.baselines (compacted; one message per bucket of
 *    population keys holding a changed key, key = source partition + bucket,
 *    value = that partition's whole contribution for the bucket's keys, so
 *    compaction keeps what a new instance needs) and certificate uses to
 *    topics.certificates (a publish's uses in one message); a partition's
 *    messages go to one partition of each topic (the stage's route), so they
 *    are read in order; keys start with "<group_id>/" (as the changelog's do),
 *    so applications sharing the topics keep apart;
 *  - reads both topics whole into its chain's replica, like a Kafka Streams
 *    GlobalKTable: a consumer outside the group, every partition assigned
 *    from the beginning, nothing committed. At start it reads up to the end
 *    offsets seen then before it consumes input (readiness waits for it).
 * Each worker keeps its own replica (its chain's): memory is the replica's
 * bounds times the workers of an instance.
 *
 * @locality: worker thread (start, poll, publish), main thread (free).
 */
#ifndef CF_POPULATION_H
#define CF_POPULATION_H

#include <stdbool.h>
#include <stdint.h>

struct cf_worker;

/** Start reading the population topics whole and read up to their end offsets at start
 * (or until the service stops); -1 when the topics cannot be read. */
int cf_population_start(struct cf_worker *w);
/** Apply what arrived on the population topics (at most a bounded batch), then settle the
 * replica; waits up to timeout_ms for the first message. */
void cf_population_poll(struct cf_worker *w, int timeout_ms);
/** Produce partition's contributions since its last publish (acks are awaited by the
 * commit that follows); -1 when a message could not be queued. */
int cf_population_publish(struct cf_worker *w, int32_t partition);
/** Fold partition's contributions since its last publish into its own, publishing
 * nothing: a checkpoint then holds them (a commit that does not publish). */
void cf_population_fold(struct cf_worker *w, int32_t partition);
/** After every batch: at_least_once, once pipeline.publish_records records were processed,
 * publish every partition that processed records since its last publish (between commits; a
 * commit publishes too); else (and always with exactly_once) only their new certificate uses.
 */
void cf_population_publish_due(struct cf_worker *w);
/** Does a commit starting now publish the population contributions with its checkpoints:
 * with publish_records 0 always, else when the last publish and the applying since then
 * are at most a tenth of the time since (the guard of the publishes between commits). */
bool cf_population_commit_due(const struct cf_worker *w);
/** A publish of the baselines took publish_s: the next one waits for the guard above. */
void cf_population_published(struct cf_worker *w, double publish_s);
/** Free the reader. */
void cf_population_free(struct cf_worker *w);

#endif
