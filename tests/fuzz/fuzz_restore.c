/*
 * fuzz_restore.c - libFuzzer target for state restore (issue 17): any bytes
 * restored into a chain must be refused with a reason or give a state that
 * processes a batch of real records, flushes, snapshots, and restores again;
 * never a crash, an out-of-bounds access or undefined behaviour (ASan+UBSan).
 *
 * Input: one mode byte, then the snapshot. Mode bit 0 set: when the bytes are
 * a sealed snapshot, its length and checksum are rewritten first, so the
 * mutations reach the stages' decoders instead of stopping at the checksum.
 * Bits 1-2 choose what is restored:
 *   0, 3  a partition (cf_chain_restore): refused, the partition is unchanged
 *         (all or nothing); accepted, a batch, a flush, a snapshot restored
 *         into the other chain's fresh partition;
 *   1     the replica of the population state (cf_chain_restore_replica):
 *         refused, the replica is unchanged; accepted, a batch, an epoch
 *         barrier (publish, apply, settle), a snapshot restored into the other
 *         chain's replica;
 *   2     the state learnt from outcomes (cf_chain_global_restore): refused,
 *         starting empty again (what the service does) gives the empty state;
 *         accepted, outcomes learnt, a batch scored, a snapshot restored into
 *         the other chain.
 * Bit 3 set (issue 18): the bytes are a delta (cf_chain_apply_delta) onto
 * partition 0 restored from a fixed base (the records below, change tracking
 * on), bits 1-2 ignored; bit 4 writes the base's id and sequence number 1 into
 * it first (then bit 0 reseals), so mutations reach the stages' delta
 * decoders. Refused: the base as it was, or (the message says so) an empty
 * partition; accepted: a batch, a snapshot restored into the other chain,
 * byte-identical. Seeds: corpus/restore/delta-7-records-own (the base's own
 * contributions changed: version 3's patches) and delta-7-records (version 2).
 * Both chains are built once (LLVMFuzzerInitialize) and every run puts them
 * back to empty: building them per run (config, rules, reference data) would
 * be most of a run's time.
 * Chains use the bundled config (deploy/examples), which the seed corpus
 * (tests/fuzz/corpus/restore) was written with, in a scratch copy whose risk
 * model has 2^8 weights and encodings instead of 2^20 and 2^18 (the bounds
 * the schema allows are still checked; 14 MB of weights cleared and copied per
 * run would be nearly all of its time). See tests/fuzz/run.sh.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/core/chain.h"
#include "pipeline/core/config.h"
#include "pipeline/core/stenc.h"

#include "cfgdir.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

/* Real declarations (from `customsflow gen --seed 7`, two edited): the
 * stateful rules' tables, a re-delivery, a certificate on two exporters, a
 * bad line. */
#define FIRST                                                                                      \
        "{\"declaration_id\":\"US-2025-000000001\",\"line\":1,"                                    \
        "\"event_time\":\"2025-01-01T00:00:00Z\",\"hs_code\":\"732620\","                          \
        "\"origin_country\":\"CH\",\"export_country\":\"CH\",\"exporter_id\":\"CH-E000014\","      \
        "\"importer_id\":\"US-I028172\",\"quantity\":265277,\"unit\":\"NMB\","                     \
        "\"customs_value\":16023.19,\"currency\":\"CHF\",\"reporter_country\":\"US\","             \
        "\"direction\":\"import\",\"port_of_loading\":\"CHBSL\",\"port_of_discharge\":\"USLGB\","  \
        "\"manufacturer_id\":\"CH-M000014\",\"preference_code\":\"FTA\","                          \
        "\"certificate_of_origin\":\"CH-CO-00000001\",\"transport_mode\":\"air\","                 \
        "\"bill_of_lading\":\"100-00000000\"}"
static const char *const lines[] = {
    FIRST,
    FIRST, /* its re-delivery */
    "{\"declaration_id\":\"US-2025-000000002\",\"line\":1,\"event_time\":\"2025-01-01T03:10:00Z\","
    "\"hs_code\":\"940350\",\"origin_country\":\"VN\",\"export_country\":\"VN\",\"exporter_id\":"
    "\"VN-E000201\",\"importer_id\":\"US-I000311\",\"quantity\":120,\"unit\":\"NMB\","
    "\"customs_value\":8400,\"currency\":\"USD\",\"certificate_of_origin\":\"CH-CO-00000001\"}",
    "{\"declaration_id\":\"US-2025-000000003\",\"line\":2,\"event_time\":\"2025-01-02T11:00:00Z\","
    "\"hs_code\":\"7208390015\",\"origin_country\":\"KR\",\"export_country\":\"CN\",\"exporter_"
    "id\":"
    "\"KR-E000007\",\"importer_id\":\"US-I000002\",\"quantity\":18000,\"unit\":\"KGM\","
    "\"customs_value\":9100,\"currency\":\"USD\",\"manufacturer_country\":\"CN\","
    "\"transit_countries\":[\"SG\"],\"amendment\":1}",
    "{\"declaration_id\":\"US-2025-000000004\",\"line\":1,\"event_time\":\"2025-02-11T08:00:00Z\","
    "\"hs_code\":\"850440\",\"origin_country\":\"MY\",\"export_country\":\"MY\",\"exporter_id\":"
    "\"MY-E000042\",\"importer_id\":\"US-I000044\",\"quantity\":3,\"unit\":\"NMB\","
    "\"customs_value\":99000,\"currency\":\"USD\",\"preference_code\":\"GSP\"}",
    "{\"declaration_id\":\"US-2025-000000005\",\"line\":1,\"event_time\":\"2025-02-11T09:00:00Z\","
    "\"hs_code\":\"850440\",\"origin_country\":\"MY\",\"export_country\":\"MY\",\"exporter_id\":"
    "\"MY-E000042\",\"importer_id\":\"US-I000044\",\"quantity\":4,\"unit\":\"NMB\","
    "\"customs_value\":98000,\"currency\":\"EUR\"}",
    "{\"declaration_id\":\"bad\"",
};
#define N_LINES (sizeof(lines) / sizeof(lines[0]))

/* Inspection outcomes (the outcomes input) of two of them, and a bad one. */
static const char *const outcomes[] = {
    "{\"declaration_id\":\"US-2025-000000003\",\"line\":2,\"outcome\":\"fraud\","
    "\"inspected_at\":\"2025-01-09T10:15:00Z\",\"declaration\":"
    "{\"declaration_id\":"
    "\"US-2025-000000003\",\"line\":2,\"event_time\":\"2025-01-02T11:00:00Z\",\"hs_code\":"
    "\"7208390015\",\"origin_country\":\"KR\",\"export_country\":\"CN\",\"exporter_id\":"
    "\"KR-E000007\",\"importer_id\":\"US-I000002\",\"quantity\":18000,\"unit\":\"KGM\","
    "\"customs_value\":9100,\"currency\":\"USD\"}}",
    "{\"declaration_id\":\"US-2025-000000004\",\"line\":1,\"outcome\":\"clean\","
    "\"inspected_at\":\"2025-02-12T08:00:00Z\",\"declaration\":{\"declaration_id\":"
    "\"US-2025-000000004\",\"line\":1,\"event_time\":\"2025-02-11T08:00:00Z\",\"hs_code\":"
    "\"850440\",\"origin_country\":\"MY\",\"export_country\":\"MY\",\"exporter_id\":"
    "\"MY-E000042\",\"importer_id\":\"US-I000044\",\"quantity\":3,\"unit\":\"NMB\","
    "\"customs_value\":99000,\"currency\":\"USD\"}}",
    "{\"outcome\":\"fraud\"}",
};
#define N_OUTCOMES (sizeof(outcomes) / sizeof(outcomes[0]))

enum { PART, REPLICA, GLOBAL };

static cf_chain *a, *b;
static cf_batch batch;
/* the empty state of each kind (what a refused restore must leave) and scratch buffers */
static cf_buf empty[3], s1, s2, scratch, base;

/* UBSan and ASan findings abort (the build's flags); a 16 MB quarantine instead of
 * 256 MB: a run frees well under 1 MB, so a use after free within a run (or the next
 * few) is still caught, and reusing warm memory instead of new pages is ~1.5x faster. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
        return "quarantine_size_mb=16";
}

static cf_chain *chain(const char *path)
{
        cf_config cfg;
        char err[1024];
        if (cf_config_load(&cfg, path, err, sizeof(err))) {
                fprintf(stderr, "fuzz_restore: %s\n", err);
                abort();
        }
        cf_chain *c = cf_chain_new(cfg.root, cfg.base_dir, err, sizeof(err));
        cf_config_free(&cfg);
        if (!c) {
                fprintf(stderr, "fuzz_restore: %s\n", err);
                abort();
        }
        return c;
}

static int snapshot(cf_chain *c, int kind, cf_buf *out)
{
        cf_buf_reset(out);
        return kind == PART      ? cf_chain_snapshot(c, 0, out)
               : kind == REPLICA ? cf_chain_snapshot_replica(c, out)
                                 : cf_chain_global_snapshot(c, out);
}

static int restore(cf_chain *c, int kind, const void *p, size_t n, char *err, size_t err_size)
{
        return kind == PART      ? cf_chain_restore(c, 0, p, n, err, err_size)
               : kind == REPLICA ? cf_chain_restore_replica(c, p, n, err, err_size)
                                 : cf_chain_global_restore(c, p, n, err, err_size);
}

/* Both chains back to empty: the partition dropped, the replica and the learnt state
 * restored from nothing (as a service starts). */
static void reset(cf_chain *c, int kind)
{
        char err[512];
        cf_chain_drop(c, 0);
        if (kind != PART && restore(c, kind, NULL, 0, err, sizeof err)) {
                fprintf(stderr, "fuzz_restore: starting empty failed: %s\n", err);
                abort();
        }
}

static void same_as_empty(cf_chain *c, int kind, const char *why)
{
        if (snapshot(c, kind, &s1) || s1.len != empty[kind].len ||
            memcmp(s1.p, empty[kind].p, s1.len)) {
                fprintf(stderr, "fuzz_restore: %s but the state is not the empty one\n", why);
                abort();
        }
}

static void run(cf_chain *c, int kind);
static void fill(const char *const *msgs, size_t n);

/* The seeds of the replica and learnt-state modes (tests/fuzz/corpus/restore/replica-*,
 * global-*): the state of this chain after one run, as a file with its mode byte. */
static void write_seed(const char *dir, const char *name, int kind, int mode)
{
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        run(a, kind);
        FILE *f = fopen(path, "wb");
        unsigned char m = (unsigned char)(kind << 1 | mode);
        if (snapshot(a, kind, &s1) || !f || fwrite(&m, 1, 1, f) != 1 ||
            fwrite(s1.p, 1, s1.len, f) != s1.len || fclose(f)) {
                perror(path);
                exit(1);
        }
        reset(a, kind);
}

/* The base deltas apply to (a's partition 0 after one batch and a cumulative publish, as the
 * service's commit does: its own contributions' tables hold values, so a delta's changes to
 * them are read against something, tracking on) and, when seeds are written, the delta of a
 * second batch and publish (mode 25: bits 0, 3, 4). delta-7-records is the seed an earlier
 * build wrote (version 2: values whole, no own contributions in its base), kept as such. */
static void make_base(const char *seeds)
{
        cf_chain_track_changes(a, true);
        run(a, PART);
        cf_buf_reset(&scratch);
        if (cf_chain_publish(a, 0, CF_GLOBAL_CUMULATIVE, &scratch)) abort();
        if (cf_chain_snapshot(a, 0, &base)) abort();
        if (seeds) {
                char path[4096];
                snprintf(path, sizeof path, "%s/delta-7-records-own", seeds);
                /* the same lines under other declaration ids: new records (not
                 * re-deliveries), so the own contributions change */
                char *more[N_LINES];
                for (size_t i = 0; i < N_LINES; i++) {
                        more[i] = strdup(lines[i]);
                        char *id = more[i] ? strstr(more[i], "US-2025-0") : NULL;
                        if (id) id[8] = '1';
                }
                fill((const char *const *)more, N_LINES);
                if (cf_chain_process(a, &batch)) abort();
                for (size_t i = 0; i < N_LINES; i++)
                        free(more[i]);
                cf_buf_reset(&scratch);
                if (cf_chain_publish(a, 0, CF_GLOBAL_CUMULATIVE, &scratch)) abort();
                cf_buf_reset(&s1);
                FILE *f = fopen(path, "wb");
                if (cf_chain_delta(a, 0, &s1) || !f || fputc(25, f) == EOF ||
                    fwrite(s1.p, 1, s1.len, f) != s1.len || fclose(f)) {
                        perror(path);
                        exit(1);
                }
        }
        cf_chain_drop(a, 0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        (void)argc;
        (void)argv;
        cf_fuzz_dir_init();
        cf_fuzz_dir_edit("rules.yaml", "hash_bits: 20", "hash_bits: 8");
        cf_fuzz_dir_edit("rules.yaml", "encoding_bits: 18", "encoding_bits: 8");
        a = chain(cf_fuzz_dir_config());
        b = chain(cf_fuzz_dir_config());
        cf_batch_init(&batch, N_LINES);
        for (int k = PART; k <= GLOBAL; k++)
                if (snapshot(a, k, &empty[k])) abort();
        cf_chain_drop(a, 0);
        const char *seeds = getenv("CF_FUZZ_RESTORE_WRITE_SEEDS"); /* a folder: write, exit */
        make_base(seeds);
        if (seeds) {
                write_seed(seeds, "replica-5-records", REPLICA, 0);
                write_seed(seeds, "replica-5-records-reseal", REPLICA, 1);
                write_seed(seeds, "global-2-outcomes", GLOBAL, 0);
                write_seed(seeds, "global-2-outcomes-reseal", GLOBAL, 1);
                exit(0);
        }
        return 0;
}

/* The sealed snapshot's length and checksum made right for its bytes. */
static void reseal(unsigned char *p, size_t n)
{
        if (!cf_st_is_sealed(p, n) || n < CF_ST_SEAL_HEADER) return;
        cf_st_store64(p + 8, (uint64_t)(n - CF_ST_SEAL_HEADER));
        cf_st_store64(p + 16, XXH3_64bits(p + CF_ST_SEAL_HEADER, n - CF_ST_SEAL_HEADER));
}

static void fill(const char *const *msgs, size_t n)
{
        cf_batch_reset(&batch);
        for (size_t i = 0; i < n; i++) {
                cf_record *r = cf_batch_add(&batch, msgs[i], strlen(msgs[i]));
                r->src = (cf_source){.topic = "fuzz", .offset = (int64_t)i, .is_file = true};
        }
}

/* What a restored state is for: learn outcomes (the learnt state), run a batch, flush,
 * and publish partition 0 to the replica (the population state). */
static void run(cf_chain *c, int kind)
{
        char err[512];
        static const int32_t part0 = 0;
        if (kind == GLOBAL) {
                fill(outcomes, N_OUTCOMES);
                if (cf_chain_learn(c, &batch)) abort();
        }
        fill(lines, N_LINES);
        if (cf_chain_process(c, &batch) || cf_chain_flush(c, &batch, 1739260800000LL, 1)) abort();
        if (kind == REPLICA && cf_chain_barrier(c, &part0, 1, &scratch, err, sizeof err)) {
                fprintf(stderr, "fuzz_restore: barrier refused: %s\n", err);
                abort();
        }
}

/* Mode bit 3: copy (size bytes) as a delta onto the base. */
static void one_delta(int mode, unsigned char *copy, size_t size)
{
        char err[512];
        if (cf_chain_restore(a, 0, base.p, base.len, err, sizeof err)) abort();
        const cf_chain_lineage *l = cf_chain_lineage_of(a, 0);
        if ((mode & 16) && size >= CF_ST_SEAL_HEADER + 16) {
                cf_st_store64(copy + CF_ST_SEAL_HEADER, l->base);
                cf_st_store64(copy + CF_ST_SEAL_HEADER + 8, 1);
        }
        if (mode & 1) reseal(copy, size);
        if (cf_chain_apply_delta(a, 0, copy, size, err, sizeof err)) {
                /* refused: the base as it was, or dropped and said so (decided on the
                 * state: the message may quote the input, "was dropped" included) */
                if (snapshot(a, PART, &s1)) abort();
                bool as_base = s1.len == base.len && !memcmp(s1.p, base.p, base.len);
                bool dropped = s1.len == empty[PART].len && !memcmp(s1.p, empty[PART].p, s1.len) &&
                               strstr(err, "was dropped");
                if (!as_base && !dropped) {
                        fprintf(stderr,
                                "fuzz_restore: delta refused (%s) but the state is neither the "
                                "base nor dropped and said so\n",
                                err);
                        abort();
                }
                return;
        }
        run(a, PART);
        if (snapshot(a, PART, &s1)) abort();
        if (cf_chain_restore(b, 0, s1.p, s1.len, err, sizeof err)) {
                fprintf(stderr, "fuzz_restore: own snapshot after a delta refused: %s\n", err);
                abort();
        }
        if (snapshot(b, PART, &s2) || s2.len != s1.len || memcmp(s1.p, s2.p, s1.len)) abort();
        reset(b, PART);
}

/* CF_FUZZ_DUMP=DIR: a finding's two snapshots as files DIR/NAME, to compare them. */
static void dump(const char *name, const cf_buf *x)
{
        const char *dir = getenv("CF_FUZZ_DUMP");
        if (!dir) return;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        FILE *f = fopen(path, "wb");
        if (f) {
                fwrite(x->p, 1, x->len, f);
                fclose(f);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (!size) return 0;
        int mode = data[0], kind = (mode >> 1 & 3) == 3 ? PART : mode >> 1 & 3;
        size--;
        /* a private copy of exactly the snapshot's size: ASan sees any read past it */
        unsigned char *copy = malloc(size ? size : 1);
        memcpy(copy, data + 1, size);
        if (mode & 8) {
                one_delta(mode, copy, size);
                reset(a, PART);
                free(copy);
                return 0;
        }
        if (mode & 1) reseal(copy, size);
        char err[512];
        int rc = restore(a, kind, copy, size, err, sizeof(err));
        if (rc < 0 && kind == GLOBAL) {
                /* refused: the service forgets the model and learns again from nothing */
                reset(a, kind);
                same_as_empty(a, kind, "refused, then reset");
        } else if (rc < 0) {
                same_as_empty(a, kind, "refused"); /* all or nothing: as before (empty) */
        } else {
                run(a, kind);
                if (snapshot(a, kind, &s1)) abort();
                if (restore(b, kind, s1.p, s1.len, err, sizeof(err))) {
                        fprintf(stderr, "fuzz_restore: own snapshot refused: %s\n", err);
                        abort();
                }
                /* and the restored copy snapshots to the same size (same content) */
                if (snapshot(b, kind, &s2) || s2.len != s1.len) {
                        fprintf(stderr,
                                "fuzz_restore: the restored copy snapshots to %zu bytes, "
                                "the state it came from to %zu\n",
                                s2.len, s1.len);
                        dump("s1", &s1);
                        dump("s2", &s2);
                        abort();
                }
                reset(b, kind);
        }
        reset(a, kind);
        free(copy);
        return 0;
}
