/*
 * store.h - the console's case store: the one interface the ingestion and
 * HTTP code use (store_sqlite.c implements it on SQLite; a PostgreSQL backend
 * would implement these same functions and nothing else would change).
 *
 * A store handle is one connection: use it from one thread at a time. Rows
 * are passed to callbacks; their strings are valid during the call only.
 * Every function returns 0 or -1 with errstr, unless it says otherwise.
 */
#ifndef CF_STORE_H
#define CF_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "console/flag_msg.h"

#define CF_STORE_VERSION 3 /* schema version after migrations (PRAGMA user_version) */

typedef struct cf_store cf_store;

/** Open (create) the store at path and apply missing migrations. NULL + errstr. */
cf_store *cf_store_open(const char *path, char *errstr, size_t errstr_size);
/** Open applying migrations up to version only (tests of the migration path). */
cf_store *cf_store_open_at(const char *path, int version, char *errstr, size_t errstr_size);
/** Tune this connection for bulk ingestion (a larger page cache), or back. */
int cf_store_bulk(cf_store *s, bool on);
/** Refresh the query planner's statistics (sampled: fast at any size). */
int cf_store_optimize(cf_store *s);
/** Schema version of an open store. */
int cf_store_version(cf_store *s);
/** Close the connection (NULL is fine). */
void cf_store_close(cf_store *s);

/* ---- ingestion (store_ingest.c) ---- */

/** What one flag message did to the store. */
typedef enum cf_put_result {
        CF_PUT_NEW_CASE,    /* first version of a new case */
        CF_PUT_NEW_VERSION, /* amendment or resubmission of a known case */
        CF_PUT_DUPLICATE,   /* re-delivery: nothing changed */
} cf_put_result;

/** Begin a batch transaction. */
int cf_store_begin(cf_store *s, char *errstr, size_t errstr_size);
/** Commit the batch transaction (durable before this returns). */
int cf_store_commit(cf_store *s, char *errstr, size_t errstr_size);
/** Roll back the batch transaction. */
void cf_store_rollback(cf_store *s);
/** Upsert a parsed flag (inside a batch): idempotent per (case, declaration bytes). */
int cf_store_put_flag(cf_store *s, const cf_flag_msg *f, int64_t now_ms, cf_put_result *res,
                      char *errstr, size_t errstr_size);
/** Upsert one stats message (JSON text); a later message with the same key supersedes. */
int cf_store_put_stats(cf_store *s, const char *json, size_t n, char *errstr, size_t errstr_size);

/* ---- queue and case pages (store_query.c) ---- */

/** Queue filters; NULL/empty strings and NaN scores mean "any". */
typedef struct cf_case_filter {
        const char *rule, *origin, *export_country, *exporter, *importer, *hs_prefix;
        const char *status;       /* active (default), open, in_review, confirmed_fraud, cleared,
                                     referred, closed, all */
        const char *assignee, *q; /* q: a declaration id or exporter id */
        double score_min, score_max;
        int64_t from_ms, to_ms; /* event time range, 0 = open */
        bool after;             /* keyset cursor: the last row of the previous page */
        double after_score;
        int64_t after_time, after_id;
        int limit;
} cf_case_filter;

/** Reset f to "any", the active queue, limit n. */
void cf_case_filter_init(cf_case_filter *f, int n);

/** A case (the current version's fields). */
typedef struct cf_case_row {
        int64_t id, line, amendment, event_time_ms, updated_at_ms, versions;
        double score, customs_value;
        uint64_t rules_mask;
        const char *declaration_id, *event_time, *exporter_id, *importer_id, *origin,
            *export_country, *hs_code, *certificate, *currency, *status, *assignee;
} cf_case_row;
typedef int (*cf_case_cb)(void *op, const cf_case_row *r);

/** Cases matching f in queue order (score, event time, id: descending). */
int cf_store_queue(cf_store *s, const cf_case_filter *f, cf_case_cb cb, void *op, char *errstr,
                   size_t errstr_size);
/** One case by id; 1 if not found. */
int cf_store_case(cf_store *s, int64_t id, cf_case_cb cb, void *op, char *errstr,
                  size_t errstr_size);
/** Name of the rule with mask bit `bit` (NULL if none). */
const char *cf_store_rule_name(cf_store *s, int bit);

/** One received version of a case's declaration. */
typedef struct cf_version_row {
        int64_t id, amendment, received_at_ms;
        double score;
        bool current;
        const char *declaration, *source, *processed_at, *pipeline_version; /* JSON texts */
} cf_version_row;
typedef int (*cf_version_cb)(void *op, const cf_version_row *v);
/** Versions of a case, newest first (the first is current). */
int cf_store_versions(cf_store *s, int64_t case_id, cf_version_cb cb, void *op, char *errstr,
                      size_t errstr_size);

/** One reason of a version. */
typedef struct cf_reason_row {
        const char *rule, *evidence, *explanation; /* evidence: JSON; explanation may be NULL */
        double weight;
} cf_reason_row;
typedef int (*cf_reason_cb)(void *op, const cf_reason_row *r);
/** Reasons of a version, by weight. */
int cf_store_reasons(cf_store *s, int64_t version_id, cf_reason_cb cb, void *op, char *errstr,
                     size_t errstr_size);

/** Cases sharing field ("exporter_id", "importer_id", "certificate") with case_id. */
int cf_store_related(cf_store *s, int64_t case_id, const char *field, int limit, cf_case_cb cb,
                     void *op, char *errstr, size_t errstr_size);

/** A labelled number: profiles, dashboards (series may be NULL). */
typedef struct cf_point {
        const char *key, *series;
        double value;
} cf_point;
typedef int (*cf_point_cb)(void *op, const cf_point *p);
/** The exporter's profile: kind "first_seen" (key = time), "week" (key = week,
 * series = currency), "rule" (key = rule). */
int cf_store_exporter_profile(cf_store *s, const char *exporter, cf_point_cb cb, void *op,
                              char *errstr, size_t errstr_size);

/** One entry of a case's audit trail. */
typedef struct cf_event_row {
        int64_t id, at_ms;
        const char *actor, *action, *from_status, *to_status, *note, *detail;
} cf_event_row;
typedef int (*cf_event_cb)(void *op, const cf_event_row *e);
/** The audit trail of a case, oldest first. */
int cf_store_events(cf_store *s, int64_t case_id, cf_event_cb cb, void *op, char *errstr,
                    size_t errstr_size);

/* ---- verdicts, users, sessions, outbox (store_users.c) ---- */

/** Is status one of the case statuses? Is it closing (a verdict)? */
bool cf_status_valid(const char *status);
bool cf_status_closing(const char *status);

/**
 * Move case_id to status `to` (or only comment / assign when to is NULL), by
 * actor, with note (required to close) and assignee (NULL: unchanged, "": none).
 * Illegal transitions fail with 1 and errstr. A verdict confirmed_fraud or
 * cleared queues an outcome (outbox) in the same transaction.
 */
int cf_store_transition(cf_store *s, int64_t case_id, const char *actor, const char *to,
                        const char *note, const char *assignee, int64_t now_ms, char *errstr,
                        size_t errstr_size);

/** A user. */
typedef struct cf_user {
        int64_t id;
        char name[65], role[16];
        char hash[256]; /* Argon2id encoded */
        bool disabled;
} cf_user;
/** Add or update (password hash, role, disabled); add fails if name exists. */
int cf_store_user_put(cf_store *s, const cf_user *u, bool add, char *errstr, size_t errstr_size);
/** Look up a user by name; 1 if none. */
int cf_store_user_get(cf_store *s, const char *name, cf_user *u, char *errstr, size_t errstr_size);
/** Users (for the assignee list). */
int cf_store_users(cf_store *s, cf_point_cb cb, void *op, char *errstr, size_t errstr_size);

/** Store a session: token digest (hex), user, CSRF token, expiry. */
int cf_store_session_put(cf_store *s, const char *token_hex, int64_t user_id, const char *csrf,
                         int64_t expires_ms, char *errstr, size_t errstr_size);
/** Find a live session; 1 if none or expired or the user is disabled. */
int cf_store_session_get(cf_store *s, const char *token_hex, int64_t now_ms, cf_user *u, char *csrf,
                         size_t csrf_size, char *errstr, size_t errstr_size);
/** Delete a session (logout) and every expired one. */
int cf_store_session_del(cf_store *s, const char *token_hex, int64_t now_ms);

/** An outcome waiting to be published. */
typedef struct cf_outbox_row {
        int64_t id;
        const char *key, *payload;
} cf_outbox_row;
typedef int (*cf_outbox_cb)(void *op, const cf_outbox_row *o);
/** Up to limit unpublished outcomes with id > after, oldest first. */
int cf_store_outbox_pending(cf_store *s, int64_t after, int limit, cf_outbox_cb cb, void *op,
                            char *errstr, size_t errstr_size);
/** Mark outcome id published (broker acknowledged). */
int cf_store_outbox_done(cf_store *s, int64_t id, int64_t now_ms, char *errstr, size_t errstr_size);

/** Gauges for /metrics: active cases (open + in review), outcomes not yet published. */
typedef struct cf_store_counts {
        int64_t active, outbox_pending;
} cf_store_counts;
/** Read the gauges (index-only counts). */
int cf_store_counts_get(cf_store *s, cf_store_counts *c, char *errstr, size_t errstr_size);

/* ---- dashboard (store_query.c) ---- */

/**
 * Dashboard series from the stats messages, windows bucketed by the first
 * bucket_len characters of window_start (10: day, 13: hour): kind
 * "origin_value" (key bucket, series origin; chapter required), "rule_flags"
 * (key bucket, series rule), "quality" (key bucket, series dead_letters|late),
 * "top_exporters" (key exporter), "chapters" (key chapter). 1 if kind unknown.
 */
int cf_store_dashboard(cf_store *s, const char *kind, const char *chapter, int bucket_len,
                       cf_point_cb cb, void *op, char *errstr, size_t errstr_size);

#endif
