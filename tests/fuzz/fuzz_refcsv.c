/*
 * fuzz_refcsv.c - libFuzzer target: any bytes as one of the reference CSVs the
 * pipeline loads (decode's fx_rates, detect's trade_measures, watchlist,
 * exporters, route_watchlist). The input's first line names the file, the rest
 * is its content: check-config's loads either succeed or refuse with a
 * message (valid UTF-8); never a crash, leak or undefined behaviour. Seeds: the
 * bundled files, each behind its name (tests/fuzz/run.sh writes them).
 */
#include <string.h>

#include "cfgdir.h"

static const char *const files[] = {"fx_rates.csv", "trade_measures.csv", "watchlist.csv",
                                    "exporters.csv", "route_watchlist.csv"};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        cf_fuzz_dir_init();
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const uint8_t *nl = memchr(data, '\n', size);
        if (!nl) return 0;
        size_t name = (size_t)(nl - data);
        for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
                if (name != strlen(files[i]) || memcmp(data, files[i], name)) continue;
                char rel[64] = "reference/";
                strcat(rel, files[i]);
                cf_fuzz_dir_check(rel, nl + 1, size - name - 1);
                return 0;
        }
        return 0;
}
