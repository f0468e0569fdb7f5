/*
 * dedup_fixture.c - see dedup_fixture.h.
 */
#include "helpers/dedup_fixture.h"
#include "helpers/prom.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const cf_stage_plugin cf_stage_decode;
extern const cf_stage_plugin cf_stage_dedup;

dd_fx *dd_fx_new(const char *dedup_yaml)
{
        dd_fx *f = calloc(1, sizeof(*f));
        char err[512];
        cf_node *y = NULL;
        if (dedup_yaml) {
                y = cf_yaml_load_string("dedup.yaml", dedup_yaml, strlen(dedup_yaml), err,
                                        sizeof(err));
                if (!y) {
                        fprintf(stderr, "yaml: %s\n", err);
                        abort();
                }
        }
        f->reg = cf_metrics_new();
        cf_stage_env denv = {.base_dir = CF_SRCDIR "/deploy/examples", .metrics = f->reg};
        cf_stage_env env = {.base_dir = CF_SRCDIR "/deploy/examples", .cfg = y, .metrics = f->reg};
        f->dec.p = &cf_stage_decode;
        f->dd.p = &cf_stage_dedup;
        if (cf_stage_decode.init(&f->dec, &denv, err, sizeof(err)) ||
            cf_stage_dedup.init(&f->dd, &env, err, sizeof(err))) {
                fprintf(stderr, "init: %s\n", err);
                abort();
        }
        cf_yaml_free(y);
        cf_batch_init(&f->b, 256);
        return f;
}

static void free_lines(dd_fx *f)
{
        for (size_t i = 0; i < f->nlines; i++)
                free(f->lines[i]);
        f->nlines = 0;
}

void dd_fx_free(dd_fx *f)
{
        free_lines(f);
        cf_stage_decode.destroy(&f->dec);
        cf_stage_dedup.destroy(&f->dd);
        cf_batch_destroy(&f->b);
        cf_metrics_free(f->reg);
        free(f);
}

char *dd_render(const dd_rec *r)
{
        char am[48] = "", ct[96] = "", ex[512] = "";
        if (r->amendment >= 0) snprintf(am, sizeof(am), ", \"amendment\": %d", r->amendment);
        if (r->container) snprintf(ct, sizeof(ct), ", \"container_id\": \"%s\"", r->container);
        if (r->extra) snprintf(ex, sizeof(ex), ", %s", r->extra);
        char *s = NULL;
        int n = asprintf(
            &s,
            "{\"declaration_id\": \"%s\", \"line\": %d, \"event_time\": \"%s\", \"hs_code\": "
            "\"%s\", \"origin_country\": \"VN\", \"export_country\": \"VN\", \"exporter_id\": "
            "\"%s\", \"importer_id\": \"US-IMP-0007\", \"quantity\": %.17g, \"unit\": \"NMB\", "
            "\"customs_value\": %.17g, \"currency\": \"USD\"%s%s%s}",
            r->id ? r->id : "DEC-1", r->line ? r->line : 1,
            r->time ? r->time : "2025-03-14T09:30:00Z", r->hs ? r->hs : "9403500000",
            r->exporter ? r->exporter : "VN-EXP-0042", r->qty ? r->qty : 120,
            r->value ? r->value : 18450, am, ct, ex);
        if (n < 0) abort();
        return s;
}

cf_batch *dd_run_lines(dd_fx *f, int32_t part, const char *const *lines, size_t n)
{
        cf_batch_reset(&f->b);
        for (size_t i = 0; i < n; i++) {
                cf_record *r = cf_batch_add(&f->b, lines[i], strlen(lines[i]));
                r->src = (cf_source){
                    .topic = "t", .partition = part, .offset = (int64_t)i + 1, .is_file = true};
        }
        if (cf_stage_decode.process(&f->dec, &f->b) || cf_stage_dedup.process(&f->dd, &f->b))
                abort();
        return &f->b;
}

cf_batch *dd_run(dd_fx *f, int32_t part, const dd_rec *recs, size_t n)
{
        free_lines(f);
        for (size_t i = 0; i < n; i++)
                f->lines[f->nlines++] = dd_render(&recs[i]);
        return dd_run_lines(f, part, (const char *const *)f->lines, n);
}

char *dd_snapshot(dd_fx *f, int32_t part, size_t *len)
{
        cf_buf b = {0};
        if (cf_stage_dedup.snapshot(&f->dd, part, &b)) abort();
        *len = b.len;
        return b.p;
}

long long dd_metric(dd_fx *f, const char *name_and_labels)
{
        cf_stage_dedup.collect(&f->dd, -1, 0);
        return prom_reg_value(f->reg, name_and_labels);
}

size_t dd_gen_chunk(cf_gen *g, char **lines, char **truths, size_t max, int *end)
{
        cf_buf line = {0}, key = {0}, truth = {0};
        size_t n = 0;
        for (; n < max; n++) {
                line.len = key.len = truth.len = 0;
                if (cf_gen_next(g, &line, &key, truths ? &truth : NULL)) {
                        *end = 1;
                        break;
                }
                lines[n] = strndup(line.p ? line.p : "", line.len);
                if (truths) truths[n] = strndup(truth.p ? truth.p : "", truth.len);
        }
        cf_buf_free(&line);
        cf_buf_free(&key);
        cf_buf_free(&truth);
        return n;
}
