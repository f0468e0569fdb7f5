/*
 * test_detect.c - the detect stage's rules, one test per rule: it fires on
 * the pattern with its evidence, and not on the legitimate look-alike. Runs
 * the real chain (decode -> dedup -> detect) over JSON lines with the test
 * rules and reference data in tests/fixtures/detect (not the examples).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "pipeline/core/chain.h"
#include "pipeline/core/config.h"
#include "stages/detect/detect_int.h"
#include "stages/encode/encode.h"
#include "helpers/detect_fx.h"

static void test_trade_remedy_evasion(void **state)
{
        fx *f = fx_new();
        /* fasteners under a measure against CN, declared Vietnamese, exported from CN */
        cf_record *r = run1(f, &(rec){.hs = "7318150000", .origin = "VN", .export = "CN"});
        expect_fired(r, "trade_remedy_evasion",
                     (const char *[]){"\"case_id\":\"AD-TEST-1\"",
                                      "\"measure_type\":\"anti_dumping\"",
                                      "\"affected_country\":\"CN\"", "\"origin_country\":\"VN\"",
                                      "\"route_field\":\"export_country\"", NULL});
        expect_explained(r, "trade_remedy_evasion",
                         "HS 7318 is under anti_dumping measure AD-TEST-1 against CN (duty 85.5%); "
                         "declared origin VN, but the export country is CN");
        assert_true(r->flagged);
        /* via transit and port of loading */
        r = run1(f, &(rec){.hs = "7318150000",
                           .origin = "VN",
                           .export = "VN",
                           .extra = "\"transit_countries\":[\"CN\"]"});
        expect_fired(r, "trade_remedy_evasion",
                     (const char *[]){"\"route_field\":\"transit_countries\"", NULL});
        expect_explained(r, "trade_remedy_evasion",
                         "HS 7318 is under anti_dumping measure AD-TEST-1 against CN (duty 85.5%); "
                         "declared origin VN, but the goods transit CN");
        r = run1(f, &(rec){.hs = "7318150000",
                           .origin = "VN",
                           .export = "VN",
                           .extra = "\"port_of_loading\":\"CNSHA\""});
        expect_fired(r, "trade_remedy_evasion",
                     (const char *[]){"\"route_field\":\"port_of_loading\"", NULL});
        /* look-alikes: goods shipped direct from the affected country under its own
         * origin; transit through a country that is not affected; before the
         * measure; a measure that expired; other goods */
        expect_quiet(run1(f, &(rec){.hs = "7318150000", .origin = "CN", .export = "CN"}),
                     "trade_remedy_evasion");
        expect_quiet(run1(f, &(rec){.hs = "7318150000",
                                    .origin = "VN",
                                    .export = "VN",
                                    .extra = "\"transit_countries\":[\"SG\"]"}),
                     "trade_remedy_evasion");
        expect_quiet(run1(f, &(rec){.hs = "7318150000",
                                    .origin = "VN",
                                    .export = "CN",
                                    .time = "2024-05-31T23:00:00Z"}),
                     "trade_remedy_evasion");
        expect_quiet(run1(f, &(rec){.hs = "4407110000", .origin = "FI", .export = "RU"}),
                     "trade_remedy_evasion");
        expect_quiet(run1(f, &(rec){.hs = "7320100000", .origin = "VN", .export = "CN"}),
                     "trade_remedy_evasion");
        fx_free(f);
}

static void test_origin_route_mismatch(void **state)
{
        fx *f = fx_new();
        cf_record *r = run1(f, &(rec){.hs = "8501100000", .origin = "MY", .export = "SG"});
        expect_fired(r, "origin_route_mismatch",
                     (const char *[]){"\"origin_country\":\"MY\"", "\"export_country\":\"SG\"",
                                      "\"list_kind\":\"origin\"", "\"list_value\":\"MY\"", NULL});
        expect_explained(r, "origin_route_mismatch",
                         "declared origin MY differs from the export country SG; origin MY is on "
                         "the route watch list (test hub)");
        /* a watch-listed chapter, mismatch through the port of loading */
        r = run1(f, &(rec){.hs = "7326200000",
                           .origin = "DE",
                           .export = "DE",
                           .extra = "\"port_of_loading\":\"NLRTM\""});
        expect_fired(r, "origin_route_mismatch",
                     (const char *[]){"\"port_of_loading_country\":\"NL\"",
                                      "\"list_kind\":\"hs_chapter\"", NULL});
        expect_explained(r, "origin_route_mismatch",
                         "declared origin DE differs from the port-of-loading country NL; HS "
                         "chapter 73 is on the route watch list (test chapter)");
        /* look-alikes: origin differs for goods and origins not on the list; listed
         * origin shipped from itself */
        expect_quiet(run1(f, &(rec){.hs = "8501100000", .origin = "DE", .export = "NL"}),
                     "origin_route_mismatch");
        expect_quiet(run1(f, &(rec){.hs = "8501100000", .origin = "MY", .export = "MY"}),
                     "origin_route_mismatch");
        fx_free(f);
}

static void test_manufacturer_origin_mismatch(void **state)
{
        fx *f = fx_new();
        cf_record *r = run1(f, &(rec){.origin = "VN", .extra = "\"manufacturer_country\":\"CN\""});
        expect_fired(r, "manufacturer_origin_mismatch",
                     (const char *[]){"\"manufacturer_country\":\"CN\"",
                                      "\"source_field\":\"manufacturer_country\"", NULL});
        expect_explained(r, "manufacturer_origin_mismatch",
                         "manufacturer country CN differs from declared origin VN");
        r = run1(f, &(rec){.origin = "VN", .extra = "\"manufacturer_id\":\"CN-M-77\""});
        expect_fired(r, "manufacturer_origin_mismatch",
                     (const char *[]){"\"source_field\":\"manufacturer_id\"",
                                      "\"manufacturer_id\":\"CN-M-77\"", NULL});
        expect_explained(r, "manufacturer_origin_mismatch",
                         "manufacturer country CN (prefix of manufacturer_id CN-M-77) differs from "
                         "declared origin VN");
        expect_quiet(run1(f, &(rec){.origin = "VN", .extra = "\"manufacturer_id\":\"VN-M-77\""}),
                     "manufacturer_origin_mismatch");
        /* an id whose prefix is not a country code says nothing */
        expect_quiet(run1(f, &(rec){.origin = "VN", .extra = "\"manufacturer_id\":\"XQ-M-77\""}),
                     "manufacturer_origin_mismatch");
        expect_quiet(run1(f, &(rec){.origin = "VN", .extra = "\"manufacturer_id\":\"ACME-77\""}),
                     "manufacturer_origin_mismatch");
        fx_free(f);
}

/* 80 legitimate prices around 50 USD/unit (a deterministic spread of +-20 %). */
static void feed_baseline(fx *f, const char *hs)
{
        for (int i = 0; i < 80; i++) {
                char id[32];
                snprintf(id, sizeof(id), "B-%d", i);
                double price = 50.0 * (0.8 + 0.4 * ((i * 37) % 80) / 80.0);
                cf_record *r =
                    run1(f, &(rec){.id = id, .hs = hs, .qty = 100, .value = 100 * price});
                expect_quiet(r, "unit_value_outlier");
        }
}

static void test_unit_value_outlier(void **state)
{
        fx *f = fx_new();
        /* before min_samples nothing may fire, however odd the price */
        expect_quiet(run1(f, &(rec){.id = "E-0", .hs = "9403500000", .qty = 100, .value = 10}),
                     "unit_value_outlier");
        feed_baseline(f, "9403500000");
        cf_record *r = run1(f, &(rec){.id = "U-1", .hs = "9403500000", .qty = 100, .value = 100});
        expect_fired(r, "unit_value_outlier",
                     (const char *[]){"\"direction\":\"undervalued\"", "\"unit_value_usd\":1",
                                      "\"baseline_median_usd\":", "\"z\":-", "\"samples\":", NULL});
        expect_explained(r, "unit_value_outlier",
                         "unit value 1 USD/NMB is 26.1 robust SDs below the median 49.8 for HS "
                         "940350 over 81 samples");
        r = run1(f, &(rec){.id = "U-2", .hs = "9403500000", .qty = 100, .value = 100 * 2500});
        expect_fired(r, "unit_value_outlier",
                     (const char *[]){"\"direction\":\"overvalued\"", NULL});
        expect_explained(r, "unit_value_outlier",
                         "unit value 2,500 USD/NMB is 26.2 robust SDs above the median 49.8 for HS "
                         "940350 over 81 samples");
        /* a real price spread: 35 and 70 USD/unit are within it */
        expect_quiet(run1(f, &(rec){.id = "L-1", .hs = "9403500000", .qty = 100, .value = 3500}),
                     "unit_value_outlier");
        expect_quiet(run1(f, &(rec){.id = "L-2", .hs = "9403500000", .qty = 100, .value = 7000}),
                     "unit_value_outlier");
        /* other goods or another unit have their own baseline (none yet) */
        expect_quiet(run1(f, &(rec){.id = "O-1", .hs = "9403600000", .qty = 100, .value = 100}),
                     "unit_value_outlier");
        expect_quiet(
            run1(f,
                 &(rec){.id = "O-2", .hs = "9403500000", .unit = "KGM", .qty = 100, .value = 100}),
            "unit_value_outlier");
        fx_free(f);
}

static void test_origin_volume_surge(void **state)
{
        fx *f = fx_new();
        char id[32], t[32];
        /* 20 days of ordinary trade: one declaration a day of (BD, 620342) */
        for (int d = 1; d <= 20; d++) {
                snprintf(id, sizeof(id), "V-%d", d);
                snprintf(t, sizeof(t), "2025-03-%02dT12:00:00Z", d);
                cf_record *r = run1(
                    f,
                    &(rec){.id = id, .time = t, .hs = "6203420000", .origin = "BD", .value = 8000});
                expect_quiet(r, "origin_volume_surge");
        }
        /* look-alike: one large consignment is not a surge of shipments */
        expect_quiet(run1(f, &(rec){.id = "BIG",
                                    .time = "2025-03-21T08:00:00Z",
                                    .hs = "6203420000",
                                    .origin = "BD",
                                    .value = 900000}),
                     "origin_volume_surge");
        /* many lines of one declaration are one shipment */
        for (int l = 1; l <= 20; l++) {
                cf_record *r = run1(f, &(rec){.id = "MULTI",
                                              .line = l,
                                              .time = "2025-03-21T09:00:00Z",
                                              .hs = "6203420000",
                                              .origin = "BD",
                                              .value = 60000});
                expect_quiet(r, "origin_volume_surge");
        }
        /* a new origin for these goods suddenly ships many declarations */
        int fired = 0;
        for (int i = 0; i < 30; i++) {
                snprintf(id, sizeof(id), "S-%d", i);
                snprintf(t, sizeof(t), "2025-03-22T%02d:%02d:00Z", i / 2, (i % 2) * 30);
                cf_record *r = run1(
                    f,
                    &(rec){
                        .id = id, .time = t, .hs = "6203420000", .origin = "KH", .value = 60000});
                if (reason(r, "origin_volume_surge")) {
                        fired++;
                        expect_fired(r, "origin_volume_surge",
                                     (const char *[]){"\"origin_country\":\"KH\"", "\"hs6\":620342",
                                                      "\"short_window_value_usd\":", "\"ratio\":",
                                                      "\"baseline_daily_value_usd\":0", NULL});
                        if (fired == 1)
                                expect_explained(r, "origin_volume_surge",
                                                 "USD 660,000 from KH under HS 620342 in the last "
                                                 "24 h on 11 declarations: 66 times the minimum "
                                                 "daily baseline of USD 10,000 (its own: USD 0, 0 "
                                                 "declarations a day); more than 5 times fires");
                }
        }
        /* the count must pass 5 x max(0, 2) = 10 declarations: 11th onwards */
        assert_int_equal(fired, 20);
        fx_free(f);
}

static void test_new_exporter_surge(void **state)
{
        fx *f = fx_new();
        /* observation starts on Jan 1; warm-up is 10 days */
        run1(
            f,
            &(rec){.id = "N-0", .time = "2025-01-01T00:00:00Z", .exporter = "OLD-1", .value = 5e5});
        cf_record *r = run1(
            f,
            &(rec){.id = "N-1", .time = "2025-01-02T00:00:00Z", .exporter = "OLD-1", .value = 9e5});
        expect_quiet(r, "new_exporter_surge"); /* seen in warm-up: age unknown */
        r = run1(
            f,
            &(rec){.id = "N-2", .time = "2025-02-01T00:00:00Z", .exporter = "NEW-1", .value = 6e5});
        expect_quiet(r, "new_exporter_surge");
        r = run1(
            f,
            &(rec){.id = "N-3", .time = "2025-02-10T00:00:00Z", .exporter = "NEW-1", .value = 6e5});
        expect_fired(
            r, "new_exporter_surge",
            (const char *[]){"\"first_seen\":\"2025-02-01", "\"first_seen_source\":\"stream\"",
                             "\"days_since_first_seen\":9", "\"cumulative_value_usd\":1200000",
                             "\"threshold_usd\":1000000", NULL});
        expect_explained(r, "new_exporter_surge",
                         "new exporter NEW-1 (first seen in the stream on 2025-02-01, 9 days ago) "
                         "has shipped USD 1,200,000 since, above the USD 1,000,000 threshold");
        /* below the threshold: a new exporter is not suspicious in itself */
        r = run1(
            f,
            &(rec){.id = "N-4", .time = "2025-02-10T00:00:00Z", .exporter = "NEW-2", .value = 9e5});
        expect_quiet(r, "new_exporter_surge");
        /* more than new_days later it is established */
        r = run1(
            f,
            &(rec){.id = "N-5", .time = "2025-06-01T00:00:00Z", .exporter = "NEW-2", .value = 9e5});
        expect_quiet(r, "new_exporter_surge");
        /* the registry dates an exporter even inside the warm-up */
        run1(f, &(rec){.id = "N-6",
                       .time = "2025-03-02T00:00:00Z",
                       .exporter = "TH-NEW-2",
                       .value = 6e5});
        r = run1(f, &(rec){.id = "N-7",
                           .time = "2025-03-03T00:00:00Z",
                           .exporter = "TH-NEW-2",
                           .value = 6e5});
        expect_fired(r, "new_exporter_surge",
                     (const char *[]){"\"first_seen\":\"2025-03-01",
                                      "\"first_seen_source\":\"registry\"", NULL});
        expect_explained(r, "new_exporter_surge",
                         "new exporter TH-NEW-2 (registered on 2025-03-01, 2 days ago) has shipped "
                         "USD 1,200,000 since, above the USD 1,000,000 threshold");
        fx_free(f);
}

static void test_certificate_reuse(void **state)
{
        fx *f = fx_new();
        cf_record *r;
        /* one exporter, three declarations (two lines each): legitimate */
        for (int d = 1; d <= 3; d++)
                for (int l = 1; l <= 2; l++) {
                        char id[16], t[32];
                        snprintf(id, sizeof(id), "CR-%d", d);
                        snprintf(t, sizeof(t), "2025-03-1%dT10:00:00Z", d);
                        r = run1(f, &(rec){.id = id,
                                           .time = t,
                                           .line = l,
                                           .exporter = "TH-A",
                                           .extra = "\"certificate_of_origin\":\"CO-1\""});
                        expect_quiet(r, "certificate_reuse");
                }
        r = run1(f, &(rec){.id = "CR-4",
                           .time = "2025-03-14T10:00:00Z",
                           .exporter = "TH-A",
                           .extra = "\"certificate_of_origin\":\"CO-1\""});
        expect_fired(r, "certificate_reuse",
                     (const char *[]){"\"certificate_of_origin\":\"CO-1\"", "\"declarations\":4",
                                      "\"first_declaration_id\":\"CR-1\"",
                                      "\"reason\":\"too_many_declarations\"", NULL});
        expect_explained(r, "certificate_reuse",
                         "certificate of origin CO-1, first used by exporter TH-A on declaration "
                         "CR-1 on 2025-03-11, is now on 4 declarations, more than the 3 allowed");
        /* in event time: a declaration dated before three others is not beyond the third */
        r = run1(f, &(rec){.id = "CR-0",
                           .time = "2025-03-09T10:00:00Z",
                           .exporter = "TH-A",
                           .extra = "\"certificate_of_origin\":\"CO-1\""});
        expect_quiet(r, "certificate_reuse");
        /* a second exporter on a certificate fires at once */
        r = run1(f, &(rec){.id = "CX-1",
                           .exporter = "TH-A",
                           .extra = "\"certificate_of_origin\":\"CO-2\""});
        expect_quiet(r, "certificate_reuse");
        r = run1(f, &(rec){.id = "CX-2",
                           .exporter = "TH-B",
                           .extra = "\"certificate_of_origin\":\"CO-2\""});
        expect_fired(r, "certificate_reuse",
                     (const char *[]){"\"exporters\":2", "\"exporters_seen\":[\"TH-A\",\"TH-B\"]",
                                      "\"reason\":\"second_exporter\"", NULL});
        expect_explained(r, "certificate_reuse",
                         "certificate of origin CO-2, first used by exporter TH-A on declaration "
                         "CX-1 on 2025-03-10, is now used by 2 exporters on 2 declarations");
        fx_free(f);
}

static void test_preference_and_score(void **state)
{
        fx *f = fx_new();
        /* weight 20 in the test rules: it fires but does not flag on its own */
        cf_record *r = run1(f, &(rec){.extra = "\"preference_code\":\"GSP\""});
        expect_fired(r, "preference_without_certificate",
                     (const char *[]){"\"preference_code\":\"GSP\"", NULL});
        expect_explained(r, "preference_without_certificate",
                         "tariff preference GSP claimed without a certificate of origin");
        assert_false(r->flagged);
        assert_true(r->score == 20);
        r = run1(f, &(rec){.id = "P-2",
                           .extra = "\"preference_code\":\"GSP\","
                                    "\"certificate_of_origin\":\"CO-P\""});
        expect_quiet(r, "preference_without_certificate");
        /* several rules: the score is capped at score_cap (100) */
        r = run1(f, &(rec){.id = "P-3",
                           .hs = "7318150000",
                           .origin = "MY",
                           .export = "CN",
                           .exporter = "XX-BAD-01",
                           .extra = "\"manufacturer_country\":\"CN\""});
        assert_true(r->n_reasons >= 4);
        assert_true(r->score == 100);
        assert_true(r->flagged);
        fx_free(f);
}

static void test_watchlist_party(void **state)
{
        fx *f = fx_new();
        cf_record *r = run1(f, &(rec){.exporter = "XX-BAD-01"});
        expect_fired(r, "watchlist_party",
                     (const char *[]){"\"role\":\"exporter\"", "\"id\":\"XX-BAD-01\"",
                                      "\"list_reason\":\"front company\"",
                                      "\"listed_on\":\"2024-01-02\"", NULL});
        expect_explained(
            r, "watchlist_party",
            "exporter XX-BAD-01 is on the watchlist (front company; listed on 2024-01-02)");
        /* kind party matches any role; vessels by IMO number */
        r = run1(f, &(rec){.importer = "ZZ-SHELL-7"});
        expect_fired(r, "watchlist_party",
                     (const char *[]){"\"role\":\"importer\"", "\"list_kind\":\"party\"", NULL});
        expect_explained(r, "watchlist_party",
                         "importer ZZ-SHELL-7 is on the watchlist as party (shell company; listed "
                         "on 2023-05-05)");
        expect_fired(run1(f, &(rec){.extra = "\"vessel_imo\":\"IMO1234567\""}), "watchlist_party",
                     (const char *[]){"\"role\":\"vessel\"", NULL});
        /* look-alikes: similar ids, and an exporter id listed in the importer role only */
        expect_quiet(run1(f, &(rec){.exporter = "XX-BAD-011"}), "watchlist_party");
        expect_quiet(run1(f, &(rec){.exporter = "XX-BAD-0"}), "watchlist_party");
        expect_quiet(run1(f, &(rec){.importer = "XX-BAD-01"}), "watchlist_party");
        fx_free(f);
}

static void test_dedup_signals(void **state)
{
        fx *f = fx_new();
        const char *ship = "\"bill_of_lading\":\"BOL-9\",\"container_id\":\"MSCU1234565\"";
        cf_record *r = run1(f, &(rec){.id = "SH-1", .extra = ship});
        expect_quiet(r, "duplicate_shipment");
        r = run1(f, &(rec){.id = "SH-2", .extra = ship});
        expect_fired(r, "duplicate_shipment",
                     (const char *[]){"\"other_declaration_id\":\"SH-1\"", "\"seen_at\":", NULL});
        expect_explained(r, "duplicate_shipment",
                         "the same shipment (exporter, importer, HS code, quantity, value, bill of "
                         "lading, container) was declared under SH-1 at 2025-03-10T10:00:00Z");
        /* same declaration line, different content, no higher amendment */
        r = run1(f, &(rec){.id = "CF-1", .qty = 10, .extra = "\"amendment\":0"});
        expect_quiet(r, "conflicting_resubmission");
        r = run1(f, &(rec){.id = "CF-1", .qty = 20, .extra = "\"amendment\":0"});
        expect_fired(r, "conflicting_resubmission",
                     (const char *[]){"\"previous_amendment\":0", "\"fingerprint\":", NULL});
        expect_explained(r, "conflicting_resubmission",
                         "declaration line re-sent with different content and amendment 0, not "
                         "higher than amendment 0 of the version seen at 2025-03-10T10:00:00Z");
        /* a proper amendment is not a conflict */
        r = run1(f, &(rec){.id = "CF-1", .qty = 30, .extra = "\"amendment\":1"});
        expect_quiet(r, "conflicting_resubmission");
        fx_free(f);
}

static void test_snapshot_restore(void **state)
{
        fx *f = fx_new();
        feed_baseline(f, "9403500000");
        run1(
            f,
            &(rec){.id = "S-1", .exporter = "TH-A", .extra = "\"certificate_of_origin\":\"CO-S\""});
        /* a partition's state and the population state (replica) are kept apart */
        cf_buf snap = {0}, rep = {0};
        assert_int_equal(cf_chain_snapshot(f->chain, 0, &snap), 0);
        assert_int_equal(cf_chain_snapshot_replica(f->chain, &rep), 0);
        fx *g = fx_new();
        char err[256];
        assert_int_equal(cf_chain_restore(g->chain, 0, snap.p, snap.len, err, sizeof(err)), 0);
        assert_int_equal(cf_chain_restore_replica(g->chain, rep.p, rep.len, err, sizeof(err)), 0);
        /* the restored baseline fires at once; the certificate remembers its exporter */
        cf_record *r = run1(g, &(rec){.id = "S-2", .qty = 100, .value = 100});
        expect_fired(r, "unit_value_outlier", (const char *[]){"\"samples\":81", NULL});
        expect_fired(run1(g, &(rec){.id = "S-3",
                                    .exporter = "TH-B",
                                    .extra = "\"certificate_of_origin\":\"CO-S\""}),
                     "certificate_reuse", NULL);
        /* a fresh chain without the snapshot knows nothing */
        fx *h = fx_new();
        expect_quiet(run1(h, &(rec){.id = "S-2", .qty = 100, .value = 100}), "unit_value_outlier");
        /* a damaged snapshot is refused with a message, not crashed on, and changes nothing */
        rep.p[rep.len / 2] ^= 0x5a;
        assert_int_not_equal(cf_chain_restore_replica(h->chain, rep.p, rep.len, err, sizeof(err)),
                             0);
        expect_quiet(run1(h, &(rec){.id = "S-4", .qty = 100, .value = 100}), "unit_value_outlier");
        snap.p[snap.len / 2] ^= 0x5a;
        snap.len = snap.len / 2 + 1;
        assert_int_not_equal(cf_chain_restore(h->chain, 0, snap.p, snap.len, err, sizeof(err)), 0);
        cf_buf_free(&snap);
        cf_buf_free(&rep);
        fx_free(f);
        fx_free(g);
        fx_free(h);
}

/* SIGHUP: rules are re-read, state is kept; a broken rules file keeps the old rules */
static void test_reload_keeps_state(void **state)
{
        fx *f = fx_new();
        feed_baseline(f, "9403500000");
        char dir[] = "/tmp/cf-detect-reload-XXXXXX";
        assert_non_null(mkdtemp(dir));
        char rules[512], text[512];
        snprintf(text, sizeof text,
                 "reference:\n  trade_measures: %s/reference/trade_measures.csv\n"
                 "rules:\n  unit_value_outlier: {weight: 35, min_samples: 50}\n",
                 FIX);
        cf_config cfg;
        fx_config(dir, text, &cfg);
        snprintf(rules, sizeof(rules), "%s/rules.yaml", dir);
        char err[1024];
        assert_int_equal(cf_chain_reload(f->chain, cfg.root, cfg.base_dir, err, sizeof(err)), 0);
        /* the baseline learnt before the reload still fires, with the new weight */
        cf_record *r = run1(f, &(rec){.id = "R-1", .qty = 100, .value = 100});
        const cf_reason *re = reason(r, "unit_value_outlier");
        assert_non_null(re);
        assert_true(re->weight == 35);
        assert_false(r->flagged); /* 35 < flag_threshold 50 */
        /* a broken rules file is refused and the rules in force stay */
        FILE *o = fopen(rules, "w");
        fputs("rules:\n  unit_value_outlier: {weight: lots}\n", o);
        fclose(o);
        assert_int_not_equal(cf_chain_reload(f->chain, cfg.root, cfg.base_dir, err, sizeof(err)),
                             0);
        assert_non_null(strstr(err, "rules.yaml:2"));
        r = run1(f, &(rec){.id = "R-2", .qty = 100, .value = 100});
        re = reason(r, "unit_value_outlier");
        assert_non_null(re);
        assert_true(re->weight == 35);
        cf_config_free(&cfg);
        fx_free(f);
}

/* Ids in a sentence come from the input: the flag message escapes them. */
static void test_explanation_escaped(void **state)
{
        fx *f = fx_new();
        cf_record *r = run1(f, &(rec){.extra = "\"preference_code\":\"G\\\"S\\\\P\\n\""});
        expect_explained(r, "preference_without_certificate",
                         "tariff preference G\"S\\P\n claimed without a certificate of origin");
        r->flagged = true;
        cf_buf o = {0};
        cf_encode_flag(&o, r, 0, "test");
        cf_buf_putc(&o, '\0');
        assert_non_null(strstr(o.p, ",\"explanation\":\"tariff preference G\\\"S\\\\P\\n claimed "
                                    "without a certificate of origin\"}"));
        cf_buf_free(&o);
        fx_free(f);
}

/* Numbers in sentences: 3 significant digits below 1,000, grouped integers above. */
static void test_explanation_numbers(void **state)
{
        static const struct {
                double v;
                const char *want;
        } cases[] = {
            {0, "0"},
            {1.61, "1.61"},
            {2.934, "2.93"},
            {0.0012345, "0.00123"},
            {29.26, "29.3"},
            {587, "587"},
            {99.96, "100"},
            {999.4, "999"},
            {999.5, "1,000"},
            {1587, "1,587"},
            {2930000.4, "2,930,000"},
            {-4.05, "-4.05"},
            {-1234.5, "-1,235"},
            {-0.0001, "-0.0001"},
            {1e-12, "1e-12"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                assert_string_equal(CF_EX_NUM(cases[i].v), cases[i].want);
        assert_string_equal(CF_EX_DATE(1741600800000LL), "2025-03-10");
        assert_string_equal(CF_EX_CC(CF_CC('V', 'N')), "VN");
}

/* The registry: published to the chain in order, reasons carry their position;
 * one cap (CF_RULES_MAX) and valid, distinct names, checked with a clear error. */
static void test_registry(void **state)
{
        fx *f = fx_new();
        const cf_rule_set *rs = cf_chain_rules(f->chain);
        assert_int_equal(rs->n, cf_detect_n_rules);
        for (size_t i = 0; i < cf_detect_n_rules; i++)
                assert_string_equal(rs->names[i], cf_detect_rules[i]->name);
        cf_record *r = run1(f, &(rec){.exporter = "XX-BAD-01"});
        const cf_reason *re = reason(r, "watchlist_party");
        assert_non_null(re);
        assert_string_equal(rs->names[re->rule_ix], "watchlist_party");
        assert_int_equal(cf_chain_counters(f->chain)->flags_by_rule[re->rule_ix], 1);
        fx_free(f);
        const cf_rule *many[CF_RULES_MAX + 1];
        for (size_t i = 0; i <= CF_RULES_MAX; i++)
                many[i] = cf_detect_rules[i % cf_detect_n_rules];
        cf_rule_set s;
        char err[256];
        assert_int_not_equal(cf_rule_set_build(&s, many, CF_RULES_MAX + 1, err, sizeof(err)), 0);
        assert_non_null(strstr(err, "17 rules are registered"));
        assert_non_null(strstr(err, "at most CF_RULES_MAX = 16"));
        assert_int_not_equal(cf_rule_set_build(&s, many, cf_detect_n_rules + 1, err, sizeof(err)),
                             0);
        assert_non_null(strstr(err, "registered twice"));
        const cf_rule bad = {.name = "Bad-Name"}, *one[] = {&bad};
        assert_int_not_equal(cf_rule_set_build(&s, one, 1, err, sizeof(err)), 0);
        assert_non_null(strstr(err, "'Bad-Name' must be [a-z][a-z0-9_]*"));
        assert_int_equal(
            cf_rule_set_build(&s, cf_detect_rules, cf_detect_n_rules, err, sizeof(err)), 0);
        assert_int_equal(s.n, cf_detect_n_rules);
}

/* rules.yaml mistakes are errors with file:line */
static void test_bad_rules(void **state)
{
        static const struct {
                const char *yaml, *want;
        } cases[] = {
            {"rules:\n  no_such_rule: {weight: 1}\n", "rules.yaml:2: unknown rule 'no_such_rule'"},
            {"rules:\n  unit_value_outlier:\n    zz: 3\n", "rules.yaml:3"},
            {"rules:\n  unit_value_outlier:\n    z: abc\n", "rules.yaml:3"},
            {"flag_threshold: 5000\n", "rules.yaml:1"},
            {"reference:\n  watchlist: missing.csv\n", "missing.csv"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char dir[] = "/tmp/cf-detect-XXXXXX";
                assert_non_null(mkdtemp(dir));
                cf_config cfg;
                char err[1024];
                fx_config(dir, cases[i].yaml, &cfg);
                cf_chain *c = cf_chain_new(cfg.root, cfg.base_dir, err, sizeof(err));
                if (c) fail_msg("case %zu accepted", i);
                if (!strstr(err, cases[i].want))
                        fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].want);
                cf_config_free(&cfg);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_trade_remedy_evasion),
            cmocka_unit_test(test_origin_route_mismatch),
            cmocka_unit_test(test_manufacturer_origin_mismatch),
            cmocka_unit_test(test_unit_value_outlier),
            cmocka_unit_test(test_origin_volume_surge),
            cmocka_unit_test(test_new_exporter_surge),
            cmocka_unit_test(test_certificate_reuse),
            cmocka_unit_test(test_preference_and_score),
            cmocka_unit_test(test_watchlist_party),
            cmocka_unit_test(test_dedup_signals),
            cmocka_unit_test(test_snapshot_restore),
            cmocka_unit_test(test_bad_rules),
            cmocka_unit_test(test_reload_keeps_state),
            cmocka_unit_test(test_explanation_escaped),
            cmocka_unit_test(test_explanation_numbers),
            cmocka_unit_test(test_registry),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
