/*
 * bench_console_ingest.c - the review console's ingestion rate (issue 14:
 * target >= 50,000 flags/s on 2 cores), and the builder of large stores for
 * the queue benchmark (bench/console_queue.sh).
 *
 *   bench_console_ingest [--count N] [--runs R] [--batch B] [--flags FILE] [--kafka]
 *   bench_console_ingest --build DB --count N     (a store of N synthetic cases)
 *
 * Flags are synthetic (seeded: 40 origins, 100,000 exporters, 1-3 of 12
 * rules with evidence, ~900 bytes like the pipeline's) or, with --flags, the
 * lines of a `replay --flags` file repeated under new declaration ids. Store
 * mode times parse + upsert + commit every B messages (what ingestion does
 * per batch); --kafka produces them to a mock cluster first, then times the
 * console's consumer from start to the last case stored (offsets committed
 * after each transaction).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "bench/bench_util.h"
#include "console/console_int.h"
#include "console/store.h"
#include "console/store_int.h"
#include "pipeline/core/buf.h"
#include "pipeline/core/clock.h"
#include "pipeline/core/opts.h"

static const char *const rules[] = {
    "trade_remedy_evasion", "origin_route_mismatch", "manufacturer_origin_mismatch",
    "unit_value_outlier",   "origin_volume_surge",   "new_exporter_surge",
    "capacity_exceeded",    "certificate_reuse",     "preference_without_certificate",
    "watchlist_party",      "duplicate_shipment",    "conflicting_resubmission"};
static const int weights[] = {70, 50, 50, 50, 40, 40, 60, 60, 50, 80, 50, 50};
static const char *const cc[] = {"CN", "VN", "MY", "TH", "ID", "IN", "KH", "TW", "KR", "JP",
                                 "DE", "FR", "IT", "ES", "PL", "RO", "TR", "MX", "BR", "CA",
                                 "US", "GB", "NL", "BE", "SG", "AE", "SA", "ZA", "EG", "MA",
                                 "RU", "UA", "KZ", "PK", "BD", "LK", "PH", "AU", "NZ", "CL"};

static uint64_t rng(uint64_t *s)
{
        *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
        return *s;
}

/* One synthetic flag message for declaration i. */
static void synth(cf_buf *b, uint64_t i, uint64_t *s)
{
        const char *o = cc[rng(s) % 40], *e = cc[rng(s) % 40];
        int n = 1 + (int)(rng(s) % 3), used = 0, score = 0;
        unsigned ex = (unsigned)(rng(s) % 100000), day = (unsigned)(rng(s) % 365);
        cf_buf_printf(b,
                      "{\"declaration_id\":\"B-%010llu\",\"line\":1,\"score\":%%SCORE%%,"
                      "\"reasons\":[",
                      (unsigned long long)i);
        for (int k = 0; k < n; k++) {
                int r = (int)(rng(s) % 12);
                if (used >> r & 1) continue;
                used |= 1 << r;
                score += weights[r];
                cf_buf_printf(b,
                              "%s{\"rule\":\"%s\",\"weight\":%d,\"evidence\":{\"origin_country\":"
                              "\"%s\",\"export_country\":\"%s\",\"baseline_median_usd\":%.4f,"
                              "\"samples\":%llu,\"list_reason\":\"synthetic evidence for the "
                              "console benchmark\"}}",
                              k ? "," : "", rules[r], weights[r], o, e,
                              (double)(rng(s) % 100000) / 100, (unsigned long long)(rng(s) % 5000));
        }
        cf_buf_printf(b,
                      "],\"source\":{\"topic\":\"customs.declarations\",\"partition\":%d,"
                      "\"offset\":%llu},\"processed_at\":\"2026-01-01T00:00:00.000Z\","
                      "\"pipeline_version\":\"bench\",\"declaration\":{\"declaration_id\":"
                      "\"B-%010llu\",\"line\":1,\"event_time\":\"2025-%02u-%02uT%02u:%02u:00Z\","
                      "\"hs_code\":\"%06u\",\"origin_country\":\"%s\",\"export_country\":\"%s\","
                      "\"exporter_id\":\"%s-E%06u\",\"importer_id\":\"US-I%06u\",\"quantity\":"
                      "%llu,\"unit\":\"KGM\",\"customs_value\":%llu.%02u,\"currency\":\"USD\","
                      "\"reporter_country\":\"US\",\"port_of_loading\":\"%sXXX\","
                      "\"transport_mode\":\"sea\",\"goods_description\":\"synthetic goods\"}}",
                      (int)(i % 12), (unsigned long long)i, (unsigned long long)i,
                      1 + day / 31 % 12, 1 + day % 28, (unsigned)(rng(s) % 24),
                      (unsigned)(rng(s) % 60), 100000 + (unsigned)(rng(s) % 900000), o, e, o, ex,
                      (unsigned)(rng(s) % 20000), (unsigned long long)(1 + rng(s) % 10000),
                      (unsigned long long)(rng(s) % 1000000), (unsigned)(rng(s) % 100), o);
        /* the score is the capped sum of the weights, known only now */
        char sc[16];
        snprintf(sc, sizeof sc, "%d", score > 100 ? 100 : score);
        char *p = strstr(b->p, "%SCORE%");
        size_t tail = b->len - (size_t)(p + 7 - b->p);
        memmove(p + strlen(sc), p + 7, tail);
        memcpy(p, sc, strlen(sc));
        b->len = b->len - 7 + strlen(sc);
}

/* N messages, one after another, each NUL-terminated; offsets in off. */
static char *messages(uint64_t n, const char *file, size_t **off)
{
        cf_buf all = {0}, one = {0};
        *off = malloc(sizeof(size_t) * (n + 1));
        uint64_t seed = 0x9E3779B97F4A7C15ull;
        char **tpl = NULL;
        size_t ntpl = 0;
        if (file) {
                FILE *f = fopen(file, "r");
                if (!f) perror(file), exit(1);
                char *line = NULL;
                size_t cap = 0;
                ssize_t len;
                while ((len = getline(&line, &cap, f)) > 1) {
                        line[len - 1] = '\0';
                        tpl = realloc(tpl, sizeof *tpl * (ntpl + 1));
                        tpl[ntpl++] = strdup(line);
                }
                free(line);
                fclose(f);
        }
        for (uint64_t i = 0; i < n; i++) {
                one.len = 0;
                if (ntpl) { /* the file's line i % T under a new id: every "-2025-" gets a suffix */
                        const char *t = tpl[i % ntpl];
                        for (const char *p = t; *p; p++) {
                                cf_buf_putc(&one, *p);
                                if (!strncmp(p, "\"declaration_id\":\"", 18)) {
                                        cf_buf_put(&one, p + 1, 17);
                                        cf_buf_printf(&one, "R%llu-",
                                                      (unsigned long long)(i / ntpl));
                                        p += 17;
                                }
                        }
                } else {
                        synth(&one, i, &seed);
                }
                (*off)[i] = all.len;
                cf_buf_put(&all, one.p, one.len);
                cf_buf_putc(&all, '\0');
        }
        (*off)[n] = all.len;
        for (size_t i = 0; i < ntpl; i++)
                free(tpl[i]);
        free(tpl);
        cf_buf_free(&one);
        return all.p;
}

/* CPU seconds (user + sys) of this process so far: on a shared, loaded
 * machine the CPU time per flag is steadier than the wall-clock rate. */
static double cpu_s(void)
{
        struct rusage u;
        getrusage(RUSAGE_SELF, &u);
        return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
               (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

static void rm_db(const char *db)
{
        char p[300];
        const char *sfx[] = {"", "-wal", "-shm"};
        for (int i = 0; i < 3; i++) {
                snprintf(p, sizeof p, "%s%s", db, sfx[i]);
                unlink(p);
        }
}

static const char *xsql;  /* --sql: an experiment's statement run after the migrations */
static double writer_cpu; /* the store path's writer thread: CPU seconds of the last run */
static int page_size;     /* --page-size: the new store's page size (0: the store's) */

/* The pipe's source: messages [i, n) of the bench's memory. */
typedef struct mem_src {
        const char *all;
        const size_t *off;
        uint64_t i, n;
} mem_src;

static int m_fill(void *op, cf_ingest_batch *b)
{
        mem_src *m = op;
        for (b->n = 0; b->n < b->cap && m->i < m->n; b->n++, m->i++)
                b->it[b->n] = (cf_ingest_item){.msg = m->all + m->off[m->i],
                                               .n = m->off[m->i + 1] - m->off[m->i] - 1,
                                               .is_flag = true};
        return m->i < m->n ? 0 : -1;
}

static void m_done(void *op, cf_ingest_batch *b, bool stored)
{
        (void)op, (void)b;
        if (!stored) fprintf(stderr, "a batch was not stored\n"), exit(1);
}

static void m_release(void *op, cf_ingest_batch *b)
{
        (void)op, (void)b;
}

static void m_where(void *op, const cf_ingest_batch *b, int i, char *buf, size_t size)
{
        (void)op, (void)b;
        snprintf(buf, size, "message %d of its batch", i);
}

/* Parse + upsert every message, committing every batch, as Kafka ingestion
 * does (ingest_pipe.c: parsing overlaps storing); returns seconds (*cpu: the
 * CPU seconds of both threads meanwhile). */
static double store_run(const char *db, const char *all, const size_t *off, uint64_t n, int batch,
                        double *cpu)
{
        char err[512];
        if (page_size) { /* fixed when the file is first written */
                sqlite3 *d;
                char q[96];
                snprintf(q, sizeof q, "PRAGMA page_size=%d; PRAGMA journal_mode=WAL;", page_size);
                if (sqlite3_open(db, &d) || sqlite3_exec(d, q, NULL, NULL, NULL))
                        fprintf(stderr, "page size: %s\n", sqlite3_errmsg(d)), exit(1);
                sqlite3_close(d);
        }
        setenv("CUSTOMSFLOW_LOG_LEVEL", "warn", 1);
        cf_config cfg;
        if (cf_config_load(&cfg, NULL, err, sizeof err)) fprintf(stderr, "%s\n", err), exit(1);
        cf_console_opts o = {.db = db, .listen = "127.0.0.1:0", .ingest = 0};
        cf_console *c = cf_console_new(&cfg, &o, err, sizeof err);
        cf_store *s = c ? cf_store_open(db, err, sizeof err) : NULL;
        if (!s) fprintf(stderr, "%s\n", err), exit(1);
        cf_store_bulk(s, true); /* as the ingestion thread */
        if (xsql && cf_store_exec(s, xsql, err, sizeof err)) fprintf(stderr, "%s\n", err), exit(1);
        mem_src m = {all, off, 0, n};
        cf_ingest_src src = {m_fill, m_done, m_release, m_where, &m};
        double t0 = cf_mono_s(), c0 = cpu_s();
        if (cf_ingest_run(c, s, &src, batch, &writer_cpu))
                fprintf(stderr, "no writer thread\n"), exit(1);
        double dt = cf_mono_s() - t0;
        *cpu = cpu_s() - c0;
        if (cf_counter_get(c->m.cases_new) != n)
                fprintf(stderr, "%llu cases stored of %llu\n",
                        (unsigned long long)cf_counter_get(c->m.cases_new), (unsigned long long)n),
                    exit(1);
        cf_store_close(s);
        cf_console_destroy(c);
        cf_config_free(&cfg);
        return dt;
}

static uint64_t kafka_timed; /* flags stored after the first stored batch (the timed ones) */

/* Produce every message to a mock cluster, then time the console's consumer
 * (*cpu: the process's CPU seconds meanwhile, the mock broker's included). */
static double kafka_run(const char *db, const char *all, const size_t *off, uint64_t n, int batch,
                        double *cpu)
{
        char err[512], bstr[32];
        rd_kafka_conf_t *mconf = rd_kafka_conf_new();
        rd_kafka_conf_set(mconf, "log_level", "3", NULL, 0);
        rd_kafka_t *mrk = rd_kafka_new(RD_KAFKA_PRODUCER, mconf, err, sizeof err);
        rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(mrk, 1);
        rd_kafka_mock_topic_create(mc, "customs.flags", 32,
                                   1); /* the mock keeps ~5 MB per partition */
        rd_kafka_mock_topic_create(mc, "customs.stats", 1, 1);
        const char *boot = rd_kafka_mock_cluster_bootstraps(mc);
        rd_kafka_conf_t *pc = rd_kafka_conf_new();
        rd_kafka_conf_set(pc, "bootstrap.servers", boot, NULL, 0);
        rd_kafka_conf_set(pc, "linger.ms", "20", NULL, 0);
        rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, pc, err, sizeof err);
        for (uint64_t i = 0; i < n; i++) {
                const char *m = all + off[i];
                while (rd_kafka_producev(p, RD_KAFKA_V_TOPIC("customs.flags"),
                                         RD_KAFKA_V_KEY(m + 19, 12),
                                         RD_KAFKA_V_VALUE((void *)m, off[i + 1] - off[i] - 1),
                                         RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                        rd_kafka_poll(p, 10);
        }
        rd_kafka_flush(p, 120000);
        rd_kafka_destroy(p);
        snprintf(bstr, sizeof bstr, "%d", batch);
        setenv("CUSTOMSFLOW_CONSOLE_INGEST_BATCH", bstr, 1);
        setenv("CUSTOMSFLOW_CONSOLE_PUBLISH", "false", 1);
        setenv("CUSTOMSFLOW_LOG_LEVEL", "warn", 1);
        setenv("CUSTOMSFLOW_KAFKA_CONSUMER_FETCH_MAX_BYTES", "52428800", 1);
        cf_config cfg;
        cf_config_load(&cfg, NULL, err, sizeof err);
        cf_console_opts o = {.bootstrap = boot, .db = db, .listen = "127.0.0.1:0", .ingest = 1};
        cf_console *c = cf_console_new(&cfg, &o, err, sizeof err);
        if (!c || cf_console_start(c, err, sizeof err)) fprintf(stderr, "%s\n", err), exit(1);
        double t0 = cf_mono_s(), t_first = 0, c_first = 0;
        for (;;) {
                uint64_t got = cf_counter_get(c->m.cases_new) + cf_counter_get(c->m.versions_new) +
                               cf_counter_get(c->m.flags_duplicate);
                /* the counters move once a batch committed: the flags after the
                 * first stored batch are the ones timed */
                if (got && !t_first)
                        t_first = cf_mono_s(), c_first = cpu_s(), kafka_timed = n - got;
                if (got >= n) break;
                if (cf_mono_s() - t0 > 600)
                        fprintf(stderr, "timeout at %llu\n", (unsigned long long)got), exit(1);
                usleep(5000);
        }
        double dt =
            cf_mono_s() - t_first; /* from the first stored batch: excludes the group join */
        *cpu = cpu_s() - c_first;
        fprintf(stderr, "  group join + first batch %.2f s\n", t_first - t0);
        cf_console_destroy(c);
        cf_config_free(&cfg);
        rd_kafka_mock_cluster_destroy(mc);
        rd_kafka_destroy(mrk);
        return dt;
}

typedef struct opts {
        uint64_t count;
        int runs, batch, page_size, kafka;
        const char *flags, *build, *sql;
} opts;

static const cf_opt rows[] = {
    CF_OPT_ROW_U64("count", opts, count, 1, 0, "N", "flags (default 200000)"),
    CF_OPT_ROW_INT("runs", opts, runs, 1, 15, "R", "runs (default 3)"),
    CF_OPT_ROW_INT("batch", opts, batch, 1, 1000000, "B",
                   "messages per transaction (default 5000)"),
    CF_OPT_ROW_STR("flags", 0, opts, flags, "FILE",
                   "a `replay --flags` file whose lines are repeated under new declaration ids "
                   "(default: synthetic flags)"),
    CF_OPT_ROW_ON("kafka", opts, kafka,
                  "produce the flags to a mock cluster first, then time the console's consumer"),
    CF_OPT_ROW_STR("build", 0, opts, build, "DB",
                   "only build a store of --count synthetic cases in DB (bench/console_queue.sh)"),
    CF_OPT_ROW_STR("sql", 0, opts, sql, "SQL",
                   "an experiment's statement run after the migrations"),
    CF_OPT_ROW_INT("page-size", opts, page_size, 0, 65536, "BYTES",
                   "the new store's page size (default 0: the store's)"),
    {0},
};

static const cf_opts_spec spec = {
    .prog = "bench_console_ingest",
    .about = "The review console's ingestion rate: parse + upsert + commit every B flags,\n"
             "or with --kafka the console's consumer from start to the last case stored.\n",
    .opts = rows,
};

int main(int argc, char **argv)
{
        opts o = {.count = 200000, .runs = 3, .batch = 5000};
        int prc = cf_opts_main(&spec, argc, argv, &o, NULL);
        if (prc) return prc > 0 ? 0 : 2;
        uint64_t n = o.count;
        int runs = o.runs, batch = o.batch;
        const char *file = o.flags, *build = o.build;
        bool kafka = o.kafka;
        xsql = o.sql;
        page_size = o.page_size;
        size_t *off;
        double tg = cf_mono_s();
        char *all = messages(n, file, &off);
        fprintf(stderr, "%llu flags (%.0f bytes each) made in %.1f s\n", (unsigned long long)n,
                (double)off[n] / (double)n, cf_mono_s() - tg);
        if (kafka && (double)off[n] > 100e6) {
                fprintf(stderr, "--kafka: at most ~100 MB of flags (the mock broker keeps ~5 MB "
                                "per partition, 32 partitions here)\n");
                return 2;
        }
        if (build) {
                rm_db(build);
                double cpu, dt = store_run(build, all, off, n, batch, &cpu);
                printf("built %s: %llu cases in %.1f s (%.0f flags/s)\n", build,
                       (unsigned long long)n, dt, (double)n / dt);
                return 0;
        }
        char db[64];
        snprintf(db, sizeof db, "/tmp/bench_console_%d.db", getpid());
        double rate[32], us[32], wus[32];
        if (runs > 32) runs = 32;
        for (int r = 0; r < runs; r++) {
                rm_db(db);
                double cpu, dt = kafka ? kafka_run(db, all, off, n, batch, &cpu)
                                       : store_run(db, all, off, n, batch, &cpu);
                double timed = kafka ? (double)kafka_timed : (double)n;
                rate[r] = timed / dt;
                us[r] = cpu * 1e6 / timed;
                wus[r] = kafka ? -1 : writer_cpu * 1e6 / (double)n; /* store path only */
                fprintf(stderr, "run %d: %.0f flags/s, %.1f us CPU per flag (writer thread %.1f)\n",
                        r + 1, rate[r], us[r], wus[r]);
        }
        rm_db(db);
        cf_bench_sort(rate, runs);
        cf_bench_sort(us, runs);
        cf_bench_sort(wus, runs);
        /* an idle core would do 1e6 / cpu_us flags/s on this code path */
        printf(
            "{\"mode\":\"%s\",\"flags\":%llu,\"batch\":%d,\"runs\":%d,\"median_flags_per_s\":%.0f,"
            "\"min\":%.0f,\"max\":%.0f,\"median_cpu_us_per_flag\":%.1f,"
            "\"median_writer_cpu_us_per_flag\":%.1f}\n",
            kafka ? "kafka" : "store", (unsigned long long)n, batch, runs, rate[runs / 2], rate[0],
            rate[runs - 1], us[runs / 2], wus[runs / 2]);
        free(all);
        free(off);
        return 0;
}
