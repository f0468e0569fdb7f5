/*
 * decode_fields.h - the declaration's fields (DESIGN §3) checked over jsmn tokens.
 */
#ifndef CF_DECODE_FIELDS_H
#define CF_DECODE_FIELDS_H

#define JSMN_PARENT_LINKS /* token layout must match stages/decode.c */
#define JSMN_HEADER
#include <jsmn.h>
#undef JSMN_HEADER

#include <stdint.h>

#include "pipeline/core/batch.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A JSON value as the field checks see it, from either parser. */
typedef enum cf_jv_type {
        CF_JV_STRING,
        CF_JV_NUMBER,
        CF_JV_TRUE,
        CF_JV_FALSE,
        CF_JV_NULL,
        CF_JV_ARRAY,
        CF_JV_OBJECT,
} cf_jv_type;

#define CF_JV_MAX_ITEMS 9 /* array elements kept: enough to see CF_MAX_TRANSIT + 1 */
#define CF_JV_MAX_MEMBERS 64 /* object members kept (attributes; max_attributes <= this) */

typedef struct cf_jv {
        cf_jv_type type;
        const char *s; /* STRING: unescaped bytes (may hold NUL from \u0000) */
        uint32_t n;
        int s_volatile; /* STRING: bytes die with the parser, copy to keep */
        double num;     /* NUMBER */
        const char *raw; /* NUMBER: source text when known (for messages), else NULL */
        uint32_t raw_n;
        uint32_t n_items;          /* ARRAY/OBJECT: element or member count */
        const struct cf_jv *items; /* ARRAY: the first min(n_items, CF_JV_MAX_ITEMS);
                                      OBJECT (members wanted): the first CF_JV_MAX_MEMBERS */
        const cf_str *keys;        /* OBJECT (members wanted): member names, unescaped */
        int keys_volatile;         /* keys die with the parser, copy to keep */
        int nul_free;              /* strings and keys: no NUL (the message has no \u0000) */
} cf_jv;

/** Key -> field id lookup built once per stage (no global mutable state). */
typedef struct cf_field_index {
        int8_t slot[256];
        uint8_t len[64]; /* length of each field name */
} cf_field_index;

/** Limits that come from the decode config. */
typedef struct cf_field_limits {
        uint32_t max_string, max_id, max_attributes;
} cf_field_limits;

/** The value of four hex digits (a \\u escape jsmn has checked). */
uint32_t cf_json_hex4(const char *s);
/** Build the key lookup table. */
void cf_field_index_init(cf_field_index *ix);
/** Does the field named key take an object whose members the caller must list (attributes)? */
int cf_field_wants_members(const cf_field_index *ix, const char *key, size_t key_len);
/** Fill r->decl from the tokens of a syntactically valid object; -1 if dead-lettered. */
int cf_decode_fields(const cf_field_index *ix, const cf_field_limits *lim, cf_batch *b,
                     cf_record *r, const jsmntok_t *t, int nt);
/** A copy of n bytes of src in b's arena (what the simdjson path keeps of a message). */
char *cf_decode_keep(cf_batch *b, const void *src, size_t n);
/** Check one top-level key/value into r->decl (seen tracks known keys); -1 if dead-lettered. */
int cf_decode_field(const cf_field_index *ix, const cf_field_limits *lim, cf_batch *b,
                    cf_record *r, const char *key, size_t key_len, const cf_jv *v,
                    uint64_t *seen);
/** Fill r->outcome and r->decl from the tokens of an outcome message
 * (schemas/outcome.schema.json, decode_outcome.c); -1 if dead-lettered. */
int cf_decode_outcome(const cf_field_index *ix, const cf_field_limits *lim, cf_batch *b,
                      cf_record *r, const jsmntok_t *t, int nt);
/** A jsmn token of r->data -> cf_jv (containers: type only); 0 (decode.c's walk has already
 * refused bad escapes). */
int cf_jv_of_token(cf_batch *b, cf_record *r, const jsmntok_t *t, const char *key, cf_jv *out);
/** Index of the token after the value at token i and its subtree. */
int cf_tok_skip(const jsmntok_t *t, int i);
/** After every field: required fields present, cross-field checks; -1 if dead-lettered. */
int cf_decode_fields_end(cf_batch *b, cf_record *r, uint64_t seen);

#ifdef __cplusplus
}
#endif

#endif
