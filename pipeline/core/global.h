/*
 * global.h - population state shared across partitions (DESIGN §6): the
 * messages a stage publishes from one input partition's contributions (unit
 * value and volume baselines, certificate uses) and that every replica of the
 * population state applies, whatever partition they came from.
 *
 * The pipeline carries them and nothing else: `replay` hands them from every
 * partition to the replica in-process at each epoch barrier (delta mode), the
 * service produces them to topics (cumulative mode: `topics.baselines`,
 * compacted, one message per bucket of population keys and source partition;
 * `topics.certificates`, a publish's uses together) and every instance reads
 * those topics whole into its replica, like a Kafka Streams GlobalKTable.
 * Stages build and read the message contents; the framing here only carries
 * (stream, route, key, value).
 *
 * @locality: any thread (pure functions over caller-owned buffers).
 */
#ifndef CF_GLOBAL_H
#define CF_GLOBAL_H

#include <stddef.h>
#include <stdint.h>

#include "pipeline/core/buf.h"

/** Where a message goes: each stream is one topic in the service. */
typedef enum cf_global_stream {
        CF_GLOBAL_BASELINES = 0,    /* topics.baselines: compacted, latest value per key */
        CF_GLOBAL_CERTIFICATES = 1, /* topics.certificates: every use, keyed by certificate */
        CF_GLOBAL_STREAMS = 2
} cf_global_stream;

/** What a publish holds. */
typedef enum cf_global_mode {
        /** The contributions since the last publish, applied once (replay, in-process). */
        CF_GLOBAL_DELTA = 0,
        /** Per changed population key, the partition's whole contribution: a replica
         * replaces that partition's previous one (the service: a compacted topic keeps the
         * latest per key, so a new instance reading it whole has everything). */
        CF_GLOBAL_CUMULATIVE = 1,
        /** As CUMULATIVE, but only what is cheap to publish after every batch: the
         * certificate uses since the last publish (no baseline bucket re-sent whole). */
        CF_GLOBAL_USES = 2,
        /** As CUMULATIVE, but nothing is published: the contributions since the last publish
         * go into the partition's own, so that its checkpoint holds them; the next CUMULATIVE
         * publish sends them (a commit that does not publish, pipeline/kafka/commit.c). */
        CF_GLOBAL_FOLD = 3
} cf_global_mode;

/** One message: views into the publish buffer (or a consumed Kafka message). */
typedef struct cf_global_msg {
        cf_global_stream stream;
        /* >= 0: messages with the same route go to the same topic partition (route modulo
         * the partitions), so they are read in the order they were published; -1: by key */
        int32_t route;
        const unsigned char *key, *val;
        size_t key_len, val_len;
} cf_global_msg;

/** Start a message of stream s with key in out, routed by its key; append the value, then
 * cf_global_end. Returns where the message starts. Frame: u8 stream, i32 route, u32 key
 * length, u32 value length (little-endian), key, value. */
size_t cf_global_begin(cf_buf *out, cf_global_stream s, const void *key, size_t key_len);
/** cf_global_begin with a route (>= 0; see cf_global_msg.route). */
size_t cf_global_begin_route(cf_buf *out, cf_global_stream s, int32_t route, const void *key,
                             size_t key_len);
/** End the message started at `at`: its value is what was appended since. */
void cf_global_end(cf_buf *out, size_t at);
/** Append a whole message. */
void cf_global_put(cf_buf *out, cf_global_stream s, const void *key, size_t key_len,
                   const void *val, size_t val_len);
/** The message at *off of data (advancing *off): 1, 0 at the end, -1 if the frame is
 * malformed. */
int cf_global_next(const void *data, size_t len, size_t *off, cf_global_msg *m);

#endif
