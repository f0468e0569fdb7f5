/*
 * gen_main.c - `customsflow gen`: the seeded generator on the command line
 * (DESIGN §7). Data on --out, truth on --truth, a JSON report of what was
 * generated on stderr at the end, progress on stderr when it is a terminal.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/gen/gen.h"
#include "pipeline/cli/cli.h"
#include "stages/decode/decode.h"

typedef struct gen_cli {
        cf_gen_opts g;
        const char *out, *truth, *outcomes;
        double outcome_rate;
        uint64_t per_day;
        int quiet;
} gen_cli;

static int parse_start(const char *v, void *dst)
{
        return cf_parse_rfc3339(v, strlen(v), dst) ? -1 : 0;
}

static const cf_opt gen_rows[] = {
    CF_OPT_ROW_U64("seed", gen_cli, g.seed, 0, 0, "S", "random seed (default 1)"),
    CF_OPT_ROW_U64("count", gen_cli, g.count, 1, 0, "N", "messages to write (default 1000)"),
    CF_OPT_ROW_STR("out", 0, gen_cli, out, "FILE|-", "data file (default - = stdout)"),
    CF_OPT_ROW_STR("truth", 0, gen_cli, truth, "FILE",
                   "one JSON line per message: declaration_id, line, kind "
                   "(valid|duplicate|amendment|bad), bad_code, lookalike, labels (the rules "
                   "that should fire)"),
    CF_OPT_ROW_DOUBLE("dup-rate", gen_cli, g.dup_rate, 0, 1, "R",
                      "share of exact re-deliveries (default 0.02; amendments add a quarter "
                      "of that)"),
    CF_OPT_ROW_DOUBLE("bad-rate", gen_cli, g.bad_rate, 0, 1, "R",
                      "share of bad-input messages (default 0.01)"),
    CF_OPT_ROW_DOUBLE("fraud-rate", gen_cli, g.fraud_rate, 0, 1, "R",
                      "share of declarations with a fraud pattern (default 0.05)"),
    CF_OPT_ROW_STR("reference", 0, gen_cli, g.reference, "DIR",
                   "reference data (default the bundled deploy/examples/reference)"),
    CF_OPT_ROW_U64("per-day", gen_cli, per_day, 1, 0, "N",
                   "new messages per day of event time (default 5000)"),
    CF_OPT_ROW_FN("start", gen_cli, g.start_ms, parse_start, "an RFC 3339 date-time", "TIME",
                  "RFC 3339 event time of the first message (default 2025-01-01T00:00:00Z)"),
    CF_OPT_ROW_STR("outcomes", 0, gen_cli, outcomes, "FILE",
                   "also write inspection outcomes (schemas/outcome.schema.json) of a sampled "
                   "share of the valid lines, in inspection-time order, 1-10 days after their "
                   "declaration: fraud for a labelled line, and for 60 % of the lines of 1 "
                   "importer in 40 (a pattern only a model learnt from outcomes finds), else "
                   "clean; 1 % flipped. The declarations are unchanged by it"),
    CF_OPT_ROW_DOUBLE("outcome-rate", gen_cli, outcome_rate, 0, 1, "R",
                      "share of valid lines inspected (default 0.2)"),
    CF_OPT_ROW_ON("quiet", gen_cli, quiet, "no report on stderr"),
    {0},
};

static const cf_opts_spec gen_spec = {
    .prog = "customsflow gen",
    .about = "Writes N declaration lines (JSONL) generated from the reference data, with\n"
             "exact re-deliveries and amendments (--dup-rate), bad input labelled with\n"
             "the decoder's error code (--bad-rate), fraud patterns and legitimate\n"
             "look-alikes (--fraud-rate). Same options, same output, byte for byte.\n",
    .opts = gen_rows,
};

int cf_cmd_gen(int argc, char **argv)
{
        gen_cli c = {.out = "-", .outcome_rate = 0.2, .per_day = 5000};
        cf_gen_opts_default(&c.g);
        int prc = cf_opts_main(&gen_spec, argc, argv, &c, NULL);
        if (prc) return prc > 0 ? 0 : 2;
        cf_gen_opts o = c.g;
        const char *out = c.out, *truth_path = c.truth, *outcomes_path = c.outcomes;
        double outcome_rate = c.outcome_rate;
        uint64_t per_day = c.per_day;
        int quiet = c.quiet;
        o.per_day = (double)per_day;
        if (outcomes_path) o.outcome_rate = outcome_rate;
        char err[512];
        cf_gen *g = cf_gen_new(&o, err, sizeof err);
        if (!g) {
                fprintf(stderr, "customsflow gen: %s\n", err);
                return 2;
        }
        FILE *fo = cf_open_out(out, err, sizeof err);
        FILE *ft = fo && truth_path ? cf_open_out(truth_path, err, sizeof err) : NULL;
        FILE *fx = fo && (!truth_path || ft) && outcomes_path
                       ? cf_open_out(outcomes_path, err, sizeof err)
                       : NULL;
        if (!fo || (truth_path && !ft) || (outcomes_path && !fx)) {
                fprintf(stderr, "customsflow gen: %s\n", err);
                if (fo && fo != stdout) fclose(fo);
                if (ft && ft != stdout) fclose(ft);
                cf_gen_free(g);
                return 2;
        }
        cf_buf line = {0}, key = {0}, truth = {0}, outcome = {0};
        int progress = isatty(2) && !quiet;
        double t0 = cf_mono_s(), last = t0;
        for (uint64_t i = 0;; i++) {
                line.len = key.len = truth.len = 0;
                if (cf_gen_next(g, &line, &key, ft ? &truth : NULL)) break;
                cf_buf_putc(&line, '\n');
                fwrite(line.p, 1, line.len, fo);
                if (ft) {
                        cf_buf_putc(&truth, '\n');
                        fwrite(truth.p, 1, truth.len, ft);
                }
                while (fx && cf_gen_next_outcome(g, &outcome, &key, 0)) {
                        cf_buf_putc(&outcome, '\n');
                        fwrite(outcome.p, 1, outcome.len, fx);
                        outcome.len = 0;
                }
                if (progress && (i & 0xffff) == 0 && cf_mono_s() - last > 0.5) {
                        last = cf_mono_s();
                        fprintf(stderr, "\rgen: %llu/%llu messages", (unsigned long long)i,
                                (unsigned long long)o.count);
                }
        }
        /* the inspections still pending when the declarations end */
        while (fx && cf_gen_next_outcome(g, &outcome, &key, 1)) {
                cf_buf_putc(&outcome, '\n');
                fwrite(outcome.p, 1, outcome.len, fx);
                outcome.len = 0;
        }
        int rc = 0;
        if (fflush(fo) || ferror(fo) || (ft && (fflush(ft) || ferror(ft))) ||
            (fx && (fflush(fx) || ferror(fx)))) {
                perror("customsflow gen: write");
                rc = 1;
        }
        if (progress) fprintf(stderr, "\r\033[K");
        if (!quiet) {
                cf_buf rep = {0};
                cf_gen_report(g, &rep);
                fprintf(stderr, "%.*s\n", (int)rep.len, rep.p);
                cf_buf_free(&rep);
        }
        if (fo != stdout) fclose(fo);
        if (ft && ft != stdout) fclose(ft);
        if (fx && fx != stdout) fclose(fx);
        cf_buf_free(&outcome);
        cf_buf_free(&line);
        cf_buf_free(&key);
        cf_buf_free(&truth);
        cf_gen_free(g);
        return rc;
}
