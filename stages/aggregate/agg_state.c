/*
 * agg_state.c - the aggregate stage's state (README.md § State): snapshots of
 * a partition (magic CFAG), deltas (magic CFAD) and restore.
 *
 * A delta is window- and group-grained: every window records that it changed
 * (a dirty flag set by each record, duplicate or dead letter counted in it),
 * that it was opened since the last delta (fresh) and which of its groups
 * changed (cf_agg_window_add). A commit writes the partition's scalars and its
 * open windows: unchanged ones by start and end, fresh ones whole, changed
 * ones as their counters, changed groups and the changes of their sketches;
 * apply keeps the unchanged ones, patches the changed ones and drops the
 * windows no longer listed (emitted final). Bytes per commit then follow what
 * the records changed (issue 18), not the size of the windows.
 *
 * @locality: worker thread (the chain's owner).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/core/stenc.h"
#include "stages/aggregate/agg_int.h"

#define DELTA_VERSION                                                                              \
        1 /* its scalars, rule table, late list and windows: as snapshot version 3                 \
           */

/* A delta's window entry: unchanged (start, end); whole (opened since the last delta); or
 * start, end and its changes (cf_agg_window_delta). */
enum { W_KEPT = 0, W_FULL = 1, W_PART = 2 };
/* What became of a window of the state a delta is applied to. */
enum { B_GONE = 0, B_KEPT = 1, B_PATCHED = 2 };

/* The rules releases 1 and 2 counted, in the order of their flag arrays
 * (16 slots, the last 4 unused): the format of snapshot versions 1-2. */
static const char *const v2_rules[] = {
    "trade_remedy_evasion", "origin_route_mismatch", "manufacturer_origin_mismatch",
    "unit_value_outlier",   "origin_volume_surge",   "new_exporter_surge",
    "capacity_exceeded",    "certificate_reuse",     "preference_without_certificate",
    "watchlist_party",      "duplicate_shipment",    "conflicting_resubmission",
};
#define V2_SLOTS 16

/* Magic, version and the partition's scalars, rule table and pending late list (the same
 * bytes in a snapshot and a delta), with nw windows to follow. */
static void put_header(const agg_ctx *x, const agg_part *p, const char *magic, uint32_t version,
                       cf_buf *out)
{
        memcpy(cf_st_room(out, 4), magic, 4);
        cf_st_put_u32(out, version);
        cf_st_put_u8(out, p->has_max);
        cf_st_put_u8(out, p->has_closed);
        cf_st_put_i64(out, p->max_ms);
        cf_st_put_i64(out, p->closed);
        uint64_t counters[] = {p->late_unattr, p->pend_dups,  p->pend_dead,      p->emitted,
                               p->forced,      p->late_total, p->overflow_closed};
        for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
                cf_st_put_u64(out, counters[i]);
        cf_st_put_u32(out, p->nlate);
        cf_st_put_u32(out, p->nw);
        /* the rules the flag counts are for, by name: a build with other rules maps them */
        cf_st_put_u8(out, (uint8_t)x->rules->n);
        for (int r = 0; r < x->rules->n; r++)
                cf_st_put_str8(out, x->rules->names[r]);
        for (uint32_t i = 0; i < p->nlate; i++) {
                cf_st_put_i64(out, p->late[i].window_start);
                cf_st_put_u64(out, p->late[i].count);
                cf_st_put_i64(out, p->late[i].value_cents);
        }
}

int cf_agg_snapshot(cf_stage *st, int32_t partition, cf_buf *out)
{
        agg_ctx *x = st->ctx;
        agg_part *p = *cf_agg_part_slot(x, partition);
        agg_part empty = {0};
        if (!p) p = &empty;
        put_header(x, p, "CFAG", SNAP_VERSION, out);
        for (uint32_t i = 0; i < p->nw; i++)
                cf_agg_window_snapshot(p->w[i], x->rules->n, out);
        return 0;
}

/* The header into p (counts of late entries and windows in *nlate, *nw). magic "CFAG": a
 * snapshot of versions 1..maxver; "CFAD": a delta, read as snapshot version 3 (*version). */
static bool read_header(cf_st_dec *d, const char *magic, int maxver, int *version, agg_part *p,
                        uint32_t *nlate, uint32_t *nw)
{
        const unsigned char *m = cf_st_take(d, 4);
        *version = (int)cf_st_u32(d);
        if (!cf_st_ok(d) || memcmp(m, magic, 4) || *version < 1 || *version > maxver)
                return cf_st_fail(d, "bad magic, version or header");
        if (!strcmp(magic, "CFAD")) *version = SNAP_VERSION;
        unsigned has_max = cf_st_u8(d), has_closed = cf_st_u8(d);
        if (*version < 3) cf_st_take(d, 6); /* padding of the raw struct */
        p->max_ms = cf_st_time(d, "max event time");
        p->closed = cf_st_time(d, "close frontier");
        uint64_t *counters[] = {&p->late_unattr, &p->pend_dups,  &p->pend_dead,      &p->emitted,
                                &p->forced,      &p->late_total, &p->overflow_closed};
        for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
                *counters[i] = cf_st_u64(d);
        *nlate = cf_st_u32(d);
        *nw = cf_st_u32(d);
        if (!cf_st_ok(d)) return false;
        p->has_max = has_max;
        p->has_closed = has_closed;
        if (has_max > 1 || has_closed > 1 || *nlate > MAX_LATE)
                return cf_st_fail(d, "flags %u/%u or %u late windows (at most %d) malformed",
                                  has_max, has_closed, *nlate, MAX_LATE);
        return true;
}

/* How the snapshot's flag counters map onto this build's rules (rs). */
static bool read_rules(cf_st_dec *d, int version, const cf_rule_set *rs, cf_agg_rulemap *rm)
{
        if (version < 3) {
                rm->n = V2_SLOTS;
                for (uint32_t k = 0; k < V2_SLOTS; k++) {
                        int i = k < sizeof(v2_rules) / sizeof(v2_rules[0])
                                    ? cf_rule_set_index(rs, v2_rules[k])
                                    : -1;
                        rm->to[k] = i >= 0 ? (uint8_t)i : CF_AGG_NO_RULE;
                }
                return true;
        }
        rm->n = cf_st_u8(d);
        bool seen[CF_RULES_MAX] = {0};
        for (uint32_t k = 0; k < rm->n && cf_st_ok(d); k++) {
                char name[256];
                cf_st_str8(d, name, sizeof(name), "rule name");
                int i = cf_st_ok(d) ? cf_rule_set_index(rs, name) : 0;
                if (i < 0)
                        return cf_st_fail(d, "flags counted for rule '%s', not one of this build's",
                                          name);
                if (seen[i]) return cf_st_fail(d, "rule '%s' listed twice", name);
                seen[i] = true;
                rm->to[k] = (uint8_t)i;
        }
        return cf_st_ok(d);
}

/* The pending late list: ascending distinct windows, each with a record. */
static bool read_late(cf_st_dec *d, int version, agg_part *p, uint32_t nlate)
{
        for (uint32_t i = 0; i < nlate && cf_st_ok(d); i++) {
                cf_agg_late *l = &p->late[i];
                l->window_start = cf_st_time(d, "late window start");
                l->count = cf_st_u64(d);
                l->value_cents = cf_agg_get_cents(d, version == 1, "late value");
                if (cf_st_ok(d) && i && l->window_start <= p->late[i - 1].window_start)
                        return cf_st_fail(d, "late entry %u out of order", i);
        }
        p->nlate = nlate;
        return cf_st_ok(d);
}

static void push_window(agg_part *p, cf_agg_window *w)
{
        if (p->nw == p->cw) {
                p->cw = p->cw ? 2 * p->cw : 8;
                p->w = realloc(p->w, p->cw * sizeof(*p->w));
                if (!p->w) abort();
        }
        p->w[p->nw++] = w;
}

/* The window [start, end) of base not taken yet, searched from *j on (a delta lists its
 * windows ascending by start, as base holds them); -1 when there is none. */
static int32_t find_kept(const agg_part *base, const uint8_t *taken, uint32_t *j, int64_t start,
                         int64_t end)
{
        if (!base) return -1;
        while (*j < base->nw && base->w[*j]->start < start)
                (*j)++;
        for (uint32_t k = *j; k < base->nw && base->w[k]->start == start; k++)
                if (base->w[k]->end == end && !taken[k]) return (int32_t)k;
        return -1;
}

/* The open windows, ascending by start. They may overlap: after a restart
 * with another `window`, restored windows keep their size (README § Config).
 * A delta's (from != NULL) each have a kind byte first: W_FULL, the window;
 * W_KEPT, its start and end, and the window is base's (borrowed: its index in
 * from[], B_KEPT in taken[]); W_PART, its start and end and its changes, a new
 * window made from base's (B_PATCHED). A snapshot's are all whole. */
static bool read_windows(agg_ctx *x, cf_st_dec *d, int version, const cf_agg_rulemap *rm,
                         agg_part *p, uint32_t nw, const agg_part *base, int32_t *from,
                         uint8_t *taken)
{
        uint32_t j = 0;
        for (uint32_t i = 0; i < nw && cf_st_ok(d); i++) {
                unsigned kind = from ? cf_st_u8(d) : W_FULL;
                int32_t k = -1;
                cf_agg_window *w;
                if (kind == W_KEPT || kind == W_PART) {
                        int64_t s = cf_st_time(d, "window start");
                        int64_t e = cf_st_time(d, "window end");
                        if (!cf_st_ok(d)) return false;
                        if ((k = find_kept(base, taken, &j, s, e)) < 0)
                                return cf_st_fail(d,
                                                  "window %u [%lld, %lld) is %s by the delta "
                                                  "but not in the partition's state",
                                                  i, (long long)s, (long long)e,
                                                  kind == W_KEPT ? "kept" : "changed");
                        w = base->w[k];
                        if (kind == W_PART && !(w = cf_agg_window_patch(w, &x->lim, d, rm)))
                                return false;
                } else if (kind == W_FULL) {
                        if (!(w = cf_agg_window_restore(&x->lim, d, version, rm))) return false;
                } else {
                        return cf_st_fail(d, "window %u: entry kind %u unknown", i, kind);
                }
                bool borrowed = kind == W_KEPT;
                if (p->nw && w->start < p->w[p->nw - 1]->start) {
                        if (!borrowed) cf_agg_window_free(w);
                        return cf_st_fail(d, "window %u out of order", i);
                }
                if (!borrowed) cf_agg_window_track(w, x->track);
                if (k >= 0) taken[k] = borrowed ? B_KEPT : B_PATCHED;
                if (from) from[p->nw] = borrowed ? k : -1;
                push_window(p, w);
        }
        return cf_st_done(d);
}

/* Versions: 3 (this one, stenc fields, rules by name); 2 (releases up to
 * b13c378: the raw structs, little-endian, money in cents) and 1 (b6aa89d:
 * money as doubles of dollars) are read and converted, so an upgrade keeps
 * the partition's state. */
int cf_agg_restore(cf_stage *st, int32_t partition, const void *data, size_t len, char *errstr,
                   size_t errstr_size)
{
        agg_ctx *x = st->ctx;
        agg_part **pp = cf_agg_part_slot(x, partition);
        if (!len) {
                cf_agg_part_free(*pp);
                *pp = NULL;
                return 0;
        }
        cf_st_dec d;
        cf_st_dec_init(&d, data, len, "aggregate snapshot", errstr, errstr_size);
        agg_part *p = calloc(1, sizeof(*p));
        if (!p) abort();
        int version = 0;
        uint32_t nlate = 0, nw = 0;
        cf_agg_rulemap rm = {0};
        if (!read_header(&d, "CFAG", SNAP_VERSION, &version, p, &nlate, &nw) ||
            !read_rules(&d, version, x->rules, &rm) || !read_late(&d, version, p, nlate) ||
            !read_windows(x, &d, version, &rm, p, nw, NULL, NULL, NULL)) {
                cf_agg_part_free(p);
                return -1;
        }
        cf_agg_part_free(*pp);
        *pp = p;
        return 0;
}

void cf_agg_drop(cf_stage *st, int32_t partition)
{
        agg_ctx *x = st->ctx;
        agg_part **pp = cf_agg_part_slot(x, partition);
        cf_agg_part_free(*pp);
        *pp = NULL;
}

/* ---- deltas (format: README.md § State) ---- */

void cf_agg_track(cf_stage *st, bool on)
{
        agg_ctx *x = st->ctx;
        x->track = on;
        for (size_t i = 0; i < x->nparts; i++)
                for (uint32_t k = 0; x->parts[i] && k < x->parts[i]->nw; k++)
                        cf_agg_window_track(x->parts[i]->w[k], on);
}

/* One window's entry of a delta: whole when opened since the last delta, else its
 * bounds and, when it changed, its changes. */
static void put_window_delta(const agg_ctx *x, const cf_agg_window *w, cf_buf *out)
{
        if (w->fresh) {
                cf_st_put_u8(out, W_FULL);
                cf_agg_window_snapshot(w, x->rules->n, out);
                return;
        }
        cf_st_put_u8(out, w->dirty ? W_PART : W_KEPT);
        cf_st_put_i64(out, w->start);
        cf_st_put_i64(out, w->end);
        if (w->dirty) cf_agg_window_delta(w, x->rules->n, out);
}

int cf_agg_delta(cf_stage *st, int32_t partition, cf_buf *out)
{
        agg_ctx *x = st->ctx;
        agg_part *p = *cf_agg_part_slot(x, partition);
        agg_part empty = {0};
        if (!p) p = &empty;
        if (out) put_header(x, p, "CFAD", DELTA_VERSION, out);
        for (uint32_t i = 0; i < p->nw; i++) {
                if (out) put_window_delta(x, p->w[i], out);
                cf_agg_window_clean(p->w[i]); /* out NULL: the changes are forgotten */
        }
        return 0;
}

/* Everything is read into a new partition state first (the kept windows borrowed from the
 * current one, the changed ones new), so a refusal changes nothing; then the windows the
 * delta changed or no longer lists (emitted final since) are freed with the old state. */
int cf_agg_apply_delta(cf_stage *st, int32_t partition, const void *data, size_t len, char *errstr,
                       size_t errstr_size)
{
        agg_ctx *x = st->ctx;
        agg_part **pp = cf_agg_part_slot(x, partition), *base = *pp;
        cf_st_dec d;
        cf_st_dec_init(&d, data, len, "aggregate delta", errstr, errstr_size);
        agg_part *p = calloc(1, sizeof(*p));
        if (!p) abort();
        int32_t *from = NULL;
        uint8_t *taken = NULL;
        int version = 0;
        uint32_t nlate = 0, nw = 0;
        cf_agg_rulemap rm = {0};
        bool ok = read_header(&d, "CFAD", DELTA_VERSION, &version, p, &nlate, &nw) &&
                  read_rules(&d, version, x->rules, &rm) && read_late(&d, version, p, nlate);
        if (ok && nw > cf_st_left(&d) / 17) /* kind, start, end: the smallest entry */
                ok = cf_st_fail(&d, "%u windows cannot fit in %zu bytes", nw, cf_st_left(&d));
        if (ok) {
                from = malloc((nw ? nw : 1) * sizeof(*from));
                taken = calloc(base && base->nw ? base->nw : 1, sizeof(*taken));
                if (!from || !taken) abort();
                ok = read_windows(x, &d, version, &rm, p, nw, base, from, taken);
        }
        if (!ok) {
                for (uint32_t i = 0; i < p->nw; i++)
                        if (from[i] < 0) cf_agg_window_free(p->w[i]);
                free(p->w);
                free(p);
        } else {
                p->last_wall_ms = base ? base->last_wall_ms : 0;
                p->hint = base ? base->hint : (cf_agg_hint){0};
                for (uint32_t k = 0; base && k < base->nw; k++)
                        if (taken[k] != B_KEPT) cf_agg_window_free(base->w[k]);
                if (base) {
                        free(base->w);
                        free(base);
                }
                *pp = p;
        }
        free(from);
        free(taken);
        return ok ? 0 : -1;
}
