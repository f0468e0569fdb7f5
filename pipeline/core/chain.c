/*
 * chain.c - builds and runs the stage chain; keeps the accounting counters.
 */
#include "pipeline/core/chain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/core/utf8.h"

#include <zlib.h>

#include "pipeline/core/stenc.h"

extern const cf_stage_plugin cf_stage_decode;
extern const cf_stage_plugin cf_stage_dedup;
extern const cf_stage_plugin cf_stage_detect;
extern const cf_stage_plugin cf_stage_aggregate;
extern const cf_stage_plugin cf_stage_encode;

/* Order matters: aggregate counts flags, so it runs after detect. */
static const cf_stage_plugin *const registry[] = {
    &cf_stage_decode, &cf_stage_dedup, &cf_stage_detect, &cf_stage_aggregate, &cf_stage_encode,
};
#define N_STAGES (sizeof(registry) / sizeof(registry[0]))

/* The outcome counters of one input partition (its series, looked up once). */
typedef struct chain_part {
        cf_series *processed, *duplicates, *dead_lettered, *flagged;
} chain_part;

struct cf_chain {
        cf_stage stages[N_STAGES];
        size_t n;
        int32_t partitions; /* logical partitions (cf_chain_set_partitions), 0: off */
        cf_counters k;
        const cf_rule_set *rules; /* published by a stage (detect), else NULL */
        cf_metrics *reg;
        cf_metric *f_processed, *f_duplicates, *f_dead_lettered, *f_flagged;
        cf_series *flags_by_rule[CF_RULES_MAX];
        chain_part **parts;
        size_t nparts;
        cf_chain_lineage **lin; /* by partition: what its state builds on (chain_state.c) */
        size_t nlin;
        bool track; /* stages record their changes (cf_chain_track_changes) */
};

static const cf_rule_set no_rules = {{0}, 0, 0};

static cf_stage_env make_env(const cf_chain *c, const cf_node *root, const char *base_dir,
                             const char *name)
{
        char path[128];
        snprintf(path, sizeof(path), "stages.%s", name);
        cf_stage_env env = {.root = root,
                            .cfg = cf_yaml_path(root, path),
                            .base_dir = base_dir,
                            .pipeline_version = CF_VERSION,
                            .rules = c->rules,
                            .metrics = c->reg};
        return env;
}

/* The chain's own families: what became of each record, per input partition
 * (DESIGN §4's accounting), and flags per rule (of the published rule set). */
static void declare_metrics(cf_chain *c)
{
        const char *part = "topic,partition";
        c->f_processed = cf_metrics_counter(c->reg, "customsflow_records_processed_total",
                                            "records processed (flagged or not), per input "
                                            "partition",
                                            part);
        c->f_duplicates = cf_metrics_counter(c->reg, "customsflow_records_duplicates_total",
                                             "records dropped as exact re-deliveries, per input "
                                             "partition",
                                             part);
        c->f_dead_lettered =
            cf_metrics_counter(c->reg, "customsflow_records_dead_lettered_total",
                               "records sent to the dead-letter topic, per input partition", part);
        c->f_flagged = cf_metrics_counter(c->reg, "customsflow_records_flagged_total",
                                          "processed records flagged, per input partition", part);
        cf_metric *flags = cf_metrics_counter(c->reg, "customsflow_flags_total",
                                              "flagged records a rule fired on, per rule", "rule");
        const cf_rule_set *rules = cf_chain_rules(c);
        for (int r = 0; r < rules->n && r < CF_RULES_MAX; r++)
                c->flags_by_rule[r] = cf_metric_series(flags, rules->names[r]);
}

cf_chain *cf_chain_new(const cf_node *root, const char *base_dir, char *errstr, size_t errstr_size)
{
        /* Unknown stage sections are errors, like unknown keys. */
        const cf_node *stages = cf_yaml_get(root, "stages");
        if (stages && stages->type != CF_NODE_MAP) { /* a list has no stage names (fuzz_config) */
                snprintf(errstr, errstr_size, "%s:%d: stages: expected a map", stages->file,
                         stages->line);
                return NULL;
        }
        for (size_t i = 0; stages && i + 1 < stages->n_items; i += 2) {
                const char *k = stages->items[i]->scalar;
                size_t j = 0;
                while (j < N_STAGES && strcmp(registry[j]->name, k))
                        j++;
                if (j == N_STAGES) {
                        snprintf(errstr, errstr_size,
                                 "%s:%d: unknown stage '%s' (known: decode, dedup, detect, "
                                 "aggregate, encode)",
                                 stages->items[i]->file, stages->items[i]->line, k);
                        return NULL;
                }
                /* a stage without a config map has no keys: a key there is a typo
                 * or meant for another stage, and must not be silently ignored */
                const cf_node *v = stages->items[i + 1];
                if (!registry[j]->config_map && v->type == CF_NODE_MAP && v->n_items) {
                        snprintf(errstr, errstr_size,
                                 "%s:%d: unknown key '%s' in stages.%s (it has no keys)",
                                 v->items[0]->file, v->items[0]->line, v->items[0]->scalar, k);
                        return NULL;
                }
        }
        cf_chain *c = calloc(1, sizeof(*c));
        if (!c) abort();
        c->reg = cf_metrics_new();
        for (size_t i = 0; i < N_STAGES; i++) {
                cf_stage_env env = make_env(c, root, base_dir, registry[i]->name);
                c->stages[i].p = registry[i];
                if (registry[i]->init &&
                    registry[i]->init(&c->stages[i], &env, errstr, errstr_size)) {
                        /* the failed stage too: its init may have set ctx
                         * (every destroy takes a partly built ctx) */
                        c->n = i + 1;
                        cf_chain_destroy(c);
                        return NULL;
                }
                c->n = i + 1;
                /* the stages after it and the counters name rules by this set */
                if (registry[i]->rules) c->rules = registry[i]->rules(&c->stages[i]);
        }
        declare_metrics(c); /* after the stages: flags_total is per published rule */
        return c;
}

void cf_counters_add_batch(cf_counters *k, const cf_batch *b)
{
        for (size_t i = 0; i < b->n; i++) {
                const cf_record *r = &b->recs[i];
                k->in++;
                switch (r->status) {
                case CF_REC_OK:
                        k->processed++;
                        if (!r->flagged) break;
                        k->flagged++;
                        for (uint16_t j = 0; j < r->n_reasons; j++)
                                if (r->reasons[j].rule_ix < CF_RULES_MAX)
                                        k->flags_by_rule[r->reasons[j].rule_ix]++;
                        break;
                case CF_REC_DUPLICATE:
                        k->duplicates++;
                        break;
                case CF_REC_DEAD_LETTER:
                        k->dead_lettered++;
                        break;
                }
        }
}

/* The partition's counters, looked up the first time a record of it comes
 * (the topic label is that record's). */
static chain_part *part_of(cf_chain *c, const cf_record *r)
{
        int32_t p = r->src.partition < 0 ? 0 : r->src.partition;
        chain_part **pp = (chain_part **)cf_ptrs_slot((void ***)&c->parts, &c->nparts, (size_t)p);
        if (*pp) return *pp;
        chain_part *cp = calloc(1, sizeof(*cp));
        if (!cp) abort();
        char num[16];
        snprintf(num, sizeof num, "%d", (int)p);
        const char *topic = r->src.topic ? r->src.topic : "";
        cp->processed = cf_metric_series(c->f_processed, topic, num);
        cp->duplicates = cf_metric_series(c->f_duplicates, topic, num);
        cp->dead_lettered = cf_metric_series(c->f_dead_lettered, topic, num);
        cp->flagged = cf_metric_series(c->f_flagged, topic, num);
        return *pp = cp;
}

/* Per-partition outcomes and flags per rule into their series. */
static void count_batch(cf_chain *c, const cf_batch *b, const cf_counters *before)
{
        chain_part *cp = NULL;
        int32_t last = INT32_MIN;
        for (size_t i = 0; i < b->n; i++) {
                const cf_record *r = &b->recs[i];
                if (r->src.partition != last) {
                        cp = part_of(c, r);
                        last = r->src.partition;
                }
                if (r->status == CF_REC_OK) {
                        cf_counter_inc(cp->processed);
                        if (r->flagged) cf_counter_inc(cp->flagged);
                } else if (r->status == CF_REC_DUPLICATE) {
                        cf_counter_inc(cp->duplicates);
                } else {
                        cf_counter_inc(cp->dead_lettered);
                }
        }
        for (int r = 0; r < CF_RULES_MAX; r++)
                if (c->k.flags_by_rule[r] != before->flags_by_rule[r] && c->flags_by_rule[r])
                        cf_counter_add(c->flags_by_rule[r],
                                       c->k.flags_by_rule[r] - before->flags_by_rule[r]);
}

void cf_chain_set_partitions(cf_chain *c, int32_t n)
{
        c->partitions = n > 0 ? n : 0;
}

int32_t cf_partition_of(const void *key, size_t len, int32_t n)
{
        /* librdkafka's consistent_random: rd_crc32 (IEEE CRC-32, zlib's) of the key */
        return (int32_t)(crc32(0L, key, (uInt)len) % (uint32_t)n);
}

static void assign_partitions(const cf_chain *c, cf_batch *b)
{
        for (size_t i = 0; i < b->n; i++) {
                cf_record *r = &b->recs[i];
                const cf_str *k = &r->decl.exporter_id;
                r->src.partition = r->status == CF_REC_OK && k->n
                                       ? cf_partition_of(k->p, k->n, c->partitions)
                                       : cf_partition_of(r->data, r->len, c->partitions);
        }
}

int cf_chain_process(cf_chain *c, cf_batch *b)
{
        return cf_chain_process_stages(c, b, 0, c->n);
}

size_t cf_chain_n_stages_before_replica(const cf_chain *c)
{
        for (size_t i = 0; i < c->n; i++)
                if (c->stages[i].p->apply) return i;
        return c->n;
}

int cf_chain_process_stages(cf_chain *c, cf_batch *b, size_t from, size_t to)
{
        for (size_t i = from; i < to && i < c->n; i++) {
                cf_stage *s = &c->stages[i];
                if (s->p->process && s->p->process(s, b)) return -1;
                /* the first stage decodes the key (exporter_id) */
                if (!i && c->partitions) assign_partitions(c, b);
        }
        if (to < c->n) return 0;
        cf_counters before = c->k;
        cf_counters_add_batch(&c->k, b);
        count_batch(c, b, &before);
        return 0;
}

void cf_chain_part_counts(const cf_chain *c, int32_t partition, cf_part_counts *out)
{
        memset(out, 0, sizeof *out);
        if (partition < 0 || (size_t)partition >= c->nparts || !c->parts[partition]) return;
        const chain_part *cp = c->parts[partition];
        out->processed = cf_counter_get(cp->processed);
        out->duplicates = cf_counter_get(cp->duplicates);
        out->dead_lettered = cf_counter_get(cp->dead_lettered);
        out->flagged = cf_counter_get(cp->flagged);
}

void cf_chain_part_counts_rewind(cf_chain *c, int32_t partition, const cf_part_counts *k)
{
        if (partition < 0 || (size_t)partition >= c->nparts || !c->parts[partition]) return;
        chain_part *cp = c->parts[partition];
        cf_counter_rewind(cp->processed, k->processed);
        cf_counter_rewind(cp->duplicates, k->duplicates);
        cf_counter_rewind(cp->dead_lettered, k->dead_lettered);
        cf_counter_rewind(cp->flagged, k->flagged);
}

/* Every stage's collect for partition (-1: all). */
static void collect(cf_chain *c, int32_t partition, int rebase)
{
        for (size_t i = 0; i < c->n; i++)
                if (c->stages[i].p->collect)
                        c->stages[i].p->collect(&c->stages[i], partition, rebase);
}

void cf_chain_collect(cf_chain *c)
{
        collect(c, -1, 0);
}

cf_metrics *cf_chain_registry(cf_chain *c)
{
        return c->reg;
}

int cf_chain_learn(cf_chain *c, cf_batch *b)
{
        for (size_t i = 0; i < c->n; i++) {
                cf_stage *s = &c->stages[i];
                if (s->p->learn && s->p->learn(s, b)) return -1;
        }
        cf_counters_add_outcomes(&c->k, b);
        return 0;
}

void cf_counters_add_outcomes(cf_counters *k, const cf_batch *b)
{
        /* outcomes are not input: counted apart from the accounting invariant */
        for (size_t i = 0; i < b->n; i++) {
                if (b->recs[i].status == CF_REC_OK)
                        k->outcomes_learnt++;
                else
                        k->outcomes_dead_lettered++;
        }
}

int cf_chain_flush(cf_chain *c, cf_batch *b, int64_t now_ms, int final)
{
        for (size_t i = 0; i < c->n; i++) {
                cf_stage *s = &c->stages[i];
                if (s->p->flush && s->p->flush(s, b, now_ms, final)) return -1;
        }
        return 0;
}

int cf_chain_publish(cf_chain *c, int32_t partition, cf_global_mode mode, cf_buf *out)
{
        for (size_t i = 0; i < c->n; i++) {
                cf_stage *s = &c->stages[i];
                if (s->p->publish && s->p->publish(s, partition, mode, out)) return -1;
        }
        return 0;
}

int cf_chain_apply(cf_chain *c, const cf_global_msg *m, char *errstr, size_t errstr_size)
{
        for (size_t i = 0; i < c->n; i++) {
                cf_stage *s = &c->stages[i];
                if (s->p->apply && s->p->apply(s, m, errstr, errstr_size)) return -1;
        }
        return 0;
}

int cf_chain_apply_all(cf_chain *c, const void *data, size_t len, char *errstr, size_t errstr_size)
{
        size_t off = 0;
        cf_global_msg m;
        int r;
        while ((r = cf_global_next(data, len, &off, &m)) > 0)
                if (cf_chain_apply(c, &m, errstr, errstr_size)) return -1;
        if (r < 0) snprintf(errstr, errstr_size, "population messages: malformed frame");
        return r;
}

void cf_chain_settle(cf_chain *c)
{
        for (size_t i = 0; i < c->n; i++)
                if (c->stages[i].p->settle) c->stages[i].p->settle(&c->stages[i]);
}

void cf_chain_share_replica(cf_chain *c, cf_chain *owner, int k, int n)
{
        for (size_t i = 0; i < c->n && i < owner->n; i++)
                if (c->stages[i].p->share_replica)
                        c->stages[i].p->share_replica(&c->stages[i], &owner->stages[i], k, n);
}

int cf_chain_barrier(cf_chain *c, const int32_t *parts, size_t n, cf_buf *scratch, char *errstr,
                     size_t errstr_size)
{
        cf_buf_reset(scratch);
        for (size_t i = 0; i < n; i++)
                if (cf_chain_publish(c, parts[i], CF_GLOBAL_DELTA, scratch)) {
                        snprintf(errstr, errstr_size, "partition %d: publish failed", parts[i]);
                        return -1;
                }
        int rc = cf_chain_apply_all(c, scratch->p, scratch->len, errstr, errstr_size);
        cf_chain_settle(c);
        return rc;
}

cf_chain_lineage *cf_chain_lineage_of(cf_chain *c, int32_t partition)
{
        cf_chain_lineage **pp = (cf_chain_lineage **)cf_ptrs_slot(
            (void ***)&c->lin, &c->nlin, partition < 0 ? 0 : (size_t)partition);
        if (!*pp && !(*pp = calloc(1, sizeof(**pp)))) abort();
        return *pp;
}

void cf_chain_track_changes(cf_chain *c, bool on)
{
        c->track = on;
        for (size_t i = 0; i < c->n; i++)
                if (c->stages[i].p->track) c->stages[i].p->track(&c->stages[i], on);
}

bool cf_chain_tracking(const cf_chain *c)
{
        return c->track;
}

void cf_chain_drop(cf_chain *c, int32_t partition)
{
        *cf_chain_lineage_of(c, partition) = (cf_chain_lineage){0};
        collect(c, partition, 0);
        for (size_t i = 0; i < c->n; i++)
                if (c->stages[i].p->drop) c->stages[i].p->drop(&c->stages[i], partition);
        collect(c, partition, 1); /* unsets the partition's gauges */
}

int cf_chain_reload(cf_chain *c, const cf_node *root, const char *base_dir, char *errstr,
                    size_t errstr_size)
{
        collect(c, -1, 0);
        int rc = 0;
        for (size_t i = 0; i < c->n && !rc; i++) {
                cf_stage *s = &c->stages[i];
                cf_stage_env env = make_env(c, root, base_dir, s->p->name);
                if (s->p->reload && s->p->reload(s, &env, errstr, errstr_size)) rc = -1;
        }
        collect(c, -1, 1);
        return rc;
}

const cf_rule_set *cf_chain_rules(const cf_chain *c)
{
        return c->rules ? c->rules : &no_rules;
}

const cf_counters *cf_chain_counters(const cf_chain *c)
{
        return &c->k;
}

size_t cf_chain_n_stages(const cf_chain *c)
{
        return c->n;
}

cf_stage *cf_chain_stage_at(cf_chain *c, size_t i)
{
        return i < c->n ? &c->stages[i] : NULL;
}

cf_stage *cf_chain_stage(cf_chain *c, const char *name)
{
        for (size_t i = 0; i < c->n; i++)
                if (!strcmp(c->stages[i].p->name, name)) return &c->stages[i];
        return NULL;
}

void cf_chain_destroy(cf_chain *c)
{
        if (!c) return;
        for (size_t i = c->n; i-- > 0;)
                if (c->stages[i].p->destroy) c->stages[i].p->destroy(&c->stages[i]);
        for (size_t i = 0; i < c->nparts; i++)
                free(c->parts[i]);
        free(c->parts);
        for (size_t i = 0; i < c->nlin; i++)
                free(c->lin[i]);
        free(c->lin);
        cf_metrics_free(c->reg);
        free(c);
}

void cf_chain_describe(FILE *out)
{
        for (size_t i = 0; i < N_STAGES; i++) {
                char sec[64];
                snprintf(sec, sizeof(sec), "stages.%s", registry[i]->name);
                fprintf(out, "\n%s: %s\n", sec, registry[i]->description);
                if (registry[i]->config_map)
                        cf_config_map_describe(registry[i]->config_map, sec, out);
        }
}

void cf_chain_schema(cf_buf *out)
{
        cf_buf_puts(out, "{\"type\":\"object\",\"additionalProperties\":false,"
                         "\"description\":\"per-stage settings\",\"properties\":{");
        for (size_t i = 0; i < N_STAGES; i++) {
                cf_buf_printf(out, "%s\"%s\":", i ? "," : "", registry[i]->name);
                if (registry[i]->config_map) {
                        cf_config_map_schema(registry[i]->config_map, registry[i]->description,
                                             out);
                        continue;
                }
                static const cf_config_map none[] = {{0}};
                cf_config_map_schema(none, registry[i]->description, out);
        }
        cf_buf_puts(out, "}}");
}
