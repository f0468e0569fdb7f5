// simdjson_shim.cpp - a C interface to simdjson's DOM parser: the parse-only yardstick of
// bench_decode and `customsflow bench` (issue 15: keep it here, a few lines).
#include <simdjson.h>

#include <cstddef>

extern "C" {
#include "bench/yardstick.h"
}

extern "C" {

struct cf_simdjson {
        simdjson::dom::parser parser;
};

cf_simdjson *cf_simdjson_new(void)
{
        return new cf_simdjson();
}

// Parse one document; returns 0 when valid JSON. simdjson needs SIMDJSON_PADDING
// readable bytes after the input, so callers pass a padded buffer.
int cf_simdjson_parse(cf_simdjson *s, const char *p, size_t n)
{
        simdjson::dom::element doc;
        return s->parser.parse(p, n, false).get(doc) == simdjson::SUCCESS ? 0 : -1;
}

void cf_simdjson_free(cf_simdjson *s)
{
        delete s;
}
}
