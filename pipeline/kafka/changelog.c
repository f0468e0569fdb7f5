/*
 * changelog.c - stage state checkpoints in a compacted changelog topic
 * (Kafka Streams' model): the snapshot of input partition p is written to
 * changelog partition p as chunks keyed "<group>/<input topic>/<p>/<i>", each
 * with headers cf.snapshot (a snapshot id increasing over time) and cf.chunks
 * (how many chunks it has). Compaction keeps the latest chunk per key; a
 * reader assembles the newest snapshot whose chunks are all present.
 *
 * The changelog topic must have at least as many partitions as the input
 * topic and should have cleanup.policy=compact (the demo creates it).
 *
 * @locality: worker thread (commit and rebalance paths).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/core/clock.h"
#include "pipeline/kafka/service_int.h"

#define COMPONENT "changelog"

static int key_prefix(const cf_worker *w, int32_t p, char *out, size_t n)
{
        return snprintf(out, n, "%s/%s/%d/", w->svc->sc.group_id, w->svc->sc.topic_in, p);
}

/* Write snap to changelog partition p as chunks keyed prefix<i> (one snapshot id
 * in every chunk's headers) and wait for the acks. */
static int write_chunks(cf_worker *w, int32_t p, const char *prefix, const cf_buf *snap)
{
        const cf_service_cfg *sc = &w->svc->sc;
        uint64_t id = (uint64_t)cf_now_ms() * 1000 + (w->snapshot_seq++ % 1000);
        size_t chunk = (size_t)sc->chunk_bytes;
        size_t n = snap->len ? (snap->len + chunk - 1) / chunk : 1;
        char key[512], idbuf[32], nbuf[32];
        int kp = snprintf(key, sizeof key, "%s", prefix);
        snprintf(idbuf, sizeof idbuf, "%" PRIu64, id);
        snprintf(nbuf, sizeof nbuf, "%zu", n);
        int rc = 0;
        for (size_t i = 0; i < n && !rc; i++) {
                int kl = kp + snprintf(key + kp, sizeof key - (size_t)kp, "%zu", i);
                size_t off = i * chunk, len = snap->len - off < chunk ? snap->len - off : chunk;
                if (!snap->len) len = 0;
                rd_kafka_headers_t *h = rd_kafka_headers_new(2);
                rd_kafka_header_add(h, "cf.snapshot", -1, idbuf, -1);
                rd_kafka_header_add(h, "cf.chunks", -1, nbuf, -1);
                rc = cf_worker_produce(w, sc->topic_changelog, p, key, (size_t)kl,
                                       snap->p ? snap->p + off : "", len, h);
        }
        if (!rc) rc = cf_worker_wait_acks(w);
        if (!rc) {
                cf_counter_inc(w->m.checkpoints);
                cf_counter_add(w->m.checkpoint_bytes, snap->len);
        }
        return rc;
}

int cf_changelog_write(cf_worker *w, int32_t p)
{
        cf_buf snap = {0};
        char prefix[512];
        key_prefix(w, p, prefix, sizeof prefix);
        int rc = cf_chain_snapshot(w->chain, p, &snap) ? -1 : write_chunks(w, p, prefix, &snap);
        if (!rc) cf_txn_snapshot_written(w, p, &snap); /* exactly_once: kept for a rewind */
        cf_buf_free(&snap);
        return rc;
}

/* The global state (learnt from the outcomes input): changelog partition 0,
 * keys "<group>/<outcomes topic>/global/<i>". */
static void global_prefix(const cf_worker *w, char *out, size_t n)
{
        snprintf(out, n, "%s/%s/global/", w->svc->sc.group_id, w->svc->sc.topic_outcomes);
}

int cf_changelog_write_global(cf_worker *w, const cf_buf *blob)
{
        char prefix[512];
        global_prefix(w, prefix, sizeof prefix);
        return write_chunks(w, 0, prefix, blob);
}

static bool header_u64(const rd_kafka_message_t *m, const char *name, uint64_t *out)
{
        rd_kafka_headers_t *h = NULL;
        const void *v;
        size_t n;
        if (rd_kafka_message_headers(m, &h) || rd_kafka_header_get_last(h, name, &v, &n))
                return false;
        char tmp[32];
        if (n == 0 || n >= sizeof tmp) return false;
        memcpy(tmp, v, n);
        tmp[n] = '\0';
        *out = strtoull(tmp, NULL, 10);
        return true;
}

/* A consumer outside the group for reading changelog partitions. Partitions
 * are read one after another up to a known high watermark: a long fetch wait
 * only holds the next partition's first fetch behind the previous one's empty
 * fetch (measured: fetch.wait.max.ms, 500 ms, per partition on assignment). */
static rd_kafka_t *restore_consumer(cf_worker *w)
{
        if (w->restore_rk) return w->restore_rk;
        static const char *const extra[] = {"fetch.wait.max.ms", "10", NULL};
        char err[512];
        w->restore_rk =
            cf_worker_reader_new(w, "customsflow-restore-unused", extra, err, sizeof err);
        if (!w->restore_rk) cf_log(CF_LOG_ERROR, COMPONENT, "restore consumer: %s", err);
        return w->restore_rk;
}

/* Read changelog partition p and keep the newest complete snapshot under prefix
 * in best (*found false: none). -1 on a read failure. */
static int read_newest(cf_worker *w, int32_t p, const char *prefix, cf_buf *best, bool *found)
{
        const cf_service_cfg *sc = &w->svc->sc;
        rd_kafka_t *rk = restore_consumer(w);
        *found = false;
        if (!rk) return -1;
        int64_t lo = 0, hi = 0, tq = cf_mono_ms();
        rd_kafka_resp_err_t e =
            rd_kafka_query_watermark_offsets(rk, sc->topic_changelog, p, &lo, &hi, 10000);
        if (e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || (!e && hi <= lo)) return 0;
        if (e) {
                cf_log(CF_LOG_ERROR, COMPONENT, "partition %d: %s watermarks: %s", p,
                       sc->topic_changelog, rd_kafka_err2str(e));
                return -1;
        }
        cf_log(CF_LOG_DEBUG, COMPONENT, "partition %d: watermarks in %lld ms", p,
               (long long)(cf_mono_ms() - tq));
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, sc->topic_changelog, p)->offset = lo;
        rd_kafka_assign(rk, l);
        rd_kafka_topic_partition_list_destroy(l);
        size_t pl = strlen(prefix);
        cf_buf cur = {0};
        uint64_t cur_id = 0, cur_n = 0, cur_next = 0, best_id = 0;
        int64_t deadline = cf_mono_ms() + 60000, last = lo - 1;
        int rc = 0;
        while (last < hi - 1) {
                if (cf_mono_ms() > deadline) {
                        cf_log(CF_LOG_ERROR, COMPONENT, "partition %d: changelog read timed out",
                               p);
                        rc = -1;
                        break;
                }
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 500);
                if (!m) continue;
                if (m->err) {
                        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                                cf_log(CF_LOG_WARN, COMPONENT, "partition %d: %s", p,
                                       rd_kafka_message_errstr(m));
                        rd_kafka_message_destroy(m);
                        continue;
                }
                last = m->offset;
                uint64_t id, n, idx;
                if (m->key_len > pl && !memcmp(m->key, prefix, pl) &&
                    header_u64(m, "cf.snapshot", &id) && header_u64(m, "cf.chunks", &n)) {
                        char tail[24];
                        size_t tl = m->key_len - pl < sizeof tail - 1 ? m->key_len - pl : 0;
                        memcpy(tail, (const char *)m->key + pl, tl);
                        tail[tl] = '\0';
                        idx = strtoull(tail, NULL, 10);
                        if (idx == 0) { /* a new snapshot starts */
                                cur.len = 0;
                                cur_id = id, cur_n = n, cur_next = 0;
                        }
                        if (id == cur_id && idx == cur_next) {
                                cf_buf_put(&cur, m->payload, m->len);
                                if (++cur_next == cur_n && id >= best_id) {
                                        best->len = 0;
                                        cf_buf_put(best, cur.p, cur.len);
                                        best_id = id;
                                        *found = true;
                                }
                        }
                }
                rd_kafka_message_destroy(m);
        }
        rd_kafka_assign(rk, NULL);
        cf_log(CF_LOG_DEBUG, COMPONENT, "partition %d: read offsets %lld..%lld in %lld ms", p,
               (long long)lo, (long long)hi, (long long)(cf_mono_ms() - (deadline - 60000)));
        cf_buf_free(&cur);
        return rc;
}

int cf_changelog_restore(cf_worker *w, int32_t p)
{
        char err[512] = "", prefix[512];
        key_prefix(w, p, prefix, sizeof prefix);
        cf_buf best = {0};
        bool have_best;
        int rc = read_newest(w, p, prefix, &best, &have_best);
        if (!rc)
                rc = cf_chain_restore(w->chain, p, have_best ? best.p : NULL,
                                      have_best ? best.len : 0, err, sizeof err);
        if (rc && !err[0]) snprintf(err, sizeof err, "read failed");
        if (rc)
                cf_log(CF_LOG_ERROR, COMPONENT, "partition %d: snapshot of %zu bytes refused: %s",
                       p, best.len, err);
        if (!rc && have_best) cf_txn_snapshot_restored(w, p, best.p, best.len);
        if (!rc && have_best)
                cf_log(CF_LOG_INFO, COMPONENT, "partition %d: state restored (%zu bytes)", p,
                       best.len);
        cf_buf_free(&best);
        return rc;
}

int cf_changelog_read_global(cf_worker *w, cf_buf *out, bool *found)
{
        char prefix[512];
        global_prefix(w, prefix, sizeof prefix);
        return read_newest(w, 0, prefix, out, found);
}
