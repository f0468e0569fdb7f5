/*
 * fuzz_decode.c - differential libFuzzer target: any bytes through the decode
 * stage with the simdjson fast path and with jsmn alone must give the same
 * outcome (same dead-letter code, or the same decoded fields: every one), a
 * known code, output lines (flag, dead letter) that are valid UTF-8, and never
 * crash or read out of bounds (ASan+UBSan; see tests/fuzz/run.sh). Inputs it
 * once failed on are in tests/fuzz/regressions/fuzz_decode/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/core/stage.h"
#include "stages/decode/decode.h"
#include "pipeline/core/utf8.h"
#include "stages/encode/encode.h"

extern const cf_stage_plugin cf_stage_decode;

static cf_stage st[2];
static cf_batch b[2];
static cf_buf out;

static void init_one(int i, const char *parser)
{
        char err[512], yaml[64];
        snprintf(yaml, sizeof(yaml), "parser: %s\n", parser);
        cf_node *cfg = cf_yaml_load_string("fuzz", yaml, strlen(yaml), err, sizeof(err));
        cf_stage_env env = {.base_dir = CF_DATADIR, .cfg = cfg};
        st[i].p = &cf_stage_decode;
        if (cf_stage_decode.init(&st[i], &env, err, sizeof(err))) {
                fprintf(stderr, "fuzz_decode: %s\n", err);
                abort();
        }
        cf_yaml_free(cfg);
        cf_batch_init(&b[i], 1);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        init_one(0, "simdjson");
        init_one(1, "jsmn");
        return 0;
}

static int str_eq(cf_str a, cf_str c)
{
        return a.n == c.n && (a.n == 0 || !memcmp(a.p, c.p, a.n));
}

/* Every field of the two decodes, strings by content. */
static int decl_eq(const cf_decl *a, const cf_decl *c)
{
        const cf_str *sa[] = {&a->declaration_id,  &a->hs_code,         &a->exporter_id,
                              &a->importer_id,     &a->port_of_loading, &a->port_of_discharge,
                              &a->manufacturer_id, &a->preference_code, &a->certificate_of_origin,
                              &a->transport_mode,  &a->vessel_imo,      &a->container_id,
                              &a->bill_of_lading,  &a->declarant_id,    &a->goods_description};
        const cf_str *sc[] = {&c->declaration_id,  &c->hs_code,         &c->exporter_id,
                              &c->importer_id,     &c->port_of_loading, &c->port_of_discharge,
                              &c->manufacturer_id, &c->preference_code, &c->certificate_of_origin,
                              &c->transport_mode,  &c->vessel_imo,      &c->container_id,
                              &c->bill_of_lading,  &c->declarant_id,    &c->goods_description};
        for (size_t i = 0; i < sizeof(sa) / sizeof(*sa); i++)
                if (!str_eq(*sa[i], *sc[i])) return 0;
        if (a->n_attrs != c->n_attrs) return 0;
        for (uint16_t i = 0; i < a->n_attrs; i++) {
                const cf_attr *x = &a->attrs[i], *y = &c->attrs[i];
                if (!str_eq(x->key, y->key) || x->is_num != y->is_num ||
                    (x->is_num ? x->num != y->num : !str_eq(x->str, y->str)))
                        return 0;
        }
        return a->line == c->line && a->event_time_ms == c->event_time_ms && a->hs6 == c->hs6 &&
               a->origin_country == c->origin_country && a->export_country == c->export_country &&
               a->exporter_h == c->exporter_h && a->importer_h == c->importer_h &&
               a->quantity == c->quantity && !strcmp(a->unit, c->unit) &&
               a->customs_value == c->customs_value && !strcmp(a->currency, c->currency) &&
               a->value_usd == c->value_usd && a->present == c->present &&
               a->amendment == c->amendment && a->reporter_country == c->reporter_country &&
               a->direction == c->direction && a->n_transit == c->n_transit &&
               !memcmp(a->transit, c->transit, sizeof(a->transit[0]) * a->n_transit) &&
               a->manufacturer_country == c->manufacturer_country &&
               a->net_mass_kg == c->net_mass_kg && a->gross_mass_kg == c->gross_mass_kg &&
               a->tax_rate == c->tax_rate;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        /* A private copy so ASan catches any read past the message. */
        char *copy = malloc(size ? size : 1);
        memcpy(copy, data, size);
        cf_record *r[2];
        for (int i = 0; i < 2; i++) {
                cf_batch_reset(&b[i]);
                r[i] = cf_batch_add(&b[i], copy, size);
                r[i]->src = (cf_source){.topic = "fuzz", .offset = 1, .is_file = true};
                cf_stage_decode.process(&st[i], &b[i]);
        }
        if (r[0]->status != r[1]->status) abort();
        if (r[0]->status == CF_REC_DEAD_LETTER) {
                if (strcmp(r[0]->err_code, r[1]->err_code)) {
                        fprintf(stderr, "simdjson: %s (%s) jsmn: %s (%s)\n", r[0]->err_code,
                                r[0]->err_msg, r[1]->err_code, r[1]->err_msg);
                        abort();
                }
                int known = 0;
                for (int c = 0; cf_decode_codes[c]; c++)
                        known |= !strcmp(cf_decode_codes[c], r[0]->err_code);
                if (!known) abort();
                cf_buf_reset(&out);
                cf_encode_dlq_line(&out, r[0]);
        } else {
                if (!decl_eq(&r[0]->decl, &r[1]->decl)) abort();
                r[0]->flagged = 1;
                cf_buf_reset(&out);
                cf_encode_flag(&out, r[0], 0, "fuzz");
        }
        if (!cf_utf8_valid(out.p, out.len)) abort();
        free(copy);
        return 0;
}
