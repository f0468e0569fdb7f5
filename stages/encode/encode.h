/*
 * encode.h - writes flag messages (schemas/flag.schema.json) and dead-letter
 * lines for replay (schemas/dead-letter.schema.json).
 */
#ifndef CF_ENCODE_H
#define CF_ENCODE_H

#include "pipeline/core/batch.h"
#include "pipeline/core/buf.h"

/** Append the flag message of a flagged record to out. */
void cf_encode_flag(cf_buf *out, const cf_record *r, int64_t processed_at_ms,
                    const char *pipeline_version);
/** Append the replay dead-letter line (JSON object, no newline) of r to out. */
void cf_encode_dlq_line(cf_buf *out, const cf_record *r);

#endif
