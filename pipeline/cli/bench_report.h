/*
 * bench_report.h - what `customsflow bench` measured: one row per measured
 * thing, printed as a table, written as report.json (schemas/bench_report.schema.json)
 * and drawn as SVG charts.
 *
 * @locality: main thread (bench).
 */
#ifndef CF_BENCH_REPORT_H
#define CF_BENCH_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/** One measured line of the table (medians of the repeats; < 0: not measured). */
typedef struct cf_bench_row {
        char name[64];
        const char *kind; /* "yardstick", "stage", "chain", "replay", "kafka" */
        int threads;      /* replay / kafka: threads or workers (0: not applicable) */
        double rps, mbs;  /* records/s, MB/s of input */
        double p50_ms, p99_ms, rss_mb, bytes_per_key, cpu_s_per_m;
} cf_bench_row;

/** The run's parameters and machine (the report's header). */
typedef struct cf_bench_meta {
        uint64_t count, seed;
        int threads, repeats, cores;
        size_t bytes;   /* input size */
        double loadavg; /* 1-minute load when the run started */
        char cpu[128];
} cf_bench_meta;

/** The table (ratio: records/s over the yardstick's, row 0) on f. */
void cf_bench_print(FILE *f, const cf_bench_meta *m, const cf_bench_row *rows, size_t n);
/** report.json, stages.svg and threads.svg into dir (created); -1 + errstr. */
int cf_bench_write_report(const char *dir, const cf_bench_meta *m, const cf_bench_row *rows,
                          size_t n, char *errstr, size_t errstr_size);

#endif
