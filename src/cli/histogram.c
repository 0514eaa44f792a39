#include "cli/histogram.h"

#include <string.h>

void hist_init(struct histogram *h) {
    memset(h, 0, sizeof(*h));
    h->min = UINT64_MAX;
}

unsigned hist_bucket_of(uint64_t v) {
    if (v < HIST_SUB_COUNT) return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    /* Shift that leaves the top HIST_SUB_BITS bits: the sub-bucket then
     * lies in [HIST_SUB_HALF, HIST_SUB_COUNT). */
    unsigned shift = msb - HIST_SUB_BITS + 1;
    unsigned sub = (unsigned)(v >> shift);
    return HIST_SUB_COUNT + (shift - 1) * HIST_SUB_HALF + (sub - HIST_SUB_HALF);
}

uint64_t hist_bucket_low(unsigned b) {
    if (b < HIST_SUB_COUNT) return b;
    unsigned rel = b - HIST_SUB_COUNT;
    unsigned shift = rel / HIST_SUB_HALF + 1;
    uint64_t sub = rel % HIST_SUB_HALF + HIST_SUB_HALF;
    return sub << shift;
}

uint64_t hist_bucket_high(unsigned b) {
    if (b < HIST_SUB_COUNT) return b;
    unsigned shift = (b - HIST_SUB_COUNT) / HIST_SUB_HALF + 1;
    /* Written as low + (width - 1) so the top bucket ends at UINT64_MAX
     * without overflowing. */
    return hist_bucket_low(b) + ((UINT64_C(1) << shift) - 1);
}

void hist_record(struct histogram *h, uint64_t v) {
    h->buckets[hist_bucket_of(v)]++;
    h->count++;
    h->sum += (double)v;
    if (v < h->min) h->min = v;
    if (v > h->max) h->max = v;
}

void hist_merge(struct histogram *dst, const struct histogram *src) {
    if (src->count == 0) return;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) dst->buckets[i] += src->buckets[i];
    dst->count += src->count;
    dst->sum += src->sum;
    if (src->min < dst->min) dst->min = src->min;
    if (src->max > dst->max) dst->max = src->max;
}

uint64_t hist_percentile(const struct histogram *h, double pct) {
    if (h->count == 0) return 0;
    if (pct <= 0) return h->min;
    if (pct >= 100) return h->max;
    /* Rank of the value wanted, 1-based, rounded up: p99 of 1000 values is
     * the 990th smallest. The small shave keeps binary rounding (99.9 is
     * not exact in a double) from pushing an exact rank up by one. */
    double exact = pct * (double)h->count / 100.0 * (1.0 - 1e-12);
    uint64_t rank = (uint64_t)exact;
    if ((double)rank < exact) rank++;
    if (rank == 0) rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            uint64_t v = hist_bucket_high(i);
            if (v > h->max) v = h->max;
            if (v < h->min) v = h->min;
            return v;
        }
    }
    return h->max;
}

double hist_mean(const struct histogram *h) {
    return h->count ? h->sum / (double)h->count : 0.0;
}
