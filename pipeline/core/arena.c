/*
 * arena.c - per-batch bump allocator.
 */
#include "pipeline/core/arena.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cf_arena_chunk {
        cf_arena_chunk *next;
        size_t size;
        size_t used;
        _Alignas(16) unsigned char data[];
};

static cf_arena_chunk *chunk_new(size_t size)
{
        cf_arena_chunk *c = malloc(sizeof(*c) + size);
        if (!c) {
                fprintf(stderr, "customsflow: out of memory (arena chunk %zu bytes)\n", size);
                abort();
        }
        c->next = NULL;
        c->size = size;
        c->used = 0;
        return c;
}

void cf_arena_init(cf_arena *a, size_t chunk_size)
{
        a->chunk_size = chunk_size ? chunk_size : 1 << 20;
        a->first = a->head = chunk_new(a->chunk_size);
        a->used_total = 0;
}

void *cf_arena_alloc(cf_arena *a, size_t n)
{
        n = (n + 15) & ~(size_t)15;
        cf_arena_chunk *c = a->head;
        if (c->used + n > c->size) {
                /* Chunks are chained in order so reset can free all but the first. */
                size_t sz = n > a->chunk_size ? n : a->chunk_size;
                cf_arena_chunk *nc = chunk_new(sz);
                c->next = nc;
                a->head = c = nc;
        }
        void *p = c->data + c->used;
        c->used += n;
        a->used_total += n;
        return p;
}

void *cf_arena_calloc(cf_arena *a, size_t n)
{
        void *p = cf_arena_alloc(a, n);
        memset(p, 0, n);
        return p;
}

char *cf_arena_strndup(cf_arena *a, const char *s, size_t n)
{
        char *p = cf_arena_alloc(a, n + 1);
        memcpy(p, s, n);
        p[n] = '\0';
        return p;
}

void cf_arena_reset(cf_arena *a)
{
        cf_arena_chunk *c = a->first->next;
        while (c) {
                cf_arena_chunk *n = c->next;
                free(c);
                c = n;
        }
        a->first->next = NULL;
        a->first->used = 0;
        a->head = a->first;
        a->used_total = 0;
}

void cf_arena_destroy(cf_arena *a)
{
        cf_arena_reset(a);
        free(a->first);
        a->first = a->head = NULL;
}
