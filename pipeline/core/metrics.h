/*
 * metrics.h - the typed metrics registry, in the spirit of Fluent Bit's
 * cmetrics: counter, gauge and histogram families whose name, help and label
 * names are declared once; series looked up by label values when a stage or
 * worker sets up (init, partition assignment), never per record; updates
 * through the series handle.
 *
 * Threads: a registry has one writer thread (a worker and the chain it runs).
 * The writer creates families and series under the registry's lock (a reader
 * may be encoding) and updates values with relaxed atomic load + store: with a
 * single writer no read-modify-write is needed, so an update costs a plain
 * load and store. Any thread may encode (cf_metrics_encode), reading values
 * with relaxed loads. Several registries (one per worker) are merged when
 * encoded: the series of one family with equal label values are combined
 * (cf_metric_merge), so the output has one series per label set.
 * A component whose counts come from several threads (the console: HTTP pool,
 * ingest and outbox threads) creates its series at set-up and updates them
 * with the _shared variants (atomic read-modify-write) instead.
 */
#ifndef CF_METRICS_H
#define CF_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "pipeline/core/buf.h"

typedef enum cf_metric_type {
        CF_METRIC_COUNTER,
        CF_METRIC_GAUGE,
        CF_METRIC_HISTOGRAM,
} cf_metric_type;

/** How one family's series from several registries combine when encoded. */
typedef enum cf_metric_merge {
        CF_MERGE_SUM, /* counters, histograms; gauges of amounts (queue depth, bytes) */
        CF_MERGE_MIN, /* gauges of a condition that must hold in every worker */
        CF_MERGE_MAX, /* gauges of a high mark */
} cf_metric_merge;

typedef struct cf_metrics cf_metrics;
typedef struct cf_metric cf_metric;

/** One series (a family's value for one set of label values); fields are the registry's. */
typedef struct cf_series {
        _Atomic uint64_t v;        /* counter: the count; gauge: the bits of a double */
        _Atomic uint64_t sum;      /* histogram: the bits of the double sum */
        _Atomic uint64_t *buckets; /* histogram: nb + 1 counts, not cumulative */
        _Atomic bool set;          /* gauge: has a value (an unset gauge is left out) */
        uint32_t nb;               /* histogram: number of bounds */
        const double *bounds;      /* histogram: upper bounds, ascending */
        const cf_metric *fam;
        const char **values; /* label values, one block */
        uint64_t hash;
} cf_series;

/** A new empty registry. */
cf_metrics *cf_metrics_new(void);
/** Free a registry, its families and series (no thread may use its handles after). */
void cf_metrics_free(cf_metrics *m);

/**
 * Declare a counter family; labels = comma-separated label names ("topic,partition",
 * NULL or "" for none). Declaring a family again with the same type and labels returns
 * it; a conflicting declaration or an invalid name is a programming error (abort).
 * m NULL: returns NULL, whose series are a shared sink (stages built without a registry).
 * @locality: the registry's writer thread
 */
cf_metric *cf_metrics_counter(cf_metrics *m, const char *name, const char *help,
                              const char *labels);
/**
 * Declare a counter family of a count every worker keeps of the same replicated
 * state (learnt from the outcomes input, which every worker reads whole): merged by
 * MAX -- one worker's count, not the sum of the copies. Set with cf_counter_set.
 */
cf_metric *cf_metrics_counter_replicated(cf_metrics *m, const char *name, const char *help,
                                         const char *labels);
/** Declare a gauge family, merged across registries by merge (see cf_metrics_counter). */
cf_metric *cf_metrics_gauge(cf_metrics *m, const char *name, const char *help, const char *labels,
                            cf_metric_merge merge);
/** Declare a histogram family with nb ascending upper bounds (+Inf is implicit). */
cf_metric *cf_metrics_histogram(cf_metrics *m, const char *name, const char *help,
                                const char *labels, const double *bounds, size_t nb);

/**
 * The series of f for these label values (as many as f has label names), created
 * at its zero value (an unset gauge) when new. Call it when setting up, not per record.
 * f NULL: the shared sink series (updates are discarded).
 * @locality: the registry's writer thread
 */
cf_series *cf_metric_series(cf_metric *f, ...);
/** cf_metric_series with the label values in an array. */
cf_series *cf_metric_series_v(cf_metric *f, const char *const *values);
/** The only series of a counter family without labels (declared if new). @locality: writer */
cf_series *cf_metrics_counter_series(cf_metrics *m, const char *name, const char *help);
/** The only series of a gauge family without labels (declared if new). @locality: writer */
cf_series *cf_metrics_gauge_series(cf_metrics *m, const char *name, const char *help,
                                   cf_metric_merge merge);
/** Forget a series (its label values no longer apply, e.g. an info metric's old
 *  checksum); s must not be used after. The sink is left alone. @locality: writer */
void cf_metric_series_remove(cf_series *s);

/** Add n to a counter. @locality: the registry's writer thread */
static inline void cf_counter_add(cf_series *s, uint64_t n)
{
        uint64_t v = atomic_load_explicit(&s->v, memory_order_relaxed);
        atomic_store_explicit(&s->v, v + n, memory_order_relaxed);
}

/** Add 1 to a counter. @locality: the registry's writer thread */
static inline void cf_counter_inc(cf_series *s)
{
        cf_counter_add(s, 1);
}

/** Add n to a counter written by several threads (atomic add). @locality: any thread */
static inline void cf_counter_add_shared(cf_series *s, uint64_t n)
{
        atomic_fetch_add_explicit(&s->v, n, memory_order_relaxed);
}

/** Set a counter to a count kept in state (a replicated family's): never lower it. */
static inline void cf_counter_set(cf_series *s, uint64_t v)
{
        if (v > atomic_load_explicit(&s->v, memory_order_relaxed))
                atomic_store_explicit(&s->v, v, memory_order_relaxed);
}

/** Take a counter back to an earlier value of its own (exactly_once: the counts of an
 *  aborted transaction, whose records are processed again); a scraper sees a counter reset.
 *  @locality: the registry's writer thread */
static inline void cf_counter_rewind(cf_series *s, uint64_t v)
{
        atomic_store_explicit(&s->v, v, memory_order_relaxed);
}

/** A counter's value. @locality: any thread */
static inline uint64_t cf_counter_get(const cf_series *s)
{
        return atomic_load_explicit(&((cf_series *)s)->v, memory_order_relaxed);
}

/**
 * Advance a counter that mirrors a count kept elsewhere (a stage's state): add what
 * now has above *seen, then *seen = now. rebase, or now below *seen (the state was
 * replaced by a restore, drop or reload), takes now as the new base without counting.
 */
static inline void cf_counter_follow(cf_series *s, uint64_t *seen, uint64_t now, int rebase)
{
        if (!rebase && now > *seen) cf_counter_add(s, now - *seen);
        *seen = now;
}

/** Set a gauge. @locality: the registry's writer thread */
static inline void cf_gauge_set(cf_series *s, double v)
{
        uint64_t bits;
        memcpy(&bits, &v, sizeof bits);
        atomic_store_explicit(&s->v, bits, memory_order_relaxed);
        atomic_store_explicit(&s->set, true, memory_order_relaxed);
}

/** Unset a gauge: it is left out of the output (e.g. a revoked partition's state size). */
static inline void cf_gauge_unset(cf_series *s)
{
        atomic_store_explicit(&s->set, false, memory_order_relaxed);
}

/** A gauge's value (0 when unset). @locality: any thread */
static inline double cf_gauge_get(const cf_series *s)
{
        uint64_t bits = atomic_load_explicit(&((cf_series *)s)->v, memory_order_relaxed);
        double v;
        memcpy(&v, &bits, sizeof v);
        return v;
}

/** Count v in a histogram (in the first bucket whose bound is >= v). @locality: writer */
static inline void cf_histogram_observe(cf_series *s, double v)
{
        uint32_t i = 0;
        while (i < s->nb && v > s->bounds[i])
                i++;
        uint64_t c = atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
        atomic_store_explicit(&s->buckets[i], c + 1, memory_order_relaxed);
        uint64_t bits = atomic_load_explicit(&s->sum, memory_order_relaxed);
        double sum;
        memcpy(&sum, &bits, sizeof sum);
        sum += v;
        memcpy(&bits, &sum, sizeof bits);
        atomic_store_explicit(&s->sum, bits, memory_order_relaxed);
}

/** cf_histogram_observe for a series written by several threads. @locality: any thread */
static inline void cf_histogram_observe_shared(cf_series *s, double v)
{
        uint32_t i = 0;
        while (i < s->nb && v > s->bounds[i])
                i++;
        atomic_fetch_add_explicit(&s->buckets[i], 1, memory_order_relaxed);
        uint64_t bits = atomic_load_explicit(&s->sum, memory_order_relaxed), next;
        do {
                double sum;
                memcpy(&sum, &bits, sizeof sum);
                sum += v;
                memcpy(&next, &sum, sizeof next);
        } while (!atomic_compare_exchange_weak_explicit(&s->sum, &bits, next, memory_order_relaxed,
                                                        memory_order_relaxed));
}

/**
 * A stage's per-partition series: slot i of the growable array (*v, *n). An existing
 * block is returned as is; else a new zeroed block of size bytes, with *created set and
 * label holding i in decimal, for the caller to look up its series.
 */
void *cf_metrics_part(void ***v, size_t *n, size_t i, size_t size, char label[16], bool *created);

/** The partition dispatch of a stage's collect: fn(ctx, partition, rebase), or for
 *  partition -1 fn(ctx, i, rebase) for every i < n. */
static inline void cf_metrics_each_part(int32_t partition, size_t n,
                                        void (*fn)(void *ctx, size_t i, int rebase), void *ctx,
                                        int rebase)
{
        if (partition >= 0) {
                fn(ctx, (size_t)partition, rebase);
                return;
        }
        for (size_t i = 0; i < n; i++)
                fn(ctx, i, rebase);
}

/**
 * The sum of family name's counter or gauge values (unset gauges left out) over its
 * series whose label equals value (label NULL: every series); 0 when not declared.
 * For a program reading its own figures (bench), not for encoding. @locality: any thread
 */
double cf_metrics_sum(cf_metrics *m, const char *name, const char *label, const char *value);

/**
 * Append the Prometheus text exposition (format 0.0.4) of n registries merged:
 * families in order of first declaration, # HELP and # TYPE once each, one
 * series per label set (combined per cf_metric_merge), label values escaped,
 * histograms as _bucket{le} (cumulative, +Inf last), _sum and _count.
 * @locality: any thread (takes each registry's lock)
 */
void cf_metrics_encode(cf_buf *out, cf_metrics *const *regs, size_t n);

#endif
