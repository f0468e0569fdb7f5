/*
 * replay_epochs.h - replay's logical partitions and epochs (DESIGN §6,
 * stages/detect/RULES.md "Population state"): records go to partitions by
 * exporter_id as a Kafka producer keyed by it would send them, and every
 * `epoch_lines` lines of input (by position in the input, whatever the
 * partitions) is an epoch: at its end every partition publishes its
 * contributions to the population state and the replica applies them all.
 * During an epoch the population rules read the replica as of the end of the
 * previous one, so their results do not depend on the partition count.
 *
 * The barrier is the one point where population state is merged; a threaded
 * replay runs the partitions of one epoch in parallel and meets there
 * (replay_pool.c: every thread publishes its partitions, then applies them all).
 */
#ifndef CF_REPLAY_EPOCHS_H
#define CF_REPLAY_EPOCHS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "pipeline/core/buf.h"
#include "pipeline/core/chain.h"
#include "pipeline/core/config.h"
#include "pipeline/core/config_map.h"

/** The `replay:` section. */
typedef struct cf_replay_cfg {
        int64_t partitions, epoch_lines;
} cf_replay_cfg;

/** Read the `replay:` section (defaults when absent; CUSTOMSFLOW_REPLAY_* overrides);
 * -1 with "file:line: reason". */
int cf_replay_cfg_load(cf_replay_cfg *rc, const cf_config *cfg, char *errstr, size_t errstr_size);
/** What name is to section replay (cf_config_map_env_match). */
cf_env_match cf_replay_env_match(const char *name);
/** Print the section's keys (check-config --describe). */
void cf_replay_describe(FILE *out);
/** Append `"replay": <its JSON Schema>` (check-config --schema). */
void cf_replay_schema(cf_buf *out);

#endif
