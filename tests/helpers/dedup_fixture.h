/*
 * dedup_fixture.h - test helper: real records (JSON lines through the decode
 * stage) run through the dedup stage, one batch at a time.
 */
#ifndef CF_TEST_DEDUP_FIXTURE_H
#define CF_TEST_DEDUP_FIXTURE_H

#include "bench/gen/gen.h"
#include "pipeline/core/stage.h"

/** One declaration line to render; unset fields get defaults (see dd_render). */
typedef struct dd_rec {
        const char *id;        /* declaration_id (default "DEC-1") */
        int line;              /* default 1 */
        const char *time;      /* event_time (default "2025-03-14T09:30:00Z") */
        int amendment;         /* -1 = absent; 0 (default) writes "amendment": 0 */
        double qty, value;     /* defaults 120, 18450 */
        const char *exporter;  /* default "VN-EXP-0042" */
        const char *hs;        /* default "9403500000" */
        const char *container; /* NULL = absent */
        const char *extra;     /* raw extra JSON members, e.g. "\"x\": 1" */
} dd_rec;

/** Decode + dedup stages and a batch. */
typedef struct dd_fx {
        cf_stage dec, dd;
        cf_batch b;
        char *lines[256];
        size_t nlines;
        cf_metrics *reg; /* both stages' metrics */
} dd_fx;

/** Build decode and dedup; dedup_yaml is the stages.dedup section text (NULL: defaults). */
dd_fx *dd_fx_new(const char *dedup_yaml);
/** Free the fixture. */
void dd_fx_free(dd_fx *f);
/** Render r as a JSON line (malloc'd). */
char *dd_render(const dd_rec *r);
/** Run n records as one batch from partition part; returns the batch (valid until next run). */
cf_batch *dd_run(dd_fx *f, int32_t part, const dd_rec *recs, size_t n);
/** Run raw JSON lines as one batch. */
cf_batch *dd_run_lines(dd_fx *f, int32_t part, const char *const *lines, size_t n);
/** The next messages of g, at most max: each line (and, truths not NULL, its truth line)
 *  strndup'd into lines[i] (truths[i]); the count. *end is set once g has no more. */
size_t dd_gen_chunk(cf_gen *g, char **lines, char **truths, size_t max, int *end);
/** Snapshot partition part into a malloc'd buffer (length in *len). */
char *dd_snapshot(dd_fx *f, int32_t part, size_t *len);
/** Value of "name{labels}" in the stages' metrics (dedup collected first), -1 if absent. */
long long dd_metric(dd_fx *f, const char *name_and_labels);

#endif
