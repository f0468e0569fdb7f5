/*
 * detect_state.c - snapshot and restore of one partition's detect state: the
 * partition's first event time and the state tables of its per-partition
 * rules (exporters, capacity windows, the volume rule's per-exporter
 * declarations), each value written and checked by its rule
 * (state_put/state_get), and the partition's own contributions to the
 * population state (detect_own.c). The population rules' replica is not a
 * partition's (detect_replica.c).
 *
 * Version 3 (pipeline/core/stenc.h fields, little-endian):
 *   magic "CFDT" (4 bytes), version (u16, 3), first_ms (i64, INT64_MAX: no
 *   record yet), number of tables (u8), then per table the rule's name (str8)
 *   and a block holding the table (kvtab.c); then the partition's own
 *   population contributions, two tables named "<rule>.own" (detect_own.c).
 * Version 2: the same without the own tables (they start empty).
 * Version 1 (releases 1-2, b6aa89d and b13c378): magic 0x43445431 ("CDT1",
 *   u32), number of tables (u32), first_ms (i64), per table name length (u8),
 *   name, the raw table: read and checked by the rule (new_exporter_surge) or
 *   converted into this build's state (population rules, capacity:
 *   detect_convert.c). "CDT2" (raw tables written between those releases and
 *   this format, never released) is refused.
 *
 * Restore builds a new partition state with the current config's tables and
 * gives it back only when everything was read and checked: a refused
 * snapshot changes nothing. A table for a rule this build does not have, or
 * a table twice, is refused; a rule without a table starts empty.
 *
 * @locality: the worker thread that owns the chain.
 */
#include <stdio.h>
#include <string.h>

#include "stages/detect/detect_int.h"

#define SNAP_VERSION 3           /* 3: the own contributions' tables (detect_own.c) */
#define V1_MAGIC     0x43445431u /* "CDT1" */
#define MAX_TABLES   64          /* read_table's one bit per rule and own table */

/* One table, named, in a block; its bytes and delta keys added to *bytes, *keys. */
static void put_table(cf_buf *out, const char *name, cf_kvtab *t, cf_detect_table_writer write,
                      cf_kv_put put, cf_kv_diff diff, uint64_t *bytes, uint64_t *keys)
{
        size_t at = out->len;
        if (keys) *keys += t->dn;
        cf_st_put_str8(out, name);
        size_t blk = cf_st_block_begin(out);
        write(t, out, put, diff);
        cf_st_block_end(out, blk);
        if (bytes) *bytes += out->len - at;
}

void cf_detect_state_write(cf_detect_part *ps, cf_buf *out, const char *magic, uint16_t version,
                           cf_detect_table_writer write, uint64_t *bytes, uint64_t *keys)
{
        memcpy(cf_st_room(out, 4), magic, 4);
        cf_st_put_u16(out, version);
        cf_st_put_i64(out, ps->first_ms);
        uint8_t n = CF_DETECT_OWNS;
        for (size_t i = 0; i < cf_detect_n_rules; i++)
                n += cf_detect_rules[i]->table_off != 0;
        cf_st_put_u8(out, n);
        for (size_t i = 0; i < cf_detect_n_rules; i++) {
                const cf_rule *ru = cf_detect_rules[i];
                if (ru->table_off)
                        put_table(out, ru->name, cf_rule_table(ru, ps), write, ru->state_put, NULL,
                                  bytes ? &bytes[i] : NULL, keys ? &keys[i] : NULL);
        }
        for (int i = 0; i < CF_DETECT_OWNS; i++) {
                size_t k = cf_detect_n_rules + (size_t)i;
                put_table(out, cf_detect_owns[i].name, cf_detect_own_table(ps, i), write,
                          cf_detect_owns[i].put, cf_detect_owns[i].diff, bytes ? &bytes[k] : NULL,
                          keys ? &keys[k] : NULL);
        }
}

/* A snapshot writes every value whole. */
static void snapshot_table(cf_kvtab *t, cf_buf *out, cf_kv_put put, cf_kv_diff diff)
{
        (void)diff;
        cf_kvtab_snapshot(t, out, put);
}

void cf_detect_state_snapshot(cf_detect *x, cf_detect_part *ps, cf_buf *out)
{
        (void)x;
        cf_detect_state_write(ps, out, "CFDT", SNAP_VERSION, snapshot_table, NULL, NULL);
}

/* The rule named (name, n) and its index in *ix, or NULL. */
static const cf_rule *rule_named(const char *name, size_t n, size_t *ix)
{
        for (size_t j = 0; j < cf_detect_n_rules; j++) {
                const cf_rule *ru = cf_detect_rules[j];
                if (strlen(ru->name) == n && !memcmp(ru->name, name, n)) {
                        *ix = j;
                        return ru;
                }
        }
        return NULL;
}

/* One table of version v (named, then its contents) into ps; seen marks the rules done. */
static bool read_table(cf_detect *x, cf_detect_part *ps, cf_st_dec *d, int v, uint64_t *seen)
{
        size_t n, j = 0;
        const char *name = cf_st_bytes8(d, &n);
        if (!cf_st_ok(d)) return false;
        int own = v >= 3 ? cf_detect_own_named(name, n) : -1;
        if (own >= 0) {
                j = cf_detect_n_rules + (size_t)own;
                if (*seen >> j & 1) return cf_st_fail(d, "table %.*s twice", (int)n, name);
                *seen |= 1ull << j;
                const cf_rule *ru = cf_detect_owns[own].rule;
                const void *cfg = cf_detect_rule_cfg(x, ru);
                const unsigned char *outer = cf_st_enter(d);
                cf_kvtab_restore(cf_detect_own_table(ps, own), d, 2, cf_detect_owns[own].get, cfg);
                cf_st_leave(d, outer, "a table");
                return cf_st_ok(d);
        }
        const cf_rule *ru = rule_named(name, n, &j);
        /* release 1-2 tables this build keeps differently are converted */
        bool convert = v == 1 && ru && (ru->replica_off || ru == &cf_rule_capacity_exceeded);
        if (!ru || (!ru->table_off && !convert))
                return cf_st_fail(d, "state for rule '%.*s', which keeps none in this build",
                                  (int)n, name);
        if (*seen >> j & 1) return cf_st_fail(d, "table of rule %s twice", ru->name);
        *seen |= 1ull << j;
        const unsigned char *outer = v == 1 ? d->end : cf_st_enter(d);
        /* the rule's name prefixes its messages */
        const char *what = d->what;
        char wbuf[96];
        snprintf(wbuf, sizeof(wbuf), "%s: %s", what, ru->name);
        d->what = wbuf;
        if (convert)
                cf_detect_convert_v1(x, ps, ru, d);
        else
                cf_kvtab_restore(cf_rule_table(ru, ps), d, v == 1 ? 1 : 2, ru->state_get,
                                 x->cfg[j]);
        d->what = what;
        if (v != 1) cf_st_leave(d, outer, "a table");
        return cf_st_ok(d);
}

/* The header: magic, version, first event time, number of tables. */
static bool read_header(cf_st_dec *d, int *version, cf_detect_part *ps, uint32_t *ntab)
{
        const unsigned char *m = cf_st_take(d, 4);
        if (!m) return false;
        if (!memcmp(m, "CFDT", 4)) {
                *version = cf_st_u16(d);
                if (cf_st_ok(d) && (*version < 2 || *version > SNAP_VERSION))
                        return cf_st_fail(d, "version %d, this build reads 1-%d", *version,
                                          SNAP_VERSION);
                ps->first_ms = cf_st_i64(d);
                *ntab = cf_st_u8(d);
        } else {
                uint32_t magic = cf_st_load32(m);
                if (magic != V1_MAGIC)
                        return cf_st_fail(d, "magic %08x: neither CFDT nor release 1-2's CDT1%s",
                                          magic,
                                          magic == V1_MAGIC + 1 ? " (CDT2: never released)" : "");
                *version = 1;
                *ntab = cf_st_u32(d);
                ps->first_ms = cf_st_i64(d);
        }
        if (!cf_st_ok(d)) return false;
        if (ps->first_ms != INT64_MAX &&
            (ps->first_ms < -CF_ST_TIME_LIMIT_MS || ps->first_ms > CF_ST_TIME_LIMIT_MS))
                return cf_st_fail(d, "first event time %lld ms not plausible",
                                  (long long)ps->first_ms);
        if (cf_detect_n_rules + CF_DETECT_OWNS > MAX_TABLES)
                return cf_st_fail(d, "%zu rules, state restore handles %d", cf_detect_n_rules,
                                  MAX_TABLES - CF_DETECT_OWNS);
        if (*ntab > cf_detect_n_rules + CF_DETECT_OWNS)
                return cf_st_fail(d, "%u tables, this build has %zu rules", *ntab,
                                  cf_detect_n_rules);
        return true;
}

cf_detect_part *cf_detect_state_restore(cf_detect *x, const void *data, size_t len, char *errstr,
                                        size_t errstr_size)
{
        cf_detect_part *ps = cf_detect_part_new(x);
        if (!len) return ps;
        cf_st_dec d;
        cf_st_dec_init(&d, data, len, "detect snapshot", errstr, errstr_size);
        int version = 0;
        uint32_t ntab = 0;
        uint64_t seen = 0;
        if (read_header(&d, &version, ps, &ntab))
                for (uint32_t k = 0; k < ntab; k++)
                        if (!read_table(x, ps, &d, version, &seen)) break;
        if (cf_st_done(&d)) return ps;
        cf_detect_part_free(ps);
        return NULL;
}
