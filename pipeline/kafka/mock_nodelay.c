/*
 * mock_nodelay.c - TCP_NODELAY on the mock cluster's listeners (see the
 * header for why). librdkafka's mock API does not expose its sockets, so
 * they are found among this process's descriptors: listening TCP sockets
 * bound to a port named in the cluster's bootstraps.
 */
#include "pipeline/kafka/mock_nodelay.h"

#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define MAX_PORTS 64

/* The ports of "host:port,host:port,..." into ports; returns how many. */
static int bootstrap_ports(const char *bootstraps, int *ports, int max)
{
        int n = 0;
        for (const char *p = bootstraps; p && *p && n < max;) {
                const char *end = strchr(p, ','), *colon = NULL;
                for (const char *q = p; *q && q != end; q++)
                        if (*q == ':') colon = q;
                if (colon) ports[n++] = atoi(colon + 1);
                p = end ? end + 1 : NULL;
        }
        return n;
}

/* Is fd a listening TCP socket bound to one of ports? */
static bool is_listener(int fd, const int *ports, int n)
{
        struct sockaddr_storage sa;
        socklen_t len = sizeof sa;
        int on = 0;
        socklen_t ol = sizeof on;
        if (getsockname(fd, (struct sockaddr *)&sa, &len)) return false;
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &ol) || !on) return false;
        int port = sa.ss_family == AF_INET    ? ntohs(((struct sockaddr_in *)&sa)->sin_port)
                   : sa.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&sa)->sin6_port)
                                              : -1;
        for (int i = 0; i < n; i++)
                if (ports[i] == port) return true;
        return false;
}

int cf_kafka_mock_nodelay(rd_kafka_mock_cluster_t *mc, char *errstr, size_t errstr_size)
{
        int ports[MAX_PORTS];
        int n = bootstrap_ports(rd_kafka_mock_cluster_bootstraps(mc), ports, MAX_PORTS);
        DIR *d = opendir("/proc/self/fd");
        if (!d) {
                snprintf(errstr, errstr_size, "/proc/self/fd: %s", strerror(errno));
                return -1;
        }
        int set = 0;
        for (struct dirent *e; (e = readdir(d));) {
                int fd = atoi(e->d_name);
                if (e->d_name[0] < '0' || e->d_name[0] > '9' || fd == dirfd(d)) continue;
                if (!is_listener(fd, ports, n)) continue;
                int one = 1;
                if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one)) {
                        snprintf(errstr, errstr_size, "TCP_NODELAY: %s", strerror(errno));
                        closedir(d);
                        return -1;
                }
                set++;
        }
        closedir(d);
        if (set < n) {
                snprintf(errstr, errstr_size, "%d of the mock cluster's %d listeners found", set,
                         n);
                return -1;
        }
        return set;
}
