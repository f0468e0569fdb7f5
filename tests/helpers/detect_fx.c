/*
 * detect_fx.c - see detect_fx.h.
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

char *rec_json(const rec *r)
{
        char *s = malloc(2048);
        snprintf(s, 2048,
                 "{\"declaration_id\":\"%s\",\"line\":%d,\"event_time\":\"%s\",\"hs_code\":\"%s\","
                 "\"origin_country\":\"%s\",\"export_country\":\"%s\",\"exporter_id\":\"%s\","
                 "\"importer_id\":\"%s\",\"quantity\":%g,\"unit\":\"%s\",\"customs_value\":%g,"
                 "\"currency\":\"USD\"%s%s}",
                 r->id ? r->id : "D-1", r->line ? r->line : 1,
                 r->time ? r->time : "2025-03-10T10:00:00Z", r->hs ? r->hs : "9403500000",
                 r->origin ? r->origin : "TH",
                 r->export   ? r->export
                 : r->origin ? r->origin
                             : "TH",
                 r->exporter ? r->exporter : "TH-EXP-1", r->importer ? r->importer : "US-IMP-1",
                 r->qty ? r->qty : 100, r->unit ? r->unit : "NMB", r->value ? r->value : 5000,
                 r->extra ? "," : "", r->extra ? r->extra : "");
        return s;
}

fx *fx_new(void)
{
        fx *f = calloc(1, sizeof(*f));
        char err[1024];
        if (cf_config_load(&f->cfg, FIX "/customsflow.yaml", err, sizeof(err))) fail_msg("%s", err);
        f->chain = cf_chain_new(f->cfg.root, f->cfg.base_dir, err, sizeof(err));
        if (!f->chain) fail_msg("%s", err);
        cf_batch_init(&f->b, 64);
        return f;
}

void fx_free(fx *f)
{
        for (size_t i = 0; i < f->n; i++)
                free(f->lines[i]);
        cf_batch_destroy(&f->b);
        cf_chain_destroy(f->chain);
        cf_config_free(&f->cfg);
        free(f);
}

/* Run one record through the chain (partition 0); returns it. */
cf_record *run1(fx *f, const rec *r)
{
        for (size_t i = 0; i < f->n; i++)
                free(f->lines[i]);
        f->n = 0;
        cf_batch_reset(&f->b);
        char *s = rec_json(r);
        f->lines[f->n++] = s;
        cf_record *x = cf_batch_add(&f->b, s, strlen(s));
        x->src.partition = 0;
        assert_int_equal(cf_chain_process(f->chain, &f->b), 0);
        /* an epoch of one line: the next record sees this one in the population state */
        char err[256];
        int32_t part = 0;
        cf_buf scratch = {0};
        if (cf_chain_barrier(f->chain, &part, 1, &scratch, err, sizeof err)) fail_msg("%s", err);
        cf_buf_free(&scratch);
        if (x->status != CF_REC_OK) fail_msg("not processed: %s %s", x->err_code, x->err_msg);
        return x;
}

const cf_reason *reason(const cf_record *r, const char *rule)
{
        for (uint16_t i = 0; i < r->n_reasons; i++)
                if (!strcmp(r->reasons[i].rule, rule)) return &r->reasons[i];
        return NULL;
}

/* The reason for rule, whose evidence must contain every fragment given. */
void expect_fired(const cf_record *r, const char *rule, const char *const *frags)
{
        const cf_reason *re = reason(r, rule);
        if (!re) fail_msg("%s did not fire", rule);
        for (; frags && *frags; frags++)
                if (!strstr(re->evidence, *frags))
                        fail_msg("%s evidence %s lacks %s", rule, re->evidence, *frags);
}

/* The reason for rule explains itself with exactly the sentence want (RULES.md). */
void expect_explained(const cf_record *r, const char *rule, const char *want)
{
        const cf_reason *re = reason(r, rule);
        if (!re) fail_msg("%s did not fire", rule);
        if (!re->explanation || strlen(re->explanation) != re->explanation_len ||
            strcmp(re->explanation, want))
                fail_msg("%s explanation\n  got:  %s\n  want: %s", rule,
                         re->explanation ? re->explanation : "(none)", want);
}

void expect_quiet(const cf_record *r, const char *rule)
{
        const cf_reason *re = reason(r, rule);
        if (re) fail_msg("%s fired: %s", rule, re->evidence);
}

static void write_file(const char *path, const char *text)
{
        FILE *o = fopen(path, "w");
        if (!o || fputs(text, o) < 0 || fclose(o) != 0) fail_msg("cannot write %s", path);
}

void fx_config(const char *dir, const char *rules_yaml, cf_config *cfg)
{
        char p[512], text[1024], err[1024] = "";
        snprintf(p, sizeof p, "%s/rules.yaml", dir);
        write_file(p, rules_yaml);
        snprintf(text, sizeof text,
                 "stages:\n  decode:\n    fx_rates: %s/reference/fx_rates.csv\n"
                 "  detect:\n    rules: rules.yaml\n",
                 FIX);
        snprintf(p, sizeof p, "%s/c.yaml", dir);
        write_file(p, text);
        if (cf_config_load(cfg, p, err, sizeof err) != 0) fail_msg("%s: %s", p, err);
}
