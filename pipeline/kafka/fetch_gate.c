/*
 * fetch_gate.c - which fetched records of a partition are processed (see
 * fetch_gate.h for why).
 *
 * @locality: the worker thread that owns the partition.
 */
#include "pipeline/kafka/fetch_gate.h"

void cf_fetch_gate_reset(cf_fetch_gate *g)
{
        *g = (cf_fetch_gate){-1, -1, -1, -1, -1};
}

void cf_fetch_gate_hold(cf_fetch_gate *g, int64_t offset)
{
        if (g->held_lo < 0 || offset < g->held_lo) g->held_lo = offset;
        if (offset > g->held_hi) g->held_hi = offset;
}

int64_t cf_fetch_gate_resume(cf_fetch_gate *g)
{
        int64_t at = g->held_lo;
        if (at >= 0) {
                g->wait_lo = g->held_lo;
                g->wait_hi = g->held_hi;
        }
        g->held_lo = g->held_hi = -1;
        return at;
}

void cf_fetch_gate_rewind(cf_fetch_gate *g, int64_t offset)
{
        if (g->taken_to > offset) {
                g->wait_lo = offset;
                g->wait_hi = g->taken_to - 1;
        }
        g->taken_to = offset;
}

void cf_fetch_gate_moved(cf_fetch_gate *g)
{
        g->wait_lo = g->wait_hi = -1;
}

cf_fetch_verdict cf_fetch_gate_take(cf_fetch_gate *g, int64_t offset)
{
        if (g->wait_lo >= 0) {
                if (offset < g->wait_lo || offset > g->wait_hi) return CF_FETCH_STALE;
                g->wait_lo = g->wait_hi = -1; /* the new fetch has begun */
        }
        if (offset < g->taken_to) return CF_FETCH_AGAIN;
        g->taken_to = offset + 1;
        return CF_FETCH_TAKE;
}
