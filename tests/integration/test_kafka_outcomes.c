/*
 * test_kafka_outcomes.c - the outcomes input on the real Kafka protocol
 * (librdkafka's mock cluster), issue 16:
 *  - two workers of one instance each read the whole outcomes topic and end
 *    with bit-identical models, equal to a model fed the same outcomes
 *    offline in topic order (the checksum every worker publishes on /metrics);
 *  - a bad outcome goes to the dead-letter topic with its code, its source
 *    coordinates and its key, and is not learnt;
 *  - the model is checkpointed with its outcome offsets: a new instance
 *    restores it and reads only the outcomes produced since, ending identical
 *    to the offline model fed all of them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "bench/gen/gen.h"
#include "helpers/kafka_harness.h"
#include "pipeline/core/chain.h"
#include "pipeline/core/clock.h"
#include "pipeline/kafka/service_int.h"
#include "helpers/test_cases.h"

#define TOPIC "customs.outcomes"

typedef struct stream {
        cf_buf *lines; /* every outcome message produced, in order */
        size_t n, cap;
} stream;

/* The generator's outcomes of its first `decls` declarations (seed 3). */
static void gen_outcomes(stream *s, uint64_t decls)
{
        char err[512];
        cf_gen_opts o;
        cf_gen_opts_default(&o);
        o.seed = 3;
        o.count = decls;
        o.fraud_rate = 0.1;
        o.outcome_rate = 0.5;
        cf_gen *g = cf_gen_new(&o, err, sizeof err);
        assert_non_null(g);
        cf_buf line = {0}, key = {0};
        for (int all = 0; all < 2;) {
                if (!all) {
                        line.len = key.len = 0;
                        if (cf_gen_next(g, &line, &key, NULL)) all = 1;
                }
                for (;;) {
                        cf_buf out = {0};
                        key.len = 0;
                        if (!cf_gen_next_outcome(g, &out, &key, all)) {
                                cf_buf_free(&out);
                                break;
                        }
                        if (s->n == s->cap) {
                                s->cap = s->cap ? 2 * s->cap : 1024;
                                s->lines = realloc(s->lines, s->cap * sizeof *s->lines);
                        }
                        s->lines[s->n++] = out;
                }
                if (all) break;
        }
        cf_buf_free(&line);
        cf_buf_free(&key);
        cf_gen_free(g);
}

static void produce(kh *h, const stream *s, size_t from, size_t to, const char *bad)
{
        char err[512];
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_conf_set(c, "bootstrap.servers", h->bootstrap, NULL, 0);
        rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
        assert_non_null(p);
        for (size_t i = from; i < to; i++) {
                const cf_buf *m = &s->lines[i];
                while (rd_kafka_producev(p, RD_KAFKA_V_TOPIC(TOPIC), RD_KAFKA_V_PARTITION(0),
                                         RD_KAFKA_V_KEY("k", 1), RD_KAFKA_V_VALUE(m->p, m->len),
                                         RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                         RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                        rd_kafka_poll(p, 10);
                if (bad && i == from + 10) /* one bad outcome among them */
                        assert_int_equal(
                            rd_kafka_producev(p, RD_KAFKA_V_TOPIC(TOPIC), RD_KAFKA_V_PARTITION(0),
                                              RD_KAFKA_V_KEY("BAD-KEY", 7),
                                              RD_KAFKA_V_VALUE((void *)bad, strlen(bad)),
                                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                              RD_KAFKA_V_END),
                            0);
        }
        assert_int_equal(rd_kafka_flush(p, 30000), 0);
        rd_kafka_destroy(p);
}

/* The value of the sample of metric (or of its label) in worker w's own
 * registry ("" when absent): /metrics merges the workers (the model's series
 * show one copy), while this test compares the workers' copies. */
static void sample(cf_service *svc, const char *metric, int w, const char *label, char *out,
                   size_t n)
{
        cf_buf b = {0};
        cf_metrics *reg = cf_chain_registry(svc->workers[w].chain); /* encoding is thread-safe */
        cf_metrics_encode(&b, &reg, 1);
        cf_buf_putc(&b, '\0');
        out[0] = '\0';
        size_t ml = strlen(metric);
        for (const char *l = b.p; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
                if (strncmp(l, metric, ml) || (l[ml] != '{' && l[ml] != ' ')) continue;
                const char *v;
                if (label) { /* a label's value */
                        char lp[64];
                        snprintf(lp, sizeof lp, "%s=\"", label);
                        v = strstr(l, lp);
                        if (!v) break;
                        v += strlen(lp);
                        snprintf(out, n, "%.*s", (int)strcspn(v, "\""), v);
                } else { /* the value: after the labels, or after the name */
                        v = l[ml] == '{' ? strchr(l, '}') + 2 : l + ml + 1;
                        snprintf(out, n, "%.*s", (int)strcspn(v, "\n"), v);
                }
                break;
        }
        cf_buf_free(&b);
}

static long long sample_ll(cf_service *svc, const char *metric, int w)
{
        char v[64];
        sample(svc, metric, w, NULL, v, sizeof v);
        return v[0] ? atoll(v) : -1;
}

static bool wait_learnt(cf_service *svc, int workers, long long n, double timeout_s)
{
        double t0 = cf_mono_s();
        while (cf_mono_s() - t0 < timeout_s) {
                int done = 0;
                for (int w = 0; w < workers; w++)
                        done += sample_ll(svc, "customsflow_risk_model_outcomes_total", w) == n;
                if (done == workers) return true;
                usleep(200 * 1000);
        }
        for (int w = 0; w < workers; w++)
                fprintf(stderr, "worker %d learnt %lld of %lld\n", w,
                        sample_ll(svc, "customsflow_risk_model_outcomes_total", w), n);
        return false;
}

/* The checksum of a chain fed lines [0, n) offline, in order. */
static void offline_checksum(kh *h, const stream *s, size_t n, char *out, size_t on)
{
        char err[512];
        cf_chain *c = cf_chain_new(h->cfg.root, h->cfg.base_dir, err, sizeof err);
        assert_non_null(c);
        cf_batch b;
        cf_batch_init(&b, 512);
        for (size_t i = 0; i < n;) {
                cf_batch_reset(&b);
                while (b.n < b.cap && i < n) {
                        cf_batch_add(&b, s->lines[i].p, s->lines[i].len);
                        i++;
                }
                assert_int_equal(cf_chain_learn(c, &b), 0);
        }
        assert_int_equal(cf_chain_counters(c)->outcomes_learnt, n);
        cf_buf m = {0};
        cf_chain_collect(c);
        cf_metrics *reg = cf_chain_registry(c);
        cf_metrics_encode(&m, &reg, 1);
        cf_buf_putc(&m, '\0');
        const char *v = strstr(m.p, "checksum=\"");
        assert_non_null(v);
        v += 10;
        snprintf(out, on, "%.*s", (int)strcspn(v, "\""), v);
        cf_buf_free(&m);
        cf_batch_destroy(&b);
        cf_chain_destroy(c);
}

typedef struct dlq_seen {
        int n;
        char code[64], topic[64], key[32];
} dlq_seen;

static void on_dlq(const rd_kafka_message_t *m, void *op)
{
        dlq_seen *d = op;
        d->n++;
        kh_header(m, "error.code", d->code, sizeof d->code);
        kh_header(m, "source.topic", d->topic, sizeof d->topic);
        snprintf(d->key, sizeof d->key, "%.*s", (int)m->key_len, (const char *)m->key);
}

static void test_outcomes_global_input(void **state)
{
        (void)state;
        stream s = {0};
        gen_outcomes(&s, 12000);
        size_t first = s.n * 2 / 3;
        assert_true(first > 1000);
        kh h;
        kh_start(&h, 1, 2);
        assert_int_equal(rd_kafka_mock_topic_create(h.mc, TOPIC, 1, 1), 0);
        /* a verdict word that is not an outcome */
        char *bad = strndup(s.lines[0].p, s.lines[0].len);
        char *o = strstr(bad, "\"outcome\":\"");
        assert_non_null(o);
        memcpy(o + 11, "XXXXX", 5); /* "clean"/"fraud" become an unknown word */
        produce(&h, &s, 0, first, bad);

        /* two workers, one instance: each reads everything */
        cf_service *a = kh_service(&h, "outcomes", 2);
        assert_true(wait_learnt(a, 2, (long long)first, 60));
        char c0[32], c1[32], want[32];
        usleep(1200 * 1000); /* one more publish: checksums of the final state */
        sample(a, "customsflow_risk_model_info", 0, "checksum", c0, sizeof c0);
        sample(a, "customsflow_risk_model_info", 1, "checksum", c1, sizeof c1);
        offline_checksum(&h, &s, first, want, sizeof want);
        fprintf(stderr, "checksums: worker 0 %s, worker 1 %s, offline %s\n", c0, c1, want);
        assert_true(c0[0]);
        assert_string_equal(c0, c1);
        assert_string_equal(c0, want);
        /* the bad outcome: dead-lettered once per worker that read it, never learnt */
        dlq_seen d = {0};
        kh_read_topic(&h, "customs.dlq", on_dlq, &d);
        assert_int_equal(d.n, 2);
        assert_string_equal(d.code, "invalid_enum");
        assert_string_equal(d.topic, TOPIC);
        assert_string_equal(d.key, "BAD-KEY");
        cf_service_stop(a);
        assert_int_equal(cf_service_wait(a), 0);
        cf_service_destroy(a);

        /* more outcomes; a new instance restores the model and reads only those */
        produce(&h, &s, first, s.n, NULL);
        cf_service *b = kh_service(&h, "outcomes", 1);
        assert_true(wait_learnt(b, 1, (long long)s.n, 60));
        usleep(1200 * 1000);
        long long decoded = sample_ll(b, "customsflow_decode_outcomes_total", 0);
        char cb[32];
        sample(b, "customsflow_risk_model_info", 0, "checksum", cb, sizeof cb);
        offline_checksum(&h, &s, s.n, want, sizeof want);
        fprintf(stderr, "after restart: decoded %lld of %zu new, checksum %s, offline %s\n",
                decoded, s.n - first, cb, want);
        assert_int_equal(decoded, (long long)(s.n - first));
        assert_string_equal(cb, want);
        cf_service_stop(b);
        assert_int_equal(cf_service_wait(b), 0);
        cf_service_destroy(b);
        free(bad);
        for (size_t i = 0; i < s.n; i++)
                cf_buf_free(&s.lines[i]);
        free(s.lines);
        kh_stop(&h);
}

/* An empty outcomes topic of four partitions is read to its end at once: its end offsets are
 * asked before its reader fetches (asked after, each waited behind the fetch's long poll, 500
 * ms a partition: 2 s of every start). */
static void test_outcomes_start_quick(void **state)
{
        (void)state;
        kh h;
        kh_start(&h, 1, 2);
        assert_int_equal(rd_kafka_mock_topic_create(h.mc, TOPIC, 4, 1), 0);
        cf_service *a = kh_service(&h, "outcomes-start", 1);
        assert_true(kh_wait_assigned(a, 1, 60)); /* the worker subscribes after the read */
        char v[64];
        sample(a, "customsflow_outcomes_start_seconds", 0, NULL, v, sizeof v);
        fprintf(stderr, "outcomes topic of 4 empty partitions read in %s s\n", v);
        assert_true(v[0]);
        assert_true(atof(v) >= 0 && atof(v) < 1.0);
        cf_service_stop(a);
        assert_int_equal(cf_service_wait(a), 0);
        cf_service_destroy(a);
        kh_stop(&h);
}

int main(int argc, char **argv)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_outcomes_start_quick),
            cmocka_unit_test(test_outcomes_global_input),
        };
        return CF_RUN_CASES(tests, argc, argv);
}
