/*
 * test_decode.c - decode stage: every example file, field values, formats.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "pipeline/core/stage.h"
#include "helpers/decode_fx.h"
#include "stages/decode/decode.h"

static int run_group(void);

typedef decode_fx fx;

#define NOW_MS 1767225600000LL /* 2026-01-01T00:00:00Z: the wall clock of these tests */

static cf_node *parser_cfg; /* stages.decode section choosing the parser */

static int setup(void **state)
{
        decode_fx *f = decode_fx_new(parser_cfg);
        if (f) f->now_ms = NOW_MS;
        *state = f;
        return f ? 0 : -1;
}

#define teardown decode_fx_teardown

static cf_record *decode(fx *f, const char *data, size_t len)
{
        return decode_fx_run(f, data, len, false);
}

static void test_valid_examples(void **state)
{
        fx *f = *state;
        DIR *d = opendir(CF_SRCDIR "/schemas/examples");
        assert_non_null(d);
        int n = 0;
        struct dirent *e;
        while ((e = readdir(d))) {
                size_t l = strlen(e->d_name);
                if (l < 5 || strcmp(e->d_name + l - 5, ".json")) continue;
                char path[1024];
                snprintf(path, sizeof(path), CF_SRCDIR "/schemas/examples/%s", e->d_name);
                char *p;
                cf_record *r = decode_fx_file(f, path, false, &p);
                if (r->status != CF_REC_OK)
                        fail_msg("%s: dead-lettered %s: %s", e->d_name, r->err_code, r->err_msg);
                free(p);
                n++;
        }
        closedir(d);
        assert_true(n >= 5);
}

static void test_invalid_examples(void **state)
{
        fx *f = *state;
        char err[1024];
        int n = decode_fx_invalid_dir(f, CF_SRCDIR "/schemas/examples/invalid", false, NULL, err,
                                      sizeof err);
        if (n < 0) fail_msg("%s", err);
        struct dirent *e;
        assert_true(n >= 30);
        /* every stable code has an example */
        for (int c = 0; cf_decode_codes[c]; c++) {
                char pat[128];
                snprintf(pat, sizeof(pat), "%s__", cf_decode_codes[c]);
                DIR *d2 = opendir(CF_SRCDIR "/schemas/examples/invalid");
                int found = 0;
                while ((e = readdir(d2)))
                        found |= !strncmp(e->d_name, pat, strlen(pat));
                closedir(d2);
                if (!found) fail_msg("no invalid example for code %s", cf_decode_codes[c]);
        }
}

#define str_eq decode_fx_str_eq

static void test_full_fields(void **state)
{
        fx *f = *state;
        char *p;
        cf_record *r = decode_fx_file(f, CF_SRCDIR "/schemas/examples/full.json", false, &p);
        assert_int_equal(r->status, CF_REC_OK);
        const cf_decl *d = &r->decl;
        assert_true(str_eq(d->declaration_id, "DEC-2025-000123"));
        assert_int_equal(d->line, 1);
        assert_true(str_eq(d->hs_code, "9403500000"));
        assert_int_equal(d->hs6, 940350);
        assert_int_equal(d->origin_country, CF_CC('V', 'N'));
        assert_int_equal(d->reporter_country, CF_CC('U', 'S'));
        assert_int_equal(d->direction, 1);
        assert_string_equal(d->unit, "NMB");
        assert_string_equal(d->currency, "USD");
        assert_true(d->quantity == 120);
        assert_true(d->customs_value == 18450.0);
        assert_true(d->value_usd == 18450.0);
        assert_int_equal(d->n_transit, 1);
        assert_int_equal(d->transit[0], CF_CC('S', 'G'));
        assert_true(d->net_mass_kg == 2400.5);
        assert_true(
            str_eq(d->goods_description, "Wooden bedroom furniture: wardrobes, \"oak\" finish"));
        assert_true(d->present & CF_HAS_CERTIFICATE);
        assert_true(d->present & CF_HAS_CONTAINER);
        assert_int_equal(d->event_time_ms, 1741944600000LL); /* 2025-03-14T09:30:00Z */
        free(p);
}

/* The optional risk-model fields and the attributes object (issue 16). */
static void test_risk_fields(void **state)
{
        fx *f = *state;
        char *p;
        cf_record *r =
            decode_fx_file(f, CF_SRCDIR "/schemas/examples/risk-attributes.json", false, &p);
        assert_int_equal(r->status, CF_REC_OK);
        const cf_decl *d = &r->decl;
        assert_true(str_eq(d->customs_office, "30"));
        assert_false(d->present & CF_HAS_COURIER); /* null = absent */
        assert_true(str_eq(d->tax_type, "FEU1"));
        assert_true((d->present & CF_HAS_TAX_RATE) && d->tax_rate == 0.0);
        assert_true(str_eq(d->origin_indicator, "G"));
        assert_true(str_eq(d->process_type, "B"));
        assert_true(str_eq(d->import_type, "11"));
        assert_true(str_eq(d->import_use, "21"));
        assert_true(str_eq(d->payment_type, "11"));
        assert_true(d->present & CF_HAS_ATTRIBUTES);
        assert_int_equal(d->n_attrs, 4);
        assert_true(str_eq(d->attrs[0].key, "kcs_declaration_id"));
        assert_true(str_eq(d->attrs[0].str, "97061800"));
        assert_false(d->attrs[0].is_num);
        assert_true(str_eq(d->attrs[1].str, "red"));
        assert_true(d->attrs[2].is_num && d->attrs[2].num == 2);
        assert_true(str_eq(d->attrs[3].key, "note\xc3\xa9"));
        assert_true(str_eq(d->attrs[3].str, "\xc3\xa9t\xc3\xa9"));
        free(p);
        /* an old message (none of them) stays valid and has none */
        r = decode_fx_file(f, CF_SRCDIR "/schemas/examples/minimal.json", false, &p);
        assert_int_equal(r->status, CF_REC_OK);
        assert_int_equal(r->decl.n_attrs, 0);
        assert_int_equal(r->decl.present & (CF_HAS_TAX_RATE | CF_HAS_ATTRIBUTES), 0);
        free(p);
        const char *empty =
            "{\"declaration_id\":\"D\",\"line\":1,\"event_time\":"
            "\"2025-03-14T09:30:00Z\",\"hs_code\":\"940350\",\"origin_country\":"
            "\"CN\",\"export_country\":\"CN\",\"exporter_id\":\"e\",\"importer_id\":"
            "\"i\",\"quantity\":1,\"unit\":\"NMB\",\"customs_value\":1,"
            "\"currency\":\"USD\",\"attributes\":{}}";
        r = decode(f, empty, strlen(empty));
        assert_int_equal(r->status, CF_REC_OK);
        assert_int_equal(r->decl.n_attrs, 0);
}

static void test_escapes_and_numbers(void **state)
{
        fx *f = *state;
        const char *m = "{\"declaration_id\":\"D\\u00e9\\ud83d\\udce6\",\"line\":2,"
                        "\"event_time\":\"2025-03-14T17:30:00.250+08:00\",\"hs_code\":\"940350\","
                        "\"origin_country\":\"CN\",\"export_country\":\"VN\",\"exporter_id\":\"e\","
                        "\"importer_id\":\"i\",\"quantity\":1.5e3,\"unit\":\"KGM\","
                        "\"customs_value\":0.1,\"currency\":\"USD\",\"amendment\":null}";
        cf_record *r = decode(f, m, strlen(m));
        assert_int_equal(r->status, CF_REC_OK);
        assert_true(str_eq(r->decl.declaration_id, "D\xc3\xa9\xf0\x9f\x93\xa6"));
        assert_true(r->decl.quantity == 1500.0);
        assert_true(r->decl.customs_value == 0.1);
        assert_int_equal(r->decl.event_time_ms, 1741944600250LL);
        assert_false(r->decl.present & CF_HAS_AMENDMENT);
}

/* A minimal valid declaration with `extra` spliced in before the closing brace. */
static char *decl_with(const char *extra)
{
        static const char base[] =
            "{\"declaration_id\":\"D1\",\"line\":1,\"event_time\":\"2025-03-14T09:30:00Z\","
            "\"hs_code\":\"940350\",\"origin_country\":\"VN\",\"export_country\":\"VN\","
            "\"exporter_id\":\"e\",\"importer_id\":\"i\",\"quantity\":1,\"unit\":\"KGM\","
            "\"customs_value\":10,\"currency\":\"USD\"";
        size_t n = strlen(base) + strlen(extra) + 2;
        char *p = malloc(n);
        snprintf(p, n, "%s%s}", base, extra);
        return p;
}

/* The minimal declaration with event_time ts, in buf. */
static void decl_at(char *buf, size_t n, const char *ts)
{
        char *m = decl_with("");
        char *at = strstr(m, "2025-03-14T09:30:00Z");
        snprintf(buf, n, "%.*s%s%s", (int)(at - m), m, ts, at + 20);
        free(m);
}

static const char *code_of(fx *f, const char *msg)
{
        cf_record *r = decode(f, msg, strlen(msg));
        return r->status == CF_REC_DEAD_LETTER ? r->err_code : "ok";
}

/* Depth counts objects and arrays, the declaration being 1 (max_depth 16 by
 * default), the same on both paths: 16 levels pass, 17 do not, whether the
 * innermost array is empty or holds a scalar. simdjson used to accept 17. */
static void test_depth(void **state)
{
        fx *f = *state;
        char extra[128];
        for (int depth = 15; depth <= 17; depth++)
                for (int scalar = 0; scalar < 2; scalar++) {
                        int arrays = depth - 1, k = 0;
                        k += snprintf(extra + k, sizeof(extra) - (size_t)k, ",\"x\":");
                        for (int i = 0; i < arrays; i++)
                                extra[k++] = '[';
                        if (scalar) extra[k++] = '1';
                        for (int i = 0; i < arrays; i++)
                                extra[k++] = ']';
                        extra[k] = '\0';
                        char *m = decl_with(extra);
                        const char *want = depth <= 16 ? "ok" : CF_E_TOO_DEEP;
                        if (strcmp(code_of(f, m), want))
                                fail_msg("depth %d scalar %d: %s, want %s", depth, scalar,
                                         code_of(f, m), want);
                        free(m);
                }
}

/* Keys are compared decoded: an escaped known key is that field (both paths),
 * so beside the plain key it is a duplicate, alone it is the field. */
static void test_escaped_keys(void **state)
{
        fx *f = *state;
        char *m = decl_with(",\"origin_countr\\u0079\":\"CN\"");
        assert_string_equal(code_of(f, m), CF_E_DUPLICATE_KEY);
        free(m);
        const char *alone =
            "{\"declaration_id\":\"D1\",\"line\":1,\"event_time\":\"2025-03-14T09:30:00Z\","
            "\"hs_code\":\"940350\",\"origin_countr\\u0079\":\"CN\",\"export_country\":\"VN\","
            "\"exporter_id\":\"e\",\"importer_id\":\"i\",\"quantity\":1,\"unit\":\"KGM\","
            "\"customs_value\":10,\"currency\":\"USD\"}";
        cf_record *r = decode(f, alone, strlen(alone));
        assert_int_equal(r->status, CF_REC_OK);
        assert_int_equal(r->decl.origin_country, CF_CC('C', 'N'));
}

/* A bare scalar is a complete JSON value that is not an object. */
static void test_not_object(void **state)
{
        fx *f = *state;
        const char *const scalars[] = {"1", " 1 ", "-0.5e3", "true", "null", "\"s\"", "[]"};
        for (size_t i = 0; i < sizeof(scalars) / sizeof(*scalars); i++)
                if (strcmp(code_of(f, scalars[i]), CF_E_NOT_OBJECT))
                        fail_msg("'%s': %s", scalars[i], code_of(f, scalars[i]));
        assert_string_equal(code_of(f, "{\"a\":1"), CF_E_TRUNCATED);
        assert_string_equal(code_of(f, "tru"), CF_E_TRUNCATED);
}

/* An unpaired surrogate is a dead letter wherever it is: known or unknown
 * key, value, nested; a pair is fine everywhere. */
static void test_lone_surrogates(void **state)
{
        fx *f = *state;
        const char *const bad[] = {",\"note\":\"a\\ud800\"", ",\"n\\udc00\":1",
                                   ",\"attributes\":{\"k\":[\"\\ud800\\u0041\"]}",
                                   ",\"goods_description\":\"\\udfff\""};
        for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
                char *m = decl_with(bad[i]);
                if (strcmp(code_of(f, m), CF_E_ESCAPE)) fail_msg("%s: %s", bad[i], code_of(f, m));
                free(m);
        }
        char *m = decl_with(",\"note\":\"\\ud83d\\udce6\",\"\\ud83d\\udce6\":1");
        assert_string_equal(code_of(f, m), "ok");
        free(m);
        m = decl_with(",\"goods_description\":\"x\\ud800\"");
        cf_record *r = decode(f, m, strlen(m));
        assert_string_equal(r->err_msg, "goods_description: lone high surrogate \\uD800");
        free(m);
}

/* Error messages are valid UTF-8 even when they quote a value cut short. */
static void test_message_utf8(void **state)
{
        fx *f = *state;
        char extra[256] = ",\"reporter_country\":\"x"; /* odd: a cut at 64 splits an é */
        for (int i = 0; i < 40; i++)
                strcat(extra, "\xc3\xa9"); /* 80 bytes of é */
        strcat(extra, "\"");
        char *m = decl_with(extra);
        cf_record *r = decode(f, m, strlen(m));
        assert_string_equal(r->err_code, CF_E_COUNTRY);
        size_t n = strlen(r->err_msg);
        for (size_t i = 0; i < n;) { /* every character whole */
                unsigned char c = (unsigned char)r->err_msg[i];
                size_t l = c < 0x80 ? 1 : c >= 0xE0 ? 3 : 2;
                assert_true(i + l <= n);
                for (size_t k = 1; k < l; k++)
                        assert_true(((unsigned char)r->err_msg[i + k] & 0xC0) == 0x80);
                i += l;
        }
        free(m);
}

/* event_time plausibility: before min_event_time, or more than a day ahead of
 * the wall clock (service) / of the highest event time so far or the wall
 * clock (replay). Rejected records do not move the replay reference. */
static void test_event_time_range(void **state)
{
        fx *f = *state;
        const char *ts[] = {"1969-12-31T23:59:59Z", "2026-01-01T23:59:59Z", "2026-01-02T00:00:01Z",
                            "9999-12-31T23:59:59Z"};
        const char *want[] = {CF_E_TIME_RANGE, "ok", CF_E_TIME_RANGE, CF_E_TIME_RANGE};
        for (int i = 0; i < 4; i++) {
                char msg[640];
                decl_at(msg, sizeof(msg), ts[i]);
                if (strcmp(code_of(f, msg), want[i])) fail_msg("%s: %s", ts[i], code_of(f, msg));
        }
        /* replay: the reference follows accepted records, from the wall clock on */
        f->b.replay = true;
        const char *seq[] = {"2026-01-01T12:00:00Z", "2026-01-02T11:00:00Z", "2026-01-03T10:00:00Z",
                             "2026-01-05T00:00:00Z", "2026-01-04T09:00:00Z"};
        const char *seq_want[] = {"ok", "ok", "ok", CF_E_TIME_RANGE, "ok"};
        for (int i = 0; i < 5; i++) {
                char msg[640];
                decl_at(msg, sizeof(msg), seq[i]);
                if (strcmp(code_of(f, msg), seq_want[i]))
                        fail_msg("replay %s: %s", seq[i], code_of(f, msg));
        }
        f->b.replay = false;
}

static void test_rfc3339(void **state)
{
        (void)state;
        int64_t t;
        assert_int_equal(cf_parse_rfc3339("1970-01-01T00:00:00Z", 20, &t), 0);
        assert_int_equal(t, 0);
        assert_int_equal(cf_parse_rfc3339("2024-02-29T23:59:59.999Z", 24, &t), 0);
        assert_int_equal(t, 1709251199999LL);
        assert_int_equal(cf_parse_rfc3339("2023-02-29T00:00:00Z", 20, &t), -1);
        assert_int_equal(cf_parse_rfc3339("2025-01-01T00:00:00-05:00", 25, &t), 0);
        assert_int_equal(t, 1735707600000LL);
        assert_int_equal(cf_parse_rfc3339("2025-01-01T24:00:00Z", 20, &t), -1);
        assert_int_equal(cf_parse_rfc3339("2025-01-01", 10, &t), -1);
        assert_int_equal(cf_epoch_ms_yyyymm(1741944600000LL), 202503);
        assert_int_equal(cf_epoch_ms_yyyymm(0), 197001);
}

static void test_countries(void **state)
{
        (void)state;
        assert_true(cf_iso_country_valid("CN", 2));
        assert_true(cf_iso_country_valid("XK", 2));
        assert_false(cf_iso_country_valid("XX", 2));
        assert_false(cf_iso_country_valid("cn", 2));
        assert_false(cf_iso_country_valid("CHN", 3));
        assert_false(cf_iso_country_valid("C", 1));
        assert_false(cf_iso_country_valid("C\xc3", 2));
        /* every one of the 676 upper-case pairs against the code list (the check is a
         * bit table: one wrong bit is a country refused or accepted) */
        static const char codes[] =
            "ADAEAFAGAIALAMAOAQARASATAUAWAXAZBABBBDBEBFBGBHBIBJBLBMBNBOBQBRBSBTBVBWBYBZCACCCDCFCG"
            "CHCICKCLCMCNCOCRCUCVCWCXCYCZDEDJDKDMDODZECEEEGEHERESETFIFJFKFMFOFRGAGBGDGEGFGGGHGIGL"
            "GMGNGPGQGRGSGTGUGWGYHKHMHNHRHTHUIDIEILIMINIOIQIRISITJEJMJOJPKEKGKHKIKMKNKPKRKWKYKZLA"
            "LBLCLILKLRLSLTLULVLYMAMCMDMEMFMGMHMKMLMMMNMOMPMQMRMSMTMUMVMWMXMYMZNANCNENFNGNINLNONP"
            "NRNUNZOMPAPEPFPGPHPKPLPMPNPRPSPTPWPYQARERORSRURWSASBSCSDSESGSHSISJSKSLSMSNSOSRSSSTSV"
            "SXSYSZTCTDTFTGTHTJTKTLTMTNTOTRTTTVTWTZUAUGUMUSUYUZVAVCVEVGVIVNVUWFWSXKYEYTZAZMZW";
        for (char a = 'A'; a <= 'Z'; a++)
                for (char b = 'A'; b <= 'Z'; b++) {
                        int listed = 0;
                        for (size_t i = 0; i + 1 < sizeof(codes); i += 2)
                                listed |= codes[i] == a && codes[i + 1] == b;
                        char p[2] = {a, b};
                        if (cf_iso_country_valid(p, 2) != listed)
                                fail_msg("%c%c: %d, listed %d", a, b, cf_iso_country_valid(p, 2),
                                         listed);
                }
}

static int run_all(const char *parser)
{
        char yaml[64], err[256];
        snprintf(yaml, sizeof(yaml), "parser: %s\n", parser);
        parser_cfg = cf_yaml_load_string("test", yaml, strlen(yaml), err, sizeof(err));
        fprintf(stderr, "== decode with parser: %s\n", parser);
        int rc = run_group();
        cf_yaml_free(parser_cfg);
        return rc;
}

/* Both parsers must give identical results on every example. */
int main(void)
{
        return run_all("simdjson") | run_all("jsmn");
}

static int run_group(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_valid_examples, setup, teardown),
            cmocka_unit_test_setup_teardown(test_invalid_examples, setup, teardown),
            cmocka_unit_test_setup_teardown(test_full_fields, setup, teardown),
            cmocka_unit_test_setup_teardown(test_escapes_and_numbers, setup, teardown),
            cmocka_unit_test_setup_teardown(test_depth, setup, teardown),
            cmocka_unit_test_setup_teardown(test_escaped_keys, setup, teardown),
            cmocka_unit_test_setup_teardown(test_not_object, setup, teardown),
            cmocka_unit_test_setup_teardown(test_lone_surrogates, setup, teardown),
            cmocka_unit_test_setup_teardown(test_message_utf8, setup, teardown),
            cmocka_unit_test_setup_teardown(test_event_time_range, setup, teardown),
            cmocka_unit_test_setup_teardown(test_risk_fields, setup, teardown),
            cmocka_unit_test(test_rfc3339),
            cmocka_unit_test(test_countries),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
