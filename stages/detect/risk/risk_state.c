/*
 * risk_state.c - the risk model's snapshot: versioned, little-endian,
 * checksummed, sparse (only slots an outcome touched), so a model that has
 * seen little is small whatever its hash space.
 *
 * Layout (version 1): "CFRISK" u16 version, u64 settings fingerprint,
 * u64 outcomes, u64 frauds, u32 weight slots used, then per slot u32 index,
 * f32 z, f32 n; u32 counters used, then per counter u32 index, u32 fraud,
 * u32 n; u64 XXH64 of every byte before it. Weights are derived from z and n
 * on restore with the same arithmetic as learning, so a restored model is
 * bit-identical to the one snapshotted.
 *
 * @locality: the thread that owns the model.
 */
#include <stdio.h>
#include <string.h>

#include "stages/detect/risk/risk_int.h"

#define MAGIC   "CFRISK"
#define VERSION 1

static void put_u16(cf_buf *b, uint16_t v)
{
        unsigned char t[2] = {(unsigned char)v, (unsigned char)(v >> 8)};
        cf_buf_put(b, t, 2);
}

static void put_u32(cf_buf *b, uint32_t v)
{
        unsigned char t[4];
        for (int i = 0; i < 4; i++)
                t[i] = (unsigned char)(v >> (8 * i));
        cf_buf_put(b, t, 4);
}

static void put_u64(cf_buf *b, uint64_t v)
{
        put_u32(b, (uint32_t)v);
        put_u32(b, (uint32_t)(v >> 32));
}

static uint32_t f32_bits(float f)
{
        uint32_t u;
        memcpy(&u, &f, 4);
        return u;
}

void cf_risk_snapshot(const cf_risk *m, cf_buf *out)
{
        size_t start = out->len;
        cf_buf_put(out, MAGIC, 6);
        put_u16(out, VERSION);
        put_u64(out, m->fingerprint);
        put_u64(out, m->outcomes);
        put_u64(out, m->frauds);
        size_t at = out->len;
        uint32_t used = 0;
        put_u32(out, 0);
        for (uint32_t i = 0; i <= m->mask; i++) {
                if (m->n[i] == 0 && m->z[i] == 0) continue;
                put_u32(out, i);
                put_u32(out, f32_bits(m->z[i]));
                put_u32(out, f32_bits(m->n[i]));
                used++;
        }
        for (int k = 0; k < 4; k++)
                out->p[at + k] = (char)(used >> (8 * k));
        at = out->len;
        used = 0;
        put_u32(out, 0);
        for (uint32_t i = 0; i <= m->te_mask; i++) {
                if (!m->te[i].n) continue;
                put_u32(out, i);
                put_u32(out, m->te[i].fraud);
                put_u32(out, m->te[i].n);
                used++;
        }
        for (int k = 0; k < 4; k++)
                out->p[at + k] = (char)(used >> (8 * k));
        put_u64(out, XXH64(out->p + start, out->len - start, 0));
}

typedef struct reader {
        const unsigned char *p, *end;
} reader;

static int get_u32(reader *r, uint32_t *v)
{
        if (r->end - r->p < 4) return -1;
        *v = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 |
             (uint32_t)r->p[3] << 24;
        r->p += 4;
        return 0;
}

static int get_u64(reader *r, uint64_t *v)
{
        uint32_t lo, hi;
        if (get_u32(r, &lo) || get_u32(r, &hi)) return -1;
        *v = (uint64_t)hi << 32 | lo;
        return 0;
}

#define FAIL(...)                                                                                  \
        do {                                                                                       \
                snprintf(errstr, errstr_size, __VA_ARGS__);                                        \
                cf_risk_reset(m);                                                                  \
                return -1;                                                                         \
        } while (0)

int cf_risk_restore(cf_risk *m, const void *data, size_t len, char *errstr, size_t errstr_size)
{
        cf_risk_reset(m);
        if (!len) return 0;
        const unsigned char *p = data;
        if (len < 6 + 2 + 24 + 8 + 8 || memcmp(p, MAGIC, 6))
                FAIL("risk model snapshot: not a snapshot (%zu bytes)", len);
        uint64_t sum = 0;
        for (int k = 0; k < 8; k++)
                sum |= (uint64_t)p[len - 8 + k] << (8 * k);
        if (XXH64(p, len - 8, 0) != sum) FAIL("risk model snapshot: checksum mismatch");
        unsigned version = p[6] | p[7] << 8;
        if (version != VERSION)
                FAIL("risk model snapshot: version %u, this build reads %u", version, VERSION);
        reader r = {p + 8, p + len - 8};
        uint64_t fp, outcomes, frauds;
        get_u64(&r, &fp);
        get_u64(&r, &outcomes);
        get_u64(&r, &frauds);
        if (fp != m->fingerprint) {
                snprintf(errstr, errstr_size,
                         "risk model snapshot: taken with other model settings; re-learning "
                         "from the outcomes");
                return 1;
        }
        uint32_t n, idx, a, b;
        if (get_u32(&r, &n)) FAIL("risk model snapshot: truncated");
        for (uint32_t i = 0; i < n; i++) {
                if (get_u32(&r, &idx) || get_u32(&r, &a) || get_u32(&r, &b))
                        FAIL("risk model snapshot: truncated weights");
                if (idx > m->mask) FAIL("risk model snapshot: weight slot %u out of range", idx);
                memcpy(&m->z[idx], &a, 4);
                memcpy(&m->n[idx], &b, 4);
                m->w[idx] = cf_risk_weight_of(m, m->z[idx], m->n[idx]);
        }
        if (get_u32(&r, &n)) FAIL("risk model snapshot: truncated");
        for (uint32_t i = 0; i < n; i++) {
                if (get_u32(&r, &idx) || get_u32(&r, &a) || get_u32(&r, &b))
                        FAIL("risk model snapshot: truncated counters");
                if (idx > m->te_mask) FAIL("risk model snapshot: counter %u out of range", idx);
                m->te[idx].fraud = a;
                m->te[idx].n = b;
        }
        if (r.p != r.end)
                FAIL("risk model snapshot: %zu bytes of trailing data", (size_t)(r.end - r.p));
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
