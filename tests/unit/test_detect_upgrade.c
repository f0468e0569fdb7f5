/*
 * test_detect_upgrade.c - a partition snapshot of an earlier release (the
 * unsealed frames of releases 1-2, detect's "CDT1" tables of raw values) is
 * converted, not dropped (issue 13 item 1): its per-partition unit-value
 * histogram, certificate and yearly capacity total become this build's
 * population contributions and rolling window. The release-1 fixture
 * (tests/fixtures/state_v1) gives dedup's and aggregate's frames; its detect
 * frame is replaced by one written here in the old layout, so the test knows
 * what it holds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "helpers/detect_fx.h"
#include "pipeline/core/buf.h"

#define V1_UV_VSIZE   1312 /* 8+4+4+8+4+4 + 640 u16 */
#define V1_CERT_VSIZE 192
#define V1_CAP_VSIZE  24

static void put(cf_buf *b, const void *p, size_t n)
{
        cf_buf_put(b, p, n);
}

static void put_u32(cf_buf *b, uint32_t v)
{
        put(b, &v, 4);
}

static void put_u64(cf_buf *b, uint64_t v)
{
        put(b, &v, 8);
}

/* A table of the old layout: name, header, n entries of vsize bytes from vals. */
static void table(cf_buf *b, const char *name, uint32_t vsize, uint64_t key,
                  const unsigned char *val, int64_t max_ms)
{
        uint8_t nl = (uint8_t)strlen(name);
        put(b, &nl, 1);
        put(b, name, nl);
        put_u32(b, 0x4b56u);
        put_u32(b, vsize);
        put_u64(b, 1);
        put_u64(b, 0);
        put_u64(b, 0);
        put_u64(b, (uint64_t)max_ms);
        put_u64(b, key);
        put(b, val, vsize);
}

static uint64_t id_hash(const char *s)
{
        return cf_id_hash(s, strlen(s));
}

/* detect's payload in the layout of releases 1-2. */
static void old_detect(cf_buf *b)
{
        const int64_t mar1 = 1740787200000LL; /* 2025-03-01 */
        put_u32(b, 0x43445431u);              /* "CDT1" */
        put_u32(b, 3);
        put_u64(b, (uint64_t)(mar1 - 40LL * 86400000LL)); /* first_ms */
        /* unit value of (940350, NMB): 200 samples around 50 USD/unit (ln 3.91) */
        unsigned char uv[V1_UV_VSIZE] = {0};
        memcpy(uv, &mar1, 8);
        uint16_t *h = (uint16_t *)(uv + 32);
        h[397] = 50;
        h[398] = 100;
        h[399] = 50;
        uint64_t uvkey = (940350ull << 32) | ('N' << 16) | ('M' << 8) | 'B';
        table(b, "unit_value_outlier", V1_UV_VSIZE, uvkey, uv, mar1);
        /* certificate CO-OLD, used by TH-A on declaration D-OLD */
        unsigned char cert[V1_CERT_VSIZE] = {0};
        int64_t used = mar1 - 86400000LL;
        uint32_t one = 1;
        uint64_t dh = id_hash("D-OLD"), eh = id_hash("TH-A");
        memcpy(cert, &used, 8);
        memcpy(cert + 8, &used, 8);
        memcpy(cert + 16, &one, 4);
        memcpy(cert + 20, &one, 4);
        memcpy(cert + 24, &dh, 8);
        memcpy(cert + 56, &eh, 8);
        memcpy(cert + 88, "D-OLD", 5);
        memcpy(cert + 120, "TH-A", 4);
        table(b, "certificate_reuse", V1_CERT_VSIZE, id_hash("CO-OLD"), cert, mar1);
        /* TH-FAB-1 (registry row 0, 1,000 a year) shipped 900 this calendar year */
        unsigned char cap[V1_CAP_VSIZE] = {0};
        int64_t year = 2025;
        double qty = 900;
        memcpy(cap, &used, 8);
        memcpy(cap + 8, &year, 8);
        memcpy(cap + 16, &qty, 8);
        table(b, "capacity_exceeded", V1_CAP_VSIZE, id_hash("TH-FAB-1") ^ 0x9E3779B97F4A7C15ull,
              cap, mar1);
}

/* The release-1 fixture's frames with detect's replaced. */
static void old_snapshot(cf_buf *out)
{
        char cmd[512];
        snprintf(cmd, sizeof cmd, "gzip -dc %s/fixtures/state_v1/replay-partition-0.state.gz",
                 CF_TESTDIR);
        FILE *f = popen(cmd, "r");
        assert_non_null(f);
        cf_buf in = {0};
        char tmp[4096];
        size_t n;
        while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
                cf_buf_put(&in, tmp, n);
        assert_int_equal(pclose(f), 0);
        const unsigned char *p = (const unsigned char *)in.p, *end = p + in.len;
        while (p < end) {
                uint8_t nl = p[0];
                uint64_t len;
                memcpy(&len, p + 1 + nl, 8);
                const unsigned char *body = p + 1 + nl + 8;
                cf_buf_put(out, p, 1 + nl);
                if (nl == 6 && !memcmp(p + 1, "detect", 6)) {
                        cf_buf det = {0};
                        old_detect(&det);
                        uint64_t dl = det.len;
                        cf_buf_put(out, &dl, 8);
                        cf_buf_put(out, det.p, det.len);
                        cf_buf_free(&det);
                } else {
                        cf_buf_put(out, p + 1 + nl, 8 + len);
                }
                p = body + len;
        }
        cf_buf_free(&in);
}

static void test_release1_population_converted(void **state)
{
        (void)state;
        fx *f = fx_new();
        cf_buf snap = {0}, scratch = {0};
        old_snapshot(&snap);
        char err[256];
        int32_t part = 0;
        if (cf_chain_restore(f->chain, 0, snap.p, snap.len, err, sizeof err)) fail_msg("%s", err);
        /* the converted contributions are published at the next barrier */
        assert_int_equal(cf_chain_barrier(f->chain, &part, 1, &scratch, err, sizeof err), 0);
        cf_record *r = run1(f, &(rec){.id = "U-1",
                                      .time = "2025-03-02T10:00:00Z",
                                      .hs = "9403500000",
                                      .qty = 100,
                                      .value = 100});
        expect_fired(r, "unit_value_outlier", (const char *[]){"\"samples\":200", NULL});
        r = run1(f, &(rec){.id = "C-1",
                           .time = "2025-03-02T11:00:00Z",
                           .exporter = "TH-B",
                           .extra = "\"certificate_of_origin\":\"CO-OLD\""});
        expect_fired(r, "certificate_reuse",
                     (const char *[]){"\"first_declaration_id\":\"D-OLD\"",
                                      "\"exporters_seen\":[\"TH-A\",\"TH-B\"]", NULL});
        /* the year's 900 is in the rolling window: 200 more cross 1,000 */
        r = run1(f, &(rec){.id = "K-1",
                           .time = "2025-03-03T10:00:00Z",
                           .exporter = "TH-FAB-1",
                           .qty = 200});
        expect_fired(r, "capacity_exceeded",
                     (const char *[]){"\"cumulative_quantity\":1100", NULL});
        cf_buf_free(&snap);
        cf_buf_free(&scratch);
        fx_free(f);
}

int main(void)
{
        const struct CMUnitTest tests[] = {cmocka_unit_test(test_release1_population_converted)};
        return cmocka_run_group_tests(tests, NULL, NULL);
}
