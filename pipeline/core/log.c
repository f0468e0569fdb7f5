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
