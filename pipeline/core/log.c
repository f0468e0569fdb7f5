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

void cf_log(cf_log_level lvl, const char *component, const char *fmt, ...)
{
        static const char *const names[] = {"debug", "info", "warn", "error"};
        if ((int)lvl < atomic_load(&cf_log_min)) return;
        char msg[2048];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        cf_buf b = {0};
        cf_buf_puts(&b, "{\"ts\":");
        cf_json_time(&b, cf_now_ms());
        cf_buf_printf(&b, ",\"level\":\"%s\",\"component\":", names[lvl]);
        cf_json_str(&b, component, strlen(component));
        cf_buf_puts(&b, ",\"msg\":");
        cf_json_str(&b, msg, strlen(msg));
        cf_buf_puts(&b, "}\n");
        /* one write(2) per line so lines from several threads never interleave */
        ssize_t w = write(2, b.p, b.len);
        (void)w;
        cf_buf_free(&b);
}
