/*
 * console.h - the analysts' review console (`customsflow console`, issue 14):
 * a case store (store.h), Kafka ingestion of flags and stats (ingest.c), web
 * pages and a JSON API (http.c), verdicts published as outcomes (outbox.c).
 *
 * Threads: the caller's (start/stop), the ingestion thread (one Kafka
 * consumer, the store's only bulk writer), the outbox thread (one producer),
 * and libmicrohttpd's pool; each holds its own store connection.
 */
#ifndef CF_CONSOLE_H
#define CF_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "pipeline/core/buf.h"
#include "pipeline/core/config.h"
#include "pipeline/core/config_map.h"

/** The `console:` section plus the topic names it uses (from `topics:`). */
typedef struct cf_console_cfg {
        char *db, *listen, *group_id, *tls_cert, *tls_key, *web_dir, *chartjs;
        bool ingest, publish, secure_cookie;
        int64_t ingest_batch, ingest_timeout_ms, session_ttl_ms, login_max_failures;
        int64_t login_window_ms, page_size, max_body, export_max_rows, http_threads;
        int64_t argon2_t, argon2_m_kib;
        /* from topics: */
        char *topic_flags, *topic_stats, *topic_outcomes;
} cf_console_cfg;

/** Parse `console:` (and the topic names) with defaults; -1 + "file:line: reason". */
int cf_console_cfg_load(cf_console_cfg *cc, const cf_config *cfg, char *errstr, size_t errstr_size);
/** What name is to section console (cf_config_map_env_match). */
cf_env_match cf_console_env_match(const char *name);
/** Free strings of a loaded cf_console_cfg. */
void cf_console_cfg_free(cf_console_cfg *cc);
/** Print the `console:` keys (check-config --describe). */
void cf_console_describe(FILE *out);
/** Append `"console":{schema}` (check-config --schema). */
void cf_console_schema(cf_buf *out);

/** Overrides for embedding (demo, tests); NULL fields keep the config's value. */
typedef struct cf_console_opts {
        const char *bootstrap; /* kafka bootstrap.servers (the demo's mock broker) */
        const char *db, *listen;
        int ingest; /* -1 config, 0 off, 1 on */
} cf_console_opts;

typedef struct cf_console cf_console;

/** Open the store (migrating it) and prepare; NULL + errstr. @locality caller */
cf_console *cf_console_new(const cf_config *cfg, const cf_console_opts *o, char *errstr,
                           size_t errstr_size);
/** Load a JSONL file of flags (kind 'f') or stats ('s') into the store, batched. */
int cf_console_load_file(cf_console *c, const char *path, char kind, char *errstr,
                         size_t errstr_size);
/** Start HTTP, ingestion (when enabled) and the outcome publisher; -1 + errstr. */
int cf_console_start(cf_console *c, char *errstr, size_t errstr_size);
/** The base URL, e.g. "http://127.0.0.1:8080/" (after start). */
const char *cf_console_url(const cf_console *c);
/** Ask every thread to stop (async-signal-safe: sets a flag). */
void cf_console_stop(cf_console *c);
/** Has a stop been requested? */
bool cf_console_stopping(const cf_console *c);
/** Stop threads (after cf_console_stop), flush the publisher, close the store. */
void cf_console_destroy(cf_console *c);

/** Where the demo's console listens unless told otherwise. */
#define CF_CONSOLE_DEMO_LISTEN "127.0.0.1:8080"

/**
 * The demo's console: a store in a new temporary folder (removed by
 * cf_console_destroy), ingestion from bootstrap, a supervisor "demo" with a
 * random password. It listens on listen (the demo's --console-listen), else
 * console.listen when the config or environment sets it: a busy address is
 * then an error. Else on CF_CONSOLE_DEMO_LISTEN, or any free port when that
 * one is in use (said in line). Writes "console URL  user demo  password P"
 * into line. NULL + errstr.
 */
cf_console *cf_console_demo(const cf_config *cfg, const char *bootstrap, const char *listen,
                            char *line, size_t line_size, char *errstr, size_t errstr_size);

/** `console user add|passwd|disable`: act on user name in the store at db. */
int cf_console_user(const cf_console_cfg *cc, const char *db, const char *action, const char *name,
                    const char *role, const char *password, char *errstr, size_t errstr_size);

#endif
