/*
 * yardstick.h - the parse-only yardstick (bench/simdjson_shim.cpp): a simdjson
 * DOM parse of one document, behind C functions, for bench_decode and
 * `customsflow bench` (issue 15: the throughput targets are ratios to it).
 */
#ifndef CF_YARDSTICK_H
#define CF_YARDSTICK_H

#include <stddef.h>

typedef struct cf_simdjson cf_simdjson;

/** A parser. */
cf_simdjson *cf_simdjson_new(void);
/** Parse one document (SIMDJSON_PADDING readable bytes after it); 0 when valid JSON. */
int cf_simdjson_parse(cf_simdjson *s, const char *p, size_t n);
/** Free the parser. */
void cf_simdjson_free(cf_simdjson *s);

#endif
