/*
 * decode_simd.h - fast path of the decode stage: simdjson (C++, Debian
 * libsimdjson-dev) behind a C interface. It only handles messages simdjson
 * accepts as valid JSON; anything it rejects goes to the jsmn path in
 * decode.c, which classifies the error precisely. Field checks are shared
 * (decode_fields.c), so both paths give the same result.
 */
#ifndef CF_DECODE_SIMD_H
#define CF_DECODE_SIMD_H

#include <stddef.h>

#include "pipeline/core/batch.h"
#include "stages/decode/decode_fields.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cf_simd cf_simd;

/** A parser for messages up to max_bytes with nesting up to max_depth; NULL on error. */
cf_simd *cf_simd_new(size_t max_bytes, size_t max_depth);
/**
 * Decode r with simdjson: 0 = fields decoded, 1 = valid JSON but a field check
 * dead-lettered r, -1 = simdjson rejected it or it has more than max_values
 * values (the caller must use the exact jsmn path).
 */
int cf_simd_decode(cf_simd *s, const cf_field_index *ix, const cf_field_limits *lim,
                   cf_batch *b, cf_record *r, size_t max_values);
/** Free the parser. */
void cf_simd_free(cf_simd *s);

#ifdef __cplusplus
}
#endif

#endif
