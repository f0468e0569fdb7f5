/*
 * gen.c - the seeded declaration generator (DESIGN §7): legitimate trade from
 * the reference data, the message loop (declarations, campaigns, re-deliveries,
 * bad input) and the truth file. Fraud patterns and look-alikes: gen_fraud.c.
 *
 * Deterministic: one xoshiro stream drives every choice, so the same options
 * and reference data give byte-identical output.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "bench/gen/gen_internal.h"
#include "pipeline/core/config.h"
#include "stages/decode/decode.h"
#include "stages/detect/detect.h"

void cf_gen_opts_default(cf_gen_opts *o)
{
        memset(o, 0, sizeof *o);
        o->seed = 1;
        o->count = 1000;
        o->dup_rate = 0.02;
        o->bad_rate = 0.01;
        o->fraud_rate = 0.05;
        o->reference = NULL;           /* the bundled data, see cf_datadir() */
        o->start_ms = 1735689600000LL; /* 2025-01-01T00:00:00Z */
        o->per_day = 5000;
}

/* ---- choices ---- */

int gen_pick_country(cf_gen *g, uint16_t exclude)
{
        const gen_ref *ref = &g->ref;
        for (;;) {
                double x = gen_rng_unit(&g->rng) * ref->total_weight;
                int i = 0;
                while (i < ref->n_countries - 1 && x >= ref->countries[i].weight)
                        x -= ref->countries[i++].weight;
                if (ref->countries[i].cc != exclude) return i;
        }
}

static int zipf_rank(cf_gen *g, const gen_country *k)
{
        double x = gen_rng_unit(&g->rng) * k->zipf_cdf[k->pool - 1];
        int lo = 0, hi = k->pool - 1;
        while (lo < hi) {
                int mid = (lo + hi) / 2;
                if (k->zipf_cdf[mid] < x)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo + 1;
}

void gen_exporter_id(cf_gen *g, int oi, int rank, char *out, size_t n)
{
        snprintf(out, n, "%s-E%06d", g->ref.countries[oi].iso, rank);
}

/* An exporter makes a few kinds of goods: its HS codes follow from its id. */
static int exporter_hs(cf_gen *g, const char *exporter)
{
        uint64_t h = 1469598103934665603ULL;
        for (const char *p = exporter; *p; p++)
                h = (h ^ (unsigned char)*p) * 1099511628211ULL;
        int which = (int)gen_rng_below(&g->rng, 3);
        h ^= (uint64_t)which * 0x9e3779b97f4a7c15ULL;
        h ^= h >> 29;
        return (int)(h % (uint64_t)g->ref.n_hs);
}

static void pick_port(cf_gen *g, uint16_t cc, char out[6])
{
        int ci = gen_ref_country(&g->ref, cc);
        out[0] = '\0';
        if (ci < 0 || !g->ref.countries[ci].n_ports) return;
        const gen_country *k = &g->ref.countries[ci];
        int p = k->first_port + (int)gen_rng_below(&g->rng, (uint64_t)k->n_ports);
        memcpy(out, g->ref.ports[p].locode, 6);
}

/* ISO 6346 container number with its check digit (letter values skip 11, 22, 33). */
static void container_id(cf_gen *g, char out[12])
{
        static const char *const owners[] = {"MSC", "MAE", "CMA", "COS", "HLC",
                                             "ONE", "EGL", "YML", "ZIM", "HDM"};
        static const int letter[26] = {10, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 23, 24,
                                       25, 26, 27, 28, 29, 30, 31, 32, 34, 35, 36, 37, 38};
        const char *o = owners[gen_rng_below(&g->rng, 10)];
        unsigned serial = (unsigned)(g->container_seq++ * 7919u + 104729u) % 1000000u;
        char s[16];
        snprintf(s, sizeof s, "%sU%06u", o, serial % 1000000u);
        int sum = 0;
        for (int i = 0; i < 10; i++)
                sum += (s[i] >= '0' && s[i] <= '9' ? s[i] - '0' : letter[s[i] - 'A']) << i;
        memcpy(out, s, 10);
        out[10] = (char)('0' + sum % 11 % 10);
        out[11] = '\0';
}

static void pick_currency(cf_gen *g, gen_rec *r)
{
        int yyyymm = cf_epoch_ms_yyyymm(r->t_ms);
        double x = gen_rng_unit(&g->rng);
        const char *c = "USD";
        if (x < 0.2) {
                int oi = gen_ref_country(&g->ref, r->origin);
                if (oi >= 0) c = g->ref.countries[oi].currency;
        } else if (x < 0.3) {
                c = g->ref.countries[g->reporter_idx].currency;
        }
        if (cf_fx_rate(g->ref.fx, c, yyyymm) <= 0) c = "USD";
        memcpy(r->currency, c, 4);
}

/* Round to 1/per units (per = 10: one decimal); dividing by an exact integer
 * gives the double nearest the decimal, so it prints short. */
static double round_to(double v, double per)
{
        return round(v * per) / per;
}

void gen_price(cf_gen *g, gen_rec *r, double value_usd, double z)
{
        const gen_hs *h = &g->ref.hs[r->hs_idx];
        double uv = h->ref_uv * exp(h->sigma * z);
        bool whole = strcmp(h->unit, "KGM") && strcmp(h->unit, "LTR") && strcmp(h->unit, "MTQ") &&
                     strcmp(h->unit, "MTK");
        double q = value_usd / uv;
        q = whole ? fmax(1, round(q)) : fmax(0.1, round_to(q, 10));
        r->qty = q;
        r->value_usd = q * uv;
        pick_currency(g, r);
        double rate = cf_fx_rate(g->ref.fx, r->currency, cf_epoch_ms_yyyymm(r->t_ms));
        r->customs_value = round_to(r->value_usd / rate, 100);
        if (r->customs_value <= 0) r->customs_value = 0.01;
        r->value_usd = r->customs_value * rate;
        if (gen_rng_chance(&g->rng, 0.7)) {
                double per_unit = strcmp(h->unit, "KGM") ? 0.2 + (double)(r->hs_idx % 40) : 1.0;
                r->net = round_to(q * per_unit, 10);
                r->gross = round_to(r->net * 1.06 + 0.1, 10);
        } else {
                r->net = r->gross = 0;
        }
}

/* A legitimate price: log-normal, tails included (a truncated spread hid how
 * well the baselines estimate it: RULES.md's z = 4 means a normal tail of 6e-5,
 * which is what a legitimate stream makes the rule flag). */
double gen_legit_z(cf_gen *g)
{
        return gen_rng_normal(&g->rng);
}

double gen_legit_value(cf_gen *g)
{
        double v = 20000.0 * exp(1.0 * gen_rng_normal(&g->rng));
        return fmin(fmax(v, 200.0), 2e6);
}

void gen_new_decl_id(cf_gen *g, gen_rec *r)
{
        char cc[3];
        gen_put_cc(cc, g->reporter);
        int year = cf_epoch_ms_yyyymm(r->t_ms) / 100;
        snprintf(r->decl_id, sizeof r->decl_id, "%s-%d-%09llu", cc, year,
                 (unsigned long long)++g->decl_seq);
        r->line = 1;
}

/* Route, transport and documents of a legitimate shipment from r->origin. */
static void legit_route(cf_gen *g, gen_rec *r)
{
        r->export_cc = r->origin;
        pick_port(g, r->export_cc, r->pol);
        pick_port(g, r->reporter, r->pod);
        r->n_transit = 0;
        if (g->n_hubs && gen_rng_chance(&g->rng, 0.15)) {
                uint16_t hub = g->hubs[gen_rng_below(&g->rng, (uint64_t)g->n_hubs)];
                if (hub != r->origin && hub != r->reporter) r->transit[r->n_transit++] = hub;
        }
        double m = gen_rng_unit(&g->rng);
        r->imo[0] = r->container[0] = '\0';
        if (m < 0.7) {
                memcpy(r->mode, "sea", 4);
                memcpy(r->imo, g->imos[gen_rng_below(&g->rng, (uint64_t)g->n_imos)], 16);
                container_id(g, r->container);
                snprintf(r->bol, sizeof r->bol, "%.4s%010llu", r->container,
                         (unsigned long long)(g->decl_seq * 31 + 7));
        } else if (m < 0.9) {
                memcpy(r->mode, "air", 4);
                snprintf(r->bol, sizeof r->bol, "%03d-%08llu", 100 + (int)(g->decl_seq % 800),
                         (unsigned long long)(g->decl_seq * 13 % 100000000));
        } else {
                memcpy(r->mode, "road", 5);
                snprintf(r->bol, sizeof r->bol, "CMR%09llu", (unsigned long long)g->decl_seq);
        }
}

void gen_make_legit(cf_gen *g, gen_rec *r, int oi)
{
        memset(r, 0, sizeof *r);
        r->t_ms = g->clock_ms;
        if (gen_rng_chance(&g->rng, 0.01)) /* late acceptance: out of event-time order */
                r->t_ms -= (int64_t)gen_rng_below(&g->rng, 2 * 3600 * 1000);
        r->reporter = g->reporter;
        if (oi < 0) oi = gen_pick_country(g, g->reporter);
        const gen_country *k = &g->ref.countries[oi];
        r->origin = k->cc;
        int rank = zipf_rank(g, k);
        gen_exporter_id(g, oi, rank, r->exporter, sizeof r->exporter);
        char rc[3];
        gen_put_cc(rc, g->reporter);
        snprintf(r->importer, sizeof r->importer, "%s-I%06d", rc,
                 zipf_rank(g, &g->ref.countries[g->reporter_idx]));
        snprintf(r->declarant, sizeof r->declarant, "%s-D%04d", rc,
                 (int)gen_rng_below(&g->rng, 300) + 1);
        if (gen_rng_chance(&g->rng, 0.5)) {
                snprintf(r->manuf_id, sizeof r->manuf_id, "%s-M%06d", k->iso, rank);
                if (gen_rng_chance(&g->rng, 0.6)) r->manuf_cc = r->origin;
        }
        r->amendment = gen_rng_chance(&g->rng, 0.5) ? 0 : -1;
        legit_route(g, r);
        double d = gen_rng_unit(&g->rng);
        if (d < 0.25) {
                static const char *const prefs[] = {"GSP", "FTA", "EPA", "GSP+"};
                snprintf(r->pref, sizeof r->pref, "%s", prefs[gen_rng_below(&g->rng, 4)]);
        }
        if (d < 0.35)
                snprintf(r->cert, sizeof r->cert, "%s-CO-%08llu", k->iso,
                         (unsigned long long)++g->cert_seq);
        gen_new_decl_id(g, r);
        gen_set_hs(g, r, exporter_hs(g, r->exporter), NULL);
        gen_price(g, r, gen_legit_value(g), gen_legit_z(g));
        r->kind = "valid";
}

void gen_set_hs(cf_gen *g, gen_rec *r, int hs_idx, const char *prefix)
{
        const gen_hs *h = &g->ref.hs[hs_idx];
        r->hs_idx = hs_idx;
        memcpy(r->hs_code, h->hs6, 7);
        if (prefix && strlen(prefix) > 6) {
                /* a measure on a national subheading: declare exactly that */
                snprintf(r->hs_code, sizeof r->hs_code, "%s", prefix);
        } else if (gen_rng_chance(&g->rng, 0.5)) {
                snprintf(r->hs_code + 6, 5, "%04u", (unsigned)gen_rng_below(&g->rng, 100) * 100);
        }
        memcpy(r->unit, h->unit, 4);
        r->desc = h->desc;
        /* A legitimate route never passes through a country whose goods of this
         * kind are under a measure: drop the transit hub if it would. */
        if (r->n_transit && gen_route_hits_measure(&g->ref, r)) r->n_transit = 0;
}

/* Further lines of the declaration: same parties, route and documents. */
static void legit_lines(cf_gen *g)
{
        double x = gen_rng_unit(&g->rng);
        int n = x < 0.55 ? 1 : x < 0.8 ? 2 : x < 0.92 ? 3 : 4 + (int)gen_rng_below(&g->rng, 2);
        for (int i = 1; i < n; i++) {
                gen_rec *r = &g->cur[i];
                *r = g->cur[0];
                r->line = i + 1;
                gen_set_hs(g, r, exporter_hs(g, r->exporter), NULL);
                gen_price(g, r, gen_legit_value(g), gen_legit_z(g));
        }
        g->n_cur = n;
}

/* ---- the message loop ---- */

void gen_pending_add(cf_gen *g, uint64_t delay, const gen_rec *r)
{
        if (g->n_pend == g->cap_pend) {
                g->cap_pend = g->cap_pend ? 2 * g->cap_pend : 64;
                g->pend = realloc(g->pend, (size_t)g->cap_pend * sizeof *g->pend);
        }
        gen_pending *p = &g->pend[g->n_pend++];
        p->due = g->emitted + delay;
        p->rec = *r;
}

/* The queued line due now, if any (rendered now: the same record renders to
 * the same bytes, so a re-delivery is byte-identical). */
static gen_pending *due_pending(cf_gen *g)
{
        for (int i = 0; i < g->n_pend; i++)
                if (g->pend[i].due <= g->emitted) return &g->pend[i];
        return NULL;
}

/* Per-exporter state for the definitional labels: open addressing on XXH3 of
 * the id, doubled at 50% load. */
gen_exporter *gen_exporter_get(cf_gen *g, const char *id)
{
        if (2 * (g->n_exporters + 1) > g->cap_exporters) {
                size_t cap = g->cap_exporters ? 2 * g->cap_exporters : 1 << 16;
                gen_exporter *t = calloc(cap, sizeof *t);
                for (size_t i = 0; i < g->cap_exporters; i++) {
                        gen_exporter *o = &g->exporters[i];
                        if (!o->hash) continue;
                        size_t j = o->hash & (cap - 1);
                        while (t[j].hash)
                                j = (j + 1) & (cap - 1);
                        t[j] = *o;
                }
                free(g->exporters);
                g->exporters = t;
                g->cap_exporters = cap;
        }
        uint64_t h = XXH3_64bits(id, strlen(id)) | 1; /* 0 marks an empty slot */
        size_t j = h & (g->cap_exporters - 1);
        while (g->exporters[j].hash && g->exporters[j].hash != h)
                j = (j + 1) & (g->cap_exporters - 1);
        if (!g->exporters[j].hash) {
                g->exporters[j].hash = h;
                g->n_exporters++;
        }
        return &g->exporters[j];
}

/* The quantity registry row i shipped in its period ending at day (rolling, in event
 * time, by day: stages/detect/RULES.md), after adding q on that day when add. The
 * window ends at the newest day the row has seen, as the detector keeps it; a read
 * (add false) changes nothing. */
double gen_reg_window(cf_gen *g, int i, int64_t day, double q, bool add)
{
        double *ring = g->reg_days + (size_t)i * GEN_CAP_DAYS;
        int64_t cur = g->reg_day[i];
        int period = g->ref.reg[i].period_days;
        double sum = 0;
        if (!add) { /* days after cur would be zero: the window ending at day */
                for (int k = 0; k < period; k++)
                        if (day - k <= cur && day - k > cur - GEN_CAP_DAYS)
                                sum += ring[(day - k) % GEN_CAP_DAYS];
                return sum;
        }
        if (day > cur) {
                int64_t steps = day - cur > GEN_CAP_DAYS ? GEN_CAP_DAYS : day - cur;
                for (int64_t k = 0; k < steps; k++)
                        ring[(day - k) % GEN_CAP_DAYS] = 0;
                g->reg_day[i] = cur = day;
        }
        if (day > cur - period) ring[day % GEN_CAP_DAYS] += q;
        for (int k = 0; k < period; k++)
                sum += ring[(cur - k) % GEN_CAP_DAYS];
        return sum;
}

/* Registered exporters: label capacity_exceeded by the definition (the quantity over
 * the registry row's rolling period, this line included, exceeds its capacity). */
static uint32_t capacity_label(cf_gen *g, const gen_rec *r)
{
        uint32_t l = 0;
        for (int i = 0; i < g->ref.n_reg; i++) {
                const gen_registered *e = &g->ref.reg[i];
                if (!(e->capacity > 0) || strcmp(e->exporter_id, r->exporter) ||
                    strcmp(e->unit, r->unit) ||
                    strncmp(r->hs_code, e->hs_prefix, strlen(e->hs_prefix)))
                        continue;
                int64_t day = r->t_ms / GEN_DAY_MS;
                if (day <= g->reg_day[i] - e->period_days) continue; /* before the window */
                if (gen_reg_window(g, i, day, r->qty, true) > e->capacity)
                        l = gen_label("capacity_exceeded");
        }
        return l;
}

/* new_exporter_surge by its definition: first seen (in the stream, or
 * registered earlier) after the stream's warm-up and less than
 * GEN_NEWEXP_DAYS ago, cumulative value above GEN_NEWEXP_MAX_VALUE. */
static uint32_t new_exporter_label(cf_gen *g, const gen_rec *r)
{
        gen_exporter *e = gen_exporter_get(g, r->exporter);
        if (!e->first_ms) {
                e->first_ms = r->t_ms;
                for (int i = 0; i < g->ref.n_reg; i++)
                        if (!strcmp(g->ref.reg[i].exporter_id, r->exporter) &&
                            g->ref.reg[i].registered_ms < e->first_ms)
                                e->first_ms = g->ref.reg[i].registered_ms;
        }
        e->cum_value += r->value_usd;
        /* warm-up counts from the earliest event time in the stream (some
         * lines are stamped before --start), as an observer would see it */
        if (r->t_ms < g->first_event_ms) g->first_event_ms = r->t_ms;
        bool is_new = e->first_ms >= g->first_event_ms + GEN_NEWEXP_WARMUP_DAYS * GEN_DAY_MS &&
                      r->t_ms - e->first_ms < GEN_NEWEXP_DAYS * GEN_DAY_MS;
        return is_new && e->cum_value > GEN_NEWEXP_MAX_VALUE ? gen_label("new_exporter_surge") : 0;
}

/* certificate_reuse by its definition, for the injected certificates. */
static uint32_t certificate_label(cf_gen *g, const gen_rec *r)
{
        if (!r->cert[0]) return 0;
        for (int i = 0; i < g->n_certs; i++) {
                gen_cert_use *u = &g->certs[i];
                if (strcmp(u->cert, r->cert)) continue;
                if (strcmp(u->last_decl, r->decl_id)) {
                        u->n_decl++;
                        snprintf(u->last_decl, sizeof u->last_decl, "%s", r->decl_id);
                }
                if (u->n_decl > GEN_CERT_MAX_DECL || strcmp(u->first_exporter, r->exporter))
                        return gen_label("certificate_reuse");
                return 0;
        }
        return 0;
}

/* Labels of the rules whose state the detector keeps per exporter, updated
 * as the detector would see the line (re-deliveries are dropped before it). */
static uint32_t stateful_labels(cf_gen *g, const gen_rec *r)
{
        return capacity_label(g, r) | certificate_label(g, r) | new_exporter_label(g, r);
}

/* Labels, counters, and the re-deliveries / amendments this line may get. */
static void finish(cf_gen *g, gen_rec *r, bool plain)
{
        r->labels |= gen_static_labels(&g->ref, r) | stateful_labels(g, r);
        if (r->labels) r->lookalike = NULL; /* it meets a rule's definition: not a look-alike */
        if (!strcmp(r->kind, "valid") || !strcmp(r->kind, "amendment")) g->ref.hs[r->hs_idx].seen++;
        if (!plain) return;
        g->recent[g->n_recent++ % GEN_RECENT] = *r;
        double x = gen_rng_unit(&g->rng);
        if (x < g->o.dup_rate) {
                gen_rec d = *r;
                d.kind = "duplicate";
                d.labels = 0;
                d.lookalike = NULL;
                gen_pending_add(g, 1 + gen_rng_below(&g->rng, 2000), &d);
        } else if (x < g->o.dup_rate * 1.25) {
                gen_rec a = *r;
                a.kind = "amendment";
                a.lookalike = "amendment";
                a.amendment = r->amendment < 0 ? 1 : r->amendment + 1;
                a.qty = r->qty > 1 ? floor(r->qty * 0.9) : r->qty;
                a.customs_value = round_to(r->customs_value * a.qty / r->qty, 100);
                a.labels = gen_static_labels(&g->ref, &a);
                gen_pending_add(g, 1 + gen_rng_below(&g->rng, 2000), &a);
        }
}

static void emit(cf_gen *g, const gen_rec *r, cf_buf *line, cf_buf *key, cf_buf *truth)
{
        size_t at = line->len;
        gen_rec_render(r, line);
        cf_buf_puts(key, r->exporter);
        if (truth) gen_rec_truth(r, &g->rules, truth);
        gen_outcome_note(g, r, line->p + at, line->len - at);
}

static void count(cf_gen *g, const gen_rec *r)
{
        int k = !strcmp(r->kind, "valid")       ? 0
                : !strcmp(r->kind, "duplicate") ? 1
                : !strcmp(r->kind, "amendment") ? 2
                                                : 3;
        g->n_kind[k]++;
        for (int i = 0; i < g->rules.n; i++)
                if (r->labels & (1u << i)) g->n_label[i]++;
        if (r->lookalike) {
                int li = gen_lookalike_index(r->lookalike);
                if (li >= 0) g->n_lookalike[li]++;
        }
}

static void bad_message(cf_gen *g, cf_buf *line, cf_buf *key, cf_buf *truth)
{
        gen_rec r;
        gen_make_legit(g, &r, -1);
        r.labels = 0;
        size_t at = line->len;
        gen_rec_render(&r, line);
        cf_buf tmp = {0};
        cf_buf_put(&tmp, line->p + at, line->len - at);
        line->len = at;
        int k = (int)gen_rng_below(&g->rng, (uint64_t)gen_bad_kinds());
        r.bad_code = gen_bad_apply(k, &g->ref, &tmp, &r.bad_kind);
        r.kind = "bad";
        cf_buf_put(line, tmp.p, tmp.len);
        cf_buf_free(&tmp);
        if (k != 5 && k != 6) cf_buf_puts(key, r.exporter); /* empty messages have no key */
        if (truth) gen_rec_truth(&r, &g->rules, truth);
        g->n_bad_kind[k]++;
        count(g, &r);
}

static gen_campaign *due_campaign(cf_gen *g)
{
        for (int i = 0; i < g->n_camps; i++)
                if (g->camps[i].next_due <= g->emitted) return &g->camps[i];
        return NULL;
}

gen_campaign *gen_campaign_add(cf_gen *g, int type, int remaining, double span_days)
{
        if (g->n_camps == GEN_MAX_CAMPAIGNS) return NULL;
        gen_campaign *c = &g->camps[g->n_camps++];
        memset(c, 0, sizeof *c);
        c->type = type;
        c->remaining = remaining;
        double per = remaining > 0 ? span_days / remaining : span_days;
        c->interval = (uint64_t)fmax(1, per * g->msgs_per_day);
        c->next_due = g->emitted + 1 + gen_rng_below(&g->rng, c->interval);
        c->first_ms = g->clock_ms;
        return c;
}

static void campaign_done(cf_gen *g, gen_campaign *c)
{
        *c = g->camps[--g->n_camps];
}

int cf_gen_next(cf_gen *g, cf_buf *line, cf_buf *key, cf_buf *truth)
{
        if (g->o.count && g->emitted >= g->o.count) return 1;
        g->emitted++;
        gen_pending *p = due_pending(g);
        if (p) {
                gen_rec r = p->rec;
                *p = g->pend[--g->n_pend];
                if (strcmp(r.kind, "duplicate")) r.labels |= stateful_labels(g, &r);
                emit(g, &r, line, key, truth);
                count(g, &r);
                return 0;
        }
        /* new messages advance event time: exponential gaps at msgs_per_day */
        g->clock_ms += (int64_t)(-log(1.0 - gen_rng_unit(&g->rng)) * g->ms_per_msg);
        gen_rec r;
        gen_campaign *c = due_campaign(g);
        if (c) {
                gen_campaign_line(g, c, &r);
                c->next_due = g->emitted + c->interval;
                if (c->remaining > 0 && --c->remaining == 0) campaign_done(g, c);
                finish(g, &r, false);
        } else if (g->i_cur < g->n_cur) {
                r = g->cur[g->i_cur++];
                finish(g, &r, !r.lookalike && !r.labels);
        } else if (gen_rng_chance(&g->rng, g->o.bad_rate)) {
                bad_message(g, line, key, truth);
                return 0;
        } else {
                double x = gen_rng_unit(&g->rng);
                if (x < g->o.fraud_rate) {
                        gen_fraud_declaration(g);
                } else if (x < g->o.fraud_rate + 0.04) {
                        gen_lookalike_declaration(g);
                } else {
                        gen_make_legit(g, &g->cur[0], -1);
                        legit_lines(g);
                }
                g->i_cur = 1;
                r = g->cur[0];
                finish(g, &r, !r.lookalike && !r.labels);
        }
        emit(g, &r, line, key, truth);
        count(g, &r);
        return 0;
}

/* ---- set-up ---- */

static int cmp_weight_desc(const void *a, const void *b)
{
        const gen_country *x = *(const gen_country *const *)a, *y = *(const gen_country *const *)b;
        return x->weight < y->weight ? 1 : x->weight > y->weight ? -1 : 0;
}

static bool affected_anywhere(const gen_ref *ref, uint16_t cc)
{
        for (int i = 0; i < ref->n_measures; i++)
                if (ref->measures[i].affected == cc) return true;
        return false;
}

static bool route_origin(const gen_ref *ref, uint16_t cc)
{
        for (int i = 0; i < ref->n_route_origins; i++)
                if (ref->route_origins[i] == cc) return true;
        return false;
}

/* Reporter: the biggest trader with ports that is under no measure itself (the
 * measures are its own). Hubs: the next biggest traders with ports that are
 * neither affected by a measure nor a diversion-risk origin. */
static void pick_reporter_and_hubs(cf_gen *g)
{
        gen_ref *ref = &g->ref;
        const gen_country **by = malloc((size_t)ref->n_countries * sizeof *by);
        for (int i = 0; i < ref->n_countries; i++)
                by[i] = &ref->countries[i];
        qsort(by, (size_t)ref->n_countries, sizeof *by, cmp_weight_desc);
        g->reporter = 0;
        for (int i = 0; i < ref->n_countries; i++) {
                const gen_country *k = by[i];
                if (!k->n_ports || affected_anywhere(ref, k->cc) || route_origin(ref, k->cc))
                        continue;
                if (!g->reporter)
                        g->reporter = k->cc;
                else if (g->n_hubs < 6)
                        g->hubs[g->n_hubs++] = k->cc;
        }
        if (!g->reporter) g->reporter = by[0]->cc;
        g->reporter_idx = gen_ref_country(ref, g->reporter);
        free(by);
}

static bool watched_vessel(const gen_ref *ref, const char *imo)
{
        for (int i = 0; i < ref->n_watch; i++)
                if (!strcmp(ref->watch[i].id, imo)) return true;
        return false;
}

static void make_vessels(cf_gen *g)
{
        while (g->n_imos < 256) {
                unsigned six = 9000000u + (unsigned)gen_rng_below(&g->rng, 999999) / 10 * 10;
                char d[8];
                snprintf(d, sizeof d, "%07u", six);
                int s = 0;
                for (int i = 0; i < 6; i++)
                        s += (d[i] - '0') * (7 - i);
                char *out = g->imos[g->n_imos];
                snprintf(out, 16, "IMO%.6s%d", d, s % 10);
                if (!watched_vessel(&g->ref, out)) g->n_imos++;
        }
}

cf_gen *cf_gen_new(const cf_gen_opts *o, char *errstr, size_t errstr_size)
{
        if (o->dup_rate < 0 || o->dup_rate > 0.5 || o->bad_rate < 0 || o->bad_rate > 1 ||
            o->fraud_rate < 0 || o->fraud_rate > 0.5 || !(o->per_day > 0) || o->outcome_rate < 0 ||
            o->outcome_rate > 1) {
                snprintf(errstr, errstr_size,
                         "rates out of range: dup-rate and fraud-rate in [0, 0.5], bad-rate and "
                         "outcome-rate in [0, 1], per-day > 0");
                return NULL;
        }
        cf_gen *g = calloc(1, sizeof *g);
        g->o = *o;
        if (cf_detect_rule_set(&g->rules, errstr, errstr_size)) {
                free(g);
                return NULL;
        }
        char bundled[4096];
        const char *ref = o->reference;
        if (!ref) { /* NULL: the bundled reference data (source tree or installed) */
                snprintf(bundled, sizeof(bundled), "%s/reference", cf_datadir());
                ref = bundled;
        }
        if (gen_ref_load(&g->ref, ref, errstr, errstr_size)) {
                free(g);
                return NULL;
        }
        gen_rng_seed(&g->rng, o->seed);
        gen_rng_seed(&g->orng, o->seed ^ 0x6f7574636f6d6573ULL); /* "outcomes" */
        g->start_ms = g->clock_ms = o->start_ms;
        g->first_event_ms = INT64_MAX;
        g->msgs_per_day = o->per_day;
        g->ms_per_msg = (double)GEN_DAY_MS / o->per_day;
        g->reg_days = calloc(((size_t)g->ref.n_reg + 1) * GEN_CAP_DAYS, sizeof *g->reg_days);
        g->reg_day = calloc((size_t)g->ref.n_reg + 1, sizeof *g->reg_day);
        pick_reporter_and_hubs(g);
        make_vessels(g);
        /* registered exporters ship all year round, twice a day, at ~40% of capacity */
        for (int i = 0; i < g->ref.n_reg; i++) {
                if (g->ref.reg[i].hs_idx < 0 || !(g->ref.reg[i].capacity > 0) ||
                    g->ref.reg[i].cc == g->reporter)
                        continue;
                gen_campaign *c = gen_campaign_add(g, CAMP_REGISTERED, -1, 0.5);
                if (c) c->reg = i;
        }
        return g;
}

void cf_gen_report(const cf_gen *g, cf_buf *out)
{
        static const char *const kinds[] = {"valid", "duplicate", "amendment", "bad"};
        cf_buf_printf(out, "{\"messages\":%llu,\"kinds\":{", (unsigned long long)g->emitted);
        for (int i = 0; i < 4; i++)
                cf_buf_printf(out, "%s\"%s\":%llu", i ? "," : "", kinds[i],
                              (unsigned long long)g->n_kind[i]);
        cf_buf_puts(out, "},\"labels\":{");
        for (int i = 0, n = 0; i < g->rules.n; i++)
                cf_buf_printf(out, "%s\"%s\":%llu", n++ ? "," : "", g->rules.names[i],
                              (unsigned long long)g->n_label[i]);
        cf_buf_puts(out, "},\"lookalikes\":{");
        for (int i = 0, n = 0; gen_lookalike_names[i]; i++)
                cf_buf_printf(out, "%s\"%s\":%llu", n++ ? "," : "", gen_lookalike_names[i],
                              (unsigned long long)g->n_lookalike[i]);
        cf_buf_puts(out, "},\"bad_kinds\":");
        cf_buf_printf(out, "%d", gen_bad_kinds());
        if (g->o.outcome_rate > 0)
                cf_buf_printf(out,
                              ",\"outcomes\":{\"clean\":%llu,\"fraud\":%llu,\"critical\":%llu}",
                              (unsigned long long)g->n_outcome_kind[0],
                              (unsigned long long)g->n_outcome_kind[1],
                              (unsigned long long)g->n_outcome_kind[2]);
        cf_buf_putc(out, '}');
}

void cf_gen_free(cf_gen *g)
{
        if (!g) return;
        free(g->pend);
        gen_outcomes_free(g);
        free(g->reg_days);
        free(g->exporters);
        free(g->reg_day);
        gen_ref_free(&g->ref);
        free(g);
}
