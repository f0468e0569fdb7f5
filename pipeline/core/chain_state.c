/*
 * chain_state.c - a partition's state across every stage: the sealed
 * snapshot the chain writes, and restore (of it, or of the unsealed frames
 * of releases 1 and 2), all or nothing.
 *
 * Sealed snapshot (format 3, pipeline/core/stenc.h): header (magic "CFSN",
 * version, payload length, XXH3-64 of the payload), then per stage with
 * state, in chain order: name (str8), block (u64 length + the stage's own
 * payload, which starts with the stage's magic and version). The checksum is
 * verified before any stage sees a byte. A stage without a block (one added
 * after the snapshot was written) starts empty; a block for a stage this
 * build does not have is refused.
 *
 * Releases 1 and 2 (b6aa89d, b13c378) wrote unsealed frames: name length
 * (u8), name, payload length (u64, host order: little-endian on every build
 * they ran on), payload; no checksum. They are read when the blob does not
 * start with the seal's magic, and then every stage those releases had
 * (dedup, detect, aggregate) must be there exactly once: a damaged name must
 * not make a stage start empty.
 *
 * Global state (cf_chain_global_*, learnt from the outcomes input) and the
 * replicas of the population state (cf_chain_*_replica) are sealed the same
 * way; the unsealed frames global state was first written in are read too.
 *
 * @locality: the worker thread that owns the chain.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/core/chain.h"
#include "pipeline/core/stenc.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

/* The stages releases 1 and 2 snapshotted (every one of them wrote a frame). */
static const char *const legacy_stages[] = {"dedup", "detect", "aggregate"};
#define N_LEGACY   (sizeof(legacy_stages) / sizeof(legacy_stages[0]))
#define MAX_STAGES 16

/* Which state a snapshot holds: a partition's, the global state learnt from
 * outcomes, or the replica of the population state. */
typedef enum kind { PART, GLOBAL, REPLICA } kind;

/* One stage's payload in a snapshot. */
typedef struct frame {
        const void *p;
        size_t len;
        bool found;
} frame;

/* Does stage plugin p keep state of kind k? */
static bool keeps(const cf_stage_plugin *p, kind k)
{
        return k == PART ? !!p->restore : k == GLOBAL ? !!p->global_restore : !!p->restore_replica;
}

/* The chain index of the stage with state of kind k called (name, n), or -1. */
static int stage_index(cf_chain *c, const char *name, size_t n, kind k)
{
        for (size_t i = 0; i < cf_chain_n_stages(c) && i < MAX_STAGES; i++) {
                const cf_stage_plugin *p = cf_chain_stage_at(c, i)->p;
                if (keeps(p, k) && strlen(p->name) == n && !memcmp(p->name, name, n)) return (int)i;
        }
        return -1;
}

/* Record one frame (name, payload) in fr[]; refuses unknown and repeated names. */
static bool add_frame(cf_chain *c, cf_st_dec *d, const char *name, size_t n, const void *p,
                      size_t len, frame *fr, kind k)
{
        int i = stage_index(c, name, n, k);
        if (i < 0)
                return cf_st_fail(d, "state for stage '%.*s', which this build does not have",
                                  (int)n, name);
        if (fr[i].found) return cf_st_fail(d, "stage '%.*s' appears twice", (int)n, name);
        fr[i] = (frame){p, len, true};
        return true;
}

/* The rest of d: stage frames, each a name (str8) and a block the stage decodes. */
static bool block_frames(cf_chain *c, cf_st_dec *d, frame *fr, kind k)
{
        while (cf_st_ok(d) && cf_st_left(d)) {
                size_t n;
                const char *name = cf_st_bytes8(d, &n);
                const unsigned char *outer = cf_st_enter(d);
                if (!cf_st_ok(d)) break;
                const unsigned char *p = d->p;
                size_t plen = cf_st_left(d);
                d->p = d->end; /* the stage decodes its own block */
                cf_st_leave(d, outer, "stage block");
                add_frame(c, d, name, n, p, plen, fr, k);
        }
        return cf_st_ok(d);
}

/* Split a sealed snapshot's payload into stage frames. */
static int sealed_frames(cf_chain *c, const void *data, size_t len, frame *fr, kind k, char *errstr,
                         size_t errstr_size)
{
        const void *payload;
        size_t plen;
        if (cf_st_unseal(data, len, &payload, &plen, errstr, errstr_size)) return -1;
        cf_st_dec d;
        cf_st_dec_init(&d, payload, plen, "snapshot", errstr, errstr_size);
        return block_frames(c, &d, fr, k) ? 0 : -1;
}

/* Split an unsealed snapshot (releases 1 and 2; global state before format 3) into stage
 * frames. */
static int legacy_frames(cf_chain *c, const void *data, size_t len, frame *fr, kind k, char *errstr,
                         size_t errstr_size)
{
        cf_st_dec d;
        cf_st_dec_init(&d, data, len, "snapshot (unsealed, release 1/2)", errstr, errstr_size);
        while (cf_st_ok(&d) && cf_st_left(&d)) {
                size_t n;
                const char *name = cf_st_bytes8(&d, &n);
                uint64_t flen = cf_st_u64(&d);
                if (cf_st_ok(&d) && flen > cf_st_left(&d)) {
                        cf_st_fail(&d, "frame '%.*s' of %llu bytes, %zu left", (int)n, name,
                                   (unsigned long long)flen, cf_st_left(&d));
                        break;
                }
                const void *p = cf_st_take(&d, (size_t)flen);
                if (p) add_frame(c, &d, name, n, p, (size_t)flen, fr, k);
        }
        for (size_t j = 0; j < N_LEGACY && cf_st_ok(&d) && k == PART; j++) {
                int i = stage_index(c, legacy_stages[j], strlen(legacy_stages[j]), PART);
                if (i >= 0 && !fr[i].found)
                        cf_st_fail(&d, "no frame for stage '%s' (every release wrote one)",
                                   legacy_stages[j]);
        }
        return cf_st_ok(&d) ? 0 : -1;
}

/* Split a snapshot of kind k, sealed or not (replicas: sealed only), into stage frames. */
static int split(cf_chain *c, const void *data, size_t len, frame *fr, kind k, char *errstr,
                 size_t errstr_size)
{
        if (cf_chain_n_stages(c) > MAX_STAGES) {
                snprintf(errstr, errstr_size, "chain of %zu stages, state holds %d",
                         cf_chain_n_stages(c), MAX_STAGES);
                return -1;
        }
        if (!len) return 0;
        if (cf_st_is_sealed(data, len) || k == REPLICA)
                return sealed_frames(c, data, len, fr, k, errstr, errstr_size);
        return legacy_frames(c, data, len, fr, k, errstr, errstr_size);
}

/* Seal the state of kind k of every stage that keeps one into out. */
/* Bytes a stage wrote into a checkpoint of kind ("delta", "snapshot"): which stage a commit's
 * changelog bytes come from. Looked up per checkpoint (a few hundred per commit), not per
 * record. */
static void count_bytes(cf_chain *c, const char *stage, const char *kind, size_t n)
{
        cf_metric *f = cf_metrics_counter(cf_chain_registry(c), "customsflow_state_bytes_total",
                                          "bytes of partition state each stage wrote into "
                                          "checkpoints, in deltas and in full snapshots",
                                          "stage,kind");
        cf_counter_add(cf_metric_series(f, stage, kind), n);
}

static int seal_all(cf_chain *c, kind k, int32_t partition, cf_buf *out)
{
        size_t seal = cf_st_seal_begin(out);
        for (size_t i = 0; i < cf_chain_n_stages(c); i++) {
                cf_stage *s = cf_chain_stage_at(c, i);
                if (!keeps(s->p, k)) continue;
                cf_st_put_str8(out, s->p->name);
                size_t blk = cf_st_block_begin(out);
                int rc = k == PART     ? s->p->snapshot(s, partition, out)
                         : k == GLOBAL ? s->p->global_snapshot(s, out)
                                       : s->p->snapshot_replica(s, out);
                if (rc) return -1;
                cf_st_block_end(out, blk);
                if (k == PART) count_bytes(c, s->p->name, "snapshot", out->len - blk);
        }
        cf_st_seal_end(out, seal);
        return 0;
}

/* Partition's state is now the one sealed at data (a snapshot taken or restored; len 0:
 * empty): deltas from now on build on it, and what stages recorded so far is in it. */
static void rebase(cf_chain *c, int32_t partition, const void *data, size_t len)
{
        cf_chain_lineage *l = cf_chain_lineage_of(c, partition);
        l->base = !len                         ? 0
                  : cf_st_is_sealed(data, len) ? cf_st_seal_sum(data, len)
                                               : XXH3_64bits(data, len); /* releases 1-2 */
        l->seq = 0;
        if (!cf_chain_tracking(c)) return;
        for (size_t i = 0; i < cf_chain_n_stages(c); i++) {
                cf_stage *s = cf_chain_stage_at(c, i);
                if (s->p->delta) s->p->delta(s, partition, NULL);
        }
}

int cf_chain_snapshot(cf_chain *c, int32_t partition, cf_buf *out)
{
        size_t off = out->len;
        if (seal_all(c, PART, partition, out)) return -1;
        rebase(c, partition, out->p + off, out->len - off);
        return 0;
}

/* Restore every stage with partition state from its frame (absent: start
 * empty); the number of stages done before a refusal goes to *done. */
static int restore_frames(cf_chain *c, int32_t partition, const frame *fr, size_t *done,
                          char *errstr, size_t errstr_size)
{
        for (size_t i = 0; i < cf_chain_n_stages(c) && i < MAX_STAGES; i++) {
                cf_stage *s = cf_chain_stage_at(c, i);
                *done = i;
                if (!s->p->restore) continue;
                if (s->p->restore(s, partition, fr[i].found ? fr[i].p : NULL,
                                  fr[i].found ? fr[i].len : 0, errstr, errstr_size))
                        return -1;
        }
        *done = cf_chain_n_stages(c);
        return 0;
}

int cf_chain_restore(cf_chain *c, int32_t partition, const void *data, size_t len, char *errstr,
                     size_t errstr_size)
{
        frame fr[MAX_STAGES] = {{0}};
        if (split(c, data, len, fr, PART, errstr, errstr_size)) return -1;
        /* All or nothing: what the partition held before goes back if a stage
         * refuses its part (a half-restored partition would decide on
         * dedup state without the matching detect state). */
        cf_buf old = {0};
        if (seal_all(c, PART, partition, &old)) {
                cf_buf_free(&old);
                snprintf(errstr, errstr_size, "snapshot of the current state failed");
                return -1;
        }
        size_t done = 0;
        int rc = restore_frames(c, partition, fr, &done, errstr, errstr_size);
        if (rc && done) {
                frame ofr[MAX_STAGES] = {{0}};
                char e2[256];
                size_t d2;
                if (sealed_frames(c, old.p, old.len, ofr, PART, e2, sizeof(e2)) ||
                    restore_frames(c, partition, ofr, &d2, e2, sizeof(e2)))
                        cf_chain_drop(c, partition); /* cannot happen: our own snapshot */
        }
        cf_buf_free(&old);
        if (!rc) rebase(c, partition, data, len);
        return rc;
}

/* Global state (learnt from the outcomes input, the same on every worker). */
int cf_chain_global_snapshot(cf_chain *c, cf_buf *out)
{
        return seal_all(c, GLOBAL, 0, out);
}

/* Restore the global state or the replica (kind k) of every stage keeping one from its
 * frame (absent: start empty). -1 refused, 1 a stage started empty on purpose, 0 done. */
static int restore_shared(cf_chain *c, const void *data, size_t len, kind k, char *errstr,
                          size_t errstr_size)
{
        frame fr[MAX_STAGES] = {{0}};
        if (split(c, data, len, fr, k, errstr, errstr_size)) return -1;
        int rc = 0;
        for (size_t i = 0; i < cf_chain_n_stages(c) && i < MAX_STAGES; i++) {
                cf_stage *s = cf_chain_stage_at(c, i);
                if (!keeps(s->p, k)) continue;
                const void *p = fr[i].found ? fr[i].p : NULL;
                size_t n = fr[i].found ? fr[i].len : 0;
                int r = k == GLOBAL ? s->p->global_restore(s, p, n, errstr, errstr_size)
                                    : s->p->restore_replica(s, p, n, errstr, errstr_size);
                if (r < 0 || (r && k == REPLICA)) return -1;
                if (r > 0) rc = 1;
        }
        return rc;
}

int cf_chain_global_restore(cf_chain *c, const void *data, size_t len, char *errstr,
                            size_t errstr_size)
{
        return restore_shared(c, data, len, GLOBAL, errstr, errstr_size);
}

/* The replicas of the population state (pipeline/core/global.h). */
int cf_chain_snapshot_replica(cf_chain *c, cf_buf *out)
{
        return seal_all(c, REPLICA, 0, out);
}

int cf_chain_restore_replica(cf_chain *c, const void *data, size_t len, char *errstr,
                             size_t errstr_size)
{
        return restore_shared(c, data, len, REPLICA, errstr, errstr_size);
}

/* ---- deltas (issue 18) ----
 *
 * Sealed with kind CF_ST_DELTA (stenc.h: never taken for a snapshot, nor the
 * reverse). Payload: the base (u64: the checksum of the snapshot it builds
 * on), its number after that snapshot (u64, 1, 2, ...), then per stage with
 * partition state, in chain order: name (str8), block: mode (u8: 0 the
 * stage's own delta, 1 its full snapshot, for a stage without deltas; read
 * for any stage, as earlier builds wrote it for aggregate), the stage's
 * payload. Every stage with state has a block.
 */

enum { MODE_DELTA = 0, MODE_FULL = 1 };

int cf_chain_delta(cf_chain *c, int32_t partition, cf_buf *out)
{
        if (!cf_chain_tracking(c)) return -1;
        cf_chain_lineage *l = cf_chain_lineage_of(c, partition);
        size_t seal = cf_st_seal_begin_kind(out, CF_ST_DELTA);
        cf_st_put_u64(out, l->base);
        cf_st_put_u64(out, l->seq + 1);
        for (size_t i = 0; i < cf_chain_n_stages(c); i++) {
                cf_stage *s = cf_chain_stage_at(c, i);
                if (!keeps(s->p, PART)) continue;
                cf_st_put_str8(out, s->p->name);
                size_t blk = cf_st_block_begin(out);
                bool own = s->p->delta && s->p->apply_delta;
                cf_st_put_u8(out, own ? MODE_DELTA : MODE_FULL);
                if (own ? s->p->delta(s, partition, out) : s->p->snapshot(s, partition, out))
                        return -1;
                cf_st_block_end(out, blk);
                count_bytes(c, s->p->name, "delta", out->len - blk);
        }
        cf_st_seal_end(out, seal);
        l->seq++;
        return 0;
}

/* Split a delta's payload into stage frames (fr[i].p starts at the mode byte) after
 * checking its base and number against the partition's lineage l. */
static int delta_frames(cf_chain *c, const cf_chain_lineage *l, const void *data, size_t len,
                        frame *fr, char *errstr, size_t errstr_size)
{
        const void *payload;
        size_t plen;
        if (cf_st_unseal_kind(data, len, CF_ST_DELTA, &payload, &plen, errstr, errstr_size))
                return -1;
        cf_st_dec d;
        cf_st_dec_init(&d, payload, plen, "delta", errstr, errstr_size);
        uint64_t base = cf_st_u64(&d), seq = cf_st_u64(&d);
        if (cf_st_ok(&d) && (base != l->base || seq != l->seq + 1))
                return cf_st_fail(&d,
                                  "delta %llu on base %016llx, but the partition's state is at "
                                  "delta %llu of base %016llx",
                                  (unsigned long long)seq, (unsigned long long)base,
                                  (unsigned long long)l->seq, (unsigned long long)l->base),
                       -1;
        if (!block_frames(c, &d, fr, PART)) return -1;
        for (size_t i = 0; i < cf_chain_n_stages(c) && cf_st_ok(&d); i++) {
                const cf_stage_plugin *sp = cf_chain_stage_at(c, i)->p;
                if (!keeps(sp, PART)) continue;
                if (!fr[i].found) return cf_st_fail(&d, "no block for stage '%s'", sp->name), -1;
                bool own = sp->delta && sp->apply_delta;
                if (!fr[i].len) return cf_st_fail(&d, "stage '%s': no mode byte", sp->name), -1;
                /* a full snapshot is taken wherever a delta is (a build before the stage had
                 * deltas wrote one, as aggregate did before 2026-12-01); a delta needs its own */
                unsigned mode = ((const unsigned char *)fr[i].p)[0];
                if (mode != MODE_FULL && !(own && mode == MODE_DELTA))
                        return cf_st_fail(&d, "stage '%s': mode %u, where this build keeps %s",
                                          sp->name, mode,
                                          own ? "a delta or a full snapshot" : "a full snapshot"),
                               -1;
        }
        return cf_st_ok(&d) ? 0 : -1;
}

int cf_chain_apply_delta(cf_chain *c, int32_t partition, const void *data, size_t len, char *errstr,
                         size_t errstr_size)
{
        frame fr[MAX_STAGES] = {{0}};
        if (cf_chain_n_stages(c) > MAX_STAGES) {
                snprintf(errstr, errstr_size, "chain of %zu stages, state holds %d",
                         cf_chain_n_stages(c), MAX_STAGES);
                return -1;
        }
        cf_chain_lineage *l = cf_chain_lineage_of(c, partition);
        if (delta_frames(c, l, data, len, fr, errstr, errstr_size)) return -1;
        bool applied = false;
        for (size_t i = 0; i < cf_chain_n_stages(c); i++) {
                cf_stage *s = cf_chain_stage_at(c, i);
                if (!keeps(s->p, PART)) continue;
                const unsigned char *p = (const unsigned char *)fr[i].p + 1;
                size_t n = fr[i].len - 1;
                int rc = p[-1] == MODE_DELTA
                             ? s->p->apply_delta(s, partition, p, n, errstr, errstr_size)
                             : s->p->restore(s, partition, n ? p : NULL, n, errstr, errstr_size);
                if (!rc) {
                        applied = true;
                        continue;
                }
                if (applied) {
                        /* the stages before applied theirs: a half-applied partition must not
                         * decide anything; the caller restores it again */
                        cf_chain_drop(c, partition);
                        size_t m = strlen(errstr);
                        if (m < errstr_size)
                                snprintf(errstr + m, errstr_size - m,
                                         " (partition %d's state was dropped: restore it again)",
                                         (int)partition);
                }
                return -1;
        }
        l->seq++;
        return 0;
}
