/*
 * dedup_table.c - the per-partition dedup tables and their event-time slices.
 *
 * Hand-written open addressing rather than a library map: the state must be
 * small per key with lazy, slice-based expiry, which no Debian hash map
 * offers. Both tables are *ordered* linear probing tables: the occupied slots
 * hold their entries in increasing cf_dd_order(hash), each at or after its
 * home slot with every slot between them occupied (no wrap-around: the table
 * has overflow slots after the homes, and its last slot stays empty). So a
 * lookup stops at the first entry ordered after its hash, not at the next
 * empty slot: at 90 % load that is ~5 slots, where plain linear probing walks
 * ~50 (it walked ~13 at its old 80 % limit). That is what lets the tables run
 * at 75-90 % load instead of 55-80 % (issue 15 target 4: memory per key).
 * An insert goes at the end of its hash's entries, into a dead slot there when
 * one is adjacent, else shifting the entries up to the next free slot one
 * slot on. A rebuild (growth or dead-slot reclaim) streams the old table in
 * order into the new one: sequential reads and writes, no probing.
 * The bucket is picked with a multiply-shift ("fastrange") so a table can have
 * any capacity, not only powers of two. At the bound (max_entries) the home
 * range is max_entries / 0.80, so a full table runs at 80-90 % load and
 * rebuilds at most every 10 % of inserts. A table that no longer grows (a
 * moving window, or one held at the bound by eviction) is reclaimed to 85 %,
 * in place when it can keep its homes (target_cap, table_compact).
 */
#include "stages/dedup/dedup_table.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define LOAD_MAX     0.90 /* rebuild when occupied (live + dead) slots pass this */
#define LOAD_REBUILD 0.75 /* load right after a growth rebuild */
#define LOAD_RECLAIM 0.85 /* load right after a rebuild that mostly drops dead entries */
#define LOAD_COMPACT 0.80 /* live load from which such a rebuild keeps the homes (in place) */
#define LOAD_BOUND   0.80 /* load of a table holding max_entries after a rebuild */
#define CAP_MIN      64

#define home cf_dd_home

static inline uint32_t ring_idx(const cf_dd_part *p, int64_t slice)
{
        int64_t r = slice % (int64_t)p->ring;
        return (uint32_t)(r < 0 ? r + p->ring : r);
}

static inline uint32_t slot_of(const cf_dd_part *p, int64_t t)
{
        return ring_idx(p, cf_dd_slice(p, t));
}

/* Room for n more bytes in pool b. Pools grow by a quarter, not doubling: their
 * capacity is counted as state (cf_dd_part_bytes), and a doubled pool is on
 * average a quarter empty; the slice's pool is trimmed when it closes. */
static void pool_reserve(cf_buf *b, size_t n)
{
        if (b->len + n <= b->cap) return;
        size_t cap = b->cap + b->cap / 4;
        if (cap < b->len + n) cap = b->len + n;
        if (cap < 256) cap = 256;
        char *q = realloc(b->p, cap);
        if (!q) abort(); /* as the arena: out of memory is fatal */
        b->p = q;
        b->cap = cap;
}

/* Give back a closed slice's unused pool capacity (new ids rarely land in it). */
static void pool_trim(cf_buf *b)
{
        if (b->cap - b->len < 64 || !b->len) return;
        char *q = realloc(b->p, b->len);
        if (!q) return;
        b->p = q;
        b->cap = b->len;
}

cf_dd_part *cf_dd_part_new(const cf_dd_limits *lim)
{
        cf_dd_part *p = calloc(1, sizeof(*p));
        p->lim = *lim;
        if (p->lim.slices < 1) p->lim.slices = 1;
        if (p->lim.window_s < 1) p->lim.window_s = 1;
        if (p->lim.max_entries < 1) p->lim.max_entries = 1;
        p->slice_s = (p->lim.window_s + p->lim.slices - 1) / p->lim.slices;
        p->ring = (uint32_t)p->lim.slices + 1;
        p->kcount = calloc(p->ring, sizeof(*p->kcount));
        p->scount = calloc(p->ring, sizeof(*p->scount));
        p->pool = calloc(p->ring, sizeof(*p->pool));
        p->pool_last = calloc(p->ring, sizeof(*p->pool_last));
        return p;
}

void cf_dd_part_free(cf_dd_part *p)
{
        if (!p) return;
        for (uint32_t i = 0; i < p->ring; i++)
                cf_buf_free(&p->pool[i]);
        free(p->pool);
        free(p->pool_last);
        cf_dd_prefixes_free(&p->prefixes);
        free(p->kcount);
        free(p->scount);
        free(p->keys);
        free(p->ships);
        cf_buf_free(&p->klog);
        cf_buf_free(&p->slog);
        free(p);
}

/* Forget one ring slot: its entries are dead from now on (lo moved past it). */
static void clear_slot(cf_dd_part *p, uint32_t i, uint64_t *kgone, uint64_t *sgone)
{
        p->klive -= p->kcount[i];
        p->slive -= p->scount[i];
        kgone[0] += p->kcount[i];
        sgone[0] += p->scount[i];
        p->kcount[i] = p->scount[i] = 0;
        cf_buf_reset(&p->pool[i]);
        p->pool_last[i] = 0;
}

static void set_lo(cf_dd_part *p, int64_t lo)
{
        p->lo = lo;
        p->lo_t = lo * p->slice_s;
}

void cf_dd_raise_horizon(cf_dd_part *p, int64_t lo_t)
{
        int64_t nlo = cf_dd_slice(p, lo_t);
        if (!p->has_wm || nlo <= p->lo || nlo > p->cur) return;
        for (int64_t x = p->lo; x < nlo; x++)
                clear_slot(p, ring_idx(p, x), &p->evicted[0], &p->evicted[1]);
        set_lo(p, nlo);
}

void cf_dd_set_horizon(cf_dd_part *p, int64_t lo_t)
{
        int64_t nlo = cf_dd_slice(p, lo_t);
        if (p->has_wm && nlo > p->lo && nlo <= p->cur) set_lo(p, nlo);
}

void cf_dd_advance(cf_dd_part *p, int64_t t)
{
        int64_t s = cf_dd_slice(p, t);
        if (!p->has_wm) {
                p->has_wm = true;
                p->wm_s = t;
                p->cur = s;
                set_lo(p, s - p->lim.slices);
                return;
        }
        if (t > p->wm_s) p->wm_s = t;
        if (s <= p->cur) return;
        int64_t nlo = s - p->lim.slices;
        if (nlo > p->lo) {
                /* Only slices in [lo, cur] can hold entries: at most ring of them. */
                int64_t end = nlo < p->cur + 1 ? nlo : p->cur + 1;
                for (int64_t x = p->lo; x < end; x++)
                        clear_slot(p, ring_idx(p, x), &p->expired[0], &p->expired[1]);
                set_lo(p, nlo);
        }
        if (nlo <= p->cur) pool_trim(&p->pool[ring_idx(p, p->cur)]); /* still live, closed */
        p->cur = s;
}

/* Bound reached: the oldest slice goes, counted. When every live entry is in
 * the open slice, lo cannot move past it (new records land there), so both
 * tables are emptied physically instead (O(capacity), after >= max_entries
 * inserts, so amortised O(1)). */
static void evict_oldest(cf_dd_part *p)
{
        for (int64_t x = p->lo; x < p->cur; x++) {
                uint32_t i = ring_idx(p, x);
                if (!p->kcount[i] && !p->scount[i]) continue;
                clear_slot(p, i, &p->evicted[0], &p->evicted[1]);
                set_lo(p, x + 1);
                return;
        }
        cf_dd_part_clear(p);
}

void cf_dd_part_clear(cf_dd_part *p)
{
        for (uint32_t i = 0; i < p->ring; i++)
                clear_slot(p, i, &p->evicted[0], &p->evicted[1]);
        if (p->keys) memset(p->keys, 0, p->kcap * sizeof(*p->keys));
        if (p->ships) memset(p->ships, 0, p->scap * sizeof(*p->ships));
        p->kused = p->sused = 0;
        if (p->track) { /* what was logged is gone too: the delta says "cleared" */
                cf_dd_delta_reset(p);
                p->cleared = true;
        }
}

/* Big tables ask for transparent huge pages: a rebuild writes every slot of a
 * fresh table, and with 4 KiB pages the page faults cost more than the rehash
 * (measured: a quarter of the insert path's time in bench_dedup). */
static void *table_alloc(size_t n, size_t size)
{
        size_t bytes = n * size, huge = (size_t)2 << 20;
        if (bytes < 2 * huge) {
                /* zeroed by writing, not calloc: fresh calloc pages are read first by a
                 * probe (the shared zero page) and written next, a second fault that copies
                 * and flushes the other cores' TLBs (~10 % of a 1M-key restore, perf) */
                void *z = malloc(bytes ? bytes : 1);
                if (!z) abort();
                memset(z, 0, bytes);
                return z;
        }
        size_t rounded = (bytes + huge - 1) & ~(huge - 1);
        void *p = aligned_alloc(huge, rounded);
        if (!p) abort(); /* as the arena: out of memory is fatal */
        madvise(p, rounded, MADV_HUGEPAGE);
        memset(p, 0, bytes);
        return p;
}

/* Homes for need live entries. A table that has not grown by more than 1/16 since its last
 * rebuild (last live entries then) is rebuilt to reclaim the slots of expired entries, not
 * to grow: with a moving window that is every rebuild, and sizing it like a growth (75 %)
 * kept the live entries at ~75 % of the homes for good, the dead ones filling the rest
 * (issue 15 target 4: 51.5 B/key in `customsflow bench`). At 85 % the next rebuild comes
 * after at least 5 % of the homes were newly occupied, so rebuilds stay amortised O(1). */
static size_t target_cap(const cf_dd_part *p, size_t need, size_t last)
{
        size_t cap_max = (size_t)((double)(p->lim.max_entries + 1) / LOAD_BOUND) + 1;
        double load = last && need <= last + last / 16 ? LOAD_RECLAIM : LOAD_REBUILD;
        size_t c = (size_t)((double)need / load) + 1;
        if (c > cap_max) c = cap_max;
        if (c < CAP_MIN) c = CAP_MIN;
        return c;
}

/* Overflow slots after the last entry of a rebuilt table of nc homes: the runs at the top
 * grow into them; when one reaches the last slot, the table is rebuilt (tail_check). */
static size_t overflow_slots(size_t nc)
{
        return 64 + nc / 256;
}

/* Rebuild one table into target_cap(need) homes, keeping its live entries. Both tables
 * hold size-byte entries that start with their 64-bit hash (0 = empty) and have their
 * event time at t_off; inlined at each call so the copies have constant sizes. The old
 * table is in hash order and the home is monotone in it, so each entry goes to
 * max(its home, the slot after the previous one): two sequential passes (the first finds
 * how many overflow slots the top needs). Returns the new table; sets *cap, *home, *used and
 * *last (the live entries kept). */
static inline __attribute__((always_inline)) void *
table_rebuild(cf_dd_part *p, void *old, size_t *cap, size_t *homes, size_t *used, size_t *last,
              size_t size, size_t t_off, size_t need)
{
        size_t nc = target_cap(p, need, *last), live = 0, end = 0;
        for (int pass = 0; pass < 2; pass++) {
                char *nt = pass ? table_alloc(end, size) : NULL;
                size_t next = 0;
                live = 0;
                for (size_t i = 0; i < *cap; i++) {
                        const char *e = (const char *)old + i * size;
                        uint64_t h = cf_dd_entry_live(p, e, t_off);
                        if (!h) continue;
                        size_t j = home(h, nc);
                        if (j < next) j = next;
                        if (pass) memcpy(nt + j * size, e, size);
                        next = j + 1;
                        live++;
                }
                if (!pass) {
                        end = (next > nc ? next : nc) + overflow_slots(nc);
                        continue;
                }
                free(old);
                *cap = end;
                *homes = nc;
                *used = live;
                *last = live;
                p->rebuilds++;
                return nt;
        }
        return NULL; /* not reached */
}

static void keys_rebuild(cf_dd_part *p, size_t need)
{
        p->keys = table_rebuild(p, p->keys, &p->kcap, &p->khome, &p->kused, &p->klast,
                                sizeof(cf_dd_key), offsetof(cf_dd_key, t), need);
}

static void ships_rebuild(cf_dd_part *p, size_t need)
{
        p->ships = table_rebuild(p, p->ships, &p->scap, &p->shome, &p->sused, &p->slast,
                                 sizeof(cf_dd_ship), offsetof(cf_dd_ship, t), need);
}

/* Drop the dead entries of a table in place, keeping its homes: each live entry moves down
 * to max(its home, the slot after the previous live one), the layout a rebuild into as many
 * homes would give. Never up (the previous live entry sat below it, and so did its home),
 * so one pass suffices and the last slot stays empty. A table that no longer grows is
 * reclaimed this way every ~5 % of its homes (LOAD_RECLAIM to LOAD_MAX): one read of each
 * slot, where a rebuild reads the old table twice and allocates and zeroes a new one. */
static inline __attribute__((always_inline)) void table_compact(cf_dd_part *p, char *tab,
                                                                size_t cap, size_t homes,
                                                                size_t *used, size_t *last,
                                                                size_t size, size_t t_off)
{
        size_t next = 0, live = 0;
        for (size_t i = 0; i < cap; i++) {
                char *e = tab + i * size;
                uint64_t h;
                memcpy(&h, e, 8);
                if (!h) continue;
                if (!cf_dd_entry_live(p, e, t_off)) {
                        memset(e, 0, size);
                        continue;
                }
                size_t j = home(h, homes);
                if (j < next) j = next;
                if (j != i) {
                        memcpy(tab + j * size, e, size);
                        memset(e, 0, size);
                }
                next = j + 1;
                live++;
        }
        *used = *last = live;
        p->rebuilds++;
}

/* Can a table of homes whose occupied slots reached LOAD_MAX, live of them live, drop its dead
 * entries in place (its live ones, with the one to come, still 80-85 % of the homes) rather
 * than be rebuilt into other homes? */
static bool compact_in_place(size_t live, size_t homes)
{
        double need = (double)live + 1;
        return need <= (double)homes * LOAD_RECLAIM && need >= (double)homes * LOAD_COMPACT;
}

int cf_dd_reserve(cf_dd_part *p)
{
        int moved = 0;
        while (p->klive >= (size_t)p->lim.max_entries || p->slive >= (size_t)p->lim.max_entries) {
                evict_oldest(p);
                moved = 1;
        }
        if ((double)(p->kused + 1) > (double)p->khome * LOAD_MAX) {
                if (compact_in_place(p->klive, p->khome))
                        table_compact(p, (char *)p->keys, p->kcap, p->khome, &p->kused, &p->klast,
                                      sizeof(cf_dd_key), offsetof(cf_dd_key, t));
                else
                        keys_rebuild(p, p->klive + 1);
                moved = 1;
        }
        if ((double)(p->sused + 1) > (double)p->shome * LOAD_MAX) {
                if (compact_in_place(p->slive, p->shome))
                        table_compact(p, (char *)p->ships, p->scap, p->shome, &p->sused, &p->slast,
                                      sizeof(cf_dd_ship), offsetof(cf_dd_ship, t));
                else
                        ships_rebuild(p, p->slive + 1);
                moved = 1;
        }
        return moved;
}

void cf_dd_part_presize(cf_dd_part *p, size_t nk, size_t ns)
{
        if ((double)nk > (double)p->khome * LOAD_REBUILD) keys_rebuild(p, nk);
        if ((double)ns > (double)p->shome * LOAD_REBUILD) ships_rebuild(p, ns);
}

/* Where an insert at slot pos of hash h puts its entry (size-byte entries, hash first,
 * event time at t_off): the slot itself when empty or dead, the one before when dead and
 * still at or after h's home (the order holds either way), else pos after the entries up
 * to the next free slot moved one on. Sets *fresh when an empty slot got used. */
static inline __attribute__((always_inline)) char *ordered_put(cf_dd_part *p, char *tab, size_t pos,
                                                               uint64_t h, size_t homes,
                                                               size_t size, size_t t_off,
                                                               bool *fresh)
{
        uint64_t o;
        uint32_t t;
        char *e = tab + pos * size;
        memcpy(&o, e, 8);
        *fresh = !o;
        if (!o) return e;
        if (pos > home(h, homes)) {
                memcpy(&t, e - size + t_off, 4);
                if (!cf_dd_live(p, t)) return e - size;
        }
        memcpy(&t, e + t_off, 4);
        if (!cf_dd_live(p, t)) return e;
        size_t q = pos + 1; /* the last slot is empty (tail_check): q stays in the table */
        for (;; q++) {
                memcpy(&o, tab + q * size, 8);
                memcpy(&t, tab + q * size + t_off, 4);
                if (!o || !cf_dd_live(p, t)) break;
        }
        *fresh = !o;
        memmove(e + size, e, (q - pos) * size);
        return e;
}

/* After an insert: the last slot must stay empty (lookups and shifts stop before the end
 * of the table without checking it); when the top run reached it, rebuild (rare: the
 * overflow is 64 + 1/256 of the homes). */
static void tail_check(cf_dd_part *p)
{
        if (p->keys && p->keys[p->kcap - 1].kh) keys_rebuild(p, p->klive);
        if (p->ships && p->ships[p->scap - 1].sh) ships_rebuild(p, p->slive);
}

void cf_dd_key_lookup(cf_dd_part *p, uint64_t kh, uint64_t fpa, cf_dd_found *f)
{
        *f = (cf_dd_found){0};
        if (!p->kcap) return;
        uint64_t o = cf_dd_order(kh);
        size_t i = home(kh, p->khome);
        /* The versions of a key are the entries of its hash: after the entries ordered before
         * it (displaced from earlier homes), before the first one ordered after it. */
        for (;; i++) {
                cf_dd_key *e = &p->keys[i];
                if (!e->kh) break;
                uint64_t eo = cf_dd_order(e->kh);
                if (eo < o) continue;
                if (eo > o) break;
                if (!cf_dd_live(p, e->t)) continue;
                if (e->fpa == fpa) f->exact = e;
                uint64_t am = e->fpa & CF_DD_AMEND_MAX;
                uint64_t lam = f->latest ? f->latest->fpa & CF_DD_AMEND_MAX : 0;
                /* ties broken on content, not on slot order, so a
                 * restored table (other layout) picks the same one */
                if (!f->latest || am > lam ||
                    (am == lam &&
                     (e->t > f->latest->t || (e->t == f->latest->t && e->fpa > f->latest->fpa))))
                        f->latest = e;
        }
        f->ins = &p->keys[i];
}

void cf_dd_key_insert(cf_dd_part *p, cf_dd_key *ins, uint64_t kh, uint64_t fpa, uint32_t t)
{
        bool fresh;
        cf_dd_key *e =
            (cf_dd_key *)ordered_put(p, (char *)p->keys, (size_t)(ins - p->keys), kh, p->khome,
                                     sizeof(cf_dd_key), offsetof(cf_dd_key, t), &fresh);
        p->kused += fresh;
        e->kh = kh;
        e->fpa = fpa;
        e->t = t;
        p->klive++;
        p->kcount[slot_of(p, t)]++;
        if (p->track) cf_dd_log_key(p, kh, fpa, t);
        tail_check(p);
}

/* Order of two sightings' ids (a missing id first), for layout-free ties. */
static bool id_less(const cf_dd_part *p, const cf_dd_ship *a, const cf_dd_ship *b)
{
        char ba[CF_DD_ID_MAX], bb[CF_DD_ID_MAX];
        size_t na = 0, nb = 0;
        const char *ia = cf_dd_ship_id(p, a, ba, &na), *ib = cf_dd_ship_id(p, b, bb, &nb);
        if (!ia || !ib) return !ia && ib;
        int c = memcmp(ia, ib, na < nb ? na : nb);
        return c < 0 || (c == 0 && na < nb);
}

void cf_dd_ship_lookup(cf_dd_part *p, uint64_t sh, const char *id, size_t n, cf_dd_ship_found *f)
{
        *f = (cf_dd_ship_found){0};
        if (!p->scap) return;
        uint64_t o = cf_dd_order(sh);
        size_t i = home(sh, p->shome);
        /* The sightings of a shipment are the entries of its hash (as keys' versions). */
        for (;; i++) {
                cf_dd_ship *e = &p->ships[i];
                if (!e->sh) break;
                uint64_t eo = cf_dd_order(e->sh);
                if (eo < o) continue;
                if (eo > o) break;
                if (!cf_dd_live(p, e->t)) continue;
                char eb[CF_DD_ID_MAX];
                size_t en = 0;
                const char *eid = cf_dd_ship_id(p, e, eb, &en);
                if (eid && en == n && !memcmp(eid, id, n))
                        f->own = e;
                else if (!f->other || e->t > f->other->t ||
                         (e->t == f->other->t && id_less(p, e, f->other)))
                        f->other = e;
        }
        f->ins = &p->ships[i];
}

/* Append a declaration id to the pool of t's slice, encoded (dedup_ids.h). Lines of one
 * declaration usually arrive together, so the last id of the slot is reused when equal. */
static uint32_t pool_put(cf_dd_part *p, uint32_t t, const char *id, size_t n)
{
        uint32_t i = slot_of(p, t);
        cf_buf *b = &p->pool[i];
        if (n > CF_DD_ID_MAX) return CF_DD_NO_ID; /* decode caps ids at 64 bytes */
        unsigned char enc[CF_DD_ID_ENC_MAX];
        size_t en = cf_dd_id_encode(&p->prefixes, id, n, enc);
        if (p->pool_last[i]) {
                uint32_t at = p->pool_last[i] - 1;
                if (b->len - at == en && !memcmp(b->p + at, enc, en)) return at;
        }
        if (b->len + en >= CF_DD_NO_ID - 1) return CF_DD_NO_ID;
        uint32_t off = (uint32_t)b->len;
        pool_reserve(b, en);
        memcpy(b->p + b->len, enc, en);
        b->len += en;
        p->pool_last[i] = off + 1;
        return off;
}

/* Log a shipment entry as it is kept (an id the pool could not keep: none). */
static void log_ship(cf_dd_part *p, const cf_dd_ship *e)
{
        char buf[CF_DD_ID_MAX];
        size_t n = 0;
        const char *id = cf_dd_ship_id(p, e, buf, &n);
        cf_dd_log_ship(p, e->sh, e->t, id, id ? n : 0);
}

void cf_dd_ship_insert(cf_dd_part *p, cf_dd_ship *ins, uint64_t sh, uint32_t t, const char *id,
                       size_t n)
{
        bool fresh;
        cf_dd_ship *e =
            (cf_dd_ship *)ordered_put(p, (char *)p->ships, (size_t)(ins - p->ships), sh, p->shome,
                                      sizeof(cf_dd_ship), offsetof(cf_dd_ship, t), &fresh);
        p->sused += fresh;
        e->sh = sh;
        e->t = t;
        e->id_ref = id ? pool_put(p, t, id, n) : CF_DD_NO_ID;
        p->slive++;
        p->scount[slot_of(p, t)]++;
        if (p->track) log_ship(p, e);
        tail_check(p);
}

void cf_dd_ship_update(cf_dd_part *p, cf_dd_ship *e, uint32_t t, const char *id, size_t n)
{
        p->scount[slot_of(p, e->t)]--;
        p->scount[slot_of(p, t)]++;
        e->t = t;
        e->id_ref = pool_put(p, t, id, n);
        if (p->track) log_ship(p, e);
}

const char *cf_dd_ship_id(const cf_dd_part *p, const cf_dd_ship *e, char *buf, size_t *n)
{
        if (e->id_ref == CF_DD_NO_ID) return NULL;
        const cf_buf *b = &p->pool[slot_of(p, e->t)];
        if ((size_t)e->id_ref >= b->len) return NULL;
        int len = cf_dd_id_decode(&p->prefixes, (const unsigned char *)b->p + e->id_ref,
                                  b->len - e->id_ref, buf);
        if (len < 0) return NULL;
        *n = (size_t)len;
        return buf;
}

size_t cf_dd_part_bytes(const cf_dd_part *p)
{
        size_t n = sizeof(*p) + p->kcap * sizeof(cf_dd_key) + p->scap * sizeof(cf_dd_ship);
        n += p->ring * (2 * sizeof(uint64_t) + sizeof(cf_buf) + sizeof(uint32_t));
        for (uint32_t i = 0; i < p->ring; i++)
                n += p->pool[i].cap;
        return n + cf_dd_prefixes_bytes(&p->prefixes);
}

/* The order the lookups rely on: occupied slots in non-decreasing cf_dd_order of their
 * hash, each at or after its home with the slots between occupied, the last slot empty. */
static bool ordered_ok(const char *tab, size_t cap, size_t homes, size_t size)
{
        if (!cap) return true;
        uint64_t prev = 0;
        bool prev_full = false;
        for (size_t i = 0; i < cap; i++) {
                uint64_t h;
                memcpy(&h, tab + i * size, 8);
                if (!h) {
                        prev_full = false;
                        continue;
                }
                size_t hm = home(h, homes);
                if (hm > i || (hm < i && !prev_full) || (prev_full && cf_dd_order(h) < prev))
                        return false;
                prev = cf_dd_order(h);
                prev_full = true;
        }
        return !prev_full;
}

int cf_dd_part_check(const cf_dd_part *p)
{
        if (!ordered_ok((const char *)p->keys, p->kcap, p->khome, sizeof(cf_dd_key)) ||
            !ordered_ok((const char *)p->ships, p->scap, p->shome, sizeof(cf_dd_ship)))
                return -1;
        size_t k = 0, s = 0, ku = 0, su = 0;
        for (size_t i = 0; i < p->kcap; i++) {
                ku += p->keys[i].kh != 0;
                k += p->keys[i].kh && cf_dd_live(p, p->keys[i].t);
        }
        for (size_t i = 0; i < p->scap; i++) {
                su += p->ships[i].sh != 0;
                s += p->ships[i].sh && cf_dd_live(p, p->ships[i].t);
        }
        uint64_t kc = 0, sc = 0;
        for (uint32_t i = 0; i < p->ring; i++)
                kc += p->kcount[i], sc += p->scount[i];
        return k == p->klive && s == p->slive && ku == p->kused && su == p->sused && kc == k &&
                       sc == s
                   ? 0
                   : -1;
}
