/*
 * changelog_write.c - a partition's checkpoint in the changelog (issue 18:
 * incremental changelog). A commit writes what changed since the previous
 * checkpoint, as Kafka Streams' stores do, not the whole state:
 *
 *  - a delta (cf_chain_delta: the current value of every key changed, the
 *    keys that left, the partition's scalars) keyed "d/<base>/<seq>/<i>" under
 *    the partition's prefix, headers cf.base, cf.seq, cf.chunks, cf.offset
 *    (the input offset it covers); one message, or chunks when larger than
 *    state.chunk_bytes;
 *  - a full snapshot (a base, "b/<base>/<i>", <base> the XXH3 of the sealed
 *    snapshot) when there is none yet, after a failed write or a restore that
 *    did not find its state's whole chain (cf_changelog_restored: a restore
 *    of a base and its deltas goes on with the next delta), or
 *    when the deltas written on the current base exceed
 *    state.full_snapshot_ratio times its size (restore reads base + deltas:
 *    the ratio bounds that read to (1 + ratio) x the state).
 *
 * Tombstones (null values) for the previous base and its deltas are produced
 * only once the offsets covering the new base were committed: were they
 * deleted before, a crash in between would leave a base beyond the committed
 * offset and nothing for the state at it. They go right after that commit
 * (cf_changelog_committed; exactly_once: with the next checkpoint, in its
 * transaction): at the next checkpoint only, a partition revoked or stopped
 * before one kept them for good -- a restore reads from the committed base on
 * and never sees them again, and their keys are never rewritten, so
 * compaction keeps them (up to 3x the partition's state per such stop). A
 * restore hands over the keys of everything it read off the chain it
 * restored (stale forks of a crashed writer included) the same way. The
 * choice on restore: changelog_pick.h.
 *
 * @locality: worker thread (commit path).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/core/intmath.h"
#include "pipeline/kafka/service_int.h"

#define COMPONENT "changelog"

/* Produce blob as chunks keyed <prefix><tail>/<i> (headers: chunks, covered offset, base,
 * sequence number); *chunks: how many. Not awaited here: the commit waits once for the acks
 * of every partition's checkpoint (cf_changelog_acked), not once per partition (256 round
 * trips per commit with 256 partitions). note: chunk 0's offset goes to w->clog[p].noted
 * (a base: where its chain starts, cf_changelog_commit_meta). */
static int write_item(cf_worker *w, int32_t p, const char *tail, const cf_buf *blob, int64_t covers,
                      uint64_t base, uint64_t seq, uint64_t *chunks, bool note)
{
        const cf_service_cfg *sc = &w->svc->sc;
        size_t chunk = (size_t)sc->chunk_bytes;
        size_t n = blob->len ? (blob->len + chunk - 1) / chunk : 1;
        char key[640], nbuf[32], obuf[32], bbuf[32], sbuf[32];
        int kp = cf_changelog_prefix(w, p, key, sizeof key);
        kp += snprintf(key + kp, sizeof key - (size_t)kp, "%s/", tail);
        snprintf(nbuf, sizeof nbuf, "%zu", n);
        snprintf(obuf, sizeof obuf, "%" PRId64, covers);
        snprintf(bbuf, sizeof bbuf, "%" PRIu64, base);
        snprintf(sbuf, sizeof sbuf, "%" PRIu64, seq);
        int rc = 0;
        for (size_t i = 0; i < n && !rc; i++) {
                int kl = kp + snprintf(key + kp, sizeof key - (size_t)kp, "%zu", i);
                size_t off = i * chunk, len = blob->len - off < chunk ? blob->len - off : chunk;
                rd_kafka_headers_t *h = rd_kafka_headers_new(4);
                rd_kafka_header_add(h, "cf.chunks", -1, nbuf, -1);
                rd_kafka_header_add(h, "cf.offset", -1, obuf, -1);
                rd_kafka_header_add(h, "cf.base", -1, bbuf, -1);
                if (seq) rd_kafka_header_add(h, "cf.seq", -1, sbuf, -1);
                rc = i == 0 && note
                         ? cf_worker_produce_noted(w, p, key, (size_t)kl, blob->p + off, len, h)
                         : cf_worker_produce(w, sc->topic_changelog, p, key, (size_t)kl,
                                             blob->p + off, len, h);
        }
        if (!rc) {
                w->clog[p].pending++;
                w->clog[p].pend_bytes += blob->len;
        }
        *chunks = n;
        return rc;
}

/* Does list (NUL-terminated key tails) hold tail t of n bytes? */
static bool holds(const cf_buf *list, const char *t, size_t n)
{
        for (size_t off = 0; off < list->len;) {
                size_t l = strlen(list->p + off);
                if (l == n && !memcmp(list->p + off, t, n)) return true;
                off += l + 1;
        }
        return false;
}

/* Tombstones for what no restore needs any more: the keys of stale, once the offsets
 * covering the base written after them are committed. A failed one is harmless (a stale
 * key is never picked: its chain covers less); they are not waited for. */
static void tombstone_stale(cf_worker *w, int32_t p)
{
        cf_clog_part *c = &w->clog[p];
        if (!c->stale.len || w->committed[p] < c->tomb_after) return;
        char key[640];
        int kp = cf_changelog_prefix(w, p, key, sizeof key);
        size_t n = 0;
        for (size_t off = 0; off < c->stale.len; n++) {
                const char *t = c->stale.p + off;
                size_t tl = strlen(t);
                if (holds(&c->mine, t, tl)) { /* rewritten since (the same state: same id) */
                        off += tl + 1;
                        continue;
                }
                int kl = kp + snprintf(key + kp, sizeof key - (size_t)kp, "%s", t);
                if (cf_worker_produce(w, w->svc->sc.topic_changelog, p, key, (size_t)kl, NULL, 0,
                                      NULL))
                        break;
                off += tl + 1;
        }
        cf_log(CF_LOG_DEBUG, COMPONENT, "partition %d: %zu changelog keys tombstoned", p, n);
        c->stale.len = 0;
}

/* The key tails of an item's chunks (NUL-terminated) into out. */
static void add_keys(cf_buf *out, const char *tail, uint64_t chunks)
{
        char k[96];
        for (uint64_t i = 0; i < chunks; i++)
                cf_buf_put(out, k, (size_t)snprintf(k, sizeof k, "%s/%" PRIu64, tail, i) + 1);
}

/* Is the next checkpoint of p a full snapshot? The ratio is spread over the partitions
 * (1, 7/8, 6/8, 5/8 of it): partitions that change alike (all start with a full snapshot
 * after an assignment) otherwise reach it at the same commit, and that commit serialises
 * and writes the whole state at once (~118 MB for 1M keys: a 2-6 s stall measured). */
static bool full_due(cf_worker *w, int32_t p)
{
        const cf_clog_part *c = &w->clog[p];
        double ratio = w->svc->sc.full_snapshot_ratio * (1.0 - (double)(p % 4) / 8);
        return !c->base || ratio <= 0 || !cf_chain_tracking(w->chain) ||
               cf_chain_lineage_of(w->chain, p)->base != c->base ||
               (double)c->delta_bytes > ratio * (double)c->base_bytes;
}

void cf_changelog_committed(cf_worker *w, int32_t p)
{
        tombstone_stale(w, p);
}

int cf_changelog_write(cf_worker *w, int32_t p)
{
        cf_clog_part *c = &w->clog[p];
        tombstone_stale(w, p);
        bool full = full_due(w, p);
        int64_t covers = w->next_offset[p];
        cf_buf blob = {0};
        char tail[64];
        uint64_t chunks = 0;
        int rc;
        if (full) {
                rc = cf_chain_snapshot(w->chain, p, &blob);
                uint64_t id = cf_chain_lineage_of(w->chain, p)->base;
                snprintf(tail, sizeof tail, "b/%016" PRIx64, id);
                if (!rc) rc = write_item(w, p, tail, &blob, covers, id, 0, &chunks, true);
                if (!rc) {
                        c->base_at = -1; /* known once acknowledged (cf_changelog_acked) */
                        c->noting = true;
                        /* the previous base and its deltas: tombstoned once this one's
                         * offsets are committed */
                        if (c->mine.len) cf_buf_put(&c->stale, c->mine.p, c->mine.len);
                        c->mine.len = 0;
                        c->tomb_after = covers;
                        c->base = id;
                        c->base_bytes = blob.len;
                        c->delta_bytes = 0;
                }
        } else {
                rc = cf_chain_delta(w->chain, p, &blob);
                uint64_t seq = cf_chain_lineage_of(w->chain, p)->seq;
                snprintf(tail, sizeof tail, "d/%016" PRIx64 "/%" PRIu64, c->base, seq);
                if (!rc) rc = write_item(w, p, tail, &blob, covers, c->base, seq, &chunks, false);
                if (!rc) c->delta_bytes += blob.len;
                /* the first after a restore that went on with its chain: what the restore
                 * read off the chain goes once this is committed */
                if (!rc && c->tomb_after == INT64_MAX) c->tomb_after = covers;
        }
        if (rc) {
                /* the stages' changes went into what was not written: the next
                 * checkpoint is a full snapshot */
                c->base = 0;
                c->base_at = -1;
        } else {
                add_keys(&c->mine, tail, chunks);
                cf_txn_snapshot_written(w, p, &blob, full); /* exactly_once: kept for a rewind */
        }
        cf_buf_free(&blob);
        return rc;
}

void cf_changelog_acked(cf_worker *w, bool ok)
{
        for (int32_t p = 0; p < CF_SVC_MAX_PARTITIONS; p++) {
                cf_clog_part *c = &w->clog[p];
                if (!c->pending) continue;
                if (ok) {
                        cf_counter_add(w->m.checkpoints, c->pending);
                        cf_counter_add(w->m.checkpoint_bytes, c->pend_bytes);
                        if (c->noting) c->base_at = c->noted;
                } else {
                        /* not all acknowledged (which ones is not known): the stages'
                         * changes may be in what was lost, so the next is a full snapshot */
                        cf_counter_inc(w->m.checkpoint_errors);
                        c->base = 0;
                }
                c->pending = 0;
                c->pend_bytes = 0;
                c->noting = false;
        }
}

/* Can p's checkpoints go on with deltas on the chain f restored? Only when p's state is that
 * base plus those deltas exactly: the chain covers the committed offset (nothing skipped), its
 * base is a base of this format whose first record's offset is known (the commit metadata must
 * name it), and the stages' lineage is that base and that many deltas (the next delta's
 * number follows them; the stages' change sets are empty after a restore). */
static bool chain_goes_on(cf_worker *w, int32_t p, const cf_clog_found *f)
{
        if (!f->snap || !f->base || f->base_at < 0 || !f->whole || !cf_chain_tracking(w->chain))
                return false;
        const cf_chain_lineage *l = cf_chain_lineage_of(w->chain, p);
        return l->base == f->base && l->seq == f->nd;
}

bool cf_changelog_restored(cf_worker *w, int32_t p, const cf_clog_found *f)
{
        cf_clog_part *c = &w->clog[p];
        c->base = 0; /* unless the chain goes on: the next checkpoint is a full snapshot */
        c->base_at = -1;
        c->mine.len = 0;
        c->stale.len = 0;
        c->tomb_after = INT64_MAX; /* set by the next checkpoint (cf_changelog_write) */
        if (!f) return false;
        if (f->stale_keys->len) cf_buf_put(&c->stale, f->stale_keys->p, f->stale_keys->len);
        if (!chain_goes_on(w, p, f)) {
                /* read, not continued: replaced by the next full snapshot */
                if (f->chain_keys->len) cf_buf_put(&c->stale, f->chain_keys->p, f->chain_keys->len);
                return false;
        }
        /* before, every assignment wrote every partition's full snapshot at its first
         * commit (~118 MB for 1M keys: a 0.9-6 s commit stall, bench/RESULTS.md) */
        c->base = f->base;
        c->base_at = f->base_at;
        c->base_bytes = f->snap->len;
        c->delta_bytes = 0;
        for (size_t i = 0; i < f->nd; i++)
                c->delta_bytes += f->deltas[i]->len;
        if (f->chain_keys->len) cf_buf_put(&c->mine, f->chain_keys->p, f->chain_keys->len);
        return true;
}

#define META_KEY "cf.clog="

void cf_changelog_commit_meta(cf_worker *w, int32_t p, rd_kafka_topic_partition_t *e)
{
        const cf_clog_part *c = &w->clog[p];
        /* a commit follows a checkpoint of p (cf_changelog_write) on base c->base: its chain
         * (the base, then its deltas) starts at the base's first record */
        if (!c->base || c->base_at < 0) return;
        char m[48];
        int n = snprintf(m, sizeof m, META_KEY "%" PRId64, c->base_at);
        e->metadata = malloc((size_t)n); /* the list frees it */
        if (!e->metadata) abort();
        memcpy(e->metadata, m, (size_t)n);
        e->metadata_size = (size_t)n;
}

int64_t cf_changelog_meta_parse(const void *meta, size_t len)
{
        const char *s = meta;
        size_t kl = sizeof META_KEY - 1;
        uint64_t v;
        if (!s || len <= kl || len > kl + 18 || memcmp(s, META_KEY, kl) ||
            !cf_parse_dec(s + kl, len - kl, INT64_MAX, &v))
                return -1;
        return (int64_t)v;
}

void cf_changelog_parts_free(cf_worker *w)
{
        for (int32_t p = 0; p < CF_SVC_MAX_PARTITIONS; p++) {
                cf_buf_free(&w->clog[p].mine);
                cf_buf_free(&w->clog[p].stale);
        }
}
