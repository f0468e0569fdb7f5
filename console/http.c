/*
 * http.c - the console's web server on libmicrohttpd (TLS through its
 * GnuTLS support): request bodies bounded by console.max_body, sessions and
 * CSRF checked before any page runs, roles enforced per route, security
 * headers (CSP, no framing, no sniffing) on every response, static files
 * from the console's web folder and Debian's Chart.js, /metrics, /healthz,
 * /readyz.
 *
 * @locality libmicrohttpd's thread pool; each request borrows one store
 * connection from the console's pool for its duration.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "console/http_int.h"
#include "pipeline/http/listen.h"
#include "pipeline/core/clock.h"
#include "pipeline/core/log.h"

/* Everything the pages load comes from this server: no inline script, no CDN. */
#define CSP                                                                                        \
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"           \
        " object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

int cf_role_of(const char *name)
{
        if (!strcmp(name, "viewer")) return CF_ROLE_VIEWER;
        if (!strcmp(name, "analyst")) return CF_ROLE_ANALYST;
        if (!strcmp(name, "supervisor")) return CF_ROLE_SUPERVISOR;
        return CF_ROLE_NONE;
}

bool cf_is_api(const cf_req *r)
{
        return !strncmp(r->url, "/api/", 5);
}

const char *cf_req_arg(cf_req *r, const char *name)
{
        for (int i = 0; i < r->n_form; i++)
                if (!strcmp(r->form_k[i], name)) return r->form_v[i];
        return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

void cf_redirect(cf_req *r, const char *location)
{
        r->code = 303;
        snprintf(r->location, sizeof r->location, "%s", location);
}

void cf_fail(cf_req *r, unsigned code, const char *msg)
{
        r->code = code;
        r->out.len = 0;
        if (cf_is_api(r)) {
                r->ctype = "application/json";
                cf_buf_puts(&r->out, "{\"error\":");
                cf_json_str(&r->out, msg, strlen(msg));
                cf_buf_puts(&r->out, "}\n");
                return;
        }
        r->ctype = "text/html; charset=utf-8";
        cf_buf_printf(&r->out,
                      "<!doctype html><html><head><meta charset=\"utf-8\"><title>%u</title>"
                      "<link rel=\"stylesheet\" href=\"/static/console.css\"></head><body>"
                      "<main><h1>%u</h1><p class=\"error\">",
                      code, code);
        cf_html(&r->out, msg);
        cf_buf_puts(&r->out,
                    "</p><p><a href=\"/queue\">back to the queue</a></p></main></body></html>\n");
}

/* Decode an application/x-www-form-urlencoded body (MHD_http_unescape does
 * the percent-decoding); over CF_FORM_MAX fields is a malformed request. */
static int parse_form(cf_req *r)
{
        cf_buf_putc(&r->body, '\0');
        char *save = NULL;
        for (char *kv = strtok_r(r->body.p, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
                if (r->n_form == CF_FORM_MAX) return -1;
                char *eq = strchr(kv, '=');
                if (eq) *eq = '\0';
                for (char *p = kv; *p; p++)
                        if (*p == '+') *p = ' ';
                for (char *p = eq ? eq + 1 : kv + strlen(kv); *p; p++)
                        if (*p == '+') *p = ' ';
                MHD_http_unescape(kv);
                if (eq) MHD_http_unescape(eq + 1);
                r->form_k[r->n_form] = kv;
                r->form_v[r->n_form++] = eq ? eq + 1 : "";
        }
        return 0;
}

static const char *web_dir(cf_console *c)
{
        if (c->cc.web_dir && *c->cc.web_dir) return c->cc.web_dir;
        if (access(CF_CONSOLE_WEBDIR "/console.css", R_OK) == 0) return CF_CONSOLE_WEBDIR;
        return CF_CONSOLE_INSTALL_WEBDIR;
}

/* GET /static/<name>: a fixed set of names, never a path from the request. */
static void serve_static(cf_req *r)
{
        static const struct {
                const char *name, *type;
        } files[] = {{"console.css", "text/css"},
                     {"console.js", "text/javascript"},
                     {"dashboard.js", "text/javascript"},
                     {"chart.min.js", "text/javascript"}};
        const char *name = r->url + 8;
        for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
                if (strcmp(name, files[i].name)) continue;
                char path[4200];
                if (!strcmp(name, "chart.min.js"))
                        snprintf(path, sizeof path, "%s", r->c->cc.chartjs);
                else
                        snprintf(path, sizeof path, "%s/%s", web_dir(r->c), name);
                FILE *f = fopen(path, "rb");
                if (!f) return cf_fail(r, 404, "static file missing on the server");
                char buf[65536];
                size_t n;
                while ((n = fread(buf, 1, sizeof buf, f)) > 0)
                        cf_buf_put(&r->out, buf, n);
                fclose(f);
                r->code = 200;
                r->ctype = files[i].type;
                return;
        }
        cf_fail(r, 404, "not found");
}

static void serve_metrics(cf_req *r)
{
        cf_store_counts k = {0};
        char err[256];
        cf_store *s = cf_console_store_get(r->c);
        cf_store_counts_get(s, &k, err, sizeof err);
        cf_console_store_put(r->c, s);
        cf_console_metrics_text(&r->c->m, k.active, k.outbox_pending, &r->out);
        r->code = 200;
        r->ctype = "text/plain; version=0.0.4";
}

/* Pages and API routes: method, path (prefix when it ends in '/'), least role. */
static const struct route {
        const char *method, *path;
        void (*fn)(cf_req *);
        int role;
} routes[] = {
    {"GET", "/queue", cf_page_queue, CF_ROLE_VIEWER},
    {"GET", "/case/", cf_page_case, CF_ROLE_VIEWER},
    {"POST", "/case/", cf_page_case_action, CF_ROLE_ANALYST},
    {"POST", "/bulk", cf_page_bulk, CF_ROLE_SUPERVISOR},
    {"GET", "/dashboard", cf_page_dashboard, CF_ROLE_VIEWER},
    {"GET", "/api/cases", cf_api_cases, CF_ROLE_VIEWER},
    {"GET", "/api/cases/", cf_api_case, CF_ROLE_VIEWER},
    {"POST", "/api/cases/", cf_page_case_action, CF_ROLE_ANALYST},
    {"GET", "/api/export.csv", cf_api_export, CF_ROLE_VIEWER},
    {"GET", "/api/export.json", cf_api_export, CF_ROLE_VIEWER},
    {"GET", "/api/dashboard", cf_api_dashboard, CF_ROLE_VIEWER},
    {"POST", "/logout", cf_page_logout, CF_ROLE_VIEWER},
};

static bool path_match(const char *route, const char *url)
{
        size_t n = strlen(route);
        return route[n - 1] == '/' ? !strncmp(url, route, n) && url[n] : !strcmp(url, route);
}

/* Sessions, CSRF and roles, then the route. @locality an HTTP thread */
static void dispatch_authed(cf_req *r)
{
        bool post = !strcmp(r->method, "POST");
        if (!strcmp(r->url, "/login")) return cf_page_login(r);
        cf_auth_session(r);
        if (r->role == CF_ROLE_NONE) {
                if (cf_is_api(r) || post) return cf_fail(r, 401, "log in first");
                return cf_redirect(r, "/login");
        }
        if (post) { /* every state change carries the session's CSRF token */
                const char *t = cf_req_arg(r, "csrf");
                if (!t) t = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "X-CSRF-Token");
                if (!t || !cf_secure_eq(t, r->csrf))
                        return cf_fail(r, 403, "missing or wrong CSRF token; reload the page");
        }
        if (!strcmp(r->url, "/")) return cf_redirect(r, "/queue");
        bool known = false;
        for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
                if (!path_match(routes[i].path, r->url)) continue;
                known = true;
                if (strcmp(routes[i].method, r->method)) continue;
                if (r->role < routes[i].role)
                        return cf_fail(r, 403, "your role does not allow this");
                return routes[i].fn(r);
        }
        cf_fail(r, known ? 405 : 404, known ? "method not allowed" : "not found");
}

static void dispatch(cf_req *r)
{
        bool post = !strcmp(r->method, "POST");
        if (strcmp(r->method, "GET") && strcmp(r->method, "HEAD") && !post)
                return cf_fail(r, 405, "method not allowed");
        if (r->too_big) return cf_fail(r, 413, "request body too large");
        if (!strncmp(r->url, "/static/", 8)) return serve_static(r);
        if (!strcmp(r->url, "/metrics")) return serve_metrics(r);
        if (!strcmp(r->url, "/healthz")) {
                r->code = 200;
                return cf_buf_puts(&r->out, "ok\n");
        }
        if (!strcmp(r->url, "/readyz")) {
                bool ready = !r->c->ingest || atomic_load(&r->c->ingest_ok);
                r->code = ready ? 200 : 503;
                return cf_buf_puts(&r->out, ready ? "ready\n" : "not ready\n");
        }
        if (post && r->body.len) {
                const char *ct =
                    MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Type");
                if (!ct || strncasecmp(ct, "application/x-www-form-urlencoded", 33))
                        return cf_fail(r, 415, "send application/x-www-form-urlencoded");
                if (memchr(r->body.p, '\0', r->body.len) || parse_form(r))
                        return cf_fail(r, 400, "malformed form");
        }
        r->s = cf_console_store_get(r->c);
        dispatch_authed(r);
        cf_console_store_put(r->c, r->s);
        r->s = NULL;
}

static enum MHD_Result respond(cf_req *r)
{
        if (!r->code) r->code = 200;
        struct MHD_Response *resp = MHD_create_response_from_buffer(
            r->out.len, r->out.len ? r->out.p : (void *)"",
            r->out.len ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
        if (r->out.len) r->out = (cf_buf){0}; /* the response owns it now */
        MHD_add_response_header(resp, "Content-Type",
                                r->ctype ? r->ctype : "text/plain; charset=utf-8");
        MHD_add_response_header(resp, "Content-Security-Policy", CSP);
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
        MHD_add_response_header(resp, "X-Frame-Options", "DENY");
        MHD_add_response_header(resp, "Referrer-Policy", "same-origin");
        MHD_add_response_header(resp, "Cache-Control",
                                !strncmp(r->url, "/static/", 8) ? "max-age=3600" : "no-store");
        if (*r->location) MHD_add_response_header(resp, "Location", r->location);
        for (int i = 0; i < 2; i++)
                if (*r->cookies[i]) MHD_add_response_header(resp, "Set-Cookie", r->cookies[i]);
        enum MHD_Result rc = MHD_queue_response(r->conn, r->code, resp);
        MHD_destroy_response(resp);
        return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **ptr)
{
        cf_console *c = cls;
        cf_req *r = *ptr;
        (void)version;
        if (!r) {
                r = calloc(1, sizeof *r);
                r->c = c, r->conn = conn, r->url = url, r->method = method;
                r->t0 = cf_mono_s();
                *ptr = r;
                return MHD_YES;
        }
        if (*upload_size) { /* keep reading an oversized body, answer 413 at the end */
                if (r->body.len + *upload_size > (size_t)c->cc.max_body)
                        r->too_big = true;
                else
                        cf_buf_put(&r->body, upload, *upload_size);
                *upload_size = 0;
                return MHD_YES;
        }
        dispatch(r);
        return respond(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **ptr,
                         enum MHD_RequestTerminationCode toe)
{
        cf_console *c = cls;
        cf_req *r = *ptr;
        (void)conn, (void)toe;
        if (!r) return;
        cf_console_metrics_request(&c->m, r->code, cf_mono_s() - r->t0);
        cf_buf_free(&r->body);
        cf_buf_free(&r->out);
        free(r);
        *ptr = NULL;
}

static char *read_file(const char *path)
{
        FILE *f = fopen(path, "rb");
        if (!f) return NULL;
        cf_buf b = {0};
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, f)) > 0)
                cf_buf_put(&b, buf, n);
        fclose(f);
        cf_buf_putc(&b, '\0');
        return b.p;
}

/* The listening socket, bound here rather than by libmicrohttpd, whose
 * failure says only "cannot start": a user whose port is taken must read
 * why (c->listen_errno: EADDRINUSE lets the demo pick another port). */
static int listen_socket(cf_console *c, const cf_listen_addr *la, char *errstr, size_t errstr_size)
{
        int one = 1, fd = socket(la->ipv6 ? AF_INET6 : AF_INET,
                                 SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd >= 0 && !setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) &&
            !bind(fd, (const struct sockaddr *)&la->sa, la->len) && !listen(fd, 256))
                return fd;
        c->listen_errno = errno;
        if (fd >= 0) close(fd);
        snprintf(errstr, errstr_size, "console.listen: cannot listen on %s: %s", c->cc.listen,
                 strerror(c->listen_errno));
        return -1;
}

int cf_console_http_start(cf_console *c, char *errstr, size_t errstr_size)
{
        cf_listen_addr la;
        char lerr[256];
        c->listen_errno = 0;
        if (cf_listen_parse(c->cc.listen, &la, lerr, sizeof lerr)) {
                snprintf(errstr, errstr_size, "console.listen: '%s' is not host:port",
                         c->cc.listen);
                return -1;
        }
        const char *host = la.host;
        uint16_t port = (uint16_t)la.port;
        unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL;
        if (la.ipv6) flags |= MHD_USE_IPv6;
        bool tls = c->cc.tls_cert && *c->cc.tls_cert;
        if (tls) {
                c->tls_cert_pem = read_file(c->cc.tls_cert);
                c->tls_key_pem = read_file(c->cc.tls_key);
                if (!c->tls_cert_pem || !c->tls_key_pem) {
                        snprintf(errstr, errstr_size, "console: cannot read tls_cert/tls_key");
                        return -1;
                }
                flags |= MHD_USE_TLS;
        }
        int fd = listen_socket(c, &la, errstr, errstr_size);
        if (fd < 0) return -1;
        /* libmicrohttpd owns fd from here (MHD_stop_daemon closes it) */
        c->http = MHD_start_daemon(
            flags, port, NULL, NULL, on_request, c, MHD_OPTION_LISTEN_SOCKET, fd,
            MHD_OPTION_THREAD_POOL_SIZE, (unsigned)c->cc.http_threads, MHD_OPTION_NOTIFY_COMPLETED,
            on_completed, c, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
            MHD_OPTION_CONNECTION_LIMIT, (unsigned)512, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
            (size_t)(64 * 1024), tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, c->tls_key_pem,
            MHD_OPTION_HTTPS_MEM_CERT, c->tls_cert_pem, MHD_OPTION_END);
        if (!c->http) { /* fd not closed here: some libmicrohttpd versions close it */
                snprintf(errstr, errstr_size, "console.listen: cannot serve on %s%s", c->cc.listen,
                         tls ? " with TLS (check the certificate and key)" : "");
                return -1;
        }
        const union MHD_DaemonInfo *di = MHD_get_daemon_info(c->http, MHD_DAEMON_INFO_BIND_PORT);
        snprintf(c->url, sizeof c->url, "%s://%s:%u/", tls ? "https" : "http", host,
                 di ? di->port : (unsigned)port);
        cf_log(CF_LOG_INFO, "console", "serving %s", c->url);
        return 0;
}

void cf_console_http_stop(cf_console *c)
{
        if (c->http) MHD_stop_daemon(c->http);
        c->http = NULL;
}
