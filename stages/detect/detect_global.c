/*
 * detect_global.c - the detect stage's global state: what rules learn from
 * the outcomes input (the risk model), as opposed to per-partition tables.
 * Every worker reads the outcomes topic whole and in order (DESIGN §6), so
 * every worker's copy is the same; it is snapshotted apart from partitions.
 *
 * Snapshot (pipeline/core/stenc.h fields): u32 number of rules, then per rule
 * with global state its name (str8) and a block holding the rule's bytes. A
 * rule this build does not have is skipped (its state is re-learnt if it
 * comes back); a rule twice is refused.
 *
 * @locality: the worker thread that owns the chain.
 */
#include <stdio.h>
#include <string.h>

#include "pipeline/core/stenc.h"
#include "stages/detect/detect_int.h"

int cf_detect_global_config(cf_detect *x, void **cfg, char *errstr, size_t errstr_size)
{
        for (size_t i = 0; i < cf_detect_n_rules; i++) {
                const cf_rule *ru = cf_detect_rules[i];
                if (!ru->global_config) continue;
                char err[512];
                if (ru->global_config(&x->global[i], cfg[i], err, sizeof err)) {
                        snprintf(errstr, errstr_size, "rules.%s: %s", ru->name, err);
                        return -1;
                }
        }
        return 0;
}

void cf_detect_global_free(cf_detect *x)
{
        for (size_t i = 0; i < cf_detect_n_rules; i++) {
                if (x->global[i] && cf_detect_rules[i]->global_free)
                        cf_detect_rules[i]->global_free(x->global[i]);
                x->global[i] = NULL;
        }
}

void cf_detect_learn(cf_detect *x, cf_batch *b)
{
        for (size_t i = 0; i < cf_detect_n_rules; i++) {
                const cf_rule *ru = cf_detect_rules[i];
                const cf_rule_common *c = x->cfg ? x->cfg[i] : NULL;
                /* a disabled rule still learns: enabling it later needs no re-read */
                if (!ru->learn || !x->global[i] || !c) continue;
                for (size_t k = 0; k < b->n; k++)
                        if (b->recs[k].status == CF_REC_OK) ru->learn(x->global[i], &b->recs[k], c);
        }
}

void cf_detect_global_snapshot(const cf_detect *x, cf_buf *out)
{
        uint32_t n = 0;
        for (size_t i = 0; i < cf_detect_n_rules; i++)
                n += x->global[i] && cf_detect_rules[i]->global_snapshot;
        cf_st_put_u32(out, n);
        for (size_t i = 0; i < cf_detect_n_rules; i++) {
                const cf_rule *ru = cf_detect_rules[i];
                if (!x->global[i] || !ru->global_snapshot) continue;
                cf_st_put_str8(out, ru->name);
                size_t blk = cf_st_block_begin(out);
                ru->global_snapshot(x->global[i], out);
                cf_st_block_end(out, blk);
        }
}

/* The rule with global state called (name, n), or -1. */
static int global_rule(const cf_detect *x, const char *name, size_t n)
{
        for (size_t i = 0; i < cf_detect_n_rules; i++) {
                const cf_rule *ru = cf_detect_rules[i];
                if (x->global[i] && ru->global_restore && strlen(ru->name) == n &&
                    !memcmp(ru->name, name, n))
                        return (int)i;
        }
        return -1;
}

int cf_detect_global_restore(cf_detect *x, const void *data, size_t len, char *errstr,
                             size_t errstr_size)
{
        int rc = 0;
        /* every rule starts empty; the blocks present fill theirs */
        for (size_t i = 0; i < cf_detect_n_rules; i++)
                if (x->global[i] && cf_detect_rules[i]->global_restore)
                        cf_detect_rules[i]->global_restore(x->global[i], NULL, 0, errstr,
                                                           errstr_size);
        if (!len) return 0;
        cf_st_dec d;
        cf_st_dec_init(&d, data, len, "detect: global state", errstr, errstr_size);
        uint32_t n = cf_st_u32(&d);
        uint64_t seen = 0;
        for (uint32_t k = 0; k < n && cf_st_ok(&d); k++) {
                size_t nl;
                const char *name = cf_st_bytes8(&d, &nl);
                const unsigned char *outer = cf_st_enter(&d);
                if (!cf_st_ok(&d)) break;
                int i = global_rule(x, name, nl);
                size_t bl = cf_st_left(&d);
                const unsigned char *body = cf_st_take(&d, bl);
                cf_st_leave(&d, outer, "a rule's block");
                if (i < 0) continue; /* a rule no longer registered: its block is skipped */
                if (i < 64 && (seen >> i & 1)) {
                        cf_st_fail(&d, "rule %s twice", cf_detect_rules[i]->name);
                        break;
                }
                if (i < 64) seen |= 1ull << i;
                int r =
                    cf_detect_rules[i]->global_restore(x->global[i], body, bl, errstr, errstr_size);
                if (r < 0) return -1;
                if (r > 0) rc = 1;
        }
        return cf_st_done(&d) ? rc : -1;
}

void cf_detect_global_metrics(cf_detect *x, cf_metrics *reg)
{
        for (size_t i = 0; i < cf_detect_n_rules; i++)
                if (x->global[i] && cf_detect_rules[i]->global_metrics)
                        cf_detect_rules[i]->global_metrics(x->global[i], reg);
}
