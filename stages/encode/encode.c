/*
 * encode.c - the encode stage: flagged records -> flag messages (DESIGN §3).
 */
#include "stages/encode/encode.h"

#include <stdlib.h>
#include <string.h>

#include "pipeline/core/stage.h"
#include "pipeline/core/utf8.h"

static int is_json_ws(char c)
{
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

void cf_encode_flag(cf_buf *o, const cf_record *r, int64_t processed_at_ms,
                    const char *pipeline_version)
{
        const cf_decl *d = &r->decl;
        cf_buf_puts(o, "{\"declaration_id\":");
        cf_json_str(o, d->declaration_id.p, d->declaration_id.n);
        cf_buf_puts(o, ",\"line\":");
        cf_json_int(o, d->line);
        cf_buf_puts(o, ",\"score\":");
        cf_json_num(o, r->score);
        cf_buf_puts(o, ",\"reasons\":[");
        for (uint16_t i = 0; i < r->n_reasons; i++) {
                const cf_reason *re = &r->reasons[i];
                if (i) cf_buf_putc(o, ',');
                cf_buf_puts(o, "{\"rule\":");
                cf_json_str(o, re->rule, strlen(re->rule));
                cf_buf_puts(o, ",\"weight\":");
                cf_json_num(o, re->weight);
                cf_buf_puts(o, ",\"evidence\":");
                cf_buf_put(o, re->evidence, re->evidence_len);
                if (re->explanation) { /* plain text with ids from the input: escaped here */
                        cf_buf_puts(o, ",\"explanation\":");
                        cf_json_str(o, re->explanation, re->explanation_len);
                }
                cf_buf_putc(o, '}');
        }
        cf_buf_puts(o, "],\"source\":{");
        if (r->src.is_file) {
                cf_buf_puts(o, "\"file\":");
                cf_json_str(o, r->src.topic, strlen(r->src.topic));
                cf_buf_puts(o, ",\"line\":");
                cf_json_int(o, r->src.offset);
        } else {
                cf_buf_puts(o, "\"topic\":");
                cf_json_str(o, r->src.topic ? r->src.topic : "", r->src.topic ? strlen(r->src.topic) : 0);
                cf_buf_puts(o, ",\"partition\":");
                cf_json_int(o, r->src.partition);
                cf_buf_puts(o, ",\"offset\":");
                cf_json_int(o, r->src.offset);
        }
        cf_buf_puts(o, "},\"processed_at\":");
        cf_json_time(o, processed_at_ms);
        cf_buf_puts(o, ",\"pipeline_version\":");
        cf_json_str(o, pipeline_version, strlen(pipeline_version));
        /* The declaration as received: the original bytes, unknown keys included
         * (without the whitespace around the object, e.g. a CRLF file's '\r',
         * which would end the line for readers of the JSONL file). */
        size_t a = 0, z = r->len;
        while (a < z && is_json_ws(r->data[a]))
                a++;
        while (z > a && is_json_ws(r->data[z - 1]))
                z--;
        cf_buf_puts(o, ",\"declaration\":");
        cf_buf_put(o, r->data + a, z - a);
        cf_buf_putc(o, '}');
}

void cf_encode_dlq_line(cf_buf *o, const cf_record *r)
{
        cf_buf_puts(o, "{\"error\":{\"code\":");
        cf_json_str(o, r->err_code, strlen(r->err_code));
        cf_buf_puts(o, ",\"message\":");
        cf_json_str(o, r->err_msg, strlen(r->err_msg));
        cf_buf_puts(o, "},\"source\":{\"file\":");
        cf_json_str(o, r->src.topic, strlen(r->src.topic));
        cf_buf_puts(o, ",\"line\":");
        cf_json_int(o, r->src.offset);
        cf_buf_putc(o, '}');
        /* DESIGN §7: payload when valid UTF-8 (NUL included, escaped), else base64.
         * A message the source cut (replay: longer than max_message_bytes) is
         * marked, with its length; its kept bytes end on a character boundary. */
        size_t n = r->len;
        if (r->dropped) {
                size_t cut = cf_utf8_prefix(r->data, r->len, r->len);
                if (cf_utf8_valid(r->data, cut)) n = cut;
        }
        if (cf_utf8_valid(r->data, n)) {
                cf_buf_puts(o, ",\"payload\":");
                cf_json_str(o, r->data, n);
        } else {
                cf_buf_puts(o, ",\"payload_base64\":");
                cf_json_base64(o, (const unsigned char *)r->data, n);
        }
        if (r->dropped)
                cf_buf_printf(o, ",\"payload_truncated\":true,\"original_bytes\":%llu",
                              (unsigned long long)(r->len + r->dropped));
        cf_buf_putc(o, '}');
}

static int encode_process(cf_stage *st, cf_batch *b)
{
        (void)st;
        for (size_t i = 0; i < b->n; i++) {
                const cf_record *r = &b->recs[i];
                if (r->status != CF_REC_OK || !r->flagged) continue;
                cf_buf *o = cf_batch_out_begin(b, CF_OUT_FLAG, r->src.partition,
                                               r->decl.declaration_id.p,
                                               r->decl.declaration_id.n);
                cf_encode_flag(o, r, b->now_ms, CF_VERSION);
                cf_batch_out_end(b);
        }
        return 0;
}

const cf_stage_plugin cf_stage_encode = {
    .name = "encode",
    .description = "flagged records -> flag messages with score, reasons and evidence",
    .process = encode_process,
};
