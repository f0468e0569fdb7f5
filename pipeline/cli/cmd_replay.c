/*
 * replay.c - `customsflow replay`: the stage chain over JSONL files.
 *
 * @locality: main thread only (replay is single-threaded by design: it is the
 * reference run that audits and benchmarks compare against).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pipeline/cli/cli.h"
#include "pipeline/core/config.h"
#include "pipeline/core/linereader.h"
#include "stages/encode/encode.h"

static void usage(FILE *f)
{
        fprintf(f,
                "usage: customsflow replay [-c config.yaml] --in FILE|- [--flags FILE]\n"
                "                          [--stats FILE] [--dlq FILE] [--state DIR]\n"
                "                          [--outcomes FILE]\n"
                "                          [--batch-size N] [--no-progress]\n\n"
                "Runs the stages (decode, dedup, detect, aggregate, encode) over a JSONL\n"
                "file of declaration lines and prints a one-line JSON summary on stdout:\n"
                "in, processed, duplicates, dead_lettered, flagged, flags_by_rule,\n"
                "elapsed_s, records_per_s (in = processed + duplicates + dead_lettered).\n\n"
                "  -c, --config FILE  config file (default: $CUSTOMSFLOW_CONFIG,\n"
                "                     ./customsflow.yaml, /etc/customsflow/customsflow.yaml,\n"
                "                     then the bundled example config)\n"
                "  --in FILE|-        input JSONL (- = stdin); required\n"
                "  --flags FILE|-     write flag messages, one per line\n"
                "  --stats FILE|-     write window statistics, one per line\n"
                "  --dlq FILE|-       write dead letters: {error, source, payload}\n"
                "  --state DIR        load stage state from DIR before, save it after\n"
                "  --outcomes FILE    inspection outcomes (schemas/outcome.schema.json) for the\n"
                "                     risk model, learnt in file order, each once the input's\n"
                "                     event time has passed its inspected_at (the rest at the\n"
                "                     end); bad ones go to --dlq. The summary then counts\n"
                "                     outcomes_learnt and outcomes_dead_lettered\n"
                "  --batch-size N     records per batch (default 4096)\n"
                "  --no-progress      no progress line on stderr\n"
                "  -h, --help         this help\n");
}

typedef struct replay_opts {
        const char *config, *in, *flags, *stats, *dlq, *state, *outcomes;
        long batch_size;
        int progress;
} replay_opts;

static int parse_opts(int argc, char **argv, replay_opts *o)
{
        static const struct option lo[] = {{"config", required_argument, 0, 'c'},
                                           {"in", required_argument, 0, 'i'},
                                           {"flags", required_argument, 0, 'f'},
                                           {"stats", required_argument, 0, 's'},
                                           {"dlq", required_argument, 0, 'd'},
                                           {"state", required_argument, 0, 'S'},
                                           {"outcomes", required_argument, 0, 'O'},
                                           {"batch-size", required_argument, 0, 'b'},
                                           {"no-progress", no_argument, 0, 'P'},
                                           {"help", no_argument, 0, 'h'},
                                           {0, 0, 0, 0}};
        *o = (replay_opts){.batch_size = 4096, .progress = isatty(2)};
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
                case 'O':
                        o->outcomes = optarg;
                        break;
                case 'b':
                        o->batch_size = atol(optarg);
                        break;
                case 'P':
                        o->progress = 0;
                        break;
                case 'h':
                        usage(stdout);
                        exit(0);
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
        if (o->batch_size < 1 || o->batch_size > 1 << 20) {
                fprintf(stderr, "customsflow replay: --batch-size must be 1..1048576\n");
                return -1;
        }
        return 0;
}

static void state_path(const char *dir, const char *name, char *out, size_t n)
{
        snprintf(out, n, "%s/replay-%s.state", dir, name);
}

/* The whole file at path into b; 1 when it does not exist. */
static int slurp(const char *path, cf_buf *b)
{
        FILE *f = fopen(path, "rb");
        if (!f) return errno == ENOENT ? 1 : -1;
        char tmp[1 << 16];
        size_t n;
        while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
                cf_buf_put(b, tmp, n);
        int bad = ferror(f);
        fclose(f);
        return bad ? -1 : 0;
}

/* Partition 0's state and the global state (what the risk model learnt). */
static int state_load(cf_chain *c, const char *dir)
{
        char path[4096], err[512];
        if (mkdir(dir, 0755) && errno != EEXIST) {
                fprintf(stderr, "customsflow replay: cannot create %s: %s\n", dir, strerror(errno));
                return -1;
        }
        cf_buf b = {0};
        state_path(dir, "partition-0", path, sizeof(path));
        int rc = slurp(path, &b); /* 1: none yet (first run): start empty */
        if (rc < 0)
                snprintf(err, sizeof err, "%s", strerror(errno));
        else
                rc = cf_chain_restore(c, 0, b.p, b.len, err, sizeof(err));
        if (rc) {
                fprintf(stderr, "customsflow replay: %s: %s\n", path, err);
                cf_buf_free(&b);
                return -1;
        }
        b.len = 0;
        state_path(dir, "global", path, sizeof(path));
        rc = slurp(path, &b);
        if (rc < 0)
                snprintf(err, sizeof err, "%s", strerror(errno));
        else
                rc = cf_chain_global_restore(c, b.p, b.len, err, sizeof(err));
        if (rc > 0) /* other model settings: it starts empty and learns from --outcomes */
                fprintf(stderr, "customsflow replay: %s: %s\n", path, err);
        else if (rc < 0)
                fprintf(stderr, "customsflow replay: %s: %s\n", path, err);
        cf_buf_free(&b);
        return rc < 0 ? -1 : 0;
}

static int write_atomic(const char *path, const cf_buf *b)
{
        char tmp[4200];
        snprintf(tmp, sizeof(tmp), "%s.tmp", path);
        FILE *f = fopen(tmp, "wb");
        int ok = f && fwrite(b->p, 1, b->len, f) == b->len;
        if (f) ok = (fclose(f) == 0) && ok;
        /* write-then-rename: a crash never leaves a half-written state file */
        if (!ok || rename(tmp, path)) {
                fprintf(stderr, "customsflow replay: cannot write %s: %s\n", path, strerror(errno));
                return -1;
        }
        return 0;
}

static int state_save(cf_chain *c, const char *dir)
{
        char path[4096];
        cf_buf b = {0};
        int rc = cf_chain_snapshot(c, 0, &b);
        state_path(dir, "partition-0", path, sizeof(path));
        if (!rc) rc = write_atomic(path, &b);
        b.len = 0;
        if (!rc) rc = cf_chain_global_snapshot(c, &b);
        state_path(dir, "global", path, sizeof(path));
        if (!rc) rc = write_atomic(path, &b);
        cf_buf_free(&b);
        return rc;
}

typedef struct sinks {
        FILE *flags, *stats, *dlq;
} sinks;

static int write_outputs(const cf_batch *b, const sinks *s)
{
        cf_buf line = {0};
        for (size_t i = 0; i < b->n_outs; i++) {
                const cf_output *o = &b->outs[i];
                FILE *f = o->kind == CF_OUT_FLAG ? s->flags : s->stats;
                if (!f) continue;
                fwrite(b->out.p + o->val_off, 1, o->val_len, f);
                fputc('\n', f);
        }
        for (size_t i = 0; s->dlq && i < b->n; i++) {
                if (b->recs[i].status != CF_REC_DEAD_LETTER) continue;
                cf_buf_reset(&line);
                cf_encode_dlq_line(&line, &b->recs[i]);
                cf_buf_putc(&line, '\n');
                fwrite(line.p, 1, line.len, s->dlq);
        }
        cf_buf_free(&line);
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

/* ---- --outcomes: the outcomes input, in step with the input's event time ---- */

typedef struct outcomes_feed {
        const char *name;
        cf_buf text; /* the whole file */
        size_t pos;  /* next line not learnt */
        long long line_no;
        cf_batch peek, learn; /* one outcome decoded for its time; a batch to learn */
        cf_stage *decode;
} outcomes_feed;

static int feed_open(outcomes_feed *f, cf_chain *c, const char *path)
{
        memset(f, 0, sizeof(*f));
        f->name = path;
        if (slurp(path, &f->text)) {
                fprintf(stderr, "customsflow replay: cannot read %s: %s\n", path, strerror(errno));
                return -1;
        }
        f->decode = cf_chain_stage(c, "decode");
        cf_batch_init(&f->peek, 1);
        cf_batch_init(&f->learn, 1024);
        return 0;
}

static void feed_close(outcomes_feed *f)
{
        cf_buf_free(&f->text);
        cf_batch_destroy(&f->peek);
        cf_batch_destroy(&f->learn);
}

static int feed_flush(outcomes_feed *f, cf_chain *c, const sinks *s)
{
        int rc = 0;
        if (f->learn.n && (cf_chain_learn(c, &f->learn) || write_outputs(&f->learn, s))) rc = -1;
        cf_batch_reset(&f->learn);
        return rc;
}

/* Learn, in file order, every outcome inspected by until_ms (all: INT64_MAX). An
 * outcome too bad to have a time is passed on at once (it is dead-lettered). */
static int feed_until(outcomes_feed *f, cf_chain *c, int64_t until_ms, const sinks *s)
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
                if (f->learn.n == f->learn.cap && feed_flush(f, c, s)) return -1;
        }
        return feed_flush(f, c, s);
}

/* Latest event time of the batch's processed records (INT64_MIN: none). */
static int64_t batch_time(const cf_batch *b, int64_t t)
{
        for (size_t i = 0; i < b->n; i++)
                if (b->recs[i].status == CF_REC_OK && b->recs[i].decl.event_time_ms > t)
                        t = b->recs[i].decl.event_time_ms;
        return t;
}

static int run_replay(cf_chain *c, FILE *in, const char *in_name, const replay_opts *o,
                      const sinks *s, outcomes_feed *feed)
{
        int64_t seen_ms = INT64_MIN; /* the input's event time so far */
        cf_linereader lr;
        cf_linereader_init(&lr, in);
        cf_batch b;
        cf_batch_init(&b, (size_t)o->batch_size);
        double t0 = cf_mono_s(), last = t0;
        int rc = 0, done = 0;
        while (!done) {
                cf_batch_reset(&b);
                cf_linereader_compact(&lr);
                b.now_ms = cf_now_ms();
                while (b.n < b.cap) {
                        const char *line;
                        size_t len;
                        int r = cf_linereader_next(&lr, &line, &len);
                        if (r < 0) {
                                fprintf(stderr, "customsflow replay: read error on %s: %s\n",
                                        in_name, strerror(errno));
                                rc = -1;
                                done = 1;
                                break;
                        }
                        if (r == 0) {
                                done = 1;
                                break;
                        }
                        if (r == 2) break; /* buffer full: process, compact, go on */
                        cf_record *rec = cf_batch_add(&b, line, len);
                        rec->src = (cf_source){.topic = in_name,
                                               .partition = 0,
                                               .offset = lr.line_no,
                                               .is_file = true};
                }
                /* outcomes inspected by the time the input has reached, before it goes on */
                if (feed && seen_ms != INT64_MIN && feed_until(feed, c, seen_ms, s)) rc = -1;
                if (b.n && (cf_chain_process(c, &b) || write_outputs(&b, s))) rc = -1;
                seen_ms = batch_time(&b, seen_ms);
                if (o->progress && cf_mono_s() - last > 0.5) {
                        progress(cf_chain_counters(c), t0, 0);
                        last = cf_mono_s();
                }
        }
        /* the outcomes left are learnt (a saved --state then holds them) */
        if (feed && feed_until(feed, c, INT64_MAX, s)) rc = -1;
        /* End of input: open windows are flushed (marked partial by the stage). */
        cf_batch_reset(&b);
        b.now_ms = cf_now_ms();
        if (cf_chain_flush(c, &b, b.now_ms, 1) || write_outputs(&b, s)) rc = -1;
        if (o->progress) progress(cf_chain_counters(c), t0, 1);
        cf_batch_destroy(&b);
        cf_linereader_free(&lr);
        return rc;
}

int cf_cmd_replay(int argc, char **argv)
{
        replay_opts o;
        if (parse_opts(argc, argv, &o)) return 2;
        char err[1024];
        cf_config cfg;
        if (cf_config_load(&cfg, o.config, err, sizeof(err))) {
                fprintf(stderr, "customsflow replay: %s\n", err);
                return 2;
        }
        cf_chain *c = cf_chain_new(cfg.root, cfg.base_dir, err, sizeof(err));
        if (!c) {
                fprintf(stderr, "customsflow replay: %s\n", err);
                cf_config_free(&cfg);
                return 2;
        }
        FILE *in = strcmp(o.in, "-") ? fopen(o.in, "rb") : stdin;
        if (!in) {
                fprintf(stderr, "customsflow replay: cannot open %s: %s\n", o.in, strerror(errno));
                cf_chain_destroy(c);
                cf_config_free(&cfg);
                return 2;
        }
        sinks s = {cf_open_out(o.flags), cf_open_out(o.stats), cf_open_out(o.dlq)};
        int rc = 0;
        outcomes_feed feed;
        if (o.state && state_load(c, o.state)) rc = -1;
        if (!rc && o.outcomes && feed_open(&feed, c, o.outcomes)) rc = -1;
        double t0 = cf_mono_s();
        if (!rc)
                rc = run_replay(c, in, strcmp(o.in, "-") ? o.in : "-", &o, &s,
                                o.outcomes ? &feed : NULL);
        if (o.outcomes) feed_close(&feed);
        double el = cf_mono_s() - t0;
        if (!rc && o.state) rc = state_save(c, o.state);
        FILE *fs[] = {s.flags, s.stats, s.dlq};
        for (int i = 0; i < 3; i++)
                if (fs[i] && fs[i] != stdout && fclose(fs[i])) rc = -1;
        if (in != stdin) fclose(in);
        cf_print_summary(stdout, cf_chain_counters(c), cf_chain_rules(c), el);
        const cf_counters *k = cf_chain_counters(c);
        if (k->in != k->processed + k->duplicates + k->dead_lettered) {
                fprintf(stderr, "customsflow replay: accounting invariant violated\n");
                rc = -1;
        }
        cf_chain_destroy(c);
        cf_config_free(&cfg);
        return rc ? 1 : 0;
}
