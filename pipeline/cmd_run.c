/*
 * cmd_run.c - placeholder until the "Kafka service" issue lands.
 */
#include <stdio.h>

#include "pipeline/cli.h"

int cf_cmd_run(int argc, char **argv)
{
        (void)argc;
        (void)argv;
        fprintf(stderr, "customsflow run: not implemented yet\n");
        return 2;
}

int cf_cmd_demo(int argc, char **argv)
{
        (void)argc;
        (void)argv;
        fprintf(stderr, "customsflow demo: not implemented yet\n");
        return 2;
}
