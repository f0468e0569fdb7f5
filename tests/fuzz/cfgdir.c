/*
 * cfgdir.c - see cfgdir.h. One scratch folder per fuzzing process: the input
 * is written over one file and the original written back after each run, so
 * every run sees the bundled files but the one under test.
 */
#include "cfgdir.h"

#include <dirent.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/core/chain.h"
#include "pipeline/core/config.h"
#include "pipeline/core/utf8.h"
#include "pipeline/kafka/service.h"

static char dir[64];

static char *slurp(const char *path, size_t *n)
{
        FILE *f = fopen(path, "rb");
        if (!f) return NULL;
        char *p = NULL;
        size_t cap = 0;
        *n = 0;
        for (;;) {
                if (*n == cap && !(p = realloc(p, cap = cap * 2 + 4096))) abort();
                size_t got = fread(p + *n, 1, cap - *n, f);
                if (!got) break;
                *n += got;
        }
        fclose(f);
        return p;
}

static void spill(const char *path, const void *p, size_t n)
{
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(p, 1, n, f) != n || fclose(f)) {
                perror(path);
                abort();
        }
}

/* copy every regular file of src (one level: the reference/ folder is done by the caller) */
static void copy_dir(const char *src, const char *dst)
{
        DIR *d = opendir(src);
        if (!d) {
                perror(src);
                abort();
        }
        for (struct dirent *e; (e = readdir(d));) {
                char from[4096], to[4096];
                size_t n;
                snprintf(from, sizeof from, "%s/%s", src, e->d_name);
                snprintf(to, sizeof to, "%s/%s", dst, e->d_name);
                struct stat st;
                if (stat(from, &st) || !S_ISREG(st.st_mode)) continue; /* ".", "..", reference/ */
                char *p = slurp(from, &n);
                if (!p) abort();
                spill(to, p, n);
                free(p);
        }
        closedir(d);
}

static void remove_dir(void)
{
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd)) fprintf(stderr, "cfgdir: could not remove %s\n", dir);
}

void cf_fuzz_dir_init(void)
{
        /* tmpfs when there is one: rewriting a file per run on ext4 flushed it to disk
         * (replace-by-truncate), which was most of the time of a run */
        struct stat st;
        int shm = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode);
        snprintf(dir, sizeof dir, "%s/cf-fuzz-XXXXXX", shm ? "/dev/shm" : "/tmp");
        char ref[128], src[4096];
        if (!mkdtemp(dir)) abort();
        atexit(remove_dir);
        snprintf(ref, sizeof ref, "%s/reference", dir);
        snprintf(src, sizeof src, "%s/reference", CF_DATADIR);
        if (mkdir(ref, 0700)) abort();
        copy_dir(CF_DATADIR, dir);
        copy_dir(src, ref);
}

/* A refusal says why, within its buffer, in valid UTF-8 (it goes to a terminal or a log). */
static void check_err(const char *err, size_t size)
{
        size_t n = strnlen(err, size);
        if (n == 0 || n == size || !cf_utf8_valid(err, n)) {
                fprintf(stderr, "bad error message (%zu bytes): %.*s\n", n, (int)n, err);
                abort();
        }
}

static void load_all(const char *config)
{
        char err[1024] = "";
        cf_config cfg;
        if (cf_config_load(&cfg, config, err, sizeof err)) {
                check_err(err, sizeof err);
                return;
        }
        cf_service_cfg sc;
        err[0] = '\0';
        if (cf_service_cfg_load(&sc, &cfg, err, sizeof err) == 0)
                cf_service_cfg_free(&sc);
        else
                check_err(err, sizeof err);
        err[0] = '\0';
        cf_chain *c = cf_chain_new(cfg.root, cfg.base_dir, err, sizeof err);
        if (c)
                cf_chain_destroy(c);
        else
                check_err(err, sizeof err);
        cf_config_free(&cfg);
}

void cf_fuzz_dir_check(const char *rel, const uint8_t *data, size_t size)
{
        char path[256], config[256];
        size_t n;
        snprintf(path, sizeof path, "%s/%s", dir, rel);
        snprintf(config, sizeof config, "%s/customsflow.yaml", dir);
        char *orig = slurp(path, &n);
        if (!orig) abort();
        spill(path, data, size);
        load_all(config);
        spill(path, orig, n);
        free(orig);
}

void cf_fuzz_dir_edit(const char *rel, const char *from, const char *to)
{
        char path[256];
        size_t n;
        snprintf(path, sizeof path, "%s/%s", dir, rel);
        char *p = slurp(path, &n);
        char *at = p ? memmem(p, n, from, strlen(from)) : NULL;
        if (!at) {
                fprintf(stderr, "cfgdir: %s has no '%s' to replace\n", path, from);
                abort();
        }
        size_t head = (size_t)(at - p), fl = strlen(from), tl = strlen(to);
        char *q = malloc(n - fl + tl);
        if (!q) abort();
        memcpy(q, p, head);
        memcpy(q + head, to, tl);
        memcpy(q + head + tl, at + fl, n - head - fl);
        spill(path, q, n - fl + tl);
        free(q);
        free(p);
}

const char *cf_fuzz_dir_config(void)
{
        static char config[256];
        snprintf(config, sizeof config, "%s/customsflow.yaml", dir);
        return config;
}
