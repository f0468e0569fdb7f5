/*
 * lnsketch.c - see lnsketch.h. Hand-written: DDSketch, KLL and t-digest
 * libraries are not in Debian for C, and the ones that exist either merge
 * approximately (KLL, t-digest: the result depends on the order of merges,
 * which would make detection depend on the partitioning) or bucket relative
 * to the value (DDSketch), which in ln space is this fixed grid anyway.
 */
#include "stages/detect/lnsketch.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* floor(i / 2^k) for any sign (C's >> on a negative int is implementation-defined). */
static inline int32_t floor_shift(int32_t i, unsigned k)
{
        return i >= 0 ? i >> k : -(int32_t)((uint32_t)(-(i + 1)) >> k) - 1;
}

static inline uint32_t sat_add(uint32_t a, uint32_t b)
{
        return a > UINT32_MAX - b ? UINT32_MAX : a + b;
}

int32_t cf_lns_fine(double x)
{
        if (!(x > -CF_LNS_X_LIMIT)) x = -CF_LNS_X_LIMIT; /* NaN too: callers pass finite x */
        if (x > CF_LNS_X_LIMIT) x = CF_LNS_X_LIMIT;
        return (int32_t)floor(ldexp(x, CF_LNS_FINE_BITS));
}

static void grow(cf_lns *s, uint32_t need)
{
        if (need <= s->cap) return;
        uint32_t cap = s->cap ? s->cap : 8;
        while (cap < need)
                cap *= 2;
        int32_t *idx = realloc(s->idx, cap * sizeof(*idx));
        uint32_t *cnt = realloc(s->cnt, 2 * (size_t)cap * sizeof(*cnt));
        if (!idx || !cnt) abort();
        s->idx = idx;
        s->cnt = cnt;
        s->cap = cap;
}

/* Position of bucket i (inserted with zero counts when absent). */
static uint32_t slot(cf_lns *s, int32_t i)
{
        uint32_t lo = 0, hi = s->n;
        while (lo < hi) {
                uint32_t mid = (lo + hi) / 2;
                if (s->idx[mid] < i)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        if (lo < s->n && s->idx[lo] == i) return lo;
        grow(s, s->n + 1);
        memmove(s->idx + lo + 1, s->idx + lo, (s->n - lo) * sizeof(*s->idx));
        memmove(s->cnt + 2 * lo + 2, s->cnt + 2 * lo, 2 * (size_t)(s->n - lo) * sizeof(*s->cnt));
        s->idx[lo] = i;
        s->cnt[2 * lo] = s->cnt[2 * lo + 1] = 0;
        s->n++;
        return lo;
}

/* Drop buckets whose two counts are zero. */
static void compact(cf_lns *s)
{
        uint32_t o = 0;
        for (uint32_t i = 0; i < s->n; i++) {
                if (!s->cnt[2 * i] && !s->cnt[2 * i + 1]) continue;
                s->idx[o] = s->idx[i];
                s->cnt[2 * o] = s->cnt[2 * i];
                s->cnt[2 * o + 1] = s->cnt[2 * i + 1];
                o++;
        }
        s->n = o;
}

/* One level coarser: buckets 2i and 2i + 1 become i (order is kept). */
static void collapse(cf_lns *s)
{
        uint32_t o = 0;
        for (uint32_t i = 0; i < s->n; i++) {
                int32_t k = floor_shift(s->idx[i], 1);
                if (o && s->idx[o - 1] == k) {
                        s->cnt[2 * (o - 1)] = sat_add(s->cnt[2 * (o - 1)], s->cnt[2 * i]);
                        s->cnt[2 * (o - 1) + 1] =
                            sat_add(s->cnt[2 * (o - 1) + 1], s->cnt[2 * i + 1]);
                        continue;
                }
                s->idx[o] = k;
                s->cnt[2 * o] = s->cnt[2 * i];
                s->cnt[2 * o + 1] = s->cnt[2 * i + 1];
                o++;
        }
        s->n = o;
        s->level++;
        s->total = 0; /* counts that saturated in the sum are lost: recount */
        for (uint32_t i = 0; i < s->n; i++)
                s->total += (uint64_t)s->cnt[2 * i] + s->cnt[2 * i + 1];
}

void cf_lns_roll(cf_lns *s, int32_t gen)
{
        if (gen <= s->gen) return;
        bool next = s->gen != CF_LNS_GEN_NONE && (int64_t)gen == (int64_t)s->gen + 1;
        for (uint32_t i = 0; i < s->n; i++) {
                s->cnt[2 * i] = next ? s->cnt[2 * i + 1] : 0;
                s->cnt[2 * i + 1] = 0;
        }
        s->gen = gen;
        compact(s);
        s->total = 0;
        for (uint32_t i = 0; i < s->n; i++)
                s->total += (uint64_t)s->cnt[2 * i] + s->cnt[2 * i + 1];
}

/* The count of generation g (the current or the previous one) in bucket position p. */
static uint32_t *gen_slot(cf_lns *s, int32_t g, uint32_t p)
{
        return &s->cnt[2 * p + (g == s->gen)];
}

void cf_lns_add(cf_lns *s, int32_t gen, int32_t fine, uint32_t count)
{
        if (!count) return;
        cf_lns_roll(s, gen);
        if ((int64_t)gen < (int64_t)s->gen - 1) return; /* older than the previous generation */
        uint32_t *c = gen_slot(s, gen, slot(s, floor_shift(fine, s->level)));
        uint32_t was = *c;
        *c = sat_add(*c, count);
        s->total += *c - was;
}

/* dst += src (add) or dst -= src: bucket by bucket on dst's grid, generation by generation.
 * Adding rolls dst forward to src's generation first; subtracting never rolls. */
static void combine(cf_lns *dst, const cf_lns *src, bool add)
{
        while (dst->level < src->level)
                collapse(dst);
        if (add) cf_lns_roll(dst, src->gen);
        unsigned shift = (unsigned)(dst->level - src->level);
        for (uint32_t j = 0; j < src->n; j++) {
                int32_t i = floor_shift(src->idx[j], shift);
                for (int k = 0; k < 2; k++) {
                        int32_t g = (int32_t)((int64_t)src->gen - 1 + k);
                        uint32_t c = src->cnt[2 * j + k];
                        if (!c || (int64_t)g < (int64_t)dst->gen - 1 || g > dst->gen) continue;
                        uint32_t *d = gen_slot(dst, g, slot(dst, i));
                        uint32_t was = *d;
                        if (add) {
                                *d = sat_add(*d, c);
                                dst->total += *d - was;
                        } else {
                                *d = *d > c ? *d - c : 0;
                                dst->total -= was - *d;
                        }
                }
        }
}

void cf_lns_merge(cf_lns *dst, const cf_lns *src)
{
        if (src->gen == CF_LNS_GEN_NONE) return;
        combine(dst, src, true);
}

void cf_lns_sub(cf_lns *dst, const cf_lns *src)
{
        if (src->gen == CF_LNS_GEN_NONE || dst->gen == CF_LNS_GEN_NONE) return;
        combine(dst, src, false);
        compact(dst);
}

void cf_lns_settle(cf_lns *s, uint32_t max)
{
        if (max < 2) max = 2;
        while (s->n > max && s->level < CF_LNS_MAX_LEVEL)
                collapse(s);
}

uint64_t cf_lns_count(const cf_lns *s)
{
        return s->total;
}

static inline double total(const cf_lns *s, uint32_t i)
{
        return (double)s->cnt[2 * i] + (double)s->cnt[2 * i + 1];
}

/* One side of the median for the MAD: a walk over segments of constant density
 * (the rest of the median's bucket, then gaps and buckets), outward. */
typedef struct walk {
        const cf_lns *s;
        int64_t k;   /* bucket the walk is in or next to */
        int dir;     /* +1 right, -1 left */
        bool in_gap; /* the current segment is the gap before bucket k */
        double len, rho, w;
} walk;

static void walk_next(walk *a)
{
        const cf_lns *s = a->s;
        if (!a->in_gap) { /* leave bucket k: the gap to the next one, if any */
                int64_t nk = a->k + a->dir;
                if (nk < 0 || nk >= (int64_t)s->n) {
                        a->len = INFINITY;
                        a->rho = 0;
                        return;
                }
                int64_t gap = a->dir > 0 ? (int64_t)s->idx[nk] - s->idx[a->k] - 1
                                         : (int64_t)s->idx[a->k] - s->idx[nk] - 1;
                a->k = nk;
                if (gap > 0) {
                        a->in_gap = true;
                        a->len = (double)gap * a->w;
                        a->rho = 0;
                        return;
                }
        }
        a->in_gap = false;
        a->len = a->w;
        a->rho = total(s, (uint32_t)a->k) / a->w;
}

bool cf_lns_median_mad(const cf_lns *s, double *median, double *mad)
{
        double n = 0;
        for (uint32_t i = 0; i < s->n; i++)
                n += total(s, i);
        if (!(n > 0)) return false;
        double w = ldexp(1.0, (int)s->level - CF_LNS_FINE_BITS), half = n / 2, acc = 0;
        uint32_t j = 0;
        while (j + 1 < s->n && acc + total(s, j) < half)
                acc += total(s, j++);
        double f = (half - acc) / total(s, j); /* where the median is in bucket j, 0..1 */
        if (f > 1) f = 1;
        *median = ((double)s->idx[j] + f) * w;
        /* MAD: the distance d at which [median - d, median + d] holds half the mass */
        walk r = {s, j, +1, false, (1 - f) * w, total(s, j) / w, w};
        walk l = {s, j, -1, false, f * w, total(s, j) / w, w};
        double m = 0, d = 0;
        for (;;) {
                double step = r.len < l.len ? r.len : l.len, rate = r.rho + l.rho;
                if (rate > 0 && m + rate * step >= half) {
                        d += (half - m) / rate;
                        break;
                }
                if (isinf(step)) break; /* not reached: the whole mass is n >= half */
                m += rate * step;
                d += step;
                r.len -= step;
                l.len -= step;
                if (r.len <= 0) walk_next(&r);
                if (l.len <= 0) walk_next(&l);
        }
        *mad = d;
        return true;
}

void cf_lns_copy(cf_lns *dst, const cf_lns *src)
{
        grow(dst, src->n);
        if (src->n) {
                memcpy(dst->idx, src->idx, src->n * sizeof(*src->idx));
                memcpy(dst->cnt, src->cnt, 2 * (size_t)src->n * sizeof(*src->cnt));
        }
        dst->n = src->n;
        dst->gen = src->gen;
        dst->level = src->level;
        dst->total = src->total;
}

void cf_lns_put(cf_buf *out, const cf_lns *s)
{
        cf_st_put_u32(out, (uint32_t)s->gen);
        cf_st_put_u8(out, s->level);
        cf_st_put_u32(out, s->n);
        for (uint32_t i = 0; i < s->n; i++) {
                cf_st_put_u32(out, (uint32_t)s->idx[i]);
                cf_st_put_u32(out, s->cnt[2 * i]);
                cf_st_put_u32(out, s->cnt[2 * i + 1]);
        }
}

bool cf_lns_get(cf_st_dec *d, cf_lns *s)
{
        s->n = 0;
        s->total = 0;
        s->gen = (int32_t)cf_st_u32(d);
        s->level = cf_st_u8(d);
        uint32_t n = cf_st_u32(d);
        if (!cf_st_ok(d)) return false;
        if (s->level > CF_LNS_MAX_LEVEL) return cf_st_fail(d, "sketch level %u", s->level);
        if (n > cf_st_left(d) / 12) return cf_st_fail(d, "%u sketch buckets: truncated", n);
        if (n && s->gen == CF_LNS_GEN_NONE)
                return cf_st_fail(d, "sketch with buckets but no generation");
        grow(s, n);
        for (uint32_t i = 0; i < n; i++) {
                int32_t idx = (int32_t)cf_st_u32(d);
                uint32_t p = cf_st_u32(d), c = cf_st_u32(d);
                if (!cf_st_ok(d)) return false;
                if ((i && idx <= s->idx[i - 1]) || (!p && !c))
                        return cf_st_fail(d, "sketch bucket %d out of order or empty", idx);
                s->idx[i] = idx;
                s->cnt[2 * i] = p;
                s->cnt[2 * i + 1] = c;
                s->n = i + 1;
                s->total += (uint64_t)p + c;
        }
        return true;
}

/* ---- deltas: the buckets changed since the last checkpoint ---- */

/* A merge of the base's buckets (n at e, 12 bytes each) with s's, emitting what differs. */
static void diff_walk(cf_st_changes *c, const unsigned char *e, uint32_t n, const cf_lns *s)
{
        uint32_t i = 0, j = 0;
        while (i < n || j < s->n) {
                int32_t bi = i < n ? (int32_t)cf_st_load32(e + 12 * i) : 0;
                if (j == s->n || (i < n && bi < s->idx[j])) { /* gone */
                        cf_st_put_change(c, bi, 0, 0);
                        i++;
                } else if (i == n || s->idx[j] < bi) { /* new */
                        cf_st_put_change(c, s->idx[j], s->cnt[2 * j], s->cnt[2 * j + 1]);
                        j++;
                } else {
                        if (cf_st_load32(e + 12 * i + 4) != s->cnt[2 * j] ||
                            cf_st_load32(e + 12 * i + 8) != s->cnt[2 * j + 1])
                                cf_st_put_change(c, s->idx[j], s->cnt[2 * j], s->cnt[2 * j + 1]);
                        i++;
                        j++;
                }
        }
}

bool cf_lns_diff(cf_buf *out, cf_st_dec *base, const cf_lns *s)
{
        int32_t gen = (int32_t)cf_st_u32(base);
        uint8_t level = cf_st_u8(base);
        uint32_t n = cf_st_u32(base);
        if (!cf_st_ok(base) || gen != s->gen || level != s->level || cf_st_left(base) / 12 < n)
                return false;
        cf_st_changes c = {NULL, 0, 0};
        diff_walk(&c, base->p, n, s);
        /* a bucket changed costs ~5-9 bytes against 12 whole: past half, whole is as small */
        if (c.n > s->n / 2 + 2) return false;
        cf_st_put_uv(out, c.n);
        c = (cf_st_changes){out, 0, 0};
        diff_walk(&c, base->p, n, s);
        return true;
}

static void push(cf_lns *s, int32_t idx, uint32_t p, uint32_t q)
{
        s->idx[s->n] = idx;
        s->cnt[2 * s->n] = p;
        s->cnt[2 * s->n + 1] = q;
        s->n++;
        s->total += (uint64_t)p + q;
}

bool cf_lns_patch(cf_st_dec *d, const cf_lns *old, cf_lns *s)
{
        uint64_t k = cf_st_uv(d);
        if (!cf_st_ok(d)) return false;
        if (k > cf_st_left(d) / 3) /* a change takes 3 bytes at least */
                return cf_st_fail(d, "%llu sketch buckets changed: truncated",
                                  (unsigned long long)k);
        grow(s, old->n + (uint32_t)k);
        s->n = 0;
        s->total = 0;
        s->gen = old->gen;
        s->level = old->level;
        uint32_t i = 0;
        int64_t prev = 0;
        for (uint64_t c = 0; c < k; c++) {
                int64_t idx;
                if (c) {
                        uint64_t gap = cf_st_uv(d); /* beyond 32 bits: out of range below */
                        idx = gap > UINT32_MAX ? INT64_MAX : prev + 1 + (int64_t)gap;
                } else {
                        idx = cf_st_sv(d);
                }
                uint64_t p = cf_st_uv(d), q = cf_st_uv(d);
                if (!cf_st_ok(d)) return false;
                if (idx < INT32_MIN || idx > INT32_MAX || p > UINT32_MAX || q > UINT32_MAX)
                        return cf_st_fail(d, "sketch bucket %lld (counts %llu, %llu) out of range",
                                          (long long)idx, (unsigned long long)p,
                                          (unsigned long long)q);
                while (i < old->n && old->idx[i] < idx) {
                        push(s, old->idx[i], old->cnt[2 * i], old->cnt[2 * i + 1]);
                        i++;
                }
                bool held = i < old->n && old->idx[i] == idx;
                i += held;
                if (!p && !q) {
                        if (!held)
                                return cf_st_fail(d, "sketch bucket %lld removed, not held",
                                                  (long long)idx);
                } else {
                        push(s, (int32_t)idx, (uint32_t)p, (uint32_t)q);
                }
                prev = idx;
        }
        for (; i < old->n; i++)
                push(s, old->idx[i], old->cnt[2 * i], old->cnt[2 * i + 1]);
        if (s->n && s->gen == CF_LNS_GEN_NONE)
                return cf_st_fail(d, "sketch with buckets but no generation");
        return true;
}

void cf_lns_free(cf_lns *s)
{
        free(s->idx);
        free(s->cnt);
        *s = (cf_lns)CF_LNS_INIT;
}
