/*
 * registry.c - the rule registry (rules.def) as an array, and the rule set
 * detect publishes from it. Only the array: a test links its own registry in
 * place of this file (tests/fixtures/detect/registry_fixture.c) to register
 * a fixture rule, so nothing else may live here.
 */
#include "stages/detect/detect_int.h"

const cf_rule *const cf_detect_rules[] = {
#define CF_RULE(name) &cf_rule_##name,
#include "stages/detect/rules.def"
#undef CF_RULE
};
const size_t cf_detect_n_rules = sizeof(cf_detect_rules) / sizeof(cf_detect_rules[0]);
