/*
 * detect_delta.c - the changes of one partition's detect state since its last
 * snapshot or delta (the incremental changelog, issue 18): the partition's
 * first event time and, per stateful rule, its table's delta (kvtab.c: the
 * current value of every key put since, the keys evicted or purged, the
 * table's counters and time).
 *
 * Format (stenc.h fields, little-endian):
 *   magic "CFTD" (4 bytes), version (u16, 3), first_ms (i64, INT64_MAX: no
 *   record yet), number of tables (u8: every stateful rule's, then the two own
 *   contribution tables "<rule>.own"), then per table its name (str8) and a
 *   block holding the table's delta. In the own tables' blocks each changed
 *   entry has a mode byte: its value whole, or its changes against the value
 *   the last delta left (detect_own.c: the sketch buckets, the ring slots that
 *   changed). Version 2: the own tables' values always whole (no mode byte);
 *   version 1: without the own tables. Both are read.
 *
 * Apply reads the whole delta twice: once to check every count, key and value
 * (against the rule's config and the table it changes), then to apply it, so a
 * refused delta changes nothing.
 *
 * @locality: the worker thread that owns the chain.
 */
#include <stdio.h>
#include <string.h>

#include "stages/detect/detect_int.h"

/* 2: the own contributions' tables (detect_own.c); 3: their values as changes */
#define DELTA_VERSION 3

void cf_detect_part_track(cf_detect_part *ps, bool on)
{
        for (size_t i = 0; i < cf_detect_n_rules; i++)
                if (cf_detect_rules[i]->table_off)
                        cf_kvtab_track(cf_rule_table(cf_detect_rules[i], ps), on);
        for (int i = 0; i < CF_DETECT_OWNS; i++) {
                /* their deltas write changes against the values the last one left */
                cf_kvtab_keep_bases(cf_detect_own_table(ps, i), on ? cf_detect_owns[i].put : NULL);
                cf_kvtab_track(cf_detect_own_table(ps, i), on);
        }
}

void cf_detect_state_delta(cf_detect *x, cf_detect_part *ps, cf_buf *out)
{
        if (!out) {
                for (size_t i = 0; i < cf_detect_n_rules; i++)
                        if (cf_detect_rules[i]->table_off)
                                cf_kvtab_delta_reset(cf_rule_table(cf_detect_rules[i], ps));
                for (int i = 0; i < CF_DETECT_OWNS; i++)
                        cf_kvtab_delta_reset(cf_detect_own_table(ps, i));
                return;
        }
        cf_detect_state_write(ps, out, "CFTD", DELTA_VERSION, cf_kvtab_delta, x->delta_bytes,
                              x->delta_keys);
}

/* One pass over the delta: check only (commit false) or apply. */
static bool pass(cf_detect *x, cf_detect_part *ps, cf_st_dec *d, bool commit)
{
        const unsigned char *m = cf_st_take(d, 4);
        if (m && memcmp(m, "CFTD", 4)) return cf_st_fail(d, "bad magic (not a detect delta)");
        unsigned version = cf_st_u16(d);
        if (cf_st_ok(d) && (version < 1 || version > DELTA_VERSION))
                return cf_st_fail(d, "version %u, this build reads 1-%d", version, DELTA_VERSION);
        int64_t first_ms = cf_st_i64(d);
        unsigned ntab = cf_st_u8(d);
        if (!cf_st_ok(d)) return false;
        if (first_ms != INT64_MAX &&
            (first_ms < -CF_ST_TIME_LIMIT_MS || first_ms > CF_ST_TIME_LIMIT_MS))
                return cf_st_fail(d, "first event time %lld ms not plausible", (long long)first_ms);
        if (first_ms > ps->first_ms)
                return cf_st_fail(d,
                                  "first event time %lld ms after the state's %lld: another base",
                                  (long long)first_ms, (long long)ps->first_ms);
        size_t want = 0;
        for (size_t i = 0; i < cf_detect_n_rules; i++)
                want += cf_detect_rules[i]->table_off != 0;
        if (version >= 2) want += CF_DETECT_OWNS;
        if (ntab != want) return cf_st_fail(d, "%u tables, this build keeps %zu", ntab, want);
        uint64_t seen = 0;
        const char *what = d->what;
        for (unsigned k = 0; k < ntab && cf_st_ok(d); k++) {
                size_t n, j = 0;
                const char *name = cf_st_bytes8(d, &n);
                if (!cf_st_ok(d)) break;
                int own = version >= 2 ? cf_detect_own_named(name, n) : -1;
                if (own >= 0) {
                        unsigned bit = (unsigned)cf_detect_n_rules + (unsigned)own;
                        if (seen >> bit & 1) return cf_st_fail(d, "table %.*s twice", (int)n, name);
                        seen |= 1ull << bit;
                        const unsigned char *outer = cf_st_enter(d);
                        cf_kvtab_apply_delta(
                            cf_detect_own_table(ps, own), d, cf_detect_owns[own].get,
                            version >= 3 ? cf_detect_owns[own].patch : NULL,
                            cf_detect_rule_cfg(x, cf_detect_owns[own].rule), commit);
                        cf_st_leave(d, outer, "a table delta");
                        continue;
                }
                for (; j < cf_detect_n_rules; j++)
                        if (strlen(cf_detect_rules[j]->name) == n &&
                            !memcmp(cf_detect_rules[j]->name, name, n))
                                break;
                if (j == cf_detect_n_rules || !cf_detect_rules[j]->table_off)
                        return cf_st_fail(d, "delta for rule '%.*s', which keeps no table", (int)n,
                                          name);
                if (seen >> j & 1)
                        return cf_st_fail(d, "table of rule %s twice", cf_detect_rules[j]->name);
                seen |= 1ull << j;
                const cf_rule *ru = cf_detect_rules[j];
                const unsigned char *outer = cf_st_enter(d);
                char wbuf[96];
                snprintf(wbuf, sizeof(wbuf), "%s: %s", what, ru->name);
                d->what = wbuf;
                cf_kvtab_apply_delta(cf_rule_table(ru, ps), d, ru->state_get, NULL, x->cfg[j],
                                     commit);
                d->what = what;
                cf_st_leave(d, outer, "a table delta");
        }
        if (commit && cf_st_ok(d)) ps->first_ms = first_ms;
        return cf_st_done(d);
}

int cf_detect_state_apply_delta(cf_detect *x, cf_detect_part *ps, const void *data, size_t len,
                                char *errstr, size_t errstr_size)
{
        cf_st_dec d;
        cf_st_dec_init(&d, data, len, "detect delta", errstr, errstr_size);
        if (!pass(x, ps, &d, false)) return -1;
        cf_st_dec_init(&d, data, len, "detect delta", errstr, errstr_size);
        if (!pass(x, ps, &d, true)) return -1; /* cannot happen: the same bytes passed */
        return 0;
}
