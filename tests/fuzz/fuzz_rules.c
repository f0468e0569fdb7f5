/*
 * fuzz_rules.c - libFuzzer target: any bytes as the detection rules file
 * (rules.yaml) of the bundled config. The detect stage built from it (every
 * rule's section, its reference files) either works or refuses with a message
 * (valid UTF-8); never a crash, leak or undefined behaviour. Seeds: the
 * bundled rules.yaml.
 */
#include "cfgdir.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        cf_fuzz_dir_init();
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        cf_fuzz_dir_check("rules.yaml", data, size);
        return 0;
}
