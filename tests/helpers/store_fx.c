/*
 * store_fx.c - see store_fx.h.
 */
#include "helpers/store_fx.h"

#include <stdio.h>
#include <unistd.h>

#include <sqlite3.h>

void store_fx_path(char *path, size_t n, const char *name)
{
        snprintf(path, n, "/tmp/cf_%s_test_%d.db", name, (int)getpid());
        store_fx_remove(path);
}

void store_fx_remove(const char *path)
{
        static const char *const sfx[] = {"", "-wal", "-shm"};
        for (int i = 0; i < 3; i++) {
                char p[1024];
                snprintf(p, sizeof p, "%s%s", path, sfx[i]);
                unlink(p);
        }
}

long long store_fx_count(const char *path, const char *sql)
{
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;
        long long n = -1;
        if (sqlite3_open(path, &db) == SQLITE_OK &&
            sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
                n = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        sqlite3_close(db);
        return n;
}
