#include "check.h"
#include "protocol/crc32c.h"
#include "protocol/record_batch.h"

#include <stdint.h>
#include <string.h>

static uint8_t buf[4096];

/* Three records: keyed, null key, null value; timestamps 1000, 1005, 1002. */
static size_t build3(int16_t attrs) {
    struct rb_record_spec recs[3] = {
        {.timestamp = 1000, .key = "k1", .key_len = 2, .value = "hello", .value_len = 5},
        {.timestamp = 1005, .key = NULL, .key_len = -1, .value = "x", .value_len = 1},
        {.timestamp = 1002, .key = "k3", .key_len = 2, .value = NULL, .value_len = -1},
    };
    struct rb_batch_spec spec = {.base_offset = 0, .attributes = attrs, .producer_id = -1,
                                 .producer_epoch = -1, .base_sequence = -1};
    return rb_build_batch(buf, sizeof(buf), &spec, recs, 3);
}

static void refresh_crc(size_t n) { rb_put_be32(buf + RB_OFF_CRC, rb_compute_crc(buf, (uint32_t)n)); }

static void test_build_parse_validate(void) {
    size_t n = build3(0);
    CHECK(n > RB_HEADER_BYTES);
    uint32_t bytes = 0;
    CHECK_EQ_INT(rb_validate(buf, n, &bytes), RB_OK);
    CHECK_EQ_INT(bytes, n);
    CHECK_EQ_INT(rb_validate_for_produce(buf, n + 10, &bytes), RB_OK); /* trailing bytes belong to the next batch */
    CHECK_EQ_INT(bytes, n);
    struct rb_header h;
    CHECK_EQ_INT(rb_parse_header(buf, n, &h), 0);
    CHECK_EQ_INT(h.magic, 2);
    CHECK_EQ_INT(h.record_count, 3);
    CHECK_EQ_INT(h.last_offset_delta, 2);
    CHECK_EQ_INT(h.base_timestamp, 1000);
    CHECK_EQ_INT(h.max_timestamp, 1005);
    CHECK_EQ_INT(h.producer_id, -1);
    CHECK_EQ_INT(rb_total_bytes(&h), n);
    CHECK_EQ_INT(rb_parse_header(buf, RB_HEADER_BYTES - 1, &h), -1);

    struct rb_record_iter it;
    struct rb_record r;
    rb_records_begin(&it, buf, (uint32_t)n);
    CHECK_EQ_INT(rb_records_next(&it, &r), 1);
    CHECK_EQ_INT(r.timestamp, 1000);
    CHECK_EQ_INT(r.key_len, 2);
    CHECK(memcmp(r.key, "k1", 2) == 0);
    CHECK(memcmp(r.value, "hello", 5) == 0);
    CHECK_EQ_INT(rb_records_next(&it, &r), 1);
    CHECK_EQ_INT(r.key_len, -1);
    CHECK(r.key == NULL);
    CHECK_EQ_INT(r.offset_delta, 1);
    CHECK_EQ_INT(rb_records_next(&it, &r), 1);
    CHECK_EQ_INT(r.value_len, -1);
    CHECK_EQ_INT(r.timestamp, 1002);
    CHECK_EQ_INT(rb_records_next(&it, &r), 0);

    int32_t delta;
    int64_t ts;
    CHECK_EQ_INT(rb_find_timestamp(buf, (uint32_t)n, 1001, 0, &delta, &ts), 0);
    CHECK_EQ_INT(delta, 1);
    CHECK_EQ_INT(ts, 1005);
    CHECK_EQ_INT(rb_find_timestamp(buf, (uint32_t)n, 1000, 0, &delta, &ts), 0);
    CHECK_EQ_INT(delta, 0);
    CHECK_EQ_INT(rb_find_timestamp(buf, (uint32_t)n, 1000, 2, &delta, &ts), 0);
    CHECK_EQ_INT(delta, 2);
    CHECK_EQ_INT(rb_find_timestamp(buf, (uint32_t)n, 1006, 0, &delta, &ts), 1);
}

/* One record written out byte by byte from the format description, so the
 * builder and the parser are not only checked against each other. */
static void test_hand_encoded_batch(void) {
    static const uint8_t expect[] = {
        0, 0, 0, 0, 0, 0, 0, 0,                         /* baseOffset 0 */
        0, 0, 0, 57,                                    /* batchLength: 69 - 12 */
        0, 0, 0, 0,                                     /* partitionLeaderEpoch */
        2,                                              /* magic */
        0, 0, 0, 0,                                     /* crc, filled below */
        0, 0,                                           /* attributes */
        0, 0, 0, 0,                                     /* lastOffsetDelta */
        0, 0, 0, 0, 0, 0, 0x03, 0xe8,                   /* baseTimestamp 1000 */
        0, 0, 0, 0, 0, 0, 0x03, 0xe8,                   /* maxTimestamp 1000 */
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* producerId -1 */
        0xff, 0xff,                                     /* producerEpoch -1 */
        0xff, 0xff, 0xff, 0xff,                         /* baseSequence -1 */
        0, 0, 0, 1,                                     /* recordCount 1 */
        0x0e,                                           /* record length 7 (zigzag 14) */
        0x00,                                           /* attributes */
        0x00,                                           /* timestampDelta 0 */
        0x00,                                           /* offsetDelta 0 */
        0x01,                                           /* keyLength -1: null */
        0x02, 'a',                                      /* valueLength 1, "a" */
        0x00,                                           /* no headers */
    };
    uint8_t hand[sizeof(expect)];
    memcpy(hand, expect, sizeof(hand));
    rb_put_be32(hand + RB_OFF_CRC, crc32c(0, hand + RB_OFF_ATTRIBUTES, sizeof(hand) - RB_OFF_ATTRIBUTES));
    uint32_t n;
    CHECK_EQ_INT(rb_validate_for_produce(hand, sizeof(hand), &n), RB_OK);
    CHECK_EQ_INT(n, sizeof(hand));

    struct rb_record_spec rec = {.timestamp = 1000, .key_len = -1, .value = "a", .value_len = 1};
    struct rb_batch_spec spec = {.producer_id = -1, .producer_epoch = -1, .base_sequence = -1};
    CHECK_EQ_INT(rb_build_batch(buf, sizeof(buf), &spec, &rec, 1), sizeof(hand));
    CHECK(memcmp(buf, hand, sizeof(hand)) == 0);
}

static void test_structural_errors(void) {
    size_t n = build3(0);
    CHECK_EQ_INT(rb_validate(buf, 10, NULL), RB_ERR_TRUNCATED);
    CHECK_EQ_INT(rb_validate(buf, RB_HEADER_BYTES - 1, NULL), RB_ERR_TRUNCATED);
    CHECK_EQ_INT(rb_validate(buf, n - 1, NULL), RB_ERR_TRUNCATED);

    buf[RB_OFF_MAGIC] = 1;
    CHECK_EQ_INT(rb_validate(buf, n, NULL), RB_ERR_MAGIC);
    CHECK_EQ_INT(rb_validate(buf, 20, NULL), RB_ERR_MAGIC); /* short v0/v1 message still reads as old format */
    buf[RB_OFF_MAGIC] = 2;

    rb_put_be32(buf + RB_OFF_BATCH_LENGTH, RB_BATCH_LENGTH_MIN - 1);
    CHECK_EQ_INT(rb_validate(buf, n, NULL), RB_ERR_LENGTH);
    rb_put_be32(buf + RB_OFF_BATCH_LENGTH, 0x80000000u);
    CHECK_EQ_INT(rb_validate(buf, n, NULL), RB_ERR_LENGTH);
    rb_put_be32(buf + RB_OFF_BATCH_LENGTH, (uint32_t)(n - RB_LOG_OVERHEAD));

    buf[n - 1] ^= 1;
    CHECK_EQ_INT(rb_validate(buf, n, NULL), RB_ERR_CRC);
    buf[n - 1] ^= 1;
    CHECK_EQ_INT(rb_validate(buf, n, NULL), RB_OK);

    rb_put_be16(buf + RB_OFF_ATTRIBUTES, 5);
    refresh_crc(n);
    CHECK_EQ_INT(rb_validate(buf, n, NULL), RB_ERR_CODEC);
    rb_put_be16(buf + RB_OFF_ATTRIBUTES, 0);

    rb_put_be32(buf + RB_OFF_RECORD_COUNT, (uint32_t)-1);
    refresh_crc(n);
    CHECK_EQ_INT(rb_validate(buf, n, NULL), RB_ERR_COUNT);
    rb_put_be32(buf + RB_OFF_RECORD_COUNT, 4); /* more records than lastOffsetDelta allows */
    refresh_crc(n);
    CHECK_EQ_INT(rb_validate(buf, n, NULL), RB_ERR_COUNT);
    rb_put_be32(buf + RB_OFF_RECORD_COUNT, 3);
    refresh_crc(n);
    CHECK_EQ_INT(rb_validate(buf, n, NULL), RB_OK);

    CHECK(strcmp(rb_check_name(RB_ERR_CRC), "bad_crc") == 0);
}

static void test_produce_rules(void) {
    size_t n = build3(0);
    /* A compacted-looking batch is fine in the log but not from a client. */
    rb_put_be32(buf + RB_OFF_LAST_OFFSET_DELTA, 5);
    refresh_crc(n);
    CHECK_EQ_INT(rb_validate(buf, n, NULL), RB_OK);
    CHECK_EQ_INT(rb_validate_for_produce(buf, n, NULL), RB_ERR_COUNT);

    n = build3(RB_ATTR_CONTROL);
    CHECK_EQ_INT(rb_validate(buf, n, NULL), RB_OK);
    CHECK_EQ_INT(rb_validate_for_produce(buf, n, NULL), RB_ERR_CONTROL);

    /* Fewer records than declared: count 2, but lastOffsetDelta says 1 and the body holds 3. */
    n = build3(0);
    rb_put_be32(buf + RB_OFF_RECORD_COUNT, 2);
    rb_put_be32(buf + RB_OFF_LAST_OFFSET_DELTA, 1);
    refresh_crc(n);
    CHECK_EQ_INT(rb_validate_for_produce(buf, n, NULL), RB_ERR_RECORDS);

    /* A record whose offsetDelta is out of sequence. The first record's
     * offsetDelta byte follows length(1) attributes(1) timestampDelta(1). */
    n = build3(0);
    CHECK_EQ_INT(buf[RB_HEADER_BYTES + 3], 0);
    buf[RB_HEADER_BYTES + 3] = 2; /* zigzag 1 */
    refresh_crc(n);
    CHECK_EQ_INT(rb_validate(buf, n, NULL), RB_OK);
    CHECK_EQ_INT(rb_validate_for_produce(buf, n, NULL), RB_ERR_RECORDS);
    /* An offsetDelta past lastOffsetDelta never becomes a time lookup answer. */
    buf[RB_HEADER_BYTES + 3] = 6; /* zigzag 3, lastOffsetDelta is 2 */
    refresh_crc(n);
    int32_t delta;
    int64_t ts;
    CHECK_EQ_INT(rb_find_timestamp(buf, (uint32_t)n, 0, 0, &delta, &ts), -1);

    /* A record length running past the batch. */
    n = build3(0);
    buf[RB_HEADER_BYTES] = 0x7e;
    refresh_crc(n);
    CHECK_EQ_INT(rb_validate_for_produce(buf, n, NULL), RB_ERR_RECORDS);

    /* A compressed body is not walked: garbage after the header passes. */
    n = build3(0);
    rb_put_be16(buf + RB_OFF_ATTRIBUTES, RB_CODEC_ZSTD);
    memset(buf + RB_HEADER_BYTES, 0xAB, n - RB_HEADER_BYTES);
    refresh_crc(n);
    CHECK_EQ_INT(rb_validate_for_produce(buf, n, NULL), RB_OK);
}

static void test_rewrites(void) {
    size_t n = build3(0);
    uint32_t crc_before = rb_be32(buf + RB_OFF_CRC);
    rb_set_base_offset(buf, 123456789012LL);
    rb_set_leader_epoch(buf, 7);
    CHECK_EQ_INT(rb_be32(buf + RB_OFF_CRC), crc_before);
    CHECK_EQ_INT(rb_validate(buf, n, NULL), RB_OK);
    struct rb_header h;
    rb_parse_header(buf, n, &h);
    CHECK_EQ_INT(h.base_offset, 123456789012LL);
    CHECK_EQ_INT(h.leader_epoch, 7);

    rb_set_log_append_time(buf, (uint32_t)n, 777777);
    CHECK_EQ_INT(rb_validate_for_produce(buf, n, NULL), RB_OK);
    rb_parse_header(buf, n, &h);
    CHECK_EQ_INT(h.max_timestamp, 777777);
    CHECK(h.attributes & RB_ATTR_LOG_APPEND_TIME);
    struct rb_record_iter it;
    struct rb_record r;
    rb_records_begin(&it, buf, (uint32_t)n);
    while (rb_records_next(&it, &r) == 1) CHECK_EQ_INT(r.timestamp, 777777);
}

static void test_builder_limits(void) {
    struct rb_record_spec rec = {.timestamp = 1, .key_len = -1, .value = "v", .value_len = 1};
    struct rb_batch_spec spec = {0};
    uint8_t small[RB_HEADER_BYTES + 2];
    CHECK_EQ_INT(rb_build_batch(small, sizeof(small), &spec, &rec, 1), 0);
    CHECK_EQ_INT(rb_build_batch(buf, sizeof(buf), &spec, &rec, 0), 0);
    spec.attributes = RB_CODEC_GZIP;
    CHECK_EQ_INT(rb_build_batch(buf, sizeof(buf), &spec, &rec, 1), 0);
}

int main(void) {
    TEST_RUN(test_build_parse_validate);
    TEST_RUN(test_hand_encoded_batch);
    TEST_RUN(test_structural_errors);
    TEST_RUN(test_produce_rules);
    TEST_RUN(test_rewrites);
    TEST_RUN(test_builder_limits);
    TEST_EXIT();
}
