/*
 * config.c - locate and load the config file.
 */
#include "pipeline/core/config.h"

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Every top-level section; each is validated by the module that owns it. */
static const char *const sections[] = {
    "pipeline", "kafka", "topics",  "workers", "metrics",    "log",
    "stages",   "state", "console", "replay",  "processing", NULL,
};

static int check_sections(const cf_node *root, char *errstr, size_t errstr_size)
{
        if (root->type != CF_NODE_MAP) {
                snprintf(errstr, errstr_size, "%s:%d: the config must be a map of sections",
                         root->file, root->line);
                return -1;
        }
        for (size_t i = 0; i + 1 < root->n_items; i += 2) {
                const char *k = root->items[i]->scalar;
                int ok = 0;
                for (int j = 0; sections[j]; j++)
                        ok |= !strcmp(k, sections[j]);
                if (!ok) {
                        snprintf(
                            errstr, errstr_size,
                            "%s:%d: unknown section '%s' (known: pipeline, kafka, topics, "
                            "workers, metrics, log, stages, state, console, replay, processing)",
                            root->items[i]->file, root->items[i]->line, k);
                        return -1;
                }
        }
        return 0;
}

const char *cf_datadir(void)
{
        /* the source tree's examples when run from a build folder, else the
         * installed copy (cmake --install, the .deb) */
        if (access(CF_DATADIR "/customsflow.yaml", R_OK) == 0) return CF_DATADIR;
        return CF_INSTALL_DATADIR;
}

int cf_config_load(cf_config *c, const char *path, char *errstr, size_t errstr_size)
{
        memset(c, 0, sizeof(*c));
        char bundled[4096];
        snprintf(bundled, sizeof(bundled), "%s/customsflow.yaml", cf_datadir());
        const char *cands[] = {getenv("CUSTOMSFLOW_CONFIG"), "customsflow.yaml",
                               "/etc/customsflow/customsflow.yaml", bundled};
        if (!path) {
                for (size_t i = 0; i < sizeof(cands) / sizeof(cands[0]) && !path; i++)
                        if (cands[i] && *cands[i] && access(cands[i], R_OK) == 0) path = cands[i];
        }
        if (!path) { /* built-in defaults; relative reference paths use the bundled data */
                snprintf(c->base_dir, sizeof(c->base_dir), "%s", cf_datadir());
                return 0;
        }
        c->root = cf_yaml_load_file(path, errstr, errstr_size);
        if (!c->root) return -1;
        if (check_sections(c->root, errstr, errstr_size)) {
                cf_config_free(c);
                return -1;
        }
        snprintf(c->path, sizeof(c->path), "%s", path);
        char tmp[4096];
        snprintf(tmp, sizeof(tmp), "%s", path);
        snprintf(c->base_dir, sizeof(c->base_dir), "%s", dirname(tmp));
        return 0;
}

void cf_config_free(cf_config *c)
{
        cf_yaml_free(c->root);
        c->root = NULL;
}
