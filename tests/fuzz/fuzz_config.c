/*
 * fuzz_config.c - libFuzzer target: any bytes as the config file
 * (customsflow.yaml) beside the bundled rules and reference data. Loading it,
 * its service sections and every stage either succeeds or refuses with a
 * message (valid UTF-8); never a crash, leak or undefined behaviour (ASan +
 * UBSan; tests/fuzz/run.sh). Seeds: the bundled config.
 */
#include "cfgdir.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        cf_fuzz_dir_init();
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        cf_fuzz_dir_check("customsflow.yaml", data, size);
        return 0;
}
