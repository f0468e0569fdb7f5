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
#include "pipeline/cli/replay_epochs.h"
#include "pipeline/core/config.h"
#include "pipeline/core/linereader.h"
#include "stages/encode/encode.h"

static void usage(FILE *f)
{
        fprintf(f, "usage: customsflow replay [-c config.yaml] --in FILE|- [--flags FILE]\n"
                   "                          [--stats FILE] [--dlq FILE] [--state DIR]\n"
                   "                          [--batch-size N] [--partitions P]\n"
                   "                          [--epoch-lines K] [--no-progress]\n\n"
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
                   "  --batch-size N     records per batch (default 4096)\n"
                   "  --partitions P     logical partitions, records keyed by exporter_id as a\n"
                   "                     Kafka producer would send them (default: the config's\n"
                   "                     replay.partitions, 1); results do not depend on it\n"
                   "  --epoch-lines K    population state (baselines, certificate uses) merged\n"
                   "                     every K lines (default: replay.epoch_lines, 128)\n"
                   "  --no-progress      no progress line on stderr\n"
                   "  -h, --help         this help\n");
}

typedef struct replay_opts {
        const char *config, *in, *flags, *stats, *dlq, *state;
        long batch_size, partitions, epoch_lines; /* 0: from the config */
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
                                           {"batch-size", required_argument, 0, 'b'},
                                           {"no-progress", no_argument, 0, 'P'},
                                           {"partitions", required_argument, 0, 'p'},
                                           {"epoch-lines", required_argument, 0, 'e'},
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
                case 'b':
                        o->batch_size = atol(optarg);
                        break;
                case 'P':
                        o->progress = 0;
                        break;
                case 'p':
                        o->partitions = atol(optarg);
                        if (o->partitions < 1 || o->partitions > 1024) {
                                fprintf(stderr,
                                        "customsflow replay: --partitions must be 1..1024\n");
                                return -1;
                        }
                        break;
                case 'e':
                        o->epoch_lines = atol(optarg);
                        if (o->epoch_lines < 1 || o->epoch_lines > 1 << 20) {
                                fprintf(stderr,
                                        "customsflow replay: --epoch-lines must be 1..1048576\n");
                                return -1;
                        }
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

/* State files: one per logical partition (replay-partition-<p>.state) and the
 * population state every partition shares (replay-population.state). */
static void state_path(const char *dir, int32_t p, char *out, size_t n)
{
        if (p < 0)
                snprintf(out, n, "%s/replay-population.state", dir);
        else
                snprintf(out, n, "%s/replay-partition-%d.state", dir, p);
}

/* The file's bytes into b; 0 when it is there, 1 when it is not, -1 on error. */
static int read_file(const char *path, cf_buf *b)
{
        FILE *f = fopen(path, "rb");
        if (!f) return errno == ENOENT ? 1 : -1;
        char tmp[1 << 16];
        size_t n;
        while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
                cf_buf_put(b, tmp, n);
        int rc = ferror(f) ? -1 : 0;
        fclose(f);
        return rc;
}

static int state_load(cf_chain *c, const char *dir, int32_t parts)
{
        char path[4096], err[512];
        if (mkdir(dir, 0755) && errno != EEXIST) {
                fprintf(stderr, "customsflow replay: cannot create %s: %s\n", dir, strerror(errno));
                return -1;
        }
        /* state of a partition this run does not have: written with more partitions */
        state_path(dir, parts, path, sizeof path);
        if (access(path, F_OK) == 0) {
                fprintf(stderr,
                        "customsflow replay: %s: the state was written with more than %d "
                        "partitions; run with the same --partitions\n",
                        path, parts);
                return -1;
        }
        int rc = 0;
        for (int32_t p = -1; p < parts && !rc; p++) {
                cf_buf b = {0};
                state_path(dir, p, path, sizeof path);
                int r = read_file(path, &b);
                if (r < 0) {
                        fprintf(stderr, "customsflow replay: %s: %s\n", path, strerror(errno));
                        rc = -1;
                } else {
                        /* a missing file: that partition (or the population) starts empty */
                        rc = p < 0 ? cf_chain_restore_replica(c, b.p, r ? 0 : b.len, err,
                                                              sizeof err)
                                   : cf_chain_restore(c, p, b.p, r ? 0 : b.len, err, sizeof err);
                        if (rc) fprintf(stderr, "customsflow replay: %s: %s\n", path, err);
                }
                cf_buf_free(&b);
        }
        return rc;
}

static int state_save(cf_chain *c, const char *dir, int32_t parts)
{
        char path[4096], tmp[4200];
        for (int32_t p = -1; p < parts; p++) {
                state_path(dir, p, path, sizeof(path));
                snprintf(tmp, sizeof(tmp), "%s.tmp", path);
                cf_buf b = {0};
                if (p < 0 ? cf_chain_snapshot_replica(c, &b) : cf_chain_snapshot(c, p, &b)) {
                        cf_buf_free(&b);
                        return -1;
                }
                FILE *f = fopen(tmp, "wb");
                int ok = f && fwrite(b.p, 1, b.len, f) == b.len;
                if (f) ok = (fclose(f) == 0) && ok;
                cf_buf_free(&b);
                /* write-then-rename: a crash never leaves a half-written state file */
                if (!ok || rename(tmp, path)) {
                        fprintf(stderr, "customsflow replay: cannot write %s: %s\n", path,
                                strerror(errno));
                        return -1;
                }
        }
        return 0;
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

static int run_replay(cf_chain *c, FILE *in, const char *in_name, const replay_opts *o,
                      const cf_replay_cfg *ep, const sinks *s)
{
        cf_linereader lr;
        cf_linereader_init(&lr, in);
        cf_batch b;
        cf_batch_init(&b, (size_t)o->batch_size);
        cf_buf gbuf = {0};    /* population messages of an epoch */
        int64_t in_epoch = 0; /* lines of the current epoch read so far */
        char gerr[512];
        double t0 = cf_mono_s(), last = t0;
        int rc = 0, done = 0;
        while (!done) {
                cf_batch_reset(&b);
                cf_linereader_compact(&lr);
                b.now_ms = cf_now_ms();
                while (b.n < b.cap && in_epoch < ep->epoch_lines) {
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
                        in_epoch++;
                        cf_record *rec = cf_batch_add(&b, line, len);
                        rec->src = (cf_source){.topic = in_name,
                                               .partition = 0,
                                               .offset = lr.line_no,
                                               .is_file = true};
                }
                if (b.n && (cf_chain_process(c, &b) || write_outputs(&b, s))) rc = -1;
                /* the epoch's end (or the input's): the population state is merged */
                if ((in_epoch == ep->epoch_lines || done) &&
                    cf_replay_barrier(c, ep, &gbuf, gerr, sizeof gerr)) {
                        fprintf(stderr, "customsflow replay: %s\n", gerr);
                        rc = -1;
                }
                if (in_epoch == ep->epoch_lines) in_epoch = 0;
                if (o->progress && cf_mono_s() - last > 0.5) {
                        progress(cf_chain_counters(c), t0, 0);
                        last = cf_mono_s();
                }
        }
        /* End of input: open windows are flushed (marked partial by the stage). */
        cf_batch_reset(&b);
        b.now_ms = cf_now_ms();
        if (cf_chain_flush(c, &b, b.now_ms, 1) || write_outputs(&b, s)) rc = -1;
        if (o->progress) progress(cf_chain_counters(c), t0, 1);
        cf_batch_destroy(&b);
        cf_buf_free(&gbuf);
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
        cf_replay_cfg ep;
        if (cf_replay_cfg_load(&ep, &cfg, err, sizeof err)) {
                fprintf(stderr, "customsflow replay: %s\n", err);
                cf_config_free(&cfg);
                return 2;
        }
        if (o.partitions) ep.partitions = o.partitions;
        if (o.epoch_lines) ep.epoch_lines = o.epoch_lines;
        cf_chain *c = cf_chain_new(cfg.root, cfg.base_dir, err, sizeof(err));
        if (!c) {
                fprintf(stderr, "customsflow replay: %s\n", err);
                cf_config_free(&cfg);
                return 2;
        }
        cf_chain_set_partitions(c, (int32_t)ep.partitions);
        FILE *in = strcmp(o.in, "-") ? fopen(o.in, "rb") : stdin;
        if (!in) {
                fprintf(stderr, "customsflow replay: cannot open %s: %s\n", o.in, strerror(errno));
                cf_chain_destroy(c);
                cf_config_free(&cfg);
                return 2;
        }
        sinks s = {cf_open_out(o.flags), cf_open_out(o.stats), cf_open_out(o.dlq)};
        int rc = 0;
        if (o.state && state_load(c, o.state, (int32_t)ep.partitions)) rc = -1;
        double t0 = cf_mono_s();
        if (!rc) rc = run_replay(c, in, strcmp(o.in, "-") ? o.in : "-", &o, &ep, &s);
        double el = cf_mono_s() - t0;
        if (!rc && o.state) rc = state_save(c, o.state, (int32_t)ep.partitions);
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
