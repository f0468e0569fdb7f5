/*
 * detect_bucket.c - how a partition publishes its baseline contributions in
 * cumulative mode (the service): in buckets, not one message per key.
 *
 * Why: one message per changed (population key, source partition) made the
 * population topics ~74 % of everything the service produced (0.67 messages
 * per input record; 92k-662k per commit with 256 partitions), and
 * librdkafka's cost is per message (bench/RESULTS.md, "kafka path CPU").
 * Population keys are hashed into stages.detect.population_buckets buckets;
 * at a publish every bucket holding a key that changed since the last one is
 * published whole: one message with the partition's whole contribution for
 * every key of that bucket. The compaction key is (source partition, bucket
 * count, bucket, part), so the latest message per key is still complete for
 * its bucket and a new instance reading the compacted topic has everything.
 * The cost: a bucket's unchanged keys travel again (bytes, not messages);
 * replicas skip an entry whose bytes they already hold.
 *
 * A bucket larger than CF_POP_PART_BYTES is split into parts (part j of n,
 * each its own compaction key); a replica drops the parts >= n it holds, so
 * a bucket that shrank leaves no stale part behind. Every message of a
 * partition is routed to one topic partition (route = source partition), so
 * replicas read them in publish order.
 *
 * Value (stenc fields): u8 type 7, u8 version 1, u32 source partition, u32
 * bucket count, u32 bucket, u16 part, u16 parts, u32 n, then n entries, each
 * a u32 length and a contribution exactly as types 5 and 6
 * (detect_population.c), in (bucket, kind, key) order.
 * Key: u8 7, u32 source, u32 bucket count, u32 bucket, u16 part.
 *
 * @locality: the thread that owns the chain.
 */
#include <stdlib.h>
#include <string.h>

#include "pipeline/core/global.h"
#include "pipeline/core/stenc.h"
#include "stages/detect/detect_int.h"

#define KIND_VOL CF_POP_KIND_VOL

uint32_t cf_pop_bucket_of(uint64_t kind_key, uint32_t n)
{
        /* population keys are packed fields (origin << 32 | HS6, ...): mix them first */
        uint64_t h = kind_key * 0x9E3779B97F4A7C15ull;
        h ^= h >> 29;
        return (uint32_t)(h % (n ? n : 1));
}

typedef struct item {
        uint32_t bucket;
        uint64_t kk; /* kind bit | key */
        void *val;
} item;

typedef struct collect_ctx {
        cf_vec *items;
        const uint64_t *dirty; /* bitmap of the buckets to publish */
        uint32_t n;
        uint64_t kind;
} collect_ctx;

static void collect(void *op, uint64_t key, void *val)
{
        collect_ctx *c = op;
        uint32_t b = cf_pop_bucket_of(key | c->kind, c->n);
        if (!(c->dirty[b / 64] >> (b % 64) & 1)) return;
        *(item *)cf_vec_push(c->items, sizeof(item)) = (item){b, key | c->kind, val};
}

static int item_cmp(const void *a, const void *b)
{
        const item *x = a, *y = b;
        if (x->bucket != y->bucket) return x->bucket < y->bucket ? -1 : 1;
        return x->kk < y->kk ? -1 : x->kk > y->kk;
}

/* One contribution as a type 5 or 6 value (what a replica stores per key and source). */
static void put_entry(cf_buf *out, const item *it, int32_t partition)
{
        bool vol = it->kk & KIND_VOL;
        size_t at = out->len;
        cf_st_put_u32(out, 0);
        cf_st_put_u8(out, vol ? CF_POP_VOL_CUM : CF_POP_UV_CUM);
        cf_st_put_u8(out, CF_POP_MSG_VERSION);
        cf_st_put_u64(out, it->kk & ~KIND_VOL);
        cf_st_put_u32(out, (uint32_t)partition);
        cf_st_put_i64(out, *(int64_t *)it->val);
        if (vol) {
                cf_vol_own *v = it->val;
                v->dirty = 0;
                cf_vol_slots_put(out, v->s, v->n);
        } else {
                cf_uv_rep *v = it->val;
                v->dirty = 0;
                cf_uv_sketch_settle(&v->s);
                cf_lns_put(out, &v->s);
        }
        cf_st_store32((unsigned char *)out->p + at, (uint32_t)(out->len - at - 4));
}

static void put_part(cf_buf *out, int32_t partition, uint32_t n, uint32_t bucket, uint16_t part,
                     uint16_t parts, const unsigned char *entries, size_t len, uint32_t count)
{
        unsigned char k[15];
        k[0] = CF_POP_BUCKET;
        cf_st_store32(k + 1, (uint32_t)partition);
        cf_st_store32(k + 5, n);
        cf_st_store32(k + 9, bucket);
        k[13] = (unsigned char)part;
        k[14] = (unsigned char)(part >> 8);
        size_t at = cf_global_begin_route(out, CF_GLOBAL_BASELINES, partition, k, sizeof k);
        cf_st_put_u8(out, CF_POP_BUCKET);
        cf_st_put_u8(out, CF_POP_MSG_VERSION);
        cf_st_put_u32(out, (uint32_t)partition);
        cf_st_put_u32(out, n);
        cf_st_put_u32(out, bucket);
        cf_st_put_u16(out, part);
        cf_st_put_u16(out, parts);
        cf_st_put_u32(out, count);
        cf_buf_put(out, entries, len);
        cf_global_end(out, at);
}

/* The entries of one bucket (in x->bucket) as parts of at most CF_POP_PART_BYTES. */
static void put_bucket(cf_detect *x, cf_buf *out, int32_t partition, uint32_t bucket,
                       const size_t *ends, uint32_t count)
{
        const unsigned char *e = (const unsigned char *)x->bucket.p;
        uint16_t parts = 1;
        size_t start = 0;
        for (uint32_t i = 0; i < count; i++) /* a part closes before the entry it cannot hold */
                if (ends[i] - start > CF_POP_PART_BYTES && i && ends[i - 1] > start) {
                        parts++;
                        start = ends[i - 1];
                }
        start = 0;
        uint32_t first = 0;
        uint16_t part = 0;
        for (uint32_t i = 0; i <= count; i++) {
                bool close = i == count || (ends[i] - start > CF_POP_PART_BYTES && i > first);
                if (!close) continue;
                size_t end = i ? ends[i - 1] : 0;
                put_part(out, partition, x->pop.n_buckets, bucket, part++, parts, e + start,
                         end - start, i - first);
                start = end;
                first = i;
        }
}

void cf_detect_put_buckets(cf_detect *x, cf_detect_part *ps, int32_t partition, cf_buf *out)
{
        uint32_t n = x->pop.n_buckets ? x->pop.n_buckets : 1;
        uint64_t *dirty = calloc((n + 63) / 64, sizeof(uint64_t));
        if (!dirty) abort();
        /* restored: every bucket. A checkpoint may hold contributions never published (a
         * commit publishes only every so often, pipeline/kafka/commit.c), and the owner
         * that wrote it may have published later ones before it stopped: sent whole, the
         * replicas get exactly the restored state, which the records after it add to. */
        if (ps->republish)
                for (uint32_t b = 0; b < n; b++)
                        dirty[b / 64] |= 1ull << (b % 64);
        ps->republish = false;
        const uint64_t *k = ps->own_dirty.v;
        for (size_t i = 0; i < ps->own_dirty.n; i++) {
                uint32_t b = cf_pop_bucket_of(k[i], n);
                dirty[b / 64] |= 1ull << (b % 64);
        }
        ps->own_dirty.n = 0;
        cf_vec items = {0};
        collect_ctx c = {&items, dirty, n, 0};
        cf_kvtab_each(&ps->uv_own, collect, &c);
        c.kind = KIND_VOL;
        cf_kvtab_each(&ps->vol_own, collect, &c);
        /* qsort's base must not be NULL even for 0 items (C11 7.22.5; UBSan checks it) */
        if (items.n) qsort(items.v, items.n, sizeof(item), item_cmp);
        const item *it = items.v;
        size_t *ends = malloc((items.n + 1) * sizeof(size_t));
        if (!ends) abort();
        size_t i = 0;
        for (uint32_t b = 0; b < n; b++) {
                if (!(dirty[b / 64] >> (b % 64) & 1)) continue;
                /* a dirty bucket with no key left (all evicted) is published empty: the
                 * replicas drop what it held */
                cf_buf_reset(&x->bucket);
                uint32_t count = 0;
                for (; i < items.n && it[i].bucket == b; i++) {
                        put_entry(&x->bucket, &it[i], partition);
                        ends[count++] = x->bucket.len;
                }
                put_bucket(x, out, partition, b, ends, count);
        }
        free(ends);
        free(items.v);
        free(dirty);
}
