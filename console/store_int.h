/*
 * store_int.h - internals shared by the SQLite store's files (store_sqlite.c,
 * store_query.c, store_users.c). Not an API: everything else uses store.h.
 */
#ifndef CF_STORE_INT_H
#define CF_STORE_INT_H

#include <sqlite3.h>

#include "console/store.h"

#define CF_STORE_MAX_RULES 63 /* rules with a bit in cases.rules_mask */

/** Cached prepared statements (prepared once per connection). */
enum {
        ST_CASE_INSERT,
        ST_CASE_FIND,
        ST_VERSION_INSERT,
        ST_REASON_INSERT,
        ST_CASE_SUPERSEDE,
        ST_EVENT_INSERT,
        ST_STATS_UPSERT,
        ST_RULE_FIND,
        ST_RULE_INSERT,
        ST_COUNT
};

struct cf_store {
        sqlite3 *db;
        sqlite3_stmt *st[ST_COUNT];
        char *rules[CF_STORE_MAX_RULES]; /* name by bit, loaded lazily */
};

/** The cached statement id (prepared on first use); NULL + errstr. */
sqlite3_stmt *cf_store_stmt(cf_store *s, int id, char *errstr, size_t errstr_size);
/** Prepare a one-off statement; NULL + errstr ("store: what: ...") on error. */
sqlite3_stmt *cf_store_prep(cf_store *s, const char *sql, const char *what, char *errstr,
                            size_t errstr_size);
/** Run SQL without results; -1 + errstr (with SQLite's message). */
int cf_store_exec(cf_store *s, const char *sql, char *errstr, size_t errstr_size);
/** Copy SQLite's last error into errstr, prefixed by what; returns -1. */
int cf_store_err(cf_store *s, const char *what, char *errstr, size_t errstr_size);
/** Bit of rule name (registered on first sight); -1 past CF_STORE_MAX_RULES. */
int cf_store_rule_bit(cf_store *s, const char *name, size_t n, bool add, char *errstr,
                      size_t errstr_size);
/** Bind a text (NULL or empty: SQL NULL). */
void cf_store_bind_text(sqlite3_stmt *st, int i, const char *p, size_t n);
/** Column text or "" (never NULL). */
const char *cf_store_col(sqlite3_stmt *st, int i);
/** Append an audit event. */
int cf_store_event(cf_store *s, int64_t case_id, int64_t at_ms, const char *actor,
                   const char *action, const char *from, const char *to, const char *note,
                   const char *detail, char *errstr, size_t errstr_size);

#endif
