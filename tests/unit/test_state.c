/*
 * test_state.c - the state encoding (pipeline/core/stenc) and restore of
 * damaged or hostile snapshots through the chain (issue 17, "restored state
 * is trusted"):
 *  - the encoder's bytes are little-endian whatever the host, the decoder
 *    refuses reads past the end with the offset, strings and counts are bounded;
 *  - crafted detect snapshots: release 2's format (which b13c378 restores
 *    without checks) with an origin_volume_surge ring of 4096 hours or a
 *    certificate id without its NUL, and this build's with an array count
 *    beyond its value or a table of a rule that keeps none: refused with the
 *    reason;
 *  - every single-byte flip and every truncation of a real snapshot is
 *    refused; byte flips of the old releases' fixtures are refused or give a
 *    state that runs and snapshots again (under ASan: no memory error);
 *  - a refused snapshot leaves the partition as it was in every stage;
 *  - a release-2 capacity total still decides; a window with more groups than
 *    a lowered max_groups_per_window restores.
 *
 * `test_state --write DIR` writes the crafted snapshots as replay state
 * folders (DIR/ring, DIR/cert) plus DIR/input.jsonl, to run older binaries on.
 */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "bench/gen/gen.h"
#include "pipeline/core/chain.h"
#include "pipeline/core/config.h"
#include "pipeline/core/stenc.h"

#define EXAMPLES CF_SRCDIR "/deploy/examples"
#define T0_MS    1741600800000LL /* 2025-03-10T10:00:00Z */
#define HOUR_MS  3600000LL
#define DAY_MS   86400000LL

/* ---- the encoding ---- */

static void test_encoding_bytes(void **state)
{
        (void)state;
        cf_buf b = {0};
        cf_st_put_u8(&b, 0xab);
        cf_st_put_u16(&b, 0x0102);
        cf_st_put_u32(&b, 0x03040506);
        cf_st_put_u64(&b, 0x0708090a0b0c0d0eull);
        cf_st_put_i64(&b, -2);
        cf_st_put_f64(&b, 1.0);
        cf_st_put_f32(&b, -2.0f);
        cf_st_put_str8(&b, "ab");
        size_t blk = cf_st_block_begin(&b);
        cf_st_put_u8(&b, 7);
        cf_st_block_end(&b, blk);
        static const unsigned char want[] = {
            0xab, 0x02, 0x01, 0x06, 0x05, 0x04, 0x03, 0x0e, 0x0d, 0x0c, 0x0b, 0x0a,
            0x09, 0x08, 0x07, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0,
            0,    0,    0,    0,    0,    0xf0, 0x3f, 0,    0,    0,    0xc0, 2,
            'a',  'b',  1,    0,    0,    0,    0,    0,    0,    0,    7};
        assert_int_equal(b.len, sizeof(want));
        assert_memory_equal(b.p, want, sizeof(want));
        char err[256];
        cf_st_dec d;
        cf_st_dec_init(&d, b.p, b.len, "t", err, sizeof(err));
        assert_int_equal(cf_st_u8(&d), 0xab);
        assert_int_equal(cf_st_u16(&d), 0x0102);
        assert_int_equal(cf_st_u32(&d), 0x03040506);
        assert_true(cf_st_u64(&d) == 0x0708090a0b0c0d0eull);
        assert_true(cf_st_i64(&d) == -2);
        assert_true(cf_st_f64(&d) == 1.0);
        assert_true(cf_st_f32(&d) == -2.0f);
        char s[8];
        assert_int_equal(cf_st_str8(&d, s, sizeof(s), "s"), 2);
        assert_string_equal(s, "ab");
        const unsigned char *outer = cf_st_enter(&d);
        assert_int_equal(cf_st_u8(&d), 7);
        cf_st_leave(&d, outer, "block");
        assert_true(cf_st_done(&d));
        /* one more read: refused with where and why, every later read fails too */
        assert_int_equal(cf_st_u32(&d), 0);
        assert_string_equal(err, "t: snapshot truncated at byte 47 (4 more needed, 0 left)");
        assert_false(cf_st_ok(&d));
        cf_buf_free(&b);
}

static void test_decoder_bounds(void **state)
{
        (void)state;
        char err[256], s[4];
        cf_st_dec d;
        /* a string longer than kept, one with a NUL */
        cf_st_dec_init(&d, "\x05hello", 6, "t", err, sizeof(err));
        cf_st_str8(&d, s, sizeof(s), "id");
        assert_string_equal(err, "t: id of 5 bytes > the 3 kept");
        cf_st_dec_init(&d, "\x02\x61\x00", 3, "t", err, sizeof(err));
        cf_st_str8(&d, s, sizeof(s), "id");
        assert_string_equal(err, "t: id holds a NUL byte");
        /* a count the bytes cannot hold, one above the bound */
        cf_buf b = {0};
        cf_st_put_u64(&b, 1000);
        cf_st_put_u64(&b, 0);
        cf_st_dec_init(&d, b.p, b.len, "t", err, sizeof(err));
        assert_int_equal(cf_st_count(&d, 8, UINT64_MAX, "entries"), 0);
        assert_string_equal(err, "t: 1000 entries cannot fit in the 8 bytes left");
        cf_st_dec_init(&d, b.p, b.len, "t", err, sizeof(err));
        assert_int_equal(cf_st_count(&d, 0, 999, "windows"), 0);
        assert_string_equal(err, "t: 1000 windows > the configured 999");
        /* a block longer than what is left; unread bytes of a block */
        cf_st_dec_init(&d, b.p, b.len, "t", err, sizeof(err));
        cf_st_enter(&d);
        assert_string_equal(err, "t: block at byte 0 of 1000 bytes, 8 left");
        cf_buf_reset(&b);
        size_t blk = cf_st_block_begin(&b);
        cf_st_put_u16(&b, 1);
        cf_st_block_end(&b, blk);
        cf_st_dec_init(&d, b.p, b.len, "t", err, sizeof(err));
        const unsigned char *outer = cf_st_enter(&d);
        cf_st_u8(&d);
        cf_st_leave(&d, outer, "a table");
        assert_string_equal(err, "t: 1 bytes of a table left unread");
        /* times outside the plausible range */
        cf_buf_reset(&b);
        cf_st_put_i64(&b, INT64_MIN);
        cf_st_dec_init(&d, b.p, b.len, "t", err, sizeof(err));
        cf_st_time(&d, "watermark");
        assert_non_null(strstr(err, "watermark -9223372036854775808 ms is not a plausible"));
        cf_buf_free(&b);
}

static void test_seal(void **state)
{
        (void)state;
        cf_buf b = {0};
        size_t off = cf_st_seal_begin(&b);
        cf_st_put_str8(&b, "payload");
        cf_st_seal_end(&b, off);
        char err[256];
        const void *p;
        size_t n;
        assert_true(cf_st_is_sealed(b.p, b.len));
        assert_int_equal(cf_st_unseal(b.p, b.len, &p, &n, err, sizeof(err)), 0);
        assert_int_equal(n, 8);
        assert_memory_equal(p, "\x07payload", 8);
        for (size_t i = 4; i < b.len; i++) { /* past the magic: every flip is refused */
                b.p[i] ^= 0x10;
                assert_int_equal(cf_st_unseal(b.p, b.len, &p, &n, err, sizeof(err)), -1);
                b.p[i] ^= 0x10;
        }
        b.p[30] ^= 1;
        cf_st_unseal(b.p, b.len, &p, &n, err, sizeof(err));
        assert_non_null(strstr(err, "snapshot: checksum mismatch"));
        b.p[30] ^= 1;
        cf_st_unseal(b.p, b.len - 1, &p, &n, err, sizeof(err));
        assert_string_equal(err, "snapshot: payload of 8 bytes announced, 7 present (truncated)");
        cf_buf_free(&b);
}

/* ---- chains, records ---- */

static cf_chain *chain_from(const char *path)
{
        cf_config cfg;
        char err[1024];
        if (cf_config_load(&cfg, path, err, sizeof(err))) fail_msg("%s", err);
        cf_chain *c = cf_chain_new(cfg.root, cfg.base_dir, err, sizeof(err));
        cf_config_free(&cfg);
        if (!c) fail_msg("%s", err);
        return c;
}

/* The bundled config: what replay runs without -c, and what the fixtures were made with. */
static cf_chain *chain_default(void)
{
        return chain_from(EXAMPLES "/customsflow.yaml");
}

static void run_lines(cf_chain *c, char **lines, size_t n)
{
        cf_batch b;
        cf_batch_init(&b, n ? n : 1);
        for (size_t i = 0; i < n; i++) {
                cf_record *r = cf_batch_add(&b, lines[i], strlen(lines[i]));
                r->src = (cf_source){.topic = "t", .offset = (int64_t)i, .is_file = true};
        }
        cf_chain_process(c, &b);
        cf_chain_flush(c, &b, T0_MS, 0);
        cf_batch_destroy(&b);
}

/* A generator of count records (seed), the bundled reference data. */
static cf_gen *gen(uint64_t seed, int count)
{
        cf_gen_opts o;
        cf_gen_opts_default(&o);
        o.seed = seed;
        o.count = (uint64_t)count;
        char err[256];
        cf_gen *g = cf_gen_new(&o, err, sizeof(err));
        if (!g) fail_msg("%s", err);
        return g;
}

/* count generated records (seed) through c, partition 0. */
static void feed(cf_chain *c, uint64_t seed, int count)
{
        cf_gen *g = gen(seed, count);
        cf_buf line = {0}, key = {0};
        char **lines = calloc((size_t)count, sizeof(*lines));
        size_t n = 0;
        while (n < (size_t)count && !cf_gen_next(g, &line, &key, NULL)) {
                lines[n++] = strndup(line.p, line.len);
                cf_buf_reset(&line);
                cf_buf_reset(&key);
        }
        run_lines(c, lines, n);
        for (size_t i = 0; i < n; i++)
                free(lines[i]);
        free(lines);
        cf_buf_free(&line);
        cf_buf_free(&key);
        cf_gen_free(g);
}

static cf_buf snap_of(cf_chain *c)
{
        cf_buf b = {0};
        assert_int_equal(cf_chain_snapshot(c, 0, &b), 0);
        return b;
}

/* ---- crafted snapshots ---- */

/* The bytes of release 2's chain frame: name length, name, u64 length, payload. */
static void legacy_frame(cf_buf *o, const char *name, const cf_buf *payload)
{
        cf_st_put_str8(o, name);
        cf_st_put_u64(o, payload ? payload->len : 0);
        if (payload) cf_buf_put(o, payload->p, payload->len);
}

/* A release-2 detect payload with one table (rule, raw value of vsize bytes under key). */
static void legacy_detect(cf_buf *o, const char *rule, uint64_t key, const cf_buf *val,
                          uint32_t vsize, int64_t max_ms)
{
        cf_st_put_u32(o, 0x43445431u); /* "CDT1" */
        cf_st_put_u32(o, 1);
        cf_st_put_i64(o, T0_MS - 30 * DAY_MS);
        cf_st_put_str8(o, rule);
        cf_st_put_u32(o, 0x4b56u); /* "KV" */
        cf_st_put_u32(o, vsize);
        cf_st_put_u64(o, 1);
        cf_st_put_u64(o, 0);
        cf_st_put_u64(o, 0);
        cf_st_put_i64(o, max_ms);
        cf_st_put_u64(o, key);
        cf_buf_put(o, val->p, val->len);
        for (size_t i = val->len; i < vsize; i++)
                cf_st_put_u8(o, 0);
}

/* Release 2's origin_volume_surge value for (TH, 940350) with nh hours. */
static void vol_value(cf_buf *v, int64_t t, uint16_t nh, uint16_t nd)
{
        cf_st_put_i64(v, t - HOUR_MS); /* last use */
        cf_st_put_i64(v, t - 20 * DAY_MS);
        cf_st_put_i64(v, t / HOUR_MS - 1); /* the record's hour moves the ring */
        cf_st_put_i64(v, t / DAY_MS);
        cf_st_put_u64(v, 1);
        cf_st_put_i64(v, -1);
        cf_st_put_f64(v, 0);
        cf_st_put_f64(v, 0);
        cf_st_put_u32(v, 0);
        cf_st_put_u32(v, 0);
        cf_st_put_u32(v, 0);
        cf_st_put_u16(v, nh);
        cf_st_put_u16(v, nd);
}

/* The volume rule's per-exporter value (this build's format) claiming n pairs. */
static void vdecl_value(cf_buf *v, int n)
{
        cf_st_put_i64(v, T0_MS - HOUR_MS);
        cf_st_put_u64(v, 7);
        cf_st_put_u8(v, (uint8_t)n);
        for (int i = 0; i < n; i++)
                cf_st_put_u64(v, 1000 + (uint64_t)i);
}

static uint64_t vol_key(void)
{
        return (uint64_t)CF_CC('T', 'H') << 32 | 940350;
}

/* certificate_reuse's value for CO-HOSTILE: three declarations (the next one
 * fires), first declaration id and exporter ids filling their arrays with no
 * NUL (release 2's raw struct). */
static void cert_value_raw(cf_buf *v, int64_t t)
{
        cf_st_put_i64(v, t - HOUR_MS);
        cf_st_put_i64(v, t - DAY_MS);
        cf_st_put_u32(v, 3);
        cf_st_put_u32(v, 1);
        for (int i = 0; i < 4; i++)
                cf_st_put_u64(v, i < 3 ? 1000 + (uint64_t)i : 0);
        for (int i = 0; i < 4; i++)
                cf_st_put_u64(v, i < 1 ? cf_id_hash("TH-EXP-1", 8) : 0);
        memset(cf_st_room(v, 32), 'A', 32);
        memset(cf_st_room(v, 72), 'B', 72);
}

static uint64_t cert_key(void)
{
        return cf_id_hash("CO-HOSTILE", 10);
}

/* The default config's origin_volume_surge value size (1d/30d: 24 + 33 buckets). */
#define VOL_VSIZE  424
#define CERT_VSIZE 192

/* A release-2 state with one crafted detect table (and empty dedup, aggregate). */
static cf_buf legacy_state(const char *rule, uint64_t key, const cf_buf *val, uint32_t vsize)
{
        cf_buf det = {0}, out = {0};
        legacy_detect(&det, rule, key, val, vsize, T0_MS - HOUR_MS);
        legacy_frame(&out, "dedup", NULL);
        legacy_frame(&out, "detect", &det);
        legacy_frame(&out, "aggregate", NULL);
        cf_buf_free(&det);
        return out;
}

static cf_buf hostile_ring_v2(void)
{
        cf_buf v = {0};
        vol_value(&v, T0_MS, 4096, 33);
        cf_buf s = legacy_state("origin_volume_surge", vol_key(), &v, VOL_VSIZE);
        cf_buf_free(&v);
        return s;
}

static cf_buf hostile_cert_v2(void)
{
        cf_buf v = {0};
        cert_value_raw(&v, T0_MS);
        cf_buf s = legacy_state("certificate_reuse", cert_key(), &v, CERT_VSIZE);
        cf_buf_free(&v);
        return s;
}

/* A sealed state of c's partition 0 whose detect block is replaced by det. */
static cf_buf sealed_with_detect(cf_chain *c, const cf_buf *det)
{
        cf_buf s = snap_of(c), out = {0};
        const void *p;
        size_t n;
        char err[256];
        assert_int_equal(cf_st_unseal(s.p, s.len, &p, &n, err, sizeof(err)), 0);
        cf_st_dec d;
        cf_st_dec_init(&d, p, n, "t", err, sizeof(err));
        size_t off = cf_st_seal_begin(&out);
        while (cf_st_left(&d)) {
                char name[32];
                cf_st_str8(&d, name, sizeof(name), "name");
                const unsigned char *outer = cf_st_enter(&d);
                const unsigned char *body = d.p;
                size_t blen = cf_st_left(&d);
                d.p = d.end;
                cf_st_leave(&d, outer, "block");
                cf_st_put_str8(&out, name);
                size_t blk = cf_st_block_begin(&out);
                if (!strcmp(name, "detect"))
                        cf_buf_put(&out, det->p, det->len);
                else
                        cf_buf_put(&out, body, blen);
                cf_st_block_end(&out, blk);
        }
        assert_true(cf_st_ok(&d));
        cf_st_seal_end(&out, off);
        cf_buf_free(&s);
        return out;
}

/* A sealed detect payload (version 2) with one table holding one value. */
static void sealed_detect(cf_buf *o, const char *rule, uint64_t key, const cf_buf *val)
{
        memcpy(cf_st_room(o, 4), "CFDT", 4);
        cf_st_put_u16(o, 2);
        cf_st_put_i64(o, T0_MS - 30 * DAY_MS);
        cf_st_put_u8(o, 1);
        cf_st_put_str8(o, rule);
        size_t blk = cf_st_block_begin(o);
        cf_st_put_u64(o, 1);
        cf_st_put_u64(o, 0);
        cf_st_put_u64(o, 0);
        cf_st_put_i64(o, T0_MS - HOUR_MS);
        cf_st_put_u64(o, key);
        cf_buf_put(o, val->p, val->len);
        cf_st_block_end(o, blk);
}

static void expect_refused(cf_chain *c, const cf_buf *s, const char *reason)
{
        char err[512] = "";
        assert_int_equal(cf_chain_restore(c, 0, s->p, s->len, err, sizeof(err)), -1);
        if (!strstr(err, reason)) fail_msg("refused for '%s', expected '%s'", err, reason);
}

static void test_hostile_detect(void **state)
{
        (void)state;
        cf_chain *c = chain_default();
        cf_buf s = hostile_ring_v2();
        expect_refused(c, &s,
                       "detect snapshot: origin_volume_surge: ring of 4096 hours: 1..72 "
                       "(short_window at most 72h)");
        cf_buf_free(&s);
        s = hostile_cert_v2();
        expect_refused(c, &s,
                       "detect snapshot: certificate_reuse: first_declaration_id is not "
                       "NUL-terminated within its 32 bytes");
        cf_buf_free(&s);
        /* this build's format (a writer with the key: the checksum is right): the volume
         * rule's per-exporter table with more pairs than a value holds (written, they
         * would run past it), a certificate table (population state, not a partition's) */
        cf_buf v = {0}, det = {0};
        vdecl_value(&v, 200);
        sealed_detect(&det, "origin_volume_surge", 42, &v);
        s = sealed_with_detect(c, &det);
        expect_refused(c, &s, "origin_volume_surge: 200 pairs for a declaration, at most 6 kept");
        cf_buf_free(&s);
        cf_buf_reset(&det);
        sealed_detect(&det, "certificate_reuse", cert_key(), &v);
        s = sealed_with_detect(c, &det);
        expect_refused(c, &s, "state for rule 'certificate_reuse', which keeps none in this build");
        cf_buf_free(&s);
        cf_buf_free(&v);
        cf_buf_free(&det);
        cf_chain_destroy(c);
}

/* ---- damage ---- */

/* Restore s into a chain; when accepted, the state must run a batch and
 * snapshot again into something that restores. Returns the restore's rc.
 * The two chains are kept (building one loads the reference data) and their
 * partition dropped after each use. */
static int restore_and_use(const void *s, size_t len)
{
        static cf_chain *c, *d;
        if (!c) c = chain_default();
        if (!d) d = chain_default();
        char err[512];
        int rc = cf_chain_restore(c, 0, s, len, err, sizeof(err));
        if (!rc) {
                feed(c, 3, 20);
                cf_buf again = snap_of(c);
                if (cf_chain_restore(d, 0, again.p, again.len, err, sizeof(err)))
                        fail_msg("re-snapshot of an accepted state refused: %s", err);
                cf_buf_free(&again);
        }
        cf_chain_drop(c, 0);
        cf_chain_drop(d, 0);
        return rc;
}

static void test_flips_and_cuts_sealed(void **state)
{
        (void)state;
        cf_chain *c = chain_default();
        feed(c, 5, 40);
        cf_buf s = snap_of(c);
        assert_true(s.len > 2000);
        char err[512];
        /* every single-byte flip, every truncation: refused (the seal, or, in the
         * magic, no known frame); the chain is reused: a refusal changes nothing */
        cf_chain *r = chain_default();
        for (size_t i = 0; i < s.len; i++) {
                s.p[i] ^= (char)(1u << (i % 8));
                if (!cf_chain_restore(r, 0, s.p, s.len, err, sizeof(err)))
                        fail_msg("flip of byte %zu accepted", i);
                s.p[i] ^= (char)(1u << (i % 8));
        }
        for (size_t cut = 1; cut < s.len; cut++)
                if (!cf_chain_restore(r, 0, s.p, cut, err, sizeof(err)))
                        fail_msg("truncation to %zu of %zu bytes accepted", cut, s.len);
        assert_int_equal(restore_and_use(s.p, s.len), 0);
        /* the global state (learnt from outcomes) is sealed the same way */
        cf_buf g = {0};
        assert_int_equal(cf_chain_global_snapshot(c, &g), 0);
        assert_true(cf_st_is_sealed(g.p, g.len));
        assert_true(cf_chain_global_restore(r, g.p, g.len, err, sizeof(err)) >= 0);
        for (size_t i = 0; i < g.len; i++) {
                g.p[i] ^= 0x20;
                if (cf_chain_global_restore(r, g.p, g.len, err, sizeof(err)) >= 0)
                        fail_msg("flip of global byte %zu accepted", i);
                g.p[i] ^= 0x20;
        }
        cf_buf_free(&g);
        cf_buf_free(&s);
        cf_chain_destroy(r);
        cf_chain_destroy(c);
}

/* The decompressed bytes of a gzip fixture. */
static cf_buf gunzip(const char *path)
{
        char cmd[1024];
        snprintf(cmd, sizeof(cmd), "gzip -dc '%s'", path);
        FILE *f = popen(cmd, "r");
        assert_non_null(f);
        cf_buf b = {0};
        char chunk[65536];
        size_t n;
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
                cf_buf_put(&b, chunk, n);
        assert_int_equal(pclose(f), 0);
        return b;
}

/* The offset of every frame and stage header of an old release's state
 * (name length, name, u64 length, payload) into at[]; returns how many. */
static size_t old_frames(const cf_buf *s, size_t *at, size_t max)
{
        size_t n = 0, i = 0;
        while (i + 9 < s->len && n < max) {
                at[n++] = i;
                size_t nl = (unsigned char)s->p[i];
                uint64_t len = cf_st_load64((const unsigned char *)s->p + i + 1 + nl);
                i += 1 + nl + 8 + len;
        }
        return n;
}

/* Flips of an old release's state (unsealed: no checksum): every byte of
 * each frame's first `head` (frame and stage headers, first entries), and
 * every step-th byte: refused, or accepted and usable; never a memory error
 * (the ASan build runs this too). Truncations at those places: all refused. */
static void flip_old(const char *fixture, size_t head, size_t step)
{
        cf_buf s = gunzip(fixture);
        assert_int_equal(restore_and_use(s.p, s.len), 0);
        size_t at[8], nf = old_frames(&s, at, 8), refused = 0, tried = 0;
        assert_int_equal(nf, 3);
        cf_chain *r = chain_default();
        char err[512];
        for (size_t i = 1; i < s.len; i++) {
                bool in_head = false;
                for (size_t f = 0; f < nf; f++)
                        in_head |= i >= at[f] && i < at[f] + head;
                if (!in_head && i % step) continue;
                s.p[i] ^= (char)0x41;
                refused += restore_and_use(s.p, s.len) != 0;
                s.p[i] ^= (char)0x41;
                tried++;
                if (!cf_chain_restore(r, 0, s.p, i, err, sizeof(err)))
                        fail_msg("%s: truncation to %zu of %zu bytes accepted", fixture, i, s.len);
        }
        print_message("%s: %zu of %zu flips refused, the others restore and run\n", fixture,
                      refused, tried);
        cf_chain_destroy(r);
        cf_buf_free(&s);
}

static void test_flips_old_releases(void **state)
{
        (void)state;
        /* 145 KB: 200 bytes a frame; 1.37 MB (each restore ten times the work): 64 */
        flip_old(CF_TESTDIR "/fixtures/state_v1/replay-partition-0.state.gz", 200, 1499);
        flip_old(CF_TESTDIR "/fixtures/state_v2/replay-partition-0.state.gz", 64, 49999);
}

/* Run generated records (seed) through a and b, one at a time: same decisions and evidence. */
static void same_decisions(cf_chain *a, cf_chain *b, uint64_t seed, int count)
{
        cf_gen *g = gen(seed, count);
        cf_buf line = {0}, key = {0};
        cf_batch ba, bb;
        cf_batch_init(&ba, 1);
        cf_batch_init(&bb, 1);
        while (!cf_gen_next(g, &line, &key, NULL)) {
                cf_batch_reset(&ba);
                cf_batch_reset(&bb);
                cf_record *x = cf_batch_add(&ba, line.p, line.len);
                cf_record *y = cf_batch_add(&bb, line.p, line.len);
                x->src = y->src = (cf_source){.topic = "t", .is_file = true};
                cf_chain_process(a, &ba);
                cf_chain_process(b, &bb);
                assert_int_equal(x->status, y->status);
                assert_int_equal(x->n_reasons, y->n_reasons);
                for (int k = 0; k < x->n_reasons; k++) {
                        assert_string_equal(x->reasons[k].rule, y->reasons[k].rule);
                        assert_string_equal(x->reasons[k].evidence, y->reasons[k].evidence);
                }
                cf_buf_reset(&line);
                cf_buf_reset(&key);
        }
        cf_batch_destroy(&ba);
        cf_batch_destroy(&bb);
        cf_buf_free(&line);
        cf_buf_free(&key);
        cf_gen_free(g);
}

/* A snapshot refused by a later stage leaves the earlier ones as they were. */
static void test_all_or_nothing(void **state)
{
        (void)state;
        cf_chain *a = chain_default(), *b = chain_default(), *ref = chain_default();
        feed(a, 5, 300);
        feed(ref, 5, 300);
        feed(b, 6, 300);
        cf_buf before = snap_of(a);
        cf_buf v = {0}, det = {0};
        vdecl_value(&v, 200);
        sealed_detect(&det, "origin_volume_surge", 42, &v);
        cf_buf bad = sealed_with_detect(b, &det); /* b's dedup and aggregate, a bad detect */
        expect_refused(a, &bad, "200 pairs for a declaration");
        /* a holds what it held (the same bytes, maybe in another table order) and
         * decides like ref, which never saw the refused snapshot; without the
         * rollback its dedup would hold b's keys and its aggregate b's windows */
        cf_buf after = snap_of(a);
        assert_int_equal(after.len, before.len);
        same_decisions(a, ref, 5, 300);
        cf_buf_free(&before);
        cf_buf_free(&after);
        cf_buf_free(&bad);
        cf_buf_free(&v);
        cf_buf_free(&det);
        cf_chain_destroy(a);
        cf_chain_destroy(b);
        cf_chain_destroy(ref);
}

/* capacity_exceeded's release-2 value (that calendar year's quantity so far)
 * becomes a rolling window holding it: VN-R000002 may ship 60,000 NMB of
 * 9403.50 in 365 days (deploy/examples exporters.csv, its second row). */
static void test_capacity_release2(void **state)
{
        (void)state;
        cf_buf v = {0};
        cf_st_put_i64(&v, T0_MS - DAY_MS); /* last use */
        cf_st_put_i64(&v, 2025);
        cf_st_put_f64(&v, 59000);
        uint64_t key = cf_id_hash("VN-R000002", 10) ^ (2 * 0x9E3779B97F4A7C15ull);
        cf_buf s = legacy_state("capacity_exceeded", key, &v, 24);
        char line[512], err[512];
        snprintf(line, sizeof(line),
                 "{\"declaration_id\":\"CAP-1\",\"line\":1,\"event_time\":"
                 "\"2025-03-10T10:00:00Z\",\"hs_code\":\"9403500000\",\"origin_country\":\"VN\","
                 "\"export_country\":\"VN\",\"exporter_id\":\"VN-R000002\",\"importer_id\":"
                 "\"US-I-1\",\"quantity\":2000,\"unit\":\"NMB\",\"customs_value\":100,"
                 "\"currency\":\"USD\"}");
        for (int restored = 0; restored < 2; restored++) {
                cf_chain *c = chain_default();
                if (restored && cf_chain_restore(c, 0, s.p, s.len, err, sizeof(err)))
                        fail_msg("%s", err);
                char *lines[] = {line};
                char fired[2];
                cf_batch b;
                cf_batch_init(&b, 1);
                cf_record *r = cf_batch_add(&b, lines[0], strlen(lines[0]));
                r->src = (cf_source){.topic = "t", .is_file = true};
                cf_chain_process(c, &b);
                assert_int_equal(r->status, CF_REC_OK);
                fired[0] = '0';
                for (int k = 0; k < r->n_reasons; k++)
                        if (!strcmp(r->reasons[k].rule, "capacity_exceeded")) {
                                fired[0] = '1';
                                /* 59,000 spread over 68 days as floats, plus 2,000 */
                                const char *q =
                                    strstr(r->reasons[k].evidence, "\"cumulative_quantity\":");
                                assert_non_null(q);
                                double sum = strtod(q + 22, NULL);
                                assert_true(sum > 60999 && sum < 61001);
                        }
                assert_int_equal(fired[0], restored ? '1' : '0');
                cf_batch_destroy(&b);
                cf_chain_destroy(c);
        }
        cf_buf_free(&s);
        cf_buf_free(&v);
}

/* dir/cf.yaml: the bundled fx rates, rules_dir's rules.yaml, then extra (YAML lines under
 * stages:); its path into path. */
static void write_config(const char *dir, const char *rules_dir, const char *extra, char *path,
                         size_t size)
{
        snprintf(path, size, "%s/cf.yaml", dir);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fprintf(f,
                "stages:\n  decode: {fx_rates: %s/reference/fx_rates.csv}\n"
                "  detect: {rules: %s/rules.yaml}\n%s",
                EXAMPLES, rules_dir, extra);
        fclose(f);
}

/* SIGHUP lowering max_groups_per_window: open windows keep their groups (the
 * bound applies to new ones), and so does the state restored from their
 * snapshot (it was refused: a partition stuck after a reload and a restart). */
static void test_groups_above_bound(void **state)
{
        (void)state;
        char dir[] = "/tmp/cf-test-state-XXXXXX", path[600];
        assert_non_null(mkdtemp(dir));
        write_config(dir, EXAMPLES, "  aggregate: {max_groups_per_window: 3}\n", path,
                     sizeof(path));
        cf_chain *a = chain_default(), *b = chain_from(path);
        feed(a, 5, 300);
        cf_config cfg;
        char err[1024];
        if (cf_config_load(&cfg, path, err, sizeof(err))) fail_msg("%s", err);
        assert_int_equal(cf_chain_reload(a, cfg.root, cfg.base_dir, err, sizeof(err)), 0);
        cf_config_free(&cfg);
        feed(a, 6, 20);
        cf_buf s = snap_of(a);
        if (cf_chain_restore(b, 0, s.p, s.len, err, sizeof(err))) fail_msg("refused: %s", err);
        cf_buf_free(&s);
        cf_chain_destroy(a);
        cf_chain_destroy(b);
        snprintf(path, sizeof(path), "rm -rf '%s'", dir);
        assert_int_equal(system(path), 0);
}

/* Partition 0's contributions published as the service does (cumulative) and applied to
 * c's replica; pub is scratch. */
static void publish_apply(cf_chain *c, cf_buf *pub)
{
        char err[1024];
        cf_buf_reset(pub);
        assert_int_equal(cf_chain_publish(c, 0, CF_GLOBAL_CUMULATIVE, pub), 0);
        if (cf_chain_apply_all(c, pub->p, pub->len, err, sizeof(err))) fail_msg("%s", err);
        cf_chain_settle(c);
}

/* SIGHUP lengthening origin_volume_surge's windows (24h/30d to 72h/90d): the volume values
 * made after it (replica and own) get the new ring sizes while the tables keep the value
 * size they were made with. */
static void test_reload_longer_volume_windows(void **state)
{
        (void)state;
        char dir[] = "/tmp/cf-test-state-XXXXXX", path[700];
        assert_non_null(mkdtemp(dir));
        snprintf(
            path, sizeof(path),
            "ln -s '%s/reference' '%s/reference' && sed -e 's/short_window: 1d/short_window: "
            "72h/' -e 's/long_window: 30d/long_window: 90d/' '%s/rules.yaml' > '%s/rules.yaml'",
            EXAMPLES, dir, EXAMPLES, dir);
        assert_int_equal(system(path), 0);
        write_config(dir, dir, "", path, sizeof(path));
        cf_chain *a = chain_default();
        char err[1024];
        cf_buf pub = {0};
        feed(a, 5, 3000);
        publish_apply(a, &pub); /* the service's way: own contributions, to the replica */
        cf_config cfg;
        if (cf_config_load(&cfg, path, err, sizeof(err))) fail_msg("%s", err);
        assert_int_equal(cf_chain_reload(a, cfg.root, cfg.base_dir, err, sizeof(err)), 0);
        cf_config_free(&cfg);
        feed(a, 6, 3000);
        publish_apply(a, &pub);
        feed(a, 7, 3000);
        cf_buf_free(&pub);
        cf_buf s = snap_of(a);
        cf_chain *b = chain_from(path);
        if (cf_chain_restore(b, 0, s.p, s.len, err, sizeof(err))) fail_msg("refused: %s", err);
        cf_buf_free(&s);
        /* the replica's snapshot reads back into the layout it has until a restart (without
         * the cap, writing and reading each new value's rings went past it: ASan reports the
         * snapshot's read past the table; neighbours' bytes read as slots are refused) */
        cf_buf r = {0};
        cf_chain *c = chain_default();
        assert_int_equal(cf_chain_snapshot_replica(a, &r), 0);
        if (cf_chain_restore_replica(c, r.p, r.len, err, sizeof(err))) fail_msg("%s", err);
        cf_chain_destroy(c);
        cf_buf_free(&r);
        cf_chain_destroy(a);
        cf_chain_destroy(b);
        snprintf(path, sizeof(path), "rm -rf '%s'", dir);
        assert_int_equal(system(path), 0);
}

/* ---- --write DIR ---- */

static void write_file(const char *path, const cf_buf *b)
{
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(b->p, 1, b->len, f) != b->len || fclose(f)) {
                perror(path);
                exit(1);
        }
}

static int write_hostile(const char *dir)
{
        char p[1024];
        cf_buf s = hostile_ring_v2();
        snprintf(p, sizeof(p), "%s/ring", dir);
        mkdir(p, 0755);
        snprintf(p, sizeof(p), "%s/ring/replay-partition-0.state", dir);
        write_file(p, &s);
        cf_buf_free(&s);
        s = hostile_cert_v2();
        snprintf(p, sizeof(p), "%s/cert", dir);
        mkdir(p, 0755);
        snprintf(p, sizeof(p), "%s/cert/replay-partition-0.state", dir);
        write_file(p, &s);
        cf_buf_free(&s);
        /* a declaration of (TH, 9403.50) at T0 with certificate CO-HOSTILE */
        cf_buf in = {0};
        cf_buf_puts(&in, "{\"declaration_id\":\"HOSTILE-1\",\"line\":1,\"event_time\":"
                         "\"2025-03-10T10:00:00Z\",\"hs_code\":\"9403500000\",\"origin_country\":"
                         "\"TH\",\"export_country\":\"TH\",\"exporter_id\":\"TH-EXP-1\","
                         "\"importer_id\":\"US-IMP-1\",\"quantity\":100,\"unit\":\"NMB\","
                         "\"customs_value\":5000,\"currency\":\"USD\",\"certificate_of_origin\":"
                         "\"CO-HOSTILE\"}\n");
        snprintf(p, sizeof(p), "%s/input.jsonl", dir);
        write_file(p, &in);
        cf_buf_free(&in);
        return 0;
}

int main(int argc, char **argv)
{
        if (argc == 3 && !strcmp(argv[1], "--write")) return write_hostile(argv[2]);
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_encoding_bytes),
            cmocka_unit_test(test_decoder_bounds),
            cmocka_unit_test(test_seal),
            cmocka_unit_test(test_hostile_detect),
            cmocka_unit_test(test_flips_and_cuts_sealed),
            cmocka_unit_test(test_all_or_nothing),
            cmocka_unit_test(test_flips_old_releases),
            cmocka_unit_test(test_capacity_release2),
            cmocka_unit_test(test_groups_above_bound),
            cmocka_unit_test(test_reload_longer_volume_windows),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
