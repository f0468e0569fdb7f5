/*
 * test_console_pipe.c - the ingestion pipe (console/ingest_pipe.c): batches
 * parsed on one thread and stored on another. A failing transaction rewinds
 * the source to that batch and the batch filled meanwhile is dropped, so the
 * stored batches stay contiguous (what committing Kafka offsets after the
 * store relies on); the parsed strings of a whole batch stay valid (escaped
 * strings decoded into the batch's scratch); a malformed flag is counted.
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

#include "console/console_int.h"
#include "console/store_int.h"
#include "helpers/store_fx.h"

#define N     60
#define BATCH 10

static char db_path[256];
static char *msgs[N];

typedef struct src {
        cf_store *s;
        int next;           /* the next message to fill (rewound by done) */
        int committed;      /* stored messages are [0, committed) */
        int rewinds, drops; /* done(false) calls; batches released unstored */
} src;

/* b->handles: the batch's first message and whether it was stored */
static int *meta(cf_ingest_batch *b)
{
        if (!b->handles) b->handles = calloc(2, sizeof(int));
        return b->handles;
}

static int s_fill(void *op, cf_ingest_batch *b)
{
        src *x = op;
        int i = x->next;
        meta(b)[0] = i, meta(b)[1] = 0;
        for (b->n = 0; b->n < b->cap && i < N; b->n++, i++)
                b->it[b->n] =
                    (cf_ingest_item){.msg = msgs[i], .n = strlen(msgs[i]), .is_flag = true};
        x->next = i;
        return i < N ? 0 : -1;
}

static void s_done(void *op, cf_ingest_batch *b, bool stored)
{
        src *x = op;
        if (!stored) { /* rewind to this batch; the injected failure goes away */
                x->rewinds++;
                x->next = meta(b)[0];
                sqlite3 *db;
                assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
                sqlite3_busy_timeout(db, 5000);
                assert_int_equal(sqlite3_exec(db, "INSERT INTO healed VALUES(1)", NULL, NULL, NULL),
                                 SQLITE_OK);
                sqlite3_close(db);
                return;
        }
        /* no batch stored past one that was not */
        assert_int_equal(meta(b)[0], x->committed);
        x->committed += b->n;
        meta(b)[1] = 1;
}

static void s_release(void *op, cf_ingest_batch *b)
{
        src *x = op;
        if (!meta(b)[1]) x->drops++;
}

static void s_where(void *op, const cf_ingest_batch *b, int i, char *buf, size_t size)
{
        (void)op;
        snprintf(buf, size, "message %d", ((int *)b->handles)[0] + i);
}

static long long count(const char *sql)
{
        return store_fx_count(db_path, sql);
}

static void test_pipe_rewind_and_strings(void **state)
{
        (void)state;
        char err[512];
        for (int i = 0; i < N; i++) {
                char buf[1024];
                /* every third exporter id is escaped: decoded into the batch's scratch */
                snprintf(buf, sizeof buf,
                         "{\"declaration_id\":\"P-%04d\",\"line\":1,\"score\":%d,\"reasons\":["
                         "{\"rule\":\"watchlist_party\",\"weight\":80,\"evidence\":{}}],"
                         "\"declaration\":{\"declaration_id\":\"P-%04d\",\"line\":1,"
                         "\"event_time\":\"2025-01-01T00:00:00Z\",\"exporter_id\":\"%s%04d\"}}",
                         i, i % 100, i, i % 3 ? "E-" : "\\u0045\\u002d", i);
                msgs[i] = strdup(i == 7 ? "{\"declaration_id\":" : buf); /* 7: malformed */
        }
        setenv("CUSTOMSFLOW_LOG_LEVEL", "error", 1);
        cf_config cfg;
        assert_int_equal(cf_config_load(&cfg, NULL, err, sizeof err), 0);
        cf_console_opts o = {.db = db_path, .listen = "127.0.0.1:0", .ingest = 0};
        cf_console *c = cf_console_new(&cfg, &o, err, sizeof err);
        assert_non_null(c);
        src x = {.s = cf_store_open(db_path, err, sizeof err)};
        assert_non_null(x.s);
        /* the third batch's transaction fails once */
        assert_int_equal(cf_store_exec(x.s,
                                       "CREATE TABLE healed(x); CREATE TEMP TRIGGER fail BEFORE"
                                       " INSERT ON main.cases WHEN NEW.declaration_id = 'P-0025'"
                                       " AND NOT EXISTS (SELECT 1 FROM main.healed)"
                                       " BEGIN SELECT RAISE(ABORT, 'injected'); END",
                                       err, sizeof err),
                         0);
        cf_ingest_src s = {s_fill, s_done, s_release, s_where, &x};
        assert_int_equal(cf_ingest_run(c, x.s, &s, BATCH, NULL), 0);
        assert_int_equal(x.rewinds, 1);
        assert_true(x.drops >= 1); /* the batch filled while the third was stored */
        assert_int_equal(x.committed, N);
        assert_int_equal(cf_counter_get(c->m.cases_new), N - 1);
        assert_int_equal(cf_counter_get(c->m.rejected_flags), 1);
        assert_int_equal(cf_counter_get(c->m.ingest_errors), 1);
        assert_int_equal(count("SELECT count(*) FROM cases"), N - 1);
        /* each case has its own exporter id, decoded or not */
        assert_int_equal(count("SELECT count(*) FROM cases WHERE exporter_id ="
                               " 'E-' || substr(declaration_id, 3)"),
                         N - 1);
        cf_store_close(x.s);
        cf_console_destroy(c);
        cf_config_free(&cfg);
        for (int i = 0; i < N; i++)
                free(msgs[i]);
}

static int setup(void **state)
{
        (void)state;
        store_fx_path(db_path, sizeof db_path, "pipe");
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        store_fx_remove(db_path);
        return 0;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_pipe_rewind_and_strings, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
