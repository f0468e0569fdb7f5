/*
 * metrics_http.c - /metrics (Prometheus text), /healthz and /readyz over
 * libmicrohttpd, on its own polling thread (epoll) (@locality: the HTTP
 * thread; it encodes the metric registries, each under its own lock).
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
        char why[512], body[600];
        if (!strcmp(url, "/healthz")) {
                bool ok = cf_service_healthy(s, why, sizeof why);
                int n = snprintf(body, sizeof body, "%s\n", ok ? "ok" : why);
                return reply(c, ok ? 200 : 503, "text/plain", body, (size_t)n);
        }
        if (!strcmp(url, "/readyz")) {
                /* the body names the state: starting, restoring, ready, degraded,
                 * draining or failed (and why) */
                cf_svc_state st = cf_service_state(s, why, sizeof why);
                int n = snprintf(body, sizeof body, "%s%s%s\n", cf_service_state_name(st),
                                 why[0] ? ": " : "", why);
                return reply(c, st == CF_STATE_READY ? 200 : 503, "text/plain", body, (size_t)n);
        }
        return reply(c, 404, "text/plain", "not found: try /metrics, /healthz, /readyz\n", 43);
}

int cf_metrics_http_start(cf_service *s, char *errstr, size_t errstr_size)
{
        cf_listen_addr la;
        if (cf_listen_parse(s->sc.metrics_listen, &la, errstr, errstr_size)) return -1;
        /* Its own polling thread with epoll (no FD_SETSIZE limit), and bounds
         * on what clients may hold: an idle connection is closed after
         * connection_timeout, a client address gets max_connections_per_ip,
         * everyone together max_connections -- so half-open connections
         * (slowloris) from one address cannot starve the probes. */
        unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL;
        if (la.ipv6) flags |= MHD_USE_IPv6;
        s->http = MHD_start_daemon(
            flags, (uint16_t)la.port, NULL, NULL, handle, s, MHD_OPTION_SOCK_ADDR,
            (struct sockaddr *)&la.sa, MHD_OPTION_CONNECTION_TIMEOUT,
            (unsigned)((s->sc.http_timeout_ms + 999) / 1000), MHD_OPTION_CONNECTION_LIMIT,
            (unsigned)s->sc.http_max_conns, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
            (unsigned)s->sc.http_max_conns_per_ip, MHD_OPTION_LISTEN_BACKLOG_SIZE, 256u,
            MHD_OPTION_END);
        if (!s->http) {
                snprintf(errstr, errstr_size, "metrics.listen: cannot listen on %s",
                         s->sc.metrics_listen);
                return -1;
        }
        const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->http, MHD_DAEMON_INFO_BIND_PORT);
        snprintf(s->metrics_addr, sizeof s->metrics_addr, la.ipv6 ? "[%s]:%u" : "%s:%u", la.host,
                 di ? di->port : la.port);
        return 0;
}

void cf_metrics_http_stop(cf_service *s)
{
        if (s->http) MHD_stop_daemon(s->http);
        s->http = NULL;
}
