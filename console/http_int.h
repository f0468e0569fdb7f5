/*
 * http_int.h - the console's HTTP layer, shared by http.c (server, sessions,
 * CSRF, static files), auth.c (login), html.c (escaping, layout) and the
 * pages (page_*.c). Not an API.
 */
#ifndef CF_HTTP_INT_H
#define CF_HTTP_INT_H

#include <microhttpd.h>

#include "console/console_int.h"
#include "pipeline/core/buf.h"

enum { CF_ROLE_NONE, CF_ROLE_VIEWER, CF_ROLE_ANALYST, CF_ROLE_SUPERVISOR };

#define CF_FORM_MAX 64

/** One request, from its first byte to its response. @locality an HTTP thread */
typedef struct cf_req {
        cf_console *c;
        struct MHD_Connection *conn;
        const char *method, *url;
        cf_buf body;
        bool too_big;
        double t0;
        char *form_k[CF_FORM_MAX], *form_v[CF_FORM_MAX]; /* decoded POST form */
        int n_form;
        cf_store *s; /* borrowed for the request */
        cf_user user;
        int role; /* CF_ROLE_NONE: not logged in */
        char csrf[65], token[65];
        cf_buf out;
        unsigned code;
        const char *ctype;
        char location[1024];
        char cookies[2][400];
} cf_req;

/** Query-string (GET) or form (POST) value of name, NULL if absent. */
const char *cf_req_arg(cf_req *r, const char *name);
/** Role number of a role name. */
int cf_role_of(const char *name);
/** Set a 303 redirect to location. */
void cf_redirect(cf_req *r, const char *location);
/** Set an error page (HTML) or JSON error (under /api/) with code. */
void cf_fail(cf_req *r, unsigned code, const char *msg);
/** Is this an /api/ request (JSON errors)? */
bool cf_is_api(const cf_req *r);

/* auth.c */
/** GET /login: the form. POST /login: check password (rate-limited), start a session. */
void cf_page_login(cf_req *r);
/** POST /logout. */
void cf_page_logout(cf_req *r);
/** Load the session of the request's cookie into r (role stays NONE if none). */
void cf_auth_session(cf_req *r);
/** Constant-time string equality. */
bool cf_secure_eq(const char *a, const char *b);

/* html.c */
/** Append s HTML-escaped (& < > " '). */
void cf_html(cf_buf *b, const char *s);
/** A case status badge: <span class="status status-S" [id="id"]>S</span> (id NULL: none). */
void cf_html_status(cf_buf *b, const char *status, const char *id);
/** Append n bytes of s HTML-escaped. */
void cf_htmln(cf_buf *b, const char *s, size_t n);
/** Append s percent-encoded for a URL query value. */
void cf_urlenc(cf_buf *b, const char *s);
/** Start a page: doctype, head, navigation, the user, the logout form. */
void cf_page_begin(cf_req *r, const char *title);
/** End a page. */
void cf_page_end(cf_req *r);
/** Append a hidden CSRF field. */
void cf_csrf_field(cf_req *r);
/** Append an epoch-ms time as "YYYY-MM-DD HH:MM:SS UTC". */
void cf_html_time(cf_buf *b, int64_t ms);
/** Append a number with thousands separators and up to decimals decimals. */
void cf_html_num(cf_buf *b, double v, int decimals);

/* explain.c */
/** Append the evidence of rule in words (HTML-escaped): explanation when given, else a
 * sentence built from the evidence's keys. */
void cf_explain(cf_buf *b, const char *rule, const char *evidence_json, const char *explanation);

/* pages */
void cf_page_queue(cf_req *r);
void cf_page_bulk(cf_req *r);
void cf_api_cases(cf_req *r);
void cf_api_export(cf_req *r);
void cf_page_case(cf_req *r);
void cf_page_case_action(cf_req *r);
void cf_api_case(cf_req *r);
void cf_page_dashboard(cf_req *r);
void cf_api_dashboard(cf_req *r);
/** Parse the queue filters from the request; 0 or -1 after cf_fail. */
int cf_filter_from_req(cf_req *r, cf_case_filter *f);
/** Apply one transition (role checked) and count it; returns the store's code. */
int cf_apply_transition(cf_req *r, int64_t id, const char *to, const char *note,
                        const char *assignee, char *errstr, size_t errstr_size);

#endif
