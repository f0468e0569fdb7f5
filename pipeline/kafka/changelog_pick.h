/*
 * changelog_pick.h - what a restore takes from one changelog partition (issue
 * 18: incremental changelog): a full snapshot (a base) and the deltas written
 * on it, picked by the input offset they cover, never by a clock.
 *
 * Keys under "<group>/<input topic>/<p>/":
 *   b/<base>/<i>         chunk i of a base (base: 16 hex digits, the XXH3 of
 *                        the sealed snapshot, its id); headers cf.chunks,
 *                        cf.offset (the input offset it covers);
 *   d/<base>/<seq>/<i>   chunk i of delta seq (1, 2, ...) on that base;
 *                        headers cf.base, cf.seq, cf.chunks, cf.offset;
 *   <i>                  a chunk of a snapshot of builds before deltas
 *                        (headers cf.snapshot, cf.chunks, cf.offset): a base
 *                        without deltas.
 * A null value (tombstone) removes what its key held.
 *
 * The pick: of the complete bases covering at most the bound (the group's
 * committed offset), with each base's deltas taken in sequence from 1 while
 * complete and within the bound, the chain that covers the most input (on a
 * tie the later base). A base without deltas is a chain of one. Everything
 * read (and not tombstoned) is listed for the writer to tombstone once a newer
 * base of its own is committed.
 *
 * @locality: worker thread (its restore).
 */
#ifndef CF_CHANGELOG_PICK_H
#define CF_CHANGELOG_PICK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pipeline/core/buf.h"

/** What one item (a base or a delta) is. */
typedef enum cf_clog_kind { CF_CLOG_LEGACY, CF_CLOG_BASE, CF_CLOG_DELTA } cf_clog_kind;

/** A base or delta seen in the log (complete or not). */
typedef struct cf_clog_item {
        cf_clog_kind kind;
        uint64_t base;   /* its base's id (legacy: the cf.snapshot header) */
        uint64_t seq;    /* deltas: 1, 2, ...; bases 0 */
        uint64_t chunks; /* chunks it has (cf.chunks) */
        uint64_t next;   /* chunks read so far, in order */
        int64_t covers;  /* cf.offset (-1: not said, builds before it) */
        uint64_t order;  /* when it was completed (log order) */
        int64_t at;      /* changelog offset of its chunk 0 (-1: not known) */
        cf_buf data;
} cf_clog_item;

/** The headers of one changelog message, parsed (has_*: present and a number), and where
 *  the message is (at: its changelog offset, -1 not known). */
typedef struct cf_clog_hdr {
        bool has_snapshot, has_chunks, has_offset, has_base, has_seq;
        uint64_t snapshot, chunks, offset, base, seq;
        int64_t at;
} cf_clog_hdr;

/** A pick in progress over one changelog partition. */
typedef struct cf_clog_pick {
        int64_t bound; /* what a chain may cover at most */
        cf_clog_item *items;
        size_t n, cap;
        uint64_t completed;
        const cf_clog_item **chosen; /* the picked chain's deltas (cf_clog_pick_result) */
} cf_clog_pick;

/** Start a pick of chains covering at most bound. */
void cf_clog_pick_init(cf_clog_pick *k, int64_t bound);
/** One message whose key is under the partition's prefix (tail: the key after it; data NULL:
 * a tombstone). Messages of other shapes are ignored. */
void cf_clog_pick_add(cf_clog_pick *k, const char *tail, size_t tail_len, const void *data,
                      size_t len, const cf_clog_hdr *h);
/** The chain picked: its base (NULL: none) and deltas (*nd, in order; the array is k's, valid
 * until the next add or free), and how much input it covers. */
const cf_clog_item *cf_clog_pick_result(cf_clog_pick *k, const cf_clog_item ***deltas, size_t *nd,
                                        int64_t *covers);
/** Complete chains read that cover more than the bound (not trusted; logged). */
size_t cf_clog_pick_beyond(const cf_clog_pick *k);
/** Append the key tail of every chunk of item it (what a tombstone must name) to out, each
 * NUL-terminated; returns how many. */
size_t cf_clog_item_keys(const cf_clog_item *it, cf_buf *out);
/** Free what the pick holds. */
void cf_clog_pick_free(cf_clog_pick *k);

#endif
