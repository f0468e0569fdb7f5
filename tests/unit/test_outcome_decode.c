/*
 * test_outcome_decode.c - outcome messages (schemas/outcome.schema.json)
 * through the decode stage's learn callback: every example under
 * schemas/examples/outcome/ decodes, every invalid one is dead-lettered with
 * the code its file name states.
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

#include "pipeline/core/chain.h"
#include "pipeline/core/config.h"
#include "pipeline/core/stage.h"
#include "helpers/decode_fx.h"
#include "stages/decode/decode.h"

typedef decode_fx fx;

#define slurp decode_fx_slurp

#define str_eq decode_fx_str_eq

static void test_examples(void **state)
{
        fx *f = *state;
        char *p;
        cf_record *r =
            decode_fx_file(f, CF_SRCDIR "/schemas/examples/outcome/fraud.json", true, &p);
        if (r->status != CF_REC_OK) fail_msg("fraud.json: %s: %s", r->err_code, r->err_msg);
        assert_int_equal(r->outcome.kind, CF_OUTCOME_FRAUD);
        assert_true(r->outcome.has_duties && r->outcome.duties_recovered == 1520000);
        assert_int_equal(r->outcome.inspected_ms, 1578532500000LL); /* 2020-01-09T01:15:00Z */
        assert_true(str_eq(r->decl.importer_id, "QLRUBN9"));
        assert_true(str_eq(r->decl.tax_type, "FEU1"));
        assert_int_equal(r->decl.hs6, 440890);
        assert_true(r->decl.value_usd > 0); /* KRW through fx_rates */
        assert_true(r->decl.importer_h != 0);
        free(p);
        r = decode_fx_file(f, CF_SRCDIR "/schemas/examples/outcome/clean-minimal.json", true, &p);
        assert_int_equal(r->status, CF_REC_OK);
        assert_int_equal(r->outcome.kind, CF_OUTCOME_CLEAN);
        assert_false(r->outcome.has_duties);
        free(p);
        r = decode_fx_file(f, CF_SRCDIR "/schemas/examples/outcome/critical-console.json", true,
                           &p);
        assert_int_equal(r->status, CF_REC_OK);
        assert_int_equal(r->outcome.kind, CF_OUTCOME_CRITICAL);
        free(p);
        /* a declaration is not an outcome */
        r = decode_fx_file(f, CF_SRCDIR "/schemas/examples/minimal.json", true, &p);
        assert_int_equal(r->status, CF_REC_DEAD_LETTER);
        assert_string_equal(r->err_code, CF_E_MISSING);
        free(p);
}

/* errors inside the declaration say so */
static int names_declaration(const char *name, const cf_record *r, char *err, size_t n)
{
        if (!strstr(name, "nested") || !strncmp(r->err_msg, "declaration.", 12)) return 0;
        snprintf(err, n, "%s: message '%s' does not name the declaration", name, r->err_msg);
        return -1;
}

static void test_invalid(void **state)
{
        fx *f = *state;
        char err[1024];
        int n = decode_fx_invalid_dir(f, CF_SRCDIR "/schemas/examples/outcome/invalid", true,
                                      names_declaration, err, sizeof err);
        if (n < 0) fail_msg("%s", err);
        assert_true(n >= 10);
}

/* cf_chain_learn runs decode's learn and counts outcomes learnt and refused. */
static void test_chain_counts(void **state)
{
        (void)state;
        char err[512];
        cf_config cfg;
        assert_int_equal(
            cf_config_load(&cfg, CF_SRCDIR "/deploy/examples/customsflow.yaml", err, sizeof(err)),
            0);
        cf_chain *c = cf_chain_new(cfg.root, cfg.base_dir, err, sizeof(err));
        assert_non_null(c);
        cf_batch b;
        cf_batch_init(&b, 4);
        size_t len;
        char *p = slurp(CF_SRCDIR "/schemas/examples/outcome/fraud.json", &len);
        cf_batch_add(&b, p, len);
        cf_batch_add(&b, "{}", 2);
        assert_int_equal(cf_chain_learn(c, &b), 0);
        assert_int_equal(cf_chain_counters(c)->outcomes_learnt, 1);
        assert_int_equal(cf_chain_counters(c)->outcomes_dead_lettered, 1);
        /* outcomes are not declarations: the accounting of the input is untouched */
        assert_int_equal(cf_chain_counters(c)->in, 0);
        free(p);
        cf_batch_destroy(&b);
        cf_chain_destroy(c);
        cf_config_free(&cfg);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_examples, decode_fx_setup, decode_fx_teardown),
            cmocka_unit_test_setup_teardown(test_invalid, decode_fx_setup, decode_fx_teardown),
            cmocka_unit_test(test_chain_counts),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
