#include "check.h"
#include "protocol/batch_builder.h"
#include "protocol/crc32c.h"
#include "protocol/record_batch.h"

#include <stdint.h>
#include <string.h>

static uint8_t buf[4096];

/* Copies a finished batch into buf, where the tests edit it in place;
 * 0 if building failed. Frees the builder either way. */
static size_t finish_into_buf(struct batch_builder *bb) {
    size_t n = 0;
    if (batch_builder_finish(bb) == 0 && bb->ob.len <= sizeof(buf)) {
        memcpy(buf, bb->ob.data, bb->ob.len);
        n = bb->ob.len;
    }
    batch_builder_free(bb);
    return n;
}

/* Three records: keyed, null key, null value; timestamps 1000, 1005, 1002. */
static size_t build3(int16_t attrs) {
    struct batch_builder bb;
    batch_builder_init(&bb, sizeof(buf), 1000);
    CHECK_EQ_INT(batch_builder_set_attributes(&bb, attrs), 0);
    CHECK_EQ_INT(batch_builder_add_at(&bb, 1000, "k1", 2, "hello", 5), 0);
    CHECK_EQ_INT(batch_builder_add_at(&bb, 1005, NULL, -1, "x", 1), 0);
    CHECK_EQ_INT(batch_builder_add_at(&bb, 1002, "k3", 2, NULL, -1), 0);
    return finish_into_buf(&bb);
}

static void refresh_crc(size_t n) { rb_put_be32(buf + RB_OFF_CRC, rb_compute_crc(buf, (uint32_t)n)); }

/* rb_find_timestamp over the first n bytes of buf, when only its verdict
 * (1 none, -1 malformed) matters. */
static int find_rc(size_t n, int64_t ts, int32_t min_delta) {
    int32_t delta;
    int64_t found;
    return rb_find_timestamp(buf, (uint32_t)n, ts, min_delta, &delta, &found);
}

/* rb_find_timestamp over the first n bytes of buf must find the record at
 * want_delta, whose timestamp is want_ts. */
static void check_found(size_t n, int64_t ts, int32_t min_delta, int32_t want_delta, int64_t want_ts) {
    int32_t delta = -1;
    int64_t found = -1;
    CHECK_EQ_INT(rb_find_timestamp(buf, (uint32_t)n, ts, min_delta, &delta, &found), 0);
    CHECK_EQ_INT(delta, want_delta);
    CHECK_EQ_INT(found, want_ts);
}

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
    CHECK_EQ_INT(r.rec.key_len, 2);
    CHECK(memcmp(r.rec.key, "k1", 2) == 0);
    CHECK(memcmp(r.rec.value, "hello", 5) == 0);
    CHECK_EQ_INT(rb_records_next(&it, &r), 1);
    CHECK_EQ_INT(r.rec.key_len, -1);
    CHECK(r.rec.key == NULL);
    CHECK_EQ_INT(r.rec.offset_delta, 1);
    CHECK_EQ_INT(rb_records_next(&it, &r), 1);
    CHECK_EQ_INT(r.rec.value_len, -1);
    CHECK_EQ_INT(r.timestamp, 1002);
    CHECK_EQ_INT(rb_records_next(&it, &r), 0);

    check_found(n, 1001, 0, 1, 1005);
    check_found(n, 1000, 0, 0, 1000);
    check_found(n, 1000, 2, 2, 1002);
    CHECK_EQ_INT(find_rc(n, 1006, 0), 1);
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

    struct batch_builder bb;
    batch_builder_init(&bb, sizeof(buf), 1000);
    CHECK_EQ_INT(batch_builder_add(&bb, NULL, -1, "a", 1), 0);
    CHECK_EQ_INT(finish_into_buf(&bb), sizeof(hand));
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
    CHECK_EQ_INT(find_rc(n, 0, 0), -1);

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
    struct batch_builder bb;
    /* A record that does not fit the limit fails, and so does the batch. */
    batch_builder_init(&bb, RB_HEADER_BYTES + 2, 1);
    CHECK_EQ_INT(batch_builder_add(&bb, NULL, -1, "v", 1), -1);
    CHECK_EQ_INT(finish_into_buf(&bb), 0);
    /* A batch needs at least one record. */
    batch_builder_init(&bb, sizeof(buf), 1);
    CHECK_EQ_INT(finish_into_buf(&bb), 0);
    /* The builder writes records uncompressed, so it cannot claim a codec. */
    batch_builder_init(&bb, sizeof(buf), 1);
    CHECK_EQ_INT(batch_builder_set_attributes(&bb, RB_CODEC_GZIP), -1);
    CHECK_EQ_INT(batch_builder_add(&bb, NULL, -1, "v", 1), 0);
    CHECK_EQ_INT(finish_into_buf(&bb), RB_HEADER_BYTES + 8);
    CHECK_EQ_INT(rb_be16(buf + RB_OFF_ATTRIBUTES), 0);
    /* A timestamp whose delta from the base overflows is refused alone. */
    batch_builder_init(&bb, sizeof(buf), -10);
    CHECK_EQ_INT(batch_builder_add_at(&bb, INT64_MAX, NULL, -1, "v", 1), -1);
    CHECK_EQ_INT(batch_builder_add(&bb, NULL, -1, NULL, -1), 0);
    CHECK_EQ_INT(finish_into_buf(&bb), RB_HEADER_BYTES + 7);
}

/* Records added with and without their own time, earlier than the base
 * too: the header's times and each record's absolute time follow. */
static void test_builder_timestamps(void) {
    struct batch_builder bb;
    batch_builder_init(&bb, sizeof(buf), 5000);
    CHECK_EQ_INT(batch_builder_add(&bb, "a", 1, "1", 1), 0);
    CHECK_EQ_INT(batch_builder_add_at(&bb, 4000, "b", 1, "2", 1), 0);
    CHECK_EQ_INT(batch_builder_add_at(&bb, 7000, "c", 1, "3", 1), 0);
    CHECK_EQ_INT(batch_builder_add(&bb, "d", 1, "4", 1), 0);
    size_t n = finish_into_buf(&bb);
    CHECK_EQ_INT(rb_validate_for_produce(buf, n, NULL), RB_OK);
    struct rb_header h;
    rb_parse_header(buf, n, &h);
    CHECK_EQ_INT(h.base_timestamp, 5000);
    CHECK_EQ_INT(h.max_timestamp, 7000);
    CHECK_EQ_INT(h.record_count, 4);
    CHECK_EQ_INT(h.producer_epoch, -1);
    CHECK_EQ_INT(h.base_sequence, -1);
    static const int64_t want[] = {5000, 4000, 7000, 5000};
    struct rb_record_iter it;
    struct rb_record r;
    rb_records_begin(&it, buf, (uint32_t)n);
    for (int i = 0; i < 4; i++) {
        CHECK_EQ_INT(rb_records_next(&it, &r), 1);
        CHECK_EQ_INT(r.timestamp, want[i]);
        CHECK_EQ_INT(r.rec.offset_delta, i);
    }
    CHECK_EQ_INT(rb_records_next(&it, &r), 0);
    check_found(n, 6000, 0, 2, 7000);
}

/* Malformed records that only the record walk can see, each reported by
 * validation and by the time lookup. */
static void test_walk_errors(void) {
    /* A timestamp delta that carries the record's time past INT64_MAX. */
    struct batch_builder bb;
    batch_builder_init(&bb, sizeof(buf), 0);
    CHECK_EQ_INT(batch_builder_add_at(&bb, INT64_MAX, NULL, -1, "v", 1), 0);
    size_t n = finish_into_buf(&bb);
    CHECK_EQ_INT(rb_validate_for_produce(buf, n, NULL), RB_OK);
    /* That delta is a 10-byte varlong (after length and attributes) whose
     * last byte holds bit 63 alone. Bits above it are refused, though
     * Kafka's decoder would drop them: no encoder writes them. */
    CHECK_EQ_INT(buf[RB_HEADER_BYTES + 11], 0x01);
    buf[RB_HEADER_BYTES + 11] = 0x03;
    refresh_crc(n);
    CHECK_EQ_INT(rb_validate_for_produce(buf, n, NULL), RB_ERR_RECORDS);
    buf[RB_HEADER_BYTES + 11] = 0x01;
    rb_put_be64(buf + RB_OFF_BASE_TIMESTAMP, 1);
    refresh_crc(n);
    CHECK_EQ_INT(rb_validate(buf, n, NULL), RB_OK);
    CHECK_EQ_INT(rb_validate_for_produce(buf, n, NULL), RB_ERR_RECORDS);
    CHECK_EQ_INT(find_rc(n, 0, 0), -1);
    /* Under LogAppendTime the deltas are not used, so the same batch passes. */
    rb_set_log_append_time(buf, (uint32_t)n, 99);
    CHECK_EQ_INT(rb_validate_for_produce(buf, n, NULL), RB_OK);

    /* Bytes after the declared records: refused for produce, while the
     * time lookup still answers from the records before them. */
    n = build3(0);
    buf[n] = 0;
    rb_put_be32(buf + RB_OFF_BATCH_LENGTH, (uint32_t)(n + 1 - RB_LOG_OVERHEAD));
    refresh_crc(n + 1);
    CHECK_EQ_INT(rb_validate(buf, n + 1, NULL), RB_OK);
    CHECK_EQ_INT(rb_validate_for_produce(buf, n + 1, NULL), RB_ERR_RECORDS);
    check_found(n + 1, 1004, 0, 1, 1005);
    CHECK_EQ_INT(find_rc(n + 1, 2000, 0), 1);
}

int main(void) {
    TEST_RUN(test_build_parse_validate);
    TEST_RUN(test_hand_encoded_batch);
    TEST_RUN(test_structural_errors);
    TEST_RUN(test_produce_rules);
    TEST_RUN(test_rewrites);
    TEST_RUN(test_builder_limits);
    TEST_RUN(test_builder_timestamps);
    TEST_RUN(test_walk_errors);
    TEST_EXIT();
}
