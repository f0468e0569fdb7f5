/*
 * batch.c - batches, records and outputs.
 */
#include "pipeline/core/batch.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/core/utf8.h"

static void *xrealloc(void *p, size_t n)
{
        void *q = realloc(p, n);
        if (!q && n) {
                fprintf(stderr, "customsflow: out of memory (%zu bytes)\n", n);
                abort();
        }
        return q;
}

void cf_batch_init(cf_batch *b, size_t cap)
{
        memset(b, 0, sizeof(*b));
        b->cap = cap ? cap : 1024;
        b->recs = xrealloc(NULL, b->cap * sizeof(*b->recs));
        cf_arena_init(&b->arena, 1 << 20);
}

void cf_batch_reset(cf_batch *b)
{
        b->n = 0;
        b->n_outs = 0;
        cf_buf_reset(&b->out);
        cf_arena_reset(&b->arena);
}

void cf_batch_destroy(cf_batch *b)
{
        free(b->recs);
        free(b->outs);
        cf_buf_free(&b->out);
        cf_arena_destroy(&b->arena);
        memset(b, 0, sizeof(*b));
}

cf_record *cf_batch_add(cf_batch *b, const char *data, size_t len)
{
        if (b->n == b->cap) return NULL;
        cf_record *r = &b->recs[b->n++];
        memset(r, 0, sizeof(*r));
        r->data = data;
        r->len = len;
        return r;
}

void cf_record_dead_letter(cf_batch *b, cf_record *r, const char *code, const char *fmt, ...)
{
        char tmp[512];
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
        va_end(ap);
        if (n < 0) n = 0;
        /* cut on a character boundary, and never let a byte that is not UTF-8
         * into the message: it goes into JSON (replay's DLQ) and Kafka headers */
        n = (int)cf_utf8_prefix(tmp, (size_t)n, sizeof(tmp) - 1);
        cf_utf8_sanitize(tmp, (size_t)n);
        r->status = CF_REC_DEAD_LETTER;
        r->err_code = code;
        r->err_msg = cf_arena_strndup(&b->arena, tmp, (size_t)n);
}

cf_reason *cf_record_add_reason(cf_batch *b, cf_record *r, uint16_t rule_ix, const char *rule,
                                double weight, const char *evidence, size_t evidence_len)
{
        if (r->n_reasons == r->cap_reasons) {
                uint16_t cap = r->cap_reasons ? (uint16_t)(r->cap_reasons * 2) : 4;
                cf_reason *nr = cf_arena_alloc(&b->arena, cap * sizeof(*nr));
                if (r->n_reasons) memcpy(nr, r->reasons, r->n_reasons * sizeof(*nr));
                r->reasons = nr;
                r->cap_reasons = cap;
        }
        cf_reason *re = &r->reasons[r->n_reasons++];
        *re = (cf_reason){.rule = rule, .rule_ix = rule_ix, .weight = weight};
        re->evidence =
            cf_arena_strndup(&b->arena, evidence ? evidence : "{}", evidence ? evidence_len : 2);
        re->evidence_len = evidence ? (uint32_t)evidence_len : 2;
        return re;
}

void cf_reason_explain(cf_batch *b, cf_reason *re, const char *text, size_t n)
{
        re->explanation = cf_arena_strndup(&b->arena, text, n);
        re->explanation_len = (uint32_t)n;
}

cf_buf *cf_batch_out_begin(cf_batch *b, cf_out_kind kind, int32_t partition, const char *key,
                           size_t key_len)
{
        if (b->n_outs == b->cap_outs) {
                b->cap_outs = b->cap_outs ? b->cap_outs * 2 : 256;
                b->outs = xrealloc(b->outs, b->cap_outs * sizeof(*b->outs));
        }
        cf_output *o = &b->outs[b->n_outs];
        o->kind = kind;
        o->partition = partition;
        o->key_off = b->out.len;
        o->key_len = key_len;
        if (key_len) cf_buf_put(&b->out, key, key_len);
        o->val_off = b->out.len;
        o->val_len = 0;
        return &b->out;
}

void cf_batch_out_end(cf_batch *b)
{
        cf_output *o = &b->outs[b->n_outs++];
        o->val_len = b->out.len - o->val_off;
}
