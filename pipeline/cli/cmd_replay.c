/*
 * replay.c - `customsflow replay`: the stage chain over JSONL files.
 *
 * @locality: main thread only (replay is single-threaded by design: it is the
 * reference run that audits and benchmarks compare against).
 */
#include <errno.h>
#include <getopt.h>
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
#include "pipeline/core/linereader.h"
#include "pipeline/cli/replay_epochs.h"
#include "stages/decode/decode.h"

static void usage(FILE *f)
{
        fprintf(f, "usage: customsflow replay [-c config.yaml] --in FILE|- [--flags FILE]\n"
                   "                          [--stats FILE] [--dlq FILE] [--state DIR]\n"
                   "                          [--state-reset] [--state-max-bytes SIZE]\n"
                   "                          [--outcomes FILE]\n"
                   "                          [--batch-size N] [--partitions P]\n"
                   "                          [--epoch-lines K] [--no-progress]\n\n"
                   "Runs the stages (decode, dedup, detect, aggregate, encode) over a JSONL\n"
                   "file of declaration lines and prints a one-line JSON summary on stdout:\n"
                   "in, processed, duplicates, dead_lettered, flagged, flags_by_rule,\n"
                   "elapsed_s, records_per_s (in = processed + duplicates + dead_lettered).\n\n"
                   "  -c, --config FILE  config file (default: $CUSTOMSFLOW_CONFIG,\n"
                   "                     ./customsflow.yaml, /etc/customsflow/customsflow.yaml,\n"
                   "                     then the bundled example config)\n"
                   "  --in FILE|-        input JSONL (- = stdin); required. A line longer than\n"
                   "                     stages.decode.max_message_bytes is cut there and\n"
                   "                     dead-lettered (oversize_message, payload_truncated)\n"
                   "  --flags FILE|-     write flag messages, one per line\n"
                   "  --stats FILE|-     write window statistics, one per line\n"
                   "  --dlq FILE|-       write dead letters: {error, source, payload}\n"
                   "  --state DIR        load stage state from DIR before, save it after (DIR is\n"
                   "                     locked while the run lasts; a file that is there but\n"
                   "                     cannot be loaded stops the run and is kept)\n"
                   "  --state-reset      start with empty state; existing state files are kept\n"
                   "                     as DIR/replay-*.state.old\n"
                   "  --state-max-bytes SIZE  largest state file read (default 4GiB)\n"
                   "  --outcomes FILE    inspection outcomes (schemas/outcome.schema.json) for the\n"
                   "                     risk model, learnt in file order, each once the input's\n"
                   "                     event time has passed its inspected_at (the rest at the\n"
                   "                     end); bad ones go to --dlq. The summary then counts\n"
                   "                     outcomes_learnt and outcomes_dead_lettered\n"
                   "  --batch-size N     records per batch (default 4096)\n"
                   "  --partitions P     logical partitions, records keyed by exporter_id as a\n"
                   "                     Kafka producer would send them (default: the config's\n"
                   "                     replay.partitions, 1); results do not depend on it. The\n"
                   "                     state of a run is per partition: keep P across runs\n"
                   "  --epoch-lines K    population state (baselines, certificate uses) merged\n"
                   "                     every K lines (default: replay.epoch_lines, 128)\n"
                   "  --no-progress      no progress line on stderr\n"
                   "  -h, --help         this help\n\n"
                   "Every output write is checked: a failed or short write stops the run, names\n"
                   "the file and the reason, and the summary (counting only batches whose\n"
                   "outputs were all written) lists the outputs left incomplete. The state is\n"
                   "saved only after a run that read all its input and wrote every output.\n"
                   "Exit status: 0 done; 1 the run failed (input, output or state I/O, state\n"
                   "refused, accounting); 2 bad usage, config or a file that cannot be opened.\n");
}

typedef struct replay_opts {
        const char *config, *in, *flags, *stats, *dlq, *state, *outcomes;
        long long batch_size, partitions, epoch_lines; /* 0: from the config */
        int64_t state_max_bytes;
        int progress, state_reset;
} replay_opts;

static int parse_opts(int argc, char **argv, replay_opts *o)
{
        static const struct option lo[] = {{"config", required_argument, 0, 'c'},
                                           {"in", required_argument, 0, 'i'},
                                           {"flags", required_argument, 0, 'f'},
                                           {"stats", required_argument, 0, 's'},
                                           {"dlq", required_argument, 0, 'd'},
                                           {"state", required_argument, 0, 'S'},
                                           {"state-reset", no_argument, 0, 'R'},
                                           {"state-max-bytes", required_argument, 0, 'M'},
                                           {"outcomes", required_argument, 0, 'O'},
                                           {"batch-size", required_argument, 0, 'b'},
                                           {"no-progress", no_argument, 0, 'P'},
                                           {"partitions", required_argument, 0, 'p'},
                                           {"epoch-lines", required_argument, 0, 'e'},
                                           {"help", no_argument, 0, 'h'},
                                           {0, 0, 0, 0}};
        *o = (replay_opts){.batch_size = 4096, .state_max_bytes = 4LL << 30, .progress = isatty(2)};
        int ch;
        optind = 1;
        while ((ch = getopt_long(argc, argv, "c:h", lo, NULL)) != -1) {
                switch (ch) {
                case 'c':
                        o->config = optarg;
                        break;
                case 'i':
                        o->in = optarg;
                        break;
                case 'f':
                        o->flags = optarg;
                        break;
                case 's':
                        o->stats = optarg;
                        break;
                case 'd':
                        o->dlq = optarg;
                        break;
                case 'S':
                        o->state = optarg;
                        break;
                case 'R':
                        o->state_reset = 1;
                        break;
                case 'O':
                        o->outcomes = optarg;
                        break;
                case 'M':
                        if ((o->state_max_bytes = cf_parse_size(optarg)) < 1) {
                                fprintf(stderr,
                                        "customsflow replay: --state-max-bytes: '%s' is not a "
                                        "size like 512MiB or 4GiB\n",
                                        optarg);
                                return -1;
                        }
                        break;
                case 'b':
                        if (cf_opt_int("replay", "batch-size", optarg, 1, 1 << 20, &o->batch_size))
                                return -1;
                        break;
                case 'P':
                        o->progress = 0;
                        break;
                case 'p':
                        if (cf_opt_int("replay", "partitions", optarg, 1, 1024, &o->partitions))
                                return -1;
                        break;
                case 'e':
                        if (cf_opt_int("replay", "epoch-lines", optarg, 1, 1 << 20,
                                       &o->epoch_lines))
                                return -1;
                        break;
                case 'h':
                        usage(stdout);
                        return 1;
                default:
                        usage(stderr);
                        return -1;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "customsflow replay: unexpected argument '%s'\n", argv[optind]);
                return -1;
        }
        if (!o->in) {
                fprintf(stderr, "customsflow replay: --in FILE|- is required\n");
                usage(stderr);
                return -1;
        }
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
        cf_chain *c;
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

/* Latest event time of the batch's processed records (INT64_MIN: none). */
static int64_t batch_time(const cf_batch *b, int64_t t)
{
        for (size_t i = 0; i < b->n; i++)
                if (b->recs[i].status == CF_REC_OK && b->recs[i].decl.event_time_ms > t)
                        t = b->recs[i].decl.event_time_ms;
        return t;
}

/* Process and write one batch; it counts once every output of it is written. */
static int one_batch(run *x, cf_batch *b, int flush)
{
        int rc = flush ? cf_chain_flush(x->c, b, b->now_ms, 1) : cf_chain_process(x->c, b);
        if (rc) {
                snprintf(x->err, sizeof(x->err), "a stage failed on the batch");
                return -1;
        }
        if (cf_replay_outs_write(x->out, b)) {
                cf_replay_outs_failed(x->out, x->err, sizeof(x->err));
                return -1;
        }
        cf_counters_add_batch(&x->k, b);
        return 0;
}

static int run_replay(run *x, FILE *in, const char *in_name, const replay_opts *o,
                      outcomes_feed *feed)
{
        int64_t seen_ms = INT64_MIN; /* the input's event time so far */
        cf_linereader lr;
        cf_stage *dec = cf_chain_stage(x->c, "decode");
        cf_linereader_init(&lr, in, dec ? cf_decode_max_message_bytes(dec) : 0);
        cf_batch b;
        cf_batch_init(&b, (size_t)o->batch_size);
        b.replay = true;
        double t0 = cf_mono_s(), last = t0;
        int rc = 0, done = 0;
        cf_buf gbuf = {0};    /* population messages of an epoch */
        int64_t in_epoch = 0; /* lines of the current epoch read so far */
        while (!done && !rc) {
                cf_batch_reset(&b);
                cf_linereader_compact(&lr);
                b.now_ms = cf_now_ms();
                while (b.n < b.cap && in_epoch < x->ep.epoch_lines) {
                        const char *line;
                        size_t len;
                        int r = cf_linereader_next(&lr, &line, &len);
                        if (r < 0) {
                                snprintf(x->err, sizeof(x->err), "read error on %s: %s", in_name,
                                         strerror(errno));
                                rc = -1;
                        }
                        if (r <= 0) {
                                done = 1;
                                break;
                        }
                        if (r == 2) break; /* buffer full: process, compact, go on */
                        in_epoch++;
                        cf_record *rec = cf_batch_add(&b, line, len);
                        rec->dropped = lr.dropped;
                        rec->src = (cf_source){.topic = in_name,
                                               .partition = 0,
                                               .offset = lr.line_no,
                                               .is_file = true};
                }
                /* outcomes inspected by the time the input has reached, before it goes on */
                if (!rc && feed && seen_ms != INT64_MIN && feed_until(x, feed, seen_ms)) rc = -1;
                /* the records read before a read error are still processed */
                if (b.n && one_batch(x, &b, 0)) rc = -1;
                /* the epoch's end (or the input's): the population state is merged */
                if (!rc && (in_epoch == x->ep.epoch_lines || done) &&
                    cf_replay_barrier(x->c, &x->ep, &gbuf, x->err, sizeof(x->err)))
                        rc = -1;
                if (in_epoch == x->ep.epoch_lines) in_epoch = 0;
                seen_ms = batch_time(&b, seen_ms);
                if (o->progress && cf_mono_s() - last > 0.5) {
                        progress(cf_chain_counters(x->c), t0, 0);
                        last = cf_mono_s();
                }
        }
        /* the outcomes left are learnt (a saved --state then holds them) */
        if (!rc && feed && feed_until(x, feed, INT64_MAX)) rc = -1;
        /* End of input: open windows are flushed (marked partial by the stage). */
        if (!rc) {
                cf_batch_reset(&b);
                b.now_ms = cf_now_ms();
                rc = one_batch(x, &b, 1);
        }
        if (o->progress) progress(cf_chain_counters(x->c), t0, 1);
        cf_batch_destroy(&b);
        cf_buf_free(&gbuf);
        cf_linereader_free(&lr);
        return rc;
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
        if (o->state &&
            cf_replay_state_open(&st, o->state, o->state_reset, (size_t)o->state_max_bytes,
                                 (int32_t)x->ep.partitions, x->c, x->err, sizeof(x->err))) {
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
        if (!rc && o->state && cf_replay_state_save(&st, x->c, x->err, sizeof(x->err))) rc = -1;
        cf_replay_state_close(&st);
        cf_buf extra = {0};
        failure_members(x, &extra);
        cf_buf_putc(&extra, '\0'); /* a C string for cf_print_summary */
        if (x->err[0]) fprintf(stderr, "customsflow replay: %s\n", x->err);
        if (cf_print_summary(stdout, &x->k, cf_chain_rules(x->c), el, extra.p)) {
                fprintf(stderr, "customsflow replay: cannot write the summary to stdout: %s\n",
                        strerror(errno));
                rc = -1;
        }
        cf_buf_free(&extra);
        if (x->k.in != x->k.processed + x->k.duplicates + x->k.dead_lettered) {
                fprintf(stderr, "customsflow replay: accounting invariant violated\n");
                rc = -1;
        }
        return rc ? 1 : 0;
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
        if (o.partitions) x.ep.partitions = o.partitions;
        if (o.epoch_lines) x.ep.epoch_lines = o.epoch_lines;
        if (!(x.c = cf_chain_new(cfg.root, cfg.base_dir, x.err, sizeof(x.err)))) {
                fprintf(stderr, "customsflow replay: %s\n", x.err);
                cf_config_free(&cfg);
                return 2;
        }
        cf_chain_set_partitions(x.c, (int32_t)x.ep.partitions);
        int rc = 2;
        FILE *in = strcmp(o.in, "-") ? fopen(o.in, "rb") : stdin;
        if (!in)
                fprintf(stderr, "customsflow replay: cannot open %s: %s\n", o.in, strerror(errno));
        else if (cf_replay_outs_open(x.out, o.flags, o.stats, o.dlq, x.err, sizeof(x.err)))
                fprintf(stderr, "customsflow replay: %s\n", x.err), cf_replay_outs_close(x.out);
        else
                rc = replay_files(&x, in, &o);
        if (in && in != stdin) fclose(in);
        cf_chain_destroy(x.c);
        cf_config_free(&cfg);
        return rc;
}
