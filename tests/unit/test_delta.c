/*
 * test_delta.c - incremental state (issue 18, the changelog's deltas): the
 * property that a snapshot plus the deltas after it rebuild exactly the state
 * they were taken from, and that a delta which does not belong is refused.
 *
 * Property, per seed (generated records over 3 logical partitions, small
 * table bounds so dedup and detect evict, a short exporter window and a jump
 * of event time so entries expire): chain A tracks changes; at a random cut
 * every partition is snapshotted (S0), then after random numbers of records
 * (some cuts with none: empty deltas) each partition writes a delta (D1..Dn).
 * Chain B restores S0 and applies D1..Dn. Then:
 *  - cf_chain_snapshot of B is byte-identical to A's, per partition;
 *  - the same further records through A and B give byte-identical outputs
 *    (flags, stats, dead letters) and the same decisions.
 * Refusals: a delta on the wrong base, out of sequence, truncated, with one
 * byte flipped, a snapshot given as a delta and a delta as a snapshot are
 * refused with a message, and the state is unchanged.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "bench/gen/gen.h"
#include "pipeline/core/chain.h"
#include "pipeline/core/config.h"
#include "pipeline/core/fileio.h"
#include "pipeline/core/stenc.h"

#define EXAMPLES CF_SRCDIR "/deploy/examples"
#define NPART    3
#define NOW_MS   1767225600000LL /* 2026-01-01: every generated event time is before it */
#define MAXD     64

static char cfg_path[256];

/* Replace every occurrence of from in s (malloc'd) by to; returns a new string. */
static char *replace(char *s, const char *from, const char *to)
{
        cf_buf o = {0};
        size_t fl = strlen(from);
        for (char *p = s, *q; *p; p = q + fl) {
                q = strstr(p, from);
                if (!q) {
                        cf_buf_put(&o, p, strlen(p));
                        break;
                }
                cf_buf_put(&o, p, (size_t)(q - p));
                cf_buf_put(&o, to, strlen(to));
                if (!q[fl]) break;
        }
        cf_buf_putc(&o, '\0');
        free(s);
        return o.p;
}

static char *slurp(const char *path)
{
        cf_buf b = {0};
        char err[256];
        if (cf_read_file_capped(path, 1 << 20, &b, err, sizeof(err))) fail_msg("%s", err);
        cf_buf_putc(&b, '\0');
        return b.p;
}

static void spill(const char *path, const char *s)
{
        char err[256];
        if (cf_write_file_atomic(path, s, strlen(s), err, sizeof(err))) fail_msg("%s", err);
}

/* The bundled config with small bounds (dedup 150 entries per table, detect's per-partition
 * tables 60-120, aggregate's sketches), a 20-day exporter window and day windows, written to
 * a temporary folder. */
static int setup(void **state)
{
        (void)state;
        static char dir[] = "/tmp/cf_test_delta.XXXXXX";
        assert_non_null(mkdtemp(dir));
        char *c = slurp(EXAMPLES "/customsflow.yaml");
        c = replace(c, "max_entries: 10000000", "max_entries: 150");
        /* aggregate: day windows of ~200 records per partition, whose distinct counts turn
         * dense (past 16 hashes at precision 8) and whose top exporters evict (12 kept) */
        c = replace(c, "window: 1h ", "window: 1d ");
        c = replace(c, "top_k_capacity: 200", "top_k_capacity: 12");
        c = replace(c, "hll_precision: 14", "hll_precision: 8");
        c = replace(c, "reference/", EXAMPLES "/reference/");
        c = replace(c, "rules: rules.yaml", "rules: rules_delta.yaml");
        char *r = slurp(EXAMPLES "/rules.yaml");
        r = replace(r, "reference/", EXAMPLES "/reference/");
        r = replace(r, "max_entries: 2000000", "max_entries: 120");
        r = replace(r, "window: 400d", "window: 20d");
        r = replace(r, "max_entries: 200000", "max_entries: 60");
        r = replace(r,
                    "tolerance: 1.0              # quantity over the registry row's rolling "
                    "period > capacity x this\n    max_entries: 100000",
                    "tolerance: 1.0\n    max_entries: 80");
        char path[300];
        snprintf(path, sizeof(path), "%s/rules_delta.yaml", dir);
        spill(path, r);
        snprintf(cfg_path, sizeof(cfg_path), "%s/customsflow.yaml", dir);
        spill(cfg_path, c);
        free(c);
        free(r);
        return 0;
}

static cf_chain *chain(bool track)
{
        cf_config cfg;
        char err[1024];
        if (cf_config_load(&cfg, cfg_path, err, sizeof(err))) fail_msg("%s", err);
        cf_chain *c = cf_chain_new(cfg.root, cfg.base_dir, err, sizeof(err));
        cf_config_free(&cfg);
        if (!c) fail_msg("%s", err);
        cf_chain_set_partitions(c, NPART);
        cf_chain_track_changes(c, track);
        return c;
}

/* Generated records: the first part from day 0, the rest 70 days later (a jump of the
 * watermark: dedup's 30-day window and the 20-day exporter window expire). */
typedef struct stream {
        char **lines;
        size_t n;
} stream;

/* Another line (line number 9 followed by the original's) of the same declaration and
 * shipment, seen at second 59 of the same minute: dedup moves the shipment's sighting to
 * the later time (an update in place, not an insert). */
static char *later_line(const char *l)
{
        char *x = strdup(l);
        const char *ln = strstr(x, "\"line\":"), *et = strstr(x, "\"event_time\":\"");
        if (!ln || !et) return x;
        char *z = strchr(et + 14, 'Z');
        if (z && z - et > 16) memcpy(z - 2, "59", 2);
        size_t at = (size_t)(ln - x) + 7;
        char *y = malloc(strlen(x) + 2);
        memcpy(y, x, at);
        y[at] = '9';
        strcpy(y + at + 1, x + at);
        free(x);
        return y;
}

static void gen_into(stream *s, uint64_t seed, int count, int64_t start_ms)
{
        cf_gen_opts o;
        cf_gen_opts_default(&o);
        o.seed = seed;
        o.count = (uint64_t)count;
        o.start_ms = start_ms;
        o.dup_rate = 0.15; /* re-deliveries and amendments: dedup's key versions */
        o.per_day = 600;   /* ~200 a day per partition: dedup's bound (150) is reached both
                            * with older slices (one evicted) and within one day (both
                            * tables cleared) */
        char err[256];
        cf_gen *g = cf_gen_new(&o, err, sizeof(err));
        if (!g) fail_msg("%s", err);
        cf_buf line = {0}, key = {0};
        while (!cf_gen_next(g, &line, &key, NULL)) {
                s->lines[s->n++] = strndup(line.p, line.len);
                if (s->n % 25 == 0) {
                        char *later = later_line(s->lines[s->n - 1]);
                        s->lines[s->n++] = later;
                }
                cf_buf_reset(&line);
                cf_buf_reset(&key);
        }
        cf_buf_free(&line);
        cf_buf_free(&key);
        cf_gen_free(g);
}

static stream make_stream(uint64_t seed, int count)
{
        stream s = {calloc((size_t)count * 2, sizeof(char *)), 0};
        int64_t t0 = 1735689600000LL; /* 2025-01-01 */
        gen_into(&s, seed, count * 2 / 3, t0);
        gen_into(&s, seed + 1000, count - count * 2 / 3, t0 + 70 * 86400000LL);
        return s;
}

static void free_stream(stream *s)
{
        for (size_t i = 0; i < s->n; i++)
                free(s->lines[i]);
        free(s->lines);
}

/* Records [from, to) of s through c as one batch, then a flush; the outputs' bytes and the
 * records' decisions are appended to out. */
static void run(cf_chain *c, const stream *s, size_t from, size_t to, cf_buf *out)
{
        cf_batch b;
        cf_batch_init(&b, to > from ? to - from : 1);
        b.now_ms = NOW_MS;
        for (size_t i = from; i < to; i++) {
                cf_record *r = cf_batch_add(&b, s->lines[i], strlen(s->lines[i]));
                r->src = (cf_source){.topic = "t", .offset = (int64_t)i};
        }
        cf_chain_process(c, &b);
        cf_chain_flush(c, &b, NOW_MS, 0);
        if (out) {
                for (size_t i = 0; i < b.n; i++) {
                        const cf_record *r = &b.recs[i];
                        char d[64];
                        int n = snprintf(d, sizeof(d), "%d/%d/%d/%d/%u;", r->src.partition,
                                         (int)r->status, (int)r->flagged, (int)r->n_reasons,
                                         (unsigned)r->signals);
                        cf_buf_put(out, d, (size_t)n);
                }
                cf_buf_put(out, b.out.p, b.out.len);
        }
        cf_batch_destroy(&b);
}

static void spill_bytes(const char *path, const cf_buf *b)
{
        char err[256];
        if (cf_write_file_atomic(path, b->p, b->len, err, sizeof(err))) print_error("%s\n", err);
}

/* The stage whose block holds byte off of a sealed snapshot (for the failure message). */
static const char *stage_at(const cf_buf *b, size_t off, char *name, size_t cap)
{
        size_t i = CF_ST_SEAL_HEADER;
        snprintf(name, cap, "header");
        while (i < b->len) {
                size_t n = (unsigned char)b->p[i];
                snprintf(name, cap, "%.*s", (int)n, b->p + i + 1);
                i += 1 + n;
                uint64_t len = cf_st_load64((const unsigned char *)b->p + i);
                i += 8 + len;
                if (off < i) {
                        size_t m = strlen(name);
                        snprintf(name + m, cap - m, " (block byte %zu)", (size_t)(off - (i - len)));
                        break;
                }
        }
        return name;
}

static size_t first_diff(const cf_buf *x, const cf_buf *y)
{
        size_t i = CF_ST_SEAL_HEADER; /* past the checksum */
        while (i < x->len && i < y->len && x->p[i] == y->p[i])
                i++;
        return i;
}

static cf_buf snap(cf_chain *c, int32_t p)
{
        cf_buf b = {0};
        assert_int_equal(cf_chain_snapshot(c, p, &b), 0);
        return b;
}

/* One seed of the property; returns the number of deltas written per partition. */
static int property(uint64_t seed, int count)
{
        srand((unsigned)seed);
        stream s = make_stream(seed, count);
        cf_chain *a = chain(true), *b = chain(false);
        size_t at = (size_t)(rand() % (int)(s.n / 3));
        run(a, &s, 0, at, NULL);
        cf_buf s0[NPART];
        for (int p = 0; p < NPART; p++)
                s0[p] = snap(a, p);
        cf_buf d[NPART][MAXD];
        int nd = 0;
        size_t end = s.n * 4 / 5; /* the rest: further records through both */
        while (at < end && nd < MAXD) {
                int k = rand() % 6;
                size_t step = k == 0 ? 0 : (size_t)(rand() % 150 + 1); /* 1 in 6: empty */
                if (at + step > end) step = end - at;
                run(a, &s, at, at + step, NULL);
                at += step;
                for (int p = 0; p < NPART; p++) {
                        d[p][nd] = (cf_buf){0};
                        assert_int_equal(cf_chain_delta(a, p, &d[p][nd]), 0);
                }
                nd++;
        }
        run(a, &s, at, end, NULL); /* what no delta covers yet goes into one more */
        for (int p = 0; p < NPART && nd < MAXD; p++) {
                d[p][nd] = (cf_buf){0};
                assert_int_equal(cf_chain_delta(a, p, &d[p][nd]), 0);
        }
        nd++;
        char err[512];
        for (int p = 0; p < NPART; p++) {
                if (cf_chain_restore(b, p, s0[p].p, s0[p].len, err, sizeof(err)))
                        fail_msg("seed %llu: S0 of partition %d refused: %s",
                                 (unsigned long long)seed, p, err);
                for (int i = 0; i < nd; i++)
                        if (cf_chain_apply_delta(b, p, d[p][i].p, d[p][i].len, err, sizeof(err)))
                                fail_msg("seed %llu: delta %d of partition %d refused: %s",
                                         (unsigned long long)seed, i + 1, p, err);
        }
        for (int p = 0; p < NPART; p++) {
                cf_buf x = snap(a, p), y = snap(b, p);
                char where[96];
                if ((x.len != y.len || memcmp(x.p, y.p, x.len)) && getenv("CF_DELTA_DUMP")) {
                        spill_bytes("/tmp/cf_delta_a.bin", &x);
                        spill_bytes("/tmp/cf_delta_b.bin", &y);
                }
                if (x.len != y.len || memcmp(x.p, y.p, x.len))
                        fail_msg("seed %llu partition %d: snapshot after S0 + %d deltas differs "
                                 "(%zu vs %zu bytes), first at %zu, in %s",
                                 (unsigned long long)seed, p, nd, y.len, x.len, first_diff(&x, &y),
                                 stage_at(&x, first_diff(&x, &y), where, sizeof(where)));
                cf_buf_free(&x);
                cf_buf_free(&y);
        }
        /* the same further records: the same decisions and outputs, batch by batch */
        for (size_t i = end; i < s.n; i += 40) {
                size_t to = i + 40 < s.n ? i + 40 : s.n;
                cf_buf oa = {0}, ob = {0};
                run(a, &s, i, to, &oa);
                run(b, &s, i, to, &ob);
                if (oa.len != ob.len || memcmp(oa.p, ob.p, oa.len))
                        fail_msg("seed %llu: records %zu-%zu decided differently after the "
                                 "restore",
                                 (unsigned long long)seed, i, to);
                cf_buf_free(&oa);
                cf_buf_free(&ob);
        }
        for (int p = 0; p < NPART; p++) {
                cf_buf_free(&s0[p]);
                for (int i = 0; i < nd; i++)
                        cf_buf_free(&d[p][i]);
        }
        cf_chain_destroy(a);
        cf_chain_destroy(b);
        free_stream(&s);
        return nd;
}

static void test_snapshot_plus_deltas(void **state)
{
        (void)state;
        for (uint64_t seed = 1; seed <= 4; seed++) {
                int nd = property(seed, 3000);
                print_message("seed %llu: S0 + %d deltas x %d partitions: identical\n",
                              (unsigned long long)seed, nd, NPART);
        }
}

/* The counters that prove the property's stream reaches what it is about: dedup's eviction
 * and expiry, detect's evictions (the kvtab tombstones). */
static void test_bounds_were_reached(void **state)
{
        (void)state;
        stream s = make_stream(1, 3000);
        cf_chain *a = chain(true);
        run(a, &s, 0, s.n, NULL);
        cf_buf x = {0};
        cf_chain_collect(a);
        cf_metrics *reg = cf_chain_registry(a);
        cf_metrics_encode(&x, &reg, 1);
        cf_buf_putc(&x, '\0');
        /* the dedup and detect counters of partition 0 are above zero */
        if (getenv("CF_DELTA_DUMP")) fputs(x.p, stderr);
        const char *want[] = {
            "customsflow_dedup_evicted_total{partition=\"0\",table=\"keys\"}",
            "customsflow_dedup_expired_total{partition=\"0\",table=\"keys\"}",
            "customsflow_detect_state_evicted_total{rule=\"new_exporter_surge\"}",
            "customsflow_detect_state_evicted_total{rule=\"origin_volume_surge\"}"};
        for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
                const char *p = strstr(x.p, want[i]);
                if (!p) fail_msg("no %s in\n%s", want[i], x.p);
                double v = strtod(p + strlen(want[i]), NULL);
                if (!(v > 0)) fail_msg("%s is %g: the test does not reach it", want[i], v);
        }
        print_message("dedup evicted and expired, detect evicted (2 rules): all > 0\n");
        cf_buf_free(&x);
        cf_chain_destroy(a);
        free_stream(&s);
}

/* Build a and b at the same state (S0 restored in b), then one delta d1 of a. */
static void pair(cf_chain **a, cf_chain **b, cf_buf *s0, cf_buf *d1, cf_buf *d2, stream *s)
{
        *s = make_stream(9, 900);
        *a = chain(true);
        *b = chain(false);
        run(*a, s, 0, 400, NULL);
        *s0 = snap(*a, 0);
        run(*a, s, 400, 600, NULL);
        assert_int_equal(cf_chain_delta(*a, 0, d1), 0);
        run(*a, s, 600, 900, NULL);
        assert_int_equal(cf_chain_delta(*a, 0, d2), 0);
        char err[256];
        assert_int_equal(cf_chain_restore(*b, 0, s0->p, s0->len, err, sizeof(err)), 0);
}

static void expect_refused(cf_chain *c, const void *p, size_t n, const char *needle)
{
        char err[512] = "";
        if (!cf_chain_apply_delta(c, 0, p, n, err, sizeof(err)))
                fail_msg("delta accepted, expected a refusal with '%s'", needle);
        if (!strstr(err, needle)) fail_msg("refused with '%s', expected '%s'", err, needle);
}

static void test_refusals(void **state)
{
        (void)state;
        cf_chain *a, *b;
        cf_buf s0, d1 = {0}, d2 = {0};
        stream s;
        pair(&a, &b, &s0, &d1, &d2, &s);
        cf_buf before = {0};
        cf_chain_lineage l0 = *cf_chain_lineage_of(b, 0);
        /* out of sequence: d2 before d1 */
        expect_refused(b, d2.p, d2.len, "delta 2 on base");
        /* damaged: truncated, one byte flipped anywhere after the header */
        expect_refused(b, d1.p, d1.len - 1, "truncated");
        expect_refused(b, d1.p, 10, "not a whole sealed header");
        for (size_t i = CF_ST_SEAL_HEADER; i < d1.len; i += 1 + d1.len / 97) {
                d1.p[i] ^= 0x20;
                expect_refused(b, d1.p, d1.len, "checksum mismatch");
                d1.p[i] ^= 0x20;
        }
        /* a snapshot is not a delta, nor a delta a snapshot */
        expect_refused(b, s0.p, s0.len, "this is a sealed snapshot, not a delta");
        char err[256] = "";
        assert_int_equal(cf_chain_restore(b, 1, d1.p, d1.len, err, sizeof(err)), -1);
        assert_non_null(strstr(err, "this is a sealed delta, not a snapshot"));
        /* the wrong base: b's partition 2 restored from another snapshot */
        cf_buf other = snap(a, 2);
        assert_int_equal(cf_chain_restore(b, 2, other.p, other.len, err, sizeof(err)), 0);
        err[0] = '\0';
        assert_int_equal(cf_chain_apply_delta(b, 2, d1.p, d1.len, err, sizeof(err)), -1);
        assert_non_null(strstr(err, "on base"));
        /* nothing refused changed b's partition 0: d1 and d2 still apply, and give a's state */
        assert_memory_equal(&l0, cf_chain_lineage_of(b, 0), sizeof(l0));
        assert_int_equal(cf_chain_apply_delta(b, 0, d1.p, d1.len, err, sizeof(err)), 0);
        assert_int_equal(cf_chain_apply_delta(b, 0, d2.p, d2.len, err, sizeof(err)), 0);
        /* applied twice: refused (sequence) */
        expect_refused(b, d2.p, d2.len, "delta 2 on base");
        cf_buf x = snap(a, 0), y = snap(b, 0);
        assert_int_equal(x.len, y.len);
        assert_memory_equal(x.p, y.p, x.len);
        /* tracking off: no delta */
        cf_buf z = {0};
        assert_int_equal(cf_chain_delta(b, 0, &z), -1);
        cf_buf_free(&x);
        cf_buf_free(&y);
        cf_buf_free(&z);
        cf_buf_free(&other);
        cf_buf_free(&before);
        cf_buf_free(&s0);
        cf_buf_free(&d1);
        cf_buf_free(&d2);
        cf_chain_destroy(a);
        cf_chain_destroy(b);
        free_stream(&s);
}

/* One declaration line of exporter CH-E000014 (one partition) at event time et. */
static char *decl(int id, const char *et)
{
        char *l = malloc(1024);
        snprintf(l, 1024,
                 "{\"declaration_id\":\"US-2025-%09d\",\"line\":1,\"event_time\":\"%s\","
                 "\"hs_code\":\"732620\",\"origin_country\":\"CH\",\"export_country\":\"CH\","
                 "\"exporter_id\":\"CH-E000014\",\"importer_id\":\"US-I028172\","
                 "\"quantity\":265,\"unit\":\"NMB\",\"customs_value\":16023.19,"
                 "\"currency\":\"USD\",\"reporter_country\":\"US\"}",
                 id, et);
        return l;
}

/* b's partition p after applying a's next delta: the same snapshot as a's. */
static void step_equal(cf_chain *a, cf_chain *b, int32_t p, const char *what)
{
        cf_buf d = {0};
        char err[512];
        assert_int_equal(cf_chain_delta(a, p, &d), 0);
        if (cf_chain_apply_delta(b, p, d.p, d.len, err, sizeof(err)))
                fail_msg("%s: delta refused: %s", what, err);
        cf_buf x = snap(a, p), y = snap(b, p);
        if (x.len != y.len || memcmp(x.p, y.p, x.len))
                fail_msg("%s: the snapshot after the delta differs", what);
        cf_buf_free(&x);
        cf_buf_free(&y);
        cf_buf_free(&d);
}

/* Aggregate's deltas are window-grained: a window changed only by a duplicate or a dead
 * letter is in the next delta (the property above rarely isolates those); a window the delta
 * keeps must be in the state it is applied to (refused, state unchanged, otherwise). */
static void test_aggregate_windows(void **state)
{
        (void)state;
        cf_chain *a = chain(true), *b = chain(false), *c = chain(false);
        stream s = {calloc(8, sizeof(char *)), 0};
        s.lines[s.n++] = decl(1, "2025-03-01T10:00:00Z");
        s.lines[s.n++] = decl(2, "2025-03-01T10:05:00Z");
        s.lines[s.n++] = decl(1, "2025-03-01T10:00:00Z"); /* a re-delivery */
        run(a, &s, 0, 2, NULL);
        int32_t p = -1;
        for (int32_t i = 0; i < NPART && p < 0; i++) {
                cf_buf x = snap(a, i), e = snap(c, i);
                if (x.len != e.len || memcmp(x.p, e.p, x.len)) p = i;
                cf_buf_free(&x);
                cf_buf_free(&e);
        }
        assert_true(p >= 0);
        /* a dead letter (no exporter: routed by its bytes) that lands in partition p */
        char bad[64];
        for (int k = 0; k < 1000; k++) {
                snprintf(bad, sizeof(bad), "{\"declaration_id\":%d", k);
                if (cf_partition_of(bad, strlen(bad), NPART) == p) break;
        }
        s.lines[s.n++] = strdup(bad);
        s.lines[s.n++] = decl(3, "2025-03-01T10:20:00Z"); /* the same group, later */
        cf_buf s0 = snap(a, p);
        char err[512];
        assert_int_equal(cf_chain_restore(b, p, s0.p, s0.len, err, sizeof(err)), 0);
        run(a, &s, 2, 3, NULL);
        step_equal(a, b, p, "after a duplicate");
        run(a, &s, 3, 4, NULL);
        step_equal(a, b, p, "after a dead letter");
        /* a restored state records its changes too (the service goes on with deltas after a
         * restore): t restored from S0 takes a record into the restored window's group */
        cf_chain *t = chain(true), *u = chain(false);
        assert_int_equal(cf_chain_restore(t, p, s0.p, s0.len, err, sizeof(err)), 0);
        assert_int_equal(cf_chain_restore(u, p, s0.p, s0.len, err, sizeof(err)), 0);
        run(t, &s, 4, 5, NULL);
        step_equal(t, u, p, "after a restore");
        cf_chain_destroy(t);
        cf_chain_destroy(u);
        /* nothing changed: the window is kept, and a state without it refuses that */
        cf_stage *sa = cf_chain_stage(a, "aggregate"), *sc = cf_chain_stage(c, "aggregate");
        cf_buf kept = {0}, before = {0}, after = {0};
        assert_int_equal(sa->p->delta(sa, p, &kept), 0);
        assert_int_equal(sc->p->snapshot(sc, p, &before), 0);
        err[0] = '\0';
        assert_int_equal(sc->p->apply_delta(sc, p, kept.p, kept.len, err, sizeof(err)), -1);
        assert_non_null(strstr(err, "kept by the delta but not in the partition's state"));
        assert_int_equal(sc->p->snapshot(sc, p, &after), 0);
        assert_int_equal(before.len, after.len);
        assert_memory_equal(before.p, after.p, before.len);
        cf_buf_free(&kept);
        cf_buf_free(&before);
        cf_buf_free(&after);
        cf_buf_free(&s0);
        cf_chain_destroy(a);
        cf_chain_destroy(b);
        cf_chain_destroy(c);
        free_stream(&s);
}

/* A delta is about the records since the last one, not about the state: after a state of
 * 3000 records (the bundled config's bounds, one partition), a commit of 20 records writes a
 * small part of the snapshot; the rest of it is aggregate's windows those records fell in,
 * each in full. */
static void test_delta_is_small(void **state)
{
        (void)state;
        stream s = make_stream(3, 3020);
        cf_config cfg;
        char err[1024];
        if (cf_config_load(&cfg, EXAMPLES "/customsflow.yaml", err, sizeof(err)))
                fail_msg("%s", err);
        cf_chain *a = cf_chain_new(cfg.root, cfg.base_dir, err, sizeof(err));
        cf_config_free(&cfg);
        cf_chain_track_changes(a, true);
        run(a, &s, 0, 3000, NULL);
        cf_buf full = snap(a, 0), d = {0}, agg = {0};
        run(a, &s, 3000, 3020, NULL);
        assert_int_equal(cf_chain_delta(a, 0, &d), 0);
        cf_stage *st = cf_chain_stage(a, "aggregate");
        st->p->snapshot(st, 0, &agg);
        print_message("snapshot %zu bytes; delta after 20 records %zu bytes; aggregate's "
                      "snapshot %zu\n",
                      full.len, d.len, agg.len);
        assert_true((d.len - agg.len) * 20 < full.len - agg.len);
        cf_buf_free(&full);
        cf_buf_free(&d);
        cf_buf_free(&agg);
        cf_chain_destroy(a);
        free_stream(&s);
}

static int teardown(void **state)
{
        (void)state;
        char cmd[600];
        char *slash = strrchr(cfg_path, '/');
        if (slash) {
                *slash = '\0';
                snprintf(cmd, sizeof(cmd), "rm -rf '%s'", cfg_path);
                if (system(cmd)) return 0;
        }
        return 0;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_snapshot_plus_deltas),
            cmocka_unit_test(test_bounds_were_reached),
            cmocka_unit_test(test_refusals),
            cmocka_unit_test(test_delta_is_small),
            cmocka_unit_test(test_aggregate_windows),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
