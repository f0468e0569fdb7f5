/*
 * config.h - the config file: located, loaded (YAML), top-level keys checked.
 */
#ifndef CF_CONFIG_H
#define CF_CONFIG_H

#include <stddef.h>

#include "pipeline/core/yaml_tree.h"

/** A loaded config document and the folder relative paths resolve against. */
typedef struct cf_config {
        cf_node *root;
        char base_dir[4096];
        char path[4096]; /* "" when running on built-in defaults */
} cf_config;

/**
 * Load path, or when path is NULL: $CUSTOMSFLOW_CONFIG, ./customsflow.yaml,
 * /etc/customsflow/customsflow.yaml, then the bundled deploy/examples config.
 * Unknown top-level sections are errors. -1 with "file:line: reason".
 */
int cf_config_load(cf_config *c, const char *path, char *errstr, size_t errstr_size);
/** Folder of the bundled example config and reference data (source tree or installed). */
const char *cf_datadir(void);
/** Free the document. */
void cf_config_free(cf_config *c);

#endif
