/*
 * dedup_delta.c - the changes of one partition's dedup state since its last
 * snapshot or delta (the incremental changelog, issue 18).
 *
 * Entries never change in place except a shipment sighting moved to a later
 * time, and they leave only by slice (expiry and eviction move the horizon)
 * or all at once (the bound reached with everything in the open slice). So a
 * delta is the partition's scalars, a "cleared" flag, and the entries
 * inserted or moved since, logged as they happen (about 20-40 bytes per
 * record); an entry logged and dead since is skipped on apply by the horizon.
 *
 * Format (version 1, stenc.h fields, little-endian):
 *   magic "CFDL" (4), version (u8, 1), flags (u8: bit 0 a watermark is set,
 *   bit 1 both tables were cleared first), reserved (u16, 0), watermark (i64,
 *   s), lo_t (i64, s), expired keys/shipments, evicted keys/shipments, late
 *   (5 x u64), key entries (u64 count, then kh u64, fpa u64, t u32 each),
 *   shipment entries (u64 count, then sh u64, t u32, id str8 each).
 *
 * Apply checks everything first (magic, flags, times against the state's:
 * a watermark, horizon or counter going back means another base), then
 * applies; a refused delta changes nothing.
 *
 * @locality: the worker thread that owns the chain.
 */
#include <inttypes.h>
#include <string.h>

#include "pipeline/core/stenc.h"
#include "stages/dedup/dedup_table.h"

#define DELTA_VERSION 1
#define KEY_BYTES     20 /* kh u64, fpa u64, t u32 */
#define SHIP_FIXED    13 /* sh u64, t u32, id length u8 */
#define F_WM          1
#define F_CLEARED     2

void cf_dd_log_key(cf_dd_part *p, uint64_t kh, uint64_t fpa, uint32_t t)
{
        cf_st_put_u64(&p->klog, kh);
        cf_st_put_u64(&p->klog, fpa);
        cf_st_put_u32(&p->klog, t);
        p->nklog++;
}

void cf_dd_log_ship(cf_dd_part *p, uint64_t sh, uint32_t t, const char *id, size_t n)
{
        cf_st_put_u64(&p->slog, sh);
        cf_st_put_u32(&p->slog, t);
        cf_st_put_bytes8(&p->slog, id, n);
        p->nslog++;
}

void cf_dd_delta_reset(cf_dd_part *p)
{
        /* a big commit's log is not kept for the small ones after it */
        if (p->klog.cap > (1u << 20)) cf_buf_free(&p->klog);
        if (p->slog.cap > (1u << 20)) cf_buf_free(&p->slog);
        cf_buf_reset(&p->klog);
        cf_buf_reset(&p->slog);
        p->nklog = p->nslog = 0;
        p->cleared = false;
}

void cf_dd_part_track(cf_dd_part *p, bool on)
{
        cf_dd_delta_reset(p);
        p->track = on;
}

void cf_dd_part_delta(cf_dd_part *p, cf_buf *out)
{
        memcpy(cf_st_room(out, 4), "CFDL", 4);
        cf_st_put_u8(out, DELTA_VERSION);
        cf_st_put_u8(out, (p->has_wm ? F_WM : 0) | (p->cleared ? F_CLEARED : 0));
        cf_st_put_u16(out, 0);
        cf_st_put_i64(out, p->wm_s);
        cf_st_put_i64(out, p->lo_t);
        cf_st_put_u64(out, p->expired[0]);
        cf_st_put_u64(out, p->expired[1]);
        cf_st_put_u64(out, p->evicted[0]);
        cf_st_put_u64(out, p->evicted[1]);
        cf_st_put_u64(out, p->late);
        cf_st_put_u64(out, p->nklog);
        if (p->klog.len) cf_buf_put(out, p->klog.p, p->klog.len);
        cf_st_put_u64(out, p->nslog);
        if (p->slog.len) cf_buf_put(out, p->slog.p, p->slog.len);
        cf_dd_delta_reset(p);
}

/* What a delta's header says. */
typedef struct dhead {
        unsigned flags;
        int64_t wm, lo_t;
        uint64_t expired[2], evicted[2], late;
} dhead;

/* The header, checked against itself and against the state it applies to (p; NULL: the
 * second read, after the check, of a header the state has moved to). */
static bool read_head(cf_st_dec *d, const cf_dd_part *p, dhead *h)
{
        const unsigned char *m = cf_st_take(d, 4);
        if (!m || memcmp(m, "CFDL", 4)) return cf_st_fail(d, "bad magic or truncated header");
        unsigned version = cf_st_u8(d), reserved;
        h->flags = cf_st_u8(d);
        reserved = cf_st_u16(d);
        if (cf_st_ok(d) && version != DELTA_VERSION)
                return cf_st_fail(d, "version %u, expected %u", version, DELTA_VERSION);
        if (cf_st_ok(d) && (h->flags > (F_WM | F_CLEARED) || reserved))
                return cf_st_fail(d, "unknown flags 0x%x / reserved 0x%x", h->flags, reserved);
        h->wm = cf_st_i64(d);
        h->lo_t = cf_st_i64(d);
        for (int i = 0; i < 2; i++)
                h->expired[i] = cf_st_u64(d);
        for (int i = 0; i < 2; i++)
                h->evicted[i] = cf_st_u64(d);
        h->late = cf_st_u64(d);
        if (!cf_st_ok(d)) return cf_st_fail(d, "truncated header");
        bool wm = h->flags & F_WM;
        if (wm && (h->wm < 0 || h->wm > (int64_t)UINT32_MAX || h->lo_t < -((int64_t)1 << 40) ||
                   h->lo_t > h->wm))
                return cf_st_fail(d, "watermark %" PRId64 " / horizon %" PRId64 " out of range",
                                  h->wm, h->lo_t);
        if (!p) return true;
        if (p->has_wm && (!wm || h->wm < p->wm_s || h->lo_t < p->lo_t))
                return cf_st_fail(d,
                                  "watermark %" PRId64 " / horizon %" PRId64 " before the state's "
                                  "%" PRId64 " / %" PRId64 ": another base",
                                  h->wm, h->lo_t, p->wm_s, p->lo_t);
        for (int i = 0; i < 2; i++)
                if (h->expired[i] < p->expired[i] || h->evicted[i] < p->evicted[i])
                        return cf_st_fail(d, "counters going back: another base");
        if (h->late < p->late) return cf_st_fail(d, "counters going back: another base");
        return true;
}

/* n, or the partition's bound on entries if lower. */
static size_t at_most(const cf_dd_part *p, uint64_t n)
{
        return n < (uint64_t)p->lim.max_entries ? (size_t)n : (size_t)p->lim.max_entries;
}

/* Check every entry (commit false) or apply them. */
static bool entries(cf_st_dec *d, cf_dd_part *p, const dhead *h, bool commit)
{
        uint64_t nk = cf_st_count(d, KEY_BYTES, UINT64_MAX, "key entries");
        if (nk && !(h->flags & F_WM)) return cf_st_fail(d, "key entries but no watermark");
        /* the tables sized at once for what may come (at most the bound), not doubled while
         * inserting: a restore applies a partition's deltas one after another */
        if (commit) cf_dd_part_presize(p, at_most(p, p->klive + nk), 0);
        for (uint64_t i = 0; i < nk && cf_st_ok(d); i++) {
                uint64_t kh = cf_st_u64(d), fpa = cf_st_u64(d);
                uint32_t t = cf_st_u32(d);
                if (cf_st_ok(d) && (!kh || t > h->wm))
                        return cf_st_fail(d,
                                          "key entry %" PRIu64 ": hash 0 or time after the "
                                          "watermark",
                                          i);
                if (!commit || !cf_dd_live(p, t)) continue;
                cf_dd_found f;
                cf_dd_reserve(p);
                if (!cf_dd_live(p, t)) continue;
                cf_dd_key_lookup(p, kh, fpa, &f);
                if (!f.exact) cf_dd_key_insert(p, f.ins, kh, fpa, t);
        }
        uint64_t ns = cf_st_count(d, SHIP_FIXED, UINT64_MAX, "shipment entries");
        if (ns && !(h->flags & F_WM)) return cf_st_fail(d, "shipment entries but no watermark");
        if (commit) cf_dd_part_presize(p, 0, at_most(p, p->slive + ns));
        for (uint64_t i = 0; i < ns && cf_st_ok(d); i++) {
                uint64_t sh = cf_st_u64(d);
                uint32_t t = cf_st_u32(d);
                size_t n;
                const char *id = cf_st_bytes8(d, &n);
                if (cf_st_ok(d) && (!sh || t > h->wm))
                        return cf_st_fail(d,
                                          "shipment entry %" PRIu64 ": hash 0 or time after "
                                          "the watermark",
                                          i);
                if (!commit || !cf_dd_live(p, t)) continue;
                cf_dd_ship_found f;
                cf_dd_reserve(p);
                if (!cf_dd_live(p, t)) continue;
                cf_dd_ship_lookup(p, sh, id, n, &f);
                if (f.own && n) {
                        if (t > f.own->t) cf_dd_ship_update(p, f.own, t, id, n);
                        continue;
                }
                /* an id of length 0: not kept */
                cf_dd_ship_insert(p, f.ins, sh, t, n ? id : NULL, n);
        }
        return cf_st_done(d);
}

int cf_dd_part_apply_delta(cf_dd_part *p, const void *data, size_t len, char *errstr,
                           size_t errstr_size)
{
        cf_st_dec d;
        dhead h;
        cf_st_dec_init(&d, data, len, "dedup delta", errstr, errstr_size);
        if (!read_head(&d, p, &h) || !entries(&d, p, &h, false)) return -1;
        /* every byte checked: apply (the same reads cannot fail now) */
        bool track = p->track;
        p->track = false; /* what a delta brings is not a change of this state */
        if (h.flags & F_CLEARED) cf_dd_part_clear(p);
        if (h.flags & F_WM) {
                cf_dd_advance(p, h.wm);
                cf_dd_raise_horizon(p, h.lo_t);
        }
        cf_st_dec_init(&d, data, len, "dedup delta", errstr, errstr_size);
        read_head(&d, NULL, &h);
        entries(&d, p, &h, true);
        memcpy(p->expired, h.expired, sizeof(p->expired));
        memcpy(p->evicted, h.evicted, sizeof(p->evicted));
        p->late = h.late;
        p->track = track;
        return 0;
}
