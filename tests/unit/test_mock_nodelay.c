/*
 * test_mock_nodelay.c - cf_kafka_mock_nodelay: the mock cluster's listeners
 * get TCP_NODELAY (one per broker), and a connection the mock accepts after
 * it has it too (inherited), as a real broker's connections have; before
 * the call they have Nagle's algorithm on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pipeline/kafka/mock_nodelay.h"

/* TCP_NODELAY of this process's sockets on local port: listening ones
 * (listen = 1) or accepted ones (listen = 0); how many found, in *n. */
static int nodelay_on_port(int port, int listen, int *n)
{
        DIR *d = opendir("/proc/self/fd");
        assert_non_null(d);
        int all = 1;
        *n = 0;
        for (struct dirent *e; (e = readdir(d));) {
                int fd = atoi(e->d_name), acc = 0, nd = 0;
                struct sockaddr_in sa;
                socklen_t len = sizeof sa, ol = sizeof acc;
                if (e->d_name[0] == '.' || fd == dirfd(d)) continue;
                if (getsockname(fd, (struct sockaddr *)&sa, &len) || sa.sin_family != AF_INET ||
                    ntohs(sa.sin_port) != port)
                        continue;
                if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &ol) || acc != listen) continue;
                ol = sizeof nd;
                assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nd, &ol), 0);
                (*n)++;
                all &= nd != 0;
        }
        closedir(d);
        return all;
}

static int first_port(rd_kafka_mock_cluster_t *mc)
{
        const char *b = rd_kafka_mock_cluster_bootstraps(mc);
        const char *c = strchr(b, ':');
        assert_non_null(c);
        return atoi(c + 1);
}

static void test_listeners_and_accepted(void **state)
{
        (void)state;
        char err[256];
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, rd_kafka_conf_new(), err, sizeof err);
        assert_non_null(rk);
        rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, 3);
        assert_non_null(mc);
        int port = first_port(mc), n;
        assert_int_equal(nodelay_on_port(port, 1, &n), 0); /* Nagle on, before */
        assert_int_equal(n, 1);
        assert_int_equal(cf_kafka_mock_nodelay(mc, err, sizeof err), 3);
        assert_int_equal(nodelay_on_port(port, 1, &n), 1);
        assert_int_equal(n, 1);
        /* a connection accepted afterwards inherits it */
        int s = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
        assert_int_equal(connect(s, (struct sockaddr *)&to, sizeof to), 0);
        int all = 0;
        for (int i = 0; i < 200; i++) { /* the mock's thread accepts it */
                all = nodelay_on_port(port, 0, &n);
                if (n) break;
                usleep(10 * 1000);
        }
        assert_int_equal(n, 1);
        assert_int_equal(all, 1);
        close(s);
        rd_kafka_mock_cluster_destroy(mc);
        rd_kafka_destroy(rk);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_listeners_and_accepted),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
