/*
 * replay.c - `customsflow replay`: the stage chain over JSONL files.
 *
 * @locality: main thread: opens the files, reads and routes the input and writes
 * the outputs with one thread, and the state; with --threads > 1 the reading
 * (read_step) and the writes run on whichever worker of replay_pool.c waits, one
 * at a time; the results are the same bytes for every thread count at one
 * --partitions.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipeline/cli/cli.h"
#include "pipeline/cli/replay_io.h"
#include "pipeline/core/config.h"
#include "pipeline/core/config_map.h"
#include "pipeline/core/fileio.h"
#include "pipeline/core/keyroute.h"
#include "pipeline/core/linereader.h"
#include "pipeline/cli/replay_epochs.h"
#include "pipeline/cli/replay_pool.h"
#include "stages/decode/decode.h"

typedef struct replay_opts {
        const char *config, *in, *flags, *stats, *dlq, *state, *outcomes;
        long long batch_size, partitions, epoch_lines; /* 0: from the config */
        long long threads;                             /* 0: the number of cores */
        int64_t state_max_bytes;
        int progress, state_reset, timings;
} replay_opts;

static const cf_opt replay_rows[] = {
    CF_OPT_ROW_STR("config", 'c', replay_opts, config, "FILE",
                   "config file (default: $CUSTOMSFLOW_CONFIG, ./customsflow.yaml, "
                   "/etc/customsflow/customsflow.yaml, then the bundled example config)"),
    {.name = "in",
     .kind = CF_OPT_STR,
     .off = offsetof(replay_opts, in),
     .arg = "FILE|-",
     .required = true,
     .help = "input JSONL (- = stdin); required. A line longer than "
             "stages.decode.max_message_bytes is cut there and dead-lettered "
             "(oversize_message, payload_truncated)"},
    CF_OPT_ROW_STR("flags", 0, replay_opts, flags, "FILE|-", "write flag messages, one per line"),
    CF_OPT_ROW_STR("stats", 0, replay_opts, stats, "FILE|-",
                   "write window statistics, one per line"),
    CF_OPT_ROW_STR("dlq", 0, replay_opts, dlq, "FILE|-",
                   "write dead letters: {error, source, payload}"),
    CF_OPT_ROW_STR("state", 0, replay_opts, state, "DIR",
                   "load stage state from DIR before, save it after (DIR is locked while the "
                   "run lasts; a file that is there but cannot be loaded stops the run and is "
                   "kept)"),
    CF_OPT_ROW_ON("state-reset", replay_opts, state_reset,
                  "start with empty state; existing state files are kept as "
                  "DIR/replay-*.state.old"),
    {.name = "state-max-bytes",
     .kind = CF_OPT_SIZE,
     .off = offsetof(replay_opts, state_max_bytes),
     .arg = "SIZE",
     .lo = 1,
     .help = "largest state file read (default 4GiB)"},
    CF_OPT_ROW_STR("outcomes", 0, replay_opts, outcomes, "FILE",
                   "inspection outcomes (schemas/outcome.schema.json) for the risk model, "
                   "learnt in file order, each once the input's event time has passed its "
                   "inspected_at (the rest at the end); bad ones go to --dlq. The summary then "
                   "counts outcomes_learnt and outcomes_dead_lettered"),
    CF_OPT_ROW_LL("batch-size", replay_opts, batch_size, 1, 1 << 20, "N",
                  "records per batch (default 4096)"),
    CF_OPT_ROW_LL("partitions", replay_opts, partitions, 1, 1024, "P",
                  "logical partitions, records keyed by exporter_id as a Kafka producer would "
                  "send them (default: the config's replay.partitions, 16); results do not "
                  "depend on it. The state of a run is per partition: a --state folder keeps "
                  "the count it was saved with (another P is refused)"),
    CF_OPT_ROW_LL("threads", replay_opts, threads, 1, CF_REPLAY_MAX_THREADS, "N",
                  "threads, each owning the partitions p with p % N equal to its index "
                  "(default: the number of cores, at most P; 1 with --outcomes). Flags, stats "
                  "and dead letters are the same bytes for every N at one P: each round of "
                  "input is written partition by partition"),
    CF_OPT_ROW_LL("epoch-lines", replay_opts, epoch_lines, 1, 1 << 20, "K",
                  "population state (baselines, certificate uses) merged every K lines "
                  "(default: replay.epoch_lines, 128)"),
    CF_OPT_ROW_ON("timings", replay_opts, timings,
                  "the summary also gives batch_latency_ms: rounds, p50, p99 (a round: its "
                  "lines on the threads and, at an epoch's end, the writes; with --threads > 1, "
                  "an epoch) and peak_rss_mb (this process's peak resident set, VmHWM)"),
    CF_OPT_ROW_OFF("no-progress", replay_opts, progress, "no progress line on stderr"),
    {0},
};

static const cf_opts_spec replay_spec = {
    .prog = "customsflow replay",
    .about = "Runs the stages (decode, dedup, detect, aggregate, encode) over a JSONL\n"
             "file of declaration lines and prints a one-line JSON summary on stdout:\n"
             "in, processed, duplicates, dead_lettered, flagged, flags_by_rule,\n"
             "elapsed_s, records_per_s (in = processed + duplicates + dead_lettered),\n"
             "and per thread the same counts (threads[]).\n",
    .epilog = "Every output write is checked: a failed or short write stops the run, names\n"
              "the file and the reason, and the summary (counting only batches whose\n"
              "outputs were all written) lists the outputs left incomplete. The state is\n"
              "saved only after a run that read all its input and wrote every output.\n"
              "Exit status: 0 done; 1 the run failed (input, output or state I/O, state\n"
              "refused, accounting); 2 bad usage, config or a file that cannot be opened.\n",
    .opts = replay_rows,
};

static int parse_opts(int argc, char **argv, replay_opts *o)
{
        *o = (replay_opts){.batch_size = 4096, .state_max_bytes = 4LL << 30, .progress = isatty(2)};
        int rc = cf_opts_main(&replay_spec, argc, argv, o, NULL);
        if (rc) return rc;
        if (o->state_reset && !o->state) {
                fprintf(stderr, "customsflow replay: --state-reset needs --state DIR\n");
                return -1;
        }
        return 0;
}

static void progress(const cf_counters *k, double t0, int final)
{
        double el = cf_mono_s() - t0;
        fprintf(stderr,
                "\r  replay: %llu records, %.0f rec/s, flagged %llu, duplicates %llu, "
                "dead letters %llu   %s",
                (unsigned long long)k->in, el > 0 ? k->in / el : 0.0,
                (unsigned long long)k->flagged, (unsigned long long)k->duplicates,
                (unsigned long long)k->dead_lettered, final ? "\n" : "");
}

/* A run: what it was given, what it has written, how it failed. */
typedef struct run {
        cf_chain *c; /* chains[0]: the outcomes input and the rule names */
        cf_chain *chains[CF_REPLAY_MAX_THREADS];
        int n_threads;
        cf_replay_pool pool;
        cf_replay_cfg ep; /* partitions and epochs */
        cf_replay_out out[CF_N_OUTS];
        cf_counters k;  /* batches whose outputs were all written (the summary) */
        char err[1024]; /* the failure, for stderr and the summary ("" = none) */
} run;

/* ---- --outcomes: the outcomes input, in step with the input's event time ---- */

typedef struct outcomes_feed {
        const char *name;
        cf_buf text; /* the whole file */
        size_t pos;  /* next line not learnt */
        long long line_no;
        cf_batch peek, learn; /* one outcome decoded for its time; a batch to learn */
        cf_stage *decode;
} outcomes_feed;

static int feed_open(outcomes_feed *f, cf_chain *c, const char *path, char *errstr,
                     size_t errstr_size)
{
        memset(f, 0, sizeof(*f));
        f->name = path;
        f->decode = cf_chain_stage(c, "decode");
        cf_batch_init(&f->peek, 1);
        cf_batch_init(&f->learn, 1024);
        int rc = cf_read_file_capped(path, SIZE_MAX / 2, &f->text, errstr, errstr_size);
        if (rc == 1) snprintf(errstr, errstr_size, "--outcomes %s: %s", path, strerror(ENOENT));
        return rc ? -1 : 0;
}

static void feed_close(outcomes_feed *f)
{
        cf_buf_free(&f->text);
        cf_batch_destroy(&f->peek);
        cf_batch_destroy(&f->learn);
}

/* Learn the batch of outcomes and write its dead letters; counted once written. */
static int feed_flush(run *x, outcomes_feed *f)
{
        int rc = 0;
        if (f->learn.n && cf_chain_learn(x->c, &f->learn)) {
                snprintf(x->err, sizeof(x->err), "a stage failed on a batch of outcomes");
                rc = -1;
        } else if (f->learn.n && cf_replay_outs_write(x->out, &f->learn)) {
                cf_replay_outs_failed(x->out, x->err, sizeof(x->err));
                rc = -1;
        } else {
                cf_counters_add_outcomes(&x->k, &f->learn);
        }
        cf_batch_reset(&f->learn);
        return rc;
}

/* Learn, in file order, every outcome inspected by until_ms (all: INT64_MAX). An
 * outcome too bad to have a time is passed on at once (it is dead-lettered). */
static int feed_until(run *x, outcomes_feed *f, int64_t until_ms)
{
        while (f->pos < f->text.len) {
                const char *line = f->text.p + f->pos;
                const char *nl = memchr(line, '\n', f->text.len - f->pos);
                size_t len = nl ? (size_t)(nl - line) : f->text.len - f->pos;
                if (until_ms != INT64_MAX) {
                        cf_batch_reset(&f->peek);
                        cf_batch_add(&f->peek, line, len);
                        f->decode->p->learn(f->decode, &f->peek);
                        const cf_record *r = &f->peek.recs[0];
                        if (r->status == CF_REC_OK && r->outcome.inspected_ms > until_ms) break;
                }
                f->pos += len + (nl ? 1 : 0);
                cf_record *r = cf_batch_add(&f->learn, line, len);
                r->src = (cf_source){.topic = f->name, .offset = ++f->line_no, .is_file = true};
                if (f->learn.n == f->learn.cap && feed_flush(x, f)) return -1;
        }
        return feed_flush(x, f);
}

/* Hand one round to the threads; the epochs they have finished are written (their
 * records count once every output of them is written). */
static int one_round(run *x, int epoch_end, int flush)
{
        return cf_replay_pool_submit(&x->pool, epoch_end, flush, x->out, &x->k, x->err,
                                     sizeof(x->err));
}

static int begin_round(run *x)
{
        return cf_replay_pool_begin(&x->pool, cf_now_ms(), x->out, &x->k, x->err, sizeof(x->err));
}

static int cmp_d(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

/* "batch_latency_ms":{"rounds","p50","p99"}: a round's time on the threads and in the
 * writes (what `customsflow bench` reports; with threads, an epoch's from its first
 * round handed over to written); the times are sorted here. */
static void latency_members(run *x, cf_buf *extra)
{
        cf_replay_pool *p = &x->pool;
        if (!p->n_lat) return;
        qsort(p->lat, p->n_lat, sizeof(double), cmp_d);
        cf_buf_printf(extra, "%s\"batch_latency_ms\":{\"rounds\":%zu,\"p50\":%.3f,\"p99\":%.3f}",
                      extra->len ? "," : "", p->n_lat, 1e3 * p->lat[p->n_lat / 2],
                      1e3 * p->lat[(p->n_lat * 99) / 100]);
}

static void rss_member(cf_buf *extra)
{
        double mb = cf_peak_rss_mb();
        if (mb >= 0) cf_buf_printf(extra, "%s\"peak_rss_mb\":%.1f", extra->len ? "," : "", mb);
}

/* Read a round of lines (up to the batch size, the epoch's end or a full read
 * buffer), each to its partition's thread. 1: the input is over. */
static int read_round(run *x, cf_linereader *lr, cf_keyroute *kr, const char *in_name,
                      const replay_opts *o, int64_t *in_epoch)
{
        int32_t parts = (int32_t)x->ep.partitions;
        size_t n = 0;
        while (n < (size_t)o->batch_size && *in_epoch < x->ep.epoch_lines) {
                const char *line;
                size_t len;
                int r = cf_linereader_next(lr, &line, &len);
                if (r < 0) {
                        snprintf(x->err, sizeof(x->err), "read error on %s: %s", in_name,
                                 strerror(errno));
                        return -1;
                }
                if (r == 0) return 1;
                if (r == 2) break; /* buffer full: process, compact, go on */
                (*in_epoch)++;
                n++;
                size_t readable = (size_t)(lr->buf + lr->cap - line);
                int32_t p = cf_keyroute_partition(kr, line, len, readable, parts);
                cf_record *rec = cf_replay_pool_add(&x->pool, p, line, len);
                rec->dropped = lr->dropped;
                rec->src.topic = in_name;
                rec->src.offset = lr->line_no;
                rec->src.is_file = true;
        }
        return 0;
}

/* The reading of a run: one round at a time (read_step), by the main thread, or with
 * threads by whichever worker is waiting (cf_replay_pool_run_input). */
typedef struct reader {
        run *x;
        cf_linereader lr;
        cf_keyroute *kr;
        const char *in_name;
        const replay_opts *o;
        outcomes_feed *feed;
        int64_t in_epoch; /* lines of the current epoch read so far */
        int64_t seen_ms;  /* the input's event time so far */
        double t0, last;
        int state; /* 0 reading, 1 the end-of-input flush is next, 2 done */
        int rc;    /* -1: the input or the outcomes failed (x->err) */
} reader;

/* One round read and handed over (or the flush): 0 more to come, 1 the last was handed
 * over, -1 the pool failed. */
static int read_step(void *arg)
{
        reader *d = arg;
        run *x = d->x;
        if (d->state == 1) { /* end of input: open windows are flushed (marked partial) */
                d->state = 2;
                return begin_round(x) || one_round(x, 0, 1) ? -1 : 1;
        }
        cf_linereader_compact(&d->lr);
        if (begin_round(x)) return -1;
        int r = read_round(x, &d->lr, d->kr, d->in_name, d->o, &d->in_epoch), done = r != 0;
        /* the records read before a read error are still processed */
        if (r < 0) d->rc = -1;
        /* outcomes inspected by the time the input has reached, before it goes on */
        if (!d->rc && d->feed && d->seen_ms != INT64_MIN && feed_until(x, d->feed, d->seen_ms))
                d->rc = -1;
        /* the epoch's end (or the input's): the population state is merged */
        int epoch_end = d->in_epoch == x->ep.epoch_lines || done || d->rc;
        if ((cf_replay_pool_size(&x->pool) || epoch_end) && one_round(x, epoch_end, 0)) return -1;
        if (d->in_epoch == x->ep.epoch_lines) d->in_epoch = 0;
        if (d->feed) d->seen_ms = cf_replay_pool_time(&x->pool, d->seen_ms);
        if (d->o->progress && cf_mono_s() - d->last > 0.5) {
                progress(&x->k, d->t0, 0);
                d->last = cf_mono_s();
        }
        if (!d->rc && done && d->feed && feed_until(x, d->feed, INT64_MAX)) d->rc = -1;
        if (d->rc) { /* no flush: the state is not saved after a failure */
                d->state = 2;
                return 1;
        }
        if (done) d->state = 1;
        return 0;
}

static int run_replay(run *x, FILE *in, const char *in_name, const replay_opts *o,
                      outcomes_feed *feed)
{
        reader d = {.x = x, .in_name = in_name, .o = o, .feed = feed, .seen_ms = INT64_MIN};
        cf_stage *dec = cf_chain_stage(x->c, "decode");
        cf_linereader_init(&d.lr, in, dec ? cf_decode_max_message_bytes(dec) : 0);
        if (!(d.kr = cf_keyroute_new())) abort();
        d.t0 = d.last = cf_mono_s();
        int rc = 0;
        if (x->n_threads > 1) {
                rc = cf_replay_pool_run_input(&x->pool, read_step, &d, x->out, &x->k, x->err,
                                              sizeof(x->err));
        } else {
                while (!(rc = read_step(&d)))
                        ;
                rc = rc < 0 ? -1 : 0;
        }
        /* what was handed over is written (after a read error too), the chains idle */
        if (cf_replay_pool_drain(&x->pool, x->out, &x->k, x->err, sizeof(x->err))) rc = -1;
        if (o->progress) progress(&x->k, d.t0, 1);
        cf_keyroute_free(d.kr);
        cf_linereader_free(&d.lr);
        return rc || d.rc ? -1 : 0;
}

/* "threads":[{partitions, in, processed, duplicates, dead_lettered, flagged}...]: each
 * thread's own accounting (the invariant holds for each, checked after). */
static void thread_members(const run *x, cf_buf *extra)
{
        cf_buf_puts(extra, extra->len ? ",\"threads\":[" : "\"threads\":[");
        for (int i = 0; i < x->n_threads; i++) {
                const cf_counters *k = &x->pool.w[i].k;
                cf_buf_printf(extra,
                              "%s{\"thread\":%d,\"partitions\":%zu,\"in\":%llu,"
                              "\"processed\":%llu,\"duplicates\":%llu,\"dead_lettered\":%llu,"
                              "\"flagged\":%llu}",
                              i ? "," : "", i, x->pool.w[i].n_local, (unsigned long long)k->in,
                              (unsigned long long)k->processed, (unsigned long long)k->duplicates,
                              (unsigned long long)k->dead_lettered, (unsigned long long)k->flagged);
        }
        cf_buf_putc(extra, ']');
}

/* The accounting invariant, for every thread and in total; -1 when it fails. */
static int check_accounting(const run *x)
{
        int bad = x->k.in != x->k.processed + x->k.duplicates + x->k.dead_lettered;
        for (int i = 0; i < x->n_threads; i++) {
                const cf_counters *k = &x->pool.w[i].k;
                bad |= k->in != k->processed + k->duplicates + k->dead_lettered;
        }
        return bad ? -1 : 0;
}

/* The summary's extra members: the error and the outputs left incomplete. */
static void failure_members(const run *x, cf_buf *extra)
{
        cf_buf list = {0};
        cf_replay_outs_report(x->out, &list);
        if (x->err[0]) {
                cf_buf_puts(extra, "\"error\":");
                cf_json_str(extra, x->err, strlen(x->err));
        }
        if (list.len) cf_buf_printf(extra, "%s%.*s", extra->len ? "," : "", (int)list.len, list.p);
        cf_buf_free(&list);
}

/* The part of a run after its inputs are open: returns the exit status. */
static int replay_files(run *x, FILE *in, const replay_opts *o)
{
        cf_replay_state st = {.lock_fd = -1};
        if (o->state && cf_replay_state_open(&st, o->state, o->state_reset,
                                             (size_t)o->state_max_bytes, (int32_t)x->ep.partitions,
                                             x->chains, x->n_threads, x->err, sizeof(x->err))) {
                fprintf(stderr, "customsflow replay: %s\n", x->err);
                cf_replay_state_close(&st);
                cf_replay_outs_close(x->out);
                return 1;
        }
        outcomes_feed feed;
        if (o->outcomes && feed_open(&feed, x->c, o->outcomes, x->err, sizeof(x->err))) {
                fprintf(stderr, "customsflow replay: %s\n", x->err);
                feed_close(&feed);
                cf_replay_state_close(&st);
                cf_replay_outs_close(x->out);
                return 2;
        }
        double t0 = cf_mono_s();
        int rc = run_replay(x, in, strcmp(o->in, "-") ? o->in : "-", o, o->outcomes ? &feed : NULL);
        if (o->outcomes) feed_close(&feed);
        double el = cf_mono_s() - t0;
        if (cf_replay_outs_close(x->out)) {
                if (!x->err[0]) cf_replay_outs_failed(x->out, x->err, sizeof(x->err));
                rc = -1;
        }
        /* saved only after a complete run: otherwise the next run must redo it all */
        if (!rc && o->state &&
            cf_replay_state_save(&st, x->chains, x->n_threads, x->err, sizeof(x->err)))
                rc = -1;
        cf_replay_state_close(&st);
        cf_buf extra = {0};
        failure_members(x, &extra);
        thread_members(x, &extra);
        if (o->timings) latency_members(x, &extra), rss_member(&extra);
        cf_buf_putc(&extra, '\0'); /* a C string for cf_print_summary */
        if (x->err[0]) fprintf(stderr, "customsflow replay: %s\n", x->err);
        if (cf_print_summary(stdout, &x->k, cf_chain_rules(x->c), el, extra.p)) {
                fprintf(stderr, "customsflow replay: cannot write the summary to stdout: %s\n",
                        strerror(errno));
                rc = -1;
        }
        cf_buf_free(&extra);
        if (check_accounting(x)) {
                fprintf(stderr, "customsflow replay: accounting invariant violated\n");
                rc = -1;
        }
        return rc ? 1 : 0;
}

/* --threads, else the cores; never more than the partitions (a thread without
 * one would idle), and 1 with --outcomes (the outcomes are learnt by one chain). */
static int thread_count(const replay_opts *o, long long parts)
{
        long long n = o->threads;
        if (!n) {
                long cores = sysconf(_SC_NPROCESSORS_ONLN);
                n = cores > 0 ? cores : 1;
        }
        if (o->outcomes && n > 1) {
                if (o->threads > 1)
                        fprintf(stderr, "customsflow replay: --outcomes: the risk model learns "
                                        "on one thread; running with --threads 1\n");
                n = 1;
        }
        if (n > parts) n = parts;
        return (int)(n > CF_REPLAY_MAX_THREADS ? CF_REPLAY_MAX_THREADS : n);
}

/* One chain per thread; the line's partition is set by the router before decode
 * (keyroute.h), so the chains leave it as it is. -1 with the reason on stderr. */
static int make_chains(run *x, const cf_config *cfg)
{
        for (int i = 0; i < x->n_threads; i++) {
                x->chains[i] = cf_chain_new(cfg->root, cfg->base_dir, x->err, sizeof(x->err));
                if (!x->chains[i]) {
                        fprintf(stderr, "customsflow replay: %s\n", x->err);
                        return -1;
                }
                cf_chain_set_partitions(x->chains[i], 0);
        }
        x->c = x->chains[0];
        return 0;
}

int cf_cmd_replay(int argc, char **argv)
{
        replay_opts o;
        int prc = parse_opts(argc, argv, &o);
        if (prc) return prc > 0 ? 0 : 2;
        /* a reader that goes away (| head) is a write error with a message, not a
         * silent death by SIGPIPE that leaves outputs and state undetermined */
        signal(SIGPIPE, SIG_IGN);
        static run x; /* large buffers: not on the stack */
        memset(&x, 0, sizeof(x));
        cf_config cfg;
        if (cf_config_load(&cfg, o.config, x.err, sizeof(x.err))) {
                fprintf(stderr, "customsflow replay: %s\n", x.err);
                return 2;
        }
        if (cf_replay_cfg_load(&x.ep, &cfg, x.err, sizeof(x.err))) {
                fprintf(stderr, "customsflow replay: %s\n", x.err);
                cf_config_free(&cfg);
                return 2;
        }
        /* a state folder keeps its partitions unless --partitions says otherwise
         * (then a count that differs is refused when the state is loaded) */
        int32_t had = o.state && !o.state_reset ? cf_replay_state_parts(o.state) : 0;
        if (had) x.ep.partitions = had;
        if (o.partitions) x.ep.partitions = o.partitions;
        if (o.epoch_lines) x.ep.epoch_lines = o.epoch_lines;
        x.n_threads = thread_count(&o, x.ep.partitions);
        int rc = make_chains(&x, &cfg) ? 2 : 1;
        FILE *in = NULL;
        if (rc == 1 &&
            cf_replay_pool_start(&x.pool, x.chains, x.n_threads, (int32_t)x.ep.partitions,
                                 (size_t)o.batch_size, o.dlq != NULL, x.err, sizeof(x.err)))
                fprintf(stderr, "customsflow replay: %s\n", x.err);
        else if (rc == 1 && !(in = strcmp(o.in, "-") ? fopen(o.in, "rb") : stdin))
                fprintf(stderr, "customsflow replay: cannot open %s: %s\n", o.in, strerror(errno)),
                    rc = 2;
        else if (rc == 1 &&
                 cf_replay_outs_open(x.out, o.flags, o.stats, o.dlq, x.err, sizeof(x.err)))
                fprintf(stderr, "customsflow replay: %s\n", x.err), cf_replay_outs_close(x.out),
                    rc = 2;
        else if (rc == 1)
                rc = replay_files(&x, in, &o);
        if (in && in != stdin) fclose(in);
        cf_replay_pool_stop(&x.pool);
        for (int i = 0; i < x.n_threads; i++)
                cf_chain_destroy(x.chains[i]);
        cf_config_free(&cfg);
        return rc;
}
