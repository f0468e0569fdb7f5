/*
 * touch.h - load a cache line ahead of its use, for batched table lookups.
 *
 * The stages' keyed tables (dedup's, detect's) hold up to millions of entries
 * and a lookup is a cache (and TLB) miss. Looking up a batch's keys one after
 * another waits for each miss in turn; loading every slot the batch will need
 * first lets the misses overlap. On this project's machines software prefetch
 * (__builtin_prefetch) did not do that: with it issued for the whole batch
 * first, detect's lookups stalled exactly as before (perf of replay, 1M
 * records: cf_kvtab_put 8.6 % self either way), while plain loads took the
 * put from 8.6 % to 1.4 % (bench/RESULTS.md § throughput) - prefetches that
 * miss the TLB may be dropped, loads never are.
 *
 * @locality: any thread (no state).
 */
#ifndef CF_TOUCH_H
#define CF_TOUCH_H

/** Load the byte at p (its cache line and page translation) and discard it. */
static inline void cf_touch(const void *p)
{
        (void)*(const volatile unsigned char *)p;
}

#endif
