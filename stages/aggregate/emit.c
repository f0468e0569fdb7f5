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
#include <string.h>

#include "pipeline/chain.h"
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

void cf_agg_put_usd(cf_buf *o, int64_t cents)
{
        cf_buf_reserve(o, 24);
        o->len = (size_t)(put_usd(o->p + o->len, cents) - o->p);
}

#define LIT(p, s) (memcpy((p), (s), sizeof(s) - 1), (p) += sizeof(s) - 1)

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

/* Worst case of a group message besides the shared parts: the fixed members
 * and codes (~170), 4 units (4 x ~40), 16 rule counts (16 x ~60). */
#define GROUP_MAX 1400

/* The shared members of a window's messages, formatted once. */
typedef struct shared {
        cf_buf common; /* ,"window_start":…,"final":… */
        cf_buf tail;   /* ,"pipeline_version":…,"emitted_at":…} */
        cf_buf kp;     /* key prefix "<window_start>/<partition>/" */
} shared;

static void shared_init(shared *sh, const cf_agg_window *w, const cf_agg_emit *e)
{
        memset(sh, 0, sizeof(*sh));
        cf_buf *o = &sh->common;
        cf_buf_puts(o, ",\"window_start\":");
        cf_json_time(o, w->start);
        cf_buf_puts(o, ",\"window_end\":");
        cf_json_time(o, w->end);
        cf_buf_puts(o, ",\"partitions\":[");
        cf_json_int(o, e->partition);
        cf_buf_puts(o, "],\"final\":");
        cf_buf_puts(o, e->final ? "true" : "false");
        o = &sh->tail;
        cf_buf_puts(o, ",\"pipeline_version\":");
        cf_json_str(o, e->pipeline_version, strlen(e->pipeline_version));
        cf_buf_puts(o, ",\"emitted_at\":");
        cf_json_time(o, e->now_ms);
        cf_buf_putc(o, '}');
        /* Key "<window_start>/<partition>/<group or window>": one key per
         * message that a later emission of the same window supersedes, so a
         * compacted stats topic keeps the latest (see README). */
        cf_agg_put_time(&sh->kp, w->start);
        cf_buf_printf(&sh->kp, "/%d/", (int)e->partition);
}

static void shared_free(shared *sh)
{
        cf_buf_free(&sh->common);
        cf_buf_free(&sh->tail);
        cf_buf_free(&sh->kp);
}

static char *put_flags(char *p, const uint32_t *f)
{
        *p++ = '{';
        char *first = p;
        for (int i = 0; i < cf_n_rule_names && i < CF_AGG_RULES; i++) {
                if (!f[i]) continue;
                if (p != first) *p++ = ',';
                size_t n = strlen(cf_rule_names[i]);
                *p++ = '"';
                memcpy(p, cf_rule_names[i], n);
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
        size_t kpn = sh->kp.len < 200 ? sh->kp.len : 200;
        memcpy(k, sh->kp.p, kpn);
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
        cf_buf_reserve(o, GROUP_MAX + sh->common.len + sh->tail.len);
        char *p = o->p + o->len;
        LIT(p, "{\"type\":\"group\"");
        memcpy(p, sh->common.p, sh->common.len);
        p += sh->common.len;
        LIT(p, ",\"reporter_country\":");
        p = put_cc(p, rep);
        LIT(p, ",\"origin_country\":");
        p = put_cc(p, org);
        LIT(p, ",\"export_country\":");
        p = put_cc(p, exc);
        LIT(p, ",\"hs_chapter\":\"");
        p[0] = (char)('0' + ch / 10);
        p[1] = (char)('0' + ch % 10);
        p += 2;
        LIT(p, "\",\"records\":");
        p += cf_fmt_uint(p, g->records);
        LIT(p, ",\"value_usd\":");
        p = put_usd(p, g->value_cents);
        LIT(p, ",\"quantity_by_unit\":{");
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
        LIT(p, "},\"flagged\":");
        p += cf_fmt_uint(p, g->flagged);
        LIT(p, ",\"flags_by_rule\":");
        p = put_flags(p, g->flags);
        memcpy(p, sh->tail.p, sh->tail.len);
        p += sh->tail.len;
        o->len = (size_t)(p - o->p);
        cf_batch_out_end(b);
}

/* ,"key":v */
static void kv_int(cf_buf *o, const char *key, int64_t v)
{
        cf_buf_putc(o, ',');
        cf_json_key(o, key);
        cf_json_int(o, v);
}

/* ,"key":dollars */
static void kv_usd(cf_buf *o, const char *key, int64_t cents)
{
        cf_buf_putc(o, ',');
        cf_json_key(o, key);
        cf_agg_put_usd(o, cents);
}

static void emit_summary(const cf_agg_window *w, const cf_agg_limits *l, const cf_agg_emit *e,
                         const shared *sh, cf_batch *b)
{
        cf_buf key = {0};
        cf_buf_put(&key, sh->kp.p, sh->kp.len);
        cf_buf_puts(&key, "window");
        cf_buf *o = cf_batch_out_begin(b, CF_OUT_STATS, e->partition, key.p, key.len);
        cf_buf_free(&key);
        cf_buf_puts(o, "{\"type\":\"window\"");
        cf_buf_put(o, sh->common.p, sh->common.len);
        cf_buf_puts(o, ",\"forced\":");
        cf_buf_puts(o, e->forced ? "true" : "false");
        cf_buf_puts(o, ",\"watermark\":");
        if (e->has_watermark)
                cf_json_time(o, e->watermark_ms);
        else
                cf_buf_puts(o, "null");
        kv_int(o, "records", (int64_t)w->records);
        kv_usd(o, "value_usd", w->value_cents);
        kv_int(o, "flagged", (int64_t)w->flagged);
        cf_buf_puts(o, ",\"flags_by_rule\":");
        uint32_t f[CF_AGG_RULES];
        for (int i = 0; i < CF_AGG_RULES; i++)
                f[i] = w->flags[i] > UINT32_MAX ? UINT32_MAX : (uint32_t)w->flags[i];
        cf_buf_reserve(o, 16 * 64);
        o->len = (size_t)(put_flags(o->p + o->len, f) - o->p);
        kv_int(o, "duplicates", (int64_t)(w->duplicates + e->extra_duplicates));
        kv_int(o, "dead_letters", (int64_t)(w->dead_letters + e->extra_dead_letters));
        kv_int(o, "groups", w->ngroups);
        kv_int(o, "overflow_records", (int64_t)w->overflow_records);
        kv_usd(o, "overflow_value_usd", w->overflow_value_cents);
        kv_int(o, "unit_overflow_records", (int64_t)w->unit_overflow);
        uint64_t late = e->late_unattributed;
        for (size_t i = 0; i < e->n_late; i++)
                late += e->late[i].count;
        kv_int(o, "late", (int64_t)late);
        cf_buf_puts(o, ",\"late_records\":[");
        for (size_t i = 0; i < e->n_late; i++) {
                if (i) cf_buf_putc(o, ',');
                cf_buf_puts(o, "{\"window_start\":");
                cf_json_time(o, e->late[i].window_start);
                kv_int(o, "count", (int64_t)e->late[i].count);
                kv_usd(o, "value_usd", e->late[i].value_cents);
                cf_buf_putc(o, '}');
        }
        cf_buf_putc(o, ']');
        kv_int(o, "late_unattributed", (int64_t)e->late_unattributed);
        cf_buf_puts(o, ",\"top_exporters\":[");
        cf_ss_entry top[64];
        size_t k = l->top_k < 64 ? l->top_k : 64;
        size_t n = cf_ss_top(&w->top, k, top);
        for (size_t i = 0; i < n; i++) {
                if (i) cf_buf_putc(o, ',');
                cf_buf_puts(o, "{\"exporter_id\":");
                cf_json_str(o, top[i].key, top[i].len);
                kv_usd(o, "value_usd", top[i].count);
                kv_usd(o, "error", top[i].err);
                cf_buf_putc(o, '}');
        }
        cf_buf_putc(o, ']');
        kv_int(o, "distinct_exporters", (int64_t)llround(cf_hll_estimate(&w->exporters)));
        kv_int(o, "distinct_importers", (int64_t)llround(cf_hll_estimate(&w->importers)));
        cf_buf_put(o, sh->tail.p, sh->tail.len);
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
        shared_free(&sh);
}
