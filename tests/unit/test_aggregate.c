/*
 * test_aggregate.c - the aggregate stage on hand-made records: windows and
 * watermark with out-of-order and late events, dead letters and duplicates,
 * partitions kept apart, caps (groups, open windows) counted, end-of-input
 * flush partial, snapshot/restore round trip, idle_timeout, metrics.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "pipeline/core/chain.h"
#include "pipeline/core/stage.h"
#include "stages/detect/detect.h"

extern const cf_stage_plugin cf_stage_aggregate;

/* The rule names aggregate gets from detect in a chain (env.rules). */
static const cf_rule_set *rules(void)
{
        static cf_rule_set rs;
        char err[256];
        if (!rs.n && cf_detect_rule_set(&rs, err, sizeof(err))) fail_msg("%s", err);
        return &rs;
}

/* Flag r with the rule named name. */
static void add_reason(cf_batch *b, cf_record *r, const char *name, double weight)
{
        int ix = cf_rule_set_index(rules(), name);
        assert_true(ix >= 0);
        cf_record_add_reason(b, r, (uint16_t)ix, name, weight, "{}", 2);
}

#define T0  1735689600000LL /* 2025-01-01T00:00:00Z */
#define MIN 60000LL

/* A record: minutes after T0, partition, status, a few fields. */
typedef struct ag_rec {
        int64_t min;
        int32_t part;
        cf_rec_status status;
        const char *exp;  /* default "VN-E1" */
        double value;     /* default 100 */
        const char *hs;   /* default "940350" */
        const char *rule; /* flagged by this rule when set */
} ag_rec;

/* The stage with its metrics in reg (NULL: none). */
static cf_stage new_stage_m(const char *yaml, cf_metrics *reg)
{
        char err[256];
        cf_node *n =
            yaml ? cf_yaml_load_string("t.yaml", yaml, strlen(yaml), err, sizeof(err)) : NULL;
        cf_stage st = {.p = &cf_stage_aggregate};
        cf_stage_env env = {.cfg = n, .pipeline_version = "test", .rules = rules(), .metrics = reg};
        if (cf_stage_aggregate.init(&st, &env, err, sizeof(err))) fail_msg("init: %s", err);
        cf_yaml_free(n);
        return st;
}

static cf_stage new_stage(const char *yaml)
{
        return new_stage_m(yaml, NULL);
}

/* The stage's metrics as /metrics shows them (collected first), NUL-terminated. */
static void stage_exposition(cf_stage *st, cf_metrics *reg, cf_buf *m)
{
        cf_stage_aggregate.collect(st, -1, 0);
        m->len = 0;
        cf_metrics_encode(m, &reg, 1);
        cf_buf_putc(m, 0);
}

/* Messages emitted so far, as NUL-terminated strings ("key\tvalue"). */
typedef struct outs {
        char **v;
        size_t n;
} outs;

static void collect(outs *o, const cf_batch *b)
{
        for (size_t i = 0; i < b->n_outs; i++) {
                const cf_output *x = &b->outs[i];
                assert_int_equal(x->kind, CF_OUT_STATS);
                char *s = malloc(x->key_len + x->val_len + 2);
                memcpy(s, b->out.p + x->key_off, x->key_len);
                s[x->key_len] = '\t';
                memcpy(s + x->key_len + 1, b->out.p + x->val_off, x->val_len);
                s[x->key_len + 1 + x->val_len] = 0;
                o->v = realloc(o->v, (o->n + 1) * sizeof(*o->v));
                o->v[o->n++] = s;
        }
}

static void outs_free(outs *o)
{
        for (size_t i = 0; i < o->n; i++)
                free(o->v[i]);
        free(o->v);
        memset(o, 0, sizeof(*o));
}

/* The end of a test: its outputs and its stage freed. */
static void done(cf_stage *st, outs *o)
{
        outs_free(o);
        cf_stage_aggregate.destroy(st);
}

static void run(cf_stage *st, const ag_rec *rs, size_t n, outs *o)
{
        cf_batch b;
        cf_batch_init(&b, n ? n : 1);
        b.now_ms = T0;
        for (size_t i = 0; i < n; i++) {
                cf_record *r = cf_batch_add(&b, "x", 1);
                const ag_rec *a = &rs[i];
                r->src.partition = a->part;
                r->status = a->status;
                cf_decl *d = &r->decl;
                d->event_time_ms = T0 + a->min * MIN;
                const char *hs = a->hs ? a->hs : "940350";
                d->hs_code = (cf_str){hs, (uint32_t)strlen(hs)};
                d->origin_country = CF_CC('C', 'N');
                d->export_country = CF_CC('V', 'N');
                const char *e = a->exp ? a->exp : "VN-E1";
                d->exporter_id = (cf_str){e, (uint32_t)strlen(e)};
                d->importer_id = (cf_str){"US-I1", 5};
                d->quantity = 2;
                memcpy(d->unit, "NMB", 4);
                d->value_usd = a->value ? a->value : 100;
                if (a->rule) {
                        r->flagged = true;
                        add_reason(&b, r, a->rule, 50);
                }
        }
        assert_int_equal(cf_stage_aggregate.process(st, &b), 0);
        if (o) collect(o, &b);
        cf_batch_destroy(&b);
}

static void flush_at(cf_stage *st, int final, int64_t now_ms, outs *o)
{
        cf_batch b;
        cf_batch_init(&b, 1);
        assert_int_equal(cf_stage_aggregate.flush(st, &b, now_ms, final), 0);
        collect(o, &b);
        cf_batch_destroy(&b);
}

static void flush(cf_stage *st, int final, outs *o)
{
        flush_at(st, final, T0 + 999 * MIN, o);
}

/* Number after "key": in s (first occurrence), -1 if absent. */
static double num(const char *s, const char *key)
{
        char k[64];
        snprintf(k, sizeof(k), "\"%s\":", key);
        const char *p = strstr(s, k);
        return p ? strtod(p + strlen(k), NULL) : -1;
}

/* The i-th window summary in o. */
static const char *summary(const outs *o, size_t i)
{
        for (size_t k = 0; k < o->n; k++)
                if (strstr(o->v[k], "\"type\":\"window\"") && i-- == 0) return o->v[k];
        return NULL;
}

static size_t n_summaries(const outs *o)
{
        size_t n = 0;
        while (summary(o, n))
                n++;
        return n;
}

static void test_watermark_late(void **state)
{
        (void)state;
        cf_stage st = new_stage(NULL); /* 1h windows, 10 min lateness */
        outs o = {0};
        /* W0 = [00:00, 01:00), W1 = [01:00, 02:00) */
        const ag_rec a[] = {{30}, {50}, {65}};
        run(&st, a, 3, &o); /* watermark 00:55: W0 still open */
        assert_int_equal(o.n, 0);
        const ag_rec b[] = {{40}, {69}}; /* out of order, not late: counted in W0 */
        run(&st, b, 2, &o);
        assert_int_equal(o.n, 0);              /* watermark 00:59 */
        const ag_rec c[] = {{70}, {59}, {10}}; /* 01:10 closes W0; 00:59 and 00:10 are late */
        run(&st, c, 3, &o);
        assert_int_equal(n_summaries(&o), 1);
        const char *w0 = summary(&o, 0);
        assert_non_null(strstr(w0, "\"window_start\":\"2025-01-01T00:00:00.000Z\""));
        assert_non_null(strstr(w0, "\"final\":true"));
        assert_true(num(w0, "records") == 3 && num(w0, "late") == 0);
        assert_true(num(w0, "value_usd") == 300);
        /* a record for a window the watermark passed that never opened: late too */
        const ag_rec d[] = {{-90}, {135}}; /* 02:15 -> watermark 02:05 closes W1 */
        run(&st, d, 2, &o);
        assert_int_equal(n_summaries(&o), 2);
        const char *w1 = summary(&o, 1);
        assert_non_null(strstr(w1, "\"window_start\":\"2025-01-01T01:00:00.000Z\""));
        assert_true(num(w1, "records") == 3 && num(w1, "late") == 3);
        assert_non_null(strstr(w1, "\"late_records\":[{\"window_start\":\"2024-12-31T22:00:00"
                                   ".000Z\",\"count\":1"));
        assert_non_null(strstr(w1, "{\"window_start\":\"2025-01-01T00:00:00.000Z\",\"count\":2,"));
        /* group messages precede their summary, keyed window/partition/group */
        size_t wi = 0;
        while (o.v[wi] != w1)
                wi++;
        assert_true(!strncmp(o.v[wi - 1], "2025-01-01T01:00:00Z/0/-/CN/VN/94\t", 34));
        assert_true(num(o.v[wi - 1], "records") == 3);
        assert_non_null(strstr(o.v[wi - 1], "\"quantity_by_unit\":{\"NMB\":6}"));
        /* end of input: the open window W2, partial, and nothing is pending any more */
        flush(&st, 0, &o);
        assert_int_equal(n_summaries(&o), 2);
        flush(&st, 1, &o);
        assert_int_equal(n_summaries(&o), 3);
        const char *w2 = summary(&o, 2);
        assert_non_null(strstr(w2, "\"final\":false"));
        assert_true(num(w2, "records") == 1 && num(w2, "late") == 0);
        done(&st, &o);
}

static void test_batch_split_invariant(void **state)
{
        (void)state;
        ag_rec rs[400];
        uint64_t x = 7;
        for (int i = 0; i < 400; i++) {
                x = x * 6364136223846793005ull + 1442695040888963407ull;
                /* drifting forward with jitter up to 40 minutes back */
                rs[i] = (ag_rec){.min = i / 2 - (int64_t)((x >> 33) % 40),
                                 .exp = (x >> 20) & 1 ? "A" : "B",
                                 .value = (double)((x >> 40) % 1000 + 1)};
        }
        outs one = {0}, many = {0};
        cf_stage a = new_stage(NULL), b = new_stage(NULL);
        run(&a, rs, 400, &one);
        for (int i = 0; i < 400; i += 3)
                run(&b, rs + i, i + 3 <= 400 ? 3 : 400 - i, &many);
        flush(&a, 1, &one);
        flush(&b, 1, &many);
        assert_int_equal(one.n, many.n);
        for (size_t i = 0; i < one.n; i++)
                assert_string_equal(one.v[i], many.v[i]);
        double recs = 0, late = 0;
        for (size_t i = 0; summary(&one, i); i++) {
                recs += num(summary(&one, i), "records");
                late += num(summary(&one, i), "late");
        }
        assert_true(late > 0);
        assert_true(recs + late == 400);
        done(&a, &one);
        done(&b, &many);
}

static void test_status_partitions_flags(void **state)
{
        (void)state;
        cf_stage st = new_stage(NULL);
        outs o = {0};
        const ag_rec a[] = {
            {0, 0, CF_REC_DEAD_LETTER}, /* nothing open yet: pending */
            {5, 0},
            {6, 0, CF_REC_DUPLICATE},
            {7, 0, CF_REC_DEAD_LETTER},
            {8, 3, .rule = "watchlist_party"},
            {9, 3, .rule = "origin_route_mismatch", .hs = "850440"},
            {-300, 3, CF_REC_DUPLICATE}, /* its window is not open: pending */
        };
        run(&st, a, 7, &o);
        flush(&st, 1, &o);
        assert_int_equal(n_summaries(&o), 2);
        const char *p0 = summary(&o, 0), *p3 = summary(&o, 1);
        assert_non_null(strstr(p0, "\"partitions\":[0]"));
        assert_true(num(p0, "records") == 1 && num(p0, "duplicates") == 1 &&
                    num(p0, "dead_letters") == 2 && num(p0, "flagged") == 0);
        assert_non_null(strstr(p3, "\"partitions\":[3]"));
        assert_true(num(p3, "records") == 2 && num(p3, "duplicates") == 1 &&
                    num(p3, "groups") == 2 && num(p3, "flagged") == 2);
        assert_non_null(strstr(p3, "\"flags_by_rule\":{\"origin_route_mismatch\":1,"
                                   "\"watchlist_party\":1}"));
        int g85 = 0;
        for (size_t i = 0; i < o.n; i++)
                if (!strncmp(o.v[i], "2025-01-01T00:00:00Z/3/-/CN/VN/85\t", 34)) {
                        g85 = 1;
                        assert_non_null(strstr(o.v[i], "\"hs_chapter\":\"85\""));
                        assert_non_null(
                            strstr(o.v[i], "\"flags_by_rule\":{\"origin_route_mismatch\":1}"));
                }
        assert_true(g85);
        done(&st, &o);
}

static void test_caps(void **state)
{
        (void)state;
        cf_metrics *reg = cf_metrics_new();
        cf_stage st = new_stage_m("max_groups_per_window: 2\nmax_open_windows: 2\n"
                                  "allowed_lateness: 10h\n",
                                  reg);
        outs o = {0};
        const ag_rec a[] = {
            {1, .hs = "010000"},
            {2, .hs = "020000"},
            {3, .hs = "030000", .value = 7},
            {4, .hs = "040000", .value = 8},
            {61},  /* W0, W1 open */
            {121}, /* W2: forces W0 out */
            {10},  /* W0 was emitted: late */
        };
        run(&st, a, 7, &o);
        assert_int_equal(n_summaries(&o), 1);
        const char *w0 = summary(&o, 0);
        assert_true(num(w0, "records") == 4 && num(w0, "groups") == 2 &&
                    num(w0, "overflow_records") == 2 && num(w0, "overflow_value_usd") == 15);
        assert_non_null(strstr(w0, "\"forced\":true"));
        assert_non_null(strstr(w0, "\"final\":true"));
        cf_buf m = {0};
        stage_exposition(&st, reg, &m);
        assert_non_null(
            strstr(m.p, "customsflow_aggregate_windows_forced_total{partition=\"0\"} 1\n"));
        assert_non_null(
            strstr(m.p, "customsflow_aggregate_overflow_records_total{partition=\"0\"} 2\n"));
        assert_non_null(
            strstr(m.p, "customsflow_aggregate_late_records_total{partition=\"0\"} 1\n"));
        assert_non_null(
            strstr(m.p, "customsflow_aggregate_current_window_records{partition=\"0\"} 1\n"));
        assert_non_null(strstr(m.p, "customsflow_aggregate_open_windows{partition=\"0\"} 2\n"));
        cf_buf_free(&m);
        flush(&st, 1, &o);
        assert_int_equal(n_summaries(&o), 3);
        assert_true(num(summary(&o, 1), "late") == 1); /* the first summary after */
        assert_true(num(summary(&o, 2), "late") == 0);
        done(&st, &o);
        cf_metrics_free(reg);
}

static void test_snapshot_roundtrip(void **state)
{
        (void)state;
        ag_rec rs[3000];
        char ids[3000][16];
        uint64_t x = 99;
        for (int i = 0; i < 3000; i++) {
                x = x * 6364136223846793005ull + 1442695040888963407ull;
                snprintf(ids[i], sizeof(ids[i]), "E%llu", (unsigned long long)((x >> 30) % 700));
                rs[i] = (ag_rec){.min = i / 10 - (int64_t)((x >> 33) % 30),
                                 .part = (int32_t)((x >> 50) % 2),
                                 .exp = ids[i],
                                 .value = (double)((x >> 40) % 5000 + 1),
                                 .hs = (x >> 45) & 1 ? "850000" : "940000"};
        }
        cf_stage a = new_stage(NULL), b = new_stage(NULL);
        outs oa = {0}, ob = {0};
        run(&a, rs, 1500, &oa);
        for (int32_t p = 0; p < 2; p++) {
                cf_buf s = {0};
                assert_int_equal(cf_stage_aggregate.snapshot(&a, p, &s), 0);
                char err[256];
                assert_int_equal(cf_stage_aggregate.restore(&b, p, s.p, s.len, err, sizeof(err)),
                                 0);
                /* every truncation and a flipped magic are refused, not crashed on */
                for (size_t cut = 0; cut < s.len; cut += 1 + cut / 4)
                        if (cut)
                                assert_int_equal(
                                    cf_stage_aggregate.restore(&b, 7, s.p, cut, err, sizeof(err)),
                                    -1);
                s.p[0] ^= 1;
                assert_int_equal(cf_stage_aggregate.restore(&b, 7, s.p, s.len, err, sizeof(err)),
                                 -1);
                cf_buf_free(&s);
        }
        run(&a, rs + 1500, 1500, &oa);
        run(&b, rs + 1500, 1500, &ob);
        flush(&a, 1, &oa);
        flush(&b, 1, &ob);
        /* a's messages after the snapshot point equal b's */
        size_t skip = oa.n - ob.n;
        assert_true(ob.n > 10);
        for (size_t i = 0; i < ob.n; i++)
                assert_string_equal(oa.v[skip + i], ob.v[i]);
        /* restore with len 0 starts empty; drop forgets */
        char err[256];
        assert_int_equal(cf_stage_aggregate.restore(&b, 0, NULL, 0, err, sizeof(err)), 0);
        cf_stage_aggregate.drop(&b, 1);
        outs oc = {0};
        flush(&b, 1, &oc);
        assert_int_equal(oc.n, 0);
        outs_free(&oc);
        done(&a, &oa);
        done(&b, &ob);
}

/* idle_timeout: a partition without records emits its open windows (forced,
 * final) once the wall clock says it has been idle that long; a record for
 * such a window later is late, reported in the next summary. The records'
 * wall clock in run() is T0. */
static void test_idle_timeout(void **state)
{
        (void)state;
        cf_metrics *reg = cf_metrics_new();
        cf_stage st = new_stage_m("idle_timeout: 5m\n", reg);
        outs o = {0};
        const ag_rec a[] = {{10}, {20}, {25, 1}};
        run(&st, a, 3, &o);
        flush_at(&st, 0, T0 + 4 * MIN, &o); /* idle 4 min: nothing yet */
        assert_int_equal(o.n, 0);
        flush_at(&st, 0, T0 + 5 * MIN, &o); /* both partitions idle 5 min */
        assert_int_equal(n_summaries(&o), 2);
        const char *w0 = summary(&o, 0);
        assert_non_null(strstr(w0, "\"final\":true"));
        assert_non_null(strstr(w0, "\"forced\":true"));
        assert_true(num(w0, "records") == 2);
        /* the window is gone: its next record is late, counted in the next summary */
        const ag_rec b[] = {{30}, {70}};
        run(&st, b, 2, &o);
        flush_at(&st, 0, T0 + 10 * MIN, &o);
        assert_int_equal(n_summaries(&o), 3);
        const char *w1 = summary(&o, 2);
        assert_non_null(strstr(w1, "\"window_start\":\"2025-01-01T01:00:00.000Z\""));
        assert_true(num(w1, "records") == 1 && num(w1, "late") == 1);
        cf_buf m = {0};
        stage_exposition(&st, reg, &m);
        assert_non_null(
            strstr(m.p, "customsflow_aggregate_windows_idle_closed_total{partition=\"0\"} 2"));
        assert_non_null(
            strstr(m.p, "customsflow_aggregate_windows_forced_total{partition=\"0\"} 0"));
        cf_buf_free(&m);
        /* restored state: the idle clock starts at the first flush after restore */
        cf_buf snap = {0};
        const ag_rec c[] = {{130}};
        run(&st, c, 1, &o);
        assert_int_equal(cf_stage_aggregate.snapshot(&st, 0, &snap), 0);
        cf_stage st2 = new_stage("idle_timeout: 5m\n");
        char err[256];
        assert_int_equal(cf_stage_aggregate.restore(&st2, 0, snap.p, snap.len, err, sizeof(err)),
                         0);
        outs o2 = {0};
        flush_at(&st2, 0, T0 + 100 * MIN, &o2);
        assert_int_equal(o2.n, 0);
        flush_at(&st2, 0, T0 + 105 * MIN, &o2);
        assert_int_equal(n_summaries(&o2), 1);
        assert_true(num(summary(&o2, 0), "records") == 1);
        cf_buf_free(&snap);
        done(&st2, &o2);
        done(&st, &o);
        cf_metrics_free(reg);
}

/* The largest messages the stage can write (they are written into one
 * reservation each): a group with 4 units (+1 overflowing) and every rule
 * flagged, huge values; a summary with 64 top exporters of 128-byte ids and
 * 64 late windows (+6 unattributed). Under ASan an overrun would abort. */
static void test_largest_messages(void **state)
{
        (void)state;
        cf_stage st = new_stage("top_k: 64\ntop_k_capacity: 64\nallowed_lateness: 0s\n");
        static char ids[64][129];
        static const char *const units[] = {"KGM", "NMB", "LTR", "MTQ", "TNE"};
        cf_batch b;
        cf_batch_init(&b, 300);
        b.now_ms = T0;
        for (int i = 0; i < 64 + 5 + 71 + 70; i++) {
                cf_record *r = cf_batch_add(&b, "x", 1);
                cf_decl *d = &r->decl;
                int64_t h = 0; /* hour of the record */
                if (i >= 69 && i < 140)
                        h = i - 68; /* 1..71: close one window each */
                else if (i >= 140)
                        h = i - 140; /* 0..69: late, one per window */
                d->event_time_ms = T0 + h * 60 * MIN + 30 * MIN;
                d->hs_code = (cf_str){"940350", 6};
                d->origin_country = CF_CC('C', 'N');
                d->export_country = CF_CC('V', 'N');
                d->importer_id = (cf_str){"US-I1", 5};
                d->quantity = 123456789.123456;
                d->value_usd = 3e15;
                memcpy(d->unit, units[i < 64 ? 0 : i < 69 ? i - 64 : 0], 4);
                if (i < 64) {
                        memset(ids[i], 'A' + i % 26, 128);
                        ids[i][0] = (char)('a' + i / 26);
                        ids[i][128] = 0;
                        d->exporter_id = (cf_str){ids[i], 128};
                        continue;
                }
                d->exporter_id = (cf_str){"VN-E1", 5};
                if (i < 69) {
                        r->flagged = true;
                        for (int k = 0; k < rules()->n; k++)
                                add_reason(&b, r, rules()->names[k], 1);
                }
        }
        assert_int_equal(cf_stage_aggregate.process(&st, &b), 0);
        outs o = {0};
        collect(&o, &b);
        cf_batch_destroy(&b);
        flush(&st, 1, &o);
        const char *w0 = summary(&o, 0), *g0 = NULL;
        assert_non_null(w0);
        for (size_t k = 0; k < o.n && !g0; k++)
                if (strstr(o.v[k], "\"type\":\"group\"") && strstr(o.v[k], "\"LTR\"")) g0 = o.v[k];
        assert_non_null(g0);
        assert_int_equal(num(g0, "flagged"), 5);
        assert_non_null(strstr(g0, "\"MTQ\":"));
        assert_null(strstr(g0, "\"TNE\"")); /* a 5th unit: counted, not summed */
        assert_int_equal(num(w0, "unit_overflow_records"), 1);
        for (int k = 0; k < rules()->n; k++) {
                char want[96];
                snprintf(want, sizeof(want), "\"%s\":5", rules()->names[k]);
                assert_non_null(strstr(g0, want));
        }
        size_t ntop = 0;
        for (const char *p = w0; (p = strstr(p, "{\"exporter_id\":\"")); p++)
                ntop++;
        assert_int_equal(ntop, 64);
        const char *late = NULL;
        for (size_t i = 0; summary(&o, i); i++)
                if (num(summary(&o, i), "late") > 0) late = summary(&o, i);
        assert_non_null(late);
        assert_int_equal(num(late, "late"), 70);
        assert_int_equal(num(late, "late_unattributed"), 6);
        size_t nlate = 0;
        for (const char *p = strstr(late, "\"late_records\":["); (p = strstr(p, "\"count\":")); p++)
                nlate++;
        assert_int_equal(nlate, 64);
        for (size_t k = 0; k < o.n; k++)
                assert_true(o.v[k][strlen(o.v[k]) - 1] == '}');
        done(&st, &o);
}

/* Reload: limits change, the window size is refused (windows would overlap). */
static void test_reload(void **state)
{
        (void)state;
        cf_stage st = new_stage(NULL);
        char err[256] = "";
        const char *ok = "top_k: 5\n", *bad = "window: 2h\n";
        cf_node *n = cf_yaml_load_string("t.yaml", ok, strlen(ok), err, sizeof(err));
        cf_stage_env env = {.cfg = n, .pipeline_version = "test", .rules = rules()};
        assert_int_equal(cf_stage_aggregate.reload(&st, &env, err, sizeof(err)), 0);
        cf_yaml_free(n);
        n = cf_yaml_load_string("t.yaml", bad, strlen(bad), err, sizeof(err));
        env.cfg = n;
        assert_int_equal(cf_stage_aggregate.reload(&st, &env, err, sizeof(err)), -1);
        assert_non_null(strstr(err, "window cannot change on reload"));
        cf_yaml_free(n);
        /* still 1 h windows: 00:30 and 01:30 are in two windows */
        outs o = {0};
        const ag_rec a[] = {{30}, {90}, {200}};
        run(&st, a, 3, &o);
        assert_int_equal(n_summaries(&o), 2);
        done(&st, &o);
}

static void test_bad_config(void **state)
{
        (void)state;
        const char *bad[] = {"top_k: 20\ntop_k_capacity: 10\n", "hll_precision: 30\n",
                             "window: 0s\n", "no_such_key: 1\n"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                char err[256] = "";
                cf_node *n =
                    cf_yaml_load_string("t.yaml", bad[i], strlen(bad[i]), err, sizeof(err));
                cf_stage st = {.p = &cf_stage_aggregate};
                cf_stage_env env = {.cfg = n};
                assert_int_equal(cf_stage_aggregate.init(&st, &env, err, sizeof(err)), -1);
                assert_true(strlen(err) > 0);
                cf_stage_aggregate.destroy(&st);
                cf_yaml_free(n);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_watermark_late),
            cmocka_unit_test(test_batch_split_invariant),
            cmocka_unit_test(test_status_partitions_flags),
            cmocka_unit_test(test_caps),
            cmocka_unit_test(test_snapshot_roundtrip),
            cmocka_unit_test(test_idle_timeout),
            cmocka_unit_test(test_reload),
            cmocka_unit_test(test_largest_messages),
            cmocka_unit_test(test_bad_config),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
