/*
 * detect_metrics.c - see detect_metrics.h.
 *
 * The counts live in the stage (cf_detect.fired) and in its state tables
 * (cf_kvtab.evicted, which snapshots carry); the counters follow them at each
 * collect, so a partition restored on this worker does not count again what
 * another worker or instance already counted.
 */
#include "stages/detect/detect_metrics.h"

#include <stdlib.h>

void cf_detect_metrics_init(cf_detect_metrics *m, cf_metrics *reg)
{
        m->reg = reg;
        cf_metric *fired = cf_metrics_counter(reg, "customsflow_detect_rule_fired_total",
                                              "times each rule fired", "rule");
        cf_metric *entries =
            cf_metrics_gauge(reg, "customsflow_detect_state_entries",
                             "entries in the detect stage's state tables", "rule", CF_MERGE_SUM);
        cf_metric *evicted =
            cf_metrics_counter(reg, "customsflow_detect_state_evicted_total",
                               "entries evicted because a table reached its bound", "rule");
        cf_metric *rep_entries = cf_metrics_gauge(
            reg, "customsflow_detect_replica_entries",
            "entries in the population replica's tables (the same on every worker)", "rule",
            CF_MERGE_MAX);
        cf_metric *rep_evicted = cf_metrics_counter_replicated(
            reg, "customsflow_detect_replica_evicted_total",
            "population replica entries evicted because a table reached its bound", "rule");
        for (size_t i = 0; i < cf_detect_n_rules && i < CF_DETECT_METRIC_RULES; i++) {
                const cf_rule *ru = cf_detect_rules[i];
                m->fired[i] = cf_metric_series(fired, ru->name);
                if (ru->table_off) {
                        m->entries[i] = cf_metric_series(entries, ru->name);
                        m->evicted[i] = cf_metric_series(evicted, ru->name);
                }
                if (ru->replica_off) {
                        m->rep_entries[i] = cf_metric_series(rep_entries, ru->name);
                        m->rep_evicted[i] = cf_metric_series(rep_evicted, ru->name);
                }
        }
        /* which table a commit's changelog bytes come from (bench/RESULTS.md § own deltas) */
        cf_metric *dbytes = cf_metrics_counter(
            reg, "customsflow_detect_delta_bytes_total",
            "bytes of the detect stage's changelog deltas, per state table (name included)",
            "table");
        cf_metric *dkeys = cf_metrics_counter(
            reg, "customsflow_detect_delta_keys_total",
            "keys written (changed or removed) in the detect stage's changelog deltas, per state "
            "table",
            "table");
        for (size_t i = 0; i < cf_detect_n_rules + CF_DETECT_OWNS && i < CF_RULES_MAX + 2; i++) {
                const char *name = i < cf_detect_n_rules
                                       ? cf_detect_rules[i]->name
                                       : cf_detect_owns[i - cf_detect_n_rules].name;
                if (i < cf_detect_n_rules && !cf_detect_rules[i]->table_off) continue;
                m->delta_bytes[i] = cf_metric_series(dbytes, name);
                m->delta_keys[i] = cf_metric_series(dkeys, name);
        }
        cf_metric *msgs = cf_metrics_counter_replicated(
            reg, "customsflow_detect_population_messages_total",
            "population-state messages applied to the replica, and refused as malformed", "result");
        m->pop_applied = cf_metric_series(msgs, "applied");
        m->pop_refused = cf_metric_series(msgs, "refused");
        m->contributions = cf_metric_series(
            cf_metrics_gauge(reg, "customsflow_detect_contributions",
                             "contributions (population key, source partition) the replica keeps",
                             NULL, CF_MERGE_MAX));
        m->contrib_evicted = cf_metric_series(cf_metrics_counter_replicated(
            reg, "customsflow_detect_contributions_evicted_total",
            "contributions evicted at the bound (their share left the baselines)", NULL));
}

/* The replica's values: set, not followed (every worker keeps the same). */
static void collect_replica(cf_detect_metrics *m, cf_detect *x)
{
        for (size_t i = 0; i < cf_detect_n_rules && i < CF_DETECT_METRIC_RULES; i++) {
                const cf_rule *ru = cf_detect_rules[i];
                if (!ru->replica_off) continue;
                cf_gauge_set(m->rep_entries[i], (double)cf_rule_replica(ru, &x->pop)->n);
                cf_counter_set(m->rep_evicted[i], cf_rule_replica(ru, &x->pop)->evicted);
        }
        cf_counter_set(m->pop_applied, x->pop.applied);
        cf_counter_set(m->pop_refused, x->pop.refused);
        cf_gauge_set(m->contributions, (double)x->pop.contrib.n);
        cf_counter_set(m->contrib_evicted, x->pop.contrib_evicted);
}

typedef struct collect_ctx {
        cf_detect_metrics *m;
        cf_detect *x;
} collect_ctx;

/* Evictions of one partition's tables since the last collect. */
static void collect_part(void *ctx, size_t p, int rebase)
{
        cf_detect_metrics *m = ((collect_ctx *)ctx)->m;
        cf_detect *x = ((collect_ctx *)ctx)->x;
        cf_detect_part *ps = p < x->nparts ? x->parts[p] : NULL;
        if (!ps && p >= m->nseen) return;
        uint64_t **slot = (uint64_t **)cf_ptrs_slot((void ***)&m->seen_evicted, &m->nseen, p);
        if (!*slot && !(*slot = calloc(CF_DETECT_METRIC_RULES, sizeof(uint64_t)))) abort();
        for (size_t i = 0; i < cf_detect_n_rules && i < CF_DETECT_METRIC_RULES; i++) {
                const cf_rule *ru = cf_detect_rules[i];
                if (!ru->table_off) continue;
                uint64_t now = ps ? cf_rule_table(ru, ps)->evicted : 0;
                cf_counter_follow(m->evicted[i], &(*slot)[i], now, rebase);
        }
}

void cf_detect_metrics_collect(cf_detect_metrics *m, cf_detect *x, bool replica, int32_t partition,
                               int rebase)
{
        collect_ctx ctx = {m, x};
        size_t n = x->nparts > m->nseen ? x->nparts : m->nseen;
        cf_metrics_each_part(partition, n, collect_part, &ctx, rebase);
        if (partition >= 0) return;
        for (size_t i = 0; i < cf_detect_n_rules && i < CF_DETECT_METRIC_RULES; i++) {
                const cf_rule *ru = cf_detect_rules[i];
                cf_counter_follow(m->fired[i], &m->seen_fired[i], x->fired[i], 0);
                if (!ru->table_off) continue;
                uint64_t n_entries = 0;
                for (size_t p = 0; p < x->nparts; p++)
                        if (x->parts[p]) n_entries += cf_rule_table(ru, x->parts[p])->n;
                cf_gauge_set(m->entries[i], (double)n_entries);
        }
        for (size_t i = 0; i < CF_RULES_MAX + 2; i++)
                if (m->delta_bytes[i]) {
                        cf_counter_follow(m->delta_bytes[i], &m->seen_delta_bytes[i],
                                          x->delta_bytes[i], 0);
                        cf_counter_follow(m->delta_keys[i], &m->seen_delta_keys[i],
                                          x->delta_keys[i], 0);
                }
        cf_detect_global_metrics(x, m->reg);
        if (replica) collect_replica(m, x);
}

void cf_detect_metrics_free(cf_detect_metrics *m)
{
        for (size_t p = 0; p < m->nseen; p++)
                free(m->seen_evicted[p]);
        free(m->seen_evicted);
        m->seen_evicted = NULL;
        m->nseen = 0;
}
