/*
 * console_int.h - internals shared by the console's files. Not an API.
 */
#ifndef CF_CONSOLE_INT_H
#define CF_CONSOLE_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include <librdkafka/rdkafka.h>

#include "console/console.h"
#include "console/console_metrics.h"
#include "console/store.h"
#include "pipeline/core/config.h"

#define CF_POOL_MAX  64
#define CF_LIMIT_MAX 512 /* login rate-limit slots (user names and addresses) */

/** One rate-limit slot: failures of a key within the current window. */
typedef struct cf_login_slot {
        char key[96];
        int64_t window_start_ms;
        int failures;
} cf_login_slot;

struct cf_console {
        cf_console_cfg cc;
        const cf_config *cfg;
        char *bootstrap; /* override, or NULL for the config's kafka section */
        char *tmp_dir;   /* the demo's store folder, removed on destroy */
        bool kafka;      /* a broker is configured */
        bool ingest;     /* consume flags and stats */
        atomic_bool stop;
        atomic_bool ingest_ok; /* ingestion assigned and healthy (/readyz) */
        cf_console_metrics m;
        /* store connections for HTTP threads (pool_mtx) */
        pthread_mutex_t pool_mtx;
        pthread_cond_t pool_cv;
        cf_store *pool[CF_POOL_MAX];
        int n_pool, n_free;
        cf_store *free_conns[CF_POOL_MAX];
        /* threads */
        pthread_t ingest_th, outbox_th;
        bool ingest_started, outbox_started;
        pthread_mutex_t ob_mtx; /* outbox wake-up */
        pthread_cond_t ob_cv;
        bool ob_kick;
        /* HTTP */
        struct MHD_Daemon *http;
        int listen_errno; /* why the last start could not listen (0: it could) */
        char url[160];
        char *tls_cert_pem, *tls_key_pem;
        pthread_mutex_t lim_mtx; /* login rate limit */
        cf_login_slot lim[CF_LIMIT_MAX];
};

/** Borrow a store connection (waits when all are in use). @locality HTTP threads */
cf_store *cf_console_store_get(cf_console *c);
/** Return a borrowed connection. */
void cf_console_store_put(cf_console *c, cf_store *s);
/** Wake the outcome publisher (a verdict was stored). */
void cf_console_outbox_kick(cf_console *c);

/** Kafka ingestion thread body. @locality the ingestion thread */
void *cf_console_ingest_main(void *arg);
/** Outcome publisher thread body. @locality the outbox thread */
void *cf_console_outbox_main(void *arg);
/** Ingest one message (flags or stats) in the open transaction; counts it. -1 = store error. */
int cf_console_ingest_one(cf_console *c, cf_store *s, cf_flag_parser *p, bool is_flag,
                          const char *msg, size_t n, const char *where);

/** The counter an ingested message adds to. */
typedef enum cf_ingest_counter {
        CF_INGEST_NEW_CASE,
        CF_INGEST_NEW_VERSION,
        CF_INGEST_DUPLICATE,
        CF_INGEST_STATS,
        CF_INGEST_REJECTED_FLAG,
        CF_INGEST_REJECTED_STATS,
        CF_INGEST_COUNTERS
} cf_ingest_counter;

/** One message of an ingestion batch, parsed before the writer stores it. */
typedef struct cf_ingest_item {
        const char *msg; /* the payload (the source's, valid until released) */
        size_t n;
        bool is_flag;              /* else a stats message (stored as JSON text) */
        int rc;                    /* flags: 0 parsed, -1 malformed (err says why) */
        cf_ingest_counter counter; /* what storing it did */
        char err[160];
        cf_flag_msg f;
} cf_ingest_item;

/** A batch: filled and parsed by the reading thread, stored by the writer. */
typedef struct cf_ingest_batch {
        cf_ingest_item *it;
        int n, cap;
        cf_flag_parser p; /* keep mode: the strings of every item stay valid */
        cf_buf data;      /* bytes a source may keep for the batch (copied lines) */
        void *handles;    /* the source's per-batch handles (Kafka messages) */
        uint64_t gen;     /* the reader's rewinds when filling began */
        bool failed;      /* its transaction failed: rewind the source to it */
} cf_ingest_batch;

/** Where ingestion batches come from and what is done once they are stored. */
typedef struct cf_ingest_src {
        /** Fill b->it[0..b->cap) (b->n); -1 when this is the last batch. @locality reader */
        int (*fill)(void *op, cf_ingest_batch *b);
        /** b's transaction committed (stored: @locality writer) or failed: rewind
         *  so that the next fill starts with b's messages (@locality reader) */
        void (*done)(void *op, cf_ingest_batch *b, bool stored);
        /** b's messages are no longer needed. @locality reader */
        void (*release)(void *op, cf_ingest_batch *b);
        /** Where item i came from, for a log line. @locality writer */
        void (*where)(void *op, const cf_ingest_batch *b, int i, char *buf, size_t size);
        void *op;
} cf_ingest_src;

/** Run src until its last batch: parse here, store on a writer thread owning s
 *  (one transaction per batch of up to batch messages); *writer_cpu_s (may be
 *  NULL): the writer's CPU time. @locality the caller */
int cf_ingest_run(cf_console *c, cf_store *s, const cf_ingest_src *src, int batch,
                  double *writer_cpu_s);
/** Parse every flag of b (keep mode). @locality the reader */
void cf_ingest_parse(cf_ingest_batch *b);
/** Store one parsed item in the open transaction (it->counter says what it
 *  did): 0 stored, 1 rejected (errstr says why), -1 the store failed. */
int cf_ingest_store_item(cf_store *s, cf_ingest_item *it, char *errstr, size_t errstr_size);
/** Add n stored items to the metrics (once their transaction committed). */
void cf_ingest_count(cf_console *c, const cf_ingest_item *it, int n);

/** Random bytes as lower-case hex (2n chars + NUL into out). */
void cf_random_hex(char *out, size_t n);
/** Start the HTTP server; -1 + errstr. */
int cf_console_http_start(cf_console *c, char *errstr, size_t errstr_size);
/** Stop the HTTP server. */
void cf_console_http_stop(cf_console *c);

#endif
