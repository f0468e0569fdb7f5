/*
 * replay_epochs.c - see replay_epochs.h.
 *
 * @locality: main thread (replay).
 */
#include "pipeline/cli/replay_epochs.h"

#include <stdlib.h>
#include <string.h>

#include "pipeline/core/config_map.h"

#define OFF(f) offsetof(cf_replay_cfg, f)

static const cf_config_map replay_map[] = {
    {CF_CFG_INT, "partitions", "16", OFF(partitions),
     "logical partitions: records go to one by the CRC32 of exporter_id, as librdkafka's "
     "partitioner sends keyed messages (--partitions)",
     1, 1024},
    {CF_CFG_INT, "epoch_lines", "128", OFF(epoch_lines),
     "lines of input per epoch: population rules (unit value, volume, certificates) read the "
     "state as of the end of the previous epoch (RULES.md: how stale, and what it costs) "
     "(--epoch-lines)",
     1, 1 << 20},
    {0}};

cf_env_match cf_replay_env_match(const char *name)
{
        return cf_config_map_env_match(replay_map, "replay", name);
}

int cf_replay_cfg_load(cf_replay_cfg *rc, const cf_config *cfg, char *errstr, size_t errstr_size)
{
        memset(rc, 0, sizeof *rc);
        return cf_config_map_apply(replay_map, "replay", cf_yaml_get(cfg->root, "replay"),
                                   cfg->base_dir, rc, errstr, errstr_size) ||
                       cf_config_map_apply_env(replay_map, "replay", cfg->base_dir, rc, errstr,
                                               errstr_size)
                   ? -1
                   : 0;
}

void cf_replay_describe(FILE *out)
{
        fprintf(out, "\nreplay: logical partitions and epochs of `customsflow replay`\n");
        cf_config_map_describe(replay_map, "replay", out);
}

void cf_replay_schema(cf_buf *out)
{
        cf_buf_puts(out, "\"replay\":");
        cf_config_map_schema(replay_map, "logical partitions and epochs of `customsflow replay`",
                             out);
}
