/*
 * accounting.c - see accounting.h.
 */
#include "pipeline/core/accounting.h"

void cf_offset_range_reset(cf_offset_range *r)
{
        *r = (cf_offset_range){.first = -1, .next = -1};
}

void cf_offset_range_add(cf_offset_range *r, int64_t o)
{
        if (r->first < 0) {
                r->first = o;
                r->next = o + 1;
                return;
        }
        if (o < r->next) {
                /* a rewind (seek, reset backward): the run so far is counted, a new one starts */
                r->before += (uint64_t)(r->next - r->first);
                r->first = o;
                r->next = o + 1;
                return;
        }
        r->gaps += (uint64_t)(o - r->next);
        r->next = o + 1;
}

uint64_t cf_offset_range_consumed(const cf_offset_range *r)
{
        uint64_t run = r->first < 0 ? 0 : (uint64_t)(r->next - r->first);
        return r->before + run - r->gaps;
}

bool cf_invariant_check(cf_series *ok, uint64_t consumed, const cf_part_counts *o)
{
        if (consumed == o->processed + o->duplicates + o->dead_lettered) return true;
        cf_gauge_set(ok, 0);
        return false;
}
