/*
 * page_case.c - a case: the declaration's fields, every reason with its
 * evidence in words and as raw JSON, related cases, the exporter's profile,
 * the versions received and the audit trail; the verdict forms; the
 * transition endpoint (form and API) with roles enforced here.
 */
#define JSMN_STATIC
#include <jsmn.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console/http_int.h"
#include "pipeline/core/clock.h"
#include "pipeline/core/log.h"

static int64_t case_id_of(cf_req *r)
{
        const char *p = strncmp(r->url, "/api/cases/", 11) ? r->url + 6 : r->url + 11;
        char *end;
        long long id = strtoll(p, &end, 10);
        return *end || id <= 0 ? -1 : id;
}

/* The case's status and exporter, copied out of the row. */
typedef struct case_state {
        char status[32], exporter[256];
} case_state;

static int copy_state(void *op, const cf_case_row *c)
{
        case_state *st = op;
        snprintf(st->status, sizeof st->status, "%s", c->status);
        snprintf(st->exporter, sizeof st->exporter, "%s", c->exporter_id);
        return 0;
}

int cf_apply_transition(cf_req *r, int64_t id, const char *to, const char *note,
                        const char *assignee, char *errstr, size_t errstr_size)
{
        bool sup = r->role >= CF_ROLE_SUPERVISOR;
        if (to && !*to) to = NULL;
        if (note && strlen(note) > 10000)
                return snprintf(errstr, errstr_size, "a note is at most 10,000 bytes"), 1;
        if (!sup && assignee && *assignee && strcmp(assignee, r->user.name))
                return snprintf(errstr, errstr_size, "only a supervisor assigns to others"), 1;
        case_state st;
        int rc = cf_store_case(r->s, id, copy_state, &st, errstr, errstr_size);
        if (rc) return rc > 0 ? (snprintf(errstr, errstr_size, "no such case"), 2) : -1;
        /* re-opening a closed case is a supervisor's decision */
        if (!sup && to && cf_status_closing(st.status))
                return snprintf(errstr, errstr_size, "only a supervisor re-opens a closed case"), 1;
        if (to && !strcmp(to, "in_review") && !assignee) assignee = r->user.name;
        if (assignee && *assignee) {
                cf_user u;
                if (strlen(assignee) > 64 ||
                    cf_store_user_get(r->s, assignee, &u, errstr, errstr_size) || u.disabled)
                        return snprintf(errstr, errstr_size, "unknown assignee"), 1;
        }
        rc = cf_store_transition(r->s, id, r->user.name, to, note, assignee, cf_now_ms(), errstr,
                                 errstr_size);
        if (rc) return rc;
        if (to && !strcmp(to, "confirmed_fraud")) cf_counter_add_shared(r->c->m.verdict_fraud, 1);
        if (to && !strcmp(to, "cleared")) cf_counter_add_shared(r->c->m.verdict_cleared, 1);
        if (to && !strcmp(to, "referred")) cf_counter_add_shared(r->c->m.verdict_referred, 1);
        if (to && cf_status_closing(to)) {
                cf_log(CF_LOG_INFO, "console", "verdict %s on case %lld by %s", to, (long long)id,
                       r->user.name);
                cf_console_outbox_kick(r->c);
        }
        return 0;
}

void cf_page_case_action(cf_req *r)
{
        int64_t id = case_id_of(r);
        if (id < 0) return cf_fail(r, 404, "no such case");
        char err[512];
        int rc = cf_apply_transition(r, id, cf_req_arg(r, "to"), cf_req_arg(r, "note"),
                                     cf_req_arg(r, "assignee"), err, sizeof err);
        if (rc) return cf_fail(r, rc < 0 ? 500 : rc == 2 ? 404 : 409, err);
        if (cf_is_api(r)) {
                r->code = 200;
                r->ctype = "application/json";
                return cf_buf_puts(&r->out, "{\"ok\":true}\n");
        }
        char loc[64];
        snprintf(loc, sizeof loc, "/case/%lld", (long long)id);
        cf_redirect(r, loc);
}

/* ---- the page ---- */

typedef struct view {
        cf_req *r;
        cf_case_row c; /* strings copied below: the row's die with its statement */
        char *strs[12];
        int64_t current_version;
        int n;
} view;

static int keep_case(void *op, const cf_case_row *c)
{
        view *v = op;
        v->c = *c;
        const char **f[] = {&v->c.declaration_id, &v->c.event_time,  &v->c.exporter_id,
                            &v->c.importer_id,    &v->c.origin,      &v->c.export_country,
                            &v->c.hs_code,        &v->c.certificate, &v->c.currency,
                            &v->c.status,         &v->c.assignee};
        for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
                *f[i] = v->strs[i] = strdup(*f[i]);
        return 0;
}

static void th(cf_buf *b, const char *k, const char *v)
{
        cf_buf_puts(b, "<tr><th>");
        cf_html(b, k);
        cf_buf_puts(b, "</th><td>");
        cf_html(b, v);
        cf_buf_puts(b, "</td></tr>");
}

/* The declaration's top-level fields as rows (values as sent, escaped). */
static void decl_table(cf_buf *b, const char *js)
{
        jsmntok_t t[512];
        jsmn_parser p;
        jsmn_init(&p);
        int n = jsmn_parse(&p, js, strlen(js), t, 512);
        cf_buf_puts(b, "<table class=\"kv\" id=\"declaration\">");
        for (int i = 1; n > 0 && i + 1 < n;) {
                cf_buf k = {0}, v = {0};
                cf_buf_put(&k, js + t[i].start, (size_t)(t[i].end - t[i].start));
                cf_buf_put(&v, js + t[i + 1].start, (size_t)(t[i + 1].end - t[i + 1].start));
                cf_buf_putc(&k, '\0');
                cf_buf_putc(&v, '\0');
                th(b, k.p, v.p);
                cf_buf_free(&k);
                cf_buf_free(&v);
                int end = t[i + 1].end;
                i += 2;
                while (i < n && t[i].start < end)
                        i++;
        }
        cf_buf_puts(b, "</table>");
}

static int reason_html(void *op, const cf_reason_row *x)
{
        view *v = op;
        cf_buf *b = &v->r->out;
        cf_buf_puts(b, "<section class=\"reason\"><h3>");
        cf_html(b, x->rule);
        cf_buf_puts(b, " <small>weight ");
        cf_html_num(b, x->weight, 1);
        cf_buf_puts(b, "</small></h3><p class=\"evidence-sentence\">");
        cf_explain(b, x->rule, x->evidence, x->explanation);
        cf_buf_puts(b, "</p><details><summary>raw evidence</summary><pre class=\"evidence-json\">");
        cf_html(b, x->evidence);
        cf_buf_puts(b, "</pre></details></section>");
        return 0;
}

static int version_html(void *op, const cf_version_row *x)
{
        view *v = op;
        cf_buf *b = &v->r->out;
        if (x->current) v->current_version = x->id;
        if (!v->n++) {
                cf_buf_puts(b, "<h2>Declaration</h2>");
                decl_table(b, x->declaration);
                cf_buf_puts(b, "<h2>Versions received</h2><table class=\"versions\"><tr><th>"
                               "Amendment</th><th>Score</th><th>Received</th><th>Processed</th>"
                               "<th>Source</th><th></th></tr>");
        }
        cf_buf_printf(b, "<tr%s><td>%lld</td><td>", x->current ? " class=\"current\"" : "",
                      (long long)x->amendment);
        cf_html_num(b, x->score, 1);
        cf_buf_puts(b, "</td><td>");
        cf_html_time(b, x->received_at_ms);
        cf_buf_puts(b, "</td><td>");
        cf_html(b, x->processed_at);
        cf_buf_puts(b, "</td><td><code>");
        cf_html(b, x->source);
        cf_buf_printf(b, "</code></td><td>%s<details><summary>JSON</summary><pre>",
                      x->current ? "current " : "");
        cf_html(b, x->declaration);
        cf_buf_puts(b, "</pre></details></td></tr>");
        return 0;
}

static int related_html(void *op, const cf_case_row *c)
{
        view *v = op;
        cf_buf *b = &v->r->out;
        v->n++;
        cf_buf_printf(b, "<li><a href=\"/case/%lld\">", (long long)c->id);
        cf_html(b, c->declaration_id);
        cf_buf_printf(b, "/%lld</a> score ", (long long)c->line);
        cf_html_num(b, c->score, 1);
        cf_buf_putc(b, ' ');
        cf_html_status(b, c->status, NULL);
        cf_buf_puts(b, "</li>");
        return 0;
}

static int profile_html(void *op, const cf_point *p)
{
        view *v = op;
        cf_buf *b = &v->r->out;
        if (!strcmp(p->series, "first_seen")) {
                cf_buf_puts(b, "<p>First flagged declaration: ");
                cf_html(b, p->key);
                cf_buf_puts(b, "; flagged lines: ");
                cf_html_num(b, p->value, 0);
                return cf_buf_puts(b, "</p><table class=\"profile\"><tr><th>Week</th><th>Value</th>"
                                      "<th>Currency</th></tr>"),
                       0;
        }
        if (!strncmp(p->series, "week:", 5)) {
                cf_buf_puts(b, "<tr><td>");
                cf_html(b, p->key);
                cf_buf_puts(b, "</td><td>");
                cf_html_num(b, p->value, 2);
                cf_buf_puts(b, "</td><td>");
                cf_html(b, p->series + 5);
                return cf_buf_puts(b, "</td></tr>"), 0;
        }
        cf_buf_puts(b, "<tr><td colspan=\"2\">flags: ");
        cf_html(b, p->key);
        cf_buf_puts(b, "</td><td>");
        cf_html_num(b, p->value, 0);
        cf_buf_puts(b, "</td></tr>");
        return 0;
}

static int event_html(void *op, const cf_event_row *e)
{
        view *v = op;
        cf_buf *b = &v->r->out;
        cf_buf_puts(b, "<tr class=\"event\"><td>");
        cf_html_time(b, e->at_ms);
        cf_buf_puts(b, "</td><td>");
        cf_html(b, e->actor);
        cf_buf_puts(b, "</td><td>");
        cf_html(b, e->action);
        cf_buf_puts(b, "</td><td>");
        cf_html(b, e->from_status);
        cf_buf_puts(b, " &rarr; ");
        cf_html(b, e->to_status);
        cf_buf_puts(b, "</td><td class=\"note\">");
        cf_html(b, e->note);
        if (*e->detail) {
                cf_buf_puts(b, " <small>");
                cf_html(b, e->detail);
                cf_buf_puts(b, "</small>");
        }
        cf_buf_puts(b, "</td></tr>");
        return 0;
}

static void action_form(cf_req *r, int64_t id, const char *to, const char *label,
                        const char *html_id, bool with_note)
{
        cf_buf *b = &r->out;
        cf_buf_printf(b, "<form method=\"post\" action=\"/case/%lld\" class=\"action\">",
                      (long long)id);
        cf_csrf_field(r);
        cf_buf_printf(b, "<input type=\"hidden\" name=\"to\" value=\"%s\">", to);
        if (with_note)
                cf_buf_printf(b, "<input name=\"note\" id=\"note-%s\" placeholder=\"note\">",
                              html_id);
        cf_buf_printf(b, "<button type=\"submit\" id=\"%s\">%s</button></form>", html_id, label);
}

static void actions(cf_req *r, const cf_case_row *c)
{
        cf_buf *b = &r->out;
        if (r->role < CF_ROLE_ANALYST) return;
        cf_buf_puts(b, "<section class=\"actions\" id=\"actions\"><h2>Work this case</h2>");
        if (!strcmp(c->status, "open"))
                action_form(r, c->id, "in_review", "Start review", "start-review", false);
        if (!strcmp(c->status, "in_review")) {
                cf_buf_printf(b,
                              "<form method=\"post\" action=\"/case/%lld\" class=\"verdict\" "
                              "id=\"verdict-form\">",
                              (long long)c->id);
                cf_csrf_field(r);
                cf_buf_puts(b, "<label>Verdict <select name=\"to\" id=\"verdict\">"
                               "<option value=\"confirmed_fraud\">confirmed fraud</option>"
                               "<option value=\"cleared\">cleared</option>"
                               "<option value=\"referred\">referred</option></select></label>"
                               "<label>Note (required) <textarea name=\"note\" id=\"note\" "
                               "required rows=\"3\"></textarea></label>"
                               "<button type=\"submit\" id=\"verdict-submit\">Record verdict"
                               "</button></form>");
                action_form(r, c->id, "open", "Release to the queue", "release", false);
        }
        if (cf_status_closing(c->status) && r->role >= CF_ROLE_SUPERVISOR)
                action_form(r, c->id, "in_review", "Re-open", "reopen", true);
        if (!cf_status_closing(c->status)) {
                cf_buf_printf(b, "<form method=\"post\" action=\"/case/%lld\" class=\"action\">",
                              (long long)c->id);
                cf_csrf_field(r);
                cf_buf_puts(
                    b,
                    "<input name=\"assignee\" id=\"assignee\" placeholder=\"assign to\" value=\"");
                cf_html(b, r->role >= CF_ROLE_SUPERVISOR ? c->assignee : r->user.name);
                cf_buf_puts(b, "\"><button type=\"submit\" id=\"assign\">Assign</button></form>");
        }
        cf_buf_printf(b, "<form method=\"post\" action=\"/case/%lld\" class=\"action\">",
                      (long long)c->id);
        cf_csrf_field(r);
        cf_buf_puts(
            b, "<input name=\"note\" id=\"comment\" placeholder=\"comment\" required>"
               "<button type=\"submit\" id=\"comment-submit\">Comment</button></form></section>");
}

static void header(cf_req *r, const cf_case_row *c)
{
        cf_buf *b = &r->out;
        cf_buf_puts(b, "<h1>Case ");
        cf_html(b, c->declaration_id);
        cf_buf_printf(b, "/%lld ", (long long)c->line);
        cf_html_status(b, c->status, "case-status");
        cf_buf_puts(b, "</h1><p class=\"summary\">Score <strong id=\"case-score\">");
        cf_html_num(b, c->score, 1);
        cf_buf_puts(b, "</strong> &middot; exporter <strong id=\"case-exporter\">");
        cf_html(b, c->exporter_id);
        cf_buf_puts(b, "</strong> &middot; assignee ");
        cf_html(b, *c->assignee ? c->assignee : "nobody");
        cf_buf_printf(b, " &middot; amendment %lld &middot; %lld version(s)</p>",
                      (long long)c->amendment, (long long)c->versions);
}

void cf_page_case(cf_req *r)
{
        int64_t id = case_id_of(r);
        view v = {.r = r};
        char err[512];
        int rc = id < 0 ? 1 : cf_store_case(r->s, id, keep_case, &v, err, sizeof err);
        if (rc) return cf_fail(r, rc > 0 ? 404 : 500, rc > 0 ? "no such case" : err);
        cf_page_begin(r, v.c.declaration_id);
        header(r, &v.c);
        actions(r, &v.c);
        cf_buf mark = r->out; /* the reasons go before the declaration: render versions aside */
        r->out = (cf_buf){0};
        cf_store_versions(r->s, id, version_html, &v, err, sizeof err);
        cf_buf versions = r->out;
        r->out = mark;
        cf_buf_puts(&r->out, "<h2>Why it was flagged</h2><div id=\"reasons\">");
        cf_store_reasons(r->s, v.current_version, reason_html, &v, err, sizeof err);
        cf_buf_puts(&r->out, "</div>");
        cf_buf_put(&r->out, versions.p, versions.len);
        if (v.n) cf_buf_puts(&r->out, "</table>");
        cf_buf_free(&versions);
        static const char *const rel[][2] = {{"exporter_id", "Same exporter"},
                                             {"importer_id", "Same importer"},
                                             {"certificate", "Same certificate of origin"}};
        cf_buf_puts(&r->out, "<h2>Related cases</h2><div class=\"related\">");
        for (int i = 0; i < 3; i++) {
                cf_buf_printf(&r->out, "<div><h3>%s</h3><ul>", rel[i][1]);
                v.n = 0;
                if (i < 2 || *v.c.certificate)
                        cf_store_related(r->s, id, rel[i][0], 20, related_html, &v, err,
                                         sizeof err);
                cf_buf_puts(&r->out, v.n ? "</ul></div>" : "<li>none</li></ul></div>");
        }
        cf_buf_puts(&r->out, "</div><h2>Exporter profile</h2><div id=\"profile\">");
        cf_store_exporter_profile(r->s, v.c.exporter_id, profile_html, &v, err, sizeof err);
        cf_buf_puts(&r->out,
                    "</table></div><h2>Audit trail</h2><table class=\"audit\" id=\"audit\">"
                    "<tr><th>When</th><th>Who</th><th>Action</th><th>Status</th>"
                    "<th>Note</th></tr>");
        cf_store_events(r->s, id, event_html, &v, err, sizeof err);
        cf_buf_puts(&r->out, "</table>");
        cf_page_end(r);
        for (int i = 0; i < 12; i++)
                free(v.strs[i]);
}

/* ---- JSON ---- */

static int reason_json(void *op, const cf_reason_row *x)
{
        view *v = op;
        cf_buf *b = &v->r->out;
        if (v->n++) cf_buf_putc(b, ',');
        cf_buf_puts(b, "{\"rule\":");
        cf_json_str(b, x->rule, strlen(x->rule));
        cf_buf_puts(b, ",\"weight\":");
        cf_json_num(b, x->weight);
        cf_buf_puts(b, ",\"evidence\":");
        cf_buf_puts(b, x->evidence);
        cf_buf_puts(b, ",\"explanation_html\":");
        cf_buf text = {0};
        cf_explain(&text, x->rule, x->evidence, x->explanation); /* HTML-escaped words */
        cf_json_str(b, text.p ? text.p : "", text.len);
        cf_buf_free(&text);
        cf_buf_putc(b, '}');
        return 0;
}

static int version_json(void *op, const cf_version_row *x)
{
        view *v = op;
        if (x->current) v->current_version = x->id;
        if (x->current) cf_buf_puts(&v->r->out, x->declaration);
        return 0;
}

static int event_json(void *op, const cf_event_row *e)
{
        view *v = op;
        cf_buf *b = &v->r->out;
        if (v->n++) cf_buf_putc(b, ',');
        const char *k[] = {"actor", "action", "from", "to", "note", "detail"};
        const char *val[] = {e->actor, e->action, e->from_status, e->to_status, e->note, e->detail};
        cf_buf_puts(b, "{\"at\":");
        cf_json_time(b, e->at_ms);
        for (int i = 0; i < 6; i++) {
                cf_buf_printf(b, ",\"%s\":", k[i]);
                cf_json_str(b, val[i], strlen(val[i]));
        }
        cf_buf_putc(b, '}');
        return 0;
}

void cf_api_case(cf_req *r)
{
        int64_t id = case_id_of(r);
        view v = {.r = r};
        char err[512];
        int rc = id < 0 ? 1 : cf_store_case(r->s, id, keep_case, &v, err, sizeof err);
        if (rc) return cf_fail(r, rc > 0 ? 404 : 500, rc > 0 ? "no such case" : err);
        r->ctype = "application/json";
        r->code = 200;
        cf_buf *b = &r->out;
        cf_buf_printf(b, "{\"id\":%lld,\"status\":", (long long)id);
        cf_json_str(b, v.c.status, strlen(v.c.status));
        cf_buf_puts(b, ",\"assignee\":");
        cf_json_str(b, v.c.assignee, strlen(v.c.assignee));
        cf_buf_puts(b, ",\"score\":");
        cf_json_num(b, v.c.score);
        cf_buf_puts(b, ",\"declaration\":");
        cf_store_versions(r->s, id, version_json, &v, err, sizeof err);
        cf_buf_puts(b, ",\"reasons\":[");
        cf_store_reasons(r->s, v.current_version, reason_json, &v, err, sizeof err);
        cf_buf_puts(b, "],\"audit\":[");
        v.n = 0;
        cf_store_events(r->s, id, event_json, &v, err, sizeof err);
        cf_buf_puts(b, "]}\n");
        for (int i = 0; i < 12; i++)
                free(v.strs[i]);
}
