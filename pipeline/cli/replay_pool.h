/*
 * replay_pool.h - the threads of `customsflow replay --threads N`.
 *
 * Each thread owns a chain and the logical partitions p with p % N == its
 * index. The reader routes every line of a round to the thread of its
 * partition (keyroute.h); the threads run their records through their chains. The outputs of an
 * epoch are written at its end: flags and dead letters in input-line order (merged from the
 * threads), stats partition by partition (0..P-1, each in the order its partition emitted them), so
 * the files are the same bytes for every N at one P (and for every batch size, since an epoch is
 * counted in lines). At an epoch's end every thread publishes its partitions' population deltas;
 * the threads share one replica of the population state (chain 0's), read only during an epoch:
 * once every thread has finished the epoch, each applies its part of all the deltas (the tables of
 * the replica are split between them: cf_chain_share_replica) in partition order, and once all
 * parts are in, the next epoch starts. The replica is the one a single chain would hold.
 *
 * With N > 1 the pool is a pipeline: up to CF_REPLAY_ROUNDS rounds of input are
 * copied ahead into the pool's round slots, and an epoch's outputs are written
 * once every thread has finished it, while the threads go on. The reading and
 * the writing are done by the workers themselves, by whichever one is waiting
 * (cf_replay_pool_run_input: one at a time), so N threads need N cores, not N + 1;
 * a worker waits only for the round's input, the other threads at the epoch's
 * end (above), and an epoch output slot not yet written. While the input lasts
 * a waiting worker spins, reads or writes, and yields; it sleeps only after.
 * With N = 1 the rounds run on the main thread, in place (no copy, no wait).
 *
 * @locality: cf_replay_pool_* are called by the main thread, or by the worker
 * that holds the input (the fill callback of cf_replay_pool_run_input); the
 * workers touch only their own chain and slots, and read the others' published
 * deltas of an epoch that every thread has finished (nobody writes them then).
 */
#ifndef CF_REPLAY_POOL_H
#define CF_REPLAY_POOL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "pipeline/cli/replay_io.h"
#include "pipeline/core/batch.h"
#include "pipeline/core/buf.h"
#include "pipeline/core/chain.h"

#define CF_REPLAY_MAX_THREADS 256
/* Round slots of input read ahead, and epoch output slots, with N > 1. */
#define CF_REPLAY_ROUNDS 16
#define CF_REPLAY_EPOCHS 8

/** A flag or dead-letter line of an epoch: its input line, output and bytes in lines. */
typedef struct cf_replay_line {
        int64_t line;
        int out; /* CF_OUT_FLAGS or CF_OUT_DLQ */
        size_t off, len;
} cf_replay_line;

/** One thread's outputs of one epoch and its published deltas. */
typedef struct cf_replay_epoch_out {
        cf_buf *stats;             /* [n_local]: the epoch's stats lines per owned partition */
        cf_buf lines;              /* the epoch's flag and dead-letter lines, in input order */
        struct cf_replay_line *ix; /* where each of them is, and its input line */
        size_t n_ix, cap_ix;
        cf_counters pend; /* the epoch's records, not written yet */
        cf_buf pub;       /* the epoch's published deltas, owned partitions in order */
        size_t *pub_off;  /* [n_local + 1] offsets into pub */
} cf_replay_epoch_out;

/** One thread of the pool and what it owns. */
typedef struct cf_replay_worker {
        int id;
        pthread_t th;
        cf_chain *c;
        size_t n_local;             /* partitions owned: id, id + N, ... */
        cf_batch *b;                /* [rounds]: a round's records, per round slot */
        cf_buf *in;                 /* [rounds]: the round's line bytes (N > 1: copied) */
        cf_replay_epoch_out *eo;    /* [epochs]: per epoch slot */
        int64_t pending;            /* epoch whose deltas are to be applied first (-1: none) */
        cf_counters k;              /* records of epochs whose outputs were all written */
        _Atomic int64_t done;       /* rounds finished */
        _Atomic int64_t done_ep;    /* epochs finished: outputs kept, deltas published */
        _Atomic int64_t applied_ep; /* epochs whose deltas it applied (its part) */
        int rc;
        char err[512];
        struct cf_replay_pool *pool;
} cf_replay_worker;

/** What a round is: its command, epoch and clock. */
typedef struct cf_replay_round {
        int cmd;        /* replay_pool.c */
        int64_t epoch;  /* the epoch it belongs to (its output slot: epoch % epochs) */
        int64_t now_ms; /* the round's wall clock, the same for every worker */
        double t0;      /* when it was handed over (--timings) */
} cf_replay_round;

/** The pool: N workers, P partitions, the round and epoch slots and their counters. */
typedef struct cf_replay_pool {
        int n;
        int32_t parts;
        int rounds, epochs; /* slots: 1 and 1 with N = 1 */
        int with_dlq;       /* format dead letters (--dlq given) */
        int started;        /* threads started (n > 1) */
        cf_replay_worker *w;
        cf_replay_round *ri;      /* [rounds] */
        int64_t next;             /* the round being filled */
        int64_t epoch;            /* its epoch */
        int epoch_first;          /* the round being filled is the first of its epoch */
        double *ep_t0;            /* [epochs]: that time per epoch slot */
        _Atomic int64_t filled;   /* rounds handed to the threads */
        _Atomic int64_t written;  /* epochs whose outputs are written */
        _Atomic int failed, quit; /* a worker or the writer failed; the threads are to end */
        _Atomic int waiters;      /* threads asleep on cv */
        pthread_mutex_t mu;
        pthread_cond_t cv, done_cv;
        /* the input read by the workers (cf_replay_pool_run_input); fill and the writes
         * run under io_busy, one worker at a time */
        int (*fill)(void *ctx);
        void *fill_ctx;
        cf_replay_out *io_o;
        cf_counters *io_total;
        char *io_err;
        size_t io_err_size;
        _Atomic int io_on, io_busy, input_over, finished;
        double *lat; /* per round (N = 1) or epoch (N > 1): handed over to written, seconds */
        size_t n_lat, cap_lat;
} cf_replay_pool;

/** Start n workers over chains[0..n) (owned by the caller) for parts partitions, batches of
 * batch_cap records; -1 + errstr when a thread cannot be started. */
int cf_replay_pool_start(cf_replay_pool *p, cf_chain **chains, int n, int32_t parts,
                         size_t batch_cap, int with_dlq, char *errstr, size_t errstr_size);
/** Start a round: wait for a free round slot (writing the epochs finished meanwhile), empty
 * every worker's batch of it, set its wall clock. -1 + errstr: a worker or a write failed. */
int cf_replay_pool_begin(cf_replay_pool *p, int64_t now_ms, cf_replay_out o[CF_N_OUTS],
                         cf_counters *total, char *errstr, size_t errstr_size);
/** Add a line of partition part to its owner's batch (src.partition set); the record. */
cf_record *cf_replay_pool_add(cf_replay_pool *p, int32_t part, const char *line, size_t len);
/** Records in the round being filled. */
size_t cf_replay_pool_size(const cf_replay_pool *p);
/** Hand the round over (flush: the end-of-input flush instead; epoch_end: the epoch ends
 * with it, its deltas are published): with N = 1 it runs now; then write every epoch
 * finished (on success its records count into every worker's counters and into total).
 * -1 + errstr if a stage or merge failed, or an output (then o's err is set). */
int cf_replay_pool_submit(cf_replay_pool *p, int epoch_end, int flush, cf_replay_out o[CF_N_OUTS],
                          cf_counters *total, char *errstr, size_t errstr_size);
/** The input's rounds, handed over by fill (cf_replay_pool_begin, _add, _submit; returns 0,
 * 1 once the last is handed over, -1 + errstr once it failed) and their outputs written
 * by the workers themselves whenever they wait (N > 1): no third thread takes a core from
 * them. Returns once every round is processed and written; -1 + errstr as for submit. */
typedef int (*cf_replay_fill_fn)(void *ctx);
int cf_replay_pool_run_input(cf_replay_pool *p, cf_replay_fill_fn fill, void *ctx,
                             cf_replay_out o[CF_N_OUTS], cf_counters *total, char *errstr,
                             size_t errstr_size);
/** Wait until every round handed over is processed and its epoch written; the chains are
 * then idle until the next round (state can be saved). -1 + errstr as for submit. */
int cf_replay_pool_drain(cf_replay_pool *p, cf_replay_out o[CF_N_OUTS], cf_counters *total,
                         char *errstr, size_t errstr_size);
/** Latest event time of the last round's processed records (t if none is later); N = 1
 * only (with N > 1 the rounds run behind the reader). */
int64_t cf_replay_pool_time(const cf_replay_pool *p, int64_t t);
/** Stop the threads and free what the pool allocated (not the chains). */
void cf_replay_pool_stop(cf_replay_pool *p);

#endif
