/*
 * prom.c - see prom.h.
 */
#include "helpers/prom.h"

#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

double prom_value(const char *text, const char *series, double def)
{
        size_t n = strlen(series);
        for (const char *p = text; p && *p;) {
                if (!strncmp(p, series, n) && p[n] == ' ') return strtod(p + n + 1, NULL);
                p = strchr(p, '\n');
                if (p) p++;
        }
        return def;
}

double prom_sum(const char *text, const char *name)
{
        size_t n = strlen(name);
        double sum = 0;
        for (const char *p = text; p && *p;) {
                if (!strncmp(p, name, n) && (p[n] == '{' || p[n] == ' ')) {
                        const char *sp = strchr(p, ' ');
                        /* label values here have no spaces: the value follows the last '}' */
                        const char *close = memchr(p, '}', (size_t)(strchr(p, '\n') - p));
                        if (close) sp = close + 1;
                        sum += strtod(sp, NULL);
                }
                p = strchr(p, '\n');
                if (p) p++;
        }
        return sum;
}

long long prom_reg_value(cf_metrics *m, const char *series)
{
        cf_buf b = {0};
        cf_metrics_encode(&b, &m, 1);
        cf_buf_putc(&b, '\0');
        double v = prom_value(b.p, series, -1);
        cf_buf_free(&b);
        return (long long)v;
}

size_t prom_count(const char *text, const char *name)
{
        size_t n = strlen(name), c = 0;
        for (const char *p = text; p && *p;) {
                if (!strncmp(p, name, n) && (p[n] == '{' || p[n] == ' ')) c++;
                p = strchr(p, '\n');
                if (p) p++;
        }
        return c;
}

/* The sample lines of text as "name{labels}" keys and values. */
typedef struct sample {
        char *key;
        double v;
        bool counter;
} sample;

static size_t samples(const char *text, sample **out)
{
        size_t n = 0, cap = 0;
        char counter_fam[256] = "";
        *out = NULL;
        for (const char *p = text; p && *p;) {
                const char *e = strchr(p, '\n');
                size_t len = e ? (size_t)(e - p) : strlen(p);
                if (!strncmp(p, "# TYPE ", 7)) {
                        char fam[256], type[32];
                        if (sscanf(p + 7, "%255s %31s", fam, type) == 2)
                                snprintf(counter_fam, sizeof counter_fam, "%s",
                                         strcmp(type, "gauge") ? fam : "");
                } else if (len && p[0] != '#') {
                        const char *close = memchr(p, '}', len);
                        const char *sp = close ? close + 1 : memchr(p, ' ', len);
                        if (n == cap) {
                                cap = cap ? 2 * cap : 256;
                                *out = realloc(*out, cap * sizeof(**out));
                        }
                        sample *s = &(*out)[n++];
                        s->key = strndup(p, (size_t)(sp - p));
                        s->v = strtod(sp, NULL);
                        s->counter =
                            counter_fam[0] && !strncmp(s->key, counter_fam, strlen(counter_fam));
                }
                p = e ? e + 1 : NULL;
        }
        return n;
}

static void samples_free(sample *s, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(s[i].key);
        free(s);
}

size_t prom_duplicates(const char *text)
{
        sample *s;
        size_t n = samples(text, &s), dups = 0;
        for (size_t i = 0; i < n; i++)
                for (size_t j = i + 1; j < n; j++)
                        if (!strcmp(s[i].key, s[j].key)) {
                                fprintf(stderr, "duplicate series: %s\n", s[i].key);
                                dups++;
                        }
        samples_free(s, n);
        return dups;
}

size_t prom_decreased(const char *before, const char *after)
{
        sample *a, *b;
        size_t na = samples(before, &a), nb = samples(after, &b), bad = 0;
        for (size_t i = 0; i < na; i++) {
                if (!a[i].counter) continue;
                size_t j = 0;
                while (j < nb && strcmp(a[i].key, b[j].key))
                        j++;
                if (j < nb && b[j].v >= a[i].v) continue;
                fprintf(stderr, "counter %s: %g, then %s\n", a[i].key, a[i].v,
                        j < nb ? "lower" : "gone");
                bad++;
        }
        samples_free(a, na);
        samples_free(b, nb);
        return bad;
}

/* A plain HTTP/1.0 GET: enough for a test against our own endpoint. */
int prom_http_get(const char *addr, const char *path, cf_buf *body)
{
        char host[128];
        const char *colon = strrchr(addr, ':');
        if (!colon || (size_t)(colon - addr) >= sizeof host) return -1;
        memcpy(host, addr, (size_t)(colon - addr));
        host[colon - addr] = '\0';
        struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai;
        if (getaddrinfo(host, colon + 1, &hints, &ai)) return -1;
        int fd = socket(ai->ai_family, ai->ai_socktype, 0);
        int rc = fd < 0 ? -1 : connect(fd, ai->ai_addr, ai->ai_addrlen);
        freeaddrinfo(ai);
        if (rc) {
                if (fd >= 0) close(fd);
                return -1;
        }
        char req[256];
        int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", path, addr);
        if (write(fd, req, (size_t)n) != n) {
                close(fd);
                return -1;
        }
        cf_buf raw = {0};
        char tmp[65536];
        ssize_t r;
        while ((r = read(fd, tmp, sizeof tmp)) > 0)
                cf_buf_put(&raw, tmp, (size_t)r);
        close(fd);
        cf_buf_putc(&raw, '\0');
        int status = -1;
        const char *hdr_end = strstr(raw.p, "\r\n\r\n");
        if (sscanf(raw.p, "HTTP/%*s %d", &status) != 1 || !hdr_end) status = -1;
        body->len = 0;
        if (hdr_end) cf_buf_puts(body, hdr_end + 4);
        cf_buf_putc(body, '\0');
        body->len--;
        cf_buf_free(&raw);
        return status;
}

int prom_promtool(const char *text)
{
        char path[] = "/tmp/cf-promtool-XXXXXX";
        int fd = mkstemp(path);
        if (fd < 0) return -1;
        FILE *f = fdopen(fd, "w");
        fputs(text, f);
        fclose(f);
        char cmd[256];
        snprintf(cmd, sizeof cmd, "promtool check metrics < %s >&2", path);
        int rc = system(cmd);
        unlink(path);
        return rc;
}
