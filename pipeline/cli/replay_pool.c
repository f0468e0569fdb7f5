/*
 * replay_pool.c - see replay_pool.h.
 *
 * Counters, each written by one thread and read by the others: filled (main:
 * rounds handed over), done and done_ep (a worker: rounds and epochs
 * finished), written (main: epochs written). A round slot is reused once every
 * worker has finished the round that had it; an epoch slot once its outputs
 * are written (its deltas have been applied by then: a worker starts epoch e
 * only after every worker finished e - 1, i.e. applied e - 2, and there are at
 * least two epoch slots).
 */
#include "pipeline/cli/replay_pool.h"

#include <stddef.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/core/clock.h"
#include "stages/encode/encode.h"

enum { CMD_ROUND, CMD_EPOCH, CMD_FLUSH };

/* A worker's polls of a condition (a pause is ~10 ns here: ~2 us) before it yields
 * (while the input lasts) or sleeps (after), reading or writing meanwhile. Measured
 * (bench/RESULTS.md § throughput): 2 threads the same from 200 to 10,000 polls, and
 * more threads than cores twice as fast with 200 as with 2,000 (they yield sooner). */
#define SPIN 200
/* The main thread does not spin: while the workers run it only waits for the end (or
 * hands over rounds itself with N = 1, where it never waits). */
#define MAIN_SPIN 0

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        __asm__ __volatile__("yield");
#endif
}

/* ---- waiting for the other threads ---- */

typedef int (*cond_fn)(cf_replay_pool *p, int64_t arg);

static int stopped(cf_replay_pool *p)
{
        return atomic_load_explicit(&p->failed, memory_order_acquire) ||
               atomic_load_explicit(&p->quit, memory_order_acquire);
}

static int io_step(cf_replay_pool *p);

/* The workers read the input (cf_replay_pool_run_input) and it is not over. */
static int reading(cf_replay_pool *p)
{
        return atomic_load(&p->io_on) && !atomic_load(&p->input_over);
}

/* 0 once ok(p, arg) holds; 1 if the pool stops first. spin: polls before sleeping. While
 * the workers read the input themselves (cf_replay_pool_run_input), a waiting worker
 * reads or writes meanwhile, and yields instead of sleeping until the input is over:
 * nobody else would read it. */
static int wait_for(cf_replay_pool *p, cond_fn ok, int64_t arg, int spin)
{
        for (;;) {
                for (int i = 0; i < spin; i++) {
                        if (ok(p, arg)) return 0;
                        if (stopped(p)) return 1;
                        if (io_step(p))
                                i = 0;
                        else
                                cpu_relax();
                }
                if (spin && reading(p)) {
                        sched_yield();
                        continue;
                }
                pthread_mutex_lock(&p->mu);
                atomic_fetch_add(&p->waiters, 1);
                int r;
                while (!(r = ok(p, arg)) && !stopped(p) && !(spin && reading(p)))
                        pthread_cond_wait(&p->cv, &p->mu);
                atomic_fetch_sub(&p->waiters, 1);
                pthread_mutex_unlock(&p->mu);
                if (r) return 0;
                if (stopped(p)) return 1;
        }
}

/* After a counter or failed / quit moved: wake the sleepers, if any (see wait_for:
 * the counter is stored before waiters is read, waiters raised before the counter is
 * read, both sequentially consistent). */
static void wake(cf_replay_pool *p)
{
        if (!atomic_load(&p->waiters)) return;
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
}

/* The least of a counter over the workers: off is offsetof(cf_replay_worker, counter). */
/* The main thread, waiting in cf_replay_pool_run_input: the input is all written, or a
 * failure. */
static void wake_main(cf_replay_pool *p)
{
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->done_cv);
        pthread_mutex_unlock(&p->mu);
}

static int64_t min_of(cf_replay_pool *p, size_t off)
{
        int64_t m = INT64_MAX;
        for (int i = 0; i < p->n; i++) {
                _Atomic int64_t *c = (_Atomic int64_t *)((char *)&p->w[i] + off);
                int64_t d = atomic_load_explicit(c, memory_order_acquire);
                if (d < m) m = d;
        }
        return m;
}

static int64_t min_done(cf_replay_pool *p)
{
        return min_of(p, offsetof(cf_replay_worker, done));
}

static int64_t min_done_ep(cf_replay_pool *p)
{
        return min_of(p, offsetof(cf_replay_worker, done_ep));
}

static int round_filled(cf_replay_pool *p, int64_t r)
{
        return atomic_load_explicit(&p->filled, memory_order_acquire) > r;
}

static int epoch_done(cf_replay_pool *p, int64_t e)
{
        return min_done_ep(p) > e;
}

static int epoch_applied(cf_replay_pool *p, int64_t e)
{
        return min_of(p, offsetof(cf_replay_worker, applied_ep)) > e;
}

static int epoch_written(cf_replay_pool *p, int64_t e)
{
        return atomic_load_explicit(&p->written, memory_order_acquire) > e;
}

/* The main thread's: an epoch to write, or the round slot of p->next free. */
static int main_can_go(cf_replay_pool *p, int64_t want_slot)
{
        if (min_done_ep(p) > atomic_load_explicit(&p->written, memory_order_relaxed)) return 1;
        return want_slot ? min_done(p) > p->next - p->rounds : min_done(p) == p->next;
}

/* ---- a worker's round ---- */

/* The owned partition an output belongs to, as a local index. In replay every
 * record has a partition of this worker; anything else (none is known) goes
 * with the first one, so it is written, never lost. */
static size_t local_of(const cf_replay_worker *w, int32_t part)
{
        int n = w->pool->n;
        if (part < 0 || part >= w->pool->parts || part % n != w->id) return 0;
        return (size_t)(part / n);
}

static cf_buf *line_begin(cf_replay_epoch_out *eo, int64_t line, int out)
{
        if (eo->n_ix == eo->cap_ix) {
                eo->cap_ix = eo->cap_ix ? 2 * eo->cap_ix : 256;
                if (!(eo->ix = realloc(eo->ix, eo->cap_ix * sizeof(*eo->ix)))) abort();
        }
        eo->ix[eo->n_ix] = (cf_replay_line){.line = line, .out = out, .off = eo->lines.len};
        return &eo->lines;
}

static void line_end(cf_replay_epoch_out *eo)
{
        cf_buf_putc(&eo->lines, '\n');
        eo->ix[eo->n_ix].len = eo->lines.len - eo->ix[eo->n_ix].off;
        eo->n_ix++;
}

/* A round's lines kept for the epoch's write. encode emits one flag per flagged
 * record, in record order: the k-th flag output is the k-th flagged record's. */
static void keep_outputs(cf_replay_worker *w, const cf_batch *b, cf_replay_epoch_out *eo)
{
        size_t fo = 0; /* next flag output */
        for (size_t i = 0; i < b->n_outs; i++) {
                const cf_output *o = &b->outs[i];
                if (o->kind != CF_OUT_STATS) continue;
                cf_buf *to = &eo->stats[local_of(w, o->partition)];
                cf_buf_put(to, b->out.p + o->val_off, o->val_len);
                cf_buf_putc(to, '\n');
        }
        for (size_t i = 0; i < b->n; i++) {
                const cf_record *r = &b->recs[i];
                if (r->status == CF_REC_DEAD_LETTER && w->pool->with_dlq) {
                        cf_encode_dlq_line(line_begin(eo, r->src.offset, CF_OUT_DLQ), r);
                        line_end(eo);
                }
                if (r->status != CF_REC_OK || !r->flagged) continue;
                while (fo < b->n_outs && b->outs[fo].kind != CF_OUT_FLAG)
                        fo++;
                if (fo == b->n_outs) break;
                const cf_output *o = &b->outs[fo++];
                cf_buf_put(line_begin(eo, r->src.offset, CF_OUT_FLAGS), b->out.p + o->val_off,
                           o->val_len);
                line_end(eo);
        }
        cf_counters_add_batch(&eo->pend, b);
}

/* Deltas of the owned partitions since the last epoch, one segment each. */
static int publish(cf_replay_worker *w, cf_replay_epoch_out *eo)
{
        cf_buf_reset(&eo->pub);
        for (size_t lp = 0; lp < w->n_local; lp++) {
                eo->pub_off[lp] = eo->pub.len;
                int32_t part = (int32_t)(lp * (size_t)w->pool->n) + w->id;
                if (cf_chain_publish(w->c, part, CF_GLOBAL_DELTA, &eo->pub)) {
                        snprintf(w->err, sizeof(w->err), "partition %d: publish failed", part);
                        return -1;
                }
        }
        eo->pub_off[w->n_local] = eo->pub.len;
        return 0;
}

/* Every partition's deltas of epoch slot s applied to the replica, in partition order
 * (the order one chain applies them in), then the replica settles. With N > 1 the
 * workers share one replica and each applies its part (cf_chain_share_replica). */
static int apply(cf_replay_worker *w, int s)
{
        cf_replay_pool *p = w->pool;
        int rc = 0;
        for (int32_t part = 0; part < p->parts && !rc; part++) {
                const cf_replay_epoch_out *o = &p->w[part % p->n].eo[s];
                size_t lp = (size_t)(part / p->n);
                size_t a = o->pub_off[lp], e = o->pub_off[lp + 1];
                if (e > a)
                        rc = cf_chain_apply_all(w->c, o->pub.p + a, e - a, w->err, sizeof(w->err));
        }
        cf_chain_settle(w->c);
        return rc;
}

/* Round r on worker w: the previous epoch's deltas applied first (once every worker
 * has finished it), then the records (or the flush), the outputs, at an epoch's end
 * the deltas. 0 done, -1 failed (w->err), 1 the pool stopped. */
static int worker_round(cf_replay_worker *w, int64_t r)
{
        cf_replay_pool *p = w->pool;
        const cf_replay_round *ri = &p->ri[r % p->rounds];
        int threaded = p->n > 1, flush = ri->cmd == CMD_FLUSH;
        cf_batch *b = &w->b[r % p->rounds];
        /* while the others are still on the epoch, the stages before the replica's
         * (decode, dedup) run first: the wait below is shorter, or none (the last one
         * to finish applies at once: the others wait for its part) */
        size_t k = threaded && !flush && w->pending >= 0 && !epoch_done(p, w->pending)
                       ? cf_chain_n_stages_before_replica(w->c)
                       : 0;
        if (k && cf_chain_process_stages(w->c, b, 0, k)) goto failed;
        if (w->pending >= 0) {
                /* every worker has finished the epoch: nobody reads the replica */
                if (threaded && wait_for(p, epoch_done, w->pending, SPIN)) return 1;
                if (apply(w, (int)(w->pending % p->epochs))) return -1;
                if (threaded) { /* and every part of it is applied before anyone reads it */
                        atomic_store_explicit(&w->applied_ep, w->pending + 1, memory_order_seq_cst);
                        wake(p);
                        if (wait_for(p, epoch_applied, w->pending, SPIN)) return 1;
                }
                w->pending = -1;
        }
        if (threaded && wait_for(p, epoch_written, ri->epoch - p->epochs, SPIN)) return 1;
        cf_replay_epoch_out *eo = &w->eo[ri->epoch % p->epochs];
        if (flush ? cf_chain_flush(w->c, b, ri->now_ms, 1)
                  : cf_chain_process_stages(w->c, b, k, SIZE_MAX))
                goto failed;
        keep_outputs(w, b, eo);
        if (ri->cmd == CMD_EPOCH) {
                if (publish(w, eo)) return -1;
                w->pending = ri->epoch;
        }
        if (ri->cmd != CMD_ROUND)
                atomic_store_explicit(&w->done_ep, ri->epoch + 1, memory_order_seq_cst);
        atomic_store_explicit(&w->done, r + 1, memory_order_seq_cst);
        if (threaded) wake(p);
        return 0;
failed:
        snprintf(w->err, sizeof(w->err), "a stage failed on the batch");
        return -1;
}

static void *worker_main(void *arg)
{
        cf_replay_worker *w = arg;
        cf_replay_pool *p = w->pool;
        for (int64_t r = 0;; r++) {
                if (wait_for(p, round_filled, r, SPIN)) return NULL;
                int rc = worker_round(w, r);
                if (rc > 0) return NULL;
                if (rc < 0) {
                        w->rc = -1;
                        atomic_store(&p->failed, 1);
                        wake(p);
                        wake_main(p);
                        return NULL;
                }
        }
}

/* ---- the main thread: start, hand over, write ---- */

static void *xcalloc(size_t n, size_t size)
{
        void *v = calloc(n ? n : 1, size);
        if (!v) abort();
        return v;
}

static void worker_init(cf_replay_pool *p, int i, cf_chain *c, size_t batch_cap)
{
        cf_replay_worker *w = &p->w[i];
        w->id = i;
        w->pool = p;
        w->c = c;
        w->pending = -1;
        w->n_local = (size_t)((p->parts - i + p->n - 1) / p->n);
        w->b = xcalloc((size_t)p->rounds, sizeof(cf_batch));
        w->in = xcalloc((size_t)p->rounds, sizeof(cf_buf));
        for (int s = 0; s < p->rounds; s++) {
                cf_batch_init(&w->b[s], batch_cap);
                w->b[s].replay = true;
        }
        w->eo = xcalloc((size_t)p->epochs, sizeof(cf_replay_epoch_out));
        for (int s = 0; s < p->epochs; s++) {
                w->eo[s].stats = xcalloc(w->n_local, sizeof(cf_buf));
                w->eo[s].pub_off = xcalloc(w->n_local + 1, sizeof(size_t));
        }
}

int cf_replay_pool_start(cf_replay_pool *p, cf_chain **chains, int n, int32_t parts,
                         size_t batch_cap, int with_dlq, char *errstr, size_t errstr_size)
{
        memset(p, 0, sizeof(*p));
        p->n = n;
        p->parts = parts;
        p->with_dlq = with_dlq;
        p->rounds = n > 1 ? CF_REPLAY_ROUNDS : 1;
        p->epochs = n > 1 ? CF_REPLAY_EPOCHS : 1;
        p->epoch_first = 1;
        p->ri = xcalloc((size_t)p->rounds, sizeof(*p->ri));
        p->ep_t0 = xcalloc((size_t)p->epochs, sizeof(double));
        p->w = xcalloc((size_t)n, sizeof(*p->w));
        for (int i = 0; i < n; i++)
                worker_init(p, i, chains[i], batch_cap);
        if (n == 1) return 0; /* one worker: rounds run on the main thread */
        /* one replica of the population state, chain 0's, each worker applying its part */
        for (int i = 0; i < n; i++)
                cf_chain_share_replica(chains[i], chains[0], i, n);
        pthread_mutex_init(&p->mu, NULL);
        pthread_cond_init(&p->cv, NULL);
        pthread_cond_init(&p->done_cv, NULL);
        for (int i = 0; i < n; i++) {
                if (pthread_create(&p->w[i].th, NULL, worker_main, &p->w[i])) {
                        /* the ones started are stopped by cf_replay_pool_stop */
                        snprintf(errstr, errstr_size, "cannot start replay thread %d", i);
                        return -1;
                }
                p->started++;
        }
        return 0;
}

static void lat_add(cf_replay_pool *p, double s)
{
        if (p->n_lat == p->cap_lat) {
                p->cap_lat = p->cap_lat ? 2 * p->cap_lat : 4096;
                if (!(p->lat = realloc(p->lat, p->cap_lat * sizeof(double)))) abort();
        }
        p->lat[p->n_lat++] = s;
}

static void counters_merge(cf_counters *to, const cf_counters *from)
{
        to->in += from->in, to->processed += from->processed;
        to->duplicates += from->duplicates, to->dead_lettered += from->dead_lettered;
        to->flagged += from->flagged;
        for (size_t i = 0; i < CF_RULES_MAX; i++)
                to->flags_by_rule[i] += from->flags_by_rule[i];
}

/* Flags and dead letters of epoch slot s in input-line order: a merge of the
 * workers' lists (each already in that order). */
static void merge_lines(cf_replay_pool *p, int s, cf_replay_out o[CF_N_OUTS])
{
        size_t at[CF_REPLAY_MAX_THREADS] = {0};
        for (;;) {
                int best = -1;
                for (int i = 0; i < p->n; i++) {
                        const cf_replay_epoch_out *eo = &p->w[i].eo[s];
                        if (at[i] < eo->n_ix &&
                            (best < 0 || eo->ix[at[i]].line < p->w[best].eo[s].ix[at[best]].line))
                                best = i;
                }
                if (best < 0) return;
                const cf_replay_epoch_out *eo = &p->w[best].eo[s];
                const cf_replay_line *l = &eo->ix[at[best]++];
                if (o[l->out].fd >= 0) cf_buf_put(&o[l->out].buf, eo->lines.p + l->off, l->len);
        }
}

/* Epoch e's outputs, one write per file; then its records count and its slot is free. */
static int write_epoch(cf_replay_pool *p, int64_t e, cf_replay_out o[CF_N_OUTS], cf_counters *total,
                       char *errstr, size_t errstr_size)
{
        int s = (int)(e % p->epochs);
        for (int i = 0; i < CF_N_OUTS; i++)
                cf_buf_reset(&o[i].buf);
        merge_lines(p, s, o);
        for (int32_t part = 0; part < p->parts; part++) {
                const cf_buf *src = &p->w[part % p->n].eo[s].stats[part / p->n];
                if (o[CF_OUT_STATSF].fd >= 0 && src->len)
                        cf_buf_put(&o[CF_OUT_STATSF].buf, src->p, src->len);
        }
        if (cf_replay_outs_flush(o)) {
                cf_replay_outs_failed(o, errstr, errstr_size);
                return -1;
        }
        for (int i = 0; i < p->n; i++) {
                cf_replay_worker *w = &p->w[i];
                cf_replay_epoch_out *eo = &w->eo[s];
                counters_merge(&w->k, &eo->pend);
                counters_merge(total, &eo->pend);
                memset(&eo->pend, 0, sizeof(eo->pend));
                for (size_t lp = 0; lp < w->n_local; lp++)
                        cf_buf_reset(&eo->stats[lp]);
                cf_buf_reset(&eo->lines);
                eo->n_ix = 0;
        }
        if (p->n > 1) lat_add(p, cf_mono_s() - p->ep_t0[s]);
        atomic_store_explicit(&p->written, e + 1, memory_order_seq_cst);
        return 0;
}

/* A failure of the pool: a worker's (its message) or an earlier write's. */
static int failed(cf_replay_pool *p, char *errstr, size_t errstr_size)
{
        for (int i = 0; i < p->n; i++)
                if (p->w[i].rc) {
                        snprintf(errstr, errstr_size, "thread %d: %s", i, p->w[i].err);
                        return -1;
                }
        if (!errstr[0]) snprintf(errstr, errstr_size, "replay stopped after a failure");
        return -1;
}

/* The writer fails: the workers are told to stop. */
static int write_failed(cf_replay_pool *p)
{
        atomic_store(&p->failed, 1);
        if (p->started) wake(p), wake_main(p);
        return -1;
}

/* Write every epoch every worker has finished (N > 1). */
static int write_ready(cf_replay_pool *p, cf_replay_out o[CF_N_OUTS], cf_counters *total,
                       char *errstr, size_t errstr_size)
{
        if (atomic_load(&p->failed)) return failed(p, errstr, errstr_size);
        int64_t ready = min_done_ep(p), wrote = 0;
        for (int64_t e = atomic_load(&p->written); e < ready; e++, wrote++)
                if (write_epoch(p, e, o, total, errstr, errstr_size)) return write_failed(p);
        if (wrote) wake(p);
        return 0;
}

/* Write what is ready until want_slot ? the next round slot is free : every round is
 * done and written. */
static int main_wait(cf_replay_pool *p, int want_slot, cf_replay_out o[CF_N_OUTS],
                     cf_counters *total, char *errstr, size_t errstr_size)
{
        for (;;) {
                if (write_ready(p, o, total, errstr, errstr_size)) return -1;
                if (want_slot ? min_done(p) > p->next - p->rounds
                              : atomic_load(&p->written) == p->epoch && min_done(p) == p->next)
                        return 0;
                if (wait_for(p, main_can_go, want_slot, MAIN_SPIN))
                        return failed(p, errstr, errstr_size);
        }
}

int cf_replay_pool_begin(cf_replay_pool *p, int64_t now_ms, cf_replay_out o[CF_N_OUTS],
                         cf_counters *total, char *errstr, size_t errstr_size)
{
        if (p->n > 1 && main_wait(p, 1, o, total, errstr, errstr_size)) return -1;
        int s = (int)(p->next % p->rounds);
        p->ri[s].now_ms = now_ms;
        for (int i = 0; i < p->n; i++) {
                cf_batch_reset(&p->w[i].b[s]);
                p->w[i].b[s].now_ms = now_ms;
                cf_buf_reset(&p->w[i].in[s]);
        }
        return 0;
}

cf_record *cf_replay_pool_add(cf_replay_pool *p, int32_t part, const char *line, size_t len)
{
        cf_replay_worker *w = &p->w[part % p->n];
        int s = (int)(p->next % p->rounds);
        if (p->n == 1) {
                cf_record *r = cf_batch_add(&w->b[s], line, len);
                if (r) r->src.partition = part;
                return r;
        }
        /* the reader's buffer is reused before the round runs: a copy, its offset kept in
         * data until the round is handed over (the copy may move as it grows) */
        cf_record *r = cf_batch_add(&w->b[s], (const char *)(uintptr_t)w->in[s].len, len);
        if (!r) return NULL;
        if (len) cf_buf_put(&w->in[s], line, len); /* (an empty buffer has no bytes yet) */
        r->src.partition = part;
        return r;
}

size_t cf_replay_pool_size(const cf_replay_pool *p)
{
        size_t n = 0;
        int s = (int)(p->next % p->rounds);
        for (int i = 0; i < p->n; i++)
                n += p->w[i].b[s].n;
        return n;
}

int cf_replay_pool_submit(cf_replay_pool *p, int epoch_end, int flush, cf_replay_out o[CF_N_OUTS],
                          cf_counters *total, char *errstr, size_t errstr_size)
{
        int s = (int)(p->next % p->rounds);
        cf_replay_round *ri = &p->ri[s];
        ri->cmd = flush ? CMD_FLUSH : epoch_end ? CMD_EPOCH : CMD_ROUND;
        ri->epoch = p->epoch;
        ri->t0 = cf_mono_s();
        int64_t r = p->next++;
        int closes = ri->cmd != CMD_ROUND;
        if (p->n == 1) {
                if (worker_round(&p->w[0], r)) {
                        p->w[0].rc = -1;
                        return failed(p, errstr, errstr_size);
                }
                if (closes) {
                        p->epoch++;
                        if (write_epoch(p, p->epoch - 1, o, total, errstr, errstr_size))
                                return write_failed(p);
                }
                lat_add(p, cf_mono_s() - ri->t0);
                return 0;
        }
        if (p->epoch_first) p->ep_t0[p->epoch % p->epochs] = ri->t0;
        p->epoch_first = closes;
        for (int i = 0; i < p->n; i++) {
                cf_batch *b = &p->w[i].b[s];
                const char *base = p->w[i].in[s].p ? p->w[i].in[s].p : ""; /* only empty lines */
                for (size_t j = 0; j < b->n; j++)
                        b->recs[j].data = base + (uintptr_t)b->recs[j].data;
        }
        atomic_store_explicit(&p->filled, r + 1, memory_order_seq_cst);
        wake(p);
        if (closes) p->epoch++;
        return write_ready(p, o, total, errstr, errstr_size);
}

/* One piece of the input's work, by a waiting worker: write the epochs every worker has
 * finished, else hand over the next round if its slot is free. 1 if it did something. */
static int io_step(cf_replay_pool *p)
{
        /* tested before it is taken: a spinning worker does not pull the line away from
         * the one holding it */
        if (!atomic_load_explicit(&p->io_on, memory_order_acquire) ||
            atomic_load_explicit(&p->io_busy, memory_order_relaxed) ||
            atomic_exchange_explicit(&p->io_busy, 1, memory_order_acquire))
                return 0;
        int did = 0;
        if (min_done_ep(p) > atomic_load(&p->written)) {
                did = 1;
                write_ready(p, p->io_o, p->io_total, p->io_err, p->io_err_size);
        } else if (!atomic_load(&p->input_over) && min_done(p) > p->next - p->rounds) {
                did = 1;
                int r = p->fill(p->fill_ctx);
                if (r) atomic_store(&p->input_over, 1);
                if (r < 0) write_failed(p); /* the reason is in io_err */
        }
        int finished = atomic_load(&p->input_over) && atomic_load(&p->written) == p->epoch &&
                       min_done(p) == p->next;
        atomic_store_explicit(&p->io_busy, 0, memory_order_release);
        if (finished && !atomic_exchange(&p->finished, 1)) wake_main(p);
        return did;
}

int cf_replay_pool_run_input(cf_replay_pool *p, cf_replay_fill_fn fill, void *ctx,
                             cf_replay_out o[CF_N_OUTS], cf_counters *total, char *errstr,
                             size_t errstr_size)
{
        p->fill = fill;
        p->fill_ctx = ctx;
        p->io_o = o;
        p->io_total = total;
        p->io_err = errstr;
        p->io_err_size = errstr_size;
        atomic_store(&p->io_on, 1);
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv); /* the workers wait for the first round */
        while (!atomic_load(&p->finished) && !atomic_load(&p->failed))
                pthread_cond_wait(&p->done_cv, &p->mu);
        pthread_mutex_unlock(&p->mu);
        /* nothing is read any more: a worker that holds the input lets it go first */
        while (atomic_exchange(&p->io_busy, 1))
                cpu_relax();
        atomic_store(&p->io_on, 0);
        atomic_store(&p->io_busy, 0);
        return atomic_load(&p->failed) ? failed(p, errstr, errstr_size) : 0;
}

int cf_replay_pool_drain(cf_replay_pool *p, cf_replay_out o[CF_N_OUTS], cf_counters *total,
                         char *errstr, size_t errstr_size)
{
        if (p->n == 1) return p->w && p->w[0].rc ? failed(p, errstr, errstr_size) : 0;
        return main_wait(p, 0, o, total, errstr, errstr_size);
}

int64_t cf_replay_pool_time(const cf_replay_pool *p, int64_t t)
{
        const cf_batch *b = &p->w[0].b[0];
        for (size_t j = 0; j < b->n; j++)
                if (b->recs[j].status == CF_REC_OK && b->recs[j].decl.event_time_ms > t)
                        t = b->recs[j].decl.event_time_ms;
        return t;
}

void cf_replay_pool_stop(cf_replay_pool *p)
{
        if (!p->w) return;
        if (p->started) {
                atomic_store(&p->quit, 1);
                wake(p);
                for (int i = 0; i < p->started; i++)
                        pthread_join(p->w[i].th, NULL);
        }
        if (p->n > 1) {
                pthread_mutex_destroy(&p->mu);
                pthread_cond_destroy(&p->cv);
                pthread_cond_destroy(&p->done_cv);
        }
        for (int i = 0; i < p->n; i++) {
                cf_replay_worker *w = &p->w[i];
                for (int s = 0; s < p->rounds; s++) {
                        cf_batch_destroy(&w->b[s]);
                        cf_buf_free(&w->in[s]);
                }
                for (int s = 0; s < p->epochs; s++) {
                        cf_replay_epoch_out *eo = &w->eo[s];
                        for (size_t j = 0; j < w->n_local; j++)
                                cf_buf_free(&eo->stats[j]);
                        free(eo->stats);
                        cf_buf_free(&eo->lines);
                        free(eo->ix);
                        free(eo->pub_off);
                        cf_buf_free(&eo->pub);
                }
                free(w->b);
                free(w->in);
                free(w->eo);
        }
        free(p->w);
        free(p->ri);
        free(p->ep_t0);
        free(p->lat);
        p->w = NULL;
}
