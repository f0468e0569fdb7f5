/*
 * detect_global.c - the detect stage's global state: what rules learn from
 * the outcomes input (the risk model), as opposed to per-partition tables.
 * Every worker reads the outcomes topic whole and in order (DESIGN §6), so
 * every worker's copy is the same; it is snapshotted apart from partitions.
 *
 * Snapshot: u32 number of blocks, then per rule with global state a block:
 * u8 name length, name, u64 length, the rule's bytes (little-endian).
 *
 * @locality: the worker thread that owns the chain.
 */
#include <stdio.h>
#include <string.h>

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

static void put_u64(cf_buf *b, uint64_t v)
{
        unsigned char t[8];
        for (int i = 0; i < 8; i++)
                t[i] = (unsigned char)(v >> (8 * i));
        cf_buf_put(b, t, 8);
}

static uint64_t get_u64(const unsigned char *p)
{
        uint64_t v = 0;
        for (int i = 0; i < 8; i++)
                v |= (uint64_t)p[i] << (8 * i);
        return v;
}

void cf_detect_global_snapshot(const cf_detect *x, cf_buf *out)
{
        uint32_t n = 0;
        for (size_t i = 0; i < cf_detect_n_rules; i++)
                n += x->global[i] && cf_detect_rules[i]->global_snapshot;
        unsigned char t[4] = {(unsigned char)n, (unsigned char)(n >> 8), (unsigned char)(n >> 16),
                              (unsigned char)(n >> 24)};
        cf_buf_put(out, t, 4);
        for (size_t i = 0; i < cf_detect_n_rules; i++) {
                const cf_rule *ru = cf_detect_rules[i];
                if (!x->global[i] || !ru->global_snapshot) continue;
                uint8_t nl = (uint8_t)strlen(ru->name);
                cf_buf_put(out, &nl, 1);
                cf_buf_put(out, ru->name, nl);
                size_t at = out->len;
                put_u64(out, 0);
                ru->global_snapshot(x->global[i], out);
                uint64_t len = out->len - at - 8;
                for (int k = 0; k < 8; k++)
                        out->p[at + k] = (char)(len >> (8 * k));
        }
}

int cf_detect_global_restore(cf_detect *x, const void *data, size_t len, char *errstr,
                             size_t errstr_size)
{
        const unsigned char *p = data, *end = p + len;
        int rc = 0;
        /* every rule starts empty; the blocks present fill theirs */
        for (size_t i = 0; i < cf_detect_n_rules; i++)
                if (x->global[i] && cf_detect_rules[i]->global_restore)
                        cf_detect_rules[i]->global_restore(x->global[i], NULL, 0, errstr,
                                                           errstr_size);
        if (!len) return 0;
        if (len < 4) goto bad;
        uint32_t n = p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
        p += 4;
        for (uint32_t k = 0; k < n; k++) {
                if (end - p < 1 || end - p < 1 + p[0] + 8) goto bad;
                uint8_t nl = p[0];
                uint64_t bl = get_u64(p + 1 + nl);
                if (bl > (uint64_t)(end - p - 1 - nl - 8)) goto bad;
                const unsigned char *body = p + 1 + nl + 8;
                for (size_t i = 0; i < cf_detect_n_rules; i++) {
                        const cf_rule *ru = cf_detect_rules[i];
                        if (!x->global[i] || !ru->global_restore || strlen(ru->name) != nl ||
                            memcmp(ru->name, p + 1, nl))
                                continue;
                        int r =
                            ru->global_restore(x->global[i], body, (size_t)bl, errstr, errstr_size);
                        if (r < 0) return -1;
                        if (r > 0) rc = 1;
                }
                /* a rule no longer registered: its block is skipped */
                p = body + bl;
        }
        if (p != end) goto bad;
        return rc;
bad:
        snprintf(errstr, errstr_size, "detect: global snapshot is malformed");
        return -1;
}

void cf_detect_global_metrics(cf_detect *x, cf_metrics *reg)
{
        for (size_t i = 0; i < cf_detect_n_rules; i++)
                if (x->global[i] && cf_detect_rules[i]->global_metrics)
                        cf_detect_rules[i]->global_metrics(x->global[i], reg);
}
