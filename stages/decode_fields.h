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

#include "pipeline/batch.h"

/** Key -> field id lookup built once per stage (no global mutable state). */
typedef struct cf_field_index {
        int8_t slot[256];
        uint8_t len[64]; /* length of each field name */
} cf_field_index;

/** Limits that come from the decode config. */
typedef struct cf_field_limits {
        uint32_t max_string, max_id;
} cf_field_limits;

/** Build the key lookup table. */
void cf_field_index_init(cf_field_index *ix);
/** Fill r->decl from the tokens of a syntactically valid object; -1 if dead-lettered. */
int cf_decode_fields(const cf_field_index *ix, const cf_field_limits *lim, cf_batch *b,
                     cf_record *r, const jsmntok_t *t, int nt);

#endif
