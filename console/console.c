/*
 * console.c - the console's lifecycle: store and its connection pool, the
 * offline loader (replay output files), threads started and stopped.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "console/console_int.h"
#include "pipeline/core/clock.h"
#include "pipeline/core/linereader.h"
#include "pipeline/core/log.h"

/* Is a broker configured: an override, the environment or kafka.bootstrap.servers? */
static bool has_broker(const cf_config *cfg, const char *bootstrap)
{
        const char *e = getenv("CUSTOMSFLOW_KAFKA_BOOTSTRAP_SERVERS");
        return (bootstrap && *bootstrap) || (e && *e) ||
               cf_yaml_get(cf_yaml_get(cfg->root, "kafka"), "bootstrap.servers");
}

cf_console *cf_console_new(const cf_config *cfg, const cf_console_opts *o, char *errstr,
                           size_t errstr_size)
{
        cf_console *c = calloc(1, sizeof *c);
        c->cfg = cfg;
        if (cf_console_cfg_load(&c->cc, cfg, errstr, errstr_size)) {
                free(c);
                return NULL;
        }
        if (o && o->db) free(c->cc.db), c->cc.db = strdup(o->db);
        if (o && o->listen) free(c->cc.listen), c->cc.listen = strdup(o->listen);
        if (o && o->bootstrap) c->bootstrap = strdup(o->bootstrap);
        c->kafka = has_broker(cfg, c->bootstrap);
        c->ingest = c->kafka && (o && o->ingest >= 0 ? o->ingest == 1 : c->cc.ingest);
        cf_console_metrics_init(&c->m);
        pthread_mutex_init(&c->pool_mtx, NULL);
        pthread_cond_init(&c->pool_cv, NULL);
        pthread_mutex_init(&c->ob_mtx, NULL);
        pthread_cond_init(&c->ob_cv, NULL);
        pthread_mutex_init(&c->lim_mtx, NULL);
        /* the first connection migrates the schema; the pool's open it migrated */
        c->n_pool = (int)c->cc.http_threads + 1;
        for (int i = 0; i < c->n_pool; i++) {
                c->pool[i] = cf_store_open(c->cc.db, errstr, errstr_size);
                if (!c->pool[i]) {
                        cf_console_destroy(c);
                        return NULL;
                }
                c->free_conns[c->n_free++] = c->pool[i];
        }
        cf_store_optimize(c->pool[0]);
        return c;
}

cf_store *cf_console_store_get(cf_console *c)
{
        pthread_mutex_lock(&c->pool_mtx);
        while (!c->n_free)
                pthread_cond_wait(&c->pool_cv, &c->pool_mtx);
        cf_store *s = c->free_conns[--c->n_free];
        pthread_mutex_unlock(&c->pool_mtx);
        return s;
}

void cf_console_store_put(cf_console *c, cf_store *s)
{
        pthread_mutex_lock(&c->pool_mtx);
        c->free_conns[c->n_free++] = s;
        pthread_cond_signal(&c->pool_cv);
        pthread_mutex_unlock(&c->pool_mtx);
}

void cf_console_outbox_kick(cf_console *c)
{
        pthread_mutex_lock(&c->ob_mtx);
        c->ob_kick = true;
        pthread_cond_signal(&c->ob_cv);
        pthread_mutex_unlock(&c->ob_mtx);
}

int cf_console_ingest_one(cf_console *c, cf_store *s, cf_flag_parser *p, bool is_flag,
                          const char *msg, size_t n, const char *where)
{
        char err[512];
        cf_ingest_item it = {.msg = msg, .n = n, .is_flag = is_flag};
        if (is_flag) it.rc = cf_flag_parse(p, msg, n, &it.f, it.err, sizeof it.err);
        int rc = cf_ingest_store_item(s, &it, err, sizeof err);
        if (rc >= 0) cf_ingest_count(c, &it, 1);
        if (rc > 0) cf_log(CF_LOG_WARN, "console", "%s: rejected %s", where, err);
        if (rc < 0) cf_log(CF_LOG_ERROR, "console", "%s: %s", where, err);
        return rc < 0 ? -1 : 0;
}

int cf_console_load_file(cf_console *c, const char *path, char kind, char *errstr,
                         size_t errstr_size)
{
        FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
        if (!f) {
                snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
                return -1;
        }
        cf_store *s = cf_console_store_get(c);
        cf_store_bulk(s, true);
        cf_flag_parser p = {0};
        cf_linereader lr;
        cf_linereader_init(&lr, f, 0);
        int rc = 0, more = 1;
        uint64_t total = 0;
        double t0 = cf_mono_s();
        while (more > 0 && !rc) {
                if ((rc = cf_store_begin(s, errstr, errstr_size))) break;
                const char *line;
                size_t n;
                int64_t in_batch = 0;
                /* 2: the reader's buffer is full: commit, compact, go on (it
                 * hands out no line then) */
                while (in_batch < c->cc.ingest_batch &&
                       (more = cf_linereader_next(&lr, &line, &n)) == 1) {
                        char where[600];
                        snprintf(where, sizeof where, "%s:%lld", path, lr.line_no);
                        if (n && cf_console_ingest_one(c, s, &p, kind == 'f', line, n, where)) {
                                snprintf(errstr, errstr_size, "%s: the store failed", where);
                                rc = -1;
                                break;
                        }
                        in_batch++;
                }
                if (rc || more < 0) {
                        if (more < 0) snprintf(errstr, errstr_size, "%s: read error", path);
                        cf_store_rollback(s);
                        rc = -1;
                        break;
                }
                rc = cf_store_commit(s, errstr, errstr_size);
                cf_linereader_compact(&lr);
                total += (uint64_t)in_batch;
        }
        cf_log(CF_LOG_INFO, "console", "%s: %llu lines loaded in %.2f s", path,
               (unsigned long long)total, cf_mono_s() - t0);
        cf_linereader_free(&lr);
        cf_flag_parser_free(&p);
        cf_store_bulk(s, false);
        cf_console_store_put(c, s);
        if (f != stdin) fclose(f);
        return rc;
}

int cf_console_start(cf_console *c, char *errstr, size_t errstr_size)
{
        if (cf_console_http_start(c, errstr, errstr_size)) return -1;
        if (c->ingest) {
                pthread_create(&c->ingest_th, NULL, cf_console_ingest_main, c);
                c->ingest_started = true;
        }
        if (c->kafka && c->cc.publish) {
                pthread_create(&c->outbox_th, NULL, cf_console_outbox_main, c);
                c->outbox_started = true;
        }
        return 0;
}

const char *cf_console_url(const cf_console *c)
{
        return c->url;
}

void cf_console_stop(cf_console *c)
{
        atomic_store(&c->stop, true);
}

bool cf_console_stopping(const cf_console *c)
{
        return atomic_load(&c->stop);
}

void cf_console_destroy(cf_console *c)
{
        if (!c) return;
        cf_console_stop(c);
        cf_console_outbox_kick(c);
        cf_console_http_stop(c);
        if (c->ingest_started) pthread_join(c->ingest_th, NULL);
        if (c->outbox_started) pthread_join(c->outbox_th, NULL);
        for (int i = 0; i < c->n_pool; i++)
                cf_store_close(c->pool[i]);
        cf_console_cfg_free(&c->cc);
        free(c->bootstrap);
        if (c->tmp_dir) { /* the demo's store: db, -wal, -shm, the folder */
                const char *sfx[] = {"", "-wal", "-shm"};
                for (int i = 0; i < 3; i++) {
                        char p[4200];
                        snprintf(p, sizeof p, "%s/console.db%s", c->tmp_dir, sfx[i]);
                        unlink(p);
                }
                rmdir(c->tmp_dir);
                free(c->tmp_dir);
        }
        free(c->tls_cert_pem);
        free(c->tls_key_pem);
        pthread_mutex_destroy(&c->pool_mtx);
        pthread_cond_destroy(&c->pool_cv);
        pthread_mutex_destroy(&c->ob_mtx);
        pthread_cond_destroy(&c->ob_cv);
        pthread_mutex_destroy(&c->lim_mtx);
        cf_console_metrics_free(&c->m);
        free(c);
}

/* Did the user choose the console's address (config file or environment)? */
static bool listen_chosen(const cf_config *cfg)
{
        const char *e = getenv("CUSTOMSFLOW_CONSOLE_LISTEN");
        return (e && *e) || cf_yaml_get(cf_yaml_get(cfg->root, "console"), "listen");
}

cf_console *cf_console_demo(const cf_config *cfg, const char *bootstrap, const char *listen,
                            char *line, size_t line_size, char *errstr, size_t errstr_size)
{
        char dir[] = "/tmp/customsflow-demo-XXXXXX", db[64], pw[33], note[160] = "";
        if (!mkdtemp(dir)) {
                snprintf(errstr, errstr_size, "console: mkdtemp: %s", strerror(errno));
                return NULL;
        }
        snprintf(db, sizeof db, "%s/console.db", dir);
        /* an address the user chose is used or refused; the default one, when
         * taken (another demo, another server), gives way to a free port */
        bool chosen = listen || listen_chosen(cfg);
        cf_console_opts o = {.bootstrap = bootstrap,
                             .db = db,
                             .listen = listen   ? listen
                                       : chosen ? NULL
                                                : CF_CONSOLE_DEMO_LISTEN,
                             .ingest = 1};
        cf_console *c = cf_console_new(cfg, &o, errstr, errstr_size);
        if (!c) return rmdir(dir), NULL;
        c->tmp_dir = strdup(dir);
        cf_random_hex(pw, 8);
        if (cf_console_user(&c->cc, db, "add", "demo", "supervisor", pw, errstr, errstr_size))
                goto fail;
        if (cf_console_start(c, errstr, errstr_size)) {
                if (chosen || c->listen_errno != EADDRINUSE) {
                        size_t n = strlen(errstr);
                        snprintf(errstr + n, errstr_size - n,
                                 " (choose another address with --console-listen HOST:PORT or"
                                 " console.listen; port 0 = any free port)");
                        goto fail;
                }
                snprintf(note, sizeof note, "  (%s is in use: a free port was picked)",
                         CF_CONSOLE_DEMO_LISTEN);
                free(c->cc.listen);
                c->cc.listen = strdup("127.0.0.1:0");
                if (cf_console_start(c, errstr, errstr_size)) goto fail;
        }
        cf_log(CF_LOG_INFO, "console", "demo store %s (removed at exit)", dir);
        snprintf(line, line_size, "console %s  user demo  password %s%s", c->url, pw, note);
        return c;
fail:
        cf_console_destroy(c);
        return NULL;
}
