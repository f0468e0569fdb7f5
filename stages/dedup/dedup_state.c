/*
 * dedup_state.c - snapshot and restore of one partition's dedup state.
 *
 * Format (version 1), little-endian, only live entries:
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
 *   40      20*nk key entries as held in memory: kh u64, fpa u64, t u32
 *   ...           ns shipment entries: sh u64, t u32, id length u8 (0 = id not
 *                 kept), id bytes
 *
 * Times are absolute, so a snapshot taken under one window/slices setting
 * restores under another (entries outside the new window are skipped, and the
 * new max_entries bound applies, counted as evictions). Restore pre-sizes the
 * tables and inserts without lookups of other keys: about 20 ns per key.
 */
#include <stdio.h>
#include <string.h>

#include "stages/dedup/dedup_table.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "dedup snapshots are written in host order, which must be little-endian"
#endif

#define SNAP_VERSION 1
#define SNAP_HEADER  40
#define SHIP_FIXED   13

_Static_assert(sizeof(cf_dd_key) == 20, "key entry must stay 20 bytes (snapshot format)");

static void put_u64(cf_buf *b, uint64_t v)
{
        cf_buf_put(b, &v, 8);
}

void cf_dd_part_snapshot(const cf_dd_part *p, cf_buf *out)
{
        cf_buf_put(out, "CFDD", 4);
        unsigned char hdr[4] = {SNAP_VERSION, p->has_wm ? 1 : 0, 0, 0};
        cf_buf_put(out, hdr, 4);
        put_u64(out, (uint64_t)p->wm_s);
        put_u64(out, (uint64_t)p->lo_t);
        size_t counts_off = out->len;
        put_u64(out, 0); /* nk and ns, patched after the scan */
        put_u64(out, 0);
        cf_buf_reserve(out, p->klive * sizeof(cf_dd_key) + p->slive * (SHIP_FIXED + 16));
        uint64_t nk = 0, ns = 0;
        for (size_t i = 0; i < p->kcap; i++) {
                const cf_dd_key *e = &p->keys[i];
                if (!e->kh || !cf_dd_live(p, e->t)) continue;
                cf_buf_put(out, e, sizeof(*e));
                nk++;
        }
        for (size_t i = 0; i < p->scap; i++) {
                const cf_dd_ship *e = &p->ships[i];
                if (!e->sh || !cf_dd_live(p, e->t)) continue;
                size_t n = 0;
                const char *id = cf_dd_ship_id(p, e, &n);
                unsigned char fixed[SHIP_FIXED];
                memcpy(fixed, &e->sh, 8);
                memcpy(fixed + 8, &e->t, 4);
                fixed[12] = id ? (unsigned char)n : 0;
                cf_buf_put(out, fixed, SHIP_FIXED);
                if (id) cf_buf_put(out, id, n);
                ns++;
        }
        memcpy(out->p + counts_off, &nk, 8);
        memcpy(out->p + counts_off + 8, &ns, 8);
}

cf_dd_part *cf_dd_part_restore(const cf_dd_limits *lim, const void *data, size_t len, char *errstr,
                               size_t errstr_size)
{
        const unsigned char *q = data, *end = q + len;
        if (len < SNAP_HEADER || memcmp(q, "CFDD", 4)) {
                snprintf(errstr, errstr_size, "dedup snapshot: bad magic or truncated header");
                return NULL;
        }
        if (q[4] != SNAP_VERSION) {
                snprintf(errstr, errstr_size, "dedup snapshot: version %u, expected %u", q[4],
                         SNAP_VERSION);
                return NULL;
        }
        int has_wm = q[5] & 1;
        int64_t wm, lo_t;
        uint64_t nk, ns;
        memcpy(&wm, q + 8, 8);
        memcpy(&lo_t, q + 16, 8);
        memcpy(&nk, q + 24, 8);
        memcpy(&ns, q + 32, 8);
        q += SNAP_HEADER;
        /* Event times are kept as u32 seconds: anything else is corruption. */
        if (has_wm &&
            (wm < 0 || wm > (int64_t)UINT32_MAX || lo_t < -((int64_t)1 << 40) || lo_t > wm)) {
                snprintf(errstr, errstr_size,
                         "dedup snapshot: watermark %lld / horizon %lld "
                         "out of range",
                         (long long)wm, (long long)lo_t);
                return NULL;
        }
        if (nk > (uint64_t)(end - q) / sizeof(cf_dd_key)) {
                snprintf(errstr, errstr_size, "dedup snapshot: %llu keys but %zu bytes left",
                         (unsigned long long)nk, (size_t)(end - q));
                return NULL;
        }
        /* ns also bounds the pre-sizing below: check it before allocating. */
        if (ns > ((uint64_t)(end - q) - nk * sizeof(cf_dd_key)) / SHIP_FIXED) {
                snprintf(errstr, errstr_size, "dedup snapshot: %llu shipments but %zu bytes left",
                         (unsigned long long)ns, (size_t)(end - q));
                return NULL;
        }
        cf_dd_part *p = cf_dd_part_new(lim);
        if (has_wm) {
                cf_dd_advance(p, wm);
                cf_dd_set_horizon(p, lo_t);
        }
        cf_dd_part_presize(p, (size_t)nk, (size_t)ns);
        for (uint64_t i = 0; i < nk; i++, q += sizeof(cf_dd_key)) {
                cf_dd_key e;
                memcpy(&e, q, sizeof(e));
                if (!e.kh || !has_wm || !cf_dd_live(p, e.t)) continue;
                cf_dd_found f;
                cf_dd_reserve(p);
                if (!cf_dd_live(p, e.t)) continue; /* evicted by a smaller bound */
                cf_dd_key_lookup(p, e.kh, e.fpa, &f);
                if (!f.exact) cf_dd_key_insert(p, f.ins, e.kh, e.fpa, e.t);
        }
        for (uint64_t i = 0; i < ns; i++) {
                if (end - q < SHIP_FIXED || end - q < SHIP_FIXED + q[12]) {
                        snprintf(errstr, errstr_size,
                                 "dedup snapshot: shipment entry %llu truncated",
                                 (unsigned long long)i);
                        cf_dd_part_free(p);
                        return NULL;
                }
                uint64_t sh;
                uint32_t t;
                memcpy(&sh, q, 8);
                memcpy(&t, q + 8, 4);
                size_t n = q[12];
                const char *id = (const char *)q + SHIP_FIXED;
                q += SHIP_FIXED + n;
                if (!sh || !has_wm || !cf_dd_live(p, t)) continue;
                cf_dd_ship_found f;
                cf_dd_reserve(p);
                if (!cf_dd_live(p, t)) continue;
                cf_dd_ship_lookup(p, sh, id, n, &f);
                if (f.own && n) continue;
                cf_dd_ship_insert(p, f.ins, sh, t, id, n);
                if (!n) f.ins->id_ref = CF_DD_NO_ID;
        }
        if (q != end) {
                snprintf(errstr, errstr_size, "dedup snapshot: %zu trailing bytes",
                         (size_t)(end - q));
                cf_dd_part_free(p);
                return NULL;
        }
        return p;
}
