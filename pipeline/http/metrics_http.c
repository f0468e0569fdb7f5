/*
 * metrics_http.c - /metrics (Prometheus text), /healthz and /readyz over
 * libmicrohttpd, on its own internal thread (@locality: the HTTP thread; it
 * encodes the workers' metric registries, each under its own lock).
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/http/listen.h"
#include "pipeline/kafka/service_int.h"

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, const char *type,
                             const char *body, size_t n)
{
        struct MHD_Response *r =
            MHD_create_response_from_buffer(n, (void *)body, MHD_RESPMEM_MUST_COPY);
        MHD_add_response_header(r, "Content-Type", type);
        enum MHD_Result rc = MHD_queue_response(c, code, r);
        MHD_destroy_response(r);
        return rc;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **state)
{
        cf_service *s = cls;
        (void)version, (void)upload, (void)upload_size, (void)state;
        if (strcmp(method, "GET") && strcmp(method, "HEAD"))
                return reply(c, 405, "text/plain", "method not allowed\n", 19);
        if (!strcmp(url, "/metrics")) {
                cf_buf b = {0};
                cf_service_metrics(s, &b);
                enum MHD_Result rc =
                    reply(c, 200, "text/plain; version=0.0.4", b.p ? b.p : "", b.len);
                cf_buf_free(&b);
                return rc;
        }
        if (!strcmp(url, "/healthz")) {
                if (cf_service_failed(s)) return reply(c, 503, "text/plain", "failed\n", 7);
                return reply(c, 200, "text/plain", "ok\n", 3);
        }
        if (!strcmp(url, "/readyz")) {
                if (cf_service_ready(s)) return reply(c, 200, "text/plain", "ready\n", 6);
                return reply(c, 503, "text/plain", "not ready\n", 10);
        }
        return reply(c, 404, "text/plain", "not found: try /metrics, /healthz, /readyz\n", 43);
}

int cf_metrics_http_start(cf_service *s, char *errstr, size_t errstr_size)
{
        char host[40]; /* an IPv4 address, or "localhost" */
        struct sockaddr_in a;
        if (cf_listen_parse(s->sc.metrics_listen, &a, host, sizeof host)) goto bad;
        uint16_t port = ntohs(a.sin_port);
        s->http =
            MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, port, NULL, NULL, handle, s,
                             MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&a, MHD_OPTION_END);
        if (!s->http) {
                snprintf(errstr, errstr_size, "metrics.listen: cannot listen on %s",
                         s->sc.metrics_listen);
                return -1;
        }
        const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->http, MHD_DAEMON_INFO_BIND_PORT);
        snprintf(s->metrics_addr, sizeof s->metrics_addr, "%s:%u", host,
                 di ? di->port : (unsigned)port);
        return 0;
bad:
        snprintf(errstr, errstr_size, "metrics.listen: '%s' is not IPv4-host:port",
                 s->sc.metrics_listen);
        return -1;
}

void cf_metrics_http_stop(cf_service *s)
{
        if (s->http) MHD_stop_daemon(s->http);
        s->http = NULL;
}
