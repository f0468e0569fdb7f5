/*
 * decode_fx.h - test helper: the decode stage (bundled fx_rates) and one
 * batch, to decode a message as a declaration (process) or as an outcome
 * (learn); and a whole file read into memory.
 */
#ifndef CF_TEST_DECODE_FX_H
#define CF_TEST_DECODE_FX_H

#include <stdbool.h>
#include <stddef.h>

#include "pipeline/core/stage.h"
#include "stages/decode/decode.h"

typedef struct decode_fx {
        cf_stage st;
        cf_batch b;
        int64_t now_ms; /* the batch's wall clock (0: none, no future bound) */
} decode_fx;

/** The decode stage with stages.decode section cfg (NULL: defaults); NULL if init failed. */
decode_fx *decode_fx_new(const cf_node *cfg);
/** Free it. */
void decode_fx_free(decode_fx *f);
/** cmocka setup and teardown of a decode_fx with the default settings in *state. */
int decode_fx_setup(void **state);
int decode_fx_teardown(void **state);
/** Decode data as the only record of a batch: a declaration, or an outcome message. */
cf_record *decode_fx_run(decode_fx *f, const char *data, size_t len, bool outcome);
/** The whole file at path, NUL-terminated, length in *len (aborts when unreadable). */
char *decode_fx_slurp(const char *path, size_t *len);
/** Decode (outcome: learn) the file at path as decode_fx_run; *text is its content, which the
 * record points into: free it after the record. */
cf_record *decode_fx_file(decode_fx *f, const char *path, bool outcome, char **text);
/** Does s hold exactly the characters of lit? */
bool decode_fx_str_eq(cf_str s, const char *lit);
/** A file's own check after decode_fx_invalid_dir's: 0, or -1 with the reason in err. */
typedef int (*decode_fx_check)(const char *name, const cf_record *r, char *err, size_t n);
/**
 * Decode (outcome: learn) every file CODE__*.json of dir: each must be dead-lettered with
 * error code CODE and a message, then pass check (NULL: none). The number of files, or -1
 * with "file: what went wrong" in err.
 */
int decode_fx_invalid_dir(decode_fx *f, const char *dir, bool outcome, decode_fx_check check,
                          char *err, size_t n);

#endif
