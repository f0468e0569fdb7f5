/*
 * utf8.h - UTF-8 validation (simdjson's SIMD validator when the build has it,
 * one scalar pass for the position of an error), UTF-8-safe truncation, and
 * escaping of text shown on a terminal.
 */
#ifndef CF_UTF8_H
#define CF_UTF8_H

#include <stddef.h>

#include "pipeline/core/buf.h"

/** Is s (n bytes) valid UTF-8 (no overlong forms, surrogates or code points past U+10FFFF)? */
int cf_utf8_valid(const char *s, size_t n);
/** Offset of the first byte of the first invalid UTF-8 sequence in s, n when s is valid. */
size_t cf_utf8_error_at(const char *s, size_t n);
/** Length of the first min(n, max) bytes of s less a multi-byte character cut short at
 * their end (reads no byte past them). */
size_t cf_utf8_prefix(const char *s, size_t n, size_t max);
/** Replace every byte that starts no valid UTF-8 sequence with '?', in place. */
void cf_utf8_sanitize(char *s, size_t n);
/** Append s (n bytes) for a terminal: control characters (C0, DEL, C1) and invalid
 * UTF-8 written as \xNN, so text from input cannot move the cursor or set a title. */
void cf_term_escape(cf_buf *b, const char *s, size_t n);

#endif
