/*
 * accounting.h - DESIGN §4's invariant, checked from independent counts:
 * every consumed offset of a partition ends as exactly one of processed,
 * duplicate or dead-lettered. The offsets consumed come from the range of
 * offsets the consumer delivered (the worker, before the chain); the three
 * outcomes from the chain's per-record count (cf_chain_part_counts). A record
 * the chain lost or counted twice makes them differ.
 */
#ifndef CF_ACCOUNTING_H
#define CF_ACCOUNTING_H

#include <stdbool.h>
#include <stdint.h>

#include "pipeline/core/chain.h"
#include "pipeline/core/metrics.h"

/** The offsets delivered from one partition since it was assigned. */
typedef struct cf_offset_range {
        int64_t first, next; /* the current run of offsets [first, next); first -1: none */
        uint64_t before;     /* offsets of the runs before a rewind (a re-delivery) */
        uint64_t gaps;       /* offsets inside the runs never delivered (transaction
                              * markers, compaction, an offset reset forward) */
} cf_offset_range;

/** Empty range (at assignment). */
void cf_offset_range_reset(cf_offset_range *r);
/** Offset o was delivered (in the partition's order). @locality: worker thread */
void cf_offset_range_add(cf_offset_range *r, int64_t o);
/** Offsets consumed: the runs' lengths minus their gaps. */
uint64_t cf_offset_range_consumed(const cf_offset_range *r);

/**
 * Check one partition at commit: consumed == o's processed + duplicates +
 * dead_lettered. On a violation set the gauge ok to 0 (it stays 0: the
 * invariant held at every commit or it did not) and return false.
 */
bool cf_invariant_check(cf_series *ok, uint64_t consumed, const cf_part_counts *o);

#endif
