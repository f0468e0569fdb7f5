/*
 * demo.c - `customsflow demo`: an in-process Kafka-protocol broker
 * (librdkafka's mock cluster) on 127.0.0.1, the generator producing at a paced
 * rate, the service consuming it, and a live view of what is flagged and why.
 *
 * Threads: the main thread draws the view; a producer thread feeds the
 * generator into the input topic; the service runs its own workers.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "bench/gen/gen.h"
#include "console/console.h"
#include "pipeline/cli/cli.h"
#include "pipeline/core/config.h"
#include "pipeline/core/log.h"
#include "pipeline/core/utf8.h"
#include "pipeline/kafka/mock_nodelay.h"
#include "pipeline/kafka/service.h"

#define N_LATEST 6

typedef struct demo {
        uint64_t count;
        double rate, outcome_rate;
        int partitions;
        uint64_t seed;
        const char *bootstrap;
        const char *topic, *outcomes_topic;
        const char *config, *console_listen; /* -c, --console-listen */
        cf_service *svc;
        atomic_uint_fast64_t outcomes; /* inspection outcomes produced */
        uint64_t last_conf[2][2];      /* the model's progressive confusion at the last draw */
        double last_psum[2];           /* and its probability sums by what was found */
        char console[256];             /* the review console's URL and demo login */
        atomic_bool stop;
        atomic_uint_fast64_t produced;
        atomic_bool producer_done, producer_failed;
        pthread_mutex_t mtx; /* latest flagged */
        char latest[N_LATEST][256];
        int n_latest;
} demo;

/* @locality: a worker thread of the service */
static void on_flag(void *opaque, const cf_record *r)
{
        demo *d = opaque;
        /* the id is input: escaped, so a declaration_id cannot drive the terminal
         * (set its title, clear the screen, print a fake alert) */
        cf_buf id = {0};
        cf_term_escape(&id, r->decl.declaration_id.p,
                       r->decl.declaration_id.n < 64 ? r->decl.declaration_id.n : 64);
        char line[256];
        int n = snprintf(line, sizeof line, "%.*s/%lld score %.0f:", (int)id.len, id.p ? id.p : "",
                         (long long)r->decl.line, r->score);
        cf_buf_free(&id);
        for (int i = 0; i < r->n_reasons && n < (int)sizeof line - 2; i++)
                n += snprintf(line + n, sizeof line - (size_t)n, " %s", r->reasons[i].rule);
        pthread_mutex_lock(&d->mtx);
        memcpy(d->latest[d->n_latest++ % N_LATEST], line, sizeof line);
        pthread_mutex_unlock(&d->mtx);
}

/* Produce key/value to topic (copied), waiting out a full queue. */
static void produce(rd_kafka_t *p, const char *topic, const cf_buf *key, const cf_buf *val)
{
        while (rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key->p, key->len),
                                 RD_KAFKA_V_VALUE(val->p, val->len),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                 RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                rd_kafka_poll(p, 10);
}

/* @locality: the demo's producer thread */
static void *produce_main(void *arg)
{
        demo *d = arg;
        char err[512];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "bootstrap.servers", d->bootstrap, NULL, 0);
        rd_kafka_conf_set(conf, "linger.ms", "5", NULL, 0);
        rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
        cf_gen_opts o;
        cf_gen_opts_default(&o);
        o.seed = d->seed;
        o.count = d->count;
        /* the generator's inspections feed the risk model (declarations unchanged) */
        if (d->outcomes_topic && d->outcomes_topic[0]) o.outcome_rate = d->outcome_rate;
        cf_gen *g = p ? cf_gen_new(&o, err, sizeof err) : NULL;
        if (!g) {
                fprintf(stderr, "customsflow demo: %s\n", err);
                atomic_store(&d->producer_failed, true);
                atomic_store(&d->producer_done, true);
                if (p) rd_kafka_destroy(p);
                return NULL;
        }
        cf_buf line = {0}, key = {0}, outcome = {0}, okey = {0};
        double t0 = cf_mono_s();
        /* The mock broker keeps only a few MB per partition (~7,000 of these
         * records measured): a producer far ahead of the pipeline has its
         * records deleted before they are read (an offset reset, counted as
         * skipped). So the demo paces itself on the pipeline too, never more
         * than this many records ahead of what was processed. */
        const uint64_t max_ahead = (uint64_t)d->partitions * 2000;
        for (uint64_t i = 0;; i++) {
                line.len = key.len = 0;
                if (atomic_load(&d->stop) || cf_gen_next(g, &line, &key, NULL)) break;
                for (;;) {
                        uint64_t done;
                        int64_t first;
                        cf_service_progress(d->svc, &done, &first);
                        if (i < done + max_ahead || atomic_load(&d->stop)) break;
                        rd_kafka_poll(p, 5);
                }
                /* pace: the mock broker keeps only a few MB per partition */
                double due = t0 + (double)i / d->rate;
                while (cf_mono_s() < due) {
                        rd_kafka_poll(p, 0);
                        usleep(200);
                }
                produce(p, d->topic, &key, &line);
                atomic_fetch_add(&d->produced, 1);
                if (cf_mono_s() - t0 > 0 && i % 256 == 0) rd_kafka_poll(p, 0);
                /* outcomes of the declarations inspected by now (event time) */
                while (o.outcome_rate > 0 && cf_gen_next_outcome(g, &outcome, &okey, 0)) {
                        produce(p, d->outcomes_topic, &okey, &outcome);
                        atomic_fetch_add(&d->outcomes, 1);
                        outcome.len = okey.len = 0;
                }
        }
        cf_buf_free(&outcome);
        cf_buf_free(&okey);
        rd_kafka_flush(p, 30000);
        cf_buf_free(&line);
        cf_buf_free(&key);
        cf_gen_free(g);
        rd_kafka_destroy(p);
        atomic_store(&d->producer_done, true);
        return NULL;
}

/* A sample of /metrics ("name{labels} v", or "name v" without labels), 0 when absent. The
 * risk model's series are one copy's (every worker learns the same outcomes). */
static double sample(const char *text, const char *name, const char *labels)
{
        char pat[256];
        /* at a line's start: "# HELP name ..." must not match */
        int n = labels[0] ? snprintf(pat, sizeof pat, "\n%s{%s} ", name, labels)
                          : snprintf(pat, sizeof pat, "\n%s ", name);
        const char *at = strstr(text, pat);
        return at ? strtod(at + n, NULL) : 0;
}

/* The learning loop: outcomes in, and how the model does on outcomes it had
 * not learnt yet (scored just before learning each), since the last draw. */
static void draw_model(demo *d, cf_service *s)
{
        if (!d->outcomes_topic || !d->outcomes_topic[0] || !(d->outcome_rate > 0)) return;
        cf_buf m = {0};
        cf_service_metrics(s, &m);
        cf_buf_putc(&m, '\0');
        static const char *const w[2] = {"clean", "fraud"};
        uint64_t dc[2][2], n[2] = {0, 0};
        double mean[2];
        for (int p = 0; p < 2; p++)
                for (int f = 0; f < 2; f++) {
                        char l[64];
                        snprintf(l, sizeof l, "predicted=\"%s\",found=\"%s\"", w[p], w[f]);
                        uint64_t c =
                            (uint64_t)sample(m.p, "customsflow_risk_model_progressive_total", l);
                        dc[p][f] = c - d->last_conf[p][f];
                        d->last_conf[p][f] = c;
                        n[f] += dc[p][f];
                }
        for (int f = 0; f < 2; f++) {
                char l[32];
                snprintf(l, sizeof l, "found=\"%s\"", w[f]);
                double ps = sample(m.p, "customsflow_risk_model_progressive_probability", l);
                mean[f] = n[f] ? (ps - d->last_psum[f]) / (double)n[f] : 0;
                d->last_psum[f] = ps;
        }
        double learnt = sample(m.p, "customsflow_risk_model_outcomes_total", "");
        double frauds = sample(m.p, "customsflow_risk_model_frauds_total", "");
        fprintf(stderr,
                "\nrisk model: %" PRIuFAST64 " outcomes produced, %.0f learnt (%.0f frauds)\n"
                "  since the last line, scored before learning them: frauds got %.2f on "
                "average, clean ones %.2f\n"
                "  (%llu + %llu outcomes); at the rule's threshold it caught %llu of %llu frauds "
                "and wrongly %llu clean ones\n",
                atomic_load(&d->outcomes), learnt, frauds, mean[1], mean[0],
                (unsigned long long)n[1], (unsigned long long)n[0], (unsigned long long)dc[1][1],
                (unsigned long long)n[1], (unsigned long long)dc[1][0]);
        cf_buf_free(&m);
}

static void draw(demo *d, cf_service *s, const cf_counters *k, double elapsed, double rate)
{
        fprintf(stderr, "\033[H\033[J");
        fprintf(stderr,
                "customsflow demo  broker %s  (kcat -b %s -C -t customs.flags)\n"
                "metrics http://%s/metrics\n%s\n\n",
                d->bootstrap, d->bootstrap, cf_service_metrics_addr(s), d->console);
        fprintf(stderr, "%8.1f s  produced %" PRIuFAST64 "  in %llu  (%.0f rec/s)\n", elapsed,
                atomic_load(&d->produced), (unsigned long long)k->in, rate);
        fprintf(stderr,
                "processed %llu  duplicates %llu  dead-lettered %llu  flagged %llu  invariant "
                "%s\n\nflags by rule:\n",
                (unsigned long long)k->processed, (unsigned long long)k->duplicates,
                (unsigned long long)k->dead_lettered, (unsigned long long)k->flagged,
                k->in == k->processed + k->duplicates + k->dead_lettered ? "ok" : "BROKEN");
        const cf_rule_set *rules = cf_service_rules(s);
        for (int i = 0; i < rules->n; i++)
                fprintf(stderr, "  %-32s %8llu\n", rules->names[i],
                        (unsigned long long)k->flags_by_rule[i]);
        draw_model(d, s);
        fprintf(stderr, "\nlatest flagged:\n");
        pthread_mutex_lock(&d->mtx);
        for (int i = 0; i < N_LATEST && i < d->n_latest; i++)
                fprintf(stderr, "  %s\n", d->latest[(d->n_latest - 1 - i) % N_LATEST]);
        pthread_mutex_unlock(&d->mtx);
}

static const cf_opt demo_rows[] = {
    CF_OPT_ROW_U64("count", demo, count, 0, 0, "N",
                   "records to generate (default 0: until Ctrl-C)"),
    CF_OPT_ROW_DOUBLE("rate", demo, rate, 1e-3, 1e9, "R", "records per second (default 5000)"),
    CF_OPT_ROW_INT("partitions", demo, partitions, 1, 64, "P", "input partitions (default 4)"),
    CF_OPT_ROW_U64("seed", demo, seed, 0, 0, "S", "generator seed (default 1)"),
    CF_OPT_ROW_DOUBLE("outcome-rate", demo, outcome_rate, 0, 1, "R",
                      "share of declarations the generator inspects; their outcomes go to "
                      "topics.outcomes, where the risk model learns them (default 0.2; 0: none)"),
    CF_OPT_ROW_STR("console-listen", 0, demo, console_listen, "HOST:PORT",
                   "the review console's address (else console.listen; default "
                   "127.0.0.1:8080, or a free port when that one is taken; port 0: any free "
                   "port). A chosen address that is taken is an error"),
    CF_OPT_ROW_STR("config", 'c', demo, config, "FILE",
                   "stages and service settings (topics keep their default names; "
                   "kafka.bootstrap.servers is the mock's)"),
    {0},
};

static const cf_opts_spec demo_spec = {
    .prog = "customsflow demo",
    .about = "Starts an in-process Kafka-protocol broker (librdkafka's mock cluster) on\n"
             "127.0.0.1, prints its bootstrap address, produces a generated stream at a\n"
             "paced rate into customs.declarations, runs the pipeline against it and\n"
             "shows what is flagged and why (on stderr, when it is a terminal).\n"
             "With --count N it stops once all N records are accounted for and prints\n"
             "the one-line JSON summary (as replay does) on stdout.\n",
    .opts = demo_rows,
};

static int create_topics(rd_kafka_mock_cluster_t *mc, const cf_service_cfg *sc, int partitions)
{
        const char *const topics[] = {
            sc->topic_in,        sc->topic_flags,    sc->topic_stats,     sc->topic_dlq,
            sc->topic_changelog, sc->topic_outcomes, sc->topic_baselines, sc->topic_certificates};
        for (int i = 0; i < 8; i++)
                if (rd_kafka_mock_topic_create(mc, topics[i], (i == 0 || i == 4) ? partitions : 1,
                                               1))
                        return -1;
        return 0;
}

int cf_cmd_demo(int argc, char **argv)
{
        demo d = {.rate = 5000, .partitions = 4, .seed = 1, .outcome_rate = 0.2};
        int prc = cf_opts_main(&demo_spec, argc, argv, &d, NULL);
        if (prc) return prc > 0 ? 0 : 2;
        const char *path = d.config, *console_listen = d.console_listen;
        pthread_mutex_init(&d.mtx, NULL);
        char err[1024];
        cf_config cfg;
        if (cf_config_load(&cfg, path, err, sizeof err)) {
                fprintf(stderr, "customsflow demo: %s\n", err);
                return 1;
        }
        /* the broker: a mock cluster owned by a dummy producer handle */
        rd_kafka_conf_t *mconf = rd_kafka_conf_new();
        rd_kafka_conf_set(mconf, "log_level", "3", NULL, 0);
        rd_kafka_t *mrk = rd_kafka_new(RD_KAFKA_PRODUCER, mconf, err, sizeof err);
        rd_kafka_mock_cluster_t *mc = mrk ? rd_kafka_mock_cluster_new(mrk, 1) : NULL;
        cf_service_cfg sc;
        if (cf_service_cfg_load(&sc, &cfg, err, sizeof err)) {
                fprintf(stderr, "customsflow demo: %s\n", err);
                return 1;
        }
        int trc = mc ? create_topics(mc, &sc, d.partitions) : -1;
        cf_service_cfg_free(&sc);
        if (trc) {
                fprintf(stderr, "customsflow demo: cannot start the embedded broker\n");
                return 1;
        }
        d.bootstrap = rd_kafka_mock_cluster_bootstraps(mc);
        /* as a real broker's connections: no Nagle (mock_nodelay.h) */
        if (cf_kafka_mock_nodelay(mc, err, sizeof err) < 0)
                fprintf(stderr, "customsflow demo: embedded broker: %s (its acks may lag)\n", err);
        fprintf(stderr, "customsflow demo: broker on %s; try: kcat -b %s -C -t customs.flags\n",
                d.bootstrap, d.bootstrap);
        /* the review console on the same broker (flags with their evidence in a
         * browser), first: an address it cannot have stops the demo before it runs */
        cf_console *con = cf_console_demo(&cfg, d.bootstrap, console_listen, d.console,
                                          sizeof d.console, err, sizeof err);
        if (!con) {
                fprintf(stderr, "customsflow demo: %s\n", err);
                rd_kafka_mock_cluster_destroy(mc);
                rd_kafka_destroy(mrk);
                cf_config_free(&cfg);
                return 1;
        }
        fprintf(stderr, "customsflow demo: %s\n", d.console);
        cf_service *s = cf_service_new(&cfg, d.bootstrap, err, sizeof err);
        if (!s) {
                fprintf(stderr, "customsflow demo: %s\n", err);
                return 1;
        }
        cf_service_set_metrics_listen(s, "127.0.0.1:0");
        cf_service_set_flag_hook(s, on_flag, &d);
        cf_install_signals(s);
        /* in the foreground of a terminal, SIGHUP means the terminal closed:
         * stop (under a supervisor it stays "reload", as for run) */
        if (isatty(STDIN_FILENO) || isatty(STDERR_FILENO)) cf_install_hup_stops();
        d.svc = s;
        d.topic = cf_service_config(s)->topic_in;
        d.outcomes_topic = cf_service_config(s)->topic_outcomes;
        if (cf_service_start(s, err, sizeof err)) {
                fprintf(stderr, "customsflow demo: %s\n", err);
                return 1;
        }
        pthread_t pt;
        pthread_create(&pt, NULL, produce_main, &d);
        bool tty = isatty(2);
        double t0 = cf_mono_s(), last_t = t0, last_progress = t0;
        uint64_t last_in = 0;
        cf_counters k;
        for (;;) {
                usleep(250 * 1000);
                cf_service_counters(s, &k);
                double now = cf_mono_s();
                if (k.in != last_in) last_progress = now;
                if (tty && now - last_t >= 1.0) {
                        draw(&d, s, &k, now - t0, (double)(k.in - last_in) / (now - last_t));
                        last_t = now, last_in = k.in;
                } else if (!tty) {
                        last_in = k.in;
                }
                if (cf_service_failed(s) || cf_service_stopping(s) ||
                    atomic_load(&d.producer_failed))
                        break;
                if (d.count && atomic_load(&d.producer_done) && k.in >= d.count) break;
                if (d.count && now - last_progress > 60) {
                        fprintf(stderr, "customsflow demo: no progress for 60 s; stopping\n");
                        break;
                }
        }
        atomic_store(&d.stop, true);
        cf_service_stop(s);
        int rc = cf_service_wait(s);
        pthread_join(pt, NULL);
        cf_service_counters(s, &k);
        if (tty) draw(&d, s, &k, cf_mono_s() - t0, 0);
        if (cf_print_summary(stdout, &k, cf_service_rules(s), cf_mono_s() - t0, NULL)) {
                perror("customsflow demo: cannot write the summary to stdout");
                rc = 1;
        }
        if (d.count && k.in != d.count) {
                fprintf(stderr, "customsflow demo: %llu of %llu records accounted for\n",
                        (unsigned long long)k.in, (unsigned long long)d.count);
                rc = 1;
        }
        cf_service_destroy(s);
        cf_console_destroy(con);
        rd_kafka_mock_cluster_destroy(mc);
        rd_kafka_destroy(mrk);
        cf_config_free(&cfg);
        pthread_mutex_destroy(&d.mtx);
        return rc;
}
