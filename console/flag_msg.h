/*
 * flag_msg.h - a flag message (schemas/flag.schema.json) parsed for the case
 * store: the fields the queue filters on, the reasons, and the raw JSON of
 * the declaration, evidence and source as received.
 */
#ifndef CF_FLAG_MSG_H
#define CF_FLAG_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pipeline/core/buf.h"

#define CF_FLAG_MAX_REASONS 32

/** A string: into the message (raw JSON) or into the parser's scratch (unescaped). */
typedef struct cf_text {
        const char *p;
        size_t n;
} cf_text;

typedef struct cf_flag_reason {
        cf_text rule, evidence,
            explanation; /* evidence: raw JSON object; explanation may be empty */
        double weight;
} cf_flag_reason;

typedef struct cf_flag_msg {
        cf_text declaration_id, exporter_id, importer_id, origin, export_country, hs_code;
        cf_text certificate, currency, event_time, processed_at, pipeline_version;
        cf_text declaration, source; /* raw JSON */
        int64_t line, amendment, event_time_ms;
        double score, customs_value;
        cf_flag_reason reasons[CF_FLAG_MAX_REASONS];
        int n_reasons;
} cf_flag_msg;

/** Reusable parser state (tokens and unescaped strings). */
typedef struct cf_flag_parser {
        void *toks;
        int n_toks;
        cf_buf scratch;
        bool keep; /* append to scratch: earlier parses' strings stay valid (the
                      caller reserves scratch for all of them first) */
} cf_flag_parser;

/**
 * Parse json (n bytes) into f; strings point into json or p's scratch, valid
 * until the next parse (with p->keep, until scratch is reset). -1 with a precise errstr for a
 * malformed message.
 */
int cf_flag_parse(cf_flag_parser *p, const char *json, size_t n, cf_flag_msg *f, char *errstr,
                  size_t errstr_size);
/** Free the parser. */
void cf_flag_parser_free(cf_flag_parser *p);

#endif
