/*
 * aggregate.c - placeholder until the aggregate issue lands: passes records through.
 */
#include "pipeline/stage.h"

const cf_stage_plugin cf_stage_aggregate = {
    .name = "aggregate",
    .description = "(not implemented yet: passes records through)",
};
