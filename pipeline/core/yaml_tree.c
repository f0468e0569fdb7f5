/*
 * yaml_tree.c - libyaml event stream -> cf_node tree with line numbers.
 *
 * We use the event API (not the document API) only to keep each node's line
 * and to reject aliases/anchors, which a config file has no need for.
 */
#include "pipeline/core/yaml_tree.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

typedef struct loader {
        yaml_parser_t parser;
        const char *file;
        char *errstr;
        size_t errstr_size;
        int depth;
} loader;

static cf_node *node_new(loader *l, cf_node_type t, int line)
{
        cf_node *n = calloc(1, sizeof(*n));
        if (!n) abort();
        n->type = t;
        n->file = l->file;
        n->line = line;
        return n;
}

static void node_push(cf_node *parent, cf_node *child)
{
        if ((parent->n_items & (parent->n_items - 1)) == 0) {
                size_t cap = parent->n_items ? parent->n_items * 2 : 4;
                parent->items = realloc(parent->items, cap * sizeof(*parent->items));
                if (!parent->items) abort();
        }
        parent->items[parent->n_items++] = child;
}

static void node_free(cf_node *n)
{
        if (!n) return;
        for (size_t i = 0; i < n->n_items; i++)
                node_free(n->items[i]);
        free(n->items);
        free(n->scalar);
        free(n);
}

static cf_node *parse_node(loader *l, yaml_event_t *ev);

static int parser_error(loader *l)
{
        snprintf(l->errstr, l->errstr_size, "%s:%zu: YAML error: %s", l->file,
                 l->parser.problem_mark.line + 1,
                 l->parser.problem ? l->parser.problem : "invalid document");
        return -1;
}

/* A key with its position in the map, sorted by name then position. */
typedef struct key_pos {
        const cf_node *k;
        size_t i;
} key_pos;

static int cmp_key(const void *a, const void *b)
{
        const key_pos *x = a, *y = b;
        int c = strcmp(x->k->scalar, y->k->scalar);
        return c ? c : (x->i > y->i) - (x->i < y->i);
}

/* A key that appears twice in map n: the error names the repeat that comes
 * first in the file and the line of that key's first occurrence. Sorting keeps
 * this O(n log n) (a pairwise scan took 19.7 s on a 100k-key rules file). */
static int dup_key(loader *l, const cf_node *n)
{
        size_t nk = n->n_items / 2;
        if (nk < 2) return 0;
        key_pos *v = malloc(nk * sizeof(*v));
        if (!v) abort();
        for (size_t i = 0; i < nk; i++)
                v[i] = (key_pos){n->items[2 * i], i};
        qsort(v, nk, sizeof(*v), cmp_key);
        const key_pos *first = NULL, *again = NULL;
        for (size_t i = 1, run = 0; i < nk; i++) {
                if (strcmp(v[i - 1].k->scalar, v[i].k->scalar)) {
                        run = i; /* v[run]: first occurrence of this key */
                        continue;
                }
                if (i == run + 1 && (!again || v[i].i < again->i)) again = &v[i], first = &v[run];
        }
        int rc = 0;
        if (again) {
                snprintf(l->errstr, l->errstr_size, "%s:%d: duplicate key '%s' (first at line %d)",
                         l->file, again->k->line, again->k->scalar, first->k->line);
                rc = -1;
        }
        free(v);
        return rc;
}

/* Parse children until the closing event of a map or sequence. */
static cf_node *parse_children(loader *l, cf_node *n, yaml_event_type_t end)
{
        if (++l->depth > 64) {
                snprintf(l->errstr, l->errstr_size, "%s:%d: nesting deeper than 64", l->file,
                         n->line);
                node_free(n);
                return NULL;
        }
        for (;;) {
                yaml_event_t ev;
                if (!yaml_parser_parse(&l->parser, &ev)) {
                        parser_error(l);
                        node_free(n);
                        return NULL;
                }
                if (ev.type == end) {
                        yaml_event_delete(&ev);
                        break;
                }
                cf_node *c = parse_node(l, &ev);
                if (!c) {
                        node_free(n);
                        return NULL;
                }
                if (n->type == CF_NODE_MAP && (n->n_items % 2) == 0 && c->type != CF_NODE_SCALAR) {
                        snprintf(l->errstr, l->errstr_size, "%s:%d: map keys must be scalars",
                                 l->file, c->line);
                        node_free(c);
                        node_free(n);
                        return NULL;
                }
                node_push(n, c);
        }
        l->depth--;
        if (n->type == CF_NODE_MAP && dup_key(l, n)) {
                node_free(n);
                return NULL;
        }
        return n;
}

static cf_node *parse_node(loader *l, yaml_event_t *ev)
{
        int line = (int)ev->start_mark.line + 1;
        cf_node *n = NULL;
        switch (ev->type) {
        case YAML_SCALAR_EVENT:
                n = node_new(l, CF_NODE_SCALAR, line);
                n->scalar = strndup((const char *)ev->data.scalar.value, ev->data.scalar.length);
                n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
                yaml_event_delete(ev);
                return n;
        case YAML_MAPPING_START_EVENT:
                yaml_event_delete(ev);
                return parse_children(l, node_new(l, CF_NODE_MAP, line), YAML_MAPPING_END_EVENT);
        case YAML_SEQUENCE_START_EVENT:
                yaml_event_delete(ev);
                return parse_children(l, node_new(l, CF_NODE_SEQ, line), YAML_SEQUENCE_END_EVENT);
        case YAML_ALIAS_EVENT:
                snprintf(l->errstr, l->errstr_size, "%s:%d: YAML aliases are not supported",
                         l->file, line);
                break;
        default:
                snprintf(l->errstr, l->errstr_size, "%s:%d: unexpected YAML event", l->file, line);
                break;
        }
        yaml_event_delete(ev);
        return NULL;
}

static cf_node *load(loader *l)
{
        cf_node *root = NULL;
        for (;;) {
                yaml_event_t ev;
                if (!yaml_parser_parse(&l->parser, &ev)) {
                        parser_error(l);
                        node_free(root);
                        return NULL;
                }
                yaml_event_type_t t = ev.type;
                if (t == YAML_STREAM_END_EVENT) {
                        yaml_event_delete(&ev);
                        break;
                }
                if (t == YAML_STREAM_START_EVENT || t == YAML_DOCUMENT_START_EVENT ||
                    t == YAML_DOCUMENT_END_EVENT) {
                        yaml_event_delete(&ev);
                        continue;
                }
                if (root) {
                        snprintf(l->errstr, l->errstr_size,
                                 "%s:%zu: only one YAML document is allowed", l->file,
                                 ev.start_mark.line + 1);
                        yaml_event_delete(&ev);
                        node_free(root);
                        return NULL;
                }
                root = parse_node(l, &ev);
                if (!root) return NULL;
        }
        if (!root) { /* an empty file is an empty map */
                root = node_new(l, CF_NODE_MAP, 1);
        }
        return root;
}

cf_node *cf_yaml_load_string(const char *name, const char *text, size_t len, char *errstr,
                             size_t errstr_size)
{
        loader l = {.file = strdup(name), .errstr = errstr, .errstr_size = errstr_size};
        yaml_parser_initialize(&l.parser);
        yaml_parser_set_input_string(&l.parser, (const unsigned char *)text, len);
        cf_node *root = load(&l);
        yaml_parser_delete(&l.parser);
        if (!root) free((char *)l.file);
        return root;
}

cf_node *cf_yaml_load_file(const char *path, char *errstr, size_t errstr_size)
{
        FILE *f = fopen(path, "rb");
        if (!f) {
                snprintf(errstr, errstr_size, "%s: cannot open: %s", path, strerror(errno));
                return NULL;
        }
        loader l = {.file = strdup(path), .errstr = errstr, .errstr_size = errstr_size};
        yaml_parser_initialize(&l.parser);
        yaml_parser_set_input_file(&l.parser, f);
        cf_node *root = load(&l);
        yaml_parser_delete(&l.parser);
        fclose(f);
        if (!root) free((char *)l.file);
        return root;
}

void cf_yaml_free(cf_node *root)
{
        if (!root) return;
        char *file = (char *)root->file;
        node_free(root);
        free(file);
}

const cf_node *cf_yaml_get(const cf_node *map, const char *key)
{
        if (!map || map->type != CF_NODE_MAP) return NULL;
        for (size_t i = 0; i + 1 < map->n_items; i += 2)
                if (strcmp(map->items[i]->scalar, key) == 0) return map->items[i + 1];
        return NULL;
}

const cf_node *cf_yaml_path(const cf_node *root, const char *dotted)
{
        char key[128];
        const cf_node *n = root;
        while (n && *dotted) {
                const char *dot = strchr(dotted, '.');
                size_t len = dot ? (size_t)(dot - dotted) : strlen(dotted);
                if (len >= sizeof(key)) return NULL;
                memcpy(key, dotted, len);
                key[len] = '\0';
                n = cf_yaml_get(n, key);
                dotted += len + (dot ? 1 : 0);
        }
        return n;
}
