/*
 * Counters and latency histograms for the Prometheus endpoint, and the
 * helpers that write them in the text exposition format (version 0.0.4).
 *
 * Hot-path cost: observing a latency is a short scan of a fixed bucket
 * table and three additions; nothing allocates, formats or locks. The
 * structs are plain data owned by one thread (today the event loop): a
 * loop-per-core broker would keep one per loop and add them up when
 * rendering, which is why nothing here is atomic or global.
 */
#ifndef GREGOR_METRICS_H
#define GREGOR_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/obuf.h"

/* Upper bounds of the latency buckets, in microseconds: 1-2.5-5 steps from
 * 50 us to 30 s, which spans a page-cache append up to a long poll or a
 * rebalance. Prometheus adds +Inf. Fixed, so histograms of different
 * APIs (and of different loops) add up bucket by bucket. */
#define METRICS_LATENCY_BUCKETS 18
extern const uint64_t metrics_latency_bounds_us[METRICS_LATENCY_BUCKETS];

struct metrics_histogram {
    uint64_t buckets[METRICS_LATENCY_BUCKETS + 1];  /* not cumulative; the last is +Inf */
    uint64_t count;
    uint64_t sum_us;
};

/* Relaxed atomic adds: the fsync histogram is fed by cleaner threads and
 * event loops at once, and a scrape reads while they write. */
static inline void metrics_observe_us(struct metrics_histogram *h, uint64_t us) {
    uint32_t i = 0;
    while (i < METRICS_LATENCY_BUCKETS && us > metrics_latency_bounds_us[i]) i++;
    __atomic_fetch_add(&h->buckets[i], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&h->count, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&h->sum_us, us, __ATOMIC_RELAXED);
}

/* ---- text exposition ----
 * A family is announced once with prom_family, then its samples follow.
 * Labels come as alternating name/value strings ending with NULL; values
 * are escaped (backslash, quote, newline), valid UTF-8 passes through and
 * invalid bytes become the text \xNN (a real backslash the text \\), so
 * any group id gives a valid line and distinct ids distinct series. */
enum prom_type { PROM_COUNTER, PROM_GAUGE, PROM_HISTOGRAM };

void prom_family(struct obuf *ob, const char *name, enum prom_type type, const char *help);
/* One sample: name{labels} value. */
void prom_sample_u64(struct obuf *ob, const char *name, const char *const *labels, uint64_t value);
void prom_sample_i64(struct obuf *ob, const char *name, const char *const *labels, int64_t value);
void prom_sample_f64(struct obuf *ob, const char *name, const char *const *labels, double value);
/* The _bucket, _sum (in seconds) and _count lines of one histogram. */
void prom_histogram(struct obuf *ob, const char *name, const char *const *labels, const struct metrics_histogram *h);
/* printf into the buffer (sticky failure like the rest of obuf). */
void obuf_printf(struct obuf *ob, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
