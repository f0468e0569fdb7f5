/*
 * page_queue.c - the queue: filters, keyset pages in score-then-time order,
 * bulk actions on a filtered set (supervisors), CSV/JSON export and the
 * /api/cases JSON.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "console/http_int.h"
#include "pipeline/core/clock.h"
#include "pipeline/core/log.h"
#include "stages/decode/decode.h"

#define BULK_MAX 10000 /* cases one bulk action may change */

/* The filter keys, in the order of the form. */
static const char *const keys[] = {"q",         "rule",      "status",   "origin",   "export",
                                   "hs",        "exporter",  "importer", "assignee", "score_min",
                                   "score_max", "date_from", "date_to",  NULL};

static int day_ms(const char *s, int64_t *ms)
{
        char t[40];
        if (strlen(s) != 10) return -1;
        snprintf(t, sizeof t, "%sT00:00:00Z", s);
        return cf_parse_rfc3339(t, strlen(t), ms);
}

static int num_arg(cf_req *r, const char *k, double *v)
{
        const char *s = cf_req_arg(r, k);
        if (!s || !*s) return 0;
        char *end;
        *v = strtod(s, &end);
        return *end || !isfinite(*v) ? -1 : 0;
}

int cf_filter_from_req(cf_req *r, cf_case_filter *f)
{
        cf_case_filter_init(f, (int)r->c->cc.page_size);
        f->q = cf_req_arg(r, "q");
        f->rule = cf_req_arg(r, "rule");
        f->status = cf_req_arg(r, "status");
        f->origin = cf_req_arg(r, "origin");
        f->export_country = cf_req_arg(r, "export");
        f->hs_prefix = cf_req_arg(r, "hs");
        f->exporter = cf_req_arg(r, "exporter");
        f->importer = cf_req_arg(r, "importer");
        f->assignee = cf_req_arg(r, "assignee");
        if (f->status && *f->status && strcmp(f->status, "active") && strcmp(f->status, "all") &&
            strcmp(f->status, "closed") && !cf_status_valid(f->status))
                return cf_fail(r, 400, "unknown status"), -1;
        if (num_arg(r, "score_min", &f->score_min) || num_arg(r, "score_max", &f->score_max))
                return cf_fail(r, 400, "score_min/score_max: numbers"), -1;
        const char *from = cf_req_arg(r, "date_from"), *to = cf_req_arg(r, "date_to");
        if ((from && *from && day_ms(from, &f->from_ms)) || (to && *to && day_ms(to, &f->to_ms)))
                return cf_fail(r, 400, "date_from/date_to: dates as YYYY-MM-DD"), -1;
        if (f->to_ms) f->to_ms += 86400000; /* the whole last day */
        const char *after = cf_req_arg(r, "after");
        if (after && *after) {
                long long t, id;
                if (sscanf(after, "%lf:%lld:%lld", &f->after_score, &t, &id) != 3)
                        return cf_fail(r, 400, "after: score:time:id"), -1;
                f->after = true, f->after_time = t, f->after_id = id;
        }
        double limit;
        if (num_arg(r, "limit", &limit)) return cf_fail(r, 400, "limit: a number"), -1;
        const char *l = cf_req_arg(r, "limit");
        if (l && *l) f->limit = limit < 1 ? 1 : limit > 500 ? 500 : (int)limit;
        return 0;
}

/* The current filters as a query string (without the cursor). */
static void filter_query(cf_req *r, cf_buf *b)
{
        for (int i = 0; keys[i]; i++) {
                const char *v = cf_req_arg(r, keys[i]);
                if (!v || !*v) continue;
                cf_buf_printf(b, "%s%s=", b->len ? "&" : "", keys[i]);
                cf_urlenc(b, v);
        }
}

static void rules_list(cf_store *s, uint64_t mask, cf_buf *b, bool json)
{
        bool first = true;
        for (int bit = 0; bit < 64; bit++) {
                if (!(mask >> bit & 1)) continue;
                const char *name = cf_store_rule_name(s, bit);
                if (!name) continue;
                if (json) {
                        if (!first) cf_buf_putc(b, ',');
                        cf_json_str(b, name, strlen(name));
                } else {
                        cf_buf_puts(b, "<span class=\"chip\">");
                        cf_html(b, name);
                        cf_buf_puts(b, "</span>");
                }
                first = false;
        }
}

/* One case as JSON (the API and the JSON export). */
static void case_json(cf_store *s, cf_buf *b, const cf_case_row *c)
{
        struct {
                const char *k, *v;
        } t[] = {{"declaration_id", c->declaration_id},
                 {"event_time", c->event_time},
                 {"exporter_id", c->exporter_id},
                 {"importer_id", c->importer_id},
                 {"origin_country", c->origin},
                 {"export_country", c->export_country},
                 {"hs_code", c->hs_code},
                 {"certificate_of_origin", c->certificate},
                 {"currency", c->currency},
                 {"status", c->status},
                 {"assignee", c->assignee}};
        cf_buf_printf(b,
                      "{\"id\":%lld,\"line\":%lld,\"amendment\":%lld,\"score\":", (long long)c->id,
                      (long long)c->line, (long long)c->amendment);
        cf_json_num(b, c->score);
        cf_buf_puts(b, ",\"customs_value\":");
        cf_json_num(b, c->customs_value);
        for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
                cf_buf_printf(b, ",\"%s\":", t[i].k);
                if (*t[i].v)
                        cf_json_str(b, t[i].v, strlen(t[i].v));
                else
                        cf_buf_puts(b, "null");
        }
        cf_buf_puts(b, ",\"rules\":[");
        rules_list(s, c->rules_mask, b, true);
        cf_buf_printf(b, "],\"cursor\":\"%.17g:%lld:%lld\"}", c->score, (long long)c->event_time_ms,
                      (long long)c->id);
}

typedef struct page {
        cf_req *r;
        int n;
        cf_case_row last;
        char last_cursor[96];
} page;

static void remember(page *p, const cf_case_row *c)
{
        p->n++;
        snprintf(p->last_cursor, sizeof p->last_cursor, "%.17g:%lld:%lld", c->score,
                 (long long)c->event_time_ms, (long long)c->id);
}

static int row_html(void *op, const cf_case_row *c)
{
        page *p = op;
        cf_buf *b = &p->r->out;
        remember(p, c);
        cf_buf_printf(b, "<tr class=\"case\" data-id=\"%lld\"><td class=\"score\">",
                      (long long)c->id);
        cf_html_num(b, c->score, 1);
        cf_buf_printf(b, "</td><td><a class=\"case-link\" href=\"/case/%lld\">", (long long)c->id);
        cf_html(b, c->declaration_id);
        cf_buf_printf(b, "</a>/%lld</td><td>", (long long)c->line);
        cf_html(b, c->event_time);
        cf_buf_puts(b, "</td><td class=\"exporter\">");
        cf_html(b, c->exporter_id);
        cf_buf_puts(b, "</td><td>");
        cf_html(b, c->importer_id);
        cf_buf_puts(b, "</td><td>");
        cf_html(b, c->origin);
        cf_buf_puts(b, " &rarr; ");
        cf_html(b, c->export_country);
        cf_buf_puts(b, "</td><td>");
        cf_html(b, c->hs_code);
        cf_buf_puts(b, "</td><td class=\"rules\">");
        rules_list(p->r->s, c->rules_mask, b, false);
        cf_buf_puts(b, "</td><td>");
        cf_html_status(b, c->status, NULL);
        cf_buf_puts(b, "</td><td>");
        cf_html(b, c->assignee);
        cf_buf_puts(b, "</td></tr>");
        return 0;
}

static void input(cf_req *r, const char *name, const char *label, const char *ph)
{
        const char *v = cf_req_arg(r, name);
        cf_buf_printf(&r->out,
                      "<label>%s <input name=\"%s\" id=\"f-%s\" placeholder=\"%s\" value=\"", label,
                      name, name, ph);
        cf_html(&r->out, v ? v : "");
        cf_buf_puts(&r->out, "\"></label>");
}

static void select_opts(cf_req *r, const char *name, const char *label, const char *const *opts,
                        int n)
{
        const char *v = cf_req_arg(r, name);
        cf_buf_printf(&r->out, "<label>%s <select name=\"%s\" id=\"f-%s\">", label, name, name);
        for (int i = 0; i < n; i++) {
                if (!opts[i]) continue;
                cf_buf_puts(&r->out, "<option value=\"");
                cf_html(&r->out, i ? opts[i] : "");
                cf_buf_printf(&r->out, "\"%s>",
                              v && !strcmp(v, i ? opts[i] : "") ? " selected" : "");
                cf_html(&r->out, opts[i]);
                cf_buf_puts(&r->out, "</option>");
        }
        cf_buf_puts(&r->out, "</select></label>");
}

static void filter_form(cf_req *r)
{
        const char *rules[65] = {"any"};
        for (int bit = 0; bit < 63; bit++)
                rules[bit + 1] = cf_store_rule_name(r->s, bit);
        static const char *const statuses[] = {"active (open + in review)",
                                               "open",
                                               "in_review",
                                               "confirmed_fraud",
                                               "cleared",
                                               "referred",
                                               "closed",
                                               "all"};
        cf_buf_puts(&r->out,
                    "<form class=\"filters\" method=\"get\" action=\"/queue\" id=\"filters\">");
        input(r, "q", "Search", "declaration or exporter id");
        select_opts(r, "rule", "Rule", rules, 64);
        select_opts(r, "status", "Status", statuses, 8);
        input(r, "origin", "Origin", "CN");
        input(r, "export", "Export", "VN");
        input(r, "hs", "HS", "7219 or 72");
        input(r, "exporter", "Exporter", "");
        input(r, "importer", "Importer", "");
        input(r, "assignee", "Assignee", "name or -");
        input(r, "score_min", "Score &ge;", "0");
        input(r, "score_max", "Score &le;", "100");
        input(r, "date_from", "From", "YYYY-MM-DD");
        input(r, "date_to", "To", "YYYY-MM-DD");
        cf_buf_puts(&r->out, "<button type=\"submit\" id=\"apply\">Filter</button>"
                             "<a href=\"/queue\">Reset</a></form>");
}

static void bulk_form(cf_req *r, const cf_buf *fq)
{
        cf_buf_puts(&r->out,
                    "<details class=\"bulk\"><summary>Bulk action on every case of this "
                    "filter (supervisor)</summary><form method=\"post\" action=\"/bulk\">");
        cf_csrf_field(r);
        for (int i = 0; keys[i]; i++) {
                const char *v = cf_req_arg(r, keys[i]);
                if (!v || !*v) continue;
                cf_buf_printf(&r->out, "<input type=\"hidden\" name=\"%s\" value=\"", keys[i]);
                cf_html(&r->out, v);
                cf_buf_puts(&r->out, "\">");
        }
        (void)fq;
        cf_buf_puts(
            &r->out,
            "<label>Status <select name=\"set_status\"><option value=\"\">unchanged</option>"
            "<option>in_review</option><option>open</option>"
            "<option>confirmed_fraud</option><option>cleared</option>"
            "<option>referred</option></select></label>"
            "<label>Assign to <input name=\"set_assignee\" placeholder=\"user\"></label>"
            "<label>Note <input name=\"note\" placeholder=\"required to close\">"
            "</label><button type=\"submit\">Apply</button></form></details>");
}

void cf_page_queue(cf_req *r)
{
        cf_case_filter f;
        if (cf_filter_from_req(r, &f)) return;
        cf_page_begin(r, "Queue");
        cf_buf_puts(&r->out, "<h1>Queue</h1>");
        filter_form(r);
        cf_buf fq = {0};
        filter_query(r, &fq);
        cf_buf_puts(
            &r->out,
            "<p class=\"tools\">Export this filter: <a id=\"export-csv\" href=\"/api/export.csv?");
        cf_htmln(&r->out, fq.p ? fq.p : "", fq.len);
        cf_buf_puts(&r->out, "\">CSV</a> <a id=\"export-json\" href=\"/api/export.json?");
        cf_htmln(&r->out, fq.p ? fq.p : "", fq.len);
        cf_buf_puts(&r->out, "\">JSON</a></p>");
        if (r->role >= CF_ROLE_SUPERVISOR) bulk_form(r, &fq);
        cf_buf_puts(&r->out, "<table class=\"queue\" id=\"queue\"><thead><tr><th>Score</th>"
                             "<th>Declaration/line</th><th>Event time</th><th>Exporter</th>"
                             "<th>Importer</th><th>Origin &rarr; export</th><th>HS</th>"
                             "<th>Rules</th><th>Status</th><th>Assignee</th></tr></thead><tbody>");
        page p = {.r = r};
        char err[512];
        if (cf_store_queue(r->s, &f, row_html, &p, err, sizeof err)) {
                cf_buf_free(&fq);
                return cf_fail(r, 500, err);
        }
        cf_buf_puts(&r->out, "</tbody></table>");
        if (!p.n) cf_buf_puts(&r->out, "<p class=\"empty\" id=\"empty\">No case matches.</p>");
        if (p.n == f.limit) {
                cf_buf_puts(&r->out, "<p class=\"pager\"><a id=\"next\" href=\"/queue?");
                cf_htmln(&r->out, fq.p ? fq.p : "", fq.len);
                cf_buf_puts(&r->out, fq.len ? "&amp;after=" : "after=");
                cf_html(&r->out, p.last_cursor);
                cf_buf_puts(&r->out, "\">Next page &rarr;</a></p>");
        }
        cf_buf_free(&fq);
        cf_page_end(r);
}

static int row_json(void *op, const cf_case_row *c)
{
        page *p = op;
        if (p->n) cf_buf_putc(&p->r->out, ',');
        remember(p, c);
        case_json(p->r->s, &p->r->out, c);
        return 0;
}

void cf_api_cases(cf_req *r)
{
        cf_case_filter f;
        if (cf_filter_from_req(r, &f)) return;
        page p = {.r = r};
        char err[512];
        r->ctype = "application/json";
        cf_buf_puts(&r->out, "{\"cases\":[");
        if (cf_store_queue(r->s, &f, row_json, &p, err, sizeof err)) return cf_fail(r, 500, err);
        cf_buf_puts(&r->out, "],\"next\":");
        if (p.n == f.limit)
                cf_json_str(&r->out, p.last_cursor, strlen(p.last_cursor));
        else
                cf_buf_puts(&r->out, "null");
        cf_buf_puts(&r->out, "}\n");
        r->code = 200;
}

/* A CSV cell: quoted when needed; a text cell that a spreadsheet would run as
 * a formula (= + - @) gets a leading apostrophe. */
static void csv_cell(cf_buf *b, const char *s, bool text)
{
        bool quote = strpbrk(s, ",\"\r\n") != NULL;
        if (quote) cf_buf_putc(b, '"');
        if (text && strchr("=+-@\t\r", s[0]) && s[0]) cf_buf_putc(b, '\'');
        for (; *s; s++) {
                if (*s == '"') cf_buf_putc(b, '"');
                cf_buf_putc(b, *s);
        }
        if (quote) cf_buf_putc(b, '"');
}

static int row_csv(void *op, const cf_case_row *c)
{
        page *p = op;
        cf_buf *b = &p->r->out;
        remember(p, c);
        cf_buf rules = {0};
        for (int bit = 0; bit < 64; bit++) {
                const char *name =
                    c->rules_mask >> bit & 1 ? cf_store_rule_name(p->r->s, bit) : NULL;
                if (name) cf_buf_printf(&rules, "%s%s", rules.len ? ";" : "", name);
        }
        cf_buf_putc(&rules, '\0');
        cf_buf_printf(b, "%lld,", (long long)c->id);
        csv_cell(b, c->declaration_id, true);
        cf_buf_printf(b, ",%lld,%lld,%.17g,", (long long)c->line, (long long)c->amendment,
                      c->score);
        const char *t[] = {c->event_time,     c->exporter_id, c->importer_id, c->origin,
                           c->export_country, c->hs_code,     c->certificate};
        for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
                csv_cell(b, t[i], true);
                cf_buf_putc(b, ',');
        }
        cf_buf_printf(b, "%.17g,", c->customs_value);
        csv_cell(b, c->currency, true);
        cf_buf_putc(b, ',');
        csv_cell(b, rules.p, true);
        cf_buf_putc(b, ',');
        csv_cell(b, c->status, true);
        cf_buf_putc(b, ',');
        csv_cell(b, c->assignee, true);
        cf_buf_puts(b, "\r\n");
        cf_buf_free(&rules);
        return 0;
}

void cf_api_export(cf_req *r)
{
        cf_case_filter f;
        if (cf_filter_from_req(r, &f)) return;
        bool csv = strstr(r->url, ".csv") != NULL;
        r->ctype = csv ? "text/csv; charset=utf-8" : "application/json";
        if (csv)
                cf_buf_puts(&r->out,
                            "id,declaration_id,line,amendment,score,event_time,exporter_id,"
                            "importer_id,origin_country,export_country,hs_code,"
                            "certificate_of_origin,customs_value,currency,rules,status,"
                            "assignee\r\n");
        else
                cf_buf_puts(&r->out, "[");
        page p = {.r = r};
        int64_t max = r->c->cc.export_max_rows;
        char err[512];
        /* keyset pages of 1,000: one statement never holds the read snapshot long */
        for (;;) {
                int before = p.n;
                f.limit = (int)(max - p.n < 1000 ? max - p.n : 1000);
                if (f.limit <= 0) break;
                if (cf_store_queue(r->s, &f, csv ? row_csv : row_json, &p, err, sizeof err))
                        return cf_fail(r, 500, err);
                if (p.n - before < f.limit) break;
                long long t, id;
                sscanf(p.last_cursor, "%lf:%lld:%lld", &f.after_score, &t, &id);
                f.after = true, f.after_time = t, f.after_id = id;
        }
        if (!csv) cf_buf_puts(&r->out, "]\n");
        r->code = 200;
}

typedef struct ids {
        int64_t *v;
        int n;
} ids;

static int collect(void *op, const cf_case_row *c)
{
        ids *a = op;
        a->v[a->n++] = c->id;
        return 0;
}

void cf_page_bulk(cf_req *r)
{
        cf_case_filter f;
        if (cf_filter_from_req(r, &f)) return;
        /* set_*: the filter's own keys (status, assignee) select the cases */
        const char *to = cf_req_arg(r, "set_status"), *note = cf_req_arg(r, "note");
        const char *assignee = cf_req_arg(r, "set_assignee");
        if (to && !*to) to = NULL;
        if (assignee && !*assignee) assignee = NULL;
        /* collect the ids first: each transition commits on its own */
        ids a = {malloc(sizeof(int64_t) * BULK_MAX), 0};
        f.limit = BULK_MAX;
        char err[512];
        if (cf_store_queue(r->s, &f, collect, &a, err, sizeof err)) {
                free(a.v);
                return cf_fail(r, 500, err);
        }
        int changed = 0, refused = 0;
        for (int i = 0; i < a.n; i++) {
                int rc = cf_apply_transition(r, a.v[i], to, note, assignee, err, sizeof err);
                if (rc < 0) {
                        free(a.v);
                        return cf_fail(r, 500, err);
                }
                rc ? refused++ : changed++;
        }
        free(a.v);
        cf_log(CF_LOG_INFO, "console", "bulk by %s: %d changed, %d refused", r->user.name, changed,
               refused);
        cf_page_begin(r, "Bulk action");
        cf_buf_printf(&r->out,
                      "<h1>Bulk action</h1><p id=\"bulk-result\">%d cases changed, %d "
                      "refused (illegal transition or nothing to do).</p>"
                      "<p><a href=\"/queue\">Back to the queue</a></p>",
                      changed, refused);
        cf_page_end(r);
}
