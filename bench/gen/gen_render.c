/*
 * gen_render.c - a generated line as declaration JSON (DESIGN §3) and as its
 * truth line; the labels of the rules that are pure functions of one record
 * and the reference data, by the definitions of stages/detect/RULES.md.
 *
 * The truth is definitional on purpose: whatever the generator produced, a
 * record is labelled with a static rule exactly when that rule's definition
 * holds for it, so a look-alike that happens to meet a definition is labelled
 * too and the quality report stays honest.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/gen/gen_internal.h"
#include "stages/decode/decode.h"
#include "stages/detect/detect.h"

uint32_t gen_label(const char *rule)
{
        int i = cf_detect_rule_index(rule);
        if (i < 0) {
                fprintf(stderr, "gen: unknown rule %s\n", rule);
                abort();
        }
        return 1u << i;
}

static void kv_str(cf_buf *b, const char *k, const char *v)
{
        cf_buf_putc(b, ',');
        cf_json_key(b, k);
        cf_json_str(b, v, strlen(v));
}

static void kv_cc(cf_buf *b, const char *k, uint16_t cc)
{
        char s[3];
        gen_put_cc(s, cc);
        kv_str(b, k, s);
}

static void kv_num(cf_buf *b, const char *k, double v)
{
        cf_buf_putc(b, ',');
        cf_json_key(b, k);
        cf_json_num(b, v);
}

/* RFC 3339 in whole seconds ("2025-03-14T09:30:00Z"), as agencies send it. */
static void put_time(cf_buf *b, int64_t ms)
{
        size_t at = b->len;
        cf_json_time(b, ms - ms % 1000);
        /* cf_json_time writes "...:SS.mmmZ"; drop ".000" */
        char *dot = memchr(b->p + at, '.', b->len - at);
        if (dot && b->p + b->len - dot == 6) {
                memmove(dot, dot + 4, 2);
                b->len -= 4;
        }
}

void gen_rec_render(const gen_rec *r, cf_buf *b)
{
        cf_buf_putc(b, '{');
        cf_json_key(b, "declaration_id");
        cf_json_str(b, r->decl_id, strlen(r->decl_id));
        cf_buf_printf(b, ",\"line\":%d,\"event_time\":", r->line);
        put_time(b, r->t_ms);
        kv_str(b, "hs_code", r->hs_code);
        kv_cc(b, "origin_country", r->origin);
        kv_cc(b, "export_country", r->export_cc);
        kv_str(b, "exporter_id", r->exporter);
        kv_str(b, "importer_id", r->importer);
        kv_num(b, "quantity", r->qty);
        kv_str(b, "unit", r->unit);
        kv_num(b, "customs_value", r->customs_value);
        kv_str(b, "currency", r->currency);
        if (r->amendment >= 0) cf_buf_printf(b, ",\"amendment\":%lld", (long long)r->amendment);
        kv_cc(b, "reporter_country", r->reporter);
        kv_str(b, "direction", "import");
        if (r->pol[0]) kv_str(b, "port_of_loading", r->pol);
        if (r->pod[0]) kv_str(b, "port_of_discharge", r->pod);
        if (r->n_transit) {
                cf_buf_puts(b, ",\"transit_countries\":[");
                for (int i = 0; i < r->n_transit; i++) {
                        char s[3];
                        gen_put_cc(s, r->transit[i]);
                        cf_buf_printf(b, "%s\"%s\"", i ? "," : "", s);
                }
                cf_buf_putc(b, ']');
        }
        if (r->manuf_id[0]) kv_str(b, "manufacturer_id", r->manuf_id);
        if (r->manuf_cc) kv_cc(b, "manufacturer_country", r->manuf_cc);
        if (r->net > 0) kv_num(b, "net_mass_kg", r->net);
        if (r->gross > 0) kv_num(b, "gross_mass_kg", r->gross);
        if (r->pref[0]) kv_str(b, "preference_code", r->pref);
        if (r->cert[0]) kv_str(b, "certificate_of_origin", r->cert);
        kv_str(b, "transport_mode", r->mode);
        if (r->imo[0]) kv_str(b, "vessel_imo", r->imo);
        if (r->container[0]) kv_str(b, "container_id", r->container);
        if (r->bol[0]) kv_str(b, "bill_of_lading", r->bol);
        if (r->declarant[0]) kv_str(b, "declarant_id", r->declarant);
        if (r->desc && r->desc[0]) kv_str(b, "goods_description", r->desc);
        cf_buf_putc(b, '}');
}

void gen_rec_truth(const gen_rec *r, const cf_rule_set *rules, cf_buf *b)
{
        cf_buf_putc(b, '{');
        cf_json_key(b, "declaration_id");
        cf_json_str(b, r->decl_id, strlen(r->decl_id));
        cf_buf_printf(b, ",\"line\":%d", r->line);
        kv_str(b, "kind", r->kind);
        if (r->bad_code) kv_str(b, "bad_code", r->bad_code);
        if (r->bad_kind) kv_str(b, "bad_kind", r->bad_kind);
        if (r->lookalike) kv_str(b, "lookalike", r->lookalike);
        cf_buf_puts(b, ",\"labels\":[");
        int n = 0;
        for (int i = 0; i < rules->n; i++)
                if (r->labels & (1u << i))
                        cf_buf_printf(b, "%s\"%s\"", n++ ? "," : "", rules->names[i]);
        cf_buf_puts(b, "]}");
}

/* ---- static labels ---- */

static bool on_route(const gen_rec *r, uint16_t cc)
{
        if (r->export_cc == cc || r->manuf_cc == cc) return true;
        if (r->pol[0] && gen_cc(r->pol) == cc) return true;
        for (int i = 0; i < r->n_transit; i++)
                if (r->transit[i] == cc) return true;
        return false;
}

bool gen_route_hits_measure(const gen_ref *ref, const gen_rec *r)
{
        for (int i = 0; i < ref->n_measures; i++) {
                const gen_measure *m = &ref->measures[i];
                if (r->t_ms < m->from_ms || r->t_ms > m->to_ms) continue;
                if (strncmp(r->hs_code, m->hs_prefix, strlen(m->hs_prefix))) continue;
                if (r->origin != m->affected && on_route(r, m->affected)) return true;
        }
        return false;
}

bool gen_route_watched(const gen_ref *ref, uint16_t origin, const char *hs_code)
{
        for (int i = 0; i < ref->n_route_origins; i++)
                if (ref->route_origins[i] == origin) return true;
        for (int i = 0; i < ref->n_route_chapters; i++)
                if (!strncmp(ref->route_chapters[i], hs_code, 2)) return true;
        return false;
}

static bool watched(const gen_ref *ref, const char *role, const char *id)
{
        if (!id[0]) return false;
        for (int i = 0; i < ref->n_watch; i++)
                if (!strcmp(ref->watch[i].id, id) &&
                    (!strcmp(ref->watch[i].kind, role) || !strcmp(ref->watch[i].kind, "party")))
                        return true;
        return false;
}

/* manufacturer_country, or else the "CC-" prefix of manufacturer_id when CC is an ISO code */
static uint16_t manufacturer_cc(const gen_rec *r)
{
        if (r->manuf_cc) return r->manuf_cc;
        const char *m = r->manuf_id;
        if (strlen(m) > 3 && m[2] == '-' && cf_iso_country_valid(m, 2)) return gen_cc(m);
        return 0;
}

uint32_t gen_static_labels(const gen_ref *ref, const gen_rec *r)
{
        uint32_t l = 0;
        if (gen_route_hits_measure(ref, r)) l |= gen_label("trade_remedy_evasion");
        bool differs = r->origin != r->export_cc || (r->pol[0] && gen_cc(r->pol) != r->origin);
        if (differs && gen_route_watched(ref, r->origin, r->hs_code))
                l |= gen_label("origin_route_mismatch");
        uint16_t mc = manufacturer_cc(r);
        if (mc && mc != r->origin) l |= gen_label("manufacturer_origin_mismatch");
        if (r->pref[0] && !r->cert[0]) l |= gen_label("preference_without_certificate");
        if (watched(ref, "exporter", r->exporter) || watched(ref, "importer", r->importer) ||
            watched(ref, "manufacturer", r->manuf_id) || watched(ref, "vessel", r->imo))
                l |= gen_label("watchlist_party");
        return l;
}
