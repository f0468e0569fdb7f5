/*
 * stenc.h - the state encoding (DESIGN §4: "versioned, little-endian and
 * checksummed"): what every stage's snapshot and restore is written with.
 *
 *  - values: explicit little-endian integers (u8/u16/u32/u64/i64), floats as
 *    their IEEE-754 bit patterns (f32/f64, little-endian), short strings and
 *    byte strings with a one-byte length, blocks with an 8-byte length;
 *  - the sealed snapshot (cf_st_seal_*): magic "CFSN", format version, payload
 *    length and the XXH3-64 of the payload, checked before anything is decoded.
 *
 * The decoder is bounds-checked by construction: every read goes through one
 * check of the bytes left; a read past the end (or of a block past its
 * parent's end) records the error, returns zero and makes every later read
 * fail too, so a restore reads a whole structure and tests cf_st_ok() once.
 * Validation against the configuration (cf_st_fail) writes into the same
 * error: the first reason wins and is what errstr says, prefixed with the
 * stage ("detect: origin_volume_surge ring of 4096 hours > configured 24").
 *
 * @locality: any thread; an encoder or decoder belongs to one snapshot or
 * restore (no shared state).
 */
#ifndef CF_STENC_H
#define CF_STENC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "pipeline/core/buf.h"

/** Plausible event times in state (ms): decode's years 0000-9999 fit with room to spare, and
 * any time inside plus or minus a window of up to 1000 years stays far from int64 overflow. */
#define CF_ST_TIME_LIMIT_MS 400000000000000LL

/* ---- encoder: appends to a cf_buf ---- */

/** Room for n more bytes at the end of b; the bytes are counted as written. */
static inline unsigned char *cf_st_room(cf_buf *b, size_t n)
{
        if (b->cap - b->len < n) cf_buf_reserve(b, n);
        unsigned char *p = (unsigned char *)b->p + b->len;
        b->len += n;
        return p;
}

/** Store v little-endian at p (4 bytes). */
static inline void cf_st_store32(unsigned char *p, uint32_t v)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        v = __builtin_bswap32(v);
#endif
        memcpy(p, &v, 4);
}

/** Store v little-endian at p (8 bytes). */
static inline void cf_st_store64(unsigned char *p, uint64_t v)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        v = __builtin_bswap64(v);
#endif
        memcpy(p, &v, 8);
}

/** Load a little-endian uint32 from p. */
static inline uint32_t cf_st_load32(const unsigned char *p)
{
        uint32_t v;
        memcpy(&v, p, 4);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        v = __builtin_bswap32(v);
#endif
        return v;
}

/** Load a little-endian uint64 from p. */
static inline uint64_t cf_st_load64(const unsigned char *p)
{
        uint64_t v;
        memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        v = __builtin_bswap64(v);
#endif
        return v;
}

/** Append one byte. */
static inline void cf_st_put_u8(cf_buf *b, uint8_t v)
{
        *cf_st_room(b, 1) = v;
}

/** Append v little-endian (2 bytes). */
static inline void cf_st_put_u16(cf_buf *b, uint16_t v)
{
        unsigned char *p = cf_st_room(b, 2);
        p[0] = (unsigned char)v;
        p[1] = (unsigned char)(v >> 8);
}

/** Append v little-endian (4 bytes). */
static inline void cf_st_put_u32(cf_buf *b, uint32_t v)
{
        cf_st_store32(cf_st_room(b, 4), v);
}

/** Append v little-endian (8 bytes). */
static inline void cf_st_put_u64(cf_buf *b, uint64_t v)
{
        cf_st_store64(cf_st_room(b, 8), v);
}

/** Append v as two's complement, little-endian (8 bytes). */
static inline void cf_st_put_i64(cf_buf *b, int64_t v)
{
        cf_st_put_u64(b, (uint64_t)v);
}

/** Append the IEEE-754 bit pattern of v, little-endian (4 bytes). */
static inline void cf_st_put_f32(cf_buf *b, float v)
{
        uint32_t u;
        memcpy(&u, &v, 4);
        cf_st_put_u32(b, u);
}

/** Append the IEEE-754 bit pattern of v, little-endian (8 bytes). */
static inline void cf_st_put_f64(cf_buf *b, double v)
{
        uint64_t u;
        memcpy(&u, &v, 8);
        cf_st_put_u64(b, u);
}

/** Append v as a LEB128 varint (7 bits a byte, low first: 1-10 bytes). */
static inline void cf_st_put_uv(cf_buf *b, uint64_t v)
{
        unsigned char tmp[10];
        size_t n = 0;
        do {
                tmp[n++] = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
                v >>= 7;
        } while (v);
        memcpy(cf_st_room(b, n), tmp, n);
}

/** Append v as a zigzag varint (small magnitudes of either sign take few bytes). */
static inline void cf_st_put_sv(cf_buf *b, int64_t v)
{
        cf_st_put_uv(b, ((uint64_t)v << 1) ^ (v < 0 ? UINT64_MAX : 0));
}

/** A list of changes over ascending keys as written by cf_st_put_change: the first key
 * zigzag, each later one as its gap minus one, then two varint values. */
typedef struct cf_st_changes {
        cf_buf *out; /* NULL: count only (to choose between a delta and a whole copy) */
        uint32_t n;  /* changes so far */
        int64_t prev;
} cf_st_changes;

/** Append (or only count) the change of key (above the last one) to values a and b. */
static inline void cf_st_put_change(cf_st_changes *c, int64_t key, uint64_t a, uint64_t b)
{
        if (c->out) {
                if (c->n)
                        cf_st_put_uv(c->out, (uint64_t)(key - c->prev - 1));
                else
                        cf_st_put_sv(c->out, key);
                cf_st_put_uv(c->out, a);
                cf_st_put_uv(c->out, b);
        }
        c->prev = key;
        c->n++;
}

/** Append a byte string of n <= 255 bytes: one length byte, the bytes (aborts beyond 255:
 * a caller's bug, ids in state are bounded by decode). */
void cf_st_put_bytes8(cf_buf *b, const void *s, size_t n);
/** Append a NUL-terminated string of <= 255 bytes as cf_st_put_bytes8. */
void cf_st_put_str8(cf_buf *b, const char *s);
/** Start a block: an 8-byte length patched by cf_st_block_end; returns where it is. */
size_t cf_st_block_begin(cf_buf *b);
/** End the block started at off: its length is what was appended since. */
void cf_st_block_end(cf_buf *b, size_t off);

/* ---- decoder ---- */

/** Reads a snapshot (or part of one); see the top of this file. */
typedef struct cf_st_dec {
        const unsigned char *p, *end; /* unread bytes of the current block */
        const unsigned char *base;    /* start of the input (offsets in messages) */
        const char *what;             /* prefix of every message ("dedup", "detect") */
        char *err;
        size_t err_size;
        bool failed;
} cf_st_dec;

/** Start decoding len bytes at data; messages go to errstr prefixed with "what: ". */
void cf_st_dec_init(cf_st_dec *d, const void *data, size_t len, const char *what, char *errstr,
                    size_t errstr_size);
/** Record a reason to refuse (the first one is kept); returns false. */
bool cf_st_fail(cf_st_dec *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** True while nothing failed. */
static inline bool cf_st_ok(const cf_st_dec *d)
{
        return !d->failed;
}
/** Bytes left in the current block. */
static inline size_t cf_st_left(const cf_st_dec *d)
{
        return (size_t)(d->end - d->p);
}
/** Slow path of cf_st_take: records "truncated" and fails (stenc.c). */
const unsigned char *cf_st_short(cf_st_dec *d, size_t n);

/** The next n bytes (advancing), or NULL (and the error) when fewer are left. */
static inline const unsigned char *cf_st_take(cf_st_dec *d, size_t n)
{
        if (d->failed || (size_t)(d->end - d->p) < n) return cf_st_short(d, n);
        const unsigned char *p = d->p;
        d->p += n;
        return p;
}

/** Read one byte (0 on error). */
static inline uint8_t cf_st_u8(cf_st_dec *d)
{
        const unsigned char *p = cf_st_take(d, 1);
        return p ? p[0] : 0;
}

/** Read a little-endian uint16 (0 on error). */
static inline uint16_t cf_st_u16(cf_st_dec *d)
{
        const unsigned char *p = cf_st_take(d, 2);
        return p ? (uint16_t)(p[0] | p[1] << 8) : 0;
}

/** Read a little-endian uint32 (0 on error). */
static inline uint32_t cf_st_u32(cf_st_dec *d)
{
        const unsigned char *p = cf_st_take(d, 4);
        return p ? cf_st_load32(p) : 0;
}

/** Read a little-endian uint64 (0 on error). */
static inline uint64_t cf_st_u64(cf_st_dec *d)
{
        const unsigned char *p = cf_st_take(d, 8);
        return p ? cf_st_load64(p) : 0;
}

/** Read a little-endian two's complement int64 (0 on error). */
static inline int64_t cf_st_i64(cf_st_dec *d)
{
        return (int64_t)cf_st_u64(d);
}

/** Read an IEEE-754 single (0 on error). */
static inline float cf_st_f32(cf_st_dec *d)
{
        uint32_t u = cf_st_u32(d);
        float v;
        memcpy(&v, &u, 4);
        return v;
}

/** Read an IEEE-754 double (0 on error). */
static inline double cf_st_f64(cf_st_dec *d)
{
        uint64_t u = cf_st_u64(d);
        double v;
        memcpy(&v, &u, 8);
        return v;
}

/** Read a LEB128 varint (cf_st_put_uv); 0 and the error when truncated or longer than a
 * uint64 (stenc.c). */
uint64_t cf_st_uv(cf_st_dec *d);
/** Read a zigzag varint (cf_st_put_sv). */
static inline int64_t cf_st_sv(cf_st_dec *d)
{
        uint64_t u = cf_st_uv(d);
        return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

/** Read a count (u64) of items of at least min_bytes each that must fit in what is left of
 * the block and be <= max; 0 and the error otherwise ("what" names the items). */
uint64_t cf_st_count(cf_st_dec *d, size_t min_bytes, uint64_t max, const char *what);
/** Read a byte string (cf_st_put_bytes8): a view of its bytes (length in *n), NULL on error. */
const char *cf_st_bytes8(cf_st_dec *d, size_t *n);
/** Read a string (cf_st_put_str8) into dst (cap bytes with the NUL): refused when longer
 * than cap - 1 or when it holds a NUL byte ("what" names it). Returns its length. */
size_t cf_st_str8(cf_st_dec *d, char *dst, size_t cap, const char *what);
/** Read a time (i64, ms) that must be within +-CF_ST_TIME_LIMIT_MS ("what" names it). */
int64_t cf_st_time(cf_st_dec *d, const char *what);
/** Read a double that must be finite and >= 0 ("what" names it). */
double cf_st_f64_nonneg(cf_st_dec *d, const char *what);
/** Enter a block (cf_st_block_begin): reads stop at its end; returns the outer end to give
 * back to cf_st_leave. */
const unsigned char *cf_st_enter(cf_st_dec *d);
/** Narrow reads to the next n bytes (a part of known size without a length prefix); returns
 * the outer end to give back to cf_st_leave or cf_st_skip_rest. */
const unsigned char *cf_st_narrow(cf_st_dec *d, size_t n);
/** Leave a narrowed part, skipping at most max_pad unread bytes that must be zero (the
 * padding of a raw struct); refused otherwise ("what" names the part). */
void cf_st_leave_pad(cf_st_dec *d, const unsigned char *outer_end, size_t max_pad,
                     const char *what);
/** Leave a block: refused when bytes of it were left unread ("what" names it). */
void cf_st_leave(cf_st_dec *d, const unsigned char *outer_end, const char *what);
/** Refused when bytes are left (the end of a stage's payload). */
bool cf_st_done(cf_st_dec *d);

/* ---- the sealed snapshot ---- */

#define CF_ST_SEAL_MAGIC   "CFSN"
#define CF_ST_SEAL_VERSION 3 /* 1 and 2: the unsealed frames of earlier releases */
#define CF_ST_SEAL_HEADER  24

/** What a sealed container holds (header bytes 6-7, 0 in every snapshot written before deltas
 * existed): a delta is never taken for a snapshot, nor the reverse. */
typedef enum cf_st_kind { CF_ST_SNAPSHOT = 0, CF_ST_DELTA = 1 } cf_st_kind;

/** Start a sealed snapshot in out (header placeholder); returns where it starts. */
size_t cf_st_seal_begin(cf_buf *out);
/** Start a sealed container of kind k (cf_st_seal_begin: a snapshot). */
size_t cf_st_seal_begin_kind(cf_buf *out, cf_st_kind k);
/** Finish the sealed snapshot started at off: payload length and XXH3-64 checksum. */
void cf_st_seal_end(cf_buf *out, size_t off);
/** True when data starts like a sealed snapshot (magic); older formats do not. */
bool cf_st_is_sealed(const void *data, size_t len);
/** Check a sealed snapshot (version, exact length, checksum) before anything is decoded;
 * payload and plen: where its payload is. -1 with the reason in errstr. */
int cf_st_unseal(const void *data, size_t len, const void **payload, size_t *plen, char *errstr,
                 size_t errstr_size);
/** cf_st_unseal for a container of kind k: another kind is refused with what it is. */
int cf_st_unseal_kind(const void *data, size_t len, cf_st_kind k, const void **payload,
                      size_t *plen, char *errstr, size_t errstr_size);
/** The XXH3-64 recorded in a sealed container's header (its identity: a delta names the
 * snapshot it builds on by it); 0 when data is not a whole header. */
uint64_t cf_st_seal_sum(const void *data, size_t len);

#endif
