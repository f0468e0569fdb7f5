/*
 * fuzz_decode.c - libFuzzer target: any bytes through the decode stage must
 * end as OK or a dead letter with a known code, never crash or read out of
 * bounds (run under ASan+UBSan; see tests/fuzz/run.sh).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/stage.h"
#include "stages/decode.h"
#include "stages/encode.h"

extern const cf_stage_plugin cf_stage_decode;

static cf_stage st;
static cf_batch b;
static cf_buf out;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        char err[512];
        cf_stage_env env = {.base_dir = CF_DATADIR};
        st.p = &cf_stage_decode;
        if (cf_stage_decode.init(&st, &env, err, sizeof(err))) {
                fprintf(stderr, "fuzz_decode: %s\n", err);
                abort();
        }
        cf_batch_init(&b, 1);
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        /* A private copy so ASan catches any read past the message. */
        char *copy = malloc(size ? size : 1);
        memcpy(copy, data, size);
        cf_batch_reset(&b);
        cf_record *r = cf_batch_add(&b, copy, size);
        r->src = (cf_source){.topic = "fuzz", .offset = 1, .is_file = true};
        cf_stage_decode.process(&st, &b);
        if (r->status == CF_REC_DEAD_LETTER) {
                int known = 0;
                for (int c = 0; cf_decode_codes[c]; c++)
                        known |= !strcmp(cf_decode_codes[c], r->err_code);
                if (!known) abort();
                cf_buf_reset(&out);
                cf_encode_dlq_line(&out, r);
        } else {
                r->flagged = 1;
                cf_buf_reset(&out);
                cf_encode_flag(&out, r, 0, "fuzz");
        }
        free(copy);
        return 0;
}
