/*
 * decode.h - JSON declaration line -> validated cf_decl (DESIGN §3, §5.1).
 *
 * Every failure dead-letters the record with one of the stable codes below and
 * a message naming the field. schemas/dead-letter.schema.json lists the same
 * codes; tests/unit/test_decode.c checks every file in schemas/examples/.
 */
#ifndef CF_DECODE_H
#define CF_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "pipeline/core/batch.h"

/* Stable dead-letter codes, in the order the decoder checks them. */
#define CF_E_OVERSIZE "oversize_message"       /* longer than max_message_bytes */
#define CF_E_EMPTY "empty_message"             /* empty or whitespace only */
#define CF_E_NUL "nul_byte"                    /* a NUL byte anywhere */
#define CF_E_UTF8 "invalid_utf8"               /* not valid UTF-8 */
#define CF_E_CONTROL "control_character"       /* raw control character in a string */
#define CF_E_TOO_DEEP        "too_deep" /* objects/arrays nested deeper than max_depth */
#define CF_E_TRUNCATED "truncated_json"        /* JSON ends early */
#define CF_E_NUMBER "invalid_number"           /* NaN, Infinity, 01, 1., .5, 1e */
#define CF_E_MALFORMED       "malformed_json"           /* any other JSON syntax error */
#define CF_E_TOO_MANY_TOKENS "too_many_tokens" /* more than max_tokens JSON values */
#define CF_E_NOT_OBJECT      "not_an_object"   /* top-level value is not an object (`1`, `[]`) */
#define CF_E_ESCAPE                                                                                \
        "invalid_escape" /* \u escape leaving a surrogate unpaired, in any                         \
                            string, key or value, known field or not */
#define CF_E_DUPLICATE_KEY "duplicate_key"     /* a known field appears twice */
#define CF_E_WRONG_TYPE "wrong_type"           /* e.g. quantity as a string */
#define CF_E_MISSING "missing_field"           /* required field absent or null */
#define CF_E_EMPTY_VALUE "empty_value"         /* required string is "" */
#define CF_E_TOO_LONG "string_too_long"        /* string over its limit */
#define CF_E_RANGE "out_of_range"              /* negative quantity, line 0, 1e400 ... */
#define CF_E_NOT_INTEGER "not_an_integer"      /* line/amendment with a fraction */
#define CF_E_DATE "invalid_date"               /* event_time not RFC 3339 / impossible */
#define CF_E_HS "invalid_hs_code"              /* not 6-10 digits */
#define CF_E_COUNTRY "invalid_country"         /* not an ISO 3166-1 alpha-2 code */
#define CF_E_CURRENCY "invalid_currency"       /* not three upper-case letters */
#define CF_E_UNIT "invalid_unit"               /* not a UN/ECE Rec. 20 code shape */
#define CF_E_ENUM "invalid_enum"               /* direction not import/export */
#define CF_E_LOCODE "invalid_locode"           /* port not a UN/LOCODE */
#define CF_E_CONTAINER "invalid_container_id"  /* not ISO 6346 shape AAAU1234567 */
#define CF_E_IMO "invalid_vessel_imo"          /* not 7 digits (optionally IMO prefix) */
#define CF_E_TOO_MANY_TRANSIT "too_many_transit_countries"
#define CF_E_MASS "inconsistent_mass"         /* net_mass_kg > gross_mass_kg */
#define CF_E_TIME_RANGE                                                                            \
        "event_time_out_of_range"             /* before min_event_time, or further than            \
                                                 max_future_skew ahead of the reference */
#define CF_E_FX "unknown_currency_rate"       /* no fx rate for currency and month */

struct cf_stage;
/** The decode stage's max_message_bytes (replay reads no more of a line). */
size_t cf_decode_max_message_bytes(const struct cf_stage *st);

/** Every code above, NULL-terminated (for docs, schema and tests). */
extern const char *const cf_decode_codes[];

/** Is "AB" an assigned ISO 3166-1 alpha-2 code (plus XK, used by customs)? */
int cf_iso_country_valid(const char *p, size_t n);
/** Parse RFC 3339 (T, t or space separator; Z or +hh:mm offset) to epoch ms; -1 if invalid. */
int cf_parse_rfc3339(const char *s, size_t n, int64_t *epoch_ms);
/** Year*100+month (UTC) of an epoch-ms time. */
int cf_epoch_ms_yyyymm(int64_t epoch_ms);

#endif
