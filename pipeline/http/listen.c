/*
 * listen.c - see listen.h. inet_pton rather than getaddrinfo: a listen
 * address that needs DNS would make start-up depend on a resolver.
 */
#include "pipeline/http/listen.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cf_listen_parse(const char *s, cf_listen_addr *out, char *errstr, size_t errstr_size)
{
        memset(out, 0, sizeof *out);
        const char *colon = strrchr(s, ':');
        if (!colon) goto bad;
        char *end;
        long port = strtol(colon + 1, &end, 10);
        if (!colon[1] || *end || port < 0 || port > 65535) goto bad;
        size_t hl = (size_t)(colon - s);
        const char *h = s;
        if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']') { /* [v6]:port */
                h++;
                hl -= 2;
                out->ipv6 = 1;
        }
        if (hl >= sizeof out->host) goto bad;
        memcpy(out->host, h, hl);
        out->host[hl] = '\0';
        if (!hl) snprintf(out->host, sizeof out->host, "0.0.0.0");
        if (!strcmp(out->host, "localhost")) snprintf(out->host, sizeof out->host, "127.0.0.1");
        out->port = (unsigned)port;
        if (out->ipv6) {
                struct sockaddr_in6 *a = (struct sockaddr_in6 *)&out->sa;
                a->sin6_family = AF_INET6;
                a->sin6_port = htons((uint16_t)port);
                if (inet_pton(AF_INET6, out->host, &a->sin6_addr) != 1) goto bad;
                out->len = sizeof *a;
        } else {
                struct sockaddr_in *a = (struct sockaddr_in *)&out->sa;
                a->sin_family = AF_INET;
                a->sin_port = htons((uint16_t)port);
                if (inet_pton(AF_INET, out->host, &a->sin_addr) != 1) goto bad;
                out->len = sizeof *a;
        }
        return 0;
bad:
        snprintf(errstr, errstr_size,
                 "metrics.listen: '%s' is not IPv4:port, [IPv6]:port or localhost:port "
                 "(port 0..65535)",
                 s);
        return -1;
}
