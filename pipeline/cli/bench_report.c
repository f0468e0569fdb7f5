/*
 * bench_report.c - see bench_report.h. The charts are plain SVG text written
 * here (two bar charts need no plotting library).
 */
#include "pipeline/cli/bench_report.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "pipeline/core/buf.h"
#include "pipeline/core/fileio.h"

static void cell(FILE *f, double v, const char *fmt)
{
        if (v < 0)
                fprintf(f, " %9s", "-");
        else
                fprintf(f, fmt, v);
}

void cf_bench_print(FILE *f, const cf_bench_meta *m, const cf_bench_row *rows, size_t n)
{
        fprintf(f,
                "customsflow bench: %llu records (%.0f B/record), seed %llu, %d repeats "
                "(medians), %d cores, load %.2f at start\n",
                (unsigned long long)m->count, m->count ? (double)m->bytes / m->count : 0.0,
                (unsigned long long)m->seed, m->repeats, m->cores, m->loadavg);
        fprintf(f, "%-34s %11s %7s %8s %9s %9s %9s %9s %9s\n", "", "records/s", "ratio", "MB/s",
                "p50 ms", "p99 ms", "RSS MB", "B/key", "CPU-s/1M");
        double y = n && rows[0].rps > 0 ? rows[0].rps : 0;
        for (size_t i = 0; i < n; i++) {
                const cf_bench_row *r = &rows[i];
                fprintf(f, "%-34s %11.0f", r->name, r->rps);
                cell(f, y > 0 ? r->rps / y : -1, " %7.3f");
                cell(f, r->mbs, " %8.1f");
                cell(f, r->p50_ms, " %9.3f");
                cell(f, r->p99_ms, " %9.3f");
                cell(f, r->rss_mb, " %9.1f");
                cell(f, r->bytes_per_key, " %9.1f");
                cell(f, r->cpu_s_per_m, " %9.2f");
                fputc('\n', f);
        }
}

static void num(cf_buf *b, const char *key, double v)
{
        if (v < 0)
                cf_buf_printf(b, ",\"%s\":null", key);
        else
                cf_buf_printf(b, ",\"%s\":%.6g", key, v);
}

static void report_json(cf_buf *b, const cf_bench_meta *m, const cf_bench_row *rows, size_t n)
{
        cf_buf_printf(b,
                      "{\"version\":1,\"pipeline_version\":\"%s\",\"count\":%llu,\"seed\":%llu,"
                      "\"threads\":%d,\"repeats\":%d,\"input_bytes\":%zu,\"machine\":{\"cores\":%d,"
                      "\"loadavg_1m\":%.2f,\"cpu\":",
                      CF_VERSION, (unsigned long long)m->count, (unsigned long long)m->seed,
                      m->threads, m->repeats, m->bytes, m->cores, m->loadavg);
        cf_json_str(b, m->cpu, strlen(m->cpu));
        cf_buf_puts(b, "},\"rows\":[");
        double y = n && rows[0].rps > 0 ? rows[0].rps : 0;
        for (size_t i = 0; i < n; i++) {
                const cf_bench_row *r = &rows[i];
                cf_buf_puts(b, i ? ",{\"name\":" : "{\"name\":");
                cf_json_str(b, r->name, strlen(r->name));
                cf_buf_printf(b, ",\"kind\":\"%s\"", r->kind);
                if (r->threads) cf_buf_printf(b, ",\"threads\":%d", r->threads);
                num(b, "records_per_s", r->rps);
                num(b, "ratio_to_yardstick", y > 0 ? r->rps / y : -1);
                num(b, "mb_per_s", r->mbs);
                num(b, "batch_p50_ms", r->p50_ms);
                num(b, "batch_p99_ms", r->p99_ms);
                num(b, "peak_rss_mb", r->rss_mb);
                num(b, "dedup_bytes_per_key", r->bytes_per_key);
                num(b, "cpu_s_per_1m_records", r->cpu_s_per_m);
                cf_buf_putc(b, '}');
        }
        cf_buf_puts(b, "],\"charts\":[\"stages.svg\",\"threads.svg\"]}\n");
}

/* A horizontal bar chart of records/s, one bar per selected row. */
static void svg_bars(cf_buf *b, const char *title, const cf_bench_row *rows, size_t n,
                     const char *kinds)
{
        double max = 0;
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
                if (strstr(kinds, rows[i].kind)) {
                        if (rows[i].rps > max) max = rows[i].rps;
                        k++;
                }
        const int bar = 26, left = 260, width = 440, top = 40;
        cf_buf_printf(b,
                      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%zu\" "
                      "font-family=\"sans-serif\" font-size=\"12\">\n"
                      "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
                      "<text x=\"10\" y=\"22\" font-size=\"15\">%s</text>\n",
                      left + width + 140, (size_t)top + k * bar + 20, title);
        size_t j = 0;
        for (size_t i = 0; i < n; i++) {
                const cf_bench_row *r = &rows[i];
                if (!strstr(kinds, r->kind)) continue;
                double w = max > 0 ? r->rps / max * width : 0;
                size_t y = (size_t)top + j++ * bar;
                cf_buf_printf(b,
                              "<text x=\"%d\" y=\"%zu\" text-anchor=\"end\">%s</text>\n"
                              "<rect x=\"%d\" y=\"%zu\" width=\"%.1f\" height=\"%d\" "
                              "fill=\"%s\"/>\n"
                              "<text x=\"%.1f\" y=\"%zu\">%.3g M rec/s</text>\n",
                              left - 8, y + 16, r->name, left, y + 3, w, bar - 6,
                              strcmp(r->kind, "yardstick") ? "#4a7ab5" : "#999999", left + w + 6,
                              y + 16, r->rps / 1e6);
        }
        cf_buf_puts(b, "</svg>\n");
}

int cf_bench_write_report(const char *dir, const cf_bench_meta *m, const cf_bench_row *rows,
                          size_t n, char *errstr, size_t errstr_size)
{
        if (mkdir(dir, 0755) && errno != EEXIST) {
                snprintf(errstr, errstr_size, "--report %s: cannot create: %s", dir,
                         strerror(errno));
                return -1;
        }
        static const char *const names[] = {"report.json", "stages.svg", "threads.svg"};
        int rc = 0;
        for (int i = 0; i < 3 && !rc; i++) {
                cf_buf b = {0};
                if (i == 0) report_json(&b, m, rows, n);
                if (i == 1)
                        svg_bars(&b, "Throughput by stage (records/s, one thread)", rows, n,
                                 "yardstick stage chain");
                if (i == 2)
                        svg_bars(&b, "Scaling by threads: replay with all outputs (records/s)",
                                 rows, n, "yardstick replay kafka");
                char path[4200];
                snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
                rc = cf_write_file_atomic(path, b.p, b.len, errstr, errstr_size);
                cf_buf_free(&b);
        }
        return rc;
}
