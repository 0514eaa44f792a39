#include "check.h"
#include "cli/histogram.h"

#include <stdint.h>

/* Every bucket's range must touch the next one's, so that no value falls
 * between two buckets and every value maps back into its own range. */
static void test_buckets_tile_the_range(void) {
    CHECK_EQ_INT(hist_bucket_low(0), 0);
    for (unsigned b = 0; b + 1 < HIST_BUCKETS; b++) {
        if (hist_bucket_high(b) + 1 != hist_bucket_low(b + 1)) {
            CHECK(hist_bucket_high(b) + 1 == hist_bucket_low(b + 1));
            return;
        }
        CHECK_EQ_INT(hist_bucket_of(hist_bucket_low(b)), b);
        CHECK_EQ_INT(hist_bucket_of(hist_bucket_high(b)), b);
    }
    CHECK(hist_bucket_high(HIST_BUCKETS - 1) == UINT64_MAX);
    CHECK_EQ_INT(hist_bucket_of(UINT64_MAX), HIST_BUCKETS - 1);
}

/* The promise in the header: a bucket is never wider than 1/HIST_SUB_HALF
 * of the values it holds, and small values are exact. */
static void test_relative_error_bound(void) {
    for (uint64_t v = 0; v < HIST_SUB_COUNT; v++) {
        unsigned b = hist_bucket_of(v);
        CHECK(hist_bucket_low(b) == v && hist_bucket_high(b) == v);
    }
    uint64_t v = HIST_SUB_COUNT;
    while (v < UINT64_MAX / 3) {
        unsigned b = hist_bucket_of(v);
        uint64_t width = hist_bucket_high(b) - hist_bucket_low(b) + 1;
        CHECK(width * HIST_SUB_HALF <= hist_bucket_low(b));
        v = v * 3 + 1;
    }
}

static void test_empty_and_single(void) {
    static struct histogram h;
    hist_init(&h);
    CHECK_EQ_INT(hist_percentile(&h, 50), 0);
    CHECK_EQ_INT(hist_percentile(&h, 100), 0);
    CHECK(hist_mean(&h) == 0.0);
    hist_record(&h, 123456789);
    CHECK_EQ_INT(h.count, 1);
    /* One value: every percentile is that value exactly (clamped to the
     * recorded min and max rather than the bucket edge). */
    CHECK_EQ_INT(hist_percentile(&h, 0), 123456789);
    CHECK_EQ_INT(hist_percentile(&h, 50), 123456789);
    CHECK_EQ_INT(hist_percentile(&h, 99.9), 123456789);
    CHECK_EQ_INT(hist_percentile(&h, 100), 123456789);
}

/* 1..100000 recorded once each: the k-th percentile is k * 1000 within the
 * bucket's error, and never below it. */
static void test_uniform_percentiles(void) {
    static struct histogram h;
    hist_init(&h);
    for (uint64_t v = 1; v <= 100000; v++) hist_record(&h, v);
    const double pcts[] = {1, 10, 50, 90, 99, 99.9, 99.99};
    for (unsigned i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++) {
        double want = pcts[i] * 1000.0;
        double got = (double)hist_percentile(&h, pcts[i]);
        CHECK(got >= want);
        CHECK(got <= want * (1.0 + 1.0 / HIST_SUB_HALF) + 1);
    }
    CHECK_EQ_INT(hist_percentile(&h, 100), 100000);
    CHECK_EQ_INT(h.min, 1);
    CHECK_EQ_INT(h.max, 100000);
    CHECK(hist_mean(&h) > 50000.4 && hist_mean(&h) < 50000.6);
}

/* A rare stall must show in the tail: 999 fast values and one slow one put
 * p99.9 at the fast value and the max at the slow one; p99.95 reaches it. */
static void test_tail_visible(void) {
    static struct histogram h;
    hist_init(&h);
    for (int i = 0; i < 999; i++) hist_record(&h, 1000);
    hist_record(&h, 50000000);
    uint64_t p999 = hist_percentile(&h, 99.9);
    CHECK(p999 >= 1000 && p999 < 1010);
    CHECK_EQ_INT(hist_percentile(&h, 99.95), 50000000);
    CHECK_EQ_INT(hist_percentile(&h, 100), 50000000);
}

/* Merging per-thread histograms must give exactly what recording everything
 * into one would. */
static void test_merge_equals_single(void) {
    static struct histogram a, b, all;
    hist_init(&a);
    hist_init(&b);
    hist_init(&all);
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint64_t v = x % 10000000;
        hist_record(i % 3 ? &a : &b, v);
        hist_record(&all, v);
    }
    static struct histogram m;
    hist_init(&m);
    hist_merge(&m, &a);
    hist_merge(&m, &b);
    CHECK_EQ_INT(m.count, all.count);
    CHECK_EQ_INT(m.min, all.min);
    CHECK_EQ_INT(m.max, all.max);
    int same = 1;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) same &= m.buckets[i] == all.buckets[i];
    CHECK(same);
    CHECK_EQ_INT(hist_percentile(&m, 99), hist_percentile(&all, 99));
    /* Merging an empty histogram changes nothing, min included. */
    static struct histogram e;
    hist_init(&e);
    hist_merge(&m, &e);
    CHECK_EQ_INT(m.min, all.min);
    CHECK_EQ_INT(m.count, all.count);
}

int main(void) {
    TEST_RUN(test_buckets_tile_the_range);
    TEST_RUN(test_relative_error_bound);
    TEST_RUN(test_empty_and_single);
    TEST_RUN(test_uniform_percentiles);
    TEST_RUN(test_tail_visible);
    TEST_RUN(test_merge_equals_single);
    TEST_EXIT();
}
