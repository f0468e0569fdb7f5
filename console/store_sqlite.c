/*
 * store_sqlite.c - the SQLite case store: opening, numbered migrations
 * (PRAGMA user_version), cached prepared statements, and ingestion (flags
 * and stats upserts). Queries are in store_query.c, verdicts, users,
 * sessions and the outcome outbox in store_users.c.
 *
 * Idempotence: a case is one (declaration_id, line); a version is one
 * (case, XXH3-128 of the declaration's bytes), so a re-delivered flag adds
 * nothing; a reason is one (version, rule).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "console/store_int.h"
#include "pipeline/core/clock.h"

/* Migrations: index i brings the schema from version i to i + 1. Never edit
 * one that has shipped; append a new one. */
static const char *const migrations[] = {
    /* 1: cases, versions, reasons, audit trail, users, sessions, stats */
    "CREATE TABLE rules(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
    "CREATE TABLE cases(id INTEGER PRIMARY KEY, declaration_id TEXT NOT NULL,"
    " line INTEGER NOT NULL, amendment INTEGER NOT NULL DEFAULT 0, score REAL NOT NULL,"
    " event_time TEXT NOT NULL, event_time_ms INTEGER NOT NULL, exporter_id TEXT NOT NULL,"
    " importer_id TEXT, origin TEXT, export_country TEXT, hs_code TEXT, certificate TEXT,"
    " customs_value REAL, currency TEXT, rules_mask INTEGER NOT NULL DEFAULT 0,"
    " status TEXT NOT NULL DEFAULT 'open', active INTEGER NOT NULL DEFAULT 1, assignee TEXT,"
    " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, UNIQUE(declaration_id, line));"
    "CREATE INDEX cases_queue ON cases(active, score, event_time_ms, id);"
    /* each filter that must stay fast at millions of cases has an index in
     * queue order after its equality columns */
    "CREATE INDEX cases_exporter ON cases(exporter_id, active, score, event_time_ms, id);"
    "CREATE INDEX cases_origin ON cases(origin, active, score, event_time_ms, id);"
    "CREATE INDEX cases_importer ON cases(importer_id);"
    "CREATE INDEX cases_certificate ON cases(certificate) WHERE certificate IS NOT NULL;"
    "CREATE TABLE versions(id INTEGER PRIMARY KEY, case_id INTEGER NOT NULL REFERENCES cases(id),"
    " digest BLOB NOT NULL, amendment INTEGER NOT NULL, score REAL NOT NULL,"
    " declaration TEXT NOT NULL, source TEXT, processed_at TEXT, pipeline_version TEXT,"
    " received_at INTEGER NOT NULL, UNIQUE(case_id, digest));"
    "CREATE TABLE reasons(version_id INTEGER NOT NULL REFERENCES versions(id),"
    " rule TEXT NOT NULL, weight REAL NOT NULL, evidence TEXT NOT NULL, explanation TEXT,"
    " PRIMARY KEY(version_id, rule)) WITHOUT ROWID;"
    "CREATE TABLE events(id INTEGER PRIMARY KEY, case_id INTEGER NOT NULL REFERENCES cases(id),"
    " at INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, from_status TEXT,"
    " to_status TEXT, note TEXT, detail TEXT);"
    "CREATE INDEX events_case ON events(case_id, id);"
    /* the audit trail is append-only, whoever holds the file */
    "CREATE TRIGGER events_no_update BEFORE UPDATE ON events"
    " BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;"
    "CREATE TRIGGER events_no_delete BEFORE DELETE ON events"
    " BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;"
    "CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, role TEXT NOT NULL"
    " CHECK(role IN ('viewer','analyst','supervisor')), hash TEXT NOT NULL,"
    " disabled INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL);"
    "CREATE TABLE sessions(token TEXT PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id),"
    " csrf TEXT NOT NULL, expires INTEGER NOT NULL);"
    "CREATE TABLE stats(key TEXT PRIMARY KEY, type TEXT NOT NULL, window_start TEXT NOT NULL,"
    " reporter TEXT, origin TEXT, export_country TEXT, hs_chapter TEXT, records INTEGER,"
    " value_usd REAL, flagged INTEGER, flags_by_rule TEXT, dead_letters INTEGER, late INTEGER,"
    " top_exporters TEXT, final INTEGER, body TEXT NOT NULL);"
    "CREATE INDEX stats_window ON stats(type, window_start);",
    /* 2: the outcome outbox (verdicts published after their transaction commits) */
    "CREATE TABLE outbox(id INTEGER PRIMARY KEY, case_id INTEGER NOT NULL REFERENCES cases(id),"
    " event_id INTEGER NOT NULL REFERENCES events(id), outcome TEXT NOT NULL,"
    " key TEXT NOT NULL, payload TEXT NOT NULL, created_at INTEGER NOT NULL,"
    " published_at INTEGER);"
    "CREATE INDEX outbox_pending ON outbox(id) WHERE published_at IS NULL;",
    /* 3: the queue index carries the columns scan-type filters test (rule, HS,
     * export country), so a filtered page reads the table only for its matches;
     * an HS index for narrow prefixes */
    "DROP INDEX cases_queue;"
    "CREATE INDEX cases_queue ON cases(active, score, event_time_ms, id, rules_mask, hs_code,"
    " export_country);"
    "CREATE INDEX cases_hs ON cases(hs_code);",
};
#define N_MIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))
_Static_assert(N_MIGRATIONS == CF_STORE_VERSION, "CF_STORE_VERSION is the last migration");

static const char *const stmt_sql[ST_COUNT] = {
    [ST_CASE_INSERT] =
        "INSERT INTO cases(declaration_id, line, amendment, score, event_time, event_time_ms,"
        " exporter_id, importer_id, origin, export_country, hs_code, certificate, customs_value,"
        " currency, rules_mask, created_at, updated_at)"
        " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?16)"
        " ON CONFLICT(declaration_id, line) DO NOTHING",
    [ST_CASE_FIND] = "SELECT id, amendment, status FROM cases WHERE declaration_id=?1 AND line=?2",
    [ST_VERSION_INSERT] =
        "INSERT INTO versions(case_id, digest, amendment, score, declaration, source,"
        " processed_at, pipeline_version, received_at) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)"
        " ON CONFLICT(case_id, digest) DO NOTHING",
    [ST_REASON_INSERT] = "INSERT INTO reasons(version_id, rule, weight, evidence, explanation)"
                         " VALUES(?1,?2,?3,?4,?5) ON CONFLICT DO NOTHING",
    [ST_CASE_SUPERSEDE] =
        "UPDATE cases SET amendment=?2, score=?3, event_time=?4, event_time_ms=?5,"
        " exporter_id=?6, importer_id=?7, origin=?8, export_country=?9, hs_code=?10,"
        " certificate=?11, customs_value=?12, currency=?13, rules_mask=?14, updated_at=?15,"
        " status=CASE WHEN active THEN status ELSE 'open' END, active=1 WHERE id=?1",
    [ST_EVENT_INSERT] = "INSERT INTO events(case_id, at, actor, action, from_status, to_status,"
                        " note, detail) VALUES(?1,?2,?3,?4,?5,?6,?7,?8)",
    [ST_STATS_UPSERT] =
        "INSERT INTO stats(key, type, window_start, reporter, origin, export_country,"
        " hs_chapter, records, value_usd, flagged, flags_by_rule, dead_letters, late,"
        " top_exporters, final, body)"
        " SELECT ws || '/' || json_extract(j, '$.partitions') || '/' || CASE t WHEN 'window'"
        "  THEN 'window' ELSE coalesce(json_extract(j, '$.reporter_country'), '-') || '/' ||"
        "  json_extract(j, '$.origin_country') || '/' || json_extract(j, '$.export_country') ||"
        "  '/' || json_extract(j, '$.hs_chapter') END, t, ws,"
        " json_extract(j, '$.reporter_country'), json_extract(j, '$.origin_country'),"
        " json_extract(j, '$.export_country'), json_extract(j, '$.hs_chapter'),"
        " json_extract(j, '$.records'), json_extract(j, '$.value_usd'),"
        " json_extract(j, '$.flagged'), json_extract(j, '$.flags_by_rule'),"
        " json_extract(j, '$.dead_letters'), json_extract(j, '$.late'),"
        " json_extract(j, '$.top_exporters'), json_extract(j, '$.final'), j"
        " FROM (SELECT j, json_extract(j, '$.type') AS t, json_extract(j, '$.window_start') AS ws"
        "  FROM (SELECT json(?1) AS j))"
        " WHERE t IN ('group', 'window') AND typeof(ws) = 'text'"
        "  AND json_type(j, '$.partitions') = 'array'"
        "  AND (t = 'window' OR (json_extract(j, '$.origin_country') IS NOT NULL"
        "   AND json_extract(j, '$.export_country') IS NOT NULL"
        "   AND json_extract(j, '$.hs_chapter') IS NOT NULL))"
        " ON CONFLICT(key) DO UPDATE SET records=excluded.records, value_usd=excluded.value_usd,"
        " flagged=excluded.flagged, flags_by_rule=excluded.flags_by_rule,"
        " dead_letters=excluded.dead_letters, late=excluded.late,"
        " top_exporters=excluded.top_exporters, final=excluded.final, body=excluded.body",
    [ST_RULE_FIND] = "SELECT id FROM rules WHERE name=?1",
    [ST_RULE_INSERT] = "INSERT INTO rules(name) VALUES(?1)",
};

int cf_store_err(cf_store *s, const char *what, char *errstr, size_t errstr_size)
{
        snprintf(errstr, errstr_size, "store: %s: %s", what, sqlite3_errmsg(s->db));
        return -1;
}

sqlite3_stmt *cf_store_prep(cf_store *s, const char *sql, const char *what, char *errstr,
                            size_t errstr_size)
{
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) == SQLITE_OK) return st;
        cf_store_err(s, what, errstr, errstr_size);
        return NULL;
}

int cf_store_exec(cf_store *s, const char *sql, char *errstr, size_t errstr_size)
{
        char *msg = NULL;
        if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) == SQLITE_OK) return 0;
        snprintf(errstr, errstr_size, "store: %s", msg ? msg : "error");
        sqlite3_free(msg);
        return -1;
}

sqlite3_stmt *cf_store_stmt(cf_store *s, int id, char *errstr, size_t errstr_size)
{
        if (!s->st[id] && sqlite3_prepare_v3(s->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                             &s->st[id], NULL) != SQLITE_OK) {
                cf_store_err(s, "prepare", errstr, errstr_size);
                return NULL;
        }
        sqlite3_reset(s->st[id]);
        sqlite3_clear_bindings(s->st[id]);
        return s->st[id];
}

void cf_store_bind_text(sqlite3_stmt *st, int i, const char *p, size_t n)
{
        if (p && n)
                sqlite3_bind_text(st, i, p, (int)n, SQLITE_STATIC);
        else
                sqlite3_bind_null(st, i);
}

const char *cf_store_col(sqlite3_stmt *st, int i)
{
        const unsigned char *t = sqlite3_column_text(st, i);
        return t ? (const char *)t : "";
}

static int migrate(cf_store *s, int target, char *errstr, size_t errstr_size)
{
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
                return cf_store_err(s, "user_version", errstr, errstr_size);
        int v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
        sqlite3_finalize(st);
        if (v < 0) return cf_store_err(s, "user_version", errstr, errstr_size);
        if (v > N_MIGRATIONS) {
                snprintf(errstr, errstr_size,
                         "store: schema version %d is newer than this program's (%d)", v,
                         N_MIGRATIONS);
                return -1;
        }
        /* each migration and its version bump commit together, or not at all */
        for (; v < target; v++) {
                char bump[64];
                snprintf(bump, sizeof bump, "PRAGMA user_version=%d;", v + 1);
                if (cf_store_exec(s, "BEGIN IMMEDIATE", errstr, errstr_size)) return -1;
                if (cf_store_exec(s, migrations[v], errstr, errstr_size) ||
                    cf_store_exec(s, bump, errstr, errstr_size)) {
                        cf_store_exec(s, "ROLLBACK", errstr + strlen(errstr), 0);
                        return -1;
                }
                if (cf_store_exec(s, "COMMIT", errstr, errstr_size)) return -1;
        }
        return 0;
}

cf_store *cf_store_open_at(const char *path, int version, char *errstr, size_t errstr_size)
{
        cf_store *s = calloc(1, sizeof *s);
        if (sqlite3_open_v2(path, &s->db,
                            SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                            NULL) != SQLITE_OK) {
                snprintf(errstr, errstr_size, "store: %s: %s", path,
                         s->db ? sqlite3_errmsg(s->db) : "cannot open");
                cf_store_close(s);
                return NULL;
        }
        /* WAL: readers (the web pages) never block the ingesting writer; NORMAL
         * sync is durable across a process crash (kill -9), which is what the
         * offset commit after the transaction relies on */
        sqlite3_busy_timeout(s->db, 10000);
        /* 16 KiB pages for a new file (an existing store keeps its size: SQLite
         * fixes it when the file is first written): one B-tree level fewer for
         * the case indexes, 5-15 % less CPU per ingested flag than 4 KiB
         * (bench/RESULTS.md § console); 32/64 KiB measured no better */
        if (cf_store_exec(
                s,
                "PRAGMA page_size=16384; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                " PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;"
                " PRAGMA cache_size=-65536; PRAGMA wal_autocheckpoint=16384;",
                errstr, errstr_size) ||
            migrate(s, version, errstr, errstr_size)) {
                cf_store_close(s);
                return NULL;
        }
        return s;
}

cf_store *cf_store_open(const char *path, char *errstr, size_t errstr_size)
{
        return cf_store_open_at(path, N_MIGRATIONS, errstr, errstr_size);
}

int cf_store_bulk(cf_store *s, bool on)
{
        /* the ingesting connection touches index pages all over a large store:
         * 256 MiB of page cache instead of 64 */
        char err[256];
        return cf_store_exec(s, on ? "PRAGMA cache_size=-262144;" : "PRAGMA cache_size=-65536;",
                             err, sizeof err);
}

int cf_store_optimize(cf_store *s)
{
        /* sampled statistics (a few ms at any size) so the planner picks the
         * selective index (an exporter, a declaration id) over the queue order */
        char err[256];
        return cf_store_exec(s, "PRAGMA analysis_limit=1000; ANALYZE;", err, sizeof err);
}

int cf_store_version(cf_store *s)
{
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK) return -1;
        int v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
        sqlite3_finalize(st);
        return v;
}

void cf_store_close(cf_store *s)
{
        if (!s) return;
        for (int i = 0; i < ST_COUNT; i++)
                sqlite3_finalize(s->st[i]);
        for (int i = 0; i < CF_STORE_MAX_RULES; i++)
                free(s->rules[i]);
        sqlite3_close(s->db);
        free(s);
}

int cf_store_begin(cf_store *s, char *errstr, size_t errstr_size)
{
        return cf_store_exec(s, "BEGIN IMMEDIATE", errstr, errstr_size);
}

int cf_store_commit(cf_store *s, char *errstr, size_t errstr_size)
{
        return cf_store_exec(s, "COMMIT", errstr, errstr_size);
}

void cf_store_rollback(cf_store *s)
{
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

int cf_store_rule_bit(cf_store *s, const char *name, size_t n, bool add, char *errstr,
                      size_t errstr_size)
{
        for (int i = 0; i < CF_STORE_MAX_RULES && s->rules[i]; i++)
                if (strlen(s->rules[i]) == n && !memcmp(s->rules[i], name, n)) return i;
        sqlite3_stmt *st = cf_store_stmt(s, ST_RULE_FIND, errstr, errstr_size);
        if (!st) return -2;
        sqlite3_bind_text(st, 1, name, (int)n, SQLITE_STATIC);
        int64_t id = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
        sqlite3_reset(st);
        if (!id && add) {
                if (!(st = cf_store_stmt(s, ST_RULE_INSERT, errstr, errstr_size))) return -2;
                sqlite3_bind_text(st, 1, name, (int)n, SQLITE_STATIC);
                if (sqlite3_step(st) != SQLITE_DONE)
                        return cf_store_err(s, "rule", errstr, errstr_size), -2;
                id = sqlite3_last_insert_rowid(s->db);
        }
        if (!id || id > CF_STORE_MAX_RULES) return -1;
        if (!s->rules[id - 1]) s->rules[id - 1] = strndup(name, n);
        return (int)id - 1;
}

const char *cf_store_rule_name(cf_store *s, int bit)
{
        if (bit < 0 || bit >= CF_STORE_MAX_RULES) return NULL;
        if (!s->rules[bit]) { /* another connection may have registered it */
                sqlite3_stmt *st;
                if (sqlite3_prepare_v2(s->db, "SELECT name FROM rules WHERE id=?1", -1, &st,
                                       NULL) != SQLITE_OK)
                        return NULL;
                sqlite3_bind_int(st, 1, bit + 1);
                if (sqlite3_step(st) == SQLITE_ROW) s->rules[bit] = strdup(cf_store_col(st, 0));
                sqlite3_finalize(st);
        }
        return s->rules[bit];
}

int cf_store_event(cf_store *s, int64_t case_id, int64_t at_ms, const char *actor,
                   const char *action, const char *from, const char *to, const char *note,
                   const char *detail, char *errstr, size_t errstr_size)
{
        sqlite3_stmt *st = cf_store_stmt(s, ST_EVENT_INSERT, errstr, errstr_size);
        if (!st) return -1;
        const char *v[] = {actor, action, from, to, note, detail};
        sqlite3_bind_int64(st, 1, case_id);
        sqlite3_bind_int64(st, 2, at_ms);
        for (int i = 0; i < 6; i++)
                cf_store_bind_text(st, 3 + i, v[i], v[i] ? strlen(v[i]) : 0);
        if (sqlite3_step(st) != SQLITE_DONE) return cf_store_err(s, "event", errstr, errstr_size);
        return 0;
}

/* Bind the case columns insert and supersede share, from ?i: amendment, score,
 * event time (text, ms), the parties and goods, value, currency, rule mask, now. */
static void bind_case_fields(sqlite3_stmt *st, const cf_flag_msg *f, int i, uint64_t mask,
                             int64_t now)
{
        sqlite3_bind_int64(st, i, f->amendment);
        sqlite3_bind_double(st, i + 1, f->score);
        cf_store_bind_text(st, i + 2, f->event_time.p, f->event_time.n);
        sqlite3_bind_int64(st, i + 3, f->event_time_ms);
        const cf_text *t[] = {&f->exporter_id,    &f->importer_id, &f->origin,
                              &f->export_country, &f->hs_code,     &f->certificate};
        for (int k = 0; k < 6; k++)
                cf_store_bind_text(st, i + 4 + k, t[k]->p, t[k]->n);
        sqlite3_bind_double(st, i + 10, f->customs_value);
        cf_store_bind_text(st, i + 11, f->currency.p, f->currency.n);
        sqlite3_bind_int64(st, i + 12, (int64_t)mask);
        sqlite3_bind_int64(st, i + 13, now);
}

/* Insert the case if new; else find it. *cur_amendment/-status of a known one. */
static int64_t case_upsert(cf_store *s, const cf_flag_msg *f, uint64_t mask, int64_t now,
                           bool *is_new, int64_t *cur_amendment, char *cur_status, char *errstr,
                           size_t errstr_size)
{
        sqlite3_stmt *st = cf_store_stmt(s, ST_CASE_INSERT, errstr, errstr_size);
        if (!st) return -1;
        cf_store_bind_text(st, 1, f->declaration_id.p, f->declaration_id.n);
        sqlite3_bind_int64(st, 2, f->line);
        bind_case_fields(st, f, 3, mask, now);
        if (sqlite3_step(st) != SQLITE_DONE) return cf_store_err(s, "case", errstr, errstr_size);
        if ((*is_new = sqlite3_changes(s->db) == 1)) return sqlite3_last_insert_rowid(s->db);
        if (!(st = cf_store_stmt(s, ST_CASE_FIND, errstr, errstr_size))) return -1;
        cf_store_bind_text(st, 1, f->declaration_id.p, f->declaration_id.n);
        sqlite3_bind_int64(st, 2, f->line);
        if (sqlite3_step(st) != SQLITE_ROW) return cf_store_err(s, "case", errstr, errstr_size);
        int64_t id = sqlite3_column_int64(st, 0);
        *cur_amendment = sqlite3_column_int64(st, 1);
        snprintf(cur_status, 32, "%s", cf_store_col(st, 2));
        sqlite3_reset(st);
        return id;
}

static int insert_reasons(cf_store *s, const cf_flag_msg *f, int64_t version_id, char *errstr,
                          size_t errstr_size)
{
        for (int i = 0; i < f->n_reasons; i++) {
                const cf_flag_reason *r = &f->reasons[i];
                sqlite3_stmt *st = cf_store_stmt(s, ST_REASON_INSERT, errstr, errstr_size);
                if (!st) return -1;
                sqlite3_bind_int64(st, 1, version_id);
                cf_store_bind_text(st, 2, r->rule.p, r->rule.n);
                sqlite3_bind_double(st, 3, r->weight);
                cf_store_bind_text(st, 4, r->evidence.p, r->evidence.n);
                cf_store_bind_text(st, 5, r->explanation.p, r->explanation.n);
                if (sqlite3_step(st) != SQLITE_DONE)
                        return cf_store_err(s, "reason", errstr, errstr_size);
        }
        return 0;
}

/* A newer version becomes current; a closed case is re-opened (audit event). */
static int supersede(cf_store *s, int64_t id, const cf_flag_msg *f, uint64_t mask, int64_t now,
                     const char *status, char *errstr, size_t errstr_size)
{
        sqlite3_stmt *st = cf_store_stmt(s, ST_CASE_SUPERSEDE, errstr, errstr_size);
        if (!st) return -1;
        sqlite3_bind_int64(st, 1, id);
        bind_case_fields(st, f, 2, mask, now);
        if (sqlite3_step(st) != SQLITE_DONE) return cf_store_err(s, "case", errstr, errstr_size);
        if (!cf_status_closing(status)) return 0;
        char detail[64];
        snprintf(detail, sizeof detail, "amendment %lld received", (long long)f->amendment);
        return cf_store_event(s, id, now, "ingest", "reopen", status, "open", NULL, detail, errstr,
                              errstr_size);
}

int cf_store_put_flag(cf_store *s, const cf_flag_msg *f, int64_t now_ms, cf_put_result *res,
                      char *errstr, size_t errstr_size)
{
        uint64_t mask = 0;
        for (int i = 0; i < f->n_reasons; i++) {
                int bit = cf_store_rule_bit(s, f->reasons[i].rule.p, f->reasons[i].rule.n, true,
                                            errstr, errstr_size);
                if (bit < -1) return -1;
                if (bit >= 0) mask |= 1ull << bit;
        }
        bool is_new = false;
        int64_t cur_amendment = 0;
        char status[32] = "";
        int64_t id =
            case_upsert(s, f, mask, now_ms, &is_new, &cur_amendment, status, errstr, errstr_size);
        if (id < 0) return -1;
        XXH128_hash_t h = XXH3_128bits(f->declaration.p, f->declaration.n);
        XXH128_canonical_t digest;
        XXH128_canonicalFromHash(&digest, h);
        sqlite3_stmt *st = cf_store_stmt(s, ST_VERSION_INSERT, errstr, errstr_size);
        if (!st) return -1;
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_blob(st, 2, &digest, sizeof digest, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, f->amendment);
        sqlite3_bind_double(st, 4, f->score);
        cf_store_bind_text(st, 5, f->declaration.p, f->declaration.n);
        cf_store_bind_text(st, 6, f->source.p, f->source.n);
        cf_store_bind_text(st, 7, f->processed_at.p, f->processed_at.n);
        cf_store_bind_text(st, 8, f->pipeline_version.p, f->pipeline_version.n);
        sqlite3_bind_int64(st, 9, now_ms);
        if (sqlite3_step(st) != SQLITE_DONE) return cf_store_err(s, "version", errstr, errstr_size);
        if (sqlite3_changes(s->db) == 0) {
                *res = CF_PUT_DUPLICATE;
                return 0;
        }
        if (insert_reasons(s, f, sqlite3_last_insert_rowid(s->db), errstr, errstr_size)) return -1;
        *res = is_new ? CF_PUT_NEW_CASE : CF_PUT_NEW_VERSION;
        /* an older amendment arriving late joins the history without becoming current */
        if (!is_new && f->amendment >= cur_amendment)
                return supersede(s, id, f, mask, now_ms, status, errstr, errstr_size);
        return 0;
}

int cf_store_put_stats(cf_store *s, const char *json, size_t n, char *errstr, size_t errstr_size)
{
        sqlite3_stmt *st = cf_store_stmt(s, ST_STATS_UPSERT, errstr, errstr_size);
        if (!st) return -1;
        sqlite3_bind_text(st, 1, json, (int)n, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ERROR && strstr(sqlite3_errmsg(s->db), "JSON")) {
                snprintf(errstr, errstr_size, "stats: malformed JSON");
                return -1;
        }
        if (rc != SQLITE_DONE) return cf_store_err(s, "stats", errstr, errstr_size);
        if (sqlite3_changes(s->db) == 0) {
                snprintf(errstr, errstr_size,
                         "stats: not a group or window message (type, window_start, partitions)");
                return -1;
        }
        return 0;
}
