/*
 * dedup.c - the dedup stage (DESIGN §5.2).
 *
 * Per record with status CF_REC_OK, in its input partition's state:
 *  - key (declaration_id, line) seen with the same fingerprint in the window:
 *    an exact re-delivery, status CF_REC_DUPLICATE (the chain counts it). The
 *    state keeps every version (fingerprint) of a key seen in the window, so a
 *    re-delivery of the original after its amendment is still a duplicate;
 *  - a new fingerprint with an amendment higher than every version seen:
 *    processed, with CF_SIG_AMENDMENT (evidence[0]: previous amendment and
 *    fingerprint, when that version was seen);
 *  - a new fingerprint without a higher amendment: processed, with
 *    CF_SIG_CONFLICTING_RESUBMISSION (evidence[1], same fields; "previous" is
 *    the version with the highest amendment, the newest of equal ones).
 *  - independently, the shipment hash (exporter, importer, hs_code, quantity,
 *    customs_value, bill_of_lading, container_id) seen under another
 *    declaration_id in the window, and not yet under this one:
 *    CF_SIG_DUPLICATE_SHIPMENT (evidence[2]: the latest other declaration).
 * Records whose event time is older than what the state retains (the window
 * behind the partition's max event time, or a slice evicted by the bound) are
 * processed without dedup and counted as late.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/core/intmath.h"
#include "pipeline/core/stage.h"
#include "stages/dedup/dedup_hash.h"
#include "stages/dedup/dedup_table.h"

typedef struct dedup_cfg {
        int64_t window_ms, slices, max_entries;
        bool duplicate_shipment;
} dedup_cfg;

static const cf_config_map dedup_map[] = {
    {CF_CFG_DURATION, "window", "30d", offsetof(dedup_cfg, window_ms),
     "Event-time window: a key or shipment is remembered this long after the partition's "
     "latest event time (at least this long, at most one slice more)",
     1000, 1e13},
    {CF_CFG_INT, "slices", "30", offsetof(dedup_cfg, slices),
     "Time slices per window: expiry and eviction drop one whole slice at a time", 1, 10000},
    {CF_CFG_INT, "max_entries", "10000000", offsetof(dedup_cfg, max_entries),
     "Bound on remembered keys (and on shipments) per input partition; when reached the "
     "oldest slice is evicted and counted (customsflow_dedup_evicted_total)",
     1, 2e9},
    {CF_CFG_BOOL, "duplicate_shipment", "true", offsetof(dedup_cfg, duplicate_shipment),
     "Detect the same shipment declared under another declaration_id"},
    {0},
};

typedef struct dedup_ctx {
        dedup_cfg cfg;
        cf_dd_limits lim;
        cf_dd_part **parts; /* by partition number */
        size_t nparts;
        cf_buf scratch, ev;
        cf_dd_hashes *pre; /* per record of the batch (pass 1) */
        size_t npre;
        /* metrics: decisions (duplicate, amendment, conflicting, shipment) and per partition */
        cf_series *dec[4];
        cf_metric *f_entries, *f_evicted, *f_expired, *f_late, *f_bytes, *f_wm;
        struct dd_pm **pm; /* by partition number */
        size_t npm;
        bool track; /* partitions log their changes (deltas) */
} dedup_ctx;

/* One partition's series, and the state counts its counters follow. */
typedef struct dd_pm {
        cf_series *entries[2], *evicted[2], *expired[2], *late, *bytes, *wm;
        uint64_t seen_evicted[2], seen_expired[2], seen_late;
} dd_pm;

static void limits_from(cf_dd_limits *l, const dedup_cfg *c)
{
        *l = (cf_dd_limits){.window_s = c->window_ms / 1000 > 0 ? c->window_ms / 1000 : 1,
                            .slices = c->slices,
                            .max_entries = c->max_entries};
}

static cf_dd_part **part_slot(dedup_ctx *x, int32_t partition)
{
        return (cf_dd_part **)cf_ptrs_slot((void ***)&x->parts, &x->nparts,
                                           partition < 0 ? 0 : (size_t)partition);
}

static cf_dd_part *part_get(dedup_ctx *x, int32_t partition)
{
        cf_dd_part **pp = part_slot(x, partition);
        if (!*pp) {
                *pp = cf_dd_part_new(&x->lim);
                cf_dd_part_track(*pp, x->track);
        }
        return *pp;
}

static int64_t event_s(const cf_decl *d)
{
        int64_t ms = d->event_time_ms;
        int64_t s = cf_floor_div(ms, 1000);
        /* u32 seconds in the table: 1970..2106 (decode accepts years 0000-9999) */
        if (s < 0) return 0;
        if (s > (int64_t)UINT32_MAX) return UINT32_MAX;
        return s;
}

static const char *evidence_versions(dedup_ctx *x, cf_batch *b, const cf_dd_key *e, uint64_t fpa)
{
        cf_buf *o = &x->ev;
        cf_buf_reset(o);
        cf_buf_puts(o, "{\"previous_amendment\":");
        cf_json_int(o, (int64_t)(e->fpa & CF_DD_AMEND_MAX));
        cf_buf_puts(o, ",\"amendment\":");
        cf_json_int(o, (int64_t)(fpa & CF_DD_AMEND_MAX));
        /* the 48 fingerprint bits the state keeps, as 12 hex digits */
        cf_buf_printf(o, ",\"previous_fingerprint\":\"%012llx\",\"fingerprint\":\"%012llx\"",
                      (unsigned long long)(e->fpa >> 16), (unsigned long long)(fpa >> 16));
        cf_buf_puts(o, ",\"seen_at\":");
        cf_json_time(o, (int64_t)e->t * 1000);
        cf_buf_putc(o, '}');
        return cf_arena_strndup(&b->arena, o->p, o->len);
}

/* The conflicting resubmission's sentence (RULES.md): e is the latest version seen. */
static const char *explain_versions(dedup_ctx *x, cf_batch *b, const cf_dd_key *e, uint64_t fpa)
{
        char t[48];
        t[cf_fmt_time(t, (int64_t)e->t * 1000, 0)] = '\0';
        cf_buf *o = &x->ev;
        cf_buf_reset(o);
        cf_buf_printf(o,
                      "declaration line re-sent with different content and amendment %llu, not "
                      "higher than amendment %llu of the version seen at %s",
                      (unsigned long long)(fpa & CF_DD_AMEND_MAX),
                      (unsigned long long)(e->fpa & CF_DD_AMEND_MAX), t);
        return cf_arena_strndup(&b->arena, o->p, o->len);
}

/* The duplicate shipment's sentence (RULES.md); id may be NULL (not kept). */
static const char *explain_shipment(dedup_ctx *x, cf_batch *b, const char *id, size_t n,
                                    uint32_t ts)
{
        char t[48];
        t[cf_fmt_time(t, (int64_t)ts * 1000, 0)] = '\0';
        cf_buf *o = &x->ev;
        cf_buf_reset(o);
        cf_buf_puts(o, "the same shipment (exporter, importer, HS code, quantity, value, bill of "
                       "lading, container) was declared under ");
        if (id)
                cf_buf_put(o, id, n);
        else
                cf_buf_puts(o, "another declaration");
        cf_buf_printf(o, " at %s", t);
        return cf_arena_strndup(&b->arena, o->p, o->len);
}

static const char *evidence_shipment(dedup_ctx *x, cf_batch *b, const char *id, size_t n,
                                     uint32_t t)
{
        cf_buf *o = &x->ev;
        cf_buf_reset(o);
        cf_buf_puts(o, "{\"other_declaration_id\":");
        if (id)
                cf_json_str(o, id, n);
        else
                cf_buf_puts(o, "null");
        cf_buf_puts(o, ",\"seen_at\":");
        cf_json_time(o, (int64_t)t * 1000);
        cf_buf_putc(o, '}');
        return cf_arena_strndup(&b->arena, o->p, o->len);
}

/* A shipment is a duplicate when another declaration declared it in the window
 * and this declaration had not: the copy is signalled, not the original, and
 * neither are the original's amendments or its other lines. */
static void check_shipment(dedup_ctx *x, cf_batch *b, cf_record *r, cf_dd_part *p, uint64_t sh,
                           uint32_t t)
{
        const cf_str *id = &r->decl.declaration_id;
        cf_dd_ship_found f;
        cf_dd_ship_lookup(p, sh, id->p, id->n, &f);
        if (f.own) {
                if (t > f.own->t) cf_dd_ship_update(p, f.own, t, id->p, id->n);
                return;
        }
        if (f.other) {
                char buf[CF_DD_ID_MAX];
                size_t n = 0;
                const char *other = cf_dd_ship_id(p, f.other, buf, &n);
                r->signals |= CF_SIG_DUPLICATE_SHIPMENT;
                r->sig_evidence[2] = evidence_shipment(x, b, other, n, f.other->t);
                r->sig_explanation[2] = explain_shipment(x, b, other, n, f.other->t);
                cf_counter_inc(x->dec[3]);
        }
        cf_dd_ship_insert(p, f.ins, sh, t, id->p, id->n);
}

static void dedup_one(dedup_ctx *x, cf_batch *b, cf_record *r, const cf_dd_hashes *h)
{
        cf_dd_part *p = part_get(x, r->src.partition);
        int64_t t = event_s(&r->decl);
        cf_dd_advance(p, t);
        if (!cf_dd_live(p, t)) {
                p->late++; /* older than the window: nothing to compare with */
                return;
        }
        int64_t am = r->decl.present & CF_HAS_AMENDMENT ? r->decl.amendment : 0;
        if (am > (int64_t)CF_DD_AMEND_MAX) am = CF_DD_AMEND_MAX;
        uint64_t fpa = (h->fp & CF_DD_FP_MASK) | (uint64_t)am;
        cf_dd_found f;
        cf_dd_key_lookup(p, h->kh, fpa, &f);
        if (f.exact) {
                r->status = CF_REC_DUPLICATE;
                cf_counter_inc(x->dec[0]);
                return;
        }
        if (cf_dd_reserve(p)) {
                /* The bound evicted the oldest slice, maybe this record's own. */
                if (!cf_dd_live(p, t)) {
                        p->late++;
                        return;
                }
                cf_dd_key_lookup(p, h->kh, fpa, &f);
        }
        if (f.latest && (uint64_t)am > (f.latest->fpa & CF_DD_AMEND_MAX)) {
                r->signals |= CF_SIG_AMENDMENT;
                r->sig_evidence[0] = evidence_versions(x, b, f.latest, fpa);
                cf_counter_inc(x->dec[1]);
        } else if (f.latest) {
                r->signals |= CF_SIG_CONFLICTING_RESUBMISSION;
                r->sig_evidence[1] = evidence_versions(x, b, f.latest, fpa);
                r->sig_explanation[1] = explain_versions(x, b, f.latest, fpa);
                cf_counter_inc(x->dec[2]);
        }
        cf_dd_key_insert(p, f.ins, h->kh, fpa, (uint32_t)t);
        if (x->cfg.duplicate_shipment) check_shipment(x, b, r, p, h->sh, (uint32_t)t);
}

static int dedup_process(cf_stage *st, cf_batch *b)
{
        dedup_ctx *x = st->ctx;
        if (b->n > x->npre) {
                free(x->pre);
                x->pre = malloc(b->n * sizeof(*x->pre));
                x->npre = b->n;
        }
        /* Pass 1: hash every record. */
        for (size_t i = 0; i < b->n; i++) {
                const cf_record *r = &b->recs[i];
                if (r->status == CF_REC_OK) cf_dd_hash_record(&r->decl, &x->scratch, &x->pre[i]);
        }
        /* Pass 2: load every record's first slots, so the table misses overlap
         * instead of waiting one at a time (software prefetch 8 records ahead did
         * not: touch.h). */
        for (size_t i = 0; i < b->n; i++) {
                if (b->recs[i].status != CF_REC_OK) continue;
                const cf_dd_part *p = *part_slot(x, b->recs[i].src.partition);
                if (p) cf_dd_touch(p, x->pre[i].kh, x->cfg.duplicate_shipment ? x->pre[i].sh : 0);
        }
        /* Pass 3: decide in order (a batch may hold a record and its re-delivery). */
        for (size_t i = 0; i < b->n; i++) {
                cf_record *r = &b->recs[i];
                if (r->status == CF_REC_OK) dedup_one(x, b, r, &x->pre[i]);
        }
        return 0;
}

static void declare_metrics(dedup_ctx *x, cf_metrics *m)
{
        static const char *const decisions[] = {"duplicate", "amendment",
                                                "conflicting_resubmission", "duplicate_shipment"};
        cf_metric *f = cf_metrics_counter(m, "customsflow_dedup_decisions_total",
                                          "dedup decisions: exact re-deliveries dropped, "
                                          "amendments, conflicting resubmissions, duplicate "
                                          "shipments signalled",
                                          "decision");
        for (int i = 0; i < 4; i++)
                x->dec[i] = cf_metric_series(f, decisions[i]);
        const char *pt = "partition,table";
        x->f_entries = cf_metrics_gauge(m, "customsflow_dedup_entries",
                                        "keys and shipments remembered, per input partition", pt,
                                        CF_MERGE_SUM);
        x->f_evicted = cf_metrics_counter(m, "customsflow_dedup_evicted_total",
                                          "entries evicted because max_entries was reached", pt);
        x->f_expired = cf_metrics_counter(m, "customsflow_dedup_expired_total",
                                          "entries that left the event-time window", pt);
        x->f_late = cf_metrics_counter(m, "customsflow_dedup_late_total",
                                       "records older than the window: processed without dedup",
                                       "partition");
        x->f_bytes = cf_metrics_gauge(m, "customsflow_dedup_state_bytes",
                                      "memory of the dedup tables, per input partition",
                                      "partition", CF_MERGE_SUM);
        x->f_wm = cf_metrics_gauge(m, "customsflow_dedup_watermark_seconds",
                                   "latest event time seen, per input partition (epoch seconds)",
                                   "partition", CF_MERGE_MAX);
}

static dd_pm *pm_get(dedup_ctx *x, size_t i)
{
        char part[16];
        bool created;
        dd_pm *m = cf_metrics_part((void ***)&x->pm, &x->npm, i, sizeof(*m), part, &created);
        if (!created) return m;
        static const char *const tab[] = {"keys", "shipments"};
        for (int k = 0; k < 2; k++) {
                m->entries[k] = cf_metric_series(x->f_entries, part, tab[k]);
                m->evicted[k] = cf_metric_series(x->f_evicted, part, tab[k]);
                m->expired[k] = cf_metric_series(x->f_expired, part, tab[k]);
        }
        m->late = cf_metric_series(x->f_late, part);
        m->bytes = cf_metric_series(x->f_bytes, part);
        m->wm = cf_metric_series(x->f_wm, part);
        return m;
}

static void collect_part(void *ctx, size_t i, int rebase)
{
        dedup_ctx *x = ctx;
        const cf_dd_part *p = i < x->nparts ? x->parts[i] : NULL;
        if (!p && (i >= x->npm || !x->pm[i])) return;
        dd_pm *m = pm_get(x, i);
        if (!p) {
                /* gone (dropped): no gauges; a later state counts from zero */
                for (int k = 0; k < 2; k++) {
                        cf_gauge_unset(m->entries[k]);
                        m->seen_evicted[k] = m->seen_expired[k] = 0;
                }
                cf_gauge_unset(m->bytes);
                cf_gauge_unset(m->wm);
                m->seen_late = 0;
                return;
        }
        size_t live[] = {p->klive, p->slive};
        for (int k = 0; k < 2; k++) {
                cf_gauge_set(m->entries[k], (double)live[k]);
                cf_counter_follow(m->evicted[k], &m->seen_evicted[k], p->evicted[k], rebase);
                cf_counter_follow(m->expired[k], &m->seen_expired[k], p->expired[k], rebase);
        }
        cf_counter_follow(m->late, &m->seen_late, p->late, rebase);
        cf_gauge_set(m->bytes, (double)cf_dd_part_bytes(p));
        if (p->has_wm)
                cf_gauge_set(m->wm, (double)p->wm_s);
        else
                cf_gauge_unset(m->wm);
}

static void dedup_collect(cf_stage *st, int32_t partition, int rebase)
{
        dedup_ctx *x = st->ctx;
        size_t n = x->nparts > x->npm ? x->nparts : x->npm;
        cf_metrics_each_part(partition, n, collect_part, x, rebase);
}

static int dedup_init(cf_stage *st, const cf_stage_env *env, char *errstr, size_t errstr_size)
{
        dedup_ctx *x = calloc(1, sizeof(*x));
        st->ctx = x;
        declare_metrics(x, env->metrics);
        if (cf_config_map_apply(dedup_map, "stages.dedup", env->cfg, env->base_dir, &x->cfg, errstr,
                                errstr_size))
                return -1;
        limits_from(&x->lim, &x->cfg);
        return 0;
}

static int dedup_snapshot(cf_stage *st, int32_t partition, cf_buf *out)
{
        dedup_ctx *x = st->ctx;
        cf_dd_part *p = *part_slot(x, partition);
        if (p) {
                cf_dd_part_snapshot(p, out);
                return 0;
        }
        cf_dd_part *empty = cf_dd_part_new(&x->lim);
        cf_dd_part_snapshot(empty, out);
        cf_dd_part_free(empty);
        return 0;
}

static int dedup_restore(cf_stage *st, int32_t partition, const void *data, size_t len,
                         char *errstr, size_t errstr_size)
{
        dedup_ctx *x = st->ctx;
        cf_dd_part **pp = part_slot(x, partition);
        cf_dd_part *np = NULL;
        if (len) {
                np = cf_dd_part_restore(&x->lim, data, len, errstr, errstr_size);
                if (!np) return -1;
                cf_dd_part_track(np, x->track);
        }
        cf_dd_part_free(*pp);
        *pp = np;
        return 0;
}

static void dedup_track(cf_stage *st, bool on)
{
        dedup_ctx *x = st->ctx;
        x->track = on;
        for (size_t i = 0; i < x->nparts; i++)
                if (x->parts[i]) cf_dd_part_track(x->parts[i], on);
}

static int dedup_delta(cf_stage *st, int32_t partition, cf_buf *out)
{
        dedup_ctx *x = st->ctx;
        cf_dd_part *p = part_get(x, partition);
        if (out)
                cf_dd_part_delta(p, out);
        else
                cf_dd_delta_reset(p);
        return 0;
}

static int dedup_apply_delta(cf_stage *st, int32_t partition, const void *data, size_t len,
                             char *errstr, size_t errstr_size)
{
        return cf_dd_part_apply_delta(part_get(st->ctx, partition), data, len, errstr, errstr_size);
}

static void dedup_drop(cf_stage *st, int32_t partition)
{
        dedup_ctx *x = st->ctx;
        cf_dd_part **pp = part_slot(x, partition);
        cf_dd_part_free(*pp);
        *pp = NULL;
}

static int dedup_reload(cf_stage *st, const cf_stage_env *env, char *errstr, size_t errstr_size)
{
        dedup_ctx *x = st->ctx;
        dedup_cfg nc = {0};
        if (cf_config_map_apply(dedup_map, "stages.dedup", env->cfg, env->base_dir, &nc, errstr,
                                errstr_size)) {
                cf_config_map_free(dedup_map, &nc);
                return -1;
        }
        cf_dd_limits nl;
        limits_from(&nl, &nc);
        if (memcmp(&nl, &x->lim, sizeof(nl))) {
                /* New window/slices/bound: carry every partition's state over
                 * through its snapshot, which restores under any limits. */
                cf_buf tmp = {0};
                for (size_t i = 0; i < x->nparts; i++) {
                        if (!x->parts[i]) continue;
                        cf_buf_reset(&tmp);
                        cf_dd_part_snapshot(x->parts[i], &tmp);
                        cf_dd_part *np =
                            cf_dd_part_restore(&nl, tmp.p, tmp.len, errstr, errstr_size);
                        if (!np) {
                                cf_buf_free(&tmp);
                                return -1;
                        }
                        /* the changes logged since the last delta carry over (entries by
                         * value: the new limits' horizon decides which stay) */
                        cf_dd_part_track(np, x->track);
                        cf_buf t;
                        t = np->klog, np->klog = x->parts[i]->klog, x->parts[i]->klog = t;
                        t = np->slog, np->slog = x->parts[i]->slog, x->parts[i]->slog = t;
                        np->nklog = x->parts[i]->nklog;
                        np->nslog = x->parts[i]->nslog;
                        np->cleared = x->parts[i]->cleared;
                        cf_dd_part_free(x->parts[i]);
                        x->parts[i] = np;
                }
                cf_buf_free(&tmp);
        }
        x->lim = nl;
        cf_config_map_free(dedup_map, &x->cfg);
        x->cfg = nc;
        return 0;
}

static void dedup_destroy(cf_stage *st)
{
        dedup_ctx *x = st->ctx;
        if (!x) return;
        for (size_t i = 0; i < x->nparts; i++)
                cf_dd_part_free(x->parts[i]);
        free(x->parts);
        for (size_t i = 0; i < x->npm; i++)
                free(x->pm[i]);
        free(x->pm);
        free(x->pre);
        cf_buf_free(&x->scratch);
        cf_buf_free(&x->ev);
        cf_config_map_free(dedup_map, &x->cfg);
        free(x);
        st->ctx = NULL;
}

const cf_stage_plugin cf_stage_dedup = {
    .name = "dedup",
    .description = "drops exact re-deliveries of (declaration_id, line) in an event-time "
                   "window; signals amendments, conflicting resubmissions and duplicate "
                   "shipments",
    .config_map = dedup_map,
    .init = dedup_init,
    .process = dedup_process,
    .snapshot = dedup_snapshot,
    .restore = dedup_restore,
    .track = dedup_track,
    .delta = dedup_delta,
    .apply_delta = dedup_apply_delta,
    .drop = dedup_drop,
    .reload = dedup_reload,
    .collect = dedup_collect,
    .destroy = dedup_destroy,
};
