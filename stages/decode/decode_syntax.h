/*
 * decode_syntax.h - the decode stage's exact path: bytes and JSON syntax (jsmn).
 */
#ifndef CF_DECODE_SYNTAX_H
#define CF_DECODE_SYNTAX_H

#define JSMN_PARENT_LINKS /* token layout: must match decode_syntax.c */
#define JSMN_HEADER
#include <jsmn.h>
#undef JSMN_HEADER

#include "pipeline/core/batch.h"

/** JSON whitespace (RFC 8259). */
static inline int cf_json_ws(char c)
{
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/**
 * Check r's bytes (NUL, UTF-8, control characters), nesting (at most max_depth
 * objects and arrays, linear) and JSON syntax (jsmn into toks, at most max_tokens;
 * separators, number grammar, unpaired surrogate escapes, one top-level object):
 * the token count, or -1 when r was dead-lettered with the stable code.
 */
int cf_decode_syntax(cf_batch *b, cf_record *r, jsmntok_t *toks, int max_tokens, int max_depth);

#endif
