/*
 * cli.h - subcommand entry points and small shared CLI helpers.
 */
#ifndef CF_CLI_H
#define CF_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "pipeline/core/chain.h"
#include "pipeline/core/clock.h"
#include "pipeline/core/opts.h"
#include "pipeline/kafka/service.h"

/** `customsflow replay`: stages over JSONL files (DESIGN §7). */
int cf_cmd_replay(int argc, char **argv);
/** `customsflow bench`: the yardstick, each stage, replay at 1..N threads (issue 15). */
int cf_cmd_bench(int argc, char **argv);
/** `customsflow run -c config.yaml`: the Kafka service. */
int cf_cmd_run(int argc, char **argv);
/** `customsflow demo`: embedded broker + generator + pipeline. */
int cf_cmd_demo(int argc, char **argv);
/** `customsflow gen`: the seeded generator with ground truth. */
int cf_cmd_gen(int argc, char **argv);
/** `customsflow console`: the analysts' review console. */
int cf_cmd_console(int argc, char **argv);
/** `customsflow learn-eval --train F --test F`: the risk model's quality on labelled data. */
int cf_cmd_learn_eval(int argc, char **argv);
/** `customsflow check-config -c config.yaml`. */
int cf_cmd_check_config(int argc, char **argv);

/** SIGTERM/SIGINT stop s gracefully, SIGHUP reloads its rules; SIGPIPE ignored. */
void cf_install_signals(cf_service *s);
/** SIGHUP stops too (a closed terminal: `demo` in the foreground). After cf_install_signals. */
void cf_install_hup_stops(void);

/** Write the one-line JSON summary (DESIGN §7) of counters to f (rules names
 * flags_by_rule); extra (NULL or JSON
 * members, e.g. "\"error\":...") is appended inside the object. -1 if it cannot be written. */
int cf_print_summary(FILE *f, const cf_counters *k, const cf_rule_set *rules, double elapsed_s,
                     const char *extra);
/** This process's own peak resident set in MiB since its exec (VmHWM), -1 if unknown. */
double cf_peak_rss_mb(void);
/** Check the CUSTOMSFLOW_* environment: -1 (errstr) for a name in a configuration section
 * that is not one of its keys (a typo would be ignored silently); a warning for a name in
 * no section. */
int cf_cli_check_env(char *errstr, size_t errstr_size);
/** Open path for writing ("-" = stdout): the stream, or NULL with "path: reason" in errstr. */
FILE *cf_open_out(const char *path, char *errstr, size_t errstr_size);

#endif
