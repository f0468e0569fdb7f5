/*
 * dedup.c - placeholder until the dedup issue lands: passes records through.
 */
#include "pipeline/stage.h"

const cf_stage_plugin cf_stage_dedup = {
    .name = "dedup",
    .description = "(not implemented yet: passes records through)",
};
