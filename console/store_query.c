/*
 * store_query.c - the SQLite store's read side: the queue (filters, keyset
 * pagination in index order), a case with its versions, reasons, related
 * cases, exporter profile and audit trail, and the dashboard's series.
 * Statements are built from fixed fragments; every value is a bound parameter.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console/store_int.h"
#include "pipeline/core/buf.h"

#define CASE_COLS                                                                                  \
        "id, declaration_id, line, amendment, score, event_time, event_time_ms, exporter_id,"      \
        " importer_id, origin, export_country, hs_code, certificate, customs_value, currency,"     \
        " rules_mask, status, assignee, updated_at"

void cf_case_filter_init(cf_case_filter *f, int n)
{
        memset(f, 0, sizeof *f);
        f->score_min = f->score_max = NAN;
        f->limit = n;
}

static void case_row(sqlite3_stmt *st, cf_case_row *r)
{
        memset(r, 0, sizeof *r);
        r->id = sqlite3_column_int64(st, 0);
        r->declaration_id = cf_store_col(st, 1);
        r->line = sqlite3_column_int64(st, 2);
        r->amendment = sqlite3_column_int64(st, 3);
        r->score = sqlite3_column_double(st, 4);
        r->event_time = cf_store_col(st, 5);
        r->event_time_ms = sqlite3_column_int64(st, 6);
        r->exporter_id = cf_store_col(st, 7);
        r->importer_id = cf_store_col(st, 8);
        r->origin = cf_store_col(st, 9);
        r->export_country = cf_store_col(st, 10);
        r->hs_code = cf_store_col(st, 11);
        r->certificate = cf_store_col(st, 12);
        r->customs_value = sqlite3_column_double(st, 13);
        r->currency = cf_store_col(st, 14);
        r->rules_mask = (uint64_t)sqlite3_column_int64(st, 15);
        r->status = cf_store_col(st, 16);
        r->assignee = cf_store_col(st, 17);
        r->updated_at_ms = sqlite3_column_int64(st, 18);
        if (sqlite3_column_count(st) > 19) r->versions = sqlite3_column_int64(st, 19);
}

/* Step st to the end, one callback per case row, counted in *n (may be
 * NULL); 1 when a callback stopped it, -1 + errstr on an error. */
static int each_case_n(cf_store *s, sqlite3_stmt *st, cf_case_cb cb, void *op, int *n, char *errstr,
                       size_t errstr_size)
{
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                cf_case_row r;
                case_row(st, &r);
                if (n) (*n)++;
                if (cb(op, &r)) return 1;
        }
        if (rc != SQLITE_DONE) return cf_store_err(s, "query", errstr, errstr_size);
        return 0;
}

static int each_case(cf_store *s, sqlite3_stmt *st, cf_case_cb cb, void *op, char *errstr,
                     size_t errstr_size)
{
        return each_case_n(s, st, cb, op, NULL, errstr, errstr_size) < 0 ? -1 : 0;
}

/* The WHERE clause of a status filter (fixed SQL: status names are checked). */
static const char *status_sql(const char *status, bool *bind)
{
        *bind = false;
        if (!status || !*status || !strcmp(status, "active")) return "active=1";
        if (!strcmp(status, "all")) return "active IN (0, 1)";
        if (!strcmp(status, "closed")) return "active=0";
        *bind = true;
        return cf_status_closing(status) ? "active=0 AND status=?" : "active=1 AND status=?";
}

/* One bound value of the statement being built. */
typedef struct param {
        int type; /* 't' text, 'i' int, 'd' double */
        const char *s;
        int64_t i;
        double d;
} param;

typedef struct qb {
        cf_buf sql;
        char hs_hi[40]; /* upper bound of the HS prefix range */
        param p[32];
        int n;
} qb;

static void add(qb *q, const char *frag, param p)
{
        cf_buf_puts(&q->sql, " AND ");
        cf_buf_puts(&q->sql, frag);
        if (p.type) q->p[q->n++] = p;
}
#define T(x) ((param){'t', (x), 0, 0})
#define I(x) ((param){'i', NULL, (x), 0})
#define D(x) ((param){'d', NULL, 0, (x)})
#define NONE ((param){0})

/* The index a filter reads (forced: the planner's sampled statistics cannot
 * know that a rare value is rare); NULL for an id search (two lookups). An
 * exporter's or an origin's cases come from their own index, already in queue
 * order: never a scan of the whole queue for a rare one. A narrow HS prefix
 * (5+ digits: a subheading) from its index, then sorted. Else the queue order
 * (which tests rule, HS and export country in the index). Left to the
 * planner, a date range became a skip-scan of cases_origin plus a sort of
 * every match: 170 ms at 1M cases. */
static const char *queue_index(const cf_case_filter *f)
{
        if (f->exporter && *f->exporter) return "cases_exporter";
        if (f->origin && *f->origin) return "cases_origin";
        if (f->hs_prefix && strlen(f->hs_prefix) >= 5) return "cases_hs";
        if (f->q && *f->q) return NULL;
        return "cases_queue";
}

/* Build the page query of f. bucket: the cases of one score only (bound
 * last but one: score, then the (event_time_ms, id) bound, then the limit),
 * for queue_by_score; else the keyset cursor as (score, time, id) < after. */
static int filter_sql(cf_store *s, const cf_case_filter *f, bool bucket, qb *q, char *errstr,
                      size_t errstr_size)
{
        bool bind;
        const char *index = queue_index(f);
        cf_buf_puts(&q->sql, "SELECT " CASE_COLS " FROM cases");
        if (index) {
                cf_buf_puts(&q->sql, " INDEXED BY ");
                cf_buf_puts(&q->sql, index);
        }
        cf_buf_puts(&q->sql, " WHERE ");
        cf_buf_puts(&q->sql, status_sql(f->status, &bind));
        if (bind) {
                if (!cf_status_valid(f->status)) {
                        snprintf(errstr, errstr_size, "unknown status '%s'", f->status);
                        return 1;
                }
                q->p[q->n++] = T(f->status);
        }
        if (f->rule && *f->rule) {
                int bit =
                    cf_store_rule_bit(s, f->rule, strlen(f->rule), false, errstr, errstr_size);
                if (bit < -1) return -1;
                /* a rule never seen matches nothing */
                add(q, "rules_mask & ? != 0", I(bit < 0 ? 0 : (int64_t)(1ull << bit)));
        }
        const struct {
                const char *v, *frag;
        } eqs[] = {{f->origin, "origin=?"},
                   {f->export_country, "export_country=?"},
                   {f->exporter, "exporter_id=?"},
                   {f->importer, "importer_id=?"}};
        for (size_t i = 0; i < sizeof eqs / sizeof eqs[0]; i++)
                if (eqs[i].v && *eqs[i].v) add(q, eqs[i].frag, T(eqs[i].v));
        if (f->hs_prefix && *f->hs_prefix) {
                /* a prefix as a range of cases_hs: [prefix, prefix + 0xFF) (HS codes are
                 * digits); the planner picks it or the queue order by the statistics */
                snprintf(q->hs_hi, sizeof q->hs_hi, "%.30s\xff", f->hs_prefix);
                add(q, "hs_code >= ?", T(f->hs_prefix));
                cf_buf_puts(&q->sql, " AND hs_code < ?");
                q->p[q->n++] = T(q->hs_hi);
        }
        if (f->assignee && *f->assignee)
                add(q, !strcmp(f->assignee, "-") ? "assignee IS NULL" : "assignee=?",
                    !strcmp(f->assignee, "-") ? NONE : T(f->assignee));
        if (f->q && *f->q) {
                /* two index lookups, whatever the planner's statistics */
                add(q, "id IN (SELECT id FROM cases WHERE declaration_id=?", T(f->q));
                cf_buf_puts(&q->sql, " UNION ALL SELECT id FROM cases INDEXED BY cases_exporter"
                                     " WHERE exporter_id=?)");
                q->p[q->n++] = T(f->q);
        }
        if (!isnan(f->score_min)) add(q, "score >= ?", D(f->score_min));
        if (!isnan(f->score_max)) add(q, "score <= ?", D(f->score_max));
        if (f->from_ms) add(q, "event_time_ms >= ?", I(f->from_ms));
        if (f->to_ms) add(q, "event_time_ms < ?", I(f->to_ms));
        if (bucket) { /* values bound by queue_by_score */
                add(q, "score = ?", D(0));
                add(q, "(event_time_ms, id) < (?", I(0));
                cf_buf_puts(&q->sql, ", ?)");
                q->p[q->n++] = I(0);
        } else if (f->after) { /* keyset: strictly after the previous page's last row */
                add(q, "(score, event_time_ms, id) < (?", D(f->after_score));
                cf_buf_puts(&q->sql, ", ?, ?)");
                q->p[q->n++] = I(f->after_time);
                q->p[q->n++] = I(f->after_id);
        }
        cf_buf_puts(&q->sql, " ORDER BY score DESC, event_time_ms DESC, id DESC LIMIT ?");
        q->p[q->n++] = I(f->limit > 0 ? f->limit : 50);
        return 0;
}

/* Prepare the query of f (see filter_sql) with its values bound. */
static sqlite3_stmt *queue_stmt(cf_store *s, const cf_case_filter *f, bool bucket, int *n_params,
                                int *rc, char *errstr, size_t errstr_size)
{
        qb q = {0};
        sqlite3_stmt *st = NULL;
        *rc = filter_sql(s, f, bucket, &q, errstr, errstr_size);
        if (!*rc && sqlite3_prepare_v2(s->db, q.sql.p, (int)q.sql.len, &st, NULL) != SQLITE_OK)
                *rc = cf_store_err(s, "queue", errstr, errstr_size);
        for (int i = 0; !*rc && i < q.n; i++) {
                if (q.p[i].type == 't')
                        sqlite3_bind_text(st, i + 1, q.p[i].s, -1, SQLITE_TRANSIENT);
                else if (q.p[i].type == 'i')
                        sqlite3_bind_int64(st, i + 1, q.p[i].i);
                else
                        sqlite3_bind_double(st, i + 1, q.p[i].d);
        }
        *n_params = q.n;
        cf_buf_free(&q.sql);
        if (*rc) sqlite3_finalize(st), st = NULL;
        return st;
}

/* Buckets of one score read before queue_by_score gives up (scores that are
 * not a few distinct weights' sums, say a model's probabilities): the rest of
 * the page comes from the plain query. */
#define SCORE_BUCKETS 32

/*
 * A date range in queue order, one score at a time. The queue indexes are
 * (..., active, score, event_time_ms, id): within a score the cases are in
 * time order, so the plain scan of a range that is not the newest reads every
 * newer case of the top scores first (420,000 index entries for March at 1M
 * cases, 55 ms of CPU a page). Per score, the range is a seek: the next lower
 * score present (one seek of the same index), then that score's cases in the
 * range. Pages, order and keyset cursor are those of the plain query.
 */
static int queue_by_score(cf_store *s, const cf_case_filter *f, cf_case_cb cb, void *op,
                          char *errstr, size_t errstr_size)
{
        char sql[256];
        const char *index = queue_index(f), *key = NULL, *v = NULL;
        if (f->exporter && *f->exporter)
                key = "exporter_id", v = f->exporter;
        else if (f->origin && *f->origin)
                key = "origin", v = f->origin;
        /* the scores present (active or closed, as the filter's status) */
        const char *status = f->status ? f->status : "";
        bool closed = !strcmp(status, "closed") || cf_status_closing(status);
        snprintf(sql, sizeof sql,
                 "SELECT score FROM cases INDEXED BY %s WHERE %s%s%s active=%d AND score < ?1"
                 " ORDER BY score DESC LIMIT 1",
                 index, key ? key : "", key ? "=?2" : "", key ? " AND" : "", closed ? 0 : 1);
        int rc = 0, np, left = f->limit > 0 ? f->limit : 50;
        sqlite3_stmt *next = NULL, *page = queue_stmt(s, f, true, &np, &rc, errstr, errstr_size);
        if (page && sqlite3_prepare_v2(s->db, sql, -1, &next, NULL) != SQLITE_OK)
                rc = cf_store_err(s, "queue", errstr, errstr_size);
        if (next && key) sqlite3_bind_text(next, 2, v, -1, SQLITE_STATIC);
        double score = f->after ? f->after_score : INFINITY;
        int64_t t = f->after ? f->after_time : INT64_MAX, id = f->after ? f->after_id : INT64_MAX;
        bool have = f->after; /* score is a bucket to read (the cursor's) */
        for (int k = 0; !rc && left > 0; k++) {
                if (!have) { /* the next lower score present */
                        sqlite3_reset(next);
                        sqlite3_bind_double(next, 1, score);
                        int r = sqlite3_step(next);
                        if (r == SQLITE_DONE) break;
                        if (r != SQLITE_ROW) {
                                rc = cf_store_err(s, "queue", errstr, errstr_size);
                                break;
                        }
                        score = sqlite3_column_double(next, 0);
                        t = id = INT64_MAX;
                }
                have = false;
                if (k == SCORE_BUCKETS) { /* many distinct scores: the plain query below */
                        cf_case_filter g = *f;
                        g.after = true, g.after_score = score, g.after_time = t, g.after_id = id;
                        g.limit = left;
                        sqlite3_finalize(page);
                        page = queue_stmt(s, &g, false, &np, &rc, errstr, errstr_size);
                        if (!rc && each_case_n(s, page, cb, op, NULL, errstr, errstr_size) < 0)
                                rc = -1;
                        break;
                }
                sqlite3_reset(page);
                sqlite3_bind_double(page, np - 3, score);
                sqlite3_bind_int64(page, np - 2, t);
                sqlite3_bind_int64(page, np - 1, id);
                sqlite3_bind_int(page, np, left);
                int n = 0, r = each_case_n(s, page, cb, op, &n, errstr, errstr_size);
                if (r < 0) rc = -1;
                if (r) break; /* an error, or the callback has had enough */
                left -= n;
        }
        sqlite3_finalize(next);
        sqlite3_finalize(page);
        return rc;
}

int cf_store_queue(cf_store *s, const cf_case_filter *f, cf_case_cb cb, void *op, char *errstr,
                   size_t errstr_size)
{
        const char *index = queue_index(f);
        bool all = f->status && !strcmp(f->status, "all");
        if ((f->from_ms || f->to_ms) && index && strcmp(index, "cases_hs") && !all)
                return queue_by_score(s, f, cb, op, errstr, errstr_size);
        int rc, np;
        sqlite3_stmt *st = queue_stmt(s, f, false, &np, &rc, errstr, errstr_size);
        if (!rc) rc = each_case(s, st, cb, op, errstr, errstr_size);
        sqlite3_finalize(st);
        return rc;
}

/* Prepare sql (one-off read statements of the case page). */
static sqlite3_stmt *prep(cf_store *s, const char *sql, char *errstr, size_t errstr_size)
{
        return cf_store_prep(s, sql, "query", errstr, errstr_size);
}

/* A walk over the rows of a per-id list of the case page (versions, reasons,
 * events): row() maps the current row to the caller's struct and calls its callback. */
typedef struct walk walk;
struct walk {
        int (*row)(walk *w, sqlite3_stmt *st); /* nonzero: stop */
        union {
                cf_version_cb version;
                cf_reason_cb reason;
                cf_event_cb event;
        } cb;
        void *op;
        bool first; /* the next row is the first */
};

/* Run sql with ?1 = id, each row to w->row until it asks to stop. */
static int by_id(cf_store *s, const char *sql, int64_t id, walk *w, char *errstr,
                 size_t errstr_size)
{
        sqlite3_stmt *st = prep(s, sql, errstr, errstr_size);
        if (!st) return -1;
        sqlite3_bind_int64(st, 1, id);
        while (sqlite3_step(st) == SQLITE_ROW)
                if (w->row(w, st)) break;
        sqlite3_finalize(st);
        return 0;
}

int cf_store_case(cf_store *s, int64_t id, cf_case_cb cb, void *op, char *errstr,
                  size_t errstr_size)
{
        sqlite3_stmt *st = prep(s,
                                "SELECT " CASE_COLS ", (SELECT count(*) FROM versions v"
                                " WHERE v.case_id=cases.id) FROM cases WHERE id=?1",
                                errstr, errstr_size);
        if (!st) return -1;
        sqlite3_bind_int64(st, 1, id);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                cf_case_row r;
                case_row(st, &r);
                cb(op, &r);
        }
        sqlite3_finalize(st);
        if (rc == SQLITE_DONE) return 1;
        return rc == SQLITE_ROW ? 0 : cf_store_err(s, "case", errstr, errstr_size);
}

static int version_row(walk *w, sqlite3_stmt *st)
{
        cf_version_row v = {.id = sqlite3_column_int64(st, 0),
                            .amendment = sqlite3_column_int64(st, 1),
                            .received_at_ms = sqlite3_column_int64(st, 2),
                            .score = sqlite3_column_double(st, 3),
                            .current = w->first,
                            .declaration = cf_store_col(st, 4),
                            .source = cf_store_col(st, 5),
                            .processed_at = cf_store_col(st, 6),
                            .pipeline_version = cf_store_col(st, 7)};
        w->first = false;
        return w->cb.version(w->op, &v);
}

int cf_store_versions(cf_store *s, int64_t case_id, cf_version_cb cb, void *op, char *errstr,
                      size_t errstr_size)
{
        walk w = {.row = version_row, .cb.version = cb, .op = op, .first = true};
        return by_id(s,
                     "SELECT id, amendment, received_at, score, declaration, source,"
                     " processed_at, pipeline_version FROM versions WHERE case_id=?1"
                     " ORDER BY amendment DESC, id DESC",
                     case_id, &w, errstr, errstr_size);
}

static int reason_row(walk *w, sqlite3_stmt *st)
{
        cf_reason_row r = {.rule = cf_store_col(st, 0),
                           .weight = sqlite3_column_double(st, 1),
                           .evidence = cf_store_col(st, 2),
                           .explanation = (const char *)sqlite3_column_text(st, 3)};
        return w->cb.reason(w->op, &r);
}

int cf_store_reasons(cf_store *s, int64_t version_id, cf_reason_cb cb, void *op, char *errstr,
                     size_t errstr_size)
{
        walk w = {.row = reason_row, .cb.reason = cb, .op = op};
        return by_id(s,
                     "SELECT rule, weight, evidence, explanation FROM reasons"
                     " WHERE version_id=?1 ORDER BY weight DESC, rule",
                     version_id, &w, errstr, errstr_size);
}

int cf_store_related(cf_store *s, int64_t case_id, const char *field, int limit, cf_case_cb cb,
                     void *op, char *errstr, size_t errstr_size)
{
        static const char *const sql[] = {
            "SELECT " CASE_COLS " FROM cases WHERE exporter_id=(SELECT exporter_id FROM cases"
            " WHERE id=?1) AND id<>?1 ORDER BY score DESC, id DESC LIMIT ?2",
            "SELECT " CASE_COLS " FROM cases WHERE importer_id=(SELECT importer_id FROM cases"
            " WHERE id=?1) AND id<>?1 ORDER BY score DESC, id DESC LIMIT ?2",
            "SELECT " CASE_COLS " FROM cases WHERE certificate=(SELECT certificate FROM cases"
            " WHERE id=?1) AND id<>?1 ORDER BY score DESC, id DESC LIMIT ?2",
        };
        int k = !strcmp(field, "exporter_id") ? 0 : !strcmp(field, "importer_id") ? 1 : 2;
        sqlite3_stmt *st = prep(s, sql[k], errstr, errstr_size);
        if (!st) return -1;
        sqlite3_bind_int64(st, 1, case_id);
        sqlite3_bind_int(st, 2, limit);
        int rc = each_case(s, st, cb, op, errstr, errstr_size);
        sqlite3_finalize(st);
        return rc;
}

/* Run sql with text ?1 (and int ?2 when given), one point per row (key, series, value). */
static int points(cf_store *s, const char *sql, const char *a, const int64_t *b, cf_point_cb cb,
                  void *op, char *errstr, size_t errstr_size)
{
        sqlite3_stmt *st = prep(s, sql, errstr, errstr_size);
        if (!st) return -1;
        if (a) sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
        if (b) sqlite3_bind_int64(st, 2, *b);
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                cf_point p = {.key = cf_store_col(st, 0),
                              .series = (const char *)sqlite3_column_text(st, 1),
                              .value = sqlite3_column_double(st, 2)};
                if (cb(op, &p)) break;
        }
        sqlite3_finalize(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
                return cf_store_err(s, "query", errstr, errstr_size);
        return 0;
}

int cf_store_exporter_profile(cf_store *s, const char *exporter, cf_point_cb cb, void *op,
                              char *errstr, size_t errstr_size)
{
        static const char *const sql[] = {
            "SELECT min(event_time), 'first_seen', count(*) FROM cases WHERE exporter_id=?1",
            "SELECT strftime('%Y-W%W', event_time_ms / 1000, 'unixepoch'), 'week:' || currency,"
            " sum(customs_value) FROM cases WHERE exporter_id=?1 GROUP BY 1, 2 ORDER BY 1",
            "SELECT r.rule, 'rule', count(DISTINCT c.id) FROM cases c JOIN versions v ON"
            " v.case_id=c.id JOIN reasons r ON r.version_id=v.id WHERE c.exporter_id=?1"
            " GROUP BY r.rule ORDER BY 3 DESC",
        };
        for (size_t i = 0; i < sizeof sql / sizeof sql[0]; i++)
                if (points(s, sql[i], exporter, NULL, cb, op, errstr, errstr_size)) return -1;
        return 0;
}

static int event_row(walk *w, sqlite3_stmt *st)
{
        cf_event_row e = {.id = sqlite3_column_int64(st, 0),
                          .at_ms = sqlite3_column_int64(st, 1),
                          .actor = cf_store_col(st, 2),
                          .action = cf_store_col(st, 3),
                          .from_status = cf_store_col(st, 4),
                          .to_status = cf_store_col(st, 5),
                          .note = cf_store_col(st, 6),
                          .detail = cf_store_col(st, 7)};
        return w->cb.event(w->op, &e);
}

int cf_store_events(cf_store *s, int64_t case_id, cf_event_cb cb, void *op, char *errstr,
                    size_t errstr_size)
{
        walk w = {.row = event_row, .cb.event = cb, .op = op};
        return by_id(s,
                     "SELECT id, at, actor, action, from_status, to_status, note,"
                     " detail FROM events WHERE case_id=?1 ORDER BY id",
                     case_id, &w, errstr, errstr_size);
}

int cf_store_dashboard(cf_store *s, const char *kind, const char *chapter, int bucket_len,
                       cf_point_cb cb, void *op, char *errstr, size_t errstr_size)
{
        /* windows are bucketed by a prefix of window_start: 10 = day, 13 = hour */
        static const struct {
                const char *kind, *sql;
        } q[] = {
            {"origin_value", "SELECT substr(window_start, 1, ?2), origin, sum(value_usd) FROM stats"
                             " WHERE type='group' AND hs_chapter=?1 GROUP BY 1, 2 ORDER BY 1"},
            {"rule_flags",
             "SELECT substr(window_start, 1, ?2), j.key, sum(j.value) FROM stats,"
             " json_each(stats.flags_by_rule) j WHERE stats.type='window' AND ?1 IS NULL"
             " GROUP BY 1, 2 ORDER BY 1"},
            {"top_exporters",
             "SELECT json_extract(j.value, '$.exporter_id'), NULL,"
             " sum(json_extract(j.value, '$.value_usd')) FROM stats, json_each(stats.top_exporters)"
             " j WHERE stats.type='window' AND ?1 IS NULL AND ?2 > 0 GROUP BY 1 ORDER BY 3 DESC "
             "LIMIT "
             "15"},
            {"quality",
             "SELECT substr(window_start, 1, ?2), 'dead_letters', sum(dead_letters) FROM stats"
             " WHERE type='window' AND ?1 IS NULL GROUP BY 1 UNION ALL"
             " SELECT substr(window_start, 1, ?2), 'late', sum(late) FROM stats"
             " WHERE type='window' AND ?1 IS NULL GROUP BY 1 ORDER BY 1"},
            {"chapters", "SELECT hs_chapter, NULL, sum(value_usd) FROM stats WHERE type='group'"
                         " AND ?1 IS NULL AND ?2 > 0 GROUP BY 1 ORDER BY 3 DESC"},
        };
        int64_t b = bucket_len;
        for (size_t i = 0; i < sizeof q / sizeof q[0]; i++)
                if (!strcmp(kind, q[i].kind))
                        return points(s, q[i].sql, i == 0 ? chapter : NULL, &b, cb, op, errstr,
                                      errstr_size);
        snprintf(errstr, errstr_size, "unknown dashboard series '%s'", kind);
        return 1;
}
