/*
 * dedup_state.c - snapshot and restore of one partition's dedup state.
 *
 * Format (version 1), written and read with pipeline/core/stenc.h (explicit
 * little-endian fields), only live entries, in hash order (equal states write
 * equal bytes, whatever the tables' layout). Releases 1 and 2 wrote the same
 * layout from host-order memory (little-endian on every build they ran on),
 * so their snapshots read as they are:
 *
 *   offset  size  field
 *   0       4     magic "CFDD"
 *   4       1     version (1)
 *   5       1     flags: bit 0 = a watermark is set
 *   6       2     reserved (0)
 *   8       8     watermark, event time in seconds (int64)
 *   16      8     lo_t: start (s) of the lowest live slice (int64)
 *   24      8     number of key entries nk (uint64)
 *   32      8     number of shipment entries ns (uint64)
 *   40      20*nk key entries: kh u64, fpa u64, t u32
 *   ...           ns shipment entries: sh u64, t u32, id length u8 (0 = id not
 *                 kept), id bytes
 *
 * Times are absolute, so a snapshot taken under one window/slices setting
 * restores under another (entries outside the new window are skipped, and the
 * new max_entries bound applies, counted as evictions). Restore pre-sizes the
 * tables and inserts without lookups of other keys: about 20 ns per key.
 * Refused: another magic or version, unknown flags, a watermark outside u32
 * seconds, entries without a watermark, counts the bytes cannot hold, a
 * truncated entry, trailing bytes.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/core/sort.h"
#include "pipeline/core/stenc.h"
#include "stages/dedup/dedup_table.h"

#define SNAP_VERSION 1
#define KEY_BYTES    20 /* kh u64, fpa u64, t u32 */
#define SHIP_FIXED   13 /* sh u64, t u32, id length u8 */

/* Is key entry a before b? (fingerprint, then time: a key's versions) */
static bool key_before(const cf_dd_key *a, const cf_dd_key *b)
{
        return a->fpa < b->fpa || (a->fpa == b->fpa && a->t < b->t);
}

/* Is shipment entry a before b? (time, then declaration id: a shipment's sightings) */
static bool ship_before(const cf_dd_part *p, const cf_dd_ship *a, const cf_dd_ship *b)
{
        if (a->t != b->t) return a->t < b->t;
        char ba[CF_DD_ID_MAX], bb[CF_DD_ID_MAX];
        size_t na = 0, nb = 0;
        const char *ia = cf_dd_ship_id(p, a, ba, &na), *ib = cf_dd_ship_id(p, b, bb, &nb);
        na = ia ? na : 0;
        nb = ib ? nb : 0;
        int c = memcmp(ia ? ia : "", ib ? ib : "", na < nb ? na : nb);
        return c < 0 || (c == 0 && na < nb);
}

/* Is the entry at slot a (of a table of the given kind) before the one at slot b, both with
 * the same hash? */
static bool same_hash_before(const cf_dd_part *p, bool ship, size_t a, size_t b)
{
        return ship ? ship_before(p, &p->ships[a], &p->ships[b])
                    : key_before(&p->keys[a], &p->keys[b]);
}

/* The live entries of a table of cap slots of size bytes (hash first, time at t_off) in the
 * order of hash * the Fibonacci constant, entries of one hash in before() order: the
 * snapshot does not depend on the slot order (capacity, insertion order, restores), so
 * equal states write equal bytes. The table keeps its entries in that order of hashes
 * (dedup_table.c), so only the entries of one hash (a key's versions, a shipment's
 * sightings) can be out of before() order: an insertion sort finishes it in one pass. */
static cf_sort_kv *sorted_live(const cf_dd_part *p, const void *tab, size_t cap, size_t size,
                               size_t t_off, size_t live, size_t *n_out, bool ship)
{
        cf_sort_kv *v = malloc((live ? live : 1) * sizeof(*v));
        if (!v) abort();
        size_t n = 0;
        for (size_t i = 0; i < cap && n < live; i++) {
                uint64_t h = cf_dd_entry_live(p, (const char *)tab + i * size, t_off);
                if (!h) continue;
                v[n++] = (cf_sort_kv){cf_dd_order(h), i};
        }
        for (size_t i = 1; i < n; i++) {
                cf_sort_kv x = v[i];
                size_t j = i;
                for (; j &&
                       (v[j - 1].key > x.key ||
                        (v[j - 1].key == x.key && same_hash_before(p, ship, x.val, v[j - 1].val)));
                     j--)
                        v[j] = v[j - 1];
                v[j] = x;
        }
        *n_out = n;
        return v;
}

void cf_dd_part_snapshot(const cf_dd_part *p, cf_buf *out)
{
        memcpy(cf_st_room(out, 4), "CFDD", 4);
        cf_st_put_u8(out, SNAP_VERSION);
        cf_st_put_u8(out, p->has_wm ? 1 : 0);
        cf_st_put_u16(out, 0);
        cf_st_put_i64(out, p->wm_s);
        cf_st_put_i64(out, p->lo_t);
        size_t nk = 0, ns = 0;
        cf_sort_kv *k = sorted_live(p, p->keys, p->kcap, sizeof(cf_dd_key), offsetof(cf_dd_key, t),
                                    p->klive, &nk, false);
        cf_sort_kv *sv = sorted_live(p, p->ships, p->scap, sizeof(cf_dd_ship),
                                     offsetof(cf_dd_ship, t), p->slive, &ns, true);
        cf_st_put_u64(out, nk);
        cf_st_put_u64(out, ns);
        cf_buf_reserve(out, nk * KEY_BYTES + ns * (SHIP_FIXED + 16));
        for (size_t i = 0; i < nk; i++) {
                const cf_dd_key *e = &p->keys[k[i].val];
                cf_st_put_u64(out, e->kh);
                cf_st_put_u64(out, e->fpa);
                cf_st_put_u32(out, e->t);
        }
        for (size_t i = 0; i < ns; i++) {
                const cf_dd_ship *e = &p->ships[sv[i].val];
                char buf[CF_DD_ID_MAX];
                size_t n = 0;
                const char *id = cf_dd_ship_id(p, e, buf, &n);
                cf_st_put_u64(out, e->sh);
                cf_st_put_u32(out, e->t);
                cf_st_put_bytes8(out, id, id ? n : 0);
        }
        free(k);
        free(sv);
}

/* The header: magic, version, flags, watermark, horizon and both counts,
 * checked against each other and the bytes that follow. */
static bool read_header(cf_st_dec *d, bool *has_wm, int64_t *wm, int64_t *lo_t, uint64_t *nk,
                        uint64_t *ns)
{
        const unsigned char *m = cf_st_take(d, 4);
        if (!m || memcmp(m, "CFDD", 4)) return cf_st_fail(d, "bad magic or truncated header");
        unsigned version = cf_st_u8(d), flags = cf_st_u8(d), reserved = cf_st_u16(d);
        if (cf_st_ok(d) && version != SNAP_VERSION)
                return cf_st_fail(d, "version %u, expected %u", version, SNAP_VERSION);
        if (cf_st_ok(d) && (flags > 1 || reserved))
                return cf_st_fail(d, "unknown flags 0x%x / reserved 0x%x", flags, reserved);
        *has_wm = flags & 1;
        *wm = cf_st_i64(d);
        *lo_t = cf_st_i64(d);
        *nk = cf_st_u64(d);
        *ns = cf_st_u64(d);
        if (!cf_st_ok(d)) return cf_st_fail(d, "bad magic or truncated header");
        /* Event times are kept as u32 seconds: anything else is corruption. */
        if (*has_wm &&
            (*wm < 0 || *wm > (int64_t)UINT32_MAX || *lo_t < -((int64_t)1 << 40) || *lo_t > *wm))
                return cf_st_fail(d, "watermark %" PRId64 " / horizon %" PRId64 " out of range",
                                  *wm, *lo_t);
        if (!*has_wm && (*nk || *ns))
                return cf_st_fail(d, "%" PRIu64 " keys and %" PRIu64 " shipments but no watermark",
                                  *nk, *ns);
        if (*nk > cf_st_left(d) / KEY_BYTES)
                return cf_st_fail(d, "%" PRIu64 " keys but %zu bytes left", *nk, cf_st_left(d));
        /* ns also bounds the pre-sizing below: check it before allocating. */
        if (*ns > (cf_st_left(d) - *nk * KEY_BYTES) / SHIP_FIXED)
                return cf_st_fail(d, "%" PRIu64 " shipments but %zu bytes left", *ns,
                                  cf_st_left(d));
        return true;
}

cf_dd_part *cf_dd_part_restore(const cf_dd_limits *lim, const void *data, size_t len, char *errstr,
                               size_t errstr_size)
{
        cf_st_dec d;
        cf_st_dec_init(&d, data, len, "dedup snapshot", errstr, errstr_size);
        bool has_wm = false;
        int64_t wm = 0, lo_t = 0;
        uint64_t nk = 0, ns = 0;
        if (!read_header(&d, &has_wm, &wm, &lo_t, &nk, &ns)) return NULL;
        cf_dd_part *p = cf_dd_part_new(lim);
        if (has_wm) {
                cf_dd_advance(p, wm);
                cf_dd_set_horizon(p, lo_t);
        }
        cf_dd_part_presize(p, (size_t)nk, (size_t)ns);
        for (uint64_t i = 0; i < nk; i++) {
                /* never NULL: read_header checked the nk entries fit */
                const unsigned char *q = cf_st_take(&d, KEY_BYTES);
                uint64_t kh = cf_st_load64(q), fpa = cf_st_load64(q + 8);
                uint32_t t = cf_st_load32(q + 16);
                if (!kh || !cf_dd_live(p, t)) continue;
                cf_dd_found f;
                cf_dd_reserve(p);
                if (!cf_dd_live(p, t)) continue; /* evicted by a smaller bound */
                cf_dd_key_lookup(p, kh, fpa, &f);
                if (!f.exact) cf_dd_key_insert(p, f.ins, kh, fpa, t);
        }
        for (uint64_t i = 0; i < ns && cf_st_ok(&d); i++) {
                uint64_t sh = cf_st_u64(&d);
                uint32_t t = cf_st_u32(&d);
                size_t n;
                const char *id = cf_st_bytes8(&d, &n);
                if (!cf_st_ok(&d)) {
                        cf_st_fail(&d, "shipment entry %" PRIu64 " truncated", i);
                        break;
                }
                if (!sh || !cf_dd_live(p, t)) continue;
                cf_dd_ship_found f;
                cf_dd_reserve(p);
                if (!cf_dd_live(p, t)) continue;
                cf_dd_ship_lookup(p, sh, id, n, &f);
                if (f.own && n) continue;
                /* an id of length 0: not kept */
                cf_dd_ship_insert(p, f.ins, sh, t, n ? id : NULL, n);
        }
        if (!cf_st_done(&d)) {
                cf_dd_part_free(p);
                return NULL;
        }
        return p;
}
