/*
 * replay_io.h - replay's files: the outputs (--flags, --stats, --dlq), every
 * write checked, and the state folder (--state: a lock, a capped and strict
 * load, a crash-safe save).
 *
 * @locality: main thread (replay).
 */
#ifndef CF_REPLAY_IO_H
#define CF_REPLAY_IO_H

#include <stddef.h>

#include "pipeline/core/batch.h"
#include "pipeline/core/buf.h"
#include "pipeline/core/chain.h"

enum { CF_OUT_FLAGS, CF_OUT_STATSF, CF_OUT_DLQ, CF_N_OUTS };

/** One output file of replay. */
typedef struct cf_replay_out {
        const char *opt;  /* "flags", "stats", "dlq" */
        const char *path; /* as given, "-" = stdout; NULL = not requested */
        int fd;           /* -1 = not open */
        cf_buf buf;       /* the lines of the batch being written */
        int err;          /* errno of the write or close that failed (0 = none) */
} cf_replay_out;

/** Open the requested outputs (NULL path = none); -1 with "path: reason" in errstr. */
int cf_replay_outs_open(cf_replay_out o[CF_N_OUTS], const char *flags, const char *stats,
                        const char *dlq, char *errstr, size_t errstr_size);
/** Write a batch's flags, stats and dead letters; -1 at the first failed write (its
 * output's err is set, later outputs of the batch are not written). */
int cf_replay_outs_write(cf_replay_out o[CF_N_OUTS], const cf_batch *b);
/** Write what o[i].buf holds to each open output; -1 at the first failed write (err set). */
int cf_replay_outs_flush(cf_replay_out o[CF_N_OUTS]);
/** Close the output files (stdout is flushed by the summary); -1 if a close failed. */
int cf_replay_outs_close(cf_replay_out o[CF_N_OUTS]);
/** "--OPT PATH: write error: REASON" of the first failed output, in buf; NULL if none. */
const char *cf_replay_outs_failed(const cf_replay_out o[CF_N_OUTS], char *buf, size_t n);
/** Append "incomplete_outputs":[{output, path, error}...] to extra (summary members)
 * for the outputs that failed; returns how many. */
int cf_replay_outs_report(const cf_replay_out o[CF_N_OUTS], cf_buf *extra);

/** The state folder of a replay: one file per logical partition
 * (replay-partition-<p>.state), the population state the partitions share
 * (replay-population.state) and what was learnt from outcomes (replay-global). */
typedef struct cf_replay_state {
        const char *dir;
        int32_t parts;    /* logical partitions of the run (files 0..parts-1) */
        char path[4200];  /* dir/replay-partition-0.state: partition 0's state */
        char ppath[4200]; /* dir/replay-population.state: the population state */
        char gpath[4200]; /* dir/replay-global.state: what was learnt from outcomes */
        int lock_fd;
        int may_save; /* the state was loaded, absent, or reset: this run may replace it */
} cf_replay_state;

/**
 * Lock dir (creating it), then load its state into the chains c[0..nc): partition p
 * into c[p % nc] (the thread that owns it), the population replica into c[0] (the
 * threads share it) and the global state learnt from outcomes into every one. Only a missing file
 * is a first run; any other failure (unreadable, not a file, over cap, empty, refused by a stage)
 * is -1 with the path and reason, and the files are kept. reset: start empty whatever is there
 * (existing files are kept as .old).
 */
int cf_replay_state_open(cf_replay_state *s, const char *dir, int reset, size_t cap, int32_t parts,
                         cf_chain **c, int nc, char *errstr, size_t errstr_size);
/** Partitions of the state in dir (its replay-partition-<p>.state files from 0); 0: none. */
int32_t cf_replay_state_parts(const char *dir);
/** Snapshot the chains into the state files (each: temp file, fsync, rename, fsync of the
 * folder); partition p is chain c[p % nc]'s, the population and global state c[0]'s. */
int cf_replay_state_save(cf_replay_state *s, cf_chain **c, int nc, char *errstr,
                         size_t errstr_size);
/** Release the folder's lock. */
void cf_replay_state_close(cf_replay_state *s);

#endif
