/*
 * config_map.c - config-map driven parsing of YAML sections.
 */
#include "pipeline/core/config_map.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* A unit suffix and what it multiplies the number by. */
typedef struct unit_mult {
        const char *suffix;
        double mult;
} unit_mult;

/* A non-negative double as int64, -1 when it does not fit: converting an
 * out-of-range double is undefined behaviour (UBSan: float-cast-overflow). */
static int64_t to_int64(double v)
{
        return v < 9.2e18 ? (int64_t)v : -1;
}

/* A non-negative number, optional spaces, then one of units' suffixes ("" for a
 * bare number; any case when icase), scaled to an integer; -1 when malformed. */
static int64_t parse_scaled(const char *s, const unit_mult *units, bool icase)
{
        if (!s || !*s) return -1;
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (errno || end == s || v < 0 || !isfinite(v)) return -1;
        while (*end == ' ')
                end++;
        for (const unit_mult *u = units; u->suffix; u++)
                if (!(icase ? strcasecmp : strcmp)(end, u->suffix)) return to_int64(v * u->mult);
        return -1;
}

int64_t cf_parse_duration_ms(const char *s)
{
        static const unit_mult units[] = {
            {"", 1000},    {"s", 1000},    {"ms", 1},          {"m", 60e3}, {"min", 60e3},
            {"h", 3600e3}, {"d", 86400e3}, {"w", 7 * 86400e3}, {NULL, 0},
        };
        return parse_scaled(s, units, false);
}

int64_t cf_parse_size(const char *s)
{
        static const unit_mult units[] = {
            {"", 1},
            {"b", 1},
            {"kib", 1024},
            {"k", 1024},
            {"kb", 1024},
            {"mib", 1024.0 * 1024},
            {"m", 1024.0 * 1024},
            {"mb", 1024.0 * 1024},
            {"gib", 1024.0 * 1024 * 1024},
            {"g", 1024.0 * 1024 * 1024},
            {"gb", 1024.0 * 1024 * 1024},
            {NULL, 0},
        };
        return parse_scaled(s, units, true);
}

void cf_path_resolve(const char *base_dir, const char *path, char *out, size_t out_size)
{
        if (!base_dir || !*base_dir || path[0] == '/')
                snprintf(out, out_size, "%s", path);
        else
                snprintf(out, out_size, "%s/%s", base_dir, path);
}

static bool parse_bool(const char *s, bool *out)
{
        if (!strcasecmp(s, "true") || !strcasecmp(s, "yes") || !strcasecmp(s, "on") ||
            !strcmp(s, "1")) {
                *out = true;
                return true;
        }
        if (!strcasecmp(s, "false") || !strcasecmp(s, "no") || !strcasecmp(s, "off") ||
            !strcmp(s, "0")) {
                *out = false;
                return true;
        }
        return false;
}

static const char *type_name(cf_cfg_type t)
{
        switch (t) {
        case CF_CFG_STR:
                return "string";
        case CF_CFG_PATH:
                return "path";
        case CF_CFG_INT:
                return "integer";
        case CF_CFG_DOUBLE:
                return "number";
        case CF_CFG_BOOL:
                return "boolean";
        case CF_CFG_DURATION:
                return "duration";
        case CF_CFG_SIZE:
                return "size";
        case CF_CFG_STRLIST:
                return "list of strings";
        case CF_CFG_NODE:
                return "map";
        }
        return "?";
}

#define FAIL(...)                                                                                  \
        do {                                                                                       \
                snprintf(errstr, errstr_size, __VA_ARGS__);                                        \
                return -1;                                                                         \
        } while (0)

/* Set one entry from text (default or scalar); where = "file:line" for errors. */
static int set_scalar(const cf_config_map *m, const char *section, const char *text,
                      const char *where, const char *base_dir, void *obj, char *errstr,
                      size_t errstr_size)
{
        char *field = (char *)obj + m->offset;
        char *end;
        double dv = 0;
        switch (m->type) {
        case CF_CFG_STR:
                free(*(char **)field);
                *(char **)field = strdup(text);
                return 0;
        case CF_CFG_PATH: {
                char buf[4096];
                cf_path_resolve(base_dir, text, buf, sizeof(buf));
                free(*(char **)field);
                *(char **)field = strdup(buf);
                return 0;
        }
        case CF_CFG_INT: {
                errno = 0;
                long long v = strtoll(text, &end, 10);
                if (errno || end == text || *end)
                        FAIL("%s: %s.%s: expected an integer, got '%s'", where, section, m->name,
                             text);
                *(int64_t *)field = v;
                dv = (double)v;
                break;
        }
        case CF_CFG_DOUBLE: {
                errno = 0;
                double v = strtod(text, &end);
                if (errno || end == text || *end || !isfinite(v))
                        FAIL("%s: %s.%s: expected a number, got '%s'", where, section, m->name,
                             text);
                *(double *)field = v;
                dv = v;
                break;
        }
        case CF_CFG_BOOL:
                if (!parse_bool(text, (bool *)field))
                        FAIL("%s: %s.%s: expected true or false, got '%s'", where, section, m->name,
                             text);
                return 0;
        case CF_CFG_DURATION: {
                int64_t v = cf_parse_duration_ms(text);
                if (v < 0)
                        FAIL("%s: %s.%s: expected a duration like 30d, 1h, 10m, 5s or 250ms, "
                             "got '%s'",
                             where, section, m->name, text);
                *(int64_t *)field = v;
                dv = (double)v;
                break;
        }
        case CF_CFG_SIZE: {
                int64_t v = cf_parse_size(text);
                if (v < 0)
                        FAIL("%s: %s.%s: expected a size like 64KiB or 1MiB, got '%s'", where,
                             section, m->name, text);
                *(int64_t *)field = v;
                dv = (double)v;
                break;
        }
        default:
                FAIL("%s: %s.%s: expected a %s", where, section, m->name, type_name(m->type));
        }
        if (m->min < m->max && (dv < m->min || dv > m->max))
                FAIL("%s: %s.%s: %s is out of range [%g, %g]", where, section, m->name, text,
                     m->min, m->max);
        return 0;
}

static int set_node(const cf_config_map *m, const char *section, const cf_node *v,
                    const char *base_dir, void *obj, char *errstr, size_t errstr_size)
{
        char where[512];
        snprintf(where, sizeof(where), "%s:%d", v->file, v->line);
        char *field = (char *)obj + m->offset;
        if (m->type == CF_CFG_NODE) {
                if (v->type != CF_NODE_MAP)
                        FAIL("%s: %s.%s: expected a map", where, section, m->name);
                *(const cf_node **)field = v;
                return 0;
        }
        if (m->type == CF_CFG_STRLIST) {
                if (v->type != CF_NODE_SEQ)
                        FAIL("%s: %s.%s: expected a list", where, section, m->name);
                cf_strlist *l = (cf_strlist *)field;
                for (size_t i = 0; i < l->n; i++)
                        free(l->v[i]);
                free(l->v);
                l->v = calloc(v->n_items ? v->n_items : 1, sizeof(char *));
                l->n = 0;
                for (size_t i = 0; i < v->n_items; i++) {
                        if (v->items[i]->type != CF_NODE_SCALAR)
                                FAIL("%s:%d: %s.%s: list items must be strings", v->file,
                                     v->items[i]->line, section, m->name);
                        l->v[l->n++] = strdup(v->items[i]->scalar);
                }
                return 0;
        }
        if (v->type != CF_NODE_SCALAR)
                FAIL("%s: %s.%s: expected a %s, got a %s", where, section, m->name,
                     type_name(m->type), v->type == CF_NODE_MAP ? "map" : "list");
        if (set_scalar(m, section, v->scalar, where, base_dir, obj, errstr, errstr_size)) return -1;
        /* a path written in the file names a file to read (rules, reference data):
         * a missing one is reported here, with the line that names it */
        if (m->type == CF_CFG_PATH && access(*(char **)field, R_OK))
                FAIL("%s: %s.%s: %s: cannot open: %s", where, section, m->name, *(char **)field,
                     strerror(errno));
        return 0;
}

int cf_config_map_apply(const cf_config_map *map, const char *section, const cf_node *node,
                        const char *base_dir, void *obj, char *errstr, size_t errstr_size)
{
        if (node && node->type != CF_NODE_MAP)
                FAIL("%s:%d: %s: expected a map", node->file, node->line, section);
        /* Unknown keys are errors: a typo must not silently fall back to a default. */
        for (size_t i = 0; node && i + 1 < node->n_items; i += 2) {
                const char *k = node->items[i]->scalar;
                const cf_config_map *m = map;
                while (m->name && strcmp(m->name, k))
                        m++;
                if (!m->name) {
                        char known[1024] = "";
                        size_t off = 0;
                        for (const cf_config_map *x = map; x->name && off < sizeof(known); x++)
                                off += (size_t)snprintf(known + off, sizeof(known) - off, "%s%s",
                                                        x == map ? "" : ", ", x->name);
                        FAIL("%s:%d: unknown key '%s' in %s (known keys: %s)", node->items[i]->file,
                             node->items[i]->line, k, section, known);
                }
        }
        for (const cf_config_map *m = map; m->name; m++) {
                const cf_node *v = cf_yaml_get(node, m->name);
                if (v) {
                        if (set_node(m, section, v, base_dir, obj, errstr, errstr_size)) return -1;
                        continue;
                }
                if (m->required)
                        FAIL("%s:%d: %s: missing required key '%s'", node ? node->file : "config",
                             node ? node->line : 0, section, m->name);
                if (m->def && m->type != CF_CFG_NODE && m->type != CF_CFG_STRLIST &&
                    set_scalar(m, section, m->def, "default", base_dir, obj, errstr, errstr_size))
                        return -1;
        }
        return 0;
}

/* The environment variable that overrides key m of section into var. */
static void env_name(const cf_config_map *m, const char *section, char *var, size_t size)
{
        int n = snprintf(var, size, "CUSTOMSFLOW_%s_%s", section, m->name);
        for (int i = 0; i < n && (size_t)i < size; i++)
                var[i] = var[i] == '.' ? '_' : (char)toupper((unsigned char)var[i]);
}

cf_env_match cf_config_map_env_match(const cf_config_map *map, const char *section,
                                     const char *name)
{
        for (const cf_config_map *m = map; m->name; m++) {
                if (m->type == CF_CFG_NODE || m->type == CF_CFG_STRLIST) continue;
                char var[128];
                env_name(m, section, var, sizeof var);
                if (!strcmp(var, name)) return CF_ENV_KEY;
        }
        char prefix[128];
        env_name(&(cf_config_map){.name = ""}, section, prefix, sizeof prefix);
        return strncmp(name, prefix, strlen(prefix)) ? CF_ENV_OTHER : CF_ENV_SECTION;
}

int cf_config_map_apply_env(const cf_config_map *map, const char *section, const char *base_dir,
                            void *obj, char *errstr, size_t errstr_size)
{
        for (const cf_config_map *m = map; m->name; m++) {
                if (m->type == CF_CFG_NODE || m->type == CF_CFG_STRLIST) continue;
                char var[128];
                env_name(m, section, var, sizeof var);
                const char *v = getenv(var);
                if (!v || !*v) continue;
                if (set_scalar(m, section, v, var, base_dir, obj, errstr, errstr_size)) return -1;
        }
        return 0;
}

void cf_config_map_free(const cf_config_map *map, void *obj)
{
        for (const cf_config_map *m = map; m->name; m++) {
                char *field = (char *)obj + m->offset;
                if (m->type == CF_CFG_STR || m->type == CF_CFG_PATH) {
                        free(*(char **)field);
                        *(char **)field = NULL;
                } else if (m->type == CF_CFG_STRLIST) {
                        cf_strlist *l = (cf_strlist *)field;
                        for (size_t i = 0; i < l->n; i++)
                                free(l->v[i]);
                        free(l->v);
                        l->v = NULL;
                        l->n = 0;
                }
        }
}

void cf_config_map_describe(const cf_config_map *map, const char *section, FILE *out)
{
        fprintf(out, "\n### `%s`\n\n| key | type | default | description |\n|---|---|---|---|\n",
                section);
        for (const cf_config_map *m = map; m->name; m++)
                fprintf(out, "| `%s` | %s | %s | %s |\n", m->name, type_name(m->type),
                        m->def ? m->def : (m->required ? "(required)" : "-"), m->desc);
        for (const cf_config_map *m = map; m->name; m++) {
                if (m->type != CF_CFG_NODE || !m->sub) continue;
                char sub[256];
                snprintf(sub, sizeof sub, "%s.%s", section, m->name);
                cf_config_map_describe(m->sub, sub, out);
        }
}

/* minimum/maximum of a bounded key, in the unit of a bare number (unit = how
 * many of the stored unit one of it is: 1000 for durations, stored in ms);
 * the range is also in the description for the text forms. */
static void schema_bounds(cf_buf *b, const cf_config_map *m, double unit)
{
        if (!(m->min < m->max)) return;
        cf_buf_puts(b, ",\"minimum\":");
        cf_json_num(b, m->min / unit);
        cf_buf_puts(b, ",\"maximum\":");
        cf_json_num(b, m->max / unit);
}

/* The JSON Schema of one value of type t (YAML scalars arrive as strings or
 * numbers: durations and sizes accept both). */
static void schema_type(cf_buf *b, const cf_config_map *m)
{
        switch (m->type) {
        case CF_CFG_INT:
        case CF_CFG_DOUBLE:
                cf_buf_puts(b,
                            m->type == CF_CFG_INT ? "\"type\":\"integer\"" : "\"type\":\"number\"");
                schema_bounds(b, m, 1);
                break;
        case CF_CFG_BOOL:
                cf_buf_puts(b, "\"type\":\"boolean\"");
                break;
        case CF_CFG_DURATION:
                /* what cf_parse_duration_ms accepts; a bare number is seconds, and
                 * the bounds apply to it (JSON Schema cannot bound "30d") */
                cf_buf_puts(b, "\"type\":[\"string\",\"number\"],\"pattern\":"
                               "\"^[0-9]+(\\\\.[0-9]+)? *(ms|s|m|min|h|d|w)?$\"");
                schema_bounds(b, m, 1000);
                break;
        case CF_CFG_SIZE:
                /* what cf_parse_size accepts (any case); a bare number is bytes */
                cf_buf_puts(b, "\"type\":[\"string\",\"integer\"],\"pattern\":"
                               "\"^[0-9]+(\\\\.[0-9]+)? *([bB]|[kKmMgG][iI]?[bB]?)?$\"");
                schema_bounds(b, m, 1);
                break;
        case CF_CFG_STRLIST:
                cf_buf_puts(b, "\"type\":\"array\",\"items\":{\"type\":\"string\"}");
                break;
        case CF_CFG_NODE:
                cf_buf_puts(b, "\"type\":[\"object\",\"array\",\"string\",\"null\"]");
                break;
        default:
                cf_buf_puts(b, "\"type\":\"string\"");
                break;
        }
}

/* A comma-separated default of a list as a JSON array. */
static void strlist_json(cf_buf *b, const char *def)
{
        cf_buf_putc(b, '[');
        for (const char *p = def; *p;) {
                size_t n = strcspn(p, ",");
                if (p != def) cf_buf_putc(b, ',');
                cf_json_str(b, p, n);
                p += n + (p[n] == ',');
        }
        cf_buf_putc(b, ']');
}

void cf_config_map_schema(const cf_config_map *map, const char *desc, cf_buf *b)
{
        cf_buf_puts(b, "{\"type\":\"object\",\"additionalProperties\":false");
        if (desc) {
                cf_buf_puts(b, ",\"description\":");
                cf_json_str(b, desc, strlen(desc));
        }
        cf_buf_puts(b, ",\"properties\":{");
        int n = 0;
        for (const cf_config_map *m = map; m->name; m++) {
                if (m->type == CF_CFG_NODE && m->sub) {
                        cf_buf_printf(b, "%s\"%s\":", n++ ? "," : "", m->name);
                        cf_config_map_schema(m->sub, m->desc, b);
                        continue;
                }
                cf_buf_printf(b, "%s\"%s\":{", n++ ? "," : "", m->name);
                schema_type(b, m);
                cf_buf_puts(b, ",\"description\":");
                cf_json_str(b, m->desc, strlen(m->desc));
                if (m->def) {
                        /* typed, so a validator or editor offers the right kind of value */
                        cf_buf_puts(b, ",\"default\":");
                        bool v;
                        if ((m->type == CF_CFG_INT || m->type == CF_CFG_DOUBLE) &&
                            strspn(m->def, "0123456789.-") == strlen(m->def))
                                cf_buf_puts(b, m->def);
                        else if (m->type == CF_CFG_BOOL && parse_bool(m->def, &v))
                                cf_buf_puts(b, v ? "true" : "false");
                        else if (m->type == CF_CFG_STRLIST)
                                strlist_json(b, m->def);
                        else
                                cf_json_str(b, m->def, strlen(m->def));
                }
                cf_buf_putc(b, '}');
        }
        cf_buf_puts(b, "},\"required\":[");
        n = 0;
        for (const cf_config_map *m = map; m->name; m++)
                if (m->required) cf_buf_printf(b, "%s\"%s\"", n++ ? "," : "", m->name);
        cf_buf_puts(b, "]}");
}
