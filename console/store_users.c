/*
 * store_users.c - the SQLite store's workflow side: verdict transitions with
 * their audit events and queued outcomes (one transaction), users, sessions,
 * the outcome outbox and the gauges of /metrics.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console/store_int.h"
#include "pipeline/core/buf.h"

static const char *const statuses[] = {"open",    "in_review", "confirmed_fraud",
                                       "cleared", "referred",  NULL};

bool cf_status_valid(const char *status)
{
        for (int i = 0; statuses[i]; i++)
                if (status && !strcmp(status, statuses[i])) return true;
        return false;
}

bool cf_status_closing(const char *status)
{
        return status && (!strcmp(status, "confirmed_fraud") || !strcmp(status, "cleared") ||
                          !strcmp(status, "referred"));
}

/* The workflow: open -> in_review -> confirmed_fraud | cleared | referred;
 * in_review -> open (released); a closed case -> in_review (re-opened). */
static bool legal(const char *from, const char *to)
{
        if (!strcmp(from, "open")) return !strcmp(to, "in_review");
        if (!strcmp(from, "in_review")) return !strcmp(to, "open") || cf_status_closing(to);
        return cf_status_closing(from) && !strcmp(to, "in_review");
}

static bool blank(const char *s)
{
        for (; s && *s; s++)
                if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n') return false;
        return true;
}

static const char *action_of(const char *from, const char *to)
{
        if (!strcmp(to, "in_review")) return cf_status_closing(from) ? "reopen" : "review";
        if (!strcmp(to, "open")) return "release";
        return "verdict";
}

/* Queue the outcome of a verdict (DESIGN §3, schemas/outcome.schema.json). */
static int queue_outcome(cf_store *s, int64_t case_id, int64_t event_id, const char *outcome,
                         const char *actor, int64_t now, char *errstr, size_t errstr_size)
{
        sqlite3_stmt *st =
            cf_store_prep(s,
                          "SELECT c.declaration_id, c.line, c.exporter_id, v.declaration"
                          " FROM cases c JOIN versions v ON v.case_id=c.id WHERE c.id=?1"
                          " ORDER BY v.amendment DESC, v.id DESC LIMIT 1",
                          "outcome", errstr, errstr_size);
        if (!st) return -1;
        sqlite3_bind_int64(st, 1, case_id);
        if (sqlite3_step(st) != SQLITE_ROW) {
                sqlite3_finalize(st);
                return cf_store_err(s, "outcome", errstr, errstr_size);
        }
        cf_buf b = {0};
        const char *id = cf_store_col(st, 0), *decl = cf_store_col(st, 3);
        char case_ref[32];
        snprintf(case_ref, sizeof case_ref, "%lld", (long long)case_id);
        cf_buf_puts(&b, "{\"declaration_id\":");
        cf_json_str(&b, id, strlen(id));
        cf_buf_printf(&b, ",\"line\":%lld,\"outcome\":\"%s\",\"inspected_at\":",
                      (long long)sqlite3_column_int64(st, 1), outcome);
        cf_json_time(&b, now);
        cf_buf_puts(&b, ",\"source\":\"console\",\"case_id\":");
        cf_json_str(&b, case_ref, strlen(case_ref));
        cf_buf_puts(&b, ",\"decided_by\":");
        cf_json_str(&b, actor, strlen(actor));
        cf_buf_puts(&b, ",\"declaration\":");
        cf_buf_puts(&b, decl); /* stored as received: valid JSON */
        cf_buf_putc(&b, '}');
        char *key = strdup(cf_store_col(st, 2));
        sqlite3_finalize(st);
        int rc = sqlite3_prepare_v2(s->db,
                                    "INSERT INTO outbox(case_id, event_id, outcome, key, payload,"
                                    " created_at) VALUES(?1,?2,?3,?4,?5,?6)",
                                    -1, &st, NULL);
        if (rc == SQLITE_OK) {
                sqlite3_bind_int64(st, 1, case_id);
                sqlite3_bind_int64(st, 2, event_id);
                sqlite3_bind_text(st, 3, outcome, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 4, key, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 5, b.p, (int)b.len, SQLITE_STATIC);
                sqlite3_bind_int64(st, 6, now);
                rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
        }
        if (rc != SQLITE_OK) cf_store_err(s, "outbox", errstr, errstr_size);
        sqlite3_finalize(st);
        free(key);
        cf_buf_free(&b);
        return rc == SQLITE_OK ? 0 : -1;
}

/* The body of cf_store_transition, inside its transaction. */
static int transition(cf_store *s, int64_t id, const char *actor, const char *to, const char *note,
                      const char *assignee, int64_t now, char *errstr, size_t errstr_size)
{
        sqlite3_stmt *st = cf_store_prep(s, "SELECT status, assignee FROM cases WHERE id=?1",
                                         "case", errstr, errstr_size);
        if (!st) return -1;
        sqlite3_bind_int64(st, 1, id);
        char from[32] = "", old_assignee[128] = "";
        int found = sqlite3_step(st) == SQLITE_ROW;
        if (found) {
                snprintf(from, sizeof from, "%s", cf_store_col(st, 0));
                snprintf(old_assignee, sizeof old_assignee, "%s", cf_store_col(st, 1));
        }
        sqlite3_finalize(st);
        if (!found) return snprintf(errstr, errstr_size, "no case %lld", (long long)id), 2;
        if (to && !cf_status_valid(to))
                return snprintf(errstr, errstr_size, "unknown status '%s'", to), 1;
        if (to && !legal(from, to))
                return snprintf(errstr, errstr_size, "a case %s cannot become %s", from, to), 1;
        if (to && cf_status_closing(to) && blank(note))
                return snprintf(errstr, errstr_size, "a note is required to close a case"), 1;
        if (!to && !assignee && blank(note))
                return snprintf(errstr, errstr_size, "nothing to do: no status, assignee or note"),
                       1;
        if (!to && assignee && cf_status_closing(from))
                return snprintf(errstr, errstr_size, "a closed case cannot be assigned"), 1;
        st = cf_store_prep(s,
                           "UPDATE cases SET status=coalesce(?2, status), active=?3,"
                           " assignee=CASE WHEN ?4 IS NULL THEN assignee WHEN ?4='' THEN NULL"
                           " ELSE ?4 END, updated_at=?5 WHERE id=?1",
                           "case", errstr, errstr_size);
        if (!st) return -1;
        const char *now_status = to ? to : from;
        sqlite3_bind_int64(st, 1, id);
        cf_store_bind_text(st, 2, to, to ? strlen(to) : 0);
        sqlite3_bind_int(st, 3, !cf_status_closing(now_status));
        if (assignee) sqlite3_bind_text(st, 4, assignee, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, now);
        int rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE) return cf_store_err(s, "case", errstr, errstr_size);
        char detail[200] = "";
        if (assignee && strcmp(assignee, old_assignee))
                snprintf(detail, sizeof detail, "assigned to %s", *assignee ? assignee : "nobody");
        const char *action = to                         ? action_of(from, to)
                             : !blank(note) && !*detail ? "comment"
                                                        : "assign";
        if (cf_store_event(s, id, now, actor, action, from, now_status, blank(note) ? NULL : note,
                           *detail ? detail : NULL, errstr, errstr_size))
                return -1;
        int64_t event_id = sqlite3_last_insert_rowid(s->db);
        /* referred is not an outcome: the referral's own inspection will publish one */
        if (to && (!strcmp(to, "confirmed_fraud") || !strcmp(to, "cleared")))
                return queue_outcome(s, id, event_id, !strcmp(to, "cleared") ? "clean" : "fraud",
                                     actor, now, errstr, errstr_size);
        return 0;
}

int cf_store_transition(cf_store *s, int64_t case_id, const char *actor, const char *to,
                        const char *note, const char *assignee, int64_t now_ms, char *errstr,
                        size_t errstr_size)
{
        if (cf_store_exec(s, "BEGIN IMMEDIATE", errstr, errstr_size)) return -1;
        int rc = transition(s, case_id, actor, to, note, assignee, now_ms, errstr, errstr_size);
        if (rc) {
                cf_store_rollback(s);
                return rc;
        }
        return cf_store_commit(s, errstr, errstr_size);
}

int cf_store_user_put(cf_store *s, const cf_user *u, bool add, char *errstr, size_t errstr_size)
{
        const char *sql = add ? "INSERT INTO users(name, role, hash, disabled, created_at)"
                                " VALUES(?1, ?2, ?3, ?4, strftime('%s','now') * 1000)"
                              : "UPDATE users SET role=?2, hash=?3, disabled=?4 WHERE name=?1";
        sqlite3_stmt *st = cf_store_prep(s, sql, "user", errstr, errstr_size);
        if (!st) return -1;
        sqlite3_bind_text(st, 1, u->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, u->role, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, u->hash, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 4, u->disabled);
        int rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if (rc == SQLITE_CONSTRAINT)
                return snprintf(errstr, errstr_size, "user '%s' exists (or bad role)", u->name), -1;
        if (rc != SQLITE_DONE) return cf_store_err(s, "user", errstr, errstr_size);
        if (!add && sqlite3_changes(s->db) == 0)
                return snprintf(errstr, errstr_size, "no user '%s'", u->name), -1;
        return 0;
}

static void user_row(sqlite3_stmt *st, int i, cf_user *u)
{
        memset(u, 0, sizeof *u);
        u->id = sqlite3_column_int64(st, i);
        snprintf(u->name, sizeof u->name, "%s", cf_store_col(st, i + 1));
        snprintf(u->role, sizeof u->role, "%s", cf_store_col(st, i + 2));
        snprintf(u->hash, sizeof u->hash, "%s", cf_store_col(st, i + 3));
        u->disabled = sqlite3_column_int(st, i + 4);
}

int cf_store_user_get(cf_store *s, const char *name, cf_user *u, char *errstr, size_t errstr_size)
{
        sqlite3_stmt *st =
            cf_store_prep(s, "SELECT id, name, role, hash, disabled FROM users WHERE name=?1",
                          "user", errstr, errstr_size);
        if (!st) return -1;
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) user_row(st, 0, u);
        sqlite3_finalize(st);
        return rc == SQLITE_ROW ? 0 : 1;
}

int cf_store_users(cf_store *s, cf_point_cb cb, void *op, char *errstr, size_t errstr_size)
{
        sqlite3_stmt *st =
            cf_store_prep(s, "SELECT name, role FROM users WHERE disabled=0 ORDER BY name", "users",
                          errstr, errstr_size);
        if (!st) return -1;
        while (sqlite3_step(st) == SQLITE_ROW) {
                cf_point p = {.key = cf_store_col(st, 0), .series = cf_store_col(st, 1)};
                if (cb(op, &p)) break;
        }
        sqlite3_finalize(st);
        return 0;
}

int cf_store_session_put(cf_store *s, const char *token_hex, int64_t user_id, const char *csrf,
                         int64_t expires_ms, char *errstr, size_t errstr_size)
{
        sqlite3_stmt *st = cf_store_prep(s,
                                         "INSERT INTO sessions(token, user_id, csrf, expires)"
                                         " VALUES(?1,?2,?3,?4)",
                                         "session", errstr, errstr_size);
        if (!st) return -1;
        sqlite3_bind_text(st, 1, token_hex, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, user_id);
        sqlite3_bind_text(st, 3, csrf, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, expires_ms);
        int rc = sqlite3_step(st);
        sqlite3_finalize(st);
        return rc == SQLITE_DONE ? 0 : cf_store_err(s, "session", errstr, errstr_size);
}

int cf_store_session_get(cf_store *s, const char *token_hex, int64_t now_ms, cf_user *u, char *csrf,
                         size_t csrf_size, char *errstr, size_t errstr_size)
{
        sqlite3_stmt *st =
            cf_store_prep(s,
                          "SELECT s.csrf, u.id, u.name, u.role, u.hash, u.disabled FROM"
                          " sessions s JOIN users u ON u.id=s.user_id WHERE s.token=?1"
                          " AND s.expires > ?2 AND u.disabled=0",
                          "session", errstr, errstr_size);
        if (!st) return -1;
        sqlite3_bind_text(st, 1, token_hex, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, now_ms);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                snprintf(csrf, csrf_size, "%s", cf_store_col(st, 0));
                user_row(st, 1, u);
                u->hash[0] = '\0'; /* a session never needs the password hash */
        }
        sqlite3_finalize(st);
        return rc == SQLITE_ROW ? 0 : 1;
}

int cf_store_session_del(cf_store *s, const char *token_hex, int64_t now_ms)
{
        sqlite3_stmt *st = cf_store_prep(s, "DELETE FROM sessions WHERE token=?1 OR expires <= ?2",
                                         "session", NULL, 0);
        if (!st) return -1;
        sqlite3_bind_text(st, 1, token_hex ? token_hex : "", -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, now_ms);
        int rc = sqlite3_step(st);
        sqlite3_finalize(st);
        return rc == SQLITE_DONE ? 0 : -1;
}

int cf_store_outbox_pending(cf_store *s, int64_t after, int limit, cf_outbox_cb cb, void *op,
                            char *errstr, size_t errstr_size)
{
        sqlite3_stmt *st =
            cf_store_prep(s,
                          "SELECT id, key, payload FROM outbox WHERE published_at IS NULL"
                          " AND id > ?1 ORDER BY id LIMIT ?2",
                          "outbox", errstr, errstr_size);
        if (!st) return -1;
        sqlite3_bind_int64(st, 1, after);
        sqlite3_bind_int(st, 2, limit);
        while (sqlite3_step(st) == SQLITE_ROW) {
                cf_outbox_row o = {.id = sqlite3_column_int64(st, 0),
                                   .key = cf_store_col(st, 1),
                                   .payload = cf_store_col(st, 2)};
                if (cb(op, &o)) break;
        }
        sqlite3_finalize(st);
        return 0;
}

int cf_store_outbox_done(cf_store *s, int64_t id, int64_t now_ms, char *errstr, size_t errstr_size)
{
        sqlite3_stmt *st = cf_store_prep(s, "UPDATE outbox SET published_at=?2 WHERE id=?1",
                                         "outbox", errstr, errstr_size);
        if (!st) return -1;
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, now_ms);
        int rc = sqlite3_step(st);
        sqlite3_finalize(st);
        return rc == SQLITE_DONE ? 0 : cf_store_err(s, "outbox", errstr, errstr_size);
}

int cf_store_counts_get(cf_store *s, cf_store_counts *c, char *errstr, size_t errstr_size)
{
        sqlite3_stmt *st =
            cf_store_prep(s,
                          "SELECT (SELECT count(*) FROM cases WHERE active=1),"
                          " (SELECT count(*) FROM outbox WHERE published_at IS NULL)",
                          "counts", errstr, errstr_size);
        if (!st) return -1;
        memset(c, 0, sizeof *c);
        if (sqlite3_step(st) == SQLITE_ROW) {
                c->active = sqlite3_column_int64(st, 0);
                c->outbox_pending = sqlite3_column_int64(st, 1);
        }
        sqlite3_finalize(st);
        return 0;
}
