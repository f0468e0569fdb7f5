/*
 * fuzz_decode.c - differential libFuzzer target: any bytes through the decode
 * stage with the simdjson fast path and with jsmn alone must give the same
 * outcome (same dead-letter code, or the same decoded fields), a known code,
 * and never crash or read out of bounds (ASan+UBSan; see tests/fuzz/run.sh).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/core/stage.h"
#include "stages/decode/decode.h"
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
                const cf_decl *d0 = &r[0]->decl, *d1 = &r[1]->decl;
                if (!str_eq(d0->declaration_id, d1->declaration_id) || d0->line != d1->line ||
                    d0->event_time_ms != d1->event_time_ms || d0->hs6 != d1->hs6 ||
                    d0->quantity != d1->quantity || d0->value_usd != d1->value_usd ||
                    d0->present != d1->present || !str_eq(d0->exporter_id, d1->exporter_id) ||
                    d0->n_transit != d1->n_transit)
                        abort();
                r[0]->flagged = 1;
                cf_buf_reset(&out);
                cf_encode_flag(&out, r[0], 0, "fuzz");
        }
        free(copy);
        return 0;
}
