/*
 * dedup_ids.h - compact declaration ids for the shipment table's id pools.
 *
 * The duplicate_shipment evidence names the other declaration, so every
 * shipment sighting keeps its declaration id. Ids are mostly a fixed prefix
 * and a zero-padded number ("US-2025-000000017"): a record in a pool stores
 * the prefix as an index into a per-partition dictionary and the number as a
 * varint (3-7 bytes instead of 18). Anything else is kept raw. The encoding
 * is in memory only: snapshots and deltas carry ids as text, so the
 * dictionary is rebuilt by a restore and never written.
 *
 * Record layout (first byte h):
 *   h < 0xC0          raw id of h bytes follows
 *   h = 0xFF          raw id: a length byte, then that many bytes
 *   0xC0 <= h <= 0xD2 h - 0xBF digits (1-19), a prefix index byte, the
 *                     number as LEB128; the id is the prefix then the number
 *                     zero-padded to that many digits
 */
#ifndef CF_DEDUP_IDS_H
#define CF_DEDUP_IDS_H

#include <stddef.h>
#include <stdint.h>

#include "pipeline/core/buf.h"

#define CF_DD_ID_MAX     255 /* longest id a pool keeps (bytes) */
#define CF_DD_ID_ENC_MAX (CF_DD_ID_MAX + 2)
#define CF_DD_PREFIX_MAX 255 /* prefixes per partition; more are kept raw */
#define CF_DD_PREFIX_LEN 64  /* longest prefix put in the dictionary */

/** A partition's prefix dictionary (never shrinks; at most CF_DD_PREFIX_MAX prefixes). */
typedef struct cf_dd_prefixes {
        cf_buf text;                            /* each prefix: u8 length + bytes */
        uint16_t off[CF_DD_PREFIX_MAX];         /* offset of prefix i in text */
        uint8_t slot[2 * CF_DD_PREFIX_MAX + 2]; /* open addressing: 1 + index, 0 empty */
        uint32_t n;
        uint32_t last; /* the prefix encoded last (ids of a partition share few prefixes) */
} cf_dd_prefixes;

/** Encode id (n <= CF_DD_ID_MAX bytes) into out (CF_DD_ID_ENC_MAX bytes); returns the length. */
size_t cf_dd_id_encode(cf_dd_prefixes *d, const char *id, size_t n, unsigned char *out);
/** Decode the record at rec (avail bytes to the pool's end) into out (CF_DD_ID_MAX bytes);
 * returns the id's length, or -1 when the record is not whole or names no prefix. */
int cf_dd_id_decode(const cf_dd_prefixes *d, const unsigned char *rec, size_t avail, char *out);
/** Bytes the dictionary holds. */
size_t cf_dd_prefixes_bytes(const cf_dd_prefixes *d);
/** Free the dictionary's text. */
void cf_dd_prefixes_free(cf_dd_prefixes *d);

#endif
