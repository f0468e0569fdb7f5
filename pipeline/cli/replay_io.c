/*
 * replay_io.c - replay's output files and state folder (replay_io.h).
 */
#include "pipeline/cli/replay_io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pipeline/core/fileio.h"
#include "stages/encode/encode.h"

int cf_replay_outs_open(cf_replay_out o[CF_N_OUTS], const char *flags, const char *stats,
                        const char *dlq, char *errstr, size_t errstr_size)
{
        const char *opt[CF_N_OUTS] = {"flags", "stats", "dlq"};
        const char *path[CF_N_OUTS] = {flags, stats, dlq};
        for (int i = 0; i < CF_N_OUTS; i++) {
                o[i] = (cf_replay_out){.opt = opt[i], .path = path[i], .fd = -1};
                if (!path[i]) continue;
                o[i].fd = strcmp(path[i], "-")
                              ? open(path[i], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)
                              : STDOUT_FILENO;
                if (o[i].fd < 0) {
                        snprintf(errstr, errstr_size, "--%s: cannot open %s for writing: %s",
                                 opt[i], path[i], strerror(errno));
                        return -1;
                }
        }
        return 0;
}

int cf_replay_outs_write(cf_replay_out o[CF_N_OUTS], const cf_batch *b)
{
        for (int i = 0; i < CF_N_OUTS; i++)
                cf_buf_reset(&o[i].buf);
        for (size_t i = 0; i < b->n_outs; i++) {
                const cf_output *out = &b->outs[i];
                cf_replay_out *to = &o[out->kind == CF_OUT_FLAG ? CF_OUT_FLAGS : CF_OUT_STATSF];
                if (to->fd < 0) continue;
                cf_buf_put(&to->buf, b->out.p + out->val_off, out->val_len);
                cf_buf_putc(&to->buf, '\n');
        }
        for (size_t i = 0; o[CF_OUT_DLQ].fd >= 0 && i < b->n; i++) {
                if (b->recs[i].status != CF_REC_DEAD_LETTER) continue;
                cf_encode_dlq_line(&o[CF_OUT_DLQ].buf, &b->recs[i]);
                cf_buf_putc(&o[CF_OUT_DLQ].buf, '\n');
        }
        return cf_replay_outs_flush(o);
}

int cf_replay_outs_flush(cf_replay_out o[CF_N_OUTS])
{
        for (int i = 0; i < CF_N_OUTS; i++) {
                if (o[i].fd < 0 || !o[i].buf.len) continue;
                if (cf_write_all(o[i].fd, o[i].buf.p, o[i].buf.len)) {
                        o[i].err = errno;
                        return -1;
                }
        }
        return 0;
}

int cf_replay_outs_close(cf_replay_out o[CF_N_OUTS])
{
        int rc = 0;
        for (int i = 0; i < CF_N_OUTS; i++) {
                /* close can report a deferred write error (NFS, quota) */
                if (o[i].fd > STDOUT_FILENO && close(o[i].fd) && !o[i].err)
                        o[i].err = errno, rc = -1;
                o[i].fd = -1;
                cf_buf_free(&o[i].buf);
        }
        return rc;
}

const char *cf_replay_outs_failed(const cf_replay_out o[CF_N_OUTS], char *buf, size_t n)
{
        for (int i = 0; i < CF_N_OUTS; i++) {
                if (!o[i].err) continue;
                snprintf(buf, n, "--%s %s: write error: %s", o[i].opt,
                         strcmp(o[i].path, "-") ? o[i].path : "- (stdout)", strerror(o[i].err));
                return buf;
        }
        return NULL;
}

int cf_replay_outs_report(const cf_replay_out o[CF_N_OUTS], cf_buf *extra)
{
        int n = 0;
        for (int i = 0; i < CF_N_OUTS; i++) {
                if (!o[i].err) continue;
                cf_buf_puts(extra, n++ ? "," : "\"incomplete_outputs\":[");
                cf_buf_printf(extra, "{\"output\":\"%s\",\"path\":", o[i].opt);
                cf_json_str(extra, o[i].path, strlen(o[i].path));
                cf_buf_puts(extra, ",\"error\":");
                cf_json_str(extra, strerror(o[i].err), strlen(strerror(o[i].err)));
                cf_buf_putc(extra, '}');
        }
        if (n) cf_buf_putc(extra, ']');
        return n;
}

/* ---- state folder ---- */

/* An existing state file set aside by --state-reset (never deleted). */
static int keep_old(const char *path, char *errstr, size_t errstr_size)
{
        char old[4300];
        snprintf(old, sizeof(old), "%s.old", path);
        if (rename(path, old) == 0 || errno == ENOENT) return 0;
        snprintf(errstr, errstr_size, "%s: cannot move it aside to %s: %s", path, old,
                 strerror(errno));
        return -1;
}

/* Read one state file: 0 with its bytes in b (empty when absent), or -1 with the
 * reason in why (it is there but unreadable, not a file, over cap, or empty). */
static int state_read(const char *path, size_t cap, cf_buf *b, char *why, size_t why_size)
{
        int rc = cf_read_file_capped(path, cap, b, why, why_size);
        if (rc == 1) return 0; /* no file: the first run, and only that */
        if (rc == 0 && b->len == 0) {
                snprintf(why, why_size, "%s: empty file (what a crash during a save can leave)",
                         path);
                return -1;
        }
        return rc;
}

/* The state file of partition p. */
static void part_path(const cf_replay_state *s, int32_t p, char *out, size_t n)
{
        snprintf(out, n, "%s/replay-partition-%d.state", s->dir, p);
}

int32_t cf_replay_state_parts(const char *dir)
{
        cf_replay_state s = {.dir = dir};
        char path[4200];
        int32_t n = 0;
        for (; n < 1024; n++) {
                part_path(&s, n, path, sizeof path);
                if (access(path, F_OK)) break;
        }
        return n;
}

/* Load every partition's state, the population state and the global state (what was
 * learnt from outcomes); a state written with other partitions is refused. */
static int state_load(cf_replay_state *s, size_t cap, cf_chain **c, int nc, char *why,
                      size_t why_size)
{
        char err[1024], path[4200];
        part_path(s, s->parts, path, sizeof path);
        if (access(path, F_OK) == 0) {
                snprintf(why, why_size,
                         "%s: written by a run with more than %d partitions (the state is per "
                         "partition: run with the same --partitions)",
                         path, s->parts);
                return -1;
        }
        int32_t had = cf_replay_state_parts(s->dir);
        if (had && had < s->parts) {
                snprintf(why, why_size,
                         "%s: written by a run with %d partitions, not %d (the state is per "
                         "partition: run with the same --partitions)",
                         s->dir, had, s->parts);
                return -1;
        }
        cf_buf b = {0};
        int rc = 0;
        for (int32_t p = 0; p < s->parts && !rc; p++) {
                part_path(s, p, path, sizeof path);
                b.len = 0;
                rc = state_read(path, cap, &b, why, why_size);
                if (!rc &&
                    cf_chain_restore(c[p % nc], p, b.len ? b.p : NULL, b.len, err, sizeof(err))) {
                        snprintf(why, why_size, "%s: %s", path, err);
                        rc = -1;
                }
        }
        b.len = 0;
        if (!rc) rc = state_read(s->ppath, cap, &b, why, why_size);
        /* the threads share chain 0's replica of the population state (replay_pool.c) */
        if (!rc && cf_chain_restore_replica(c[0], b.len ? b.p : NULL, b.len, err, sizeof(err))) {
                snprintf(why, why_size, "%s: %s", s->ppath, err);
                rc = -1;
        }
        b.len = 0;
        if (!rc) rc = state_read(s->gpath, cap, &b, why, why_size);
        for (int i = 0; i < nc && !rc; i++) {
                int g = cf_chain_global_restore(c[i], b.len ? b.p : NULL, b.len, err, sizeof(err));
                if (g > 0 && !i) /* taken with other model settings: starts empty, learns again */
                        fprintf(stderr, "customsflow replay: %s: %s\n", s->gpath, err);
                if (g < 0) snprintf(why, why_size, "%s: %s", s->gpath, err), rc = -1;
        }
        cf_buf_free(&b);
        return rc;
}

int cf_replay_state_open(cf_replay_state *s, const char *dir, int reset, size_t cap, int32_t parts,
                         cf_chain **c, int nc, char *errstr, size_t errstr_size)
{
        *s = (cf_replay_state){.dir = dir, .parts = parts, .lock_fd = -1};
        snprintf(s->path, sizeof(s->path), "%s/replay-partition-0.state", dir);
        snprintf(s->ppath, sizeof(s->ppath), "%s/replay-population.state", dir);
        snprintf(s->gpath, sizeof(s->gpath), "%s/replay-global.state", dir);
        if (mkdir(dir, 0755) && errno != EEXIST) {
                snprintf(errstr, errstr_size, "%s: cannot create: %s", dir, strerror(errno));
                return -1;
        }
        /* two runs on one folder would each save over the other's state */
        if ((s->lock_fd = cf_lock_dir(dir, errstr, errstr_size)) < 0) return -1;
        if (reset) {
                char path[4200];
                for (int32_t p = 0; p < parts; p++) {
                        part_path(s, p, path, sizeof path);
                        if (keep_old(path, errstr, errstr_size)) return -1;
                }
                if (keep_old(s->ppath, errstr, errstr_size) ||
                    keep_old(s->gpath, errstr, errstr_size))
                        return -1;
                s->may_save = 1;
                for (int32_t p = 0; p < parts; p++)
                        if (cf_chain_restore(c[p % nc], p, NULL, 0, errstr, errstr_size)) return -1;
                return 0;
        }
        char why[6000] = "";
        if (state_load(s, cap, c, nc, why, sizeof(why)) == 0) {
                s->may_save = 1;
                return 0;
        }
        snprintf(errstr, errstr_size,
                 "state %s; nothing was processed and the files are kept as they are "
                 "(--state-reset starts empty and moves them to .old)",
                 why);
        return -1;
}

/* One snapshot (rc_snap: how taking it went) into path, crash-safe. */
static int save_one(const char *path, const cf_buf *b, int rc_snap, char *errstr,
                    size_t errstr_size)
{
        if (rc_snap) {
                snprintf(errstr, errstr_size, "%s: a stage could not snapshot its state", path);
                return -1;
        }
        return cf_write_file_atomic(path, b->p, b->len, errstr, errstr_size);
}

int cf_replay_state_save(cf_replay_state *s, cf_chain **c, int nc, char *errstr, size_t errstr_size)
{
        if (!s->may_save) { /* never replace a state this run did not load */
                snprintf(errstr, errstr_size, "%s: not saved (it was not loaded)", s->path);
                return -1;
        }
        cf_buf b = {0};
        char path[4200];
        int rc = 0;
        for (int32_t p = 0; p < s->parts && !rc; p++) {
                b.len = 0;
                part_path(s, p, path, sizeof path);
                int snap = cf_chain_snapshot(c[p % nc], p, &b);
                rc = save_one(path, &b, snap, errstr, errstr_size);
        }
        b.len = 0;
        if (!rc) {
                int snap = cf_chain_snapshot_replica(c[0], &b); /* the replicas are equal */
                rc = save_one(s->ppath, &b, snap, errstr, errstr_size);
        }
        b.len = 0;
        if (!rc) {
                int snap = cf_chain_global_snapshot(c[0], &b);
                rc = save_one(s->gpath, &b, snap, errstr, errstr_size);
        }
        cf_buf_free(&b);
        return rc;
}

void cf_replay_state_close(cf_replay_state *s)
{
        cf_unlock_dir(s->lock_fd);
        s->lock_fd = -1;
}
