/*
 * keyroute.h - the logical partition of a JSONL declaration line before it is
 * decoded: keyed by its top-level exporter_id, as a Kafka producer keyed by it
 * would send it (cf_partition_of of the unescaped string); a line without one
 * (not JSON, not an object, absent, empty or not a string) goes by the CRC32 of
 * its bytes, as cf_chain_set_partitions sends a record decode refused.
 *
 * Why before decode: a threaded replay gives each thread a set of partitions,
 * so a line's partition must be known before any thread decodes it; the
 * routing is a function of the line's bytes only, whatever the thread count.
 *
 * @locality: any thread; one cf_keyroute per thread (it owns a parser).
 */
#ifndef CF_KEYROUTE_H
#define CF_KEYROUTE_H

#include <stddef.h>
#include <stdint.h>

typedef struct cf_keyroute cf_keyroute;

/** A router (it owns a simdjson On-Demand parser); NULL on allocation failure. */
cf_keyroute *cf_keyroute_new(void);
/** The partition of line among n (n <= 1: 0). readable: bytes readable from line on
 * (>= len; when it leaves simdjson its padding the line is copied first). */
int32_t cf_keyroute_partition(cf_keyroute *k, const char *line, size_t len, size_t readable,
                              int32_t n);
/** Free the router. */
void cf_keyroute_free(cf_keyroute *k);
/** The partition of key among n as librdkafka's default partitioner picks it (chain.c). */
int32_t cf_partition_of(const void *key, size_t len, int32_t n);

#endif
