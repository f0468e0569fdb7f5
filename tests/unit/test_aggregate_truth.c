/*
 * test_aggregate_truth.c - the aggregate stage against a brute-force
 * computation over the same generated stream (gen -> decode -> dedup ->
 * aggregate, 256 records a batch): every group's records, value and
 * quantities; every window's records, value, distinct exporters/importers
 * and exact top exporters; late records per window; duplicates and dead
 * letters. The brute force decides lateness from its own definition: a
 * record is late when its window ends at or before (max event time of the
 * earlier records - allowed lateness).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bench/gen/gen.h"
#include "helpers/dedup_fixture.h"
#include "stages/aggregate/window.h"

extern const cf_stage_plugin cf_stage_aggregate;

#define CHUNK 256
#define W     3600000LL
#define L     600000LL

typedef struct bf {
        char gkey[64]; /* "<start>/0/<rep>/<org>/<exp>/<ch>" as the stage keys groups */
        int64_t start;
        char exp[132], imp[132];
        int64_t value; /* cents, each record rounded: the stage sums cents exactly */
        double qty;
        char unit[4];
} bf;

static int cmp_gkey(const void *a, const void *b)
{
        return strcmp(((const bf *)a)->gkey, ((const bf *)b)->gkey);
}

static int cmp_start_exp(const void *a, const void *b)
{
        const bf *x = a, *y = b;
        if (x->start != y->start) return x->start < y->start ? -1 : 1;
        return strcmp(x->exp, y->exp);
}

static int cmp_start_imp(const void *a, const void *b)
{
        const bf *x = a, *y = b;
        if (x->start != y->start) return x->start < y->start ? -1 : 1;
        return strcmp(x->imp, y->imp);
}

static double num(const char *s, const char *key)
{
        char k[64];
        snprintf(k, sizeof(k), "\"%s\":", key);
        const char *p = strstr(s, k);
        return p ? strtod(p + strlen(k), NULL) : -1;
}

static int close_to(double a, double b)
{
        return fabs(a - b) <= 1e-9 * (fabs(a) + fabs(b)) + 1e-9;
}

/* An emitted dollar figure is exactly the brute force's sum of cents. */
static int same_usd(double emitted, int64_t cents)
{
        return llround(emitted * 100) == cents;
}

static void cc(char *o, uint16_t c)
{
        if (!c) {
                strcpy(o, "-");
                return;
        }
        o[0] = (char)(c >> 8);
        o[1] = (char)c;
        o[2] = 0;
}

typedef struct exp_total {
        const char *id;
        int64_t v;
} exp_total;

static int cmp_total(const void *a, const void *b)
{
        const exp_total *x = a, *y = b;
        if (x->v != y->v) return x->v > y->v ? -1 : 1;
        return strcmp(x->id, y->id);
}

static void test_truth(void **state)
{
        (void)state;
        cf_gen_opts o;
        cf_gen_opts_default(&o);
        o.seed = 23;
        o.count = 40000;
        o.dup_rate = 0.03;
        o.bad_rate = 0.02;
        o.reference = CF_SRCDIR "/deploy/examples/reference";
        char err[512];
        cf_gen *g = cf_gen_new(&o, err, sizeof(err));
        if (!g) fail_msg("gen: %s", err);
        dd_fx *f = dd_fx_new(NULL);
        const char *yaml = "max_open_windows: 100000\ntop_k_capacity: 1000\n";
        cf_node *y = cf_yaml_load_string("t.yaml", yaml, strlen(yaml), err, sizeof(err));
        cf_stage ag = {.p = &cf_stage_aggregate};
        cf_stage_env env = {.cfg = y, .pipeline_version = "t"};
        if (cf_stage_aggregate.init(&ag, &env, err, sizeof(err))) fail_msg("init: %s", err);
        cf_yaml_free(y);

        bf *rs = calloc(o.count, sizeof(*rs));
        size_t nrs = 0, nlate_bf = 0;
        int64_t late_start[4096];
        uint64_t late_cnt[4096], late_got[4096] = {0};
        size_t nls = 0;
        uint64_t dups = 0, dead = 0;
        int has_max = 0;
        int64_t max = 0;
        char **msgs = NULL;
        size_t nmsgs = 0;
        char *lines[CHUNK];
        int end = 0;
        while (!end) {
                size_t n = dd_gen_chunk(g, lines, NULL, CHUNK, &end);
                cf_batch *b = dd_run_lines(f, 0, (const char *const *)lines, n);
                assert_int_equal(cf_stage_aggregate.process(&ag, b), 0);
                if (end) assert_int_equal(cf_stage_aggregate.flush(&ag, b, 0, 1), 0);
                for (size_t i = 0; i < b->n_outs; i++) {
                        const cf_output *x = &b->outs[i];
                        char *s = malloc(x->key_len + x->val_len + 2);
                        memcpy(s, b->out.p + x->key_off, x->key_len);
                        s[x->key_len] = '\t';
                        memcpy(s + x->key_len + 1, b->out.p + x->val_off, x->val_len);
                        s[x->key_len + 1 + x->val_len] = 0;
                        msgs = realloc(msgs, (nmsgs + 1) * sizeof(*msgs));
                        msgs[nmsgs++] = s;
                }
                /* brute force over the same records */
                for (size_t i = 0; i < b->n; i++) {
                        const cf_record *r = &b->recs[i];
                        if (r->status == CF_REC_DUPLICATE) dups++;
                        if (r->status == CF_REC_DEAD_LETTER) dead++;
                        if (r->status != CF_REC_OK) continue;
                        const cf_decl *d = &r->decl;
                        int64_t t = d->event_time_ms;
                        int64_t st = (t >= 0 ? t / W : (t - W + 1) / W) * W;
                        if (has_max && st + W <= max - L) {
                                size_t k = 0;
                                while (k < nls && late_start[k] != st)
                                        k++;
                                if (k == nls) {
                                        assert_true(nls < 4096);
                                        late_start[nls] = st;
                                        late_cnt[nls++] = 0;
                                }
                                late_cnt[k]++;
                                nlate_bf++;
                        } else {
                                bf *e = &rs[nrs++];
                                cf_buf tb = {0};
                                cf_agg_put_time(&tb, st);
                                char rep[3], org[3], exc[3];
                                cc(rep, d->present & CF_HAS_REPORTER ? d->reporter_country : 0);
                                cc(org, d->origin_country);
                                cc(exc, d->export_country);
                                snprintf(e->gkey, sizeof(e->gkey), "%.*s/0/%s/%s/%s/%c%c",
                                         (int)tb.len, tb.p, rep, org, exc, d->hs_code.p[0],
                                         d->hs_code.p[1]);
                                cf_buf_free(&tb);
                                e->start = st;
                                snprintf(e->exp, sizeof(e->exp), "%.*s", (int)d->exporter_id.n,
                                         d->exporter_id.p);
                                snprintf(e->imp, sizeof(e->imp), "%.*s", (int)d->importer_id.n,
                                         d->importer_id.p);
                                e->value = llround(d->value_usd * 100);
                                e->qty = d->quantity;
                                memcpy(e->unit, d->unit, 4);
                        }
                        if (!has_max || t > max) max = t;
                        has_max = 1;
                }
                for (size_t i = 0; i < n; i++)
                        free(lines[i]);
        }
        assert_true(nlate_bf > 0 && dups > 0 && dead > 0);

        /* groups: every brute-force group is one message with the same numbers */
        qsort(rs, nrs, sizeof(*rs), cmp_gkey);
        size_t ngroups_bf = 0, ngroup_msgs = 0;
        for (size_t i = 0; i < nmsgs; i++)
                ngroup_msgs += strstr(msgs[i], "\"type\":\"group\"") != NULL;
        for (size_t i = 0; i < nrs;) {
                size_t j = i;
                int64_t v = 0;
                while (j < nrs && !strcmp(rs[j].gkey, rs[i].gkey))
                        v += rs[j++].value;
                ngroups_bf++;
                size_t klen = strlen(rs[i].gkey);
                const char *m = NULL;
                for (size_t k = 0; k < nmsgs && !m; k++)
                        if (!strncmp(msgs[k], rs[i].gkey, klen) && msgs[k][klen] == '\t')
                                m = msgs[k];
                if (!m) fail_msg("group %s not emitted", rs[i].gkey);
                if (num(m, "records") != (double)(j - i) || !same_usd(num(m, "value_usd"), v))
                        fail_msg("group %s: %zu records %lld cents, emitted %s", rs[i].gkey, j - i,
                                 (long long)v, m);
                for (size_t u = i; u < j; u++) {
                        double q = 0;
                        for (size_t k = i; k < j; k++)
                                if (!strcmp(rs[k].unit, rs[u].unit)) q += rs[k].qty;
                        assert_true(close_to(num(m, rs[u].unit), q));
                }
                i = j;
        }
        assert_int_equal(ngroups_bf, ngroup_msgs);

        /* windows: records, value, distinct counts, exact top exporters, late */
        qsort(rs, nrs, sizeof(*rs), cmp_start_exp);
        size_t nwin = 0;
        uint64_t late_seen = 0, dups_seen = 0, dead_seen = 0;
        exp_total *tot = malloc(nrs * sizeof(*tot));
        for (size_t i = 0; i < nrs;) {
                size_t j = i, nt = 0;
                int64_t v = 0;
                while (j < nrs && rs[j].start == rs[i].start) {
                        if (!nt || strcmp(tot[nt - 1].id, rs[j].exp))
                                tot[nt++] = (exp_total){rs[j].exp, 0};
                        tot[nt - 1].v += rs[j].value;
                        v += rs[j++].value;
                }
                qsort(tot, nt, sizeof(*tot), cmp_total);
                cf_buf tb = {0};
                cf_agg_put_time(&tb, rs[i].start);
                cf_buf_puts(&tb, "/0/window\t");
                cf_buf_putc(&tb, 0);
                const char *m = NULL;
                for (size_t k = 0; k < nmsgs && !m; k++)
                        if (!strncmp(msgs[k], tb.p, strlen(tb.p))) m = msgs[k];
                if (!m) fail_msg("window %s not emitted", tb.p);
                cf_buf_free(&tb);
                assert_true(num(m, "records") == (double)(j - i));
                assert_true(same_usd(num(m, "value_usd"), v));
                assert_true(num(m, "distinct_exporters") == (double)nt);
                const char *p = strstr(m, "\"top_exporters\":[");
                for (size_t k = 0; k < 10 && k < nt; k++) {
                        char want[160];
                        snprintf(want, sizeof(want),
                                 "{\"exporter_id\":\"%s\",\"value_usd\":", tot[k].id);
                        p = strstr(p, want);
                        if (!p) fail_msg("top exporter %zu (%s) missing in %s", k, tot[k].id, m);
                        p += strlen(want);
                        assert_true(same_usd(strtod(p, NULL), tot[k].v));
                        assert_true(num(p, "error") == 0);
                }
                qsort(rs + i, j - i, sizeof(*rs), cmp_start_imp);
                size_t nimp = 0;
                for (size_t k = i; k < j; k++)
                        nimp += k == i || strcmp(rs[k].imp, rs[k - 1].imp);
                assert_true(num(m, "distinct_importers") == (double)nimp);
                nwin++;
                i = j;
        }
        for (size_t k = 0; k < nmsgs; k++) {
                const char *m = msgs[k];
                if (!strstr(m, "\"type\":\"window\"")) continue;
                late_seen += (uint64_t)num(m, "late");
                dups_seen += (uint64_t)num(m, "duplicates");
                dead_seen += (uint64_t)num(m, "dead_letters");
                /* each late entry matches the brute force's count for its window */
                const char *p = strstr(m, "\"late_records\":[");
                while ((p = strstr(p, "{\"window_start\":\"")) &&
                       p < strstr(m, "\"late_unattributed\"")) {
                        p += 17;
                        uint64_t c = (uint64_t)num(p, "count");
                        size_t hits = 0;
                        for (size_t s = 0; s < nls; s++) {
                                cf_buf tb = {0};
                                cf_agg_put_time(&tb, late_start[s]);
                                /* stage times carry .000 milliseconds */
                                if (!strncmp(p, tb.p, 19)) {
                                        hits++;
                                        late_got[s] += c;
                                }
                                cf_buf_free(&tb);
                        }
                        assert_int_equal(hits, 1);
                }
        }
        printf("%zu records in %zu windows, %zu groups; late %zu; duplicates %llu; dead %llu\n",
               nrs, nwin, ngroups_bf, nlate_bf, (unsigned long long)dups, (unsigned long long)dead);
        assert_int_equal(late_seen, nlate_bf);
        for (size_t k = 0; k < nls; k++)
                assert_int_equal(late_got[k], late_cnt[k]);
        assert_int_equal(dups_seen, dups);
        assert_int_equal(dead_seen, dead);
        free(tot);
        for (size_t i = 0; i < nmsgs; i++)
                free(msgs[i]);
        free(msgs);
        free(rs);
        cf_stage_aggregate.destroy(&ag);
        dd_fx_free(f);
        cf_gen_free(g);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_truth),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
