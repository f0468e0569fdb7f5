/*
 * regress_main.c - a libFuzzer target's regressions without libFuzzer. CTest
 * builds every tests/fuzz/fuzz_*.c with this main, with whatever compiler the
 * build uses, and runs it on tests/fuzz/regressions/<target>/: the inputs that
 * once crashed or diverged run in the ordinary suite and in the ASan+UBSan
 * suite (a target aborts on a finding; the sanitizers stop on a memory error or
 * undefined behaviour). The clang fuzz pass (ci.sh) replays them too, then fuzzes.
 * usage: fuzz_<target>_regress DIR
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

static int by_name(const struct dirent **a, const struct dirent **b)
{
        return strcmp((*a)->d_name, (*b)->d_name);
}

/* One input as libFuzzer gives it: a private heap copy of exactly its bytes. */
static int run_file(const char *path)
{
        FILE *f = fopen(path, "rb");
        struct stat st;
        if (!f || fstat(fileno(f), &st)) {
                perror(path);
                return -1;
        }
        size_t n = (size_t)st.st_size;
        uint8_t *p = malloc(n ? n : 1);
        if (!p || fread(p, 1, n, f) != n) {
                perror(path);
                return -1;
        }
        fclose(f);
        LLVMFuzzerTestOneInput(p, n);
        free(p);
        return 0;
}

int main(int argc, char **argv)
{
        if (argc != 2) {
                fprintf(stderr, "usage: %s REGRESSIONS-DIR\n", argv[0]);
                return 2;
        }
        if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
        struct dirent **e;
        int n = scandir(argv[1], &e, NULL, by_name), ran = 0, rc = 0;
        if (n < 0) {
                perror(argv[1]);
                return 2;
        }
        for (int i = 0; i < n; i++) {
                char path[4096];
                struct stat st;
                snprintf(path, sizeof path, "%s/%s", argv[1], e[i]->d_name);
                if (e[i]->d_name[0] != '.' && !stat(path, &st) && S_ISREG(st.st_mode)) {
                        if (run_file(path)) rc = 1;
                        ran++;
                }
                free(e[i]);
        }
        free(e);
        printf("%s: %d regression input(s), no finding\n", argv[1], ran);
        return rc || ran == 0;
}
