/*
 * config_map.h - Fluent Bit style config maps: one static table per stage (or
 * section) drives parsing, defaults, validation and the generated docs.
 */
#ifndef CF_CONFIG_MAP_H
#define CF_CONFIG_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "pipeline/core/buf.h"
#include "pipeline/core/yaml_tree.h"

typedef enum cf_cfg_type {
        CF_CFG_STR,      /* char * (strdup'd; freed by cf_config_map_free) */
        CF_CFG_PATH,     /* char *, resolved against the config file's folder */
        CF_CFG_INT,      /* int64_t */
        CF_CFG_DOUBLE,   /* double */
        CF_CFG_BOOL,     /* bool */
        CF_CFG_DURATION, /* int64_t milliseconds: "30d", "1h", "10m", "15s", "250ms" */
        CF_CFG_SIZE,     /* int64_t bytes: "64KiB", "1MiB", "512" */
        CF_CFG_STRLIST,  /* cf_strlist (default: comma-separated, applied by the owner) */
        CF_CFG_NODE,     /* const cf_node * (borrowed subtree, may be NULL) */
} cf_cfg_type;

/** A list of strings from a YAML sequence. */
typedef struct cf_strlist {
        char **v;
        size_t n;
} cf_strlist;

/** One config key: type, name, default (as text, NULL = none), field offset, doc. */
typedef struct cf_config_map {
        cf_cfg_type type;
        const char *name;
        const char *def;
        size_t offset;
        const char *desc;
        double min, max; /* numeric bounds when min < max */
        bool required;
        /* CF_CFG_NODE: the keys of the nested map, for docs and the schema (the
         * owner applies them to the borrowed node itself); NULL = any value */
        const struct cf_config_map *sub;
} cf_config_map;

/**
 * Apply map to obj from node (a YAML map, or NULL for all defaults). Unknown
 * keys, wrong types and out-of-range values fail with "file:line: reason".
 * base_dir resolves CF_CFG_PATH values (NULL: as given).
 */
int cf_config_map_apply(const cf_config_map *map, const char *section, const cf_node *node,
                        const char *base_dir, void *obj, char *errstr, size_t errstr_size);
/** Apply CUSTOMSFLOW_<SECTION>_<KEY> environment overrides (after the file). */
int cf_config_map_apply_env(const cf_config_map *map, const char *section, const char *base_dir,
                            void *obj, char *errstr, size_t errstr_size);
/** How an environment variable's name (without "=value") relates to map's section. */
typedef enum cf_env_match {
        CF_ENV_OTHER = 0,   /* not the section's */
        CF_ENV_SECTION = 1, /* CUSTOMSFLOW_<SECTION>_ but none of its keys (a typo) */
        CF_ENV_KEY = 2      /* the CUSTOMSFLOW_<SECTION>_<KEY> override of one of its keys */
} cf_env_match;
/** What name is to map in section (CF_ENV_KEY, CF_ENV_SECTION or CF_ENV_OTHER). */
cf_env_match cf_config_map_env_match(const cf_config_map *map, const char *section,
                                     const char *name);
/** Free strings and lists a map allocated into obj. */
void cf_config_map_free(const cf_config_map *map, void *obj);
/** Print a Markdown table documenting map (for --describe and the docs). */
void cf_config_map_describe(const cf_config_map *map, const char *section, FILE *out);
/** Append the JSON Schema of the object a map accepts (for schemas/config.schema.json). */
void cf_config_map_schema(const cf_config_map *map, const char *desc, cf_buf *out);
/** Parse a duration ("30d", "1h", "10m", "5s", "250ms", bare number = seconds); -1 if bad. */
int64_t cf_parse_duration_ms(const char *s);
/** Parse a size ("64KiB", "1MiB", "1GiB", bare number = bytes); -1 if bad. */
int64_t cf_parse_size(const char *s);
/** Resolve path against base_dir (unless absolute) into out. */
void cf_path_resolve(const char *base_dir, const char *path, char *out, size_t out_size);

#endif
