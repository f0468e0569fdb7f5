/*
 * kcs.h - the Korea Customs Service synthetic import declarations (KCS CSV:
 * ../shared/data/kcs/README.md, Jeong et al. 2022) as declaration and outcome
 * JSON lines (schemas/declaration.schema.json, schemas/outcome.schema.json).
 *
 * Mapping: Seller ID -> exporter_id ("unknown" when empty), Country of
 * Departure -> export_country, Net Mass -> quantity in KGM and net_mass_kg,
 * Item Price -> customs_value in KRW (decode converts it with fx_rates),
 * Date -> event_time at 12:00 Korea time, the other columns to the fields of
 * the same meaning; Fraud / Critical Fraud -> outcome clean, fraud, or
 * critical (Critical Fraud = 2), inspected the same day at 18:00.
 *
 * Used by `customsflow learn-eval --format kcs` and bench/kcs/kcs2jsonl.
 * @locality: caller's thread.
 */
#ifndef CF_KCS_H
#define CF_KCS_H

#include <stddef.h>

#include "pipeline/core/buf.h"

/**
 * Convert the KCS CSV at path: one declaration per line into decls (NULL: not
 * wanted) and one outcome per line into outcomes, in file order; *rows gets
 * the row count. -1 + "file:line: reason" on a missing column or a bad value.
 */
int cf_kcs_to_jsonl(const char *path, cf_buf *decls, cf_buf *outcomes, size_t *rows, char *errstr,
                    size_t errstr_size);

#endif
