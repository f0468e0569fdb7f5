/*
 * kcs.c - KCS CSV -> declaration and outcome JSON lines (see kcs.h).
 * The CSV is read with the pipeline's libcsv reader (RFC 4180, header row).
 */
#include "bench/kcs/kcs.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/core/csv_reader.h"

enum {
        C_ID,
        C_DATE,
        C_OFFICE,
        C_PROCESS,
        C_IMPORT_TYPE,
        C_IMPORT_USE,
        C_PAYMENT,
        C_TRANSPORT,
        C_DECLARANT,
        C_IMPORTER,
        C_SELLER,
        C_COURIER,
        C_HS6,
        C_DEPARTURE,
        C_ORIGIN,
        C_TAX_RATE,
        C_TAX_TYPE,
        C_ORIGIN_IND,
        C_MASS,
        C_PRICE,
        C_FRAUD,
        C_CRITICAL,
        C_COUNT
};

static const char *const columns[C_COUNT + 1] = {"Declaration ID",
                                                 "Date",
                                                 "Office ID",
                                                 "Process Type",
                                                 "Import Type",
                                                 "Import Use",
                                                 "Payment Type",
                                                 "Mode of Transport",
                                                 "Declarant ID",
                                                 "Importer ID",
                                                 "Seller ID",
                                                 "Courier ID",
                                                 "HS6 Code",
                                                 "Country of Departure",
                                                 "Country of Origin",
                                                 "Tax Rate",
                                                 "Tax Type",
                                                 "Country of Origin Indicator",
                                                 "Net Mass",
                                                 "Item Price",
                                                 "Fraud",
                                                 "Critical Fraud",
                                                 NULL};

typedef struct conv {
        int idx[C_COUNT];
        cf_buf *decls, *outcomes, decl;
        size_t rows;
} conv;

static int number(const cf_csv_row *row, const conv *c, int col, double *out, char *errstr,
                  size_t errstr_size)
{
        const char *s = row->v[c->idx[col]];
        char *end;
        errno = 0;
        *out = strtod(s, &end);
        if (!*s || *end || errno || !isfinite(*out) || *out < 0) {
                snprintf(errstr, errstr_size, "%s:%d: %s: '%s' is not a non-negative number",
                         row->file, row->line, columns[col], s);
                return -1;
        }
        return 0;
}

/* "key":"value" unless the column is empty (optional fields are left out). */
static void opt_str(cf_buf *b, const char *key, const char *v)
{
        if (!*v) return;
        cf_buf_putc(b, ',');
        cf_json_key(b, key);
        cf_json_str(b, v, strlen(v));
}

static int row_cb(const cf_csv_row *row, void *opaque, char *errstr, size_t errstr_size)
{
        conv *c = opaque;
        const char *const *v = (const char *const *)row->v;
#define V(col) v[c->idx[col]]
        double mass, price, rate, fraud, critical;
        if (number(row, c, C_MASS, &mass, errstr, errstr_size) ||
            number(row, c, C_PRICE, &price, errstr, errstr_size) ||
            number(row, c, C_TAX_RATE, &rate, errstr, errstr_size) ||
            number(row, c, C_FRAUD, &fraud, errstr, errstr_size) ||
            number(row, c, C_CRITICAL, &critical, errstr, errstr_size))
                return -1;
        if (strlen(V(C_DATE)) != 10) {
                snprintf(errstr, errstr_size, "%s:%d: Date: '%s' is not YYYY-MM-DD", row->file,
                         row->line, V(C_DATE));
                return -1;
        }
        cf_buf *d = &c->decl;
        cf_buf_reset(d);
        cf_buf_puts(d, "{\"declaration_id\":");
        cf_json_str(d, V(C_ID), strlen(V(C_ID)));
        cf_buf_printf(d,
                      ",\"line\":1,\"event_time\":\"%sT12:00:00+09:00\",\"hs_code\":", V(C_DATE));
        cf_json_str(d, V(C_HS6), strlen(V(C_HS6)));
        cf_buf_puts(d, ",\"origin_country\":");
        cf_json_str(d, V(C_ORIGIN), strlen(V(C_ORIGIN)));
        cf_buf_puts(d, ",\"export_country\":");
        cf_json_str(d, V(C_DEPARTURE), strlen(V(C_DEPARTURE)));
        cf_buf_puts(d, ",\"exporter_id\":");
        const char *seller = *V(C_SELLER) ? V(C_SELLER) : "unknown";
        cf_json_str(d, seller, strlen(seller));
        cf_buf_puts(d, ",\"importer_id\":");
        cf_json_str(d, V(C_IMPORTER), strlen(V(C_IMPORTER)));
        cf_buf_puts(d, ",\"quantity\":");
        cf_json_num(d, mass);
        cf_buf_puts(d, ",\"unit\":\"KGM\",\"customs_value\":");
        cf_json_num(d, price);
        cf_buf_puts(d, ",\"currency\":\"KRW\",\"reporter_country\":\"KR\",\"direction\":"
                       "\"import\",\"net_mass_kg\":");
        cf_json_num(d, mass);
        opt_str(d, "declarant_id", V(C_DECLARANT));
        opt_str(d, "customs_office", V(C_OFFICE));
        opt_str(d, "courier_id", V(C_COURIER));
        opt_str(d, "transport_mode", V(C_TRANSPORT));
        opt_str(d, "tax_type", V(C_TAX_TYPE));
        cf_buf_puts(d, ",\"tax_rate\":");
        cf_json_num(d, rate);
        opt_str(d, "origin_indicator", V(C_ORIGIN_IND));
        opt_str(d, "process_type", V(C_PROCESS));
        opt_str(d, "import_type", V(C_IMPORT_TYPE));
        opt_str(d, "import_use", V(C_IMPORT_USE));
        opt_str(d, "payment_type", V(C_PAYMENT));
        cf_buf_putc(d, '}');
        if (c->decls) {
                cf_buf_put(c->decls, d->p, d->len);
                cf_buf_putc(c->decls, '\n');
        }
        cf_buf *o = c->outcomes;
        cf_buf_puts(o, "{\"declaration_id\":");
        cf_json_str(o, V(C_ID), strlen(V(C_ID)));
        cf_buf_printf(o,
                      ",\"line\":1,\"outcome\":\"%s\",\"inspected_at\":\"%sT18:00:00+09:00\","
                      "\"source\":\"kcs\",\"declaration\":",
                      critical >= 2 ? "critical"
                      : fraud > 0   ? "fraud"
                                    : "clean",
                      V(C_DATE));
        cf_buf_put(o, d->p, d->len);
        cf_buf_puts(o, "}\n");
        c->rows++;
#undef V
        return 0;
}

int cf_kcs_to_jsonl(const char *path, cf_buf *decls, cf_buf *outcomes, size_t *rows, char *errstr,
                    size_t errstr_size)
{
        conv c = {.decls = decls, .outcomes = outcomes};
        int rc = cf_csv_read(path, columns, c.idx, NULL, NULL, row_cb, &c, errstr, errstr_size);
        cf_buf_free(&c.decl);
        *rows = c.rows;
        return rc;
}
