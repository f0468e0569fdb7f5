/*
 * detect.h - the detect stage's public entry points besides its plugin
 * struct (cf_stage_detect): docs and schema of rules.yaml.
 */
#ifndef CF_DETECT_H
#define CF_DETECT_H

#include <stdio.h>

#include "pipeline/core/buf.h"

/** Print the keys of rules.yaml and of every rule (Markdown tables). */
void cf_detect_describe_rules(FILE *out);
/** Append the JSON Schema of rules.yaml (schemas/rules.schema.json). */
void cf_detect_rules_schema(cf_buf *b);

#endif
