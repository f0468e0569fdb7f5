/*
 * log.h - structured logs: one JSON object per line on stderr
 * ({"ts":..,"level":..,"component":..,"msg":..}), with a configurable level.
 */
#ifndef CF_LOG_H
#define CF_LOG_H

typedef enum cf_log_level { CF_LOG_DEBUG, CF_LOG_INFO, CF_LOG_WARN, CF_LOG_ERROR } cf_log_level;

/** Set the lowest level printed; -1 if name is not debug|info|warn|error. */
int cf_log_set_level(const char *name);
/** Log one line (thread-safe: one write per line). */
void cf_log(cf_log_level lvl, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/** Log one line with extra string fields: kv = {"client", name, "facility", fac, ...},
 *  n_kv pairs (librdkafka's own lines: client and facility as fields). Thread-safe. */
void cf_log_kv(cf_log_level lvl, const char *component, const char *const *kv, int n_kv,
               const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/** Is lvl printed at the current level? (skip building a message nobody reads) */
int cf_log_enabled(cf_log_level lvl);

#endif
