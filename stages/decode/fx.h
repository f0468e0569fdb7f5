/*
 * fx.h - currency conversion to USD from the fx_rates reference file
 * (CSV: currency,period,usd_per_unit; period YYYY-MM, or * for every month).
 */
#ifndef CF_FX_H
#define CF_FX_H

#include <stddef.h>
#include <stdint.h>

#include "pipeline/core/batch.h"

typedef struct cf_fx_table cf_fx_table;

/** Load an fx_rates CSV; NULL with "file:line: reason" on error. */
cf_fx_table *cf_fx_load(const char *path, char *errstr, size_t errstr_size);
/** USD per unit of currency in month yyyymm; 0 when there is no rate. */
double cf_fx_rate(const cf_fx_table *t, const char *currency, int yyyymm);
/** Set r->decl.value_usd, or dead-letter r as unknown_currency_rate. */
int cf_fx_convert(const cf_fx_table *t, cf_batch *b, cf_record *r);
/** Number of (currency, period) rates loaded. */
size_t cf_fx_size(const cf_fx_table *t);
/** Free the table. */
void cf_fx_free(cf_fx_table *t);

#endif
