/*
 * replay_pool.h - the threads of `customsflow replay --threads N`.
 *
 * Each thread owns a chain and the logical partitions p with p % N == its
 * index. The reader (main thread) routes every line of a round to the thread
 * of its partition (keyroute.h); the threads run their records through their
 * chains. The outputs of an epoch are written at its end: flags and dead
 * letters in input-line order (merged from the threads), stats partition by
 * partition (0..P-1, each in the order its partition emitted them), so the
 * files are the same bytes for every N at one P (and for every batch size,
 * since an epoch is counted in lines). At an epoch's end
 * every thread publishes its partitions' population deltas, and every thread
 * applies all of them in partition order to its own replica: the replicas stay
 * identical to the one a single chain would hold.
 *
 * @locality: cf_replay_pool_* are called by the main thread only; the workers
 * run their rounds between the pool's barriers and touch only their own chain,
 * batch and buffers (the apply phase reads the others' published deltas, which
 * nobody writes then).
 */
#ifndef CF_REPLAY_POOL_H
#define CF_REPLAY_POOL_H

#include <pthread.h>
#include <stdint.h>

#include "pipeline/cli/replay_io.h"
#include "pipeline/core/batch.h"
#include "pipeline/core/buf.h"
#include "pipeline/core/chain.h"

#define CF_REPLAY_MAX_THREADS 256

/** A flag or dead-letter line of an epoch: its input line, output and bytes in lines. */
typedef struct cf_replay_line {
        int64_t line;
        int out; /* CF_OUT_FLAGS or CF_OUT_DLQ */
        size_t off, len;
} cf_replay_line;

/** One thread of the pool and what it owns. */
typedef struct cf_replay_worker {
        int id;
        pthread_t th;
        cf_chain *c;
        cf_batch b;
        size_t n_local;            /* partitions owned: id, id + N, ... */
        cf_buf *stats;             /* [n_local]: the epoch's stats lines per owned partition */
        cf_buf lines;              /* the epoch's flag and dead-letter lines, in input order */
        struct cf_replay_line *ix; /* where each of them is, and its input line */
        size_t n_ix, cap_ix;
        cf_counters pend; /* the epoch's records, not written yet */
        cf_buf pub;       /* a round's published deltas, owned partitions in order */
        size_t *pub_off;  /* [n_local + 1] offsets into pub */
        cf_counters k;    /* records of rounds whose outputs were all written */
        int rc;
        char err[512];
        struct cf_replay_pool *pool;
} cf_replay_worker;

/** The pool: N workers, P partitions, the barriers of a round. */
typedef struct cf_replay_pool {
        int n;
        int32_t parts;
        cf_replay_worker *w;
        pthread_barrier_t go, published, applied;
        int cmd;        /* the round's command (replay_pool.c) */
        int64_t now_ms; /* the round's wall clock, the same for every worker */
        int with_dlq;   /* format dead letters (--dlq given) */
        int started;    /* threads running (n > 1) */
} cf_replay_pool;

/** Start n workers over chains[0..n) (owned by the caller) for parts partitions, batches of
 * batch_cap records; -1 + errstr when a thread cannot be started. */
int cf_replay_pool_start(cf_replay_pool *p, cf_chain **chains, int n, int32_t parts,
                         size_t batch_cap, int with_dlq, char *errstr, size_t errstr_size);
/** Start a round: every worker's batch is emptied, its wall clock set. */
void cf_replay_pool_begin(cf_replay_pool *p, int64_t now_ms);
/** Add a line of partition part to its owner's batch (src.partition set); the record. */
cf_record *cf_replay_pool_add(cf_replay_pool *p, int32_t part, const char *line, size_t len);
/** Records in the round. */
size_t cf_replay_pool_size(const cf_replay_pool *p);
/** Run the round: process (flush: the end-of-input flush instead), keep its output lines
 * for the epoch and, when epoch_end, merge the population state; -1 + errstr if a stage
 * or merge failed. */
int cf_replay_pool_run(cf_replay_pool *p, int epoch_end, int flush, char *errstr,
                       size_t errstr_size);
/** Write the epoch's outputs (after its last round, or the flush), one write per file; on
 * success its records count into every worker's counters and into total. -1: an output
 * failed. */
int cf_replay_pool_write(cf_replay_pool *p, cf_replay_out o[CF_N_OUTS], cf_counters *total);
/** Latest event time of the round's processed records (t if none is later). */
int64_t cf_replay_pool_time(const cf_replay_pool *p, int64_t t);
/** Stop the threads and free what the pool allocated (not the chains). */
void cf_replay_pool_stop(cf_replay_pool *p);

#endif
