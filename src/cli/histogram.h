/*
 * A latency histogram in the HDR style: log-linear buckets, so every value
 * from 0 to UINT64_MAX is counted with a relative error of at most
 * 1 / HIST_SUB_HALF (under 0.8%) in a fixed, small table. Recording is
 * a few instructions and never allocates, so it can sit on a client's hot
 * path; two histograms merge by adding counts, so each thread keeps its own
 * and they are combined at the end without locks.
 *
 * Layout: values below HIST_SUB_COUNT get a bucket each (exact). Above that,
 * each power-of-two range [2^k, 2^(k+1)) is split into HIST_SUB_HALF equal
 * buckets. The unit is the caller's (the bench tool records nanoseconds).
 */
#ifndef GREGOR_CLI_HISTOGRAM_H
#define GREGOR_CLI_HISTOGRAM_H

#include <stdint.h>

/* 2^8 linear sub-buckets: 128 per octave above 256, i.e. <= 0.78% error,
 * which is finer than anything a benchmark on a noisy machine resolves. */
#define HIST_SUB_BITS 8
#define HIST_SUB_COUNT (1u << HIST_SUB_BITS)
#define HIST_SUB_HALF (HIST_SUB_COUNT / 2)
/* Octaves above the linear range: values up to 2^64 - 1. */
#define HIST_OCTAVES (64 - HIST_SUB_BITS)
/* 256 + 56 * 128 = 7424 counters, 58 KiB per histogram. */
#define HIST_BUCKETS (HIST_SUB_COUNT + HIST_OCTAVES * HIST_SUB_HALF)

struct histogram {
    uint64_t count;
    uint64_t min;  /* exact, UINT64_MAX while empty */
    uint64_t max;  /* exact */
    double sum;    /* for the mean; a double so it cannot overflow */
    uint64_t buckets[HIST_BUCKETS];
};

void hist_init(struct histogram *h);
void hist_record(struct histogram *h, uint64_t value);
/* Adds src's counts into dst; src is unchanged. */
void hist_merge(struct histogram *dst, const struct histogram *src);
/* The value at or below which `pct` percent of recorded values lie,
 * reported as the highest value of its bucket (clamped to the exact max),
 * so a percentile never under-states latency. 0 when empty. pct in [0,100]. */
uint64_t hist_percentile(const struct histogram *h, double pct);
double hist_mean(const struct histogram *h);

/* Bucket arithmetic, exposed for the unit test. */
unsigned hist_bucket_of(uint64_t value);
uint64_t hist_bucket_low(unsigned bucket);
uint64_t hist_bucket_high(unsigned bucket);

#endif
