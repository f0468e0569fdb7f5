/*
 * gen_fraud.c - the injected fraud patterns of DESIGN §5.3 (one-shot
 * declarations and multi-record campaigns) and the legitimate look-alikes that
 * must not be flagged (stages/detect/RULES.md, last paragraph).
 *
 * Static rules are labelled by their definition in gen_render.c; here the
 * stateful patterns set their labels on the records that carry them.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bench/gen/gen_internal.h"
#include "stages/decode/decode.h"

const char *const gen_lookalike_names[] = {"origin_differs_no_measure",
                                           "price_spread",
                                           "new_exporter_below_threshold",
                                           "registered_under_capacity",
                                           "certificate_one_exporter",
                                           "amendment",
                                           "repeat_business",
                                           "watchlist_similar_id",
                                           "measure_goods_direct",
                                           "preference_with_certificate",
                                           "transit_not_affected",
                                           NULL};

int gen_lookalike_index(const char *name)
{
        for (int i = 0; gen_lookalike_names[i]; i++)
                if (!strcmp(gen_lookalike_names[i], name)) return i;
        return -1;
}

static double uniform(cf_gen *g, double lo, double hi)
{
        return lo + (hi - lo) * gen_rng_unit(&g->rng);
}

static int64_t stream_age_ms(const cf_gen *g)
{
        return g->clock_ms - g->start_ms;
}

/* A measure in force now with an HS code of ours under it, or -1. */
static int pick_measure(cf_gen *g, int *hs_idx)
{
        int n = g->ref.n_measures;
        if (!n) return -1;
        int start = (int)gen_rng_below(&g->rng, (uint64_t)n);
        for (int j = 0; j < n; j++) {
                const gen_measure *m = &g->ref.measures[(start + j) % n];
                if (g->clock_ms < m->from_ms || g->clock_ms > m->to_ms) continue;
                size_t pl = strlen(m->hs_prefix);
                for (int h = 0; h < g->ref.n_hs; h++)
                        if (!strncmp(g->ref.hs[h].hs6, m->hs_prefix, pl < 6 ? pl : 6)) {
                                *hs_idx = h;
                                return (start + j) % n;
                        }
        }
        return -1;
}

static int origin_other_than(cf_gen *g, uint16_t a, bool prefer_route_origins)
{
        if (prefer_route_origins && g->ref.n_route_origins && gen_rng_chance(&g->rng, 0.6)) {
                uint16_t o =
                    g->ref.route_origins[gen_rng_below(&g->rng, (uint64_t)g->ref.n_route_origins)];
                int oi = gen_ref_country(&g->ref, o);
                if (o != a && o != g->reporter && oi >= 0) return oi;
        }
        for (;;) {
                int oi = gen_pick_country(g, g->reporter);
                if (g->ref.countries[oi].cc != a) return oi;
        }
}

static uint16_t hub_other_than(cf_gen *g, uint16_t a)
{
        for (int t = 0; t < 8 && g->n_hubs; t++) {
                uint16_t h = g->hubs[gen_rng_below(&g->rng, (uint64_t)g->n_hubs)];
                if (h != a) return h;
        }
        return 0;
}

static void single(cf_gen *g)
{
        g->n_cur = 1;
}

/* Copy line 0 into further lines with the same HS code and fresh prices. */
static void more_lines(cf_gen *g, int n, double z)
{
        for (int i = 1; i < n; i++) {
                g->cur[i] = g->cur[0];
                g->cur[i].line = i + 1;
                gen_price(g, &g->cur[i], gen_legit_value(g), z);
        }
        g->n_cur = n;
}

/* ---- one-shot fraud ---- */

static bool transshipment(cf_gen *g)
{
        int h, mi = pick_measure(g, &h);
        if (mi < 0) return false;
        const gen_measure *m = &g->ref.measures[mi];
        gen_rec *r = &g->cur[0];
        gen_make_legit(g, r, origin_other_than(g, m->affected, true));
        r->n_transit = 0;
        gen_set_hs(g, r, h, m->hs_prefix);
        switch (gen_rng_below(&g->rng, 4)) {
        case 0:
                r->transit[r->n_transit++] = m->affected;
                break;
        case 1: {
                char pol[6] = "";
                int ai = gen_ref_country(&g->ref, m->affected);
                if (ai >= 0 && g->ref.countries[ai].n_ports) {
                        const gen_country *k = &g->ref.countries[ai];
                        memcpy(pol, g->ref.ports[k->first_port].locode, 6);
                        memcpy(r->pol, pol, 6);
                } else {
                        r->transit[r->n_transit++] = m->affected;
                }
                break;
        }
        case 2:
                r->export_cc = m->affected;
                break;
        default:
                r->manuf_cc = m->affected;
                gen_put_cc(r->manuf_id, m->affected);
                snprintf(r->manuf_id + 2, sizeof r->manuf_id - 2, "-M%06d",
                         (int)gen_rng_below(&g->rng, 5000) + 1);
        }
        gen_price(g, r, gen_legit_value(g), gen_legit_z(g));
        more_lines(g, 1 + (int)gen_rng_below(&g->rng, 2), gen_legit_z(g));
        return true;
}

static bool route_mismatch(cf_gen *g)
{
        if (!g->ref.n_route_origins || !g->n_hubs) return false;
        uint16_t o = g->ref.route_origins[gen_rng_below(&g->rng, (uint64_t)g->ref.n_route_origins)];
        int oi = gen_ref_country(&g->ref, o);
        uint16_t hub = hub_other_than(g, o);
        if (oi < 0 || !hub || o == g->reporter) return false;
        gen_rec *r = &g->cur[0];
        gen_make_legit(g, r, oi);
        r->export_cc = hub;
        int hi = gen_ref_country(&g->ref, hub);
        if (hi >= 0 && g->ref.countries[hi].n_ports)
                memcpy(r->pol, g->ref.ports[g->ref.countries[hi].first_port].locode, 6);
        single(g);
        return true;
}

static bool manufacturer_mismatch(cf_gen *g)
{
        gen_rec *r = &g->cur[0];
        gen_make_legit(g, r, -1);
        int mi = origin_other_than(g, r->origin, false);
        const gen_country *m = &g->ref.countries[mi];
        snprintf(r->manuf_id, sizeof r->manuf_id, "%s-M%06d", m->iso,
                 (int)gen_rng_below(&g->rng, 5000) + 1);
        r->manuf_cc = gen_rng_chance(&g->rng, 0.5) ? m->cc : 0;
        single(g);
        return true;
}

/* Under- or over-valuation far outside the price spread, on goods whose price
 * baseline the stream has long established. */
static bool value_outlier(cf_gen *g)
{
        int n = g->ref.n_hs, start = (int)gen_rng_below(&g->rng, (uint64_t)n), h = -1;
        for (int j = 0; j < n && h < 0; j++)
                if (g->ref.hs[(start + j) % n].seen >= 300) h = (start + j) % n;
        if (h < 0) return false;
        gen_rec *r = &g->cur[0];
        gen_make_legit(g, r, -1);
        gen_set_hs(g, r, h, NULL);
        /* 15-30 times off the reference price, and at least 6-10 sigmas of the goods'
         * own spread: for goods whose prices spread widely (sigma 1) a factor of 30 is
         * still an ordinary price */
        double f = uniform(g, 15, 30), sigma = g->ref.hs[h].sigma;
        double zs = fmax(log(f) / sigma, uniform(g, 6, 10));
        double z = (gen_rng_chance(&g->rng, 0.75) ? -1 : 1) * zs;
        gen_price(g, r, gen_legit_value(g), z);
        r->labels |= gen_label("unit_value_outlier");
        single(g);
        return true;
}

static bool preference_without_certificate(cf_gen *g)
{
        gen_rec *r = &g->cur[0];
        gen_make_legit(g, r, -1);
        snprintf(r->pref, sizeof r->pref, "GSP");
        r->cert[0] = '\0';
        single(g);
        return true;
}

static bool watchlist(cf_gen *g)
{
        if (!g->ref.n_watch) return false;
        const gen_watch *w = &g->ref.watch[gen_rng_below(&g->rng, (uint64_t)g->ref.n_watch)];
        gen_rec *r = &g->cur[0];
        int oi = -1;
        if (strlen(w->id) > 3 && w->id[2] == '-' && cf_iso_country_valid(w->id, 2))
                oi = gen_ref_country(&g->ref, gen_cc(w->id));
        if (oi >= 0 && g->ref.countries[oi].cc == g->reporter) oi = -1;
        gen_make_legit(g, r, !strcmp(w->kind, "importer") ? -1 : oi);
        if (!strcmp(w->kind, "importer"))
                snprintf(r->importer, sizeof r->importer, "%s", w->id);
        else if (!strcmp(w->kind, "manufacturer"))
                snprintf(r->manuf_id, sizeof r->manuf_id, "%s", w->id), r->manuf_cc = 0;
        else if (!strcmp(w->kind, "vessel")) {
                snprintf(r->imo, sizeof r->imo, "%.15s", w->id); /* IMO numbers are 7 digits */
                memcpy(r->mode, "sea", 4);
        } else
                snprintf(r->exporter, sizeof r->exporter, "%s", w->id);
        single(g);
        return true;
}

static const gen_rec *recent_line(cf_gen *g)
{
        if (g->n_recent < 16) return NULL;
        uint64_t n = g->n_recent < GEN_RECENT ? g->n_recent : GEN_RECENT;
        return &g->recent[gen_rng_below(&g->rng, n)];
}

/* The same shipment declared again under a new declaration id. */
static bool duplicate_shipment(cf_gen *g)
{
        const gen_rec *o = recent_line(g);
        if (!o || !o->bol[0]) return false;
        gen_rec *r = &g->cur[0];
        *r = *o;
        r->t_ms = g->clock_ms;
        gen_new_decl_id(g, r);
        r->labels = gen_label("duplicate_shipment");
        single(g);
        return true;
}

/* A different declaration under an existing (declaration_id, line) with no
 * higher amendment. */
static bool conflicting_resubmission(cf_gen *g)
{
        gen_rec *r = &g->cur[0];
        gen_make_legit(g, r, -1);
        single(g);
        gen_rec c = *r;
        /* more goods at the same unit price: only the resubmission rule applies */
        c.qty = r->qty >= 5 ? r->qty + floor(r->qty * 0.2) : r->qty * 2;
        c.customs_value = round(r->customs_value * c.qty / r->qty * 100) / 100;
        c.value_usd = r->value_usd * c.qty / r->qty;
        c.labels = gen_label("conflicting_resubmission");
        gen_pending_add(g, 10 + gen_rng_below(&g->rng, 1000), &c);
        return true;
}

/* ---- campaigns ---- */

static bool start_surge(cf_gen *g)
{
        if (stream_age_ms(g) < 20 * GEN_DAY_MS) return false;
        gen_campaign *c = gen_campaign_add(g, CAMP_SURGE, 150, 1.0);
        if (!c) return false;
        /* a minor origin suddenly ships a lot of one kind of goods */
        do
                c->origin_idx = gen_pick_country(g, g->reporter);
        while (g->ref.countries[c->origin_idx].weight > g->ref.total_weight * 0.005);
        c->hs_idx = (int)gen_rng_below(&g->rng, (uint64_t)g->ref.n_hs);
        c->n_exporters = 3;
        for (int i = 0; i < 3; i++)
                gen_exporter_id(g, c->origin_idx, i + 1, c->exporter[i], sizeof c->exporter[i]);
        return true;
}

static int top_origin(cf_gen *g)
{
        int best[10], nb = 0;
        for (int i = 0; i < g->ref.n_countries; i++) {
                if (g->ref.countries[i].cc == g->reporter) continue;
                if (nb < 10) {
                        best[nb++] = i;
                        continue;
                }
                int lo = 0;
                for (int j = 1; j < 10; j++)
                        if (g->ref.countries[best[j]].weight < g->ref.countries[best[lo]].weight)
                                lo = j;
                if (g->ref.countries[i].weight > g->ref.countries[best[lo]].weight) best[lo] = i;
        }
        return best[gen_rng_below(&g->rng, (uint64_t)nb)];
}

static bool start_new_exporter(cf_gen *g, bool lookalike)
{
        if (stream_age_ms(g) < 45 * GEN_DAY_MS) return false;
        gen_campaign *c = lookalike ? gen_campaign_add(g, CAMP_NEWEXP_LA, 6, 10)
                                    : gen_campaign_add(g, CAMP_NEWEXP, 30, 20);
        if (!c) return false;
        c->origin_idx = top_origin(g);
        c->hs_idx = (int)gen_rng_below(&g->rng, (uint64_t)g->ref.n_hs);
        c->n_exporters = 1;
        snprintf(c->exporter[0], sizeof c->exporter[0], "%s-N%06llu",
                 g->ref.countries[c->origin_idx].iso, (unsigned long long)++g->newexp_seq);
        return true;
}

static bool start_capacity(cf_gen *g)
{
        int n = g->ref.n_reg, start = n ? (int)gen_rng_below(&g->rng, (uint64_t)n) : 0;
        for (int j = 0; j < n; j++) {
                int i = (start + j) % n;
                if (g->ref.reg[i].hs_idx < 0 || !(g->ref.reg[i].capacity > 0) ||
                    g->ref.reg[i].cc == g->reporter)
                        continue;
                /* a third of the registered exporters overship; the rest stay under
                 * capacity and are the look-alike */
                if (i % 3) continue;
                bool running = false;
                for (int k = 0; k < g->n_camps; k++)
                        running |= g->camps[k].type == CAMP_CAPACITY && g->camps[k].reg == i;
                if (running) continue;
                /* not while the exporter's window is still full from the last one */
                if (gen_reg_window(g, i, g->clock_ms / GEN_DAY_MS, 0, false) >
                    0.5 * g->ref.reg[i].capacity)
                        continue;
                gen_campaign *c = gen_campaign_add(g, CAMP_CAPACITY, 8, 6);
                if (!c) return false;
                c->reg = i;
                return true;
        }
        return false;
}

static bool start_certificate(cf_gen *g, bool lookalike)
{
        gen_campaign *c = lookalike ? gen_campaign_add(g, CAMP_CERT_LA, GEN_CERT_MAX_DECL, 2)
                                    : gen_campaign_add(g, CAMP_CERT, 6, 3);
        if (!c) return false;
        c->origin_idx = gen_pick_country(g, g->reporter);
        const gen_country *k = &g->ref.countries[c->origin_idx];
        c->n_exporters = lookalike ? 1 : 3;
        for (int i = 0; i < c->n_exporters; i++)
                gen_exporter_id(g, c->origin_idx,
                                1 + (int)gen_rng_below(&g->rng, (uint64_t)k->pool), c->exporter[i],
                                sizeof c->exporter[i]);
        snprintf(c->cert, sizeof c->cert, "%s-CO-%08llu", k->iso,
                 (unsigned long long)++g->cert_seq);
        /* a ring: the oldest tracked certificate's campaign has long ended */
        gen_cert_use *u = &g->certs[g->cert_slot++ % GEN_MAX_CERTS];
        if (g->n_certs < GEN_MAX_CERTS) g->n_certs++;
        memset(u, 0, sizeof *u);
        snprintf(u->cert, sizeof u->cert, "%s", c->cert);
        snprintf(u->first_exporter, sizeof u->first_exporter, "%s", c->exporter[0]);
        return true;
}

void gen_campaign_line(cf_gen *g, gen_campaign *c, gen_rec *r)
{
        const gen_registered *e = NULL;
        int oi = c->origin_idx;
        if (c->type == CAMP_REGISTERED || c->type == CAMP_CAPACITY) {
                e = &g->ref.reg[c->reg];
                oi = gen_ref_country(&g->ref, e->cc);
        }
        gen_make_legit(g, r, oi);
        r->cert[0] = r->pref[0] = '\0';
        if (e) {
                snprintf(r->exporter, sizeof r->exporter, "%s", e->exporter_id);
                gen_set_hs(g, r, e->hs_idx, e->hs_prefix);
                /* a burst of 0.3 x capacity a shipment; the regular flow twice a day at 40 %
                 * of capacity over the row's period */
                double share = c->type == CAMP_CAPACITY ? 0.3 : 0.4 / (2.0 * e->period_days);
                gen_price(g, r, e->capacity * share * g->ref.hs[e->hs_idx].ref_uv, gen_legit_z(g));
                if (c->type == CAMP_REGISTERED) r->lookalike = "registered_under_capacity";
        } else {
                snprintf(r->exporter, sizeof r->exporter, "%s",
                         c->exporter[c->step % c->n_exporters]);
                if (c->type == CAMP_SURGE || c->type == CAMP_NEWEXP || c->type == CAMP_NEWEXP_LA)
                        gen_set_hs(g, r, c->hs_idx, NULL);
        }
        switch (c->type) {
        case CAMP_SURGE:
                gen_price(g, r, uniform(g, 40000, 90000), gen_legit_z(g));
                /* by the definition: from the declaration that takes the window's count
                 * past the threshold (each campaign line is a declaration) */
                if (c->step >= GEN_SURGE_MIN_DECL) r->labels |= gen_label("origin_volume_surge");
                break;
        case CAMP_NEWEXP:
        case CAMP_NEWEXP_LA:
                if (!c->step) c->first_ms = r->t_ms;
                gen_price(g, r,
                          c->type == CAMP_NEWEXP ? uniform(g, 60000, 120000)
                                                 : uniform(g, 20000, 60000),
                          gen_legit_z(g));
                /* labelled by the definition in gen.c once over the threshold */
                if (c->type == CAMP_NEWEXP_LA) r->lookalike = "new_exporter_below_threshold";
                break;
        case CAMP_CERT:
        case CAMP_CERT_LA:
                snprintf(r->cert, sizeof r->cert, "%s", c->cert);
                snprintf(r->pref, sizeof r->pref, "FTA");
                if (c->type == CAMP_CERT_LA) r->lookalike = "certificate_one_exporter";
                break;
        default:
                break;
        }
        r->manuf_id[0] = '\0'; /* the campaign's exporter is not the drawn one */
        r->manuf_cc = 0;
        c->step++;
}

/* ---- choosing a pattern ---- */

static bool start_new_exporter_fraud(cf_gen *g)
{
        return start_new_exporter(g, false);
}

static bool start_certificate_fraud(cf_gen *g)
{
        return start_certificate(g, false);
}

/* A pattern and its relative weight; campaigns yield many labelled records
 * each, so they start less often and every pattern contributes a similar
 * number of labelled records. */
typedef struct gen_pattern {
        double weight;
        bool (*start)(cf_gen *g);
        bool campaign; /* runs on its own: this declaration slot is plain trade */
} gen_pattern;

static const gen_pattern fraud_patterns[] = {
    {1.85, transshipment, false},
    {1, route_mismatch, false},
    {1, manufacturer_mismatch, false},
    {1, value_outlier, false},
    {1, preference_without_certificate, false},
    {1, watchlist, false},
    {1, duplicate_shipment, false},
    {1, conflicting_resubmission, false},
    {0.006, start_surge, true},             /* 150 records each */
    {0.06, start_new_exporter_fraud, true}, /* 30 records, ~20 over the threshold */
    {0.25, start_capacity, true},           /* 8 records, ~5 over capacity */
    {0.25, start_certificate_fraud, true},  /* 6 declarations, ~5 reuses */
};

/* Pick a pattern by weight and start it; retry when it cannot start now. */
static void start_one_of(cf_gen *g, const gen_pattern *pats, size_t n)
{
        double total = 0;
        for (size_t i = 0; i < n; i++)
                total += pats[i].weight;
        for (int tries = 0; tries < 16; tries++) {
                double x = gen_rng_unit(&g->rng) * total;
                size_t i = 0;
                while (i + 1 < n && x >= pats[i].weight)
                        x -= pats[i++].weight;
                if (!pats[i].start(g)) continue;
                if (pats[i].campaign) {
                        gen_make_legit(g, &g->cur[0], -1);
                        single(g);
                }
                return;
        }
        gen_make_legit(g, &g->cur[0], -1);
        single(g);
}

void gen_fraud_declaration(cf_gen *g)
{
        start_one_of(g, fraud_patterns, sizeof fraud_patterns / sizeof fraud_patterns[0]);
}

static bool la_origin_differs(cf_gen *g)
{
        gen_rec *r = &g->cur[0];
        for (int t = 0; t < 10; t++) {
                gen_make_legit(g, r, -1);
                uint16_t hub = hub_other_than(g, r->origin);
                if (!hub || gen_route_watched(&g->ref, r->origin, r->hs_code)) continue;
                r->export_cc = hub;
                r->n_transit = 0;
                int hi = gen_ref_country(&g->ref, hub);
                if (hi >= 0 && g->ref.countries[hi].n_ports)
                        memcpy(r->pol, g->ref.ports[g->ref.countries[hi].first_port].locode, 6);
                if (r->manuf_id[0]) r->manuf_cc = r->origin;
                if (gen_route_hits_measure(&g->ref, r)) continue;
                r->lookalike = "origin_differs_no_measure";
                single(g);
                return true;
        }
        return false;
}

static bool la_measure(cf_gen *g, bool direct)
{
        int h, mi = pick_measure(g, &h);
        if (mi < 0) return false;
        const gen_measure *m = &g->ref.measures[mi];
        int ai = gen_ref_country(&g->ref, m->affected);
        if (direct && (ai < 0 || m->affected == g->reporter)) return false;
        gen_rec *r = &g->cur[0];
        gen_make_legit(g, r, direct ? ai : origin_other_than(g, m->affected, true));
        r->n_transit = 0;
        gen_set_hs(g, r, h, m->hs_prefix);
        if (!direct) {
                uint16_t hub = hub_other_than(g, m->affected);
                if (hub && hub != r->origin) r->transit[r->n_transit++] = hub;
        }
        gen_price(g, r, gen_legit_value(g), gen_legit_z(g));
        r->lookalike = direct ? "measure_goods_direct" : "transit_not_affected";
        single(g);
        return true;
}

static bool la_similar_watch_id(cf_gen *g)
{
        for (int i = 0; i < g->ref.n_watch; i++) {
                const gen_watch *w = &g->ref.watch[(i + g->decl_seq) % (uint64_t)g->ref.n_watch];
                if (strcmp(w->kind, "exporter") && strcmp(w->kind, "importer")) continue;
                gen_rec *r = &g->cur[0];
                gen_make_legit(g, r, -1);
                char *id = !strcmp(w->kind, "exporter") ? r->exporter : r->importer;
                snprintf(id, 48, "%s", w->id);
                char *last = id + strlen(id) - 1;
                *last = (*last >= '0' && *last <= '8') ? *last + 1 : '0';
                r->lookalike = "watchlist_similar_id";
                single(g);
                return true;
        }
        return false;
}

static bool la_repeat_business(cf_gen *g)
{
        const gen_rec *o = recent_line(g);
        if (!o) return false;
        gen_rec *r = &g->cur[0];
        gen_rec fresh;
        gen_make_legit(g, &fresh, gen_ref_country(&g->ref, o->origin));
        *r = *o;
        r->t_ms = g->clock_ms;
        gen_new_decl_id(g, r);
        memcpy(r->bol, fresh.bol, sizeof r->bol);
        memcpy(r->container, fresh.container, sizeof r->container);
        memcpy(r->imo, fresh.imo, sizeof r->imo);
        memcpy(r->mode, fresh.mode, sizeof r->mode);
        /* a new shipment has its own certificate of origin (or none) */
        memcpy(r->cert, fresh.cert, sizeof r->cert);
        r->labels = 0; /* recomputed for this line by finish() */
        if (!strcmp(r->bol, o->bol)) return false;
        r->lookalike = "repeat_business";
        single(g);
        return true;
}

static bool la_price_spread(cf_gen *g)
{
        gen_rec *r = &g->cur[0];
        gen_make_legit(g, r, -1);
        double z = uniform(g, 2.0, 2.5) * (gen_rng_chance(&g->rng, 0.5) ? -1 : 1);
        gen_price(g, r, gen_legit_value(g), z);
        r->lookalike = "price_spread";
        single(g);
        return true;
}

static bool la_preference_with_certificate(cf_gen *g)
{
        gen_rec *r = &g->cur[0];
        gen_make_legit(g, r, -1);
        if (!r->cert[0])
                snprintf(r->cert, sizeof r->cert, "%c%c-CO-%08llu", (char)(r->origin >> 8),
                         (char)(r->origin & 0xff), (unsigned long long)++g->cert_seq);
        snprintf(r->pref, sizeof r->pref, "GSP");
        r->lookalike = "preference_with_certificate";
        single(g);
        return true;
}

static bool la_measure_direct(cf_gen *g)
{
        return la_measure(g, true);
}

static bool la_transit_not_affected(cf_gen *g)
{
        return la_measure(g, false);
}

static bool la_new_exporter(cf_gen *g)
{
        return start_new_exporter(g, true);
}

static bool la_certificate(cf_gen *g)
{
        return start_certificate(g, true);
}

static const gen_pattern lookalike_patterns[] = {
    {1, la_origin_differs, false},
    {1, la_price_spread, false},
    {1, la_repeat_business, false},
    {1, la_similar_watch_id, false},
    {1, la_measure_direct, false},
    {1, la_transit_not_affected, false},
    {1, la_preference_with_certificate, false},
    {0.2, la_new_exporter, true},
    {0.33, la_certificate, true},
};

void gen_lookalike_declaration(cf_gen *g)
{
        start_one_of(g, lookalike_patterns,
                     sizeof lookalike_patterns / sizeof lookalike_patterns[0]);
}
