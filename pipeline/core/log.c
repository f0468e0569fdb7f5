/*
 * log.c - JSON lines on stderr. The level is process-wide state, which is why
 * it lives in pipeline/ (stages never log: they report through counters).
 */
#include "pipeline/core/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "pipeline/core/buf.h"
#include "pipeline/core/clock.h"

static atomic_int cf_log_min = CF_LOG_INFO;

int cf_log_set_level(const char *name)
{
        static const char *const names[] = {"debug", "info", "warn", "error"};
        for (int i = 0; i < 4; i++)
                if (!strcmp(name, names[i])) {
                        atomic_store(&cf_log_min, i);
                        return 0;
                }
        return -1;
}

int cf_log_enabled(cf_log_level lvl)
{
        return (int)lvl >= atomic_load(&cf_log_min);
}

/* For a terminal: JSON leaves DEL and the C1 controls (U+0080..U+009F, some
 * terminals read 0x9B as ESC [) raw; write them as \u escapes, which keeps
 * the line the same JSON value. C0 controls are escaped by cf_json_str. */
static int is_c1(const cf_buf *b, size_t i)
{
        return (unsigned char)b->p[i] == 0xC2 && i + 1 < b->len &&
               ((unsigned char)b->p[i + 1] & 0xE0) == 0x80; /* 0x80..0x9F */
}

static void tty_safe(cf_buf *b)
{
        size_t extra = 0;
        for (size_t i = 0; i < b->len; i++)
                extra += b->p[i] == 0x7F || is_c1(b, i);
        if (!extra) return;
        cf_buf o = {0};
        for (size_t i = 0; i < b->len; i++) {
                unsigned char c = (unsigned char)b->p[i];
                if (c == 0x7F) {
                        cf_buf_puts(&o, "\\u007f");
                } else if (is_c1(b, i)) {
                        cf_buf_printf(&o, "\\u00%02x", (unsigned char)b->p[++i]);
                } else {
                        cf_buf_putc(&o, (char)c);
                }
        }
        cf_buf_free(b);
        *b = o;
}

static void log_line(cf_log_level lvl, const char *component, const char *const *kv, int n_kv,
                     const char *fmt, va_list ap)
{
        static const char *const names[] = {"debug", "info", "warn", "error"};
        char msg[2048];
        vsnprintf(msg, sizeof msg, fmt, ap);
        cf_buf b = {0};
        cf_buf_puts(&b, "{\"ts\":");
        cf_json_time(&b, cf_now_ms());
        cf_buf_printf(&b, ",\"level\":\"%s\",\"component\":", names[lvl]);
        cf_json_str(&b, component, strlen(component));
        for (int i = 0; i < n_kv; i++) {
                cf_buf_putc(&b, ',');
                cf_json_str(&b, kv[2 * i], strlen(kv[2 * i]));
                cf_buf_putc(&b, ':');
                cf_json_str(&b, kv[2 * i + 1], strlen(kv[2 * i + 1]));
        }
        cf_buf_puts(&b, ",\"msg\":");
        cf_json_str(&b, msg, strlen(msg));
        cf_buf_puts(&b, "}\n");
        if (isatty(2)) tty_safe(&b);
        /* one write(2) per line so lines from several threads never interleave */
        ssize_t w = write(2, b.p, b.len);
        (void)w;
        cf_buf_free(&b);
}

void cf_log(cf_log_level lvl, const char *component, const char *fmt, ...)
{
        if (!cf_log_enabled(lvl)) return;
        va_list ap;
        va_start(ap, fmt);
        log_line(lvl, component, NULL, 0, fmt, ap);
        va_end(ap);
}

void cf_log_kv(cf_log_level lvl, const char *component, const char *const *kv, int n_kv,
               const char *fmt, ...)
{
        if (!cf_log_enabled(lvl)) return;
        va_list ap;
        va_start(ap, fmt);
        log_line(lvl, component, kv, n_kv, fmt, ap);
        va_end(ap);
}
