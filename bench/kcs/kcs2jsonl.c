/*
 * kcs2jsonl.c - convert the KCS CSV (../shared/data/kcs) to declaration and
 * outcome JSON lines (mapping in kcs.h):
 *
 *   cf_kcs2jsonl FILE.csv DECLARATIONS.jsonl OUTCOMES.jsonl
 *
 * The outcomes file is what `customsflow learn-eval --format jsonl` reads
 * (each outcome carries its declaration); the declarations file is what
 * `customsflow replay` reads.
 */
#include <stdio.h>
#include <string.h>

#include "bench/kcs/kcs.h"

static int write_all(const char *path, const cf_buf *b)
{
        FILE *f = fopen(path, "wb");
        int ok = f && fwrite(b->p, 1, b->len, f) == b->len;
        if (f) ok = fclose(f) == 0 && ok;
        if (!ok) perror(path);
        return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
        if (argc != 4 || !strcmp(argv[1], "--help")) {
                fprintf(argc == 2 ? stdout : stderr,
                        "usage: cf_kcs2jsonl FILE.csv DECLARATIONS.jsonl OUTCOMES.jsonl\n");
                return argc == 2 ? 0 : 2;
        }
        cf_buf d = {0}, o = {0};
        char err[512];
        size_t rows;
        if (cf_kcs_to_jsonl(argv[1], &d, &o, &rows, err, sizeof err)) {
                fprintf(stderr, "cf_kcs2jsonl: %s\n", err);
                return 1;
        }
        int rc = write_all(argv[2], &d) || write_all(argv[3], &o);
        fprintf(stderr, "cf_kcs2jsonl: %zu rows\n", rows);
        cf_buf_free(&d);
        cf_buf_free(&o);
        return rc ? 1 : 0;
}
