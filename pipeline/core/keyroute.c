/*
 * keyroute.c - keyroute.h without simdjson: jsmn finds the top-level
 * exporter_id. The string is taken as written (an id with escapes routes by its
 * escaped bytes, which only moves that exporter to another partition: results
 * stay the same for every thread count).
 */
#ifndef CF_HAVE_SIMDJSON
#define JSMN_STRICT
#define JSMN_PARENT_LINKS
#define JSMN_STATIC
#include <jsmn.h>

#include <stdlib.h>
#include <string.h>

#include "pipeline/core/chain.h"
#include "pipeline/core/keyroute.h"

enum { KR_TOKENS = 1024 };

struct cf_keyroute {
        jsmntok_t t[KR_TOKENS];
};

cf_keyroute *cf_keyroute_new(void)
{
        return calloc(1, sizeof(cf_keyroute));
}

void cf_keyroute_free(cf_keyroute *k)
{
        free(k);
}

int32_t cf_keyroute_partition(cf_keyroute *k, const char *line, size_t len, size_t readable,
                              int32_t n)
{
        (void)readable;
        if (n <= 1) return 0;
        jsmn_parser p;
        jsmn_init(&p);
        int nt = jsmn_parse(&p, line, len, k->t, KR_TOKENS);
        for (int i = 1; nt > 0 && k->t[0].type == JSMN_OBJECT && i + 1 < nt; i++) {
                const jsmntok_t *key = &k->t[i], *v = &k->t[i + 1];
                if (key->parent != 0 || key->type != JSMN_STRING) continue;
                if (key->end - key->start == 11 && !memcmp(line + key->start, "exporter_id", 11) &&
                    v->type == JSMN_STRING && v->end > v->start)
                        return cf_partition_of(line + v->start, (size_t)(v->end - v->start), n);
        }
        return cf_partition_of(line, len, n);
}
#endif
