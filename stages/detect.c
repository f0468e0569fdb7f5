/*
 * detect.c - placeholder until the detect issue lands: passes records through.
 */
#include "pipeline/stage.h"

const cf_stage_plugin cf_stage_detect = {
    .name = "detect",
    .description = "(not implemented yet: passes records through)",
};
