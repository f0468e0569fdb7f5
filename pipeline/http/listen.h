/*
 * listen.h - the metrics endpoint's listen address ("host:port"), parsed once
 * for both `check-config` and `run` so they accept exactly the same values.
 */
#ifndef CF_LISTEN_H
#define CF_LISTEN_H

#include <stddef.h>
#include <sys/socket.h>

/** A parsed listen address. */
typedef struct cf_listen_addr {
        struct sockaddr_storage sa;
        socklen_t len;
        int ipv6;
        unsigned port;
        char host[64]; /* numeric host, for messages */
} cf_listen_addr;

/**
 * Parse "IPv4:port", "[IPv6]:port", "localhost:port" or ":port" (all IPv4
 * interfaces); port 0..65535 (0: any free port). -1 + errstr naming the key.
 */
int cf_listen_parse(const char *s, cf_listen_addr *out, char *errstr, size_t errstr_size);

#endif
