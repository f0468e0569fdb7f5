/*
 * fx.c - fx_rates reference table: open-addressed hash on (currency, month).
 */
#include "stages/decode/fx.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/core/csv_reader.h"
#include "stages/decode/decode.h"

typedef struct fx_slot {
        uint64_t key; /* 0 = empty */
        double rate;
        int line; /* of the row, for the duplicate-row error */
} fx_slot;

struct cf_fx_table {
        fx_slot *slots;
        size_t mask, n;
};

static uint64_t fx_key(const char *cur, int yyyymm)
{
        return ((uint64_t)(unsigned char)cur[0] << 56 | (uint64_t)(unsigned char)cur[1] << 48 |
                (uint64_t)(unsigned char)cur[2] << 40) |
               (uint64_t)(uint32_t)(yyyymm + 1);
}

static size_t fx_hash(uint64_t k, size_t mask)
{
        k ^= k >> 33;
        k *= 0xff51afd7ed558ccdull;
        k ^= k >> 33;
        return (size_t)k & mask;
}

/* Insert key; the line of an existing row with that key when there is one, else 0. */
static int fx_put(cf_fx_table *t, uint64_t key, double rate, int line)
{
        if ((t->n + 1) * 2 > t->mask + 1) {
                size_t ncap = (t->mask + 1) * 2;
                fx_slot *ns = calloc(ncap, sizeof(*ns));
                if (!ns) abort();
                for (size_t i = 0; i <= t->mask; i++) {
                        if (!t->slots[i].key) continue;
                        size_t h = fx_hash(t->slots[i].key, ncap - 1);
                        while (ns[h].key) h = (h + 1) & (ncap - 1);
                        ns[h] = t->slots[i];
                }
                free(t->slots);
                t->slots = ns;
                t->mask = ncap - 1;
        }
        size_t h = fx_hash(key, t->mask);
        while (t->slots[h].key && t->slots[h].key != key) h = (h + 1) & t->mask;
        if (t->slots[h].key) return t->slots[h].line;
        t->n++;
        t->slots[h] = (fx_slot){.key = key, .rate = rate, .line = line};
        return 0;
}

static int fx_row(const cf_csv_row *row, void *opaque, char *errstr, size_t errstr_size)
{
        cf_fx_table *t = ((void **)opaque)[0];
        const int *idx = ((void **)opaque)[1];
        const char *cur = row->v[idx[0]], *period = row->v[idx[1]], *rate = row->v[idx[2]];
        if (strlen(cur) != 3 || cur[0] < 'A' || cur[0] > 'Z' || cur[1] < 'A' || cur[1] > 'Z' ||
            cur[2] < 'A' || cur[2] > 'Z') {
                snprintf(errstr, errstr_size, "%s:%d: currency '%s' is not an ISO 4217 code",
                         row->file, row->line, cur);
                return -1;
        }
        int yyyymm = 0;
        if (strcmp(period, "*")) {
                int y = 0, m = 0, ok = strlen(period) == 7 && period[4] == '-';
                for (int i = 0; ok && i < 7; i++)
                        if (i != 4) ok = period[i] >= '0' && period[i] <= '9';
                if (ok) y = atoi(period), m = atoi(period + 5);
                if (!ok || m < 1 || m > 12) {
                        snprintf(errstr, errstr_size,
                                 "%s:%d: period '%s' must be YYYY-MM or *", row->file, row->line,
                                 period);
                        return -1;
                }
                yyyymm = y * 100 + m;
        }
        char *end;
        errno = 0;
        double r = strtod(rate, &end);
        if (errno || end == rate || *end || !(r > 0) || !isfinite(r)) {
                snprintf(errstr, errstr_size, "%s:%d: usd_per_unit '%s' must be a positive number",
                         row->file, row->line, rate);
                return -1;
        }
        /* two rates for one month would silently overwrite each other */
        int first = fx_put(t, fx_key(cur, yyyymm), r, row->line);
        if (first) {
                snprintf(errstr, errstr_size, "%s:%d: duplicate rate for %s %s (first at line %d)",
                         row->file, row->line, cur, period, first);
                return -1;
        }
        return 0;
}

cf_fx_table *cf_fx_load(const char *path, char *errstr, size_t errstr_size)
{
        cf_fx_table *t = calloc(1, sizeof(*t));
        t->mask = 63;
        t->slots = calloc(64, sizeof(*t->slots));
        static const char *const req[] = {"currency", "period", "usd_per_unit", NULL};
        int idx[3];
        void *op[2] = {t, idx};
        if (cf_csv_read(path, req, idx, NULL, NULL, fx_row, op, errstr, errstr_size)) {
                cf_fx_free(t);
                return NULL;
        }
        return t;
}

double cf_fx_rate(const cf_fx_table *t, const char *cur, int yyyymm)
{
        for (int pass = 0; pass < 2; pass++) {
                uint64_t key = fx_key(cur, pass ? 0 : yyyymm);
                size_t h = fx_hash(key, t->mask);
                while (t->slots[h].key) {
                        if (t->slots[h].key == key) return t->slots[h].rate;
                        h = (h + 1) & t->mask;
                }
        }
        return 0;
}

int cf_fx_convert(const cf_fx_table *t, cf_batch *b, cf_record *r)
{
        cf_decl *d = &r->decl;
        int ym = cf_epoch_ms_yyyymm(d->event_time_ms);
        double rate = cf_fx_rate(t, d->currency, ym);
        if (rate <= 0) {
                cf_record_dead_letter(b, r, CF_E_FX, "currency: no fx rate for %s in %04d-%02d",
                                      d->currency, ym / 100, ym % 100);
                return -1;
        }
        d->value_usd = d->customs_value * rate;
        return 0;
}

size_t cf_fx_size(const cf_fx_table *t)
{
        return t->n;
}

void cf_fx_free(cf_fx_table *t)
{
        if (!t) return;
        free(t->slots);
        free(t);
}
