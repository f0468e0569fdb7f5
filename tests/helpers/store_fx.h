/*
 * store_fx.h - test helper: a scratch SQLite case store per test (a path under
 * /tmp, removed with its -wal and -shm files) and one-value queries on it.
 */
#ifndef CF_TEST_STORE_FX_H
#define CF_TEST_STORE_FX_H

#include <stddef.h>

/** Write /tmp/cf_<name>_test_<pid>.db to path and remove any store left there. */
void store_fx_path(char *path, size_t n, const char *name);
/** Remove the store at path with its -wal and -shm files. */
void store_fx_remove(const char *path);
/** The first column of sql's first row on the store at path (its own connection); -1 when
 *  the store cannot be opened, the statement fails or there is no row. */
long long store_fx_count(const char *path, const char *sql);

#endif
