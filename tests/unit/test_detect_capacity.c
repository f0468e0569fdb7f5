/*
 * test_detect_capacity.c - capacity_exceeded over a stated period (issue 13
 * item 2): the registry's capacity + period_days (and capacity_per_year read
 * as 365 days), a rolling window of day buckets in event time, firing from
 * the line that crosses; a burst of 10x the monthly capacity within a week
 * fires within it, steady shipping at 90 % never fires; bad registry rows are
 * refused with file:line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "helpers/detect_fx.h"
#include "pipeline/core/buf.h"

static void test_capacity_exceeded(void **state)
{
        fx *f = fx_new();
        /* capacity_per_year: 1,000 over a rolling 365 days */
        cf_record *r = run1(f, &(rec){.id = "C-1",
                                      .time = "2025-02-01T00:00:00Z",
                                      .exporter = "TH-FAB-1",
                                      .qty = 600});
        expect_quiet(r, "capacity_exceeded");
        r = run1(f, &(rec){.id = "C-2",
                           .time = "2025-05-01T00:00:00Z",
                           .exporter = "TH-FAB-1",
                           .qty = 600});
        expect_fired(r, "capacity_exceeded",
                     (const char *[]){"\"cumulative_quantity\":1200", "\"capacity\":1000",
                                      "\"period_days\":365",
                                      "\"window_start\":\"2024-05-02T00:00:00.000Z\"",
                                      "\"window_end\":\"2025-05-02T00:00:00.000Z\"",
                                      "\"registry_hs_prefix\":\"940350\"", NULL});
        expect_explained(r, "capacity_exceeded",
                         "exporter TH-FAB-1 has shipped 1,200 NMB of HS 940350 in the 365 days "
                         "from 2024-05-02 to 2025-05-01, above its registered capacity of 1,000 "
                         "NMB per 365 days");
        /* rolling, not per calendar year: the new year still holds both */
        r = run1(f, &(rec){.id = "C-3",
                           .time = "2026-01-02T00:00:00Z",
                           .exporter = "TH-FAB-1",
                           .qty = 600});
        expect_fired(r, "capacity_exceeded",
                     (const char *[]){"\"cumulative_quantity\":1800", NULL});
        /* a year after C-2, only C-3 is in the window */
        r = run1(f, &(rec){.id = "C-4",
                           .time = "2026-05-02T00:00:00Z",
                           .exporter = "TH-FAB-1",
                           .qty = 300});
        expect_quiet(r, "capacity_exceeded");
        /* other goods or another unit are not under that capacity */
        r = run1(f, &(rec){.id = "C-5",
                           .time = "2026-05-03T00:00:00Z",
                           .exporter = "TH-FAB-1",
                           .hs = "8501100000",
                           .qty = 5000});
        expect_quiet(r, "capacity_exceeded");
        r = run1(f, &(rec){.id = "C-6",
                           .time = "2026-05-03T00:00:00Z",
                           .exporter = "TH-FAB-1",
                           .unit = "KGM",
                           .qty = 5000});
        expect_quiet(r, "capacity_exceeded");
        fx_free(f);
}

/* capacity + period_days: 3,000 per 30 days. Steady shipping at 90 % for four months
 * never fires; a burst of 10x the monthly capacity within a week fires within it, from
 * the line that crosses on; a late line from before the window does not count. */
static void test_capacity_period(void **state)
{
        fx *f = fx_new();
        char id[32], t[48];
        const int64_t day = 86400000, jan1 = 1735689600000LL; /* 2025-01-01 */
        for (int d = 0; d < 120; d++) {                       /* 90 a day: 2,700 in any 30 days */
                snprintf(id, sizeof id, "S-%d", d);
                t[cf_fmt_time(t, jan1 + d * day + 8 * 3600000, 0)] = '\0';
                cf_record *r =
                    run1(f, &(rec){.id = id, .time = t, .exporter = "TH-MON-3", .qty = 90});
                expect_quiet(r, "capacity_exceeded");
        }
        int first_fire = -1;
        for (int i = 0; i < 10; i++) { /* 30,000 between day 120 and day 126 */
                snprintf(id, sizeof id, "B-%d", i);
                t[cf_fmt_time(t, jan1 + 120 * day + i * 16 * 3600000, 0)] = '\0';
                cf_record *r =
                    run1(f, &(rec){.id = id, .time = t, .exporter = "TH-MON-3", .qty = 3000});
                if (reason(r, "capacity_exceeded") && first_fire < 0) first_fire = i;
                if (first_fire >= 0)
                        expect_fired(
                            r, "capacity_exceeded",
                            (const char *[]){"\"period_days\":30", "\"capacity\":3000", NULL});
        }
        assert_int_equal(first_fire, 0); /* the steady 2,610 of days 91-119 plus 3,000 */
        fx_free(f);
        /* after a quiet month the window is empty again; a line dated before it is not counted */
        f = fx_new();
        cf_record *r = run1(f, &(rec){.id = "L-1",
                                      .time = "2025-03-01T00:00:00Z",
                                      .exporter = "TH-MON-3",
                                      .qty = 2000});
        expect_quiet(r, "capacity_exceeded");
        r = run1(f, &(rec){.id = "L-2",
                           .time = "2025-04-15T00:00:00Z",
                           .exporter = "TH-MON-3",
                           .qty = 2000});
        expect_quiet(r, "capacity_exceeded");
        r = run1(f, &(rec){.id = "L-3",
                           .time = "2025-03-10T00:00:00Z",
                           .exporter = "TH-MON-3",
                           .qty = 2000});
        expect_quiet(r, "capacity_exceeded");
        r = run1(f, &(rec){.id = "L-4",
                           .time = "2025-04-16T00:00:00Z",
                           .exporter = "TH-MON-3",
                           .qty = 1500});
        expect_fired(r, "capacity_exceeded",
                     (const char *[]){"\"cumulative_quantity\":3500", NULL});
        fx_free(f);
}

/* Each registry in its own folder with the fixture's other files: accepted or refused
 * with the reason and line. */
static void test_registry_rows(void **state)
{
        static const struct {
                const char *csv, *want; /* want NULL: accepted */
        } cases[] = {
            {"exporter_id,country,registered_on,hs_prefix,unit,capacity_per_year\n"
             "A-1,TH,2010-01-01,9403,NMB,1000\n",
             NULL},
            {"exporter_id,country,registered_on,hs_prefix,unit,capacity,period_days\n"
             "A-1,TH,2010-01-01,9403,NMB,1000,30\nA-2,TH,2010-01-01,,,,\n",
             NULL},
            {"exporter_id,country,registered_on,hs_prefix,unit,capacity,period_days\n"
             "A-1,TH,2010-01-01,9403,NMB,1000,\n",
             "exporters.csv:2: period_days '' must be a whole number of days, 1-366"},
            {"exporter_id,country,registered_on,hs_prefix,unit,capacity,period_days\n"
             "A-1,TH,2010-01-01,9403,NMB,1000,400\n",
             "exporters.csv:2: period_days '400'"},
            {"exporter_id,country,registered_on,hs_prefix,unit,capacity,period_days\n"
             "A-1,TH,2010-01-01,9403,NMB,,30\n",
             "exporters.csv:2: period_days '30' without a capacity"},
            {"exporter_id,country,registered_on,hs_prefix,unit,capacity,period_days,"
             "capacity_per_year\nA-1,TH,2010-01-01,9403,NMB,10,30,100\n",
             "exporters.csv:2: capacity and capacity_per_year both set"},
            {"exporter_id,country,registered_on,hs_prefix,unit,capacity,period_days\n"
             "A-1,TH,2010-01-01,9403,NMB,-5,30\n",
             "exporters.csv:2: capacity '-5' must be a positive number"},
            {"exporter_id,country,registered_on,hs_prefix,unit,capacity,period_days\n"
             "A-1,TH,2010-01-01,,,100,30\n",
             "exporters.csv:2: a capacity needs hs_prefix and unit"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char dir[] = "/tmp/cf-capacity-XXXXXX", p[512];
                assert_non_null(mkdtemp(dir));
                snprintf(p, sizeof p, "%s/exporters.csv", dir);
                FILE *o = fopen(p, "w");
                fputs(cases[i].csv, o);
                fclose(o);
                cf_config cfg;
                char err[1024] = "";
                fx_config(dir, "reference:\n  exporters: exporters.csv\n", &cfg);
                cf_chain *c = cf_chain_new(cfg.root, cfg.base_dir, err, sizeof(err));
                if (!cases[i].want && !c) fail_msg("case %zu refused: %s", i, err);
                if (cases[i].want && c) fail_msg("case %zu accepted", i);
                if (cases[i].want && !strstr(err, cases[i].want))
                        fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].want);
                if (c) cf_chain_destroy(c);
                cf_config_free(&cfg);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_capacity_exceeded),
            cmocka_unit_test(test_capacity_period),
            cmocka_unit_test(test_registry_rows),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
