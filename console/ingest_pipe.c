/*
 * ingest_pipe.c - ingestion in two stages on two threads: the calling thread
 * fills a batch from its source (Kafka, a bench's memory) and parses every
 * flag of it; a writer thread, the only user of the store connection, stores
 * the previous batch in one transaction meanwhile. Two batches circulate, so
 * parsing and storing overlap on the two cores and the writer runs SQLite
 * only (bench/RESULTS.md § console).
 *
 * Order and failures: batches are stored in the order filled. A batch whose
 * transaction fails goes back to the reader, which rewinds the source to it
 * between two fills (done, stored = false: Kafka seeks back); every batch
 * filled before that rewind (it holds messages after the failed ones) is
 * dropped unstored, so no offset past an unstored message is ever committed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "console/console_int.h"
#include "pipeline/core/clock.h"
#include "pipeline/core/log.h"

/* The two stages' meeting point. */
typedef struct pipe_state {
        cf_console *c;
        cf_store *s;
        const cf_ingest_src *src;
        pthread_mutex_t mtx;
        pthread_cond_t cv;
        cf_ingest_batch *full;  /* filled and parsed, for the writer (mtx) */
        cf_ingest_batch *empty; /* stored, for the reader (mtx) */
        bool end;               /* no more batches (mtx) */
        double writer_cpu_s;    /* the writer's CPU time, when it has ended */
} pipe_state;

static void batch_init(cf_ingest_batch *b, int cap)
{
        memset(b, 0, sizeof *b);
        b->cap = cap;
        b->it = calloc((size_t)cap, sizeof *b->it);
        b->p.keep = true;
}

static void batch_free(cf_ingest_batch *b)
{
        free(b->it);
        free(b->handles); /* the source's, malloc'd */
        cf_flag_parser_free(&b->p);
        cf_buf_free(&b->data);
}

void cf_ingest_parse(cf_ingest_batch *b)
{
        /* every string of the batch stays valid until the next fill: the
         * scratch is reserved for all of them first, so it never moves */
        size_t total = 0;
        for (int i = 0; i < b->n; i++)
                total += b->it[i].n + 1;
        b->p.scratch.len = 0;
        cf_buf_reserve(&b->p.scratch, total);
        for (int i = 0; i < b->n; i++) {
                cf_ingest_item *it = &b->it[i];
                it->rc = it->is_flag
                             ? cf_flag_parse(&b->p, it->msg, it->n, &it->f, it->err, sizeof it->err)
                             : 0;
        }
}

int cf_ingest_store_item(cf_store *s, cf_ingest_item *it, char *errstr, size_t errstr_size)
{
        if (!it->is_flag) {
                it->counter = CF_INGEST_STATS;
                if (!cf_store_put_stats(s, it->msg, it->n, errstr, errstr_size)) return 0;
                if (strncmp(errstr, "stats:", 6)) return -1; /* the store failed, not the message */
                it->counter = CF_INGEST_REJECTED_STATS;
                return 1;
        }
        if (it->rc) {
                snprintf(errstr, errstr_size, "flag: %s", it->err);
                it->counter = CF_INGEST_REJECTED_FLAG;
                return 1;
        }
        cf_put_result res;
        if (cf_store_put_flag(s, &it->f, cf_now_ms(), &res, errstr, errstr_size)) return -1;
        it->counter = res == CF_PUT_NEW_CASE      ? CF_INGEST_NEW_CASE
                      : res == CF_PUT_NEW_VERSION ? CF_INGEST_NEW_VERSION
                                                  : CF_INGEST_DUPLICATE;
        return 0;
}

void cf_ingest_count(cf_console *c, const cf_ingest_item *it, int n)
{
        uint64_t k[CF_INGEST_COUNTERS] = {0};
        for (int i = 0; i < n; i++)
                k[it[i].counter]++;
        cf_series *m[CF_INGEST_COUNTERS] = {[CF_INGEST_NEW_CASE] = c->m.cases_new,
                                            [CF_INGEST_NEW_VERSION] = c->m.versions_new,
                                            [CF_INGEST_DUPLICATE] = c->m.flags_duplicate,
                                            [CF_INGEST_STATS] = c->m.stats_ingested,
                                            [CF_INGEST_REJECTED_FLAG] = c->m.rejected_flags,
                                            [CF_INGEST_REJECTED_STATS] = c->m.rejected_stats};
        for (int i = 0; i < CF_INGEST_COUNTERS; i++)
                if (k[i]) cf_counter_add_shared(m[i], k[i]);
}

/* One transaction for the batch; 0 when committed. @locality the writer */
static int store_batch(pipe_state *ps, cf_ingest_batch *b)
{
        char err[512], where[300];
        if (cf_store_begin(ps->s, err, sizeof err)) goto fail;
        for (int i = 0; i < b->n; i++) {
                int rc = cf_ingest_store_item(ps->s, &b->it[i], err, sizeof err);
                if (!rc) continue;
                ps->src->where(ps->src->op, b, i, where, sizeof where); /* for the log only */
                if (rc > 0) {
                        cf_log(CF_LOG_WARN, "console", "%s: rejected %s", where, err);
                        continue;
                }
                cf_log(CF_LOG_ERROR, "console", "%s: %s", where, err);
                cf_store_rollback(ps->s);
                snprintf(err, sizeof err, "%s: the store failed", where);
                goto fail;
        }
        if (cf_store_commit(ps->s, err, sizeof err)) {
                cf_store_rollback(ps->s);
                goto fail;
        }
        cf_ingest_count(ps->c, b->it, b->n); /* what was stored, once it is */
        cf_counter_add_shared(ps->c->m.ingest_batches, 1);
        return 0;
fail:
        cf_counter_add_shared(ps->c->m.ingest_errors, 1);
        cf_log(CF_LOG_ERROR, "console", "ingest: batch not stored: %s", err);
        return -1;
}

/* The writer: store each full batch, tell the source, hand the batch back. */
static void *writer_main(void *arg)
{
        pipe_state *ps = arg;
        uint64_t analyzed_at = cf_counter_get(ps->c->m.cases_new);
        uint64_t need_gen = 0; /* batches filled before the last rewind are older */
        pthread_mutex_lock(&ps->mtx);
        for (;;) {
                while (!ps->full && !ps->end)
                        pthread_cond_wait(&ps->cv, &ps->mtx);
                if (!ps->full) break;
                cf_ingest_batch *b = ps->full;
                ps->full = NULL;
                pthread_mutex_unlock(&ps->mtx);
                /* after a failure, every batch filled before the reader rewound
                 * holds messages past the failed ones: dropped */
                bool stale = b->gen < need_gen;
                b->failed = !stale && store_batch(ps, b);
                if (b->failed) {
                        need_gen = b->gen + 1; /* the reader's next rewind */
                        usleep(500 * 1000);    /* e.g. the disk is full: retry, slowly */
                } else if (!stale) {
                        ps->src->done(ps->src->op, b, true);
                }
                uint64_t cases = cf_counter_get(ps->c->m.cases_new);
                if (cases - analyzed_at >= 100000) { /* the store grew: re-plan */
                        cf_store_optimize(ps->s);
                        analyzed_at = cases;
                }
                pthread_mutex_lock(&ps->mtx);
                while (ps->empty) /* the reader has not taken the previous one yet */
                        pthread_cond_wait(&ps->cv, &ps->mtx);
                ps->empty = b;
                pthread_cond_broadcast(&ps->cv);
        }
        pthread_mutex_unlock(&ps->mtx);
        struct timespec ts;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        ps->writer_cpu_s = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
        return NULL;
}

int cf_ingest_run(cf_console *c, cf_store *s, const cf_ingest_src *src, int batch,
                  double *writer_cpu_s)
{
        pipe_state ps = {.c = c, .s = s, .src = src};
        cf_ingest_batch bs[2];
        batch_init(&bs[0], batch);
        batch_init(&bs[1], batch);
        pthread_mutex_init(&ps.mtx, NULL);
        pthread_cond_init(&ps.cv, NULL);
        ps.empty = &bs[1];
        pthread_t th;
        if (pthread_create(&th, NULL, writer_main, &ps)) {
                batch_free(&bs[0]);
                batch_free(&bs[1]);
                return -1;
        }
        cf_ingest_batch *b = &bs[0];
        uint64_t gen = 0; /* rewinds so far */
        for (;;) {
                b->gen = gen;
                b->n = 0;
                int more = src->fill(src->op, b);
                if (b->n) cf_ingest_parse(b);
                pthread_mutex_lock(&ps.mtx);
                if (b->n) { /* hand it over, take the other back once stored */
                        while (ps.full)
                                pthread_cond_wait(&ps.cv, &ps.mtx);
                        ps.full = b;
                        pthread_cond_broadcast(&ps.cv);
                        while (!ps.empty)
                                pthread_cond_wait(&ps.cv, &ps.mtx);
                        b = ps.empty;
                        ps.empty = NULL;
                        pthread_cond_broadcast(&ps.cv);
                }
                pthread_mutex_unlock(&ps.mtx);
                if (b->n && b->failed && more >= 0) {
                        /* here, between two fills: the next batch starts at the
                         * failed one (Kafka seeks), later ones are new again */
                        src->done(src->op, b, false);
                        gen++;
                }
                if (b->n) src->release(src->op, b);
                b->n = 0;
                b->failed = false;
                if (more < 0) break;
        }
        pthread_mutex_lock(&ps.mtx);
        ps.end = true;
        pthread_cond_broadcast(&ps.cv);
        pthread_mutex_unlock(&ps.mtx);
        pthread_join(th, NULL);
        if (writer_cpu_s) *writer_cpu_s = ps.writer_cpu_s;
        /* the batch the writer handed back last */
        if (ps.empty && ps.empty->n) src->release(src->op, ps.empty);
        pthread_mutex_destroy(&ps.mtx);
        pthread_cond_destroy(&ps.cv);
        batch_free(&bs[0]);
        batch_free(&bs[1]);
        return 0;
}
