/*
 * sort.h - sorting (key, value) pairs by a 64-bit key: what makes a snapshot
 * of a hash table canonical (its entries in key order, not in slot order), so
 * two tables with the same content write the same bytes whatever their
 * history (capacity, insertion order, a restore in between).
 *
 * @locality: any thread (no shared state).
 */
#ifndef CF_SORT_H
#define CF_SORT_H

#include <stddef.h>
#include <stdint.h>

/** A key and what it sorts (a slot index, most often). */
typedef struct cf_sort_kv {
        uint64_t key;
        uint64_t val;
} cf_sort_kv;

/** Sort v[0..n) by key, ascending; stable (equal keys keep their order). */
void cf_sort_kv_by_key(cf_sort_kv *v, size_t n);
/** Sort v[0..n) by key, ascending, stable, when it is nearly sorted already (a hash table's
 * slot order): an insertion sort, O(n + the distance each pair is out of place). */
void cf_sort_kv_nearly(cf_sort_kv *v, size_t n);

#endif
