/*
 * stenc.c - see stenc.h. The checksum is XXH3-64 (xxHash, already the
 * project's hash): fast enough that a 50 MB snapshot costs a few ms.
 */
#include "pipeline/core/stenc.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

void cf_st_put_bytes8(cf_buf *b, const void *s, size_t n)
{
        if (n > 255) abort(); /* ids in state are bounded by decode: a caller's bug */
        cf_st_put_u8(b, (uint8_t)n);
        if (n) memcpy(cf_st_room(b, n), s, n); /* s may be NULL when n is 0 */
}

void cf_st_put_str8(cf_buf *b, const char *s)
{
        cf_st_put_bytes8(b, s, strlen(s));
}

size_t cf_st_block_begin(cf_buf *b)
{
        size_t off = b->len;
        cf_st_put_u64(b, 0);
        return off;
}

void cf_st_block_end(cf_buf *b, size_t off)
{
        cf_st_store64((unsigned char *)b->p + off, (uint64_t)(b->len - off - 8));
}

void cf_st_dec_init(cf_st_dec *d, const void *data, size_t len, const char *what, char *errstr,
                    size_t errstr_size)
{
        static const unsigned char none[1];
        d->base = d->p = data ? data : none;
        d->end = d->p + (data ? len : 0);
        d->what = what;
        d->err = errstr;
        d->err_size = errstr_size;
        d->failed = false;
}

bool cf_st_fail(cf_st_dec *d, const char *fmt, ...)
{
        if (d->failed) return false;
        d->failed = true;
        d->p = d->end; /* nothing more is read */
        if (!d->err || !d->err_size) return false;
        int n = snprintf(d->err, d->err_size, "%s: ", d->what);
        if (n < 0 || (size_t)n >= d->err_size) return false;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(d->err + n, d->err_size - (size_t)n, fmt, ap);
        va_end(ap);
        return false;
}

const unsigned char *cf_st_short(cf_st_dec *d, size_t n)
{
        if (!d->failed)
                cf_st_fail(d, "snapshot truncated at byte %zu (%zu more needed, %zu left)",
                           (size_t)(d->p - d->base), n, cf_st_left(d));
        return NULL;
}

uint64_t cf_st_uv(cf_st_dec *d)
{
        uint64_t v = 0;
        for (unsigned shift = 0;; shift += 7) {
                const unsigned char *p = cf_st_take(d, 1);
                if (!p) return 0;
                /* the 10th byte holds bit 63 only: anything more does not fit */
                if (shift == 63 && *p > 1) return cf_st_fail(d, "varint longer than 64 bits"), 0;
                v |= (uint64_t)(*p & 0x7f) << shift;
                if (!(*p & 0x80)) return v;
        }
}

uint64_t cf_st_count(cf_st_dec *d, size_t min_bytes, uint64_t max, const char *what)
{
        uint64_t n = cf_st_u64(d);
        if (!cf_st_ok(d)) return 0;
        if (n > max) {
                cf_st_fail(d, "%" PRIu64 " %s > the configured %" PRIu64, n, what, max);
                return 0;
        }
        if (min_bytes && n > cf_st_left(d) / min_bytes) {
                cf_st_fail(d, "%" PRIu64 " %s cannot fit in the %zu bytes left", n, what,
                           cf_st_left(d));
                return 0;
        }
        return n;
}

const char *cf_st_bytes8(cf_st_dec *d, size_t *n)
{
        *n = cf_st_u8(d);
        const char *s = (const char *)cf_st_take(d, *n);
        if (!s) *n = 0;
        return s;
}

size_t cf_st_str8(cf_st_dec *d, char *dst, size_t cap, const char *what)
{
        dst[0] = '\0';
        size_t n;
        const char *s = cf_st_bytes8(d, &n);
        if (!s) return 0;
        if (n >= cap) {
                cf_st_fail(d, "%s of %zu bytes > the %zu kept", what, n, cap - 1);
                return 0;
        }
        if (memchr(s, '\0', n)) {
                cf_st_fail(d, "%s holds a NUL byte", what);
                return 0;
        }
        memcpy(dst, s, n);
        dst[n] = '\0';
        return n;
}

int64_t cf_st_time(cf_st_dec *d, const char *what)
{
        int64_t t = cf_st_i64(d);
        if (t < -CF_ST_TIME_LIMIT_MS || t > CF_ST_TIME_LIMIT_MS) {
                cf_st_fail(d, "%s %" PRId64 " ms is not a plausible event time", what, t);
                return 0;
        }
        return t;
}

double cf_st_f64_nonneg(cf_st_dec *d, const char *what)
{
        double v = cf_st_f64(d);
        if (!(v >= 0) || v > 1.7e308) {
                cf_st_fail(d, "%s %g is not a finite value >= 0", what, v);
                return 0;
        }
        return v;
}

const unsigned char *cf_st_narrow(cf_st_dec *d, size_t n)
{
        const unsigned char *outer = d->end;
        if (cf_st_ok(d) && n > cf_st_left(d)) {
                cf_st_fail(d, "part at byte %zu of %zu bytes, %zu left", (size_t)(d->p - d->base),
                           n, cf_st_left(d));
                return outer;
        }
        if (cf_st_ok(d)) d->end = d->p + n;
        return outer;
}

const unsigned char *cf_st_enter(cf_st_dec *d)
{
        uint64_t n = cf_st_u64(d);
        if (cf_st_ok(d) && n > cf_st_left(d)) {
                cf_st_fail(d, "block at byte %zu of %" PRIu64 " bytes, %zu left",
                           (size_t)(d->p - d->base) - 8, n, cf_st_left(d));
                return d->end;
        }
        return cf_st_narrow(d, (size_t)n);
}

void cf_st_leave_pad(cf_st_dec *d, const unsigned char *outer_end, size_t max_pad, const char *what)
{
        size_t left = cf_st_left(d);
        if (cf_st_ok(d) && left <= max_pad) {
                for (size_t i = 0; i < left; i++)
                        if (d->p[i]) {
                                cf_st_fail(d, "padding of %s is not zero", what);
                                return;
                        }
                d->p = d->end;
        }
        cf_st_leave(d, outer_end, what);
}

void cf_st_leave(cf_st_dec *d, const unsigned char *outer_end, const char *what)
{
        if (cf_st_ok(d) && d->p != d->end)
                cf_st_fail(d, "%zu bytes of %s left unread", cf_st_left(d), what);
        if (cf_st_ok(d)) d->end = outer_end;
}

bool cf_st_done(cf_st_dec *d)
{
        if (cf_st_ok(d) && d->p != d->end)
                return cf_st_fail(d, "%zu trailing bytes", cf_st_left(d));
        return cf_st_ok(d);
}

/* ---- the sealed snapshot ----
 *
 *   offset size field
 *   0      4    magic "CFSN"
 *   4      2    format version (3)
 *   6      2    kind: 0 snapshot, 1 delta (cf_st_kind; reserved, 0, before deltas)
 *   8      8    payload length
 *   16     8    XXH3-64 of the payload
 *   24     ..   payload
 */

size_t cf_st_seal_begin(cf_buf *out)
{
        return cf_st_seal_begin_kind(out, CF_ST_SNAPSHOT);
}

size_t cf_st_seal_begin_kind(cf_buf *out, cf_st_kind k)
{
        size_t off = out->len;
        unsigned char *h = cf_st_room(out, CF_ST_SEAL_HEADER);
        memset(h, 0, CF_ST_SEAL_HEADER);
        memcpy(h, CF_ST_SEAL_MAGIC, 4);
        h[4] = CF_ST_SEAL_VERSION & 0xff;
        h[5] = CF_ST_SEAL_VERSION >> 8;
        h[6] = (unsigned char)k;
        return off;
}

void cf_st_seal_end(cf_buf *out, size_t off)
{
        unsigned char *h = (unsigned char *)out->p + off;
        size_t n = out->len - off - CF_ST_SEAL_HEADER;
        cf_st_store64(h + 8, (uint64_t)n);
        cf_st_store64(h + 16, (uint64_t)XXH3_64bits(h + CF_ST_SEAL_HEADER, n));
}

bool cf_st_is_sealed(const void *data, size_t len)
{
        return len >= 4 && !memcmp(data, CF_ST_SEAL_MAGIC, 4);
}

static const char *kind_name(unsigned k)
{
        return k == CF_ST_SNAPSHOT ? "snapshot" : k == CF_ST_DELTA ? "delta" : "unknown kind";
}

uint64_t cf_st_seal_sum(const void *data, size_t len)
{
        if (!cf_st_is_sealed(data, len) || len < CF_ST_SEAL_HEADER) return 0;
        return cf_st_load64((const unsigned char *)data + 16);
}

int cf_st_unseal(const void *data, size_t len, const void **payload, size_t *plen, char *errstr,
                 size_t errstr_size)
{
        return cf_st_unseal_kind(data, len, CF_ST_SNAPSHOT, payload, plen, errstr, errstr_size);
}

int cf_st_unseal_kind(const void *data, size_t len, cf_st_kind k, const void **payload,
                      size_t *plen, char *errstr, size_t errstr_size)
{
        const unsigned char *h = data;
        if (!cf_st_is_sealed(data, len) || len < CF_ST_SEAL_HEADER) {
                snprintf(errstr, errstr_size, "%s: %zu bytes, not a whole sealed header",
                         kind_name(k), len);
                return -1;
        }
        unsigned version = h[4] | (unsigned)h[5] << 8, kind = h[6], reserved = h[7];
        if (version == CF_ST_SEAL_VERSION && !reserved && kind != (unsigned)k &&
            kind <= CF_ST_DELTA) {
                snprintf(errstr, errstr_size, "%s: this is a sealed %s, not a %s", kind_name(k),
                         kind_name(kind), kind_name(k));
                return -1;
        }
        if (version != CF_ST_SEAL_VERSION || reserved || kind != (unsigned)k) {
                snprintf(errstr, errstr_size,
                         "%s: format version %u (flags %u); this build reads %u and the "
                         "unsealed formats of earlier releases",
                         kind_name(k), version, kind | reserved << 8, CF_ST_SEAL_VERSION);
                return -1;
        }
        uint64_t n = cf_st_load64(h + 8), sum = cf_st_load64(h + 16);
        if (n != len - CF_ST_SEAL_HEADER) {
                snprintf(errstr, errstr_size,
                         "%s: payload of %" PRIu64 " bytes announced, %zu present (%s)",
                         kind_name(k), n, len - CF_ST_SEAL_HEADER,
                         n > len - CF_ST_SEAL_HEADER ? "truncated" : "trailing bytes");
                return -1;
        }
        uint64_t got = XXH3_64bits(h + CF_ST_SEAL_HEADER, (size_t)n);
        if (got != sum) {
                snprintf(errstr, errstr_size,
                         "%s: checksum mismatch (XXH3 %016" PRIx64 ", recorded %016" PRIx64
                         "): damaged",
                         kind_name(k), got, sum);
                return -1;
        }
        *payload = h + CF_ST_SEAL_HEADER;
        *plen = (size_t)n;
        return 0;
}
