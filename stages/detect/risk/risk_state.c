/*
 * risk_state.c - the risk model's snapshot: versioned, little-endian,
 * checksummed, sparse (only slots an outcome touched), so a model that has
 * seen little is small whatever its hash space.
 *
 * Layout (version 2, pipeline/core/stenc.h fields; the sealed global state
 * around it carries the checksum): "CFRISK", u16 version, u64 settings
 * fingerprint, u64 outcomes, u64 frauds, u64 weight slots used, then per slot
 * (increasing) u32 index, f32 z, f32 n; u64 counters used, then per counter
 * (increasing) u32 index, u32 fraud, u32 n. Weights are derived from z and n
 * on restore with the same arithmetic as learning, so a restored model is
 * bit-identical to the one snapshotted. Version 1 (its own XXH64 trailer,
 * never released) is refused: the outcomes are re-learnt.
 *
 * @locality: the thread that owns the model.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "pipeline/core/stenc.h"
#include "stages/detect/risk/risk_int.h"

#define MAGIC   "CFRISK"
#define VERSION 2

void cf_risk_snapshot(const cf_risk *m, cf_buf *out)
{
        memcpy(cf_st_room(out, 6), MAGIC, 6);
        cf_st_put_u16(out, VERSION);
        cf_st_put_u64(out, m->fingerprint);
        cf_st_put_u64(out, m->outcomes);
        cf_st_put_u64(out, m->frauds);
        size_t at = out->len;
        uint64_t used = 0;
        cf_st_put_u64(out, 0);
        for (uint32_t i = 0; i <= m->mask; i++) {
                if (m->n[i] == 0 && m->z[i] == 0) continue;
                cf_st_put_u32(out, i);
                cf_st_put_f32(out, m->z[i]);
                cf_st_put_f32(out, m->n[i]);
                used++;
        }
        cf_st_store64((unsigned char *)out->p + at, used);
        at = out->len;
        used = 0;
        cf_st_put_u64(out, 0);
        for (uint32_t i = 0; i <= m->te_mask; i++) {
                if (!m->te[i].n) continue;
                cf_st_put_u32(out, i);
                cf_st_put_u32(out, m->te[i].fraud);
                cf_st_put_u32(out, m->te[i].n);
                used++;
        }
        cf_st_store64((unsigned char *)out->p + at, used);
}

/* A slot index after prev (-1: the first) and at most max. */
static uint32_t get_index(cf_st_dec *d, int64_t prev, uint32_t max, const char *what)
{
        uint32_t i = cf_st_u32(d);
        if (cf_st_ok(d) && ((int64_t)i <= prev || i > max))
                cf_st_fail(d, "%s %u out of order or beyond %u", what, i, max);
        return i;
}

/* The weights and counters into m (reset); false with the reason in d. */
static bool read_tables(cf_risk *m, cf_st_dec *d)
{
        uint64_t n = cf_st_count(d, 12, (uint64_t)m->mask + 1, "weight slots");
        int64_t prev = -1;
        for (uint64_t k = 0; k < n && cf_st_ok(d); k++) {
                uint32_t i = get_index(d, prev, m->mask, "weight slot");
                float z = cf_st_f32(d), c = cf_st_f32(d);
                if (cf_st_ok(d) && (!isfinite(z) || !isfinite(c) || c < 0))
                        return cf_st_fail(d, "weight slot %u: z %g, n %g", i, z, c);
                if (!cf_st_ok(d)) break;
                m->z[i] = z, m->n[i] = c;
                m->w[i] = cf_risk_weight_of(m, z, c);
                prev = i;
        }
        n = cf_st_count(d, 12, (uint64_t)m->te_mask + 1, "counters");
        prev = -1;
        for (uint64_t k = 0; k < n && cf_st_ok(d); k++) {
                uint32_t i = get_index(d, prev, m->te_mask, "counter");
                uint32_t fraud = cf_st_u32(d), c = cf_st_u32(d);
                if (cf_st_ok(d) && (!c || fraud > c))
                        return cf_st_fail(d, "counter %u: %u frauds of %u", i, fraud, c);
                if (!cf_st_ok(d)) break;
                m->te[i].fraud = fraud, m->te[i].n = c;
                prev = i;
        }
        return cf_st_done(d);
}

int cf_risk_restore(cf_risk *m, const void *data, size_t len, char *errstr, size_t errstr_size)
{
        cf_risk_reset(m);
        if (!len) return 0;
        cf_st_dec d;
        cf_st_dec_init(&d, data, len, "risk model snapshot", errstr, errstr_size);
        const unsigned char *magic = cf_st_take(&d, 6);
        if (magic && memcmp(magic, MAGIC, 6)) cf_st_fail(&d, "not a snapshot (%zu bytes)", len);
        unsigned version = cf_st_u16(&d);
        if (cf_st_ok(&d) && version != VERSION)
                cf_st_fail(&d, "version %u, this build reads %u", version, VERSION);
        uint64_t fp = cf_st_u64(&d), outcomes = cf_st_u64(&d), frauds = cf_st_u64(&d);
        if (cf_st_ok(&d) && fp != m->fingerprint) {
                snprintf(errstr, errstr_size,
                         "risk model snapshot: taken with other model settings; re-learning "
                         "from the outcomes");
                return 1;
        }
        if (cf_st_ok(&d) && frauds > outcomes)
                cf_st_fail(&d, "%llu frauds of %llu outcomes", (unsigned long long)frauds,
                           (unsigned long long)outcomes);
        if (!cf_st_ok(&d) || !read_tables(m, &d)) {
                cf_risk_reset(m);
                return -1;
        }
        m->outcomes = outcomes;
        m->frauds = frauds;
        return 0;
}

uint64_t cf_risk_checksum(const cf_risk *m)
{
        XXH3_state_t st;
        XXH3_64bits_reset(&st);
        size_t slots = (size_t)m->mask + 1;
        XXH3_64bits_update(&st, m->w, slots * sizeof(float));
        XXH3_64bits_update(&st, m->z, slots * sizeof(float));
        XXH3_64bits_update(&st, m->n, slots * sizeof(float));
        XXH3_64bits_update(&st, m->te, ((size_t)m->te_mask + 1) * sizeof(risk_count));
        uint64_t c[2] = {m->outcomes, m->frauds};
        XXH3_64bits_update(&st, c, sizeof c);
        return XXH3_64bits_digest(&st);
}
