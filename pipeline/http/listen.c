/*
 * listen.c - parse "host:port" listen addresses.
 */
#include "pipeline/http/listen.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int cf_listen_parse(const char *listen, struct sockaddr_in *a, char *host, size_t host_size)
{
        const char *colon = strrchr(listen, ':');
        if (!colon || host_size < 16) return -1;
        char *end;
        long port = strtol(colon + 1, &end, 10);
        size_t hl = (size_t)(colon - listen);
        if (*end || end == colon + 1 || port < 0 || port > 65535 || hl >= host_size) return -1;
        memcpy(host, listen, hl);
        host[hl] = '\0';
        if (!strcmp(host, "localhost")) strcpy(host, "127.0.0.1");
        if (!hl) strcpy(host, "0.0.0.0");
        memset(a, 0, sizeof *a);
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : -1;
}
