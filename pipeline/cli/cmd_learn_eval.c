/*
 * cmd_learn_eval.c - `customsflow learn-eval`: trains the risk model on a
 * file of outcomes in time order (each outcome delivered after its
 * declaration, as on the outcomes topic), then scores the test file in one
 * pass without learning from it, and prints precision and recall at the top
 * 1 %, 5 % and 10 % of declarations by score, ROC AUC and speeds.
 *
 * The same code paths as the service: outcomes go through the decode stage's
 * learn callback (schemas/outcome.schema.json, fx_rates), the model is
 * stages/detect/risk with the settings of rules.yaml (rules.risk_model.model)
 * or of --model FILE. `--format kcs` reads the KCS CSV (bench/kcs/kcs.h).
 *
 * @locality: main thread only.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/kcs/kcs.h"
#include "pipeline/cli/cli.h"
#include "pipeline/core/config.h"
#include "pipeline/core/stage.h"
#include "stages/decode/decode.h"
#include "stages/detect/risk/risk.h"

extern const cf_stage_plugin cf_stage_decode;

typedef struct opts {
        const char *train, *test, *format, *config, *model, *scores;
        int64_t train_before, test_from, test_until;
        long long shuffle_seed; /* -1: no --shuffle-labels */
} opts;

/* YYYY-MM-DD (midnight UTC) or an RFC 3339 date-time, as epoch milliseconds */
static int parse_date(const char *s, void *dst)
{
        char buf[64];
        snprintf(buf, sizeof buf, strlen(s) == 10 ? "%sT00:00:00Z" : "%s", s);
        return cf_parse_rfc3339(buf, strlen(buf), dst) ? -1 : 0;
}

static int parse_format(const char *s, void *dst)
{
        if (strcmp(s, "kcs") && strcmp(s, "jsonl")) return -1;
        *(const char **)dst = s;
        return 0;
}

static const cf_opt learn_rows[] = {
    {.name = "train",
     .kind = CF_OPT_STR,
     .off = offsetof(opts, train),
     .arg = "FILE",
     .required = true,
     .help = "outcomes to learn from (jsonl: outcome messages, schemas/outcome.schema.json; "
             "kcs: the KCS CSV)"},
    {.name = "test",
     .kind = CF_OPT_STR,
     .off = offsetof(opts, test),
     .arg = "FILE",
     .required = true,
     .help = "outcomes to score (labels only used for the metrics)"},
    CF_OPT_ROW_FN("format", opts, format, parse_format, "kcs or jsonl", "kcs|jsonl",
                  "input format (default: kcs for *.csv, else jsonl)"),
    CF_OPT_ROW_STR("config", 'c', opts, config, "FILE",
                   "config (decode settings, fx_rates, rules.yaml)"),
    CF_OPT_ROW_STR("model", 0, opts, model, "FILE",
                   "YAML map of model settings instead of rules.yaml's "
                   "rules.risk_model.model (keys: check-config --describe-rules)"),
    CF_OPT_ROW_FN("train-before", opts, train_before, parse_date, "a date (YYYY-MM-DD)", "DATE",
                  "learn only from declarations before DATE (YYYY-MM-DD)"),
    CF_OPT_ROW_FN("test-from", opts, test_from, parse_date, "a date (YYYY-MM-DD)", "DATE",
                  "score only declarations from DATE on (time-ordered validation inside one "
                  "file)"),
    CF_OPT_ROW_FN("test-until", opts, test_until, parse_date, "a date (YYYY-MM-DD)", "DATE",
                  "score only declarations before DATE"),
    CF_OPT_ROW_LL("shuffle-labels", opts, shuffle_seed, 0, LLONG_MAX, "S",
                  "permute the training labels (seed S): a control that must not beat chance"),
    CF_OPT_ROW_STR("scores", 0, opts, scores, "FILE",
                   "write declaration_id, score, label per test record"),
    {0},
};

static const cf_opts_spec learn_spec = {
    .prog = "customsflow learn-eval",
    .about = "Trains the risk model on the outcomes of --train in file (time) order, then\n"
             "scores every declaration of --test in one pass (no learning from it) and\n"
             "prints one JSON line on stdout: precision and recall at the top 1/5/10 %\n"
             "by score, ROC AUC, learning and scoring speeds (a table on stderr).\n",
    .opts = learn_rows,
};

/* ---- inputs: a whole file of outcome lines in memory ---- */

static int load(const opts *o, const char *path, cf_buf *out)
{
        char err[1024];
        const char *fmt = o->format;
        size_t l = strlen(path);
        if (!fmt) fmt = l > 4 && !strcmp(path + l - 4, ".csv") ? "kcs" : "jsonl";
        if (!strcmp(fmt, "kcs")) {
                size_t rows;
                if (!cf_kcs_to_jsonl(path, NULL, out, &rows, err, sizeof err)) return 0;
                fprintf(stderr, "customsflow learn-eval: %s\n", err);
                return -1;
        }
        FILE *f = fopen(path, "rb");
        if (!f) {
                fprintf(stderr, "customsflow learn-eval: cannot open %s: %s\n", path,
                        strerror(errno));
                return -1;
        }
        char tmp[1 << 16];
        size_t n;
        while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
                cf_buf_put(out, tmp, n);
        int bad = ferror(f);
        fclose(f);
        if (bad) fprintf(stderr, "customsflow learn-eval: read error on %s\n", path);
        return bad ? -1 : 0;
}

/* Next line of buf from *pos (without '\n'); 0 at the end. */
static int next_line(const cf_buf *b, size_t *pos, const char **line, size_t *len)
{
        if (*pos >= b->len) return 0;
        const char *s = b->p + *pos, *e = memchr(s, '\n', b->len - *pos);
        size_t n = e ? (size_t)(e - s) : b->len - *pos;
        *pos += n + (e ? 1 : 0);
        if (n && s[n - 1] == '\r') n--;
        *line = s;
        *len = n;
        return 1;
}

/* ---- the run ---- */

typedef struct eval {
        cf_stage decode;
        cf_risk *model;
        cf_batch b;
        /* train */
        uint64_t learnt, frauds, dead, out_of_order, skipped;
        int64_t last_ms;
        double learn_s;
        uint8_t *labels; /* shuffled training labels, in learning order */
        size_t n_labels, next_label;
        /* test */
        double *score;
        uint8_t *truth;
        size_t n, cap;
        uint64_t unscored, test_dead;
        double score_s;
        FILE *scores;
} eval;

static int is_fraud(const cf_record *r)
{
        return r->outcome.kind == CF_OUTCOME_FRAUD || r->outcome.kind == CF_OUTCOME_CRITICAL;
}

/* Decode the lines of one batch as outcomes. */
static void decode_batch(eval *e, const cf_buf *in, size_t *pos, const char *name, long long *line)
{
        cf_batch_reset(&e->b);
        const char *s;
        size_t n;
        while (e->b.n < e->b.cap && next_line(in, pos, &s, &n)) {
                cf_record *r = cf_batch_add(&e->b, s, n);
                r->src = (cf_source){.topic = name, .offset = ++*line, .is_file = true};
        }
        cf_stage_decode.learn(&e->decode, &e->b);
}

static void report_dead(const cf_record *r, uint64_t nth)
{
        if (nth <= 3)
                fprintf(stderr, "customsflow learn-eval: %s:%lld: %s: %s\n", r->src.topic,
                        (long long)r->src.offset, r->err_code, r->err_msg);
}

/* Pass over the training file; labels NULL: learn, else only collect labels. */
static void train_pass(eval *e, const opts *o, const cf_buf *in, int collect)
{
        size_t pos = 0;
        long long line = 0;
        while (pos < in->len) {
                decode_batch(e, in, &pos, o->train, &line);
                double t0 = cf_mono_s();
                for (size_t i = 0; i < e->b.n; i++) {
                        const cf_record *r = &e->b.recs[i];
                        if (r->status != CF_REC_OK) {
                                if (!collect) report_dead(r, ++e->dead);
                                continue;
                        }
                        if (r->decl.event_time_ms >= o->train_before) {
                                e->skipped += !collect;
                                continue;
                        }
                        if (collect) {
                                e->labels[e->n_labels++] = (uint8_t)is_fraud(r);
                                continue;
                        }
                        if (r->decl.event_time_ms < e->last_ms) e->out_of_order++;
                        e->last_ms = r->decl.event_time_ms;
                        int y = e->labels ? e->labels[e->next_label++] : is_fraud(r);
                        cf_risk_learn(e->model, &r->decl, y);
                        e->learnt++;
                        e->frauds += (uint64_t)y;
                }
                e->learn_s += cf_mono_s() - t0;
        }
}

/* Fisher-Yates with xorshift64*: the same seed gives the same permutation. */
static void shuffle(uint8_t *v, size_t n, unsigned long long seed)
{
        uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 1;
        for (size_t i = n; i > 1; i--) {
                s ^= s >> 12, s ^= s << 25, s ^= s >> 27;
                size_t j = (size_t)((s * 0x2545F4914F6CDD1DULL) % i);
                uint8_t t = v[i - 1];
                v[i - 1] = v[j];
                v[j] = t;
        }
}

static void test_add(eval *e, double score, int y)
{
        if (e->n == e->cap) {
                e->cap = e->cap ? e->cap * 2 : 4096;
                e->score = realloc(e->score, e->cap * sizeof(double));
                e->truth = realloc(e->truth, e->cap);
        }
        e->score[e->n] = score;
        e->truth[e->n++] = (uint8_t)y;
}

static void test_pass(eval *e, const opts *o, const cf_buf *in)
{
        size_t pos = 0;
        long long line = 0;
        while (pos < in->len) {
                decode_batch(e, in, &pos, o->test, &line);
                double t0 = cf_mono_s();
                for (size_t i = 0; i < e->b.n; i++) {
                        const cf_record *r = &e->b.recs[i];
                        if (r->status != CF_REC_OK) {
                                /* no label to read when the envelope is bad */
                                if (!r->outcome.kind) {
                                        report_dead(r, ++e->test_dead);
                                        continue;
                                }
                                /* unreadable declaration: ranked last, still counted
                                 * (unless its event time was read and is before the cut) */
                                int64_t t = r->decl.event_time_ms;
                                if (t && (t < o->test_from || t >= o->test_until)) continue;
                                report_dead(r, ++e->unscored);
                                test_add(e, -1, is_fraud(r));
                                continue;
                        }
                        int64_t t = r->decl.event_time_ms;
                        if (t < o->test_from || t >= o->test_until) continue;
                        double p = cf_risk_score(e->model, &r->decl);
                        test_add(e, p, is_fraud(r));
                        if (e->scores)
                                fprintf(e->scores, "%.*s\t%.6f\t%d\n",
                                        (int)r->decl.declaration_id.n, r->decl.declaration_id.p, p,
                                        is_fraud(r));
                }
                e->score_s += cf_mono_s() - t0;
        }
}

/* ---- metrics ---- */

static const double *cmp_scores;

/* By score, highest first; ties keep file order (a stable ranking). */
static int by_score(const void *a, const void *b)
{
        size_t i = *(const size_t *)a, j = *(const size_t *)b;
        double x = cmp_scores[i], y = cmp_scores[j];
        if (x != y) return x > y ? -1 : 1;
        return i < j ? -1 : i > j;
}

typedef struct metrics {
        double p[3], recall[3], auc;
        uint64_t positives;
} metrics;

static void compute(const eval *e, metrics *m)
{
        size_t n = e->n, *ix = malloc((n ? n : 1) * sizeof(size_t));
        for (size_t i = 0; i < n; i++)
                ix[i] = i;
        cmp_scores = e->score;
        qsort(ix, n, sizeof(size_t), by_score);
        memset(m, 0, sizeof(*m));
        for (size_t i = 0; i < n; i++)
                m->positives += e->truth[i];
        static const double cuts[3] = {0.01, 0.05, 0.10};
        for (int c = 0; c < 3; c++) {
                size_t k = (size_t)floor((double)n * cuts[c]), tp = 0;
                if (k == 0) k = n ? 1 : 0;
                for (size_t i = 0; i < k; i++)
                        tp += e->truth[ix[i]];
                m->p[c] = k ? (double)tp / (double)k : 0;
                m->recall[c] = m->positives ? (double)tp / (double)m->positives : 0;
        }
        /* AUC = P(score of a fraud > score of a clean one), ties half: rank sum */
        double rank_sum = 0;
        for (size_t i = 0; i < n;) {
                size_t j = i;
                while (j < n && e->score[ix[j]] == e->score[ix[i]])
                        j++;
                /* ascending ranks: position k from the top has rank n - k */
                double avg = (double)n - ((double)i + (double)j - 1) / 2.0;
                for (size_t k = i; k < j; k++)
                        if (e->truth[ix[k]]) rank_sum += avg;
                i = j;
        }
        double pos = (double)m->positives, neg = (double)n - pos;
        m->auc = pos && neg ? (rank_sum - pos * (pos + 1) / 2) / (pos * neg) : 0;
        free(ix);
}

static void print_results(const eval *e, const metrics *m, double elapsed)
{
        cf_buf b = {0};
        cf_buf_printf(&b,
                      "{\"train\":{\"outcomes\":%llu,\"frauds\":%llu,\"dead_lettered\":%llu,"
                      "\"out_of_order\":%llu,\"after_cut\":%llu},",
                      (unsigned long long)e->learnt, (unsigned long long)e->frauds,
                      (unsigned long long)e->dead, (unsigned long long)e->out_of_order,
                      (unsigned long long)e->skipped);
        cf_buf_printf(&b,
                      "\"test\":{\"records\":%zu,\"frauds\":%llu,\"unscored\":%llu,"
                      "\"dead_lettered\":%llu},",
                      e->n, (unsigned long long)m->positives, (unsigned long long)e->unscored,
                      (unsigned long long)e->test_dead);
        static const char *const pct[3] = {"1", "5", "10"};
        for (int c = 0; c < 3; c++) {
                cf_buf_printf(&b, "\"p_at_%s\":", pct[c]);
                cf_json_num(&b, round(m->p[c] * 1e4) / 1e4);
                cf_buf_printf(&b, ",\"recall_at_%s\":", pct[c]);
                cf_json_num(&b, round(m->recall[c] * 1e4) / 1e4);
                cf_buf_putc(&b, ',');
        }
        cf_buf_puts(&b, "\"auc\":");
        cf_json_num(&b, round(m->auc * 1e4) / 1e4);
        cf_buf_puts(&b, ",\"learn_per_s\":");
        cf_json_num(&b, e->learn_s > 0 ? round(e->learnt / e->learn_s) : 0);
        cf_buf_puts(&b, ",\"score_per_s\":");
        cf_json_num(&b, e->score_s > 0 ? round(e->n / e->score_s) : 0);
        cf_buf_puts(&b, ",\"elapsed_s\":");
        cf_json_num(&b, round(elapsed * 1000) / 1000);
        cf_buf_puts(&b, "}\n");
        fwrite(b.p, 1, b.len, stdout);
        fflush(stdout);
        cf_buf_free(&b);
        fprintf(stderr,
                "  learnt from %llu outcomes (%.1f %% fraud); scored %zu declarations "
                "(%.1f %% fraud)\n"
                "  top  1 %%: precision %.3f  recall %.3f\n"
                "  top  5 %%: precision %.3f  recall %.3f\n"
                "  top 10 %%: precision %.3f  recall %.3f\n"
                "  ROC AUC %.3f   (model only: learning %.0f outcomes/s, scoring %.0f/s)\n",
                (unsigned long long)e->learnt, e->learnt ? 100.0 * e->frauds / e->learnt : 0, e->n,
                e->n ? 100.0 * m->positives / e->n : 0, m->p[0], m->recall[0], m->p[1],
                m->recall[1], m->p[2], m->recall[2], m->auc,
                e->learn_s > 0 ? e->learnt / e->learn_s : 0,
                e->score_s > 0 ? e->n / e->score_s : 0);
}

/* ---- setup ---- */

/* Model settings: --model FILE, else rules.yaml's rules.risk_model.model, else defaults. */
static cf_risk *model_new(const opts *o, const cf_config *cfg)
{
        char err[1024], rules[4096];
        cf_risk_cfg rc = {0};
        cf_node *doc = NULL;
        const cf_node *node = NULL;
        const char *section = "model";
        if (o->model) {
                doc = cf_yaml_load_file(o->model, err, sizeof err);
                if (!doc) goto fail;
                node = doc;
        } else {
                const cf_node *r = cf_yaml_path(cfg->root, "stages.detect.rules");
                cf_path_resolve(cfg->base_dir, r && r->scalar ? r->scalar : "rules.yaml", rules,
                                sizeof rules);
                doc = cf_yaml_load_file(rules, err, sizeof err);
                if (!doc) goto fail;
                node = cf_yaml_path(doc, "rules.risk_model.model");
                section = "rules.risk_model.model";
        }
        if (cf_config_map_apply(cf_risk_config_map, section, node, NULL, &rc, err, sizeof err))
                goto fail;
        cf_risk *m = cf_risk_new(&rc, err, sizeof err);
        cf_config_map_free(cf_risk_config_map, &rc);
        cf_yaml_free(doc);
        if (m) return m;
        fprintf(stderr, "customsflow learn-eval: %s\n", err);
        return NULL;
fail:
        fprintf(stderr, "customsflow learn-eval: %s\n", err);
        cf_config_map_free(cf_risk_config_map, &rc);
        cf_yaml_free(doc);
        return NULL;
}

int cf_cmd_learn_eval(int argc, char **argv)
{
        opts o = {.train_before = INT64_MAX,
                  .test_from = INT64_MIN,
                  .test_until = INT64_MAX,
                  .shuffle_seed = -1};
        int prc = cf_opts_main(&learn_spec, argc, argv, &o, NULL);
        if (prc) return prc > 0 ? 0 : 2;
        char err[1024];
        cf_config cfg;
        if (cf_config_load(&cfg, o.config, err, sizeof err)) {
                fprintf(stderr, "customsflow learn-eval: %s\n", err);
                return 2;
        }
        eval e = {.last_ms = INT64_MIN};
        cf_buf train = {0}, test = {0};
        int rc = 2;
        cf_stage_env env = {.root = cfg.root,
                            .cfg = cf_yaml_path(cfg.root, "stages.decode"),
                            .base_dir = cfg.base_dir,
                            .pipeline_version = CF_VERSION};
        e.decode.p = &cf_stage_decode;
        if (cf_stage_decode.init(&e.decode, &env, err, sizeof err)) {
                fprintf(stderr, "customsflow learn-eval: %s\n", err);
                goto out;
        }
        if (!(e.model = model_new(&o, &cfg))) goto out;
        double t0 = cf_mono_s();
        if (load(&o, o.train, &train) || load(&o, o.test, &test)) goto out;
        if (o.scores && !(e.scores = cf_open_out(o.scores, err, sizeof err))) {
                fprintf(stderr, "customsflow learn-eval: %s\n", err);
                goto out;
        }
        cf_batch_init(&e.b, 4096);
        if (o.shuffle_seed >= 0) {
                e.labels = malloc(train.len / 16 + 1); /* an outcome line is > 16 bytes */
                train_pass(&e, &o, &train, 1);
                shuffle(e.labels, e.n_labels, (unsigned long long)o.shuffle_seed);
        }
        train_pass(&e, &o, &train, 0);
        if (e.out_of_order)
                fprintf(stderr,
                        "customsflow learn-eval: %llu training outcomes earlier than the one "
                        "before (the file is not in time order)\n",
                        (unsigned long long)e.out_of_order);
        test_pass(&e, &o, &test);
        metrics m;
        compute(&e, &m);
        print_results(&e, &m, cf_mono_s() - t0);
        rc = e.n && e.learnt ? 0 : 1;
        if (!e.n) fprintf(stderr, "customsflow learn-eval: nothing to score\n");
        if (!e.learnt) fprintf(stderr, "customsflow learn-eval: nothing learnt\n");
        if (e.scores && e.scores != stdout) fclose(e.scores);
out:
        cf_batch_destroy(&e.b);
        if (e.decode.ctx) cf_stage_decode.destroy(&e.decode);
        cf_risk_free(e.model);
        cf_buf_free(&train);
        cf_buf_free(&test);
        free(e.labels);
        free(e.score);
        free(e.truth);
        cf_config_free(&cfg);
        return rc;
}
