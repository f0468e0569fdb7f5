/*
 * replay_pool.c - see replay_pool.h.
 */
#include "pipeline/cli/replay_pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stages/encode/encode.h"

enum { CMD_ROUND, CMD_EPOCH, CMD_FLUSH, CMD_QUIT };

/* The owned partition an output belongs to, as a local index. In replay every
 * record has a partition of this worker; anything else (none is known) goes
 * with the first one, so it is written, never lost. */
static size_t local_of(const cf_replay_worker *w, int32_t part)
{
        int n = w->pool->n;
        if (part < 0 || part >= w->pool->parts || part % n != w->id) return 0;
        return (size_t)(part / n);
}

static cf_buf *line_begin(cf_replay_worker *w, int64_t line, int out)
{
        if (w->n_ix == w->cap_ix) {
                w->cap_ix = w->cap_ix ? 2 * w->cap_ix : 256;
                if (!(w->ix = realloc(w->ix, w->cap_ix * sizeof(*w->ix)))) abort();
        }
        w->ix[w->n_ix] = (cf_replay_line){.line = line, .out = out, .off = w->lines.len};
        return &w->lines;
}

static void line_end(cf_replay_worker *w)
{
        cf_buf_putc(&w->lines, '\n');
        w->ix[w->n_ix].len = w->lines.len - w->ix[w->n_ix].off;
        w->n_ix++;
}

/* A round's lines kept for the epoch's write. encode emits one flag per flagged
 * record, in record order: the k-th flag output is the k-th flagged record's. */
static void keep_outputs(cf_replay_worker *w)
{
        const cf_batch *b = &w->b;
        size_t fo = 0; /* next flag output */
        for (size_t i = 0; i < b->n_outs; i++) {
                const cf_output *o = &b->outs[i];
                if (o->kind != CF_OUT_STATS) continue;
                cf_buf *to = &w->stats[local_of(w, o->partition)];
                cf_buf_put(to, b->out.p + o->val_off, o->val_len);
                cf_buf_putc(to, '\n');
        }
        for (size_t i = 0; i < b->n; i++) {
                const cf_record *r = &b->recs[i];
                if (r->status == CF_REC_DEAD_LETTER && w->pool->with_dlq) {
                        cf_encode_dlq_line(line_begin(w, r->src.offset, CF_OUT_DLQ), r);
                        line_end(w);
                }
                if (r->status != CF_REC_OK || !r->flagged) continue;
                while (fo < b->n_outs && b->outs[fo].kind != CF_OUT_FLAG)
                        fo++;
                if (fo == b->n_outs) break;
                const cf_output *o = &b->outs[fo++];
                cf_buf_put(line_begin(w, r->src.offset, CF_OUT_FLAGS), b->out.p + o->val_off,
                           o->val_len);
                line_end(w);
        }
        cf_counters_add_batch(&w->pend, b);
}

/* Deltas of the owned partitions since the last epoch, one segment each. */
static int publish(cf_replay_worker *w)
{
        cf_buf_reset(&w->pub);
        for (size_t lp = 0; lp < w->n_local; lp++) {
                w->pub_off[lp] = w->pub.len;
                int32_t part = (int32_t)(lp * (size_t)w->pool->n) + w->id;
                if (cf_chain_publish(w->c, part, CF_GLOBAL_DELTA, &w->pub)) {
                        snprintf(w->err, sizeof(w->err), "partition %d: publish failed", part);
                        return -1;
                }
        }
        w->pub_off[w->n_local] = w->pub.len;
        return 0;
}

/* Every partition's deltas applied to this worker's replica, in partition order
 * (the order one chain applies them in), then the replica settles. */
static int apply(cf_replay_worker *w)
{
        cf_replay_pool *p = w->pool;
        int rc = 0;
        for (int32_t part = 0; part < p->parts && !rc; part++) {
                const cf_replay_worker *o = &p->w[part % p->n];
                size_t lp = (size_t)(part / p->n);
                size_t a = o->pub_off[lp], e = o->pub_off[lp + 1];
                if (e > a)
                        rc = cf_chain_apply_all(w->c, o->pub.p + a, e - a, w->err, sizeof(w->err));
        }
        cf_chain_settle(w->c);
        return rc;
}

/* The first half of a round: the records (or the flush), the outputs, the deltas. */
static void step_process(cf_replay_worker *w)
{
        cf_replay_pool *p = w->pool;
        w->rc = 0;
        int rc = p->cmd == CMD_FLUSH ? cf_chain_flush(w->c, &w->b, p->now_ms, 1)
                                     : cf_chain_process(w->c, &w->b);
        if (rc) {
                snprintf(w->err, sizeof(w->err), "a stage failed on the batch");
                w->rc = -1;
                return;
        }
        keep_outputs(w);
        if (p->cmd == CMD_EPOCH && publish(w)) w->rc = -1;
}

/* The second half: once every worker has published. */
static void step_apply(cf_replay_worker *w)
{
        if (w->pool->cmd == CMD_EPOCH && !w->rc && apply(w)) w->rc = -1;
}

static void *worker_main(void *arg)
{
        cf_replay_worker *w = arg;
        cf_replay_pool *p = w->pool;
        for (;;) {
                pthread_barrier_wait(&p->go);
                if (p->cmd == CMD_QUIT) return NULL;
                step_process(w);
                pthread_barrier_wait(&p->published);
                /* a failed publish leaves a partial epoch: nobody applies it */
                int ok = 1;
                for (int i = 0; i < p->n; i++)
                        ok &= p->w[i].rc == 0;
                if (ok) step_apply(w);
                pthread_barrier_wait(&p->applied);
        }
}

static int worker_init(cf_replay_pool *p, int i, cf_chain *c, size_t batch_cap)
{
        cf_replay_worker *w = &p->w[i];
        w->id = i;
        w->pool = p;
        w->c = c;
        cf_batch_init(&w->b, batch_cap);
        w->b.replay = true;
        w->n_local = (size_t)((p->parts - i + p->n - 1) / p->n);
        w->stats = calloc(w->n_local ? w->n_local : 1, sizeof(cf_buf));
        w->pub_off = calloc(w->n_local + 1, sizeof(size_t));
        return w->stats && w->pub_off ? 0 : -1;
}

int cf_replay_pool_start(cf_replay_pool *p, cf_chain **chains, int n, int32_t parts,
                         size_t batch_cap, int with_dlq, char *errstr, size_t errstr_size)
{
        memset(p, 0, sizeof(*p));
        p->n = n;
        p->parts = parts;
        p->with_dlq = with_dlq;
        p->w = calloc((size_t)n, sizeof(*p->w));
        if (!p->w) abort();
        for (int i = 0; i < n; i++)
                if (worker_init(p, i, chains[i], batch_cap)) abort();
        if (n == 1) return 0; /* one worker: rounds run on the main thread */
        pthread_barrier_init(&p->go, NULL, (unsigned)n + 1);
        pthread_barrier_init(&p->published, NULL, (unsigned)n);
        pthread_barrier_init(&p->applied, NULL, (unsigned)n + 1);
        for (int i = 0; i < n; i++) {
                if (pthread_create(&p->w[i].th, NULL, worker_main, &p->w[i])) {
                        snprintf(errstr, errstr_size, "cannot start replay thread %d", i);
                        /* the ones started wait at a barrier that never fills: the run
                         * ends (exit status 1) without freeing what they hold */
                        p->w = NULL;
                        return -1;
                }
        }
        p->started = 1;
        return 0;
}

void cf_replay_pool_begin(cf_replay_pool *p, int64_t now_ms)
{
        p->now_ms = now_ms;
        for (int i = 0; i < p->n; i++) {
                cf_batch_reset(&p->w[i].b);
                p->w[i].b.now_ms = now_ms;
        }
}

cf_record *cf_replay_pool_add(cf_replay_pool *p, int32_t part, const char *line, size_t len)
{
        cf_record *r = cf_batch_add(&p->w[part % p->n].b, line, len);
        if (r) r->src.partition = part;
        return r;
}

size_t cf_replay_pool_size(const cf_replay_pool *p)
{
        size_t n = 0;
        for (int i = 0; i < p->n; i++)
                n += p->w[i].b.n;
        return n;
}

int cf_replay_pool_run(cf_replay_pool *p, int epoch_end, int flush, char *errstr,
                       size_t errstr_size)
{
        p->cmd = flush ? CMD_FLUSH : epoch_end ? CMD_EPOCH : CMD_ROUND;
        if (p->n == 1) {
                step_process(&p->w[0]);
                step_apply(&p->w[0]);
        } else {
                pthread_barrier_wait(&p->go);
                pthread_barrier_wait(&p->applied);
        }
        for (int i = 0; i < p->n; i++)
                if (p->w[i].rc) {
                        snprintf(errstr, errstr_size, "thread %d: %s", i, p->w[i].err);
                        return -1;
                }
        return 0;
}

static void counters_merge(cf_counters *to, const cf_counters *from)
{
        to->in += from->in, to->processed += from->processed;
        to->duplicates += from->duplicates, to->dead_lettered += from->dead_lettered;
        to->flagged += from->flagged;
        for (size_t i = 0; i < CF_RULES_MAX; i++)
                to->flags_by_rule[i] += from->flags_by_rule[i];
}

/* Flags and dead letters of the epoch in input-line order: a merge of the workers'
 * lists (each already in that order). */
static void merge_lines(cf_replay_pool *p, cf_replay_out o[CF_N_OUTS])
{
        size_t at[CF_REPLAY_MAX_THREADS] = {0};
        for (;;) {
                int best = -1;
                for (int i = 0; i < p->n; i++) {
                        const cf_replay_worker *w = &p->w[i];
                        if (at[i] < w->n_ix &&
                            (best < 0 || w->ix[at[i]].line < p->w[best].ix[at[best]].line))
                                best = i;
                }
                if (best < 0) return;
                const cf_replay_worker *w = &p->w[best];
                const cf_replay_line *l = &w->ix[at[best]++];
                if (o[l->out].fd >= 0) cf_buf_put(&o[l->out].buf, w->lines.p + l->off, l->len);
        }
}

int cf_replay_pool_write(cf_replay_pool *p, cf_replay_out o[CF_N_OUTS], cf_counters *total)
{
        for (int i = 0; i < CF_N_OUTS; i++)
                cf_buf_reset(&o[i].buf);
        merge_lines(p, o);
        for (int32_t part = 0; part < p->parts; part++) {
                const cf_buf *src = &p->w[part % p->n].stats[part / p->n];
                if (o[CF_OUT_STATSF].fd >= 0 && src->len)
                        cf_buf_put(&o[CF_OUT_STATSF].buf, src->p, src->len);
        }
        if (cf_replay_outs_flush(o)) return -1;
        for (int i = 0; i < p->n; i++) {
                cf_replay_worker *w = &p->w[i];
                counters_merge(&w->k, &w->pend);
                counters_merge(total, &w->pend);
                memset(&w->pend, 0, sizeof(w->pend));
                for (size_t lp = 0; lp < w->n_local; lp++)
                        cf_buf_reset(&w->stats[lp]);
                cf_buf_reset(&w->lines);
                w->n_ix = 0;
        }
        return 0;
}

int64_t cf_replay_pool_time(const cf_replay_pool *p, int64_t t)
{
        for (int i = 0; i < p->n; i++) {
                const cf_batch *b = &p->w[i].b;
                for (size_t j = 0; j < b->n; j++)
                        if (b->recs[j].status == CF_REC_OK && b->recs[j].decl.event_time_ms > t)
                                t = b->recs[j].decl.event_time_ms;
        }
        return t;
}

void cf_replay_pool_stop(cf_replay_pool *p)
{
        if (!p->w) return;
        if (p->started) {
                p->cmd = CMD_QUIT;
                pthread_barrier_wait(&p->go);
                for (int i = 0; i < p->n; i++)
                        pthread_join(p->w[i].th, NULL);
                pthread_barrier_destroy(&p->go);
                pthread_barrier_destroy(&p->published);
                pthread_barrier_destroy(&p->applied);
        }
        for (int i = 0; i < p->n; i++) {
                cf_replay_worker *w = &p->w[i];
                for (size_t j = 0; j < w->n_local; j++)
                        cf_buf_free(&w->stats[j]);
                free(w->stats);
                cf_buf_free(&w->lines);
                free(w->ix);
                free(w->pub_off);
                cf_buf_free(&w->pub);
                cf_batch_destroy(&w->b);
        }
        free(p->w);
        p->w = NULL;
}
