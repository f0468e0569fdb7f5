/*
 * detect_fx.h - the detect tests' fixture: the real chain (decode -> dedup ->
 * detect, ...) built from tests/fixtures/detect (test rules and reference data),
 * one JSON declaration line at a time, and checks on the reasons it adds.
 */
#ifndef CF_TEST_DETECT_FX_H
#define CF_TEST_DETECT_FX_H

#include "pipeline/core/chain.h"
#include "pipeline/core/config.h"

#define FIX CF_TESTDIR "/fixtures/detect"

/* One declaration line; NULL / 0 fields get the defaults of rec_json. */
typedef struct rec {
        const char *id, *time, *hs, *origin, *export, *exporter, *importer, *unit;
        int line;
        double qty, value;
        const char *extra; /* raw extra members */
} rec;

typedef struct fx {
        cf_config cfg;
        cf_chain *chain;
        cf_batch b;
        char *lines[64];
        size_t n;
} fx;

/** The JSON line of r (malloc'd). */
char *rec_json(const rec *r);
/** A chain from FIX/customsflow.yaml. */
fx *fx_new(void);
/** Write rules_yaml to dir/rules.yaml and a config dir/c.yaml whose detect stage reads it
 *  (decode with FIX's fx rates), and load that config into cfg. */
void fx_config(const char *dir, const char *rules_yaml, cf_config *cfg);
/** Free it. */
void fx_free(fx *f);
/** Run one record through the chain (partition 0); returns it (valid until the next). */
cf_record *run1(fx *f, const rec *r);
/** The reason r got from rule, or NULL. */
const cf_reason *reason(const cf_record *r, const char *rule);
/** The reason for rule, whose evidence must contain every fragment given (NULL-ended). */
void expect_fired(const cf_record *r, const char *rule, const char *const *frags);
/** The reason for rule explains itself with exactly the sentence want (RULES.md). */
void expect_explained(const cf_record *r, const char *rule, const char *want);
/** rule did not fire on r. */
void expect_quiet(const cf_record *r, const char *rule);

#endif
