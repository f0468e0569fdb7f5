/*
 * detect.c - the detect stage (DESIGN §5.3, RULES.md): loads rules.yaml and
 * the reference files it names, runs every enabled rule on every processed
 * record, and scores it: score = min(score_cap, sum of the weights of the
 * rules that fired); flagged at score >= flag_threshold.
 *
 * Rules are data: weights, thresholds, windows and lists come from
 * rules.yaml and the reference CSV files; nothing about countries, HS codes
 * or thresholds is in C. State (baselines, exporters, certificates) is per
 * input partition, bounded, event-time windowed, and snapshotted through the
 * pipeline's hooks. SIGHUP (reload) re-reads rules and reference data and
 * keeps the state.
 *
 * @locality: worker thread (one chain per worker).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/core/stage.h"
#include "stages/detect/detect.h"
#include "stages/detect/detect_int.h"
#include "stages/detect/detect_metrics.h"

/* ---- configuration: stages.detect and rules.yaml ---- */

typedef struct stage_cfg {
        bool enabled;
        char *rules;
        int64_t max_contributions, population_buckets;
} stage_cfg;

static const cf_config_map stage_map[] = {
    {CF_CFG_BOOL, "enabled", "true", offsetof(stage_cfg, enabled), "run the detect stage"},
    {CF_CFG_PATH, "rules", "rules.yaml", offsetof(stage_cfg, rules),
     "rules file: weights, thresholds, windows, reference files (schemas/rules.schema.json)"},
    {CF_CFG_INT, "max_contributions", "200000", offsetof(stage_cfg, max_contributions),
     "the service's replica of the population state: (population key, source partition) "
     "contributions kept, each up to 1.6 KB (least recently used evicted with their share of "
     "the baselines, counted)",
     1, 1e9},
    {CF_CFG_INT, "population_buckets", "64", offsetof(stage_cfg, population_buckets),
     "the service: population keys are hashed into this many buckets; at each commit a "
     "partition publishes one baselines message per bucket holding a changed key, with its "
     "whole contribution for every key of the bucket (fewer messages, more bytes each; "
     "README: the population topics)",
     1, 65536},
    {0}};

typedef struct top_cfg {
        double score_cap, flag_threshold;
        const cf_node *reference, *rules;
} top_cfg;

static const cf_config_map top_map[] = {
    {CF_CFG_DOUBLE, "score_cap", "100", offsetof(top_cfg, score_cap), "highest score", 1, 1000},
    {CF_CFG_DOUBLE, "flag_threshold", "50", offsetof(top_cfg, flag_threshold),
     "a record is flagged when its score reaches this", 0, 1000},
    {CF_CFG_NODE, "reference", NULL, offsetof(top_cfg, reference),
     "reference files (paths relative to this file)"},
    {CF_CFG_NODE, "rules", NULL, offsetof(top_cfg, rules), "one section per rule"},
    {0}};

typedef struct ref_cfg {
        char *trade_measures, *watchlist, *exporters, *route_watchlist;
} ref_cfg;

static const cf_config_map ref_map[] = {
    {CF_CFG_PATH, "trade_measures", NULL, offsetof(ref_cfg, trade_measures),
     "trade-remedy measures (trade_measures.csv)"},
    {CF_CFG_PATH, "watchlist", NULL, offsetof(ref_cfg, watchlist),
     "watch-listed parties and vessels (watchlist.csv)"},
    {CF_CFG_PATH, "exporters", NULL, offsetof(ref_cfg, exporters),
     "exporter registry: registration dates and capacities (exporters.csv)"},
    {CF_CFG_PATH, "route_watchlist", NULL, offsetof(ref_cfg, route_watchlist),
     "diversion-risk origins and HS chapters (route_watchlist.csv)"},
    {0}};

static void dir_of(const char *path, char *out, size_t n)
{
        snprintf(out, n, "%s", path);
        char *s = strrchr(out, '/');
        if (s)
                *s = '\0';
        else
                snprintf(out, n, ".");
}

static void free_cfgs(void **cfg)
{
        if (!cfg) return;
        for (size_t i = 0; i < cf_detect_n_rules; i++) {
                if (cfg[i]) cf_config_map_free(cf_detect_rules[i]->config_map, cfg[i]);
                free(cfg[i]);
        }
        free(cfg);
}

/* Load rules.yaml at path into scores, rule configs and reference data. */
static int load_rules(cf_detect *x, const char *path, char *errstr, size_t errstr_size)
{
        cf_node *doc = cf_yaml_load_file(path, errstr, errstr_size);
        if (!doc) return -1;
        char dir[1024];
        dir_of(path, dir, sizeof(dir));
        top_cfg top = {0};
        ref_cfg rc = {0};
        int rc_ok = -1;
        void **cfg = calloc(cf_detect_n_rules, sizeof(*cfg));
        if (cf_config_map_apply(top_map, "", doc, dir, &top, errstr, errstr_size) ||
            cf_config_map_apply(ref_map, "reference", top.reference, dir, &rc, errstr, errstr_size))
                goto out;
        /* a section for a rule that does not exist is a typo: say so */
        for (size_t i = 0; top.rules && i + 1 < top.rules->n_items; i += 2) {
                const cf_node *k = top.rules->items[i];
                size_t j = 0;
                while (j < cf_detect_n_rules && strcmp(cf_detect_rules[j]->name, k->scalar))
                        j++;
                if (j == cf_detect_n_rules) {
                        snprintf(errstr, errstr_size, "%s:%d: unknown rule '%s'", k->file, k->line,
                                 k->scalar);
                        goto out;
                }
        }
        for (size_t i = 0; i < cf_detect_n_rules; i++) {
                const cf_rule *ru = cf_detect_rules[i];
                char sec[96];
                snprintf(sec, sizeof(sec), "rules.%s", ru->name);
                cfg[i] = calloc(1, ru->cfg_size);
                if (cf_config_map_apply(ru->config_map, sec, cf_yaml_get(top.rules, ru->name), dir,
                                        cfg[i], errstr, errstr_size))
                        goto out;
        }
        /* global state (the risk model) reads its nested settings now, while the
         * document's nodes are alive */
        if (cf_detect_global_config(x, cfg, errstr, errstr_size)) goto out;
        cf_detect_ref ref;
        if (cf_detect_ref_load(&ref, rc.trade_measures, rc.watchlist, rc.exporters,
                               rc.route_watchlist, errstr, errstr_size))
                goto out;
        cf_detect_ref_free(&x->ref);
        x->ref = ref;
        free_cfgs(x->cfg);
        x->cfg = cfg;
        cfg = NULL;
        x->score_cap = top.score_cap;
        x->flag_threshold = top.flag_threshold;
        rc_ok = 0;
out:
        free_cfgs(cfg);
        cf_config_map_free(ref_map, &rc);
        cf_config_map_free(top_map, &top);
        cf_yaml_free(doc);
        return rc_ok;
}

static int load_all(cf_detect *x, stage_cfg *sc, const cf_stage_env *env, char *errstr,
                    size_t errstr_size)
{
        if (cf_config_map_apply(stage_map, "stages.detect", env->cfg, env->base_dir, sc, errstr,
                                errstr_size))
                return -1;
        if (!sc->enabled) return 0;
        return load_rules(x, sc->rules, errstr, errstr_size);
}

/* ---- per-partition state ---- */

static void part_init_tables(cf_detect *x, cf_detect_part *ps)
{
        for (size_t i = 0; i < cf_detect_n_rules; i++) {
                const cf_rule *ru = cf_detect_rules[i];
                if (!ru->table_off) continue;
                size_t max = 1;
                int64_t window = 0;
                uint32_t vsize = ru->value_size;
                ru->state_limits(x->cfg[i], &max, &window, &vsize);
                cf_kvtab_init(cf_rule_table(ru, ps), vsize, max, window);
        }
}

static void part_free(cf_detect_part *ps)
{
        if (!ps) return;
        for (size_t i = 0; i < cf_detect_n_rules; i++)
                if (cf_detect_rules[i]->table_off)
                        cf_kvtab_free(cf_rule_table(cf_detect_rules[i], ps));
        cf_detect_part_free_pop(ps);
        free(ps);
}

cf_detect_part *cf_detect_part_new(cf_detect *x)
{
        cf_detect_part *ps = calloc(1, sizeof(cf_detect_part));
        if (!ps) abort();
        part_init_tables(x, ps);
        cf_detect_part_init_pop(x, ps);
        return ps;
}

void cf_detect_part_free(cf_detect_part *ps)
{
        part_free(ps);
}

static cf_detect_part **part_slot(cf_detect *x, int32_t partition)
{
        return (cf_detect_part **)cf_ptrs_slot((void ***)&x->parts, &x->nparts,
                                               partition < 0 ? 0 : (size_t)partition);
}

static cf_detect_part *part_get(cf_detect *x, int32_t partition)
{
        cf_detect_part **pp = part_slot(x, partition);
        if (!*pp) {
                *pp = cf_detect_part_new(x);
                if (x->track) cf_detect_part_track(*pp, true);
        }
        return *pp;
}

/* ---- the stage ---- */

typedef struct detect_stage {
        stage_cfg sc;
        cf_detect x;
        cf_detect_metrics m;
        bool ready; /* the replica was set up (the stage is enabled) */
} detect_stage;

static void detect_destroy(cf_stage *st);

static int detect_init(cf_stage *st, const cf_stage_env *env, char *errstr, size_t errstr_size)
{
        detect_stage *d = calloc(1, sizeof(*d));
        st->ctx = d;
        cf_detect_metrics_init(&d->m, env->metrics);
        if (cf_rule_set_build(&d->x.rules, cf_detect_rules, cf_detect_n_rules, errstr,
                              errstr_size) ||
            load_all(&d->x, &d->sc, env, errstr, errstr_size)) {
                detect_destroy(st); /* also callable alone (tests, tools) */
                st->ctx = NULL;
                return -1;
        }
        d->x.pop.max_contrib = d->sc.max_contributions;
        cf_detect_pop_share(&d->x, &d->x, 0, 1);
        d->x.pop.n_buckets = (uint32_t)d->sc.population_buckets;
        if (d->sc.enabled) cf_detect_pop_init(&d->x);
        d->ready = d->sc.enabled;
        return 0;
}

/* Score r from the reasons its rules added. */
static void score(cf_detect *x, cf_record *r)
{
        double sum = 0;
        for (uint16_t i = 0; i < r->n_reasons; i++)
                sum += r->reasons[i].weight;
        r->score = sum > x->score_cap ? x->score_cap : sum;
        r->flagged = r->n_reasons && r->score >= x->flag_threshold;
}

static void check(cf_detect *x, cf_detect_part *ps, cf_batch *b, cf_record *r)
{
        if (r->decl.event_time_ms < ps->first_ms) ps->first_ms = r->decl.event_time_ms;
        for (size_t i = 0; i < cf_detect_n_rules; i++) {
                const cf_rule_common *c = x->cfg[i];
                x->cur = (uint16_t)i; /* the reason's rule_ix (cf_detect_fire) */
                if (c->enabled) cf_detect_rules[i]->check(x, ps, b, r, c);
        }
        score(x, r);
}

static void detect_record(cf_detect *x, cf_batch *b, cf_record *r)
{
        x->exp_h = cf_decl_exporter_h(&r->decl);
        x->decl_h = cf_id_hash(r->decl.declaration_id.p, r->decl.declaration_id.n);
        check(x, part_get(x, r->src.partition), b, r);
}

/* Load the slots r's keyed lookups will read: the partition's exporter tables and the
 * population replicas (touch.h). Read only: a partition not there yet is skipped. */
static void touch_record(const cf_detect *x, const cf_record *r)
{
        const cf_decl *d = &r->decl;
        size_t p = r->src.partition < 0 ? 0 : (size_t)r->src.partition;
        const cf_detect_part *ps = p < x->nparts ? x->parts[p] : NULL;
        if (ps) {
                uint64_t h = cf_decl_exporter_h(d);
                cf_kvtab_touch(&ps->exp, h);
                cf_kvtab_touch(&ps->vdecl, h);
        }
        cf_kvtab_touch(&x->rep->vol, ((uint64_t)d->origin_country << 32) | d->hs6);
        cf_kvtab_touch(&x->rep->uv, cf_uv_key(d));
        if ((d->present & CF_HAS_CERTIFICATE) && d->certificate_of_origin.n)
                cf_kvtab_touch(&x->rep->cert,
                               cf_id_hash(d->certificate_of_origin.p, d->certificate_of_origin.n));
}

static int detect_process(cf_stage *st, cf_batch *b)
{
        detect_stage *d = st->ctx;
        if (!d->sc.enabled) return 0;
        /* the batch's slots first, so their misses overlap */
        for (size_t i = 0; i < b->n; i++)
                if (b->recs[i].status == CF_REC_OK) touch_record(&d->x, &b->recs[i]);
        /* then the volume rings behind the (now cached) replica slots */
        for (size_t i = 0; i < b->n; i++)
                if (b->recs[i].status == CF_REC_OK) cf_vol_touch(d->x.rep, &b->recs[i].decl);
        for (size_t i = 0; i < b->n; i++)
                if (b->recs[i].status == CF_REC_OK) detect_record(&d->x, b, &b->recs[i]);
        return 0;
}

static int detect_snapshot(cf_stage *st, int32_t partition, cf_buf *out)
{
        detect_stage *d = st->ctx;
        if (!d->sc.enabled) return 0;
        cf_detect_state_snapshot(&d->x, part_get(&d->x, partition), out);
        return 0;
}

/* All or nothing: the partition's state changes only when the whole snapshot
 * was read and checked (detect_state.c). */
static int detect_restore(cf_stage *st, int32_t partition, const void *data, size_t len,
                          char *errstr, size_t errstr_size)
{
        detect_stage *d = st->ctx;
        if (!d->sc.enabled) return 0;
        cf_detect_part *np = cf_detect_state_restore(&d->x, data, len, errstr, errstr_size);
        if (!np) return -1;
        cf_detect_part **pp = part_slot(&d->x, partition);
        part_free(*pp);
        *pp = np;
        np->republish = true; /* see detect_bucket.c: the restored contribution goes out whole */
        if (d->x.track) cf_detect_part_track(np, true);
        return 0;
}

static void detect_track(cf_stage *st, bool on)
{
        detect_stage *d = st->ctx;
        d->x.track = on;
        for (size_t p = 0; p < d->x.nparts; p++)
                if (d->x.parts[p]) cf_detect_part_track(d->x.parts[p], on);
}

static int detect_delta(cf_stage *st, int32_t partition, cf_buf *out)
{
        detect_stage *d = st->ctx;
        if (!d->sc.enabled) return 0;
        cf_detect_state_delta(&d->x, part_get(&d->x, partition), out);
        return 0;
}

static int detect_apply_delta(cf_stage *st, int32_t partition, const void *data, size_t len,
                              char *errstr, size_t errstr_size)
{
        detect_stage *d = st->ctx;
        if (!d->sc.enabled) return 0;
        cf_detect_part *ps = part_get(&d->x, partition);
        ps->republish = true;
        return cf_detect_state_apply_delta(&d->x, ps, data, len, errstr, errstr_size);
}

static void detect_drop(cf_stage *st, int32_t partition)
{
        detect_stage *d = st->ctx;
        size_t i = partition < 0 ? 0 : (size_t)partition;
        if (i < d->x.nparts) {
                part_free(d->x.parts[i]);
                d->x.parts[i] = NULL;
        }
}

static int detect_reload(cf_stage *st, const cf_stage_env *env, char *errstr, size_t errstr_size)
{
        detect_stage *d = st->ctx;
        stage_cfg sc = {0};
        if (load_all(&d->x, &sc, env, errstr, errstr_size)) {
                cf_config_map_free(stage_map, &sc);
                return -1; /* the old rules stay */
        }
        cf_config_map_free(stage_map, &d->sc);
        d->sc = sc;
        d->x.pop.max_contrib = sc.max_contributions;
        d->x.pop.n_buckets = (uint32_t)sc.population_buckets;
        if (d->ready) cf_detect_pop_reload(&d->x);
        /* new bounds and windows apply to the tables from now on; state is kept */
        for (size_t p = 0; p < d->x.nparts; p++) {
                cf_detect_part *ps = d->x.parts[p];
                if (!ps) continue;
                for (size_t i = 0; i < cf_detect_n_rules; i++) {
                        const cf_rule *ru = cf_detect_rules[i];
                        if (!ru->table_off) continue;
                        size_t max;
                        int64_t window;
                        uint32_t vsize = ru->value_size; /* the layout stays until restart */
                        ru->state_limits(d->x.cfg[i], &max, &window, &vsize);
                        cf_rule_table(ru, ps)->max = max;
                        cf_rule_table(ru, ps)->window_ms = window;
                }
        }
        return 0;
}

static void detect_collect(cf_stage *st, int32_t partition, int rebase)
{
        detect_stage *d = st->ctx;
        cf_detect_metrics_collect(&d->m, &d->x, d->ready, partition, rebase);
}

static void detect_destroy(cf_stage *st)
{
        detect_stage *d = st->ctx;
        if (!d) return;
        for (size_t p = 0; p < d->x.nparts; p++)
                part_free(d->x.parts[p]);
        free(d->x.parts);
        if (d->ready) cf_detect_pop_free(&d->x);
        free_cfgs(d->x.cfg);
        cf_detect_global_free(&d->x);
        cf_detect_ref_free(&d->x.ref);
        cf_buf_free(&d->x.ev);
        cf_buf_free(&d->x.ex);
        cf_buf_free(&d->x.bucket);
        cf_config_map_free(stage_map, &d->sc);
        cf_detect_metrics_free(&d->m);
        free(d);
}

static int detect_publish(cf_stage *st, int32_t partition, cf_global_mode mode, cf_buf *out)
{
        detect_stage *d = st->ctx;
        size_t i = partition < 0 ? 0 : (size_t)partition;
        if (!d->ready || i >= d->x.nparts || !d->x.parts[i]) return 0;
        return cf_detect_publish(&d->x, d->x.parts[i], partition, mode, out);
}

static int detect_apply(cf_stage *st, const cf_global_msg *m, char *errstr, size_t errstr_size)
{
        detect_stage *d = st->ctx;
        if (!d->ready) return 0;
        return cf_detect_apply(&d->x, m, errstr, errstr_size);
}

static void detect_settle(cf_stage *st)
{
        detect_stage *d = st->ctx;
        if (d->ready) cf_detect_settle(&d->x);
}

static void detect_share_replica(cf_stage *st, cf_stage *owner, int k, int n)
{
        detect_stage *d = st->ctx, *o = owner->ctx;
        cf_detect_pop_share(&d->x, &o->x, k, n);
}

static int detect_snapshot_replica(cf_stage *st, cf_buf *out)
{
        detect_stage *d = st->ctx;
        if (d->ready) cf_detect_replica_snapshot(&d->x, out);
        return 0;
}

static int detect_restore_replica(cf_stage *st, const void *data, size_t len, char *errstr,
                                  size_t errstr_size)
{
        detect_stage *d = st->ctx;
        if (!d->ready) return 0;
        return cf_detect_replica_restore(&d->x, data, len, errstr, errstr_size);
}

/* The outcomes input: rules with global state learn (the stage disabled: nothing). */
static int detect_learn(cf_stage *st, cf_batch *b)
{
        detect_stage *d = st->ctx;
        if (d->sc.enabled) cf_detect_learn(&d->x, b);
        return 0;
}

static int detect_global_snapshot(cf_stage *st, cf_buf *out)
{
        detect_stage *d = st->ctx;
        if (d->sc.enabled) cf_detect_global_snapshot(&d->x, out);
        return 0;
}

static int detect_global_restore(cf_stage *st, const void *data, size_t len, char *errstr,
                                 size_t errstr_size)
{
        detect_stage *d = st->ctx;
        return d->sc.enabled ? cf_detect_global_restore(&d->x, data, len, errstr, errstr_size) : 0;
}

static const cf_rule_set *detect_rules(cf_stage *st)
{
        detect_stage *d = st->ctx;
        return &d->x.rules;
}

int cf_detect_rule_set(cf_rule_set *out, char *errstr, size_t errstr_size)
{
        return cf_rule_set_build(out, cf_detect_rules, cf_detect_n_rules, errstr, errstr_size);
}

int cf_detect_rule_index(const char *name)
{
        for (size_t i = 0; i < cf_detect_n_rules; i++)
                if (!strcmp(cf_detect_rules[i]->name, name)) return (int)i;
        return -1;
}

void *cf_vec_push(cf_vec *a, size_t size)
{
        if (a->n == a->cap) {
                size_t cap = a->cap ? 2 * a->cap : 64;
                void *v = realloc(a->v, cap * size);
                if (!v) abort();
                a->v = v;
                a->cap = cap;
        }
        return (char *)a->v + size * a->n++;
}

const void *cf_detect_rule_cfg(const cf_detect *x, const cf_rule *ru)
{
        for (size_t i = 0; i < cf_detect_n_rules; i++)
                if (cf_detect_rules[i] == ru) return x->cfg[i];
        return NULL;
}

void cf_detect_describe_rules(FILE *out)
{
        cf_config_map_describe(top_map, "rules.yaml", out);
        cf_config_map_describe(ref_map, "rules.yaml: reference", out);
        for (size_t i = 0; i < cf_detect_n_rules; i++) {
                char sec[96];
                snprintf(sec, sizeof(sec), "rules.yaml: rules.%s", cf_detect_rules[i]->name);
                fprintf(out, "\n%s: %s\n", sec, cf_detect_rules[i]->description);
                cf_config_map_describe(cf_detect_rules[i]->config_map, sec, out);
        }
}

void cf_detect_rules_schema(cf_buf *b)
{
        cf_buf_puts(b, "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\","
                       "\"$id\":\"https://customsflow.example/schemas/rules.schema.json\","
                       "\"title\":\"customsflow rules.yaml\",\"type\":\"object\","
                       "\"additionalProperties\":false,\"properties\":{"
                       "\"score_cap\":{\"type\":\"number\",\"minimum\":1,\"maximum\":1000},"
                       "\"flag_threshold\":{\"type\":\"number\",\"minimum\":0,\"maximum\":1000},"
                       "\"reference\":");
        cf_config_map_schema(ref_map, "reference files, relative to rules.yaml", b);
        cf_buf_puts(b, ",\"rules\":{\"type\":\"object\",\"additionalProperties\":false,"
                       "\"properties\":{");
        for (size_t i = 0; i < cf_detect_n_rules; i++) {
                if (i) cf_buf_putc(b, ',');
                cf_json_str(b, cf_detect_rules[i]->name, strlen(cf_detect_rules[i]->name));
                cf_buf_putc(b, ':');
                cf_config_map_schema(cf_detect_rules[i]->config_map,
                                     cf_detect_rules[i]->description, b);
        }
        cf_buf_puts(b, "}}}}\n");
}

const cf_stage_plugin cf_stage_detect = {
    .name = "detect",
    .description = "origin-fraud and transshipment rules from rules.yaml; score and evidence",
    .config_map = stage_map,
    .init = detect_init,
    .process = detect_process,
    .snapshot = detect_snapshot,
    .restore = detect_restore,
    .track = detect_track,
    .delta = detect_delta,
    .apply_delta = detect_apply_delta,
    .drop = detect_drop,
    .reload = detect_reload,
    .collect = detect_collect,
    .destroy = detect_destroy,
    .publish = detect_publish,
    .apply = detect_apply,
    .settle = detect_settle,
    .share_replica = detect_share_replica,
    .snapshot_replica = detect_snapshot_replica,
    .restore_replica = detect_restore_replica,
    .rules = detect_rules,
    .learn = detect_learn,
    .global_snapshot = detect_global_snapshot,
    .global_restore = detect_global_restore,
};
