/*
 * gen_main.c - `customsflow gen`: the seeded generator on the command line
 * (DESIGN §7). Data on --out, truth on --truth, a JSON report of what was
 * generated on stderr at the end, progress on stderr when it is a terminal.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/gen/gen.h"
#include "pipeline/cli/cli.h"
#include "stages/decode/decode.h"

static void usage(FILE *f)
{
        fprintf(f,
                "usage: customsflow gen [--seed S] [--count N] [--out FILE|-] [--truth FILE]\n"
                "                       [--dup-rate R] [--bad-rate R] [--fraud-rate R]\n"
                "                       [--reference DIR] [--per-day N] [--start TIME]\n"
                "                       [--outcomes FILE] [--outcome-rate R]\n\n"
                "Writes N declaration lines (JSONL) generated from the reference data, with\n"
                "exact re-deliveries and amendments (--dup-rate), bad input labelled with\n"
                "the decoder's error code (--bad-rate), fraud patterns and legitimate\n"
                "look-alikes (--fraud-rate). Same options, same output, byte for byte.\n\n"
                "  --seed S          random seed (default 1)\n"
                "  --count N         messages to write (default 1000)\n"
                "  --out FILE|-      data file (default - = stdout)\n"
                "  --truth FILE      one JSON line per message: declaration_id, line, kind\n"
                "                    (valid|duplicate|amendment|bad), bad_code, lookalike,\n"
                "                    labels (the rules that should fire)\n"
                "  --dup-rate R      share of exact re-deliveries (default 0.02; amendments\n"
                "                    add a quarter of that)\n"
                "  --bad-rate R      share of bad-input messages (default 0.01)\n"
                "  --fraud-rate R    share of declarations with a fraud pattern (default 0.05)\n"
                "  --reference DIR   reference data (default the bundled\n"
                "                    deploy/examples/reference)\n"
                "  --per-day N       new messages per day of event time (default 5000)\n"
                "  --start TIME      RFC 3339 event time of the first message\n"
                "                    (default 2025-01-01T00:00:00Z)\n"
                "  --outcomes FILE   also write inspection outcomes (schemas/outcome.schema.json)\n"
                "                    of a sampled share of the valid lines, in inspection-time\n"
                "                    order, 1-10 days after their declaration: fraud for a\n"
                "                    labelled line, and for 60 %% of the lines of 1 importer\n"
                "                    in 40 (a pattern only a model learnt from outcomes\n"
                "                    finds), else clean; 1 %% flipped. The declarations are\n"
                "                    unchanged by it\n"
                "  --outcome-rate R  share of valid lines inspected (default 0.2)\n"
                "  --quiet           no report on stderr\n"
                "  -h, --help        this help\n");
}

int cf_cmd_gen(int argc, char **argv)
{
        static const struct option lo[] = {{"seed", required_argument, 0, 's'},
                                           {"count", required_argument, 0, 'n'},
                                           {"out", required_argument, 0, 'o'},
                                           {"truth", required_argument, 0, 't'},
                                           {"dup-rate", required_argument, 0, 'D'},
                                           {"bad-rate", required_argument, 0, 'B'},
                                           {"fraud-rate", required_argument, 0, 'F'},
                                           {"reference", required_argument, 0, 'r'},
                                           {"per-day", required_argument, 0, 'p'},
                                           {"start", required_argument, 0, 'S'},
                                           {"outcomes", required_argument, 0, 'O'},
                                           {"outcome-rate", required_argument, 0, 'R'},
                                           {"quiet", no_argument, 0, 'q'},
                                           {"help", no_argument, 0, 'h'},
                                           {0, 0, 0, 0}};
        cf_gen_opts o;
        cf_gen_opts_default(&o);
        const char *out = "-", *truth_path = NULL, *outcomes_path = NULL;
        double outcome_rate = 0.2;
        int quiet = 0, ch;
        uint64_t per_day = 5000;
        optind = 1;
        while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
                int rc = 0;
                switch (ch) {
                case 's':
                        rc = cf_opt_u64("gen", "seed", optarg, 0, UINT64_MAX, &o.seed);
                        break;
                case 'n':
                        rc = cf_opt_u64("gen", "count", optarg, 1, UINT64_MAX, &o.count);
                        break;
                case 'o':
                        out = optarg;
                        break;
                case 't':
                        truth_path = optarg;
                        break;
                case 'D':
                        rc = cf_opt_double("gen", "dup-rate", optarg, 0, 1, &o.dup_rate);
                        break;
                case 'B':
                        rc = cf_opt_double("gen", "bad-rate", optarg, 0, 1, &o.bad_rate);
                        break;
                case 'F':
                        rc = cf_opt_double("gen", "fraud-rate", optarg, 0, 1, &o.fraud_rate);
                        break;
                case 'r':
                        o.reference = optarg;
                        break;
                case 'p':
                        rc = cf_opt_u64("gen", "per-day", optarg, 1, UINT64_MAX, &per_day);
                        break;
                case 'S':
                        if (cf_parse_rfc3339(optarg, strlen(optarg), &o.start_ms)) {
                                fprintf(stderr,
                                        "customsflow gen: --start: '%s' is not an RFC 3339 "
                                        "date-time\n",
                                        optarg);
                                rc = -1;
                        }
                        break;
                case 'O':
                        outcomes_path = optarg;
                        break;
                case 'R':
                        rc = cf_opt_double("gen", "outcome-rate", optarg, 0, 1, &outcome_rate);
                        break;
                case 'q':
                        quiet = 1;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
                if (rc) return 2;
        }
        if (cf_opt_no_args("gen", argc, argv)) return 2;
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
