/*
 * changelog_pick.c - see changelog_pick.h. Kept apart from the Kafka reads
 * (changelog.c) so the choice is tested without a broker (test_changelog_pick).
 *
 * Memory: every complete base within the bound is kept until the end of the
 * read (a delta of an older base may still come and make its chain the one
 * covering the most); writers tombstone a base once a newer one is committed,
 * so a log holds one or two. Snapshots of builds before deltas come one per
 * commit: of those only the one covering the most is kept, as before.
 *
 * @locality: worker thread (its restore).
 */
#include "pipeline/kafka/changelog_pick.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Most bytes reserved at once for an item read in chunks. */
#define RESERVE_MAX ((uint64_t)256 << 20)

void cf_clog_pick_init(cf_clog_pick *k, int64_t bound)
{
        memset(k, 0, sizeof(*k));
        k->bound = bound;
}

/* Digits at s (n bytes) as a number < 2^64 into *v; the bytes used, 0 when none or too many. */
static size_t num(const char *s, size_t n, int base, uint64_t *v)
{
        size_t i = 0;
        *v = 0;
        for (; i < n && i < (base == 16 ? 16u : 19u); i++) {
                int c = s[i], d = c >= '0' && c <= '9'                 ? c - '0'
                                  : base == 16 && c >= 'a' && c <= 'f' ? c - 'a' + 10
                                                                       : -1;
                if (d < 0) break;
                *v = *v * (uint64_t)base + (uint64_t)d;
        }
        return i;
}

/* Parse a key tail: its item (kind, base, seq) and chunk index; false when not one of ours. */
static bool parse_tail(const char *t, size_t n, const cf_clog_hdr *h, cf_clog_kind *kind,
                       uint64_t *base, uint64_t *seq, uint64_t *idx)
{
        size_t u;
        *seq = 0;
        if (n > 2 && (t[0] == 'b' || t[0] == 'd') && t[1] == '/') {
                *kind = t[0] == 'b' ? CF_CLOG_BASE : CF_CLOG_DELTA;
                t += 2, n -= 2;
                if (num(t, n, 16, base) != 16 || n < 18 || t[16] != '/') return false;
                t += 17, n -= 17;
                if (*kind == CF_CLOG_DELTA) {
                        if (!(u = num(t, n, 10, seq)) || u + 1 >= n || t[u] != '/' || !*seq)
                                return false;
                        t += u + 1, n -= u + 1;
                }
                return (u = num(t, n, 10, idx)) && u == n;
        }
        /* before deltas: "<i>" with the snapshot's id in cf.snapshot */
        *kind = CF_CLOG_LEGACY;
        *base = h->snapshot;
        return h->has_snapshot && (u = num(t, n, 10, idx)) && u == n;
}

static cf_clog_item *find(cf_clog_pick *k, cf_clog_kind kind, uint64_t base, uint64_t seq)
{
        for (size_t i = k->n; i-- > 0;)
                if (k->items[i].kind == kind && k->items[i].base == base && k->items[i].seq == seq)
                        return &k->items[i];
        return NULL;
}

static void drop(cf_clog_pick *k, cf_clog_item *it)
{
        cf_buf_free(&it->data);
        *it = k->items[--k->n];
}

static cf_clog_item *add(cf_clog_pick *k, cf_clog_kind kind, uint64_t base, uint64_t seq)
{
        if (k->n == k->cap) {
                k->cap = k->cap ? 2 * k->cap : 16;
                k->items = realloc(k->items, k->cap * sizeof(*k->items));
                if (!k->items) abort();
        }
        cf_clog_item *it = &k->items[k->n++];
        *it = (cf_clog_item){.kind = kind, .base = base, .seq = seq, .at = -1};
        return it;
}

/* A complete snapshot of a build before deltas: only the one covering the most (the later on
 * a tie) within the bound is kept. */
static void keep_best_legacy(cf_clog_pick *k, cf_clog_item *it)
{
        for (size_t i = 0; i < k->n; i++) {
                cf_clog_item *o = &k->items[i];
                if (o == it || o->kind != CF_CLOG_LEGACY || o->next != o->chunks) continue;
                if (o->covers <= it->covers) {
                        drop(k, o);
                        return; /* at most one other is kept */
                }
                drop(k, it);
                return;
        }
}

void cf_clog_pick_add(cf_clog_pick *k, const char *tail, size_t tail_len, const void *data,
                      size_t len, const cf_clog_hdr *h)
{
        cf_clog_kind kind;
        uint64_t base, seq, idx;
        if (!parse_tail(tail, tail_len, h, &kind, &base, &seq, &idx)) return;
        cf_clog_item *it = find(k, kind, base, seq);
        if (!data) { /* a tombstone: what the key held is gone */
                if (it) drop(k, it);
                return;
        }
        if (!h->has_chunks || !h->chunks || idx >= h->chunks) return;
        int64_t covers = h->has_offset ? (int64_t)h->offset : -1;
        if (idx == 0) { /* (re)written from its first chunk */
                if (!it) it = add(k, kind, base, seq);
                it->data.len = 0;
                it->chunks = h->chunks, it->next = 0, it->covers = covers, it->order = 0;
                it->at = h->at;
        }
        if (!it || idx != it->next || h->chunks != it->chunks || covers != it->covers) return;
        if (len) {
                /* chunks are all as long as the first but the last: one buffer, not one
                 * doubling (and a copy) per chunk; bounded, cf.chunks may be anything */
                if (idx == 0 && it->chunks > 1 && it->chunks <= RESERVE_MAX / len)
                        cf_buf_reserve(&it->data, it->chunks * len);
                cf_buf_put(&it->data, data, len);
        }
        if (++it->next != it->chunks) return;
        it->order = ++k->completed;
        if (kind != CF_CLOG_DELTA && it->covers > k->bound) {
                cf_buf_free(&it->data); /* not trusted: kept as an item to tombstone, no data */
                return;
        }
        if (kind == CF_CLOG_LEGACY) keep_best_legacy(k, it);
}

size_t cf_clog_pick_beyond(const cf_clog_pick *k)
{
        size_t n = 0;
        for (size_t i = 0; i < k->n; i++)
                n += k->items[i].kind != CF_CLOG_DELTA && k->items[i].next == k->items[i].chunks &&
                     k->items[i].covers > k->bound;
        return n;
}

/* The chain on base b within the bound: its deltas into out (if not NULL), what it covers. */
static int64_t chain(cf_clog_pick *k, const cf_clog_item *b, const cf_clog_item **out, size_t *nd)
{
        int64_t covers = b->covers;
        size_t n = 0;
        if (b->kind == CF_CLOG_BASE)
                for (uint64_t s = 1;; s++) {
                        const cf_clog_item *d = find(k, CF_CLOG_DELTA, b->base, s);
                        if (!d || d->next != d->chunks || d->covers > k->bound ||
                            d->covers < covers)
                                break;
                        if (out) out[n] = d;
                        n++;
                        covers = d->covers;
                }
        if (nd) *nd = n;
        return covers;
}

const cf_clog_item *cf_clog_pick_result(cf_clog_pick *k, const cf_clog_item ***deltas, size_t *nd,
                                        int64_t *covers)
{
        const cf_clog_item *best = NULL;
        int64_t best_cov = 0;
        for (size_t i = 0; i < k->n; i++) {
                const cf_clog_item *b = &k->items[i];
                if (b->kind == CF_CLOG_DELTA || b->next != b->chunks || b->covers > k->bound)
                        continue;
                int64_t c = chain(k, b, NULL, NULL);
                if (!best || c > best_cov || (c == best_cov && b->order > best->order))
                        best = b, best_cov = c;
        }
        *nd = 0;
        *deltas = NULL;
        *covers = best ? best_cov : -1;
        if (!best) return NULL;
        size_t n;
        chain(k, best, NULL, &n);
        free(k->chosen);
        k->chosen = malloc((n ? n : 1) * sizeof(*k->chosen));
        if (!k->chosen) abort();
        chain(k, best, k->chosen, nd);
        *deltas = k->chosen;
        return best;
}

size_t cf_clog_item_keys(const cf_clog_item *it, cf_buf *out)
{
        char key[96];
        for (uint64_t i = 0; i < it->chunks; i++) {
                int n = it->kind == CF_CLOG_LEGACY
                            ? snprintf(key, sizeof key, "%llu", (unsigned long long)i)
                        : it->kind == CF_CLOG_BASE
                            ? snprintf(key, sizeof key, "b/%016llx/%llu",
                                       (unsigned long long)it->base, (unsigned long long)i)
                            : snprintf(key, sizeof key, "d/%016llx/%llu/%llu",
                                       (unsigned long long)it->base, (unsigned long long)it->seq,
                                       (unsigned long long)i);
                cf_buf_put(out, key, (size_t)n + 1);
        }
        return (size_t)it->chunks;
}

void cf_clog_pick_free(cf_clog_pick *k)
{
        for (size_t i = 0; i < k->n; i++)
                cf_buf_free(&k->items[i].data);
        free(k->items);
        free(k->chosen);
        memset(k, 0, sizeof(*k));
}
