/*
 * decode.c - the decode stage: JSON line -> validated cf_decl.
 *
 * simdjson's DOM is the fast path (decode_simd.cpp); whatever it refuses, and
 * everything with parser: jsmn, takes the exact path (decode_syntax.c: bytes,
 * depth, jsmn tokens), then the field checks of DESIGN §3 (decode_fields.c),
 * the event-time range and the USD conversion. Nothing allocates per record
 * except unescaped strings and messages, which go to the batch arena.
 */
#define JSMN_PARENT_LINKS /* token layout: must match decode_syntax.c */
#define JSMN_HEADER
#include <jsmn.h>
#undef JSMN_HEADER

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/core/stage.h"
#include "pipeline/core/utf8.h"
#include "stages/decode/decode.h"
#include "stages/decode/decode_fields.h"
#include "stages/decode/decode_syntax.h"
#ifdef CF_HAVE_SIMDJSON
#include "stages/decode/decode_simd.h"
#endif
#include "stages/decode/fx.h"

/* clang-format off */
const char *const cf_decode_codes[] = {
    CF_E_OVERSIZE,   CF_E_EMPTY,       CF_E_NUL,           CF_E_UTF8,        CF_E_CONTROL,
    CF_E_TOO_DEEP,   CF_E_TRUNCATED,   CF_E_NUMBER,        CF_E_MALFORMED,   CF_E_TOO_MANY_TOKENS,
    CF_E_NOT_OBJECT, CF_E_ESCAPE,      CF_E_DUPLICATE_KEY, CF_E_WRONG_TYPE,  CF_E_MISSING,
    CF_E_EMPTY_VALUE, CF_E_TOO_LONG,   CF_E_RANGE,         CF_E_NOT_INTEGER, CF_E_DATE,
    CF_E_HS,         CF_E_COUNTRY,     CF_E_CURRENCY,      CF_E_UNIT,        CF_E_ENUM,
    CF_E_LOCODE,     CF_E_CONTAINER,   CF_E_IMO,           CF_E_TOO_MANY_TRANSIT, CF_E_MASS,
    CF_E_TIME_RANGE, CF_E_FX,          NULL,
};
/* clang-format on */

typedef struct decode_cfg {
        int64_t max_message_bytes, max_depth, max_tokens, max_string_bytes, max_id_bytes,
            max_attributes;
        int64_t max_future_skew_ms;
        char *min_event_time;
        char *fx_rates;
        char *parser;
} decode_cfg;

static const cf_config_map decode_map[] = {
    /* The bounds keep the cost of one message small whatever the config: work
     * is linear in its bytes, and jsmn's closing brackets cost up to max_depth. */
    {CF_CFG_SIZE, "max_message_bytes", "64KiB", offsetof(decode_cfg, max_message_bytes),
     "Messages longer than this are dead-lettered as oversize_message (replay reads at most "
     "this much of a line)",
     2, 4 << 20},
    {CF_CFG_INT, "max_depth", "16", offsetof(decode_cfg, max_depth),
     "Deepest nesting of objects and arrays accepted (the declaration object is 1, "
     "transit_countries 2)",
     2, 64},
    {CF_CFG_INT, "max_tokens", "2048", offsetof(decode_cfg, max_tokens),
     "Most JSON values (keys, strings, numbers, containers) in one message", 64, 1 << 20},
    {CF_CFG_INT, "max_string_bytes", "4096", offsetof(decode_cfg, max_string_bytes),
     "Longest free-text string (goods_description etc.)", 16, 1 << 20},
    {CF_CFG_INT, "max_id_bytes", "128", offsetof(decode_cfg, max_id_bytes),
     "Longest party/document identifier (exporter_id, certificate_of_origin...)", 8, 4096},
    {CF_CFG_INT, "max_attributes", "32", offsetof(decode_cfg, max_attributes),
     "Most members of the optional `attributes` object (agency-specific fields)", 1,
     CF_JV_MAX_MEMBERS},
    {CF_CFG_DURATION, "max_future_skew", "1d", offsetof(decode_cfg, max_future_skew_ms),
     "A record whose event_time is further ahead of the reference time is dead-lettered "
     "(event_time_out_of_range): the wall clock in the service; in replay the highest event "
     "time accepted so far in the partition, or the wall clock when later; 0 = no bound",
     0, 3650.0 * 86400000},
    {CF_CFG_STR, "min_event_time", "1970-01-01T00:00:00Z", offsetof(decode_cfg, min_event_time),
     "Records with an earlier event_time (RFC 3339) are dead-lettered (event_time_out_of_range)"},
    {CF_CFG_PATH, "fx_rates", "reference/fx_rates.csv", offsetof(decode_cfg, fx_rates),
     "CSV currency,period,usd_per_unit used to convert customs_value to USD"},
    {CF_CFG_STR, "parser", "simdjson", offsetof(decode_cfg, parser),
     "simdjson (fast path, jsmn classifies what it rejects) or jsmn (jsmn only); same results"},
    {0},
};

typedef struct decode_ctx {
        decode_cfg cfg;
        jsmntok_t *toks;
        cf_fx_table *fx;
        cf_field_index fields;
#ifdef CF_HAVE_SIMDJSON
        cf_simd *simd;
#endif
        int64_t min_event_ms;
        int64_t *hi; /* replay: per partition, the highest event time accepted (INT64_MIN: none) */
        size_t n_hi;
        cf_series *by_code[64]; /* dead letters per code (cf_decode_codes order) */
        cf_series *fast, *slow; /* records decoded by the simdjson / jsmn path */
        cf_series *outcomes, *outcome_by_code[64]; /* the outcomes input */
} decode_ctx;

/* ---- event-time plausibility (one far-future line must not blind a partition) ---- */

/* The highest event time accepted in partition p (replay), growing the table. */
static int64_t *part_hi(decode_ctx *x, int32_t p)
{
        size_t i = p > 0 ? (size_t)p : 0;
        if (i >= x->n_hi) {
                size_t n = i + 16;
                int64_t *v = realloc(x->hi, n * sizeof(*v));
                if (!v) abort();
                for (size_t k = x->n_hi; k < n; k++)
                        v[k] = INT64_MIN;
                x->hi = v;
                x->n_hi = n;
        }
        return &x->hi[i];
}

/* "1d", "36h", "90m", "15s" or "250ms": the largest unit that divides ms. */
static void fmt_duration(char *o, size_t n, int64_t ms)
{
        static const struct {
                int64_t ms;
                const char *unit;
        } u[] = {{86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}, {1, "ms"}};
        for (size_t i = 0; i < 5; i++)
                if (ms % u[i].ms == 0) {
                        snprintf(o, n, "%lld%s", (long long)(ms / u[i].ms), u[i].unit);
                        return;
                }
}

/* Dead-letters r when its event time is before min_event_time or more than
 * max_future_skew ahead of the reference: the batch's wall clock (service),
 * or in replay the highest event time accepted so far in the partition when
 * that is later (so replaying old files gives the same result whenever it
 * runs, and future-dated test data moves the reference forward as it goes). */
static int check_event_time(decode_ctx *x, cf_batch *b, cf_record *r)
{
        int64_t t = r->decl.event_time_ms, ref = b->now_ms;
        char ts[48], rs[48], sk[32];
        if (t < x->min_event_ms) {
                ts[cf_fmt_time(ts, t, 0)] = '\0';
                rs[cf_fmt_time(rs, x->min_event_ms, 0)] = '\0';
                cf_record_dead_letter(b, r, CF_E_TIME_RANGE,
                                      "event_time: %s is before min_event_time %s", ts, rs);
                return -1;
        }
        if (!x->cfg.max_future_skew_ms) return 0;
        const char *what = "the wall clock";
        if (b->replay) {
                int64_t hi = *part_hi(x, r->src.partition);
                if (hi > ref) ref = hi, what = "the highest event time so far";
        }
        if (ref <= 0 || t - ref <= x->cfg.max_future_skew_ms) return 0; /* no clock: no bound */
        ts[cf_fmt_time(ts, t, 0)] = '\0';
        rs[cf_fmt_time(rs, ref, 0)] = '\0';
        fmt_duration(sk, sizeof(sk), x->cfg.max_future_skew_ms);
        cf_record_dead_letter(b, r, CF_E_TIME_RANGE,
                              "event_time: %s is more than %s ahead of %s (%s)", ts, sk, rs, what);
        return -1;
}

/* After the fields: event-time range, then the USD conversion. */
static int decode_finish(decode_ctx *x, cf_batch *b, cf_record *r)
{
        if (check_event_time(x, b, r)) return -1;
        return cf_fx_convert(x->fx, b, r);
}

/* Size and emptiness: the checks before any parsing; -1 if dead-lettered. */
static int precheck(decode_ctx *x, cf_batch *b, cf_record *r)
{
        if (r->dropped || r->len > (size_t)x->cfg.max_message_bytes) {
                cf_record_dead_letter(b, r, CF_E_OVERSIZE, "message is %llu bytes, limit %lld",
                                      (unsigned long long)(r->len + r->dropped),
                                      (long long)x->cfg.max_message_bytes);
                return -1;
        }
        size_t i = 0;
        while (i < r->len && cf_json_ws(r->data[i])) i++;
        if (i == r->len) {
                cf_record_dead_letter(b, r, CF_E_EMPTY, "empty message");
                return -1;
        }
        return 0;
}

/* The exact path: bytes, then jsmn's tokens; token count or -1 if dead-lettered. */
static int exact_tokens(decode_ctx *x, cf_batch *b, cf_record *r)
{
        return cf_decode_syntax(b, r, x->toks, (int)x->cfg.max_tokens, (int)x->cfg.max_depth);
}

static cf_field_limits limits(const decode_ctx *x)
{
        return (cf_field_limits){.max_string = (uint32_t)x->cfg.max_string_bytes,
                                 .max_id = (uint32_t)x->cfg.max_id_bytes,
                                 .max_attributes = (uint32_t)x->cfg.max_attributes};
}

static int decode_one(decode_ctx *x, cf_batch *b, cf_record *r)
{
        if (precheck(x, b, r)) return -1;
        cf_field_limits lim = limits(x);
#ifdef CF_HAVE_SIMDJSON
        /* Fast path for valid JSON; whatever simdjson rejects takes the exact path. */
        int rc = x->simd ? cf_simd_decode(x->simd, &x->fields, &lim, b, r,
                                          (size_t)x->cfg.max_tokens)
                         : -1;
        if (rc >= 0) {
                cf_counter_inc(x->fast);
                return rc ? -1 : decode_finish(x, b, r);
        }
        memset(&r->decl, 0, sizeof(r->decl));
#endif
        cf_counter_inc(x->slow);
        int nt = exact_tokens(x, b, r);
        if (nt < 0) return -1;
        if (cf_decode_fields(&x->fields, &lim, b, r, x->toks, nt)) return -1;
        return decode_finish(x, b, r);
}

/* Set the id hashes detect and aggregate key their state by, or count the code. */
static void decoded(decode_ctx *x, cf_record *r, int rc, cf_series **by_code)
{
        if (rc == 0) {
                /* hashed once here, while the text is in cache */
                cf_decl *d = &r->decl;
                d->exporter_h = cf_id_hash(d->exporter_id.p, d->exporter_id.n);
                d->importer_h = cf_id_hash(d->importer_id.p, d->importer_id.n);
                return;
        }
        for (int c = 0; cf_decode_codes[c] && c < 64; c++)
                if (!strcmp(cf_decode_codes[c], r->err_code)) cf_counter_inc(by_code[c]);
}

static int decode_process(cf_stage *st, cf_batch *b)
{
        decode_ctx *x = st->ctx;
        for (size_t i = 0; i < b->n; i++) {
                cf_record *r = &b->recs[i];
                if (r->status != CF_REC_OK) continue;
                int rc = decode_one(x, b, r);
                decoded(x, r, rc, x->by_code);
                if (rc == 0 && b->replay) { /* the replay reference of event time */
                        int64_t *hi = part_hi(x, r->src.partition);
                        if (r->decl.event_time_ms > *hi) *hi = r->decl.event_time_ms;
                }
        }
        return 0;
}

/* An outcome message: envelope and nested declaration (decode_outcome.c). */
static int decode_outcome(decode_ctx *x, cf_batch *b, cf_record *r)
{
        if (precheck(x, b, r)) return -1;
        cf_field_limits lim = limits(x);
        int nt = exact_tokens(x, b, r);
        if (nt < 0) return -1;
        if (cf_decode_outcome(&x->fields, &lim, b, r, x->toks, nt)) return -1;
        return cf_fx_convert(x->fx, b, r);
}

/* The outcomes input: every record is an outcome message. */
static int decode_learn(cf_stage *st, cf_batch *b)
{
        decode_ctx *x = st->ctx;
        for (size_t i = 0; i < b->n; i++) {
                cf_record *r = &b->recs[i];
                if (r->status != CF_REC_OK) continue;
                cf_counter_inc(x->outcomes);
                decoded(x, r, decode_outcome(x, b, r), x->outcome_by_code);
        }
        return 0;
}

static void declare_metrics(decode_ctx *x, cf_metrics *m)
{
        cf_metric *f = cf_metrics_counter(m, "customsflow_decode_records_total",
                                          "records decoded, per parser path (simdjson: fast "
                                          "path; jsmn: what simdjson rejected, or parser: jsmn)",
                                          "path");
        x->fast = cf_metric_series(f, "simdjson");
        x->slow = cf_metric_series(f, "jsmn");
        f = cf_metrics_counter(m, "customsflow_decode_dead_letters_total",
                               "records the decoder dead-lettered, per error code", "code");
        for (int c = 0; cf_decode_codes[c] && c < 64; c++)
                x->by_code[c] = cf_metric_series(f, cf_decode_codes[c]);
        /* every worker reads every outcome: one worker's count, not their sum */
        x->outcomes = cf_metric_series(
            cf_metrics_counter_replicated(m, "customsflow_decode_outcomes_total",
                                          "inspection outcome messages decoded", NULL));
        f = cf_metrics_counter_replicated(m, "customsflow_decode_outcome_dead_letters_total",
                                          "inspection outcome messages refused, per error code",
                                          "code");
        for (int c = 0; cf_decode_codes[c] && c < 64; c++)
                x->outcome_by_code[c] = cf_metric_series(f, cf_decode_codes[c]);
}

/* Settings that need more than the config map: the parser name, min_event_time. */
static int check_cfg(const decode_cfg *c, int64_t *min_ms, char *errstr, size_t errstr_size)
{
        if (strcmp(c->parser, "simdjson") && strcmp(c->parser, "jsmn")) {
                snprintf(errstr, errstr_size, "stages.decode.parser: '%s' is not simdjson or jsmn",
                         c->parser);
                return -1;
        }
        if (cf_parse_rfc3339(c->min_event_time, strlen(c->min_event_time), min_ms)) {
                snprintf(errstr, errstr_size,
                         "stages.decode.min_event_time: '%s' is not an RFC 3339 date-time",
                         c->min_event_time);
                return -1;
        }
        return 0;
}

#ifdef CF_HAVE_SIMDJSON
/* simdjson's nesting limit counts a scalar as one level below its container:
 * set to max_depth, whatever it accepts is within max_depth (raw_depth), and
 * what it refuses goes to the jsmn path, which makes the exact call. */
static cf_simd *simd_new(const decode_cfg *c)
{
        return cf_simd_new((size_t)c->max_message_bytes, (size_t)c->max_depth);
}
#endif

static int decode_init(cf_stage *st, const cf_stage_env *env, char *errstr, size_t errstr_size)
{
        decode_ctx *x = calloc(1, sizeof(*x));
        st->ctx = x;
        declare_metrics(x, env->metrics);
        if (cf_config_map_apply(decode_map, "stages.decode", env->cfg, env->base_dir, &x->cfg,
                                errstr, errstr_size) ||
            check_cfg(&x->cfg, &x->min_event_ms, errstr, errstr_size))
                return -1;
        x->toks = malloc(sizeof(jsmntok_t) * (size_t)x->cfg.max_tokens);
        cf_field_index_init(&x->fields);
#ifdef CF_HAVE_SIMDJSON
        if (!strcmp(x->cfg.parser, "simdjson") && !(x->simd = simd_new(&x->cfg))) {
                snprintf(errstr, errstr_size, "stages.decode: cannot allocate the JSON parser");
                return -1;
        }
#endif
        x->fx = cf_fx_load(x->cfg.fx_rates, errstr, errstr_size);
        return x->fx ? 0 : -1;
}

static int decode_reload(cf_stage *st, const cf_stage_env *env, char *errstr, size_t errstr_size)
{
        decode_ctx *x = st->ctx;
        decode_cfg nc = {0};
        int64_t min_ms;
        cf_fx_table *fx = NULL;
        if (cf_config_map_apply(decode_map, "stages.decode", env->cfg, env->base_dir, &nc, errstr,
                                errstr_size) ||
            check_cfg(&nc, &min_ms, errstr, errstr_size) ||
            !(fx = cf_fx_load(nc.fx_rates, errstr, errstr_size))) {
                cf_config_map_free(decode_map, &nc);
                return -1;
        }
#ifdef CF_HAVE_SIMDJSON
        /* the parser's limits follow the config (size, depth, which parser) */
        cf_simd *simd = strcmp(nc.parser, "simdjson") ? NULL : simd_new(&nc);
        if (!strcmp(nc.parser, "simdjson") && !simd) {
                snprintf(errstr, errstr_size, "stages.decode: cannot allocate the JSON parser");
                cf_fx_free(fx);
                cf_config_map_free(decode_map, &nc);
                return -1;
        }
        cf_simd_free(x->simd);
        x->simd = simd;
#endif
        /* Token limits need a new array; keep the old size if it did not change. */
        if (nc.max_tokens != x->cfg.max_tokens) {
                free(x->toks);
                x->toks = malloc(sizeof(jsmntok_t) * (size_t)nc.max_tokens);
        }
        cf_fx_free(x->fx);
        x->fx = fx;
        cf_config_map_free(decode_map, &x->cfg);
        x->cfg = nc;
        x->min_event_ms = min_ms;
        return 0;
}

size_t cf_decode_max_message_bytes(const cf_stage *st)
{
        const decode_ctx *x = st->ctx;
        return (size_t)x->cfg.max_message_bytes;
}

static void decode_destroy(cf_stage *st)
{
        decode_ctx *x = st->ctx;
        if (!x) return;
        cf_config_map_free(decode_map, &x->cfg);
        cf_fx_free(x->fx);
        free(x->toks);
        free(x->hi);
#ifdef CF_HAVE_SIMDJSON
        cf_simd_free(x->simd);
#endif
        free(x);
        st->ctx = NULL;
}

const cf_stage_plugin cf_stage_decode = {
    .name = "decode",
    .description = "JSON declaration line -> validated record; bad input dead-lettered with a "
                   "stable code",
    .config_map = decode_map,
    .init = decode_init,
    .process = decode_process,
    .reload = decode_reload,
    .destroy = decode_destroy,
    .learn = decode_learn,
};
