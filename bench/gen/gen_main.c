/*
 * gen_main.c - placeholder until the generator lands.
 */
#include <stdio.h>

#include "pipeline/cli.h"

int cf_cmd_gen(int argc, char **argv)
{
        (void)argc;
        (void)argv;
        fprintf(stderr, "customsflow gen: not implemented yet\n");
        return 2;
}
