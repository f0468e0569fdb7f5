/*
 * yaml_tree.h - a YAML document loaded (with libyaml) into a small tree whose
 * nodes remember file and line, so config errors can say "file:line: reason".
 */
#ifndef CF_YAML_TREE_H
#define CF_YAML_TREE_H

#include <stddef.h>

typedef enum cf_node_type { CF_NODE_SCALAR, CF_NODE_MAP, CF_NODE_SEQ } cf_node_type;

/** A YAML node. Maps hold alternating key/value children (keys are scalars). */
typedef struct cf_node {
        cf_node_type type;
        const char *file; /* shared by every node of a document */
        int line;         /* 1-based */
        char *scalar;     /* CF_NODE_SCALAR: the text */
        int quoted;       /* scalar was quoted in the source */
        struct cf_node **items;
        size_t n_items; /* SEQ: items; MAP: 2 * pairs (key, value, key, value...) */
} cf_node;

/** Load a YAML file; NULL with errstr "file:line: reason" on error. */
cf_node *cf_yaml_load_file(const char *path, char *errstr, size_t errstr_size);
/** Load YAML from memory (name used in messages). */
cf_node *cf_yaml_load_string(const char *name, const char *text, size_t len, char *errstr,
                             size_t errstr_size);
/** Free a tree returned by a loader. */
void cf_yaml_free(cf_node *root);
/** Value of key in a map node, or NULL. */
const cf_node *cf_yaml_get(const cf_node *map, const char *key);
/** Follow a dotted path of map keys ("stages.detect"), or NULL. */
const cf_node *cf_yaml_path(const cf_node *root, const char *dotted);

#endif
