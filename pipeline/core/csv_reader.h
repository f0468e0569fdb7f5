/*
 * csv_reader.h - reference-data CSV files (RFC 4180, header row, '#' comment
 * lines) read with libcsv; rows are handed over with columns by header name.
 */
#ifndef CF_CSV_READER_H
#define CF_CSV_READER_H

#include <stddef.h>

/** One data row: values in header order, and where it came from. */
typedef struct cf_csv_row {
        const char *file;
        int line; /* 1-based physical line of the row */
        char **v; /* NUL-terminated values, one per header column */
        size_t n;
} cf_csv_row;

/** Called per data row; return -1 with errstr filled to stop with an error. */
typedef int (*cf_csv_row_cb)(const cf_csv_row *row, void *opaque, char *errstr, size_t errstr_size);

/**
 * Read path: the header must contain every column in required (NULL-ended);
 * col_idx[i] receives the index of required[i] (optional[] likewise, -1 when
 * absent). Blank lines and lines starting with '#' are skipped.
 */
int cf_csv_read(const char *path, const char *const *required, int *col_idx,
                const char *const *optional, int *opt_idx, cf_csv_row_cb cb, void *opaque,
                char *errstr, size_t errstr_size);

#endif
