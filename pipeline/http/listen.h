/*
 * listen.h - "host:port" listen addresses of the HTTP endpoints (metrics,
 * the review console).
 */
#ifndef CF_LISTEN_H
#define CF_LISTEN_H

#include <netinet/in.h>
#include <stddef.h>

/**
 * Parse listen ("127.0.0.1:9464", "localhost:0", ":8080" = every address)
 * into a (IPv4) and host (the address as text, "0.0.0.0" for every address);
 * -1 when it is not IPv4-host:port.
 */
int cf_listen_parse(const char *listen, struct sockaddr_in *a, char *host, size_t host_size);

#endif
