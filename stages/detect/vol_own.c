/*
 * vol_own.c - a partition's own contribution to origin_volume_surge's rings,
 * held sparse (cf_vol_own).
 *
 * Why: the own table (detect_own.c) held a whole cf_vol_rep per (origin, HS6)
 * pair the partition saw: 57 slots, 768 bytes a value with the default
 * windows, for the few records of a pair one partition sees. bench_state (1M
 * keys, 256 partitions) held 498,713 own pairs in 805 MB of table, and a
 * restore spent most of its time in the page faults of writing them. Here a
 * value keeps only its non-empty slots, in slot-list order (hours oldest
 * first, then days), and follows the rings' rules exactly: the same window,
 * the same advance (only additions move a ring), the same saturation. So what
 * it publishes and checkpoints is byte for byte what the rings gave.
 *
 * @locality: the thread that owns the chain.
 */
#include <stdlib.h>
#include <string.h>

#include "stages/detect/detect_int.h"

void cf_vol_own_init(cf_vol_own *o, const void *cfg, int64_t hour)
{
        cf_vol_ring_sizes(cfg, &o->nh, &o->nd);
        o->cur_hour = hour;
        o->cur_day = hour / 24;
}

void cf_vol_own_init_slots(cf_vol_own *o, const void *cfg, int64_t top_hour, int64_t top_day)
{
        cf_vol_own_init(o, cfg, cf_vol_start_hour(top_hour, top_day));
        if (top_day >= 0) o->cur_day = top_day;
}

void cf_vol_own_drop(void *opaque, uint64_t key, void *val)
{
        (void)opaque;
        (void)key;
        cf_vol_own *o = val;
        free(o->s);
        o->s = NULL;
        o->n = o->nhs = o->cap = 0;
}

/* Room for need slots in all (never less than held). */
static void reserve(cf_vol_own *o, uint32_t need)
{
        if (need <= o->cap) return;
        o->cap = need;
        o->s = realloc(o->s, o->cap * sizeof(*o->s));
        if (!o->s) abort();
}

/* Take out slots [i, i + k). */
static void cut(cf_vol_own *o, uint32_t i, uint32_t k, bool day)
{
        if (!k) return;
        memmove(o->s + i, o->s + i + k, (o->n - i - k) * sizeof(*o->s));
        o->n -= k;
        if (!day) o->nhs -= k;
}

/* The ring moved on to `to`: its slots before to - n + 1 left it (ring_advance). */
static void advance(cf_vol_own *o, bool day, int64_t to)
{
        int64_t *cur = day ? &o->cur_day : &o->cur_hour;
        if (to <= *cur) return;
        *cur = to;
        int64_t from = to - (day ? o->nd : o->nh) + 1;
        uint32_t lo = day ? o->nhs : 0, hi = day ? o->n : o->nhs, i = lo;
        while (i < hi && o->s[i].at < from)
                i++;
        cut(o, lo, i - lo, day);
}

void cf_vol_own_ring_add(cf_vol_own *o, bool day, int64_t at, int64_t cents, int64_t decl)
{
        if (cents >= 0 && decl >= 0) advance(o, day, at); /* subtractions never move */
        int64_t cur = day ? o->cur_day : o->cur_hour;
        if (at > cur || at <= cur - (day ? o->nd : o->nh) || at < 0) return;
        uint32_t lo = day ? o->nhs : 0, hi = day ? o->n : o->nhs, i = lo;
        while (i < hi && o->s[i].at < at) /* a few slots: a pair's records in a partition */
                i++;
        bool held = i < hi && o->s[i].at == at;
        int64_t c = held ? o->s[i].cents : 0;
        uint32_t k = held ? o->s[i].decl : 0;
        cf_vol_slot_add(&c, &k, cents, decl);
        if (!c && !k) { /* empty: a ring's each skips it, so the list holds none */
                if (held) cut(o, i, 1, day);
                return;
        }
        if (!held) {
                if (o->n == o->cap) reserve(o, o->cap ? 2 * o->cap : 2); /* an hour, a day */
                memmove(o->s + i + 1, o->s + i, (o->n - i) * sizeof(*o->s));
                o->n++;
                if (!day) o->nhs++;
        }
        o->s[i] = (cf_vol_slot){.at = at, .cents = c, .decl = k, .day = day};
}

void cf_vol_own_add(cf_vol_own *o, const cf_vol_event *e)
{
        cf_vol_own_ring_add(o, false, e->hour, e->cents, e->decl);
        cf_vol_own_ring_add(o, true, e->hour / 24, e->cents, e->decl);
}

void cf_vol_own_add_slots(cf_vol_own *o, const cf_vec *slots)
{
        const cf_vol_slot *s = slots->v;
        /* sized at once (a restore, a patch): growing by doubling left a restored value's list
         * up to twice what it holds (a 1M-key restore in bench_state: 58.5 MB of lists) */
        if (slots->n <= UINT32_MAX - o->n) reserve(o, o->n + (uint32_t)slots->n);
        for (size_t i = 0; i < slots->n; i++)
                cf_vol_own_ring_add(o, s[i].day, s[i].at, s[i].cents, (int64_t)s[i].decl);
}
