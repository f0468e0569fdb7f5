/*
 * fuzz_restore.c - libFuzzer target for state restore (issue 17): any bytes
 * restored into a chain's partition must be refused with a reason or give a
 * state that processes a batch of real records, flushes, snapshots, and
 * restores again; never a crash, an out-of-bounds access or undefined
 * behaviour (ASan+UBSan); a refused snapshot leaves the partition as it was.
 *
 * Input: one mode byte, then the snapshot. Mode bit 0 set: when the bytes are
 * a sealed snapshot, its length and checksum are rewritten first, so the
 * mutations reach the stages' decoders instead of stopping at the checksum.
 * Chains use the bundled config (deploy/examples), which the seed corpus
 * (tests/fuzz/corpus/restore) was written with. See tests/fuzz/run.sh.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/core/chain.h"
#include "pipeline/core/config.h"
#include "pipeline/core/stenc.h"

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

static cf_chain *a, *b;
static cf_batch batch;
static cf_buf empty, s1, s2;

static cf_chain *chain(void)
{
        cf_config cfg;
        char err[1024];
        if (cf_config_load(&cfg, CF_DATADIR "/customsflow.yaml", err, sizeof(err))) {
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

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        (void)argc;
        (void)argv;
        a = chain();
        b = chain();
        cf_batch_init(&batch, N_LINES);
        if (cf_chain_snapshot(a, 0, &empty)) abort();
        cf_chain_drop(a, 0);
        return 0;
}

/* The sealed snapshot's length and checksum made right for its bytes. */
static void reseal(unsigned char *p, size_t n)
{
        if (!cf_st_is_sealed(p, n) || n < CF_ST_SEAL_HEADER) return;
        cf_st_store64(p + 8, (uint64_t)(n - CF_ST_SEAL_HEADER));
        cf_st_store64(p + 16, XXH3_64bits(p + CF_ST_SEAL_HEADER, n - CF_ST_SEAL_HEADER));
}

static void run_batch(cf_chain *c)
{
        cf_batch_reset(&batch);
        for (size_t i = 0; i < N_LINES; i++) {
                cf_record *r = cf_batch_add(&batch, lines[i], strlen(lines[i]));
                r->src = (cf_source){.topic = "fuzz", .offset = (int64_t)i, .is_file = true};
        }
        if (cf_chain_process(c, &batch) || cf_chain_flush(c, &batch, 1739260800000LL, 1)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (!size) return 0;
        int mode = data[0];
        size--;
        /* a private copy of exactly the snapshot's size: ASan sees any read past it */
        unsigned char *copy = malloc(size ? size : 1);
        memcpy(copy, data + 1, size);
        if (mode & 1) reseal(copy, size);
        char err[512];
        if (cf_chain_restore(a, 0, copy, size, err, sizeof(err))) {
                /* refused: the partition is as before (empty), in every stage */
                cf_buf_reset(&s1);
                if (cf_chain_snapshot(a, 0, &s1) || s1.len != empty.len ||
                    memcmp(s1.p, empty.p, empty.len)) {
                        fprintf(stderr, "refused (%s) but the state changed\n", err);
                        abort();
                }
        } else {
                run_batch(a);
                cf_buf_reset(&s1);
                if (cf_chain_snapshot(a, 0, &s1)) abort();
                if (cf_chain_restore(b, 0, s1.p, s1.len, err, sizeof(err))) {
                        fprintf(stderr, "own snapshot refused: %s\n", err);
                        abort();
                }
                /* and the restored copy snapshots to the same size (same content) */
                cf_buf_reset(&s2);
                if (cf_chain_snapshot(b, 0, &s2) || s2.len != s1.len) abort();
        }
        cf_chain_drop(a, 0);
        cf_chain_drop(b, 0);
        free(copy);
        return 0;
}
