/*
 * changelog.c - reading stage state checkpoints from the compacted changelog
 * topic (Kafka Streams' model), and writing the global state's. A partition's
 * checkpoints are written by changelog_write.c: full snapshots (bases) and
 * deltas on them, in changelog partition p under keys "<group>/<input
 * topic>/<p>/..."; a restore reads the partition to its end offset (looked
 * up with every other partition due, cf_changelog_lookup; many partitions are
 * read at once by one consumer) and takes the base and deltas that cover the
 * most input (changelog_pick.h). It starts where the chain the group's
 * committed offset describes starts: every commit carries, as the offset's
 * metadata, the changelog offset of its checkpoint's base ("cf.clog=<offset>",
 * changelog_write.c), so the bases and deltas before it -- on the mock
 * cluster, which never compacts, every full snapshot ever written; on a
 * broker, whatever compaction has not reached yet -- are not read (bench:
 * 1M keys, ~600 MB -> ~180 MB). Trusted only if the chain found from there
 * covers the committed offset exactly (what that commit checkpointed); else,
 * or without metadata (a build before it, an offset out of range), the
 * partition is read from its beginning. Older stale keys before that offset
 * are then not handed to the writer's tombstones (compaction keeps them until
 * a restore reads the log whole). The pick goes by input offset, never by an
 * id or a clock: an id is whatever a writer put in a header (issue 17:
 * cf.snapshot=2^64-1 won every restore). What a chain covers is bounded by
 * what the group committed for the partition (or, without a commit, the
 * partition's end): a checkpoint that claims more is not trusted and is
 * skipped with a warning. The global state (and snapshots of builds before
 * deltas) are chunks keyed "<prefix><i>" with headers cf.snapshot, cf.chunks
 * and cf.offset; of those the one covering the most, the later on a tie.
 *
 * The changelog topic must have at least as many partitions as the input
 * topic and should have cleanup.policy=compact (the demo creates it).
 *
 * @locality: worker thread (commit path; restores from its loop, restore.c).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/core/clock.h"
#include "pipeline/core/intmath.h"
#include "pipeline/kafka/changelog_pick.h"
#include "pipeline/kafka/service_int.h"

#define COMPONENT "changelog"

int cf_changelog_prefix(const cf_worker *w, int32_t p, char *out, size_t n)
{
        return snprintf(out, n, "%s/%s/%d/", w->svc->sc.group_id, w->svc->sc.topic_in, p);
}

/* Write snap, covering input offset covers, to changelog partition p as chunks
 * keyed prefix<i> (one snapshot id in every chunk's headers) and wait for the acks. */
static int write_chunks(cf_worker *w, int32_t p, const char *prefix, const cf_buf *snap,
                        int64_t covers)
{
        const cf_service_cfg *sc = &w->svc->sc;
        uint64_t id = (uint64_t)cf_now_ms() * 1000 + (w->snapshot_seq++ % 1000);
        size_t chunk = (size_t)sc->chunk_bytes;
        size_t n = snap->len ? (snap->len + chunk - 1) / chunk : 1;
        char key[512], idbuf[32], nbuf[32], obuf[32];
        int kp = snprintf(key, sizeof key, "%s", prefix);
        snprintf(idbuf, sizeof idbuf, "%" PRIu64, id);
        snprintf(nbuf, sizeof nbuf, "%zu", n);
        snprintf(obuf, sizeof obuf, "%" PRId64, covers);
        int rc = 0;
        for (size_t i = 0; i < n && !rc; i++) {
                int kl = kp + snprintf(key + kp, sizeof key - (size_t)kp, "%zu", i);
                size_t off = i * chunk, len = snap->len - off < chunk ? snap->len - off : chunk;
                if (!snap->len) len = 0;
                rd_kafka_headers_t *h = rd_kafka_headers_new(3);
                rd_kafka_header_add(h, "cf.snapshot", -1, idbuf, -1);
                rd_kafka_header_add(h, "cf.chunks", -1, nbuf, -1);
                rd_kafka_header_add(h, "cf.offset", -1, obuf, -1);
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

/* The global state (learnt from the outcomes input): changelog partition 0,
 * keys "<group>/<outcomes topic>/global/<i>". */
static void global_prefix(const cf_worker *w, char *out, size_t n)
{
        snprintf(out, n, "%s/%s/global/", w->svc->sc.group_id, w->svc->sc.topic_outcomes);
}

int cf_changelog_write_global(cf_worker *w, const cf_buf *blob, int64_t covers)
{
        char prefix[512];
        global_prefix(w, prefix, sizeof prefix);
        return write_chunks(w, 0, prefix, blob, covers);
}

/* Header name of m as a decimal number of at most max (digits only). */
static bool header_num(const rd_kafka_message_t *m, const char *name, uint64_t max, uint64_t *out)
{
        rd_kafka_headers_t *h = NULL;
        const void *v;
        size_t n;
        if (rd_kafka_message_headers(m, &h) || rd_kafka_header_get_last(h, name, &v, &n))
                return false;
        return cf_parse_dec(v, n, max, out);
}

/* A consumer outside the group for reading changelog partitions, many at once
 * (restore.c reads every due partition together): one fetch serves them all,
 * and each read ends at the end offset looked up before it started (or at the
 * partition EOF event reporting it), never on a timeout. A short fetch wait:
 * a partition with nothing left must not hold the fetch of the others.
 * Fetch responses of at most RESTORE_FETCH_BYTES (librdkafka's default, 50 MiB,
 * with 64 partitions read at once): jemalloc gives an allocation of 8 MiB or
 * more fresh pages every time (its oversize arena returns them to the system at
 * once), so each large response buffer was new memory, faulted in page by page
 * in the broker thread that reads it; smaller ones are reused. Measured on a
 * 1M-key restore (bench_state, bench/RESULTS.md): 830 -> 570 MB of memory
 * faulted in. cf_worker_reader_new keeps it within message.max.bytes and
 * receive.message.max.bytes as configured. */
#define RESTORE_FETCH_BYTES "4194304"

rd_kafka_t *cf_changelog_reader(cf_worker *w)
{
        if (w->restore_rk) return w->restore_rk;
        static const char *const extra[] = {
            "fetch.wait.max.ms", "10", "enable.partition.eof", "true", "fetch.max.bytes",
            RESTORE_FETCH_BYTES, NULL};
        char err[512];
        w->restore_rk =
            cf_worker_reader_new(w, "customsflow-restore-unused", extra, err, sizeof err);
        if (!w->restore_rk) cf_log(CF_LOG_ERROR, COMPONENT, "restore consumer: %s", err);
        return w->restore_rk;
}

/* A read of one changelog partition up to its end offset, fed by the reads' common steps. */
struct cf_changelog_read {
        int32_t p;
        char prefix[512];
        size_t pl;
        cf_clog_pick k;    /* what was read: bases, deltas (changelog_pick.c) */
        cf_buf chain_keys; /* key tails of the picked base's items (cf_clog_found) */
        cf_buf stale_keys; /* of the others, for the writer's tombstones */
        const cf_buf **dp; /* the picked deltas' bytes, in order */
        int64_t end, last, t0, idle_since;
        int64_t from; /* where the read started: the committed base's offset, or 0 */
        uint64_t records, bytes;
        bool assigned; /* the partition is in the restore consumer's assignment */
        int state;     /* 0 reading, 1 done, -1 failed (err) */
        char err[256];
};

/* No message for this long: the read fails (leader gone, broker down). */
#define READ_STALL_MS 30000

/* The end offsets (ListOffsets "latest", one request per leader) of the partitions in l, into
 * their offset fields, each with its error; -1 when the request failed as a whole. */
static int list_ends(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *l, char *errstr,
                     size_t errstr_size)
{
        for (int i = 0; i < l->cnt; i++)
                l->elems[i].offset = RD_KAFKA_OFFSET_END; /* a timestamp: the latest */
        rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(rk, l, CF_CHANGELOG_WAIT_MS);
        if (!e) return 0;
        snprintf(errstr, errstr_size, "end offsets: %s", rd_kafka_err2str(e));
        return -1;
}

void cf_changelog_lookup(cf_worker *w, const int32_t *parts, size_t n, int64_t *bound, int64_t *end,
                         int64_t *from, char (*why)[CF_CLOG_WHY])
{
        const cf_service_cfg *sc = &w->svc->sc;
        for (size_t i = 0; i < n; i++)
                bound[i] = end[i] = from[i] = -1, why[i][0] = '\0';
        if (!n) return;
        rd_kafka_t *rk = cf_changelog_reader(w);
        if (!rk) {
                for (size_t i = 0; i < n; i++)
                        snprintf(why[i], CF_CLOG_WHY, "the restore consumer could not be created");
                return;
        }
        cf_counter_inc(w->m.restore_lookups);
        /* the most input a snapshot can cover: the group's committed offset (one request for
         * them all, on the group's consumer), or without one the input's end. A failed request
         * fails the attempt (retried): read as "none", it let a checkpoint whose offsets were
         * never committed (its outputs unacknowledged) be restored, and the records it covers,
         * delivered again, were dropped as duplicates with their outputs never produced */
        rd_kafka_topic_partition_list_t *c = rd_kafka_topic_partition_list_new((int)n);
        for (size_t i = 0; i < n; i++)
                rd_kafka_topic_partition_list_add(c, sc->topic_in, parts[i]);
        rd_kafka_resp_err_t cerr = rd_kafka_committed(w->consumer, c, CF_CHANGELOG_WAIT_MS);
        for (size_t i = 0; i < n; i++) {
                rd_kafka_resp_err_t e = cerr ? cerr : c->elems[i].err;
                if (e)
                        snprintf(why[i], CF_CLOG_WHY,
                                 "the group's committed offset of %s [%d] is unknown: %.120s",
                                 sc->topic_in, (int)parts[i], rd_kafka_err2str(e));
                else if (c->elems[i].offset >= 0) {
                        bound[i] = c->elems[i].offset;
                        from[i] = cf_changelog_meta_parse(c->elems[i].metadata,
                                                          c->elems[i].metadata_size);
                }
        }
        rd_kafka_topic_partition_list_destroy(c);
        if (cerr) return; /* every partition's attempt failed */
        /* then every changelog partition's end and the missing bounds' ends, in one request of
         * the restore consumer (not the group's: its fetches wait up to fetch.wait.max.ms) */
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)(2 * n));
        for (size_t i = 0; i < n; i++) {
                if (why[i][0]) continue; /* failed above */
                rd_kafka_topic_partition_list_add(l, sc->topic_changelog, parts[i]);
                if (bound[i] < 0) rd_kafka_topic_partition_list_add(l, sc->topic_in, parts[i]);
        }
        char err[256];
        int rc = l->cnt ? list_ends(rk, l, err, sizeof err) : 0;
        for (size_t i = 0, j = 0; i < n; i++) {
                if (why[i][0]) continue;
                const rd_kafka_topic_partition_t *ce = &l->elems[j++];
                const rd_kafka_topic_partition_t *ie = bound[i] < 0 ? &l->elems[j++] : NULL;
                if (ie && !rc && !ie->err && ie->offset >= 0) bound[i] = ie->offset;
                if (bound[i] < 0) {
                        snprintf(why[i], CF_CLOG_WHY,
                                 "the group's committed offset and the end of %s [%d] are unknown "
                                 "(broker unreachable?)",
                                 sc->topic_in, (int)parts[i]);
                        continue;
                }
                if (!rc && ce->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
                        end[i] = 0; /* nothing to read */
                else if (!rc && !ce->err && ce->offset >= 0)
                        end[i] = ce->offset;
                else {
                        snprintf(
                            why[i], CF_CLOG_WHY, "%s [%d] %.160s", sc->topic_changelog,
                            (int)parts[i],
                            rc ? err
                               : rd_kafka_err2str(ce->err ? ce->err : RD_KAFKA_RESP_ERR__FAIL));
                        continue;
                }
                if (from[i] >= end[i]) from[i] = -1; /* not in this log: read it whole */
        }
        rd_kafka_topic_partition_list_destroy(l);
}

/* Add r's partition to what the restore consumer reads (the other reads go on), at r->from
 * (0: the beginning); re-assigned when already there (a read starting over). */
static int assign_at(cf_worker *w, cf_changelog_read *r, char *errstr, size_t errstr_size)
{
        rd_kafka_t *rk = w->restore_rk;
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, w->svc->sc.topic_changelog, r->p)->offset =
            r->from > 0 ? r->from : RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_error_t *e = NULL;
        if (r->assigned) e = rd_kafka_incremental_unassign(rk, l); /* drops what was fetched */
        r->assigned = false;
        if (!e) e = rd_kafka_incremental_assign(rk, l);
        rd_kafka_topic_partition_list_destroy(l);
        if (e) {
                snprintf(errstr, errstr_size, "%s [%d] assign: %s", w->svc->sc.topic_changelog,
                         (int)r->p, rd_kafka_error_string(e));
                rd_kafka_error_destroy(e);
                return -1;
        }
        r->assigned = true;
        return 0;
}

/* Start reading changelog partition p, up to end, for the chain under prefix covering the most
 * input up to bound; NULL + errstr. */
static cf_changelog_read *read_new(cf_worker *w, int32_t p, const char *prefix, int64_t bound,
                                   int64_t end, int64_t from, char *errstr, size_t errstr_size)
{
        rd_kafka_t *rk = cf_changelog_reader(w);
        if (!rk) {
                snprintf(errstr, errstr_size, "the restore consumer could not be created");
                return NULL;
        }
        if (p < 0 || p >= CF_SVC_MAX_PARTITIONS || w->clog_rd[p]) {
                snprintf(errstr, errstr_size, "changelog partition %d is being read", (int)p);
                return NULL;
        }
        cf_changelog_read *r = calloc(1, sizeof *r);
        if (!r) abort();
        r->p = p;
        r->pl = (size_t)snprintf(r->prefix, sizeof r->prefix, "%s", prefix);
        cf_clog_pick_init(&r->k, bound);
        r->t0 = r->idle_since = cf_mono_ms();
        r->end = end;
        r->last = -1;
        r->from = from > 0 && from < end ? from : 0;
        w->clog_rd[p] = r;
        w->n_clog_rd++;
        if (end <= 0) {
                r->state = 1; /* nothing to read */
                return r;
        }
        if (assign_at(w, r, errstr, errstr_size)) {
                cf_changelog_read_free(w, r);
                return NULL;
        }
        return r;
}

/* The read from the committed base's offset did not find the chain the commit describes
 * (metadata of another writer, a log rewritten since): read the partition whole instead,
 * the pick starting over. The records and bytes read so far stay counted. */
static void read_whole(cf_worker *w, cf_changelog_read *r, const char *why)
{
        cf_log(CF_LOG_WARN, COMPONENT,
               "changelog partition %d: %s from offset %lld (the committed offset's "
               "metadata); reading it from the beginning",
               (int)r->p, why, (long long)r->from);
        int64_t bound = r->k.bound;
        cf_clog_pick_free(&r->k);
        cf_clog_pick_init(&r->k, bound);
        r->from = 0;
        r->last = -1;
        r->state = 0;
        r->idle_since = cf_mono_ms();
        if (assign_at(w, r, r->err, sizeof r->err)) r->state = -1;
}

/* r's partition is read up to its end: done, unless the read started at the committed base's
 * offset and did not find there the chain that covers the committed offset. */
static void read_done(cf_worker *w, cf_changelog_read *r)
{
        r->state = 1;
        if (!r->from) return;
        const cf_clog_item **d;
        size_t nd;
        int64_t covers;
        const cf_clog_item *b = cf_clog_pick_result(&r->k, &d, &nd, &covers);
        if (!b || covers != r->k.bound) read_whole(w, r, "no chain covering the committed offset");
}

/* One changelog message into r's pick: a chunk of a base, of a delta or of a snapshot of a
 * build before deltas, or a tombstone (changelog_pick.h). */
static void read_one(cf_changelog_read *r, const rd_kafka_message_t *m)
{
        size_t pl = r->pl;
        if (m->key_len <= pl || memcmp(m->key, r->prefix, pl)) return;
        cf_clog_hdr h = {.at = m->offset};
        h.has_snapshot = header_num(m, "cf.snapshot", UINT64_MAX, &h.snapshot);
        h.has_chunks = header_num(m, "cf.chunks", UINT32_MAX, &h.chunks);
        /* no cf.offset: written before it existed, covers nothing known */
        h.has_offset = header_num(m, "cf.offset", INT64_MAX, &h.offset);
        /* a null value (payload NULL) is a tombstone; no checkpoint is empty */
        cf_clog_pick_add(&r->k, (const char *)m->key + pl, m->key_len - pl, m->payload, m->len, &h);
}

/* A message (or event) of the restore consumer to the read of its partition. */
static void dispatch(cf_worker *w, const rd_kafka_message_t *m)
{
        int32_t p = m->partition;
        cf_changelog_read *r = p >= 0 && p < CF_SVC_MAX_PARTITIONS ? w->clog_rd[p] : NULL;
        if (m->err) {
                /* at the end it had when looked up (or later): read whole. An EOF event
                 * carries the next offset, past control records (transactions' markers)
                 * that never reach the application. */
                if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                        if (r && !r->state && m->offset >= r->end) read_done(w, r);
                        return;
                }
                cf_log(CF_LOG_WARN, COMPONENT, "changelog partition %d: %s", (int)p,
                       rd_kafka_message_errstr(m));
                /* the committed base's offset out of range (a log rewritten since) */
                if (r && !r->state && r->from) read_whole(w, r, rd_kafka_message_errstr(m));
                return;
        }
        if (!r || r->state || m->offset <= r->last) return; /* not (or no longer) read */
        r->idle_since = cf_mono_ms();
        r->last = m->offset;
        r->records++;
        r->bytes += m->len + m->key_len;
        read_one(r, m);
        if (r->last >= r->end - 1) read_done(w, r);
}

/* Reads that made no progress for READ_STALL_MS fail; returns how many reads are finished. */
static int check_reads(cf_worker *w)
{
        int finished = 0;
        int64_t now = cf_mono_ms();
        for (int32_t p = 0; p < CF_SVC_MAX_PARTITIONS && w->n_clog_rd; p++) {
                cf_changelog_read *r = w->clog_rd[p];
                if (!r) continue;
                if (!r->state && now - r->idle_since > READ_STALL_MS) {
                        snprintf(r->err, sizeof r->err,
                                 "changelog read stalled at offset %lld of its end %lld for %d s",
                                 (long long)r->last + 1, (long long)r->end, READ_STALL_MS / 1000);
                        r->state = -1;
                }
                finished += r->state != 0;
        }
        return finished;
}

int cf_changelog_reads_step(cf_worker *w, int64_t budget_ms)
{
        int finished = check_reads(w);
        int64_t t0 = cf_mono_ms();
        bool one_done = finished > 0;
        while (w->n_clog_rd) {
                int64_t left = budget_ms - (cf_mono_ms() - t0);
                if (left <= 0) break;
                /* once a read is done, only what is fetched already: the caller applies
                 * the finished ones together and starts the next */
                int wait = one_done ? 0 : left < 100 ? (int)left : 100;
                rd_kafka_message_t *m = rd_kafka_consumer_poll(w->restore_rk, wait);
                if (!m) {
                        if (one_done) break;
                        one_done = check_reads(w) > 0;
                        continue;
                }
                int32_t p = m->partition;
                dispatch(w, m);
                rd_kafka_message_destroy(m);
                if (p >= 0 && p < CF_SVC_MAX_PARTITIONS && w->clog_rd[p] && w->clog_rd[p]->state)
                        one_done = true;
        }
        return check_reads(w);
}

int cf_changelog_read_state(const cf_changelog_read *r, const char **why)
{
        *why = r->err;
        return r->state;
}

void cf_changelog_read_free(cf_worker *w, cf_changelog_read *r)
{
        if (!r) return;
        if (w->clog_rd[r->p] == r) {
                w->clog_rd[r->p] = NULL;
                w->n_clog_rd--;
        }
        if (r->assigned) {
                rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
                rd_kafka_topic_partition_list_add(l, w->svc->sc.topic_changelog, r->p);
                rd_kafka_error_t *e = rd_kafka_incremental_unassign(w->restore_rk, l);
                if (e) rd_kafka_error_destroy(e);
                rd_kafka_topic_partition_list_destroy(l);
        }
        size_t beyond = cf_clog_pick_beyond(&r->k);
        if (beyond)
                cf_log(CF_LOG_WARN, COMPONENT,
                       "partition %d: %zu snapshot(s) claiming to cover input beyond "
                       "offset %" PRId64 " skipped (not written by this group's commits)",
                       r->p, beyond, r->k.bound);
        cf_log(CF_LOG_DEBUG, COMPONENT, "partition %d: read offsets up to %lld in %lld ms", r->p,
               (long long)r->end, (long long)(cf_mono_ms() - r->t0));
        cf_clog_pick_free(&r->k);
        cf_buf_free(&r->chain_keys);
        cf_buf_free(&r->stale_keys);
        free(r->dp);
        free(r);
}

/* Read changelog partition p whole and keep in best the complete snapshot
 * under prefix that covers the most input up to bound (*found false: none).
 * -1 on a read failure. */
static int read_best(cf_worker *w, int32_t p, const char *prefix, int64_t bound, cf_buf *best,
                     bool *found)
{
        char err[512];
        *found = false;
        cf_changelog_read *r = NULL;
        rd_kafka_t *rk = cf_changelog_reader(w);
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, w->svc->sc.topic_changelog, p);
        int rc = -1;
        if (!rk)
                snprintf(err, sizeof err, "the restore consumer could not be created");
        else if (!list_ends(rk, l, err, sizeof err)) {
                rd_kafka_resp_err_t e = l->elems[0].err;
                int64_t end = e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ? 0 : l->elems[0].offset;
                if (e && e != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
                        snprintf(err, sizeof err, "end offset: %s", rd_kafka_err2str(e));
                else
                        r = read_new(w, p, prefix, bound, end, -1, err, sizeof err);
        }
        rd_kafka_topic_partition_list_destroy(l);
        const char *why = err;
        while (r && !(rc = cf_changelog_read_state(r, &why)))
                cf_changelog_reads_step(w, 1000);
        if (rc < 0) cf_log(CF_LOG_ERROR, COMPONENT, "partition %d: %s", p, why);
        const cf_clog_item **d;
        size_t nd;
        int64_t covers;
        const cf_clog_item *b = rc > 0 ? cf_clog_pick_result(&r->k, &d, &nd, &covers) : NULL;
        if (b) {
                *found = true;
                best->len = 0;
                if (b->data.len) cf_buf_put(best, b->data.p, b->data.len);
        }
        cf_changelog_read_free(w, r);
        return rc < 0 ? -1 : 0;
}

cf_changelog_read *cf_changelog_read_start(cf_worker *w, int32_t p, int64_t bound, int64_t end,
                                           int64_t from, char *errstr, size_t errstr_size)
{
        char prefix[512];
        cf_changelog_prefix(w, p, prefix, sizeof prefix);
        return read_new(w, p, prefix, bound, end, from, errstr, errstr_size);
}

void cf_changelog_read_result(cf_changelog_read *r, cf_clog_found *out)
{
        const cf_clog_item **d;
        size_t nd;
        int64_t covers;
        const cf_clog_item *b = cf_clog_pick_result(&r->k, &d, &nd, &covers);
        free(r->dp);
        r->dp = malloc((nd ? nd : 1) * sizeof(*r->dp));
        if (!r->dp) abort();
        for (size_t i = 0; i < nd; i++)
                r->dp[i] = &d[i]->data;
        /* the picked base's items (its deltas past the chain too: a crashed writer's, whose
         * keys the next deltas on it rewrite) go with the chain, the rest is stale */
        uint64_t id = b && b->kind == CF_CLOG_BASE ? b->base : 0;
        r->chain_keys.len = r->stale_keys.len = 0;
        for (size_t i = 0; i < r->k.n; i++) {
                const cf_clog_item *it = &r->k.items[i];
                bool on = id && it->kind != CF_CLOG_LEGACY && it->base == id;
                cf_clog_item_keys(it, on ? &r->chain_keys : &r->stale_keys);
        }
        *out = (cf_clog_found){.snap = b ? &b->data : NULL,
                               .deltas = r->dp,
                               .nd = nd,
                               .base = id,
                               .base_at = id ? b->at : -1,
                               .whole = b && covers == r->k.bound,
                               .chain_keys = &r->chain_keys,
                               .stale_keys = &r->stale_keys,
                               .records = r->records,
                               .bytes = r->bytes};
}

int cf_changelog_read_global(cf_worker *w, int64_t bound, cf_buf *out, bool *found)
{
        char prefix[512];
        global_prefix(w, prefix, sizeof prefix);
        /* the model's checkpoint covers the outcomes read (their sum over partitions);
         * the offsets themselves are checked against the topic when catching up */
        return read_best(w, 0, prefix, bound, out, found);
}
