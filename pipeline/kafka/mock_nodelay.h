/*
 * mock_nodelay.h - TCP_NODELAY on librdkafka's mock cluster (the embedded
 * broker of `demo` and the benchmarks): the mock's listeners keep Nagle's
 * algorithm, so a small response written while an earlier one is not yet
 * acknowledged waits for the client's delayed ACK (~40 ms on Linux). A real
 * Kafka broker sets TCP_NODELAY on every connection it accepts.
 */
#ifndef CF_MOCK_NODELAY_H
#define CF_MOCK_NODELAY_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

/**
 * Sets TCP_NODELAY on the listening sockets of mc's brokers (this process's
 * sockets bound to a port of its bootstraps); connections accepted from then
 * on inherit it. Call before any client connects. Returns the listeners set
 * (one per broker), or -1 with the reason in errstr.
 * @locality any thread; reads /proc/self/fd
 */
int cf_kafka_mock_nodelay(rd_kafka_mock_cluster_t *mc, char *errstr, size_t errstr_size);

#endif
