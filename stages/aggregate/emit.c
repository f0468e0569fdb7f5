/*
 * emit.c - how a window becomes stats messages (schemas/stats.schema.json):
 * one message per group, in first-seen order, then the window summary.
 *
 * At the generator's default density a window holds ~1.4 records per group,
 * so writing group messages is most of the stage's time. Hence: the members
 * every message of a window shares (window bounds, partitions, final,
 * pipeline_version, emitted_at) are formatted once per window and copied;
 * a group message is written straight into the batch's output buffer after
 * one reservation of its worst-case size; numbers go through cf_fmt_* (no
 * printf), and money is integer cents. The summary, one per window, uses the
 * plain cf_buf/cf_json writers.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stages/aggregate/window.h"

void cf_agg_put_time(cf_buf *o, int64_t ms)
{
        cf_buf_reserve(o, 40);
        o->len += cf_fmt_time(o->p + o->len, ms, 0);
}

/* cents (>= 0) as dollars, without trailing zeros: 1230 -> "12.3". */
static char *put_usd(char *p, int64_t cents)
{
        p += cf_fmt_uint(p, (uint64_t)cents / 100);
        unsigned f = (unsigned)((uint64_t)cents % 100);
        if (!f) return p;
        *p++ = '.';
        *p++ = (char)('0' + f / 10);
        if (f % 10) *p++ = (char)('0' + f % 10);
        return p;
}

#define LIT(p, s)           (memcpy((p), (s), sizeof(s) - 1), (p) += sizeof(s) - 1)
#define KEY(p, k)           LIT(p, ",\"" k "\":")
#define KV_UINT(p, k, v)    (KEY(p, k), (p) += cf_fmt_uint((p), (v)))
#define KV_USD(p, k, cents) (KEY(p, k), (p) = put_usd((p), (cents)))

/* End a direct write at p. The reservations above are worst cases worked out
 * by hand; a write past one is a bug, so stop rather than run on. */
static void commit_write(cf_buf *o, const char *p)
{
        if (p > o->p + o->cap) abort();
        o->len = (size_t)(p - o->p);
}

/* A country code: "CN" quoted, or null when absent (0). */
static char *put_cc(char *p, uint16_t cc)
{
        if (!cc) {
                LIT(p, "null");
                return p;
        }
        p[0] = '"';
        p[1] = (char)(cc >> 8);
        p[2] = (char)(cc & 0xff);
        p[3] = '"';
        return p + 4;
}

/* A country code in a message key: "CN", or "-" when absent. */
static char *key_cc(char *p, uint16_t cc)
{
        if (!cc) {
                *p++ = '-';
                return p;
        }
        p[0] = (char)(cc >> 8);
        p[1] = (char)(cc & 0xff);
        return p + 2;
}

/* Worst case of a group message besides the shared parts and flags_by_rule's
 * members: fixed members, codes and counts (~235), 4 units (4 x 39); 394
 * counted. The rule counts' bound comes from the rule set (flags_max). */
#define GROUP_FIXED_MAX 512

/* The shared members of a window's messages, formatted once per window into
 * the stage's scratch buffers (the tail once per emitted_at). */
typedef struct shared {
        const cf_buf *common; /* ,"window_start":…,"final":… */
        const cf_buf *tail;   /* ,"pipeline_version":…,"emitted_at":…} */
        const cf_buf *kp;     /* key prefix "<window_start>/<partition>/" */
} shared;

static void shared_init(shared *sh, const cf_agg_window *w, const cf_agg_emit *e)
{
        cf_agg_scratch *s = e->scratch;
        cf_buf *o = &s->common;
        cf_buf_reset(o);
        cf_buf_puts(o, ",\"window_start\":");
        cf_json_time(o, w->start);
        cf_buf_puts(o, ",\"window_end\":");
        cf_json_time(o, w->end);
        cf_buf_puts(o, ",\"partitions\":[");
        cf_json_int(o, e->partition);
        cf_buf_puts(o, "],\"final\":");
        cf_buf_puts(o, e->final ? "true" : "false");
        if (!s->tail.len || s->tail_now_ms != e->now_ms) {
                o = &s->tail;
                cf_buf_reset(o);
                cf_buf_puts(o, ",\"pipeline_version\":");
                cf_json_str(o, e->pipeline_version, strlen(e->pipeline_version));
                cf_buf_puts(o, ",\"emitted_at\":");
                cf_json_time(o, e->now_ms);
                cf_buf_putc(o, '}');
                s->tail_now_ms = e->now_ms;
        }
        /* Key "<window_start>/<partition>/<group or window>": one key per
         * message that a later emission of the same window supersedes, so a
         * compacted stats topic keeps the latest (see README). */
        o = &s->kp;
        cf_buf_reset(o);
        cf_agg_put_time(o, w->start);
        cf_buf_putc(o, '/');
        cf_json_int(o, e->partition);
        cf_buf_putc(o, '/');
        *sh = (shared){&s->common, &s->tail, &s->kp};
}

void cf_agg_scratch_free(cf_agg_scratch *s)
{
        cf_buf_free(&s->common);
        cf_buf_free(&s->tail);
        cf_buf_free(&s->kp);
}

/* Most bytes put_flags writes for rules: every rule with a 10-digit count. */
static size_t flags_max(const cf_rule_set *rules)
{
        return cf_rule_set_json_max(rules, 10);
}

/* {"rule":count,...} for the non-zero counts; names need no escaping
 * (detect checks them when it builds its registry). */
static char *put_flags(char *p, const uint32_t *f, const cf_rule_set *rules)
{
        *p++ = '{';
        char *first = p;
        for (int i = 0; i < rules->n; i++) {
                if (!f[i]) continue;
                if (p != first) *p++ = ',';
                size_t n = strlen(rules->names[i]);
                *p++ = '"';
                memcpy(p, rules->names[i], n);
                p += n;
                LIT(p, "\":");
                p += cf_fmt_uint(p, f[i]);
        }
        *p++ = '}';
        return p;
}

static void emit_group(const cf_agg_group *g, const cf_agg_emit *e, const shared *sh, cf_batch *b)
{
        uint16_t rep = (uint16_t)(g->key >> 48), org = (uint16_t)(g->key >> 32),
                 exc = (uint16_t)(g->key >> 16);
        unsigned ch = (unsigned)(g->key & 0xffff) % 100;
        char key[256], *k = key;
        size_t kpn = sh->kp->len < 200 ? sh->kp->len : 200;
        memcpy(k, sh->kp->p, kpn);
        k += kpn;
        k = key_cc(k, rep);
        *k++ = '/';
        k = key_cc(k, org);
        *k++ = '/';
        k = key_cc(k, exc);
        *k++ = '/';
        k[0] = (char)('0' + ch / 10);
        k[1] = (char)('0' + ch % 10);
        k += 2;
        cf_buf *o = cf_batch_out_begin(b, CF_OUT_STATS, e->partition, key, (size_t)(k - key));
        cf_buf_reserve(o, GROUP_FIXED_MAX + flags_max(e->rules) + sh->common->len + sh->tail->len);
        char *p = o->p + o->len;
        LIT(p, "{\"type\":\"group\"");
        memcpy(p, sh->common->p, sh->common->len);
        p += sh->common->len;
        KEY(p, "reporter_country");
        p = put_cc(p, rep);
        KEY(p, "origin_country");
        p = put_cc(p, org);
        KEY(p, "export_country");
        p = put_cc(p, exc);
        LIT(p, ",\"hs_chapter\":\"");
        p[0] = (char)('0' + ch / 10);
        p[1] = (char)('0' + ch % 10);
        p += 2;
        *p++ = '"';
        KV_UINT(p, "records", g->records);
        KV_USD(p, "value_usd", g->value_cents);
        KEY(p, "quantity_by_unit");
        *p++ = '{';
        for (int u = 0; u < CF_AGG_UNITS && g->unit[u]; u++) {
                if (u) *p++ = ',';
                char code[4];
                memcpy(code, &g->unit[u], 4);
                size_t n = strnlen(code, 4);
                *p++ = '"';
                memcpy(p, code, n); /* decode checked: [A-Z0-9]{2,3} */
                p += n;
                LIT(p, "\":");
                p += cf_fmt_num(p, g->qty[u]);
        }
        *p++ = '}';
        KV_UINT(p, "flagged", g->flagged);
        KEY(p, "flags_by_rule");
        p = put_flags(p, g->flags, e->rules);
        memcpy(p, sh->tail->p, sh->tail->len);
        p += sh->tail->len;
        commit_write(o, p);
        cf_batch_out_end(b);
}

/* Worst case of a summary besides the shared parts, late entries, top
 * exporters and flags_by_rule's members: fixed members and numbers, 620
 * counted. The rule counts' bound comes from the rule set (flags_max). */
#define SUMMARY_FIXED_MAX 768
#define LATE_MAX          160 /* one late_records entry (~110 with a 4-digit year) */

/* The window summary: written straight into the output buffer, like a
 * group message (with 64 partitions a window is ~3 records, so there are as
 * many summaries as group messages). */
static void emit_summary(const cf_agg_window *w, const cf_agg_limits *l, const cf_agg_emit *e,
                         const shared *sh, cf_batch *b)
{
        char key[256];
        size_t kn = sh->kp->len < 240 ? sh->kp->len : 240;
        memcpy(key, sh->kp->p, kn);
        memcpy(key + kn, "window", 6);
        cf_buf *o = cf_batch_out_begin(b, CF_OUT_STATS, e->partition, key, kn + 6);
        cf_buf_reserve(o, SUMMARY_FIXED_MAX + flags_max(e->rules) + sh->common->len +
                              e->n_late * LATE_MAX);
        char *p = o->p + o->len;
        LIT(p, "{\"type\":\"window\"");
        memcpy(p, sh->common->p, sh->common->len);
        p += sh->common->len;
        KEY(p, "forced");
        if (e->forced)
                LIT(p, "true");
        else
                LIT(p, "false");
        KEY(p, "watermark");
        if (e->has_watermark) {
                *p++ = '"';
                p += cf_fmt_time(p, e->watermark_ms, 1);
                *p++ = '"';
        } else {
                LIT(p, "null");
        }
        KV_UINT(p, "records", w->records);
        KV_USD(p, "value_usd", w->value_cents);
        KV_UINT(p, "flagged", w->flagged);
        KEY(p, "flags_by_rule");
        uint32_t f[CF_RULES_MAX];
        for (int i = 0; i < CF_RULES_MAX; i++)
                f[i] = w->flags[i] > UINT32_MAX ? UINT32_MAX : (uint32_t)w->flags[i];
        p = put_flags(p, f, e->rules);
        KV_UINT(p, "duplicates", w->duplicates + e->extra_duplicates);
        KV_UINT(p, "dead_letters", w->dead_letters + e->extra_dead_letters);
        KV_UINT(p, "groups", w->ngroups);
        KV_UINT(p, "overflow_records", w->overflow_records);
        KV_USD(p, "overflow_value_usd", w->overflow_value_cents);
        KV_UINT(p, "unit_overflow_records", w->unit_overflow);
        uint64_t late = e->late_unattributed;
        for (size_t i = 0; i < e->n_late; i++)
                late += e->late[i].count;
        KV_UINT(p, "late", late);
        KEY(p, "late_records");
        *p++ = '[';
        for (size_t i = 0; i < e->n_late; i++) {
                if (i) *p++ = ',';
                LIT(p, "{\"window_start\":\"");
                p += cf_fmt_time(p, e->late[i].window_start, 1);
                *p++ = '"';
                KV_UINT(p, "count", e->late[i].count);
                KV_USD(p, "value_usd", e->late[i].value_cents);
                *p++ = '}';
        }
        *p++ = ']';
        KV_UINT(p, "late_unattributed", e->late_unattributed);
        KV_UINT(p, "distinct_exporters", (uint64_t)llround(cf_hll_estimate(&w->exporters)));
        KV_UINT(p, "distinct_importers", (uint64_t)llround(cf_hll_estimate(&w->importers)));
        KEY(p, "top_exporters");
        *p++ = '[';
        commit_write(o, p);
        /* ids may need escaping: the checked writers from here on */
        cf_ss_entry top[64];
        size_t n = cf_ss_top(&w->top, l->top_k < 64 ? l->top_k : 64, top);
        for (size_t i = 0; i < n; i++) {
                cf_buf_reserve(o, 64);
                p = o->p + o->len;
                if (i) *p++ = ',';
                LIT(p, "{\"exporter_id\":");
                commit_write(o, p);
                cf_json_str(o, top[i].key, top[i].len);
                cf_buf_reserve(o, 64);
                p = o->p + o->len;
                KV_USD(p, "value_usd", top[i].count);
                KV_USD(p, "error", top[i].err);
                *p++ = '}';
                commit_write(o, p);
        }
        cf_buf_putc(o, ']');
        cf_buf_put(o, sh->tail->p, sh->tail->len);
        cf_batch_out_end(b);
}

void cf_agg_window_emit(const cf_agg_window *w, const cf_agg_limits *l, const cf_agg_emit *e,
                        cf_batch *b)
{
        shared sh;
        shared_init(&sh, w, e);
        /* first-seen order: deterministic (a restored window re-inserts its
         * groups in the same order), and no sort per window */
        for (uint32_t i = 0; i < w->ngroups; i++)
                emit_group(&w->g[i], e, &sh, b);
        emit_summary(w, l, e, &sh, b);
}
