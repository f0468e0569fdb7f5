/*
 * page_dash.c - the dashboard (charts drawn by /static/dashboard.js with
 * Debian's Chart.js from /api/dashboard) and its JSON series.
 */
#include <stdio.h>
#include <string.h>

#include "console/http_int.h"

void cf_page_dashboard(cf_req *r)
{
        const char *ch = cf_req_arg(r, "chapter");
        cf_page_begin(r, "Dashboard");
        cf_buf *b = &r->out;
        cf_buf_puts(
            b, "<h1>Dashboard</h1><form class=\"filters\" method=\"get\" action=\"/dashboard\">"
               "<label>HS chapter <input name=\"chapter\" id=\"chapter\" value=\"");
        cf_html(b, ch ? ch : "");
        cf_buf_puts(b, "\" placeholder=\"the largest by value\"></label><label>Bucket <select "
                       "name=\"bucket\" id=\"bucket\"><option value=\"\">auto</option>"
                       "<option value=\"day\">day</option>"
                       "<option value=\"hour\"");
        const char *bucket = cf_req_arg(r, "bucket");
        cf_buf_puts(b, bucket && !strcmp(bucket, "hour") ? " selected" : "");
        cf_buf_puts(
            b, ">hour</option></select></label><button type=\"submit\">Show</button></form>"
               "<div class=\"charts\">"
               "<figure><figcaption id=\"origin-caption\">Value by origin (USD)</figcaption>"
               "<div class=\"chart\"><canvas id=\"chart-origin\"></canvas></div></figure>"
               "<figure><figcaption>Flags per rule</figcaption>"
               "<div class=\"chart\"><canvas id=\"chart-rules\"></canvas></div></figure>"
               "<figure><figcaption>Top exporters by value (USD, sum of window "
               "estimates)</figcaption><div class=\"chart\"><canvas "
               "id=\"chart-exporters\"></canvas></div></figure>"
               "<figure><figcaption>Dead letters and late records</figcaption>"
               "<div class=\"chart\"><canvas id=\"chart-quality\"></canvas></div></figure></div>"
               "<p class=\"note\" id=\"dash-status\"></p>"
               "<script src=\"/static/chart.min.js\" defer></script>"
               "<script src=\"/static/dashboard.js\" defer></script>");
        cf_page_end(r);
}

typedef struct acc {
        cf_buf *b;
        int n;
} acc;

static int point_json(void *op, const cf_point *p)
{
        acc *a = op;
        if (a->n++) cf_buf_putc(a->b, ',');
        cf_buf_puts(a->b, "{\"key\":");
        cf_json_str(a->b, p->key, strlen(p->key));
        cf_buf_puts(a->b, ",\"series\":");
        if (p->series)
                cf_json_str(a->b, p->series, strlen(p->series));
        else
                cf_buf_puts(a->b, "null");
        cf_buf_puts(a->b, ",\"value\":");
        cf_json_num(a->b, p->value);
        cf_buf_putc(a->b, '}');
        return 0;
}

void cf_api_dashboard(cf_req *r)
{
        const char *kind = cf_req_arg(r, "kind"), *chapter = cf_req_arg(r, "chapter");
        const char *bucket = cf_req_arg(r, "bucket");
        if (!kind)
                return cf_fail(r, 400,
                               "kind: origin_value, rule_flags, top_exporters, quality "
                               "or chapters");
        if (chapter && (strlen(chapter) != 2 || strspn(chapter, "0123456789") != 2))
                return cf_fail(r, 400, "chapter: two digits");
        r->ctype = "application/json";
        cf_buf_puts(&r->out, "{\"points\":[");
        acc a = {&r->out, 0};
        char err[512];
        int rc =
            cf_store_dashboard(r->s, kind, chapter, bucket && !strcmp(bucket, "hour") ? 13 : 10,
                               point_json, &a, err, sizeof err);
        if (rc) return cf_fail(r, rc > 0 ? 400 : 500, err);
        cf_buf_puts(&r->out, "]}\n");
        r->code = 200;
}
