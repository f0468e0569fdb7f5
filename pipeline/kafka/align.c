/*
 * align.c - records of several partitions handed out in timestamp order (align.h).
 *
 * Each partition's records are a ring (arrival order is offset order); the partitions
 * holding records are a binary heap on their oldest record's (timestamp, arrival
 * number), so a take costs O(log partitions). A count of waiting partitions (a wait
 * flag and an empty ring) makes the "may I take" question O(1).
 *
 * @locality: the worker thread that owns it.
 */
#include <stdlib.h>

#include "pipeline/kafka/align.h"

typedef struct slot {
        void *item;
        int64_t ts;
        uint64_t seq; /* arrival number: ties keep arrival order */
        size_t bytes;
} slot;

typedef struct ring {
        slot *s;
        uint32_t cap, head, n; /* cap: a power of two, or 0 */
        int32_t at;            /* index in the heap, -1: not in it (empty) */
        bool wait;
} ring;

struct cf_align {
        int32_t n_parts;
        ring *r;
        int32_t *heap; /* partitions holding records */
        int32_t n_heap;
        int32_t n_waiting; /* partitions with wait set and nothing held */
        uint64_t seq;
        size_t bytes, count;
};

cf_align *cf_align_new(int32_t n_parts)
{
        cf_align *a = calloc(1, sizeof *a);
        if (!a) return NULL;
        a->n_parts = n_parts;
        a->r = calloc((size_t)n_parts, sizeof *a->r);
        a->heap = calloc((size_t)n_parts, sizeof *a->heap);
        if (!a->r || !a->heap) {
                cf_align_free(a, NULL);
                return NULL;
        }
        for (int32_t p = 0; p < n_parts; p++)
                a->r[p].at = -1;
        return a;
}

static const slot *head_of(const cf_align *a, int32_t p)
{
        const ring *r = &a->r[p];
        return &r->s[r->head];
}

static bool older(const cf_align *a, int32_t p, int32_t q)
{
        const slot *x = head_of(a, p), *y = head_of(a, q);
        return x->ts < y->ts || (x->ts == y->ts && x->seq < y->seq);
}

static void put_at(cf_align *a, int32_t i, int32_t p)
{
        a->heap[i] = p;
        a->r[p].at = i;
}

static void sift_up(cf_align *a, int32_t i)
{
        int32_t p = a->heap[i];
        while (i > 0) {
                int32_t up = (i - 1) / 2;
                if (!older(a, p, a->heap[up])) break;
                put_at(a, i, a->heap[up]);
                i = up;
        }
        put_at(a, i, p);
}

static void sift_down(cf_align *a, int32_t i)
{
        int32_t p = a->heap[i];
        for (;;) {
                int32_t c = 2 * i + 1;
                if (c >= a->n_heap) break;
                if (c + 1 < a->n_heap && older(a, a->heap[c + 1], a->heap[c])) c++;
                if (!older(a, a->heap[c], p)) break;
                put_at(a, i, a->heap[c]);
                i = c;
        }
        put_at(a, i, p);
}

/* Take p (now empty) out of the heap. */
static void heap_remove(cf_align *a, int32_t p)
{
        int32_t i = a->r[p].at;
        a->r[p].at = -1;
        int32_t last = a->heap[--a->n_heap];
        if (i == a->n_heap) return;
        put_at(a, i, last);
        sift_down(a, i);
        sift_up(a, a->r[last].at);
}

static int grow(ring *r)
{
        uint32_t cap = r->cap ? r->cap * 2 : 64;
        slot *s = malloc((size_t)cap * sizeof *s);
        if (!s) return -1;
        for (uint32_t i = 0; i < r->n; i++)
                s[i] = r->s[(r->head + i) & (r->cap - 1)];
        free(r->s);
        r->s = s;
        r->cap = cap;
        r->head = 0;
        return 0;
}

int cf_align_add(cf_align *a, int32_t p, int64_t ts, size_t bytes, void *item)
{
        ring *r = &a->r[p];
        if (r->n == r->cap && grow(r)) return -1;
        r->s[(r->head + r->n) & (r->cap - 1)] = (slot){item, ts, a->seq++, bytes};
        r->n++;
        a->bytes += bytes;
        a->count++;
        if (r->n == 1) { /* was empty: now in the heap, and no longer waiting */
                if (r->wait) a->n_waiting--;
                put_at(a, a->n_heap++, p);
                sift_up(a, a->n_heap - 1);
        }
        return 0;
}

void cf_align_set_wait(cf_align *a, int32_t p, bool wait)
{
        ring *r = &a->r[p];
        if (r->wait == wait) return;
        r->wait = wait;
        if (!r->n) a->n_waiting += wait ? 1 : -1;
}

void *cf_align_take(cf_align *a, bool force)
{
        if (!a->n_heap || (a->n_waiting && !force)) return NULL;
        int32_t p = a->heap[0];
        ring *r = &a->r[p];
        slot s = r->s[r->head];
        r->head = (r->head + 1) & (r->cap - 1);
        r->n--;
        a->bytes -= s.bytes;
        a->count--;
        if (r->n) {
                sift_down(a, 0);
        } else {
                heap_remove(a, p);
                if (r->wait) a->n_waiting++;
        }
        return s.item;
}

bool cf_align_blocked(const cf_align *a)
{
        return a->n_heap && a->n_waiting;
}

size_t cf_align_bytes(const cf_align *a)
{
        return a->bytes;
}

size_t cf_align_count(const cf_align *a)
{
        return a->count;
}

void cf_align_drop(cf_align *a, int32_t p, cf_align_drop_fn drop)
{
        ring *r = &a->r[p];
        cf_align_set_wait(a, p, false);
        if (!r->n) return;
        for (uint32_t i = 0; i < r->n; i++) {
                slot *s = &r->s[(r->head + i) & (r->cap - 1)];
                a->bytes -= s->bytes;
                if (drop) drop(s->item);
        }
        a->count -= r->n;
        r->n = 0;
        r->head = 0;
        heap_remove(a, p);
}

void cf_align_free(cf_align *a, cf_align_drop_fn drop)
{
        if (!a) return;
        for (int32_t p = 0; a->r && p < a->n_parts; p++) {
                if (a->r[p].n) cf_align_drop(a, p, drop);
                free(a->r[p].s);
        }
        free(a->r);
        free(a->heap);
        free(a);
}
