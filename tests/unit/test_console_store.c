/*
 * test_console_store.c - the review console's case store (console/store.h):
 * idempotent upsert under re-delivery, amendments supersede and re-open,
 * verdict transitions (illegal ones refused) with their queued outcomes, the
 * append-only audit trail, migrations from an empty file and from version 1,
 * keyset pages, and malformed flag messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "console/flag_msg.h"
#include "console/store.h"
#include "helpers/store_fx.h"

static char db_path[256];

static int setup(void **state)
{
        (void)state;
        store_fx_path(db_path, sizeof db_path, "store");
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        store_fx_remove(db_path);
        return 0;
}

/* A flag message: id, amendment, score, exporter, the second rule (or none). */
static char *flag(const char *id, int amendment, double score, const char *exporter,
                  const char *rule2)
{
        static char buf[4096];
        snprintf(buf, sizeof buf,
                 "{\"declaration_id\":\"%s\",\"line\":1,\"score\":%g,\"reasons\":["
                 "{\"rule\":\"watchlist_party\",\"weight\":80,\"evidence\":{\"role\":\"exporter\"}}"
                 "%s%s%s],\"source\":{\"file\":\"t\",\"line\":1},\"processed_at\":"
                 "\"2025-01-01T00:00:00.000Z\",\"pipeline_version\":\"t\",\"declaration\":{"
                 "\"declaration_id\":\"%s\",\"line\":1,\"amendment\":%d,\"event_time\":"
                 "\"2025-01-0%dT00:00:00Z\",\"hs_code\":\"720711\",\"origin_country\":\"CN\","
                 "\"export_country\":\"VN\",\"exporter_id\":\"%s\",\"importer_id\":\"US-I1\","
                 "\"quantity\":1,\"unit\":\"KGM\",\"customs_value\":%g,\"currency\":\"USD\"}}",
                 id, score, rule2 ? ",{\"rule\":\"" : "", rule2 ? rule2 : "",
                 rule2 ? "\",\"weight\":20,\"evidence\":{\"x\":1},\"explanation\":\"x is 1\"}" : "",
                 id, amendment, 1 + amendment % 9, exporter, score * 10);
        return buf;
}

static cf_put_result put(cf_store *s, cf_flag_parser *p, const char *json)
{
        char err[512];
        cf_flag_msg f;
        cf_put_result res;
        assert_int_equal(cf_flag_parse(p, json, strlen(json), &f, err, sizeof err), 0);
        assert_int_equal(cf_store_begin(s, err, sizeof err), 0);
        assert_int_equal(cf_store_put_flag(s, &f, 1000, &res, err, sizeof err), 0);
        assert_int_equal(cf_store_commit(s, err, sizeof err), 0);
        return res;
}

static long long count(const char *sql)
{
        return store_fx_count(db_path, sql);
}

static void test_idempotent_upsert(void **state)
{
        (void)state;
        char err[512];
        cf_store *s = cf_store_open(db_path, err, sizeof err);
        assert_non_null(s);
        cf_flag_parser p = {0};
        char json[4096];
        snprintf(json, sizeof json, "%s", flag("D-1", 0, 90, "CN-E1", "certificate_reuse"));
        assert_int_equal(put(s, &p, json), CF_PUT_NEW_CASE);
        /* the same flag again, and again processed later (new processed_at, offset) */
        assert_int_equal(put(s, &p, json), CF_PUT_DUPLICATE);
        char *again = strdup(json);
        memcpy(strstr(again, "2025-01-01T00:00:00.000Z"), "2025-02-02", 10);
        assert_int_equal(put(s, &p, again), CF_PUT_DUPLICATE);
        free(again);
        assert_int_equal(count("SELECT count(*) FROM cases"), 1);
        assert_int_equal(count("SELECT count(*) FROM versions"), 1);
        assert_int_equal(count("SELECT count(*) FROM reasons"), 2);
        cf_flag_parser_free(&p);
        cf_store_close(s);
}

static int last_status(void *op, const cf_case_row *c)
{
        snprintf(op, 32, "%s/%lld/%g", c->status, (long long)c->amendment, c->score);
        return 0;
}

static void test_amendment_supersedes_and_reopens(void **state)
{
        (void)state;
        char err[512], st[32];
        cf_store *s = cf_store_open(db_path, err, sizeof err);
        cf_flag_parser p = {0};
        assert_int_equal(put(s, &p, flag("D-2", 0, 60, "CN-E2", NULL)), CF_PUT_NEW_CASE);
        assert_int_equal(
            cf_store_transition(s, 1, "ann", "in_review", NULL, "ann", 2000, err, sizeof err), 0);
        assert_int_equal(cf_store_transition(s, 1, "ann", "cleared", "documents fine", NULL, 3000,
                                             err, sizeof err),
                         0);
        cf_store_case(s, 1, last_status, st, err, sizeof err);
        assert_string_equal(st, "cleared/0/60");
        /* a higher amendment: current, and the closed case is open again */
        assert_int_equal(put(s, &p, flag("D-2", 1, 95, "CN-E2", "unit_value_outlier")),
                         CF_PUT_NEW_VERSION);
        cf_store_case(s, 1, last_status, st, err, sizeof err);
        assert_string_equal(st, "open/1/95");
        assert_int_equal(count("SELECT count(*) FROM events WHERE action='reopen'"), 1);
        /* a late, older amendment joins the history but does not become current */
        assert_int_equal(put(s, &p, flag("D-2", 0, 10, "CN-E2", "unit_value_outlier")),
                         CF_PUT_NEW_VERSION);
        cf_store_case(s, 1, last_status, st, err, sizeof err);
        assert_string_equal(st, "open/1/95");
        assert_int_equal(count("SELECT count(*) FROM versions WHERE case_id=1"), 3);
        cf_flag_parser_free(&p);
        cf_store_close(s);
}

static void test_transitions(void **state)
{
        (void)state;
        char err[512];
        cf_store *s = cf_store_open(db_path, err, sizeof err);
        cf_flag_parser p = {0};
        put(s, &p, flag("D-3", 0, 70, "<script>alert(1)</script>", NULL));
        put(s, &p, flag("D-4", 0, 70, "CN-E4", NULL));
        /* illegal: open -> cleared, unknown status, closing without a note */
        assert_int_equal(cf_store_transition(s, 1, "a", "cleared", "n", NULL, 1, err, sizeof err),
                         1);
        assert_int_equal(cf_store_transition(s, 1, "a", "done", "n", NULL, 1, err, sizeof err), 1);
        assert_int_equal(
            cf_store_transition(s, 1, "a", "in_review", NULL, NULL, 1, err, sizeof err), 0);
        assert_int_equal(
            cf_store_transition(s, 1, "a", "confirmed_fraud", "  ", NULL, 1, err, sizeof err), 1);
        assert_int_equal(
            cf_store_transition(s, 1, "a", "in_review", NULL, NULL, 1, err, sizeof err), 1);
        assert_int_equal(
            cf_store_transition(s, 99, "a", "in_review", NULL, NULL, 1, err, sizeof err), 2);
        assert_int_equal(count("SELECT count(*) FROM outbox"), 0);
        assert_int_equal(cf_store_transition(s, 1, "a", "confirmed_fraud",
                                             "'; DROP TABLE cases; --", NULL, 5, err, sizeof err),
                         0);
        assert_int_equal(count("SELECT count(*) FROM outbox WHERE outcome='fraud' AND "
                               "key='<script>alert(1)</script>'"),
                         1);
        assert_int_equal(count("SELECT count(*) FROM events WHERE note='''; DROP TABLE cases; --'"),
                         1);
        assert_int_equal(
            count("SELECT json_extract(payload, '$.declaration.exporter_id') = key FROM outbox"),
            1);
        /* closed -> in_review (re-open), then open; referred publishes nothing */
        assert_int_equal(
            cf_store_transition(s, 1, "sup", "in_review", "wrong case", NULL, 6, err, sizeof err),
            0);
        assert_int_equal(
            cf_store_transition(s, 1, "sup", "referred", "to audit", NULL, 7, err, sizeof err), 0);
        assert_int_equal(count("SELECT count(*) FROM outbox"), 1);
        assert_int_equal(
            cf_store_transition(s, 2, "a", "in_review", NULL, NULL, 8, err, sizeof err), 0);
        assert_int_equal(
            cf_store_transition(s, 2, "a", "cleared", "fine", NULL, 9, err, sizeof err), 0);
        assert_int_equal(count("SELECT count(*) FROM outbox WHERE outcome='clean'"), 1);
        assert_int_equal(count("SELECT count(*) FROM cases"), 2);
        /* the audit trail refuses updates and deletes */
        sqlite3 *db;
        sqlite3_open(db_path, &db);
        assert_int_not_equal(sqlite3_exec(db, "UPDATE events SET note='x'", NULL, NULL, NULL),
                             SQLITE_OK);
        assert_int_not_equal(sqlite3_exec(db, "DELETE FROM events", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
        assert_int_equal(count("SELECT count(*) FROM events WHERE case_id=1"), 4);
        cf_flag_parser_free(&p);
        cf_store_close(s);
}

static void test_migrations(void **state)
{
        (void)state;
        char err[512];
        /* from an empty file */
        cf_store *s = cf_store_open(db_path, err, sizeof err);
        assert_int_equal(cf_store_version(s), CF_STORE_VERSION);
        cf_store_close(s);
        assert_int_equal(count("PRAGMA page_size"), 16384); /* a new store's pages */
        teardown(NULL);
        /* a store written with 4 KiB pages (before 16 KiB) keeps them and upgrades */
        sqlite3 *old;
        assert_int_equal(sqlite3_open(db_path, &old), SQLITE_OK);
        assert_int_equal(sqlite3_exec(old,
                                      "PRAGMA page_size=4096; PRAGMA journal_mode=WAL;"
                                      " CREATE TABLE t(x);",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
        sqlite3_close(old);
        s = cf_store_open(db_path, err, sizeof err);
        assert_non_null(s);
        assert_int_equal(cf_store_version(s), CF_STORE_VERSION);
        cf_store_close(s);
        assert_int_equal(count("PRAGMA page_size"), 4096);
        teardown(NULL);
        /* from version 1 with data: the data stays, the outbox works */
        s = cf_store_open_at(db_path, 1, err, sizeof err);
        assert_int_equal(cf_store_version(s), 1);
        cf_flag_parser p = {0};
        put(s, &p, flag("D-5", 0, 50, "CN-E5", NULL));
        cf_store_close(s);
        assert_int_equal(count("SELECT count(*) FROM sqlite_master WHERE name='outbox'"), 0);
        s = cf_store_open(db_path, err, sizeof err);
        assert_non_null(s);
        assert_int_equal(cf_store_version(s), CF_STORE_VERSION);
        assert_int_equal(count("SELECT count(*) FROM cases WHERE declaration_id='D-5'"), 1);
        assert_int_equal(
            cf_store_transition(s, 1, "a", "in_review", NULL, NULL, 1, err, sizeof err), 0);
        assert_int_equal(cf_store_transition(s, 1, "a", "cleared", "ok", NULL, 2, err, sizeof err),
                         0);
        assert_int_equal(count("SELECT count(*) FROM outbox"), 1);
        cf_store_close(s);
        /* a newer schema than the program knows is refused */
        sqlite3 *db;
        sqlite3_open(db_path, &db);
        sqlite3_exec(db, "PRAGMA user_version=99", NULL, NULL, NULL);
        sqlite3_close(db);
        assert_null(cf_store_open(db_path, err, sizeof err));
        assert_non_null(strstr(err, "newer"));
        cf_flag_parser_free(&p);
}

typedef struct pg {
        int n;
        double last_score;
        long long ids[64];
        char cursor[96];
} pg;

static int page_cb(void *op, const cf_case_row *c)
{
        pg *p = op;
        assert_true(p->n == 0 || c->score <= p->last_score);
        p->last_score = c->score;
        p->ids[p->n++] = c->id;
        snprintf(p->cursor, sizeof p->cursor, "%lld", (long long)c->event_time_ms);
        return 0;
}

static void test_queue_keyset(void **state)
{
        (void)state;
        char err[512], id[32];
        cf_store *s = cf_store_open(db_path, err, sizeof err);
        cf_flag_parser p = {0};
        for (int i = 0; i < 30; i++) {
                snprintf(id, sizeof id, "D-%02d", i);
                put(s, &p,
                    flag(id, i % 3, 10 + (i % 7) * 10, i % 2 ? "CN-E1" : "VN-E2",
                         i % 5 ? NULL : "certificate_reuse"));
        }
        cf_case_filter f;
        cf_case_filter_init(&f, 20);
        pg a = {0}, b = {0};
        assert_int_equal(cf_store_queue(s, &f, page_cb, &a, err, sizeof err), 0);
        assert_int_equal(a.n, 20);
        /* the next page starts strictly after the last row */
        f.after = true;
        f.after_score = a.last_score;
        f.after_time = atoll(a.cursor);
        f.after_id = a.ids[19];
        assert_int_equal(cf_store_queue(s, &f, page_cb, &b, err, sizeof err), 0);
        assert_int_equal(b.n, 10);
        for (int i = 0; i < a.n; i++)
                for (int j = 0; j < b.n; j++)
                        assert_true(a.ids[i] != b.ids[j]);
        cf_case_filter_init(&f, 50);
        f.rule = "certificate_reuse";
        pg c = {0};
        cf_store_queue(s, &f, page_cb, &c, err, sizeof err);
        assert_int_equal(c.n, 6);
        cf_case_filter_init(&f, 50);
        f.exporter = "CN-E1";
        f.score_min = 40;
        pg d = {0};
        cf_store_queue(s, &f, page_cb, &d, err, sizeof err);
        assert_int_equal(
            d.n, (int)count("SELECT count(*) FROM cases WHERE exporter_id='CN-E1' AND score>=40"));
        assert_true(d.n > 0 && d.n < 15);
        /* HS prefixes: every case is 720711 */
        const char *hs[][2] = {{"72", "30"}, {"720711", "30"}, {"7208", "0"}, {"8", "0"}};
        for (int i = 0; i < 4; i++) {
                cf_case_filter_init(&f, 50);
                f.hs_prefix = hs[i][0];
                pg h = {0};
                cf_store_queue(s, &f, page_cb, &h, err, sizeof err);
                assert_int_equal(h.n, atoi(hs[i][1]));
        }
        cf_flag_parser_free(&p);
        cf_store_close(s);
}

/* Every id of a filter's queue, page by page (pages of n), into ids. */
static int queue_all(cf_store *s, cf_case_filter *f, int n, long long *ids, int max)
{
        char err[512];
        int total = 0;
        f->limit = n;
        f->after = false;
        for (;;) {
                pg a = {0};
                assert_int_equal(cf_store_queue(s, f, page_cb, &a, err, sizeof err), 0);
                for (int i = 0; i < a.n; i++) {
                        assert_true(total < max); /* a cursor that does not advance */
                        ids[total++] = a.ids[i];
                }
                if (a.n < n) return total;
                f->after = true;
                f->after_score = a.last_score;
                f->after_time = atoll(a.cursor);
                f->after_id = a.ids[a.n - 1];
        }
}

/* The same ids from SQL in queue order (where: the filter as SQL). */
static int expected(const char *where, long long *ids, int max)
{
        char sql[512];
        snprintf(sql, sizeof sql,
                 "SELECT id FROM cases WHERE %s ORDER BY score DESC, event_time_ms DESC, id DESC",
                 where);
        sqlite3 *db;
        sqlite3_stmt *st;
        assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
        int n = 0;
        while (sqlite3_step(st) == SQLITE_ROW && n < max)
                ids[n++] = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        sqlite3_close(db);
        return n;
}

/* A date range is read one score at a time (store_query.c, queue_by_score):
 * the same cases in the same order, page after page, as the plain query --
 * with a few distinct scores and with more than it reads one by one. */
static void test_queue_date_range(void **state)
{
        (void)state;
        char err[512], id[32];
        cf_store *s = cf_store_open(db_path, err, sizeof err);
        cf_flag_parser p = {0};
        /* days 1-9 (the amendment picks the day), 7 scores, then 60 more scores */
        for (int i = 0; i < 240; i++) {
                snprintf(id, sizeof id, "D-%03d", i);
                double score = i < 120 ? 10 + (i % 7) * 10 : 1 + (i % 60) * 1.5;
                put(s, &p,
                    flag(id, i % 9, score, i % 2 ? "CN-E1" : "VN-E2",
                         i % 4 ? NULL : "certificate_reuse"));
        }
        const int64_t day3 = 1735862400000, day6 = day3 + 3 * 86400000LL; /* 2025-01-03, -06 */
        char range[160];
        snprintf(range, sizeof range, "event_time_ms >= %lld AND event_time_ms < %lld",
                 (long long)day3, (long long)day6);
        static const struct {
                const char *exporter, *rule, *status, *where;
        } cases[] = {
            {NULL, NULL, NULL, "active=1"},
            {"CN-E1", NULL, NULL, "active=1 AND exporter_id='CN-E1'"},
            {NULL, "certificate_reuse", NULL, "active=1 AND rules_mask & 2 != 0"},
            {NULL, NULL, "open", "active=1 AND status='open'"},
        };
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
                for (int n = 1; n <= 50; n += 7) {
                        long long got[256], want[256];
                        char where[400];
                        snprintf(where, sizeof where, "%s AND %s", cases[c].where, range);
                        cf_case_filter f;
                        cf_case_filter_init(&f, n);
                        f.exporter = cases[c].exporter;
                        f.rule = cases[c].rule;
                        f.status = cases[c].status;
                        f.from_ms = day3, f.to_ms = day6;
                        int ng = queue_all(s, &f, n, got, 256), nw = expected(where, want, 256);
                        assert_true(nw > 10);
                        assert_int_equal(ng, nw);
                        for (int i = 0; i < nw; i++)
                                assert_int_equal(got[i], want[i]);
                }
        }
        cf_flag_parser_free(&p);
        cf_store_close(s);
}

static void test_malformed_flags(void **state)
{
        (void)state;
        static const char *const bad[] = {
            "",
            "not json",
            "[1,2]",
            "{\"declaration_id\":1}",
            "{\"declaration_id\":\"a\",\"line\":0,\"score\":1,\"reasons\":[],\"declaration\":{}}",
            "{\"declaration_id\":\"a\",\"line\":1,\"score\":101,\"reasons\":[{\"rule\":\"x\","
            "\"weight\":1,\"evidence\":{}}],\"declaration\":{\"exporter_id\":\"e\","
            "\"event_time\":\"2025-01-01T00:00:00Z\"}}",
            "{\"declaration_id\":\"a\",\"line\":1,\"score\":1,\"reasons\":[{\"rule\":\"x\","
            "\"weight\":1}],\"declaration\":{\"exporter_id\":\"e\",\"event_time\":"
            "\"2025-01-01T00:00:00Z\"}}",
            "{\"declaration_id\":\"a\",\"line\":1,\"score\":1,\"reasons\":[{\"rule\":\"x\","
            "\"weight\":1,\"evidence\":{}}],\"declaration\":{\"exporter_id\":\"e\",\"event_time\":"
            "\"yesterday\"}}",
            "{\"declaration_id\":\"\\ud800\",\"line\":1}",
        };
        cf_flag_parser p = {0};
        cf_flag_msg f;
        char err[256];
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                err[0] = '\0';
                assert_int_equal(cf_flag_parse(&p, bad[i], strlen(bad[i]), &f, err, sizeof err),
                                 -1);
                assert_true(strlen(err) > 5);
        }
        /* escapes are decoded */
        const char *ok =
            "{\"declaration_id\":\"a\\u00e9\\\"b\",\"line\":2,\"score\":1,\"reasons\":"
            "[{\"rule\":\"x\",\"weight\":1,\"evidence\":{}}],\"declaration\":{"
            "\"exporter_id\":\"\\u003cb\\u003e\",\"event_time\":\"2025-01-01T00:00:00Z\"}}";
        assert_int_equal(cf_flag_parse(&p, ok, strlen(ok), &f, err, sizeof err), 0);
        assert_int_equal(f.declaration_id.n, 5);
        assert_memory_equal(f.declaration_id.p, "a\xc3\xa9\"b", 5);
        assert_memory_equal(f.exporter_id.p, "<b>", 3);
        cf_flag_parser_free(&p);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_idempotent_upsert, setup, teardown),
            cmocka_unit_test_setup_teardown(test_amendment_supersedes_and_reopens, setup, teardown),
            cmocka_unit_test_setup_teardown(test_transitions, setup, teardown),
            cmocka_unit_test_setup_teardown(test_migrations, setup, teardown),
            cmocka_unit_test_setup_teardown(test_queue_keyset, setup, teardown),
            cmocka_unit_test_setup_teardown(test_queue_date_range, setup, teardown),
            cmocka_unit_test_setup_teardown(test_malformed_flags, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
