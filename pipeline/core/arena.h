/*
 * arena.h - bump allocator reset once per batch (nothing is freed per record).
 */
#ifndef CF_ARENA_H
#define CF_ARENA_H

#include <stddef.h>

typedef struct cf_arena_chunk cf_arena_chunk;

/** A chain of chunks; allocation is a pointer bump, reset keeps the first chunk. */
typedef struct cf_arena {
        cf_arena_chunk *head;  /* current chunk */
        cf_arena_chunk *first; /* kept across resets */
        size_t chunk_size;
        size_t used_total; /* bytes handed out since the last reset */
} cf_arena;

/** Initialise an arena whose chunks are at least chunk_size bytes. */
void cf_arena_init(cf_arena *a, size_t chunk_size);
/** Allocate n bytes aligned to 16; aborts on out-of-memory (like the allocator). */
void *cf_arena_alloc(cf_arena *a, size_t n);
/** Allocate n zeroed bytes. */
void *cf_arena_calloc(cf_arena *a, size_t n);
/** Copy n bytes into the arena, NUL-terminated. */
char *cf_arena_strndup(cf_arena *a, const char *s, size_t n);
/** Forget every allocation; keeps the first chunk for the next batch. */
void cf_arena_reset(cf_arena *a);
/** Free every chunk. */
void cf_arena_destroy(cf_arena *a);

#endif
