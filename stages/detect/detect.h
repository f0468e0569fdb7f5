/*
 * detect.h - the detect stage's public entry points besides its plugin
 * struct (cf_stage_detect): the rule registry's names, docs and schema of rules.yaml.
 */
#ifndef CF_DETECT_H
#define CF_DETECT_H

#include <stdio.h>

#include "pipeline/core/buf.h"
#include "pipeline/core/rule_set.h"

/** The rule registry's names (stages/detect/rules.def; position = cf_reason.rule_ix), as
 * detect publishes them to later stages; for tools and tests. -1 + errstr when the
 * registry is invalid (too many rules, a bad or repeated name). */
int cf_detect_rule_set(cf_rule_set *out, char *errstr, size_t errstr_size);
/** Position of a rule name in the registry, or -1. */
int cf_detect_rule_index(const char *name);

/** Print the keys of rules.yaml and of every rule (Markdown tables). */
void cf_detect_describe_rules(FILE *out);
/** Append the JSON Schema of rules.yaml (schemas/rules.schema.json). */
void cf_detect_rules_schema(cf_buf *b);

#endif
