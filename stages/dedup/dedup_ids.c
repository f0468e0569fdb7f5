/*
 * dedup_ids.c - compact declaration ids (format in dedup_ids.h).
 *
 * Why: the id pools were ~9 of the 70 bytes per key in bench_dedup (18-byte
 * ids, 3 lines per declaration) and more with generated data (1.7 lines per
 * declaration); a dictionary index and a varint take 3-7 bytes per id.
 */
#include "stages/dedup/dedup_ids.h"

#include <stdbool.h>
#include <string.h>
#include <xxhash.h>

#define H_RAW_MAX  0xC0 /* h below: raw id of h bytes */
#define H_DIGITS   0xBF /* h - H_DIGITS digits (h in 0xC0..0xD2) */
#define H_LONG_RAW 0xFF
#define DIGITS_MAX 19 /* 10^19 - 1 < 2^64 */
#define NSLOT      (2 * CF_DD_PREFIX_MAX + 2)

static const unsigned char *prefix_at(const cf_dd_prefixes *d, uint32_t i)
{
        return (const unsigned char *)d->text.p + d->off[i];
}

static bool prefix_is(const cf_dd_prefixes *d, uint32_t i, const char *s, size_t n)
{
        const unsigned char *q = prefix_at(d, i);
        return q[0] == n && !memcmp(q + 1, s, n);
}

static size_t raw(const char *id, size_t n, unsigned char *out)
{
        size_t h = 0;
        if (n < H_RAW_MAX) {
                out[h++] = (unsigned char)n;
        } else {
                out[h++] = H_LONG_RAW;
                out[h++] = (unsigned char)n;
        }
        memcpy(out + h, id, n);
        return h + n;
}

/* The index of prefix (s, n), added when new; -1 when the dictionary is full. */
static int prefix_index(cf_dd_prefixes *d, const char *s, size_t n)
{
        if (d->n && prefix_is(d, d->last, s, n)) return (int)d->last;
        size_t j = (size_t)(XXH3_64bits(s, n) % NSLOT);
        for (; d->slot[j]; j = j + 1 == NSLOT ? 0 : j + 1)
                if (prefix_is(d, d->slot[j] - 1u, s, n)) return (int)(d->last = d->slot[j] - 1u);
        if (d->n == CF_DD_PREFIX_MAX) return -1;
        d->off[d->n] = (uint16_t)d->text.len;
        cf_buf_putc(&d->text, (char)(unsigned char)n);
        cf_buf_put(&d->text, s, n);
        d->slot[j] = (uint8_t)(d->n + 1);
        return (int)(d->last = d->n++);
}

size_t cf_dd_id_encode(cf_dd_prefixes *d, const char *id, size_t n, unsigned char *out)
{
        size_t k = 0;
        while (k < n && k < DIGITS_MAX && id[n - 1 - k] >= '0' && id[n - 1 - k] <= '9')
                k++;
        size_t pn = n - k;
        if (!k || pn > CF_DD_PREFIX_LEN) return raw(id, n, out);
        int pi = prefix_index(d, id, pn);
        if (pi < 0) return raw(id, n, out);
        uint64_t v = 0;
        for (size_t i = pn; i < n; i++)
                v = v * 10 + (uint64_t)(id[i] - '0');
        size_t o = 0;
        out[o++] = (unsigned char)(H_DIGITS + k);
        out[o++] = (unsigned char)pi;
        do {
                unsigned char b = v & 0x7F;
                v >>= 7;
                out[o++] = v ? b | 0x80 : b;
        } while (v);
        return o;
}

int cf_dd_id_decode(const cf_dd_prefixes *d, const unsigned char *rec, size_t avail, char *out)
{
        if (!avail) return -1;
        unsigned h = rec[0];
        if (h < H_RAW_MAX || h == H_LONG_RAW) {
                size_t at = h == H_LONG_RAW ? 2 : 1;
                if (avail < at) return -1;
                size_t n = h == H_LONG_RAW ? rec[1] : h;
                if (avail - at < n) return -1;
                memcpy(out, rec + at, n);
                return (int)n;
        }
        size_t k = h - H_DIGITS;
        if (k > DIGITS_MAX || avail < 3 || rec[1] >= d->n) return -1;
        const unsigned char *q = prefix_at(d, rec[1]);
        uint64_t v = 0;
        size_t o = 2;
        for (unsigned sh = 0;; sh += 7) {
                if (o >= avail || sh > 63) return -1;
                unsigned char b = rec[o++];
                v |= (uint64_t)(b & 0x7F) << sh;
                if (!(b & 0x80)) break;
        }
        memcpy(out, q + 1, q[0]);
        for (size_t i = 0; i < k; i++, v /= 10)
                out[q[0] + k - 1 - i] = (char)('0' + v % 10);
        return (int)(q[0] + k);
}

size_t cf_dd_prefixes_bytes(const cf_dd_prefixes *d)
{
        return d->text.cap;
}

void cf_dd_prefixes_free(cf_dd_prefixes *d)
{
        cf_buf_free(&d->text);
}
