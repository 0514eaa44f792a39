/*
 * Kafka magic-v2 record batches: header parsing, validation, the few
 * in-place rewrites a broker makes (base offset, leader epoch,
 * LogAppendTime), and a walk over the records of an uncompressed batch.
 * Records themselves are read and written by records.h; batches are
 * built by batch_builder.h.
 *
 * Header layout (big-endian, 61 bytes; see the table in record_batch.c):
 *   0 baseOffset i64 | 8 batchLength i32 | 12 partitionLeaderEpoch i32 |
 *  16 magic i8 | 17 crc u32 | 21 attributes i16 | 23 lastOffsetDelta i32 |
 *  27 baseTimestamp i64 | 35 maxTimestamp i64 | 43 producerId i64 |
 *  51 producerEpoch i16 | 53 baseSequence i32 | 57 recordCount i32 | 61 records
 * batchLength counts the bytes after itself, so a batch occupies
 * RB_LOG_OVERHEAD + batchLength bytes. The CRC-32C covers bytes 21..end.
 */
#ifndef GREGOR_PROTOCOL_RECORD_BATCH_H
#define GREGOR_PROTOCOL_RECORD_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "protocol/records.h"

#define RB_HEADER_BYTES 61
#define RB_LOG_OVERHEAD 12 /* baseOffset + batchLength, the part batchLength does not count */
#define RB_MAGIC_V2 2
#define RB_BATCH_LENGTH_MIN (RB_HEADER_BYTES - RB_LOG_OVERHEAD) /* 49: a batch with no records */

/* Byte offsets of the header fields. */
#define RB_OFF_BASE_OFFSET 0
#define RB_OFF_BATCH_LENGTH 8
#define RB_OFF_LEADER_EPOCH 12
#define RB_OFF_MAGIC 16
#define RB_OFF_CRC 17
#define RB_OFF_ATTRIBUTES 21
#define RB_OFF_LAST_OFFSET_DELTA 23
#define RB_OFF_BASE_TIMESTAMP 27
#define RB_OFF_MAX_TIMESTAMP 35
#define RB_OFF_PRODUCER_ID 43
#define RB_OFF_PRODUCER_EPOCH 51
#define RB_OFF_BASE_SEQUENCE 53
#define RB_OFF_RECORD_COUNT 57

/* Attribute bits. */
#define RB_ATTR_CODEC_MASK 0x07
#define RB_ATTR_LOG_APPEND_TIME 0x08
#define RB_ATTR_TRANSACTIONAL 0x10
#define RB_ATTR_CONTROL 0x20
#define RB_ATTR_DELETE_HORIZON 0x40

enum rb_codec { RB_CODEC_NONE = 0, RB_CODEC_GZIP = 1, RB_CODEC_SNAPPY = 2, RB_CODEC_LZ4 = 3, RB_CODEC_ZSTD = 4 };
#define RB_CODEC_MAX RB_CODEC_ZSTD

struct rb_header {
    int64_t base_offset;
    int32_t batch_length;
    int32_t leader_epoch;
    int8_t magic;
    uint32_t crc;
    int16_t attributes;
    int32_t last_offset_delta;
    int64_t base_timestamp;
    int64_t max_timestamp;
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t base_sequence;
    int32_t record_count;
};

/* Validation results. RB_ERR_MAGIC is separate so the broker can answer
 * UNSUPPORTED_FOR_MESSAGE_FORMAT; the rest map to CORRUPT_MESSAGE /
 * INVALID_RECORD. */
enum rb_check {
    RB_OK = 0,
    RB_ERR_TRUNCATED, /* fewer bytes than the header or the declared batchLength */
    RB_ERR_LENGTH,    /* batchLength below RB_BATCH_LENGTH_MIN */
    RB_ERR_MAGIC,     /* not magic v2 */
    RB_ERR_CRC,       /* CRC-32C mismatch */
    RB_ERR_CODEC,     /* compression codec outside 0..4 */
    RB_ERR_COUNT,     /* recordCount / lastOffsetDelta inconsistent */
    RB_ERR_RECORDS,   /* uncompressed records do not parse or do not match the count */
    RB_ERR_CONTROL,   /* a client may not produce control batches */
};
const char *rb_check_name(enum rb_check c);

/* Big-endian accessors, shared with the storage code. */
static inline uint16_t rb_be16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t rb_be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint64_t rb_be64(const uint8_t *p) { return ((uint64_t)rb_be32(p) << 32) | rb_be32(p + 4); }
static inline void rb_put_be16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void rb_put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static inline void rb_put_be64(uint8_t *p, uint64_t v) {
    rb_put_be32(p, (uint32_t)(v >> 32));
    rb_put_be32(p + 4, (uint32_t)v);
}

static inline int rb_codec_of(const struct rb_header *h) { return h->attributes & RB_ATTR_CODEC_MASK; }
/* Bytes the batch occupies; only meaningful once batch_length was checked. */
static inline uint32_t rb_total_bytes(const struct rb_header *h) {
    return (uint32_t)RB_LOG_OVERHEAD + (uint32_t)h->batch_length;
}
static inline int64_t rb_last_offset(const struct rb_header *h) { return h->base_offset + h->last_offset_delta; }

/* Decodes the 61-byte header without judging it: 0, or -1 if avail < 61. */
int rb_parse_header(const uint8_t *p, size_t avail, struct rb_header *h);
/* Checks the header fields alone (length floor, magic, codec, counts). */
enum rb_check rb_check_header(const struct rb_header *h);
/* Structural check of one batch at p: enough bytes for the declared
 * length, the header fields, and the CRC. On RB_OK *batch_bytes_out (may
 * be NULL) gets the batch's total size. */
enum rb_check rb_validate(const uint8_t *p, size_t avail, uint32_t *batch_bytes_out);
/* rb_validate plus what a broker demands of a client's batch: not a
 * control batch, recordCount > 0 and == lastOffsetDelta + 1, and for
 * uncompressed batches every record parses with offsetDelta == its index
 * and the records fill the batch exactly. Compressed bodies are not
 * decompressed here. */
enum rb_check rb_validate_for_produce(const uint8_t *p, size_t avail, uint32_t *batch_bytes_out);

/* CRC-32C over bytes 21..end of a batch of batch_bytes bytes. */
uint32_t rb_compute_crc(const uint8_t *batch, uint32_t batch_bytes);
/* In-place rewrites. Base offset and leader epoch lie outside the CRC. */
void rb_set_base_offset(uint8_t *batch, int64_t base_offset);
void rb_set_leader_epoch(uint8_t *batch, int32_t epoch);
/* Marks the batch LogAppendTime with maxTimestamp = ts and recomputes the CRC. */
void rb_set_log_append_time(uint8_t *batch, uint32_t batch_bytes, int64_t ts);

/* One record of an uncompressed batch, as records.h reads it (pointers
 * alias the batch), with its absolute timestamp: baseTimestamp plus its
 * delta, or the batch's maxTimestamp under LogAppendTime. */
struct rb_record {
    struct record_view rec;
    int64_t timestamp;
};

struct rb_record_iter {
    struct records_iter records; /* over the bytes after the header */
    int64_t base_timestamp;
    int64_t append_time; /* >= 0 under LogAppendTime: every record's timestamp */
};
/* Starts a walk over an uncompressed batch whose header and length were
 * already checked (batch_bytes >= RB_HEADER_BYTES). */
void rb_records_begin(struct rb_record_iter *it, const uint8_t *batch, uint32_t batch_bytes);
/* 1 and *r filled; 0 once recordCount records were read and they filled
 * the batch exactly; -1 malformed (records_next's rules, or a timestamp
 * past the int64 range), and from then on. */
int rb_records_next(struct rb_record_iter *it, struct rb_record *r);
/* For an uncompressed batch: the offset delta and timestamp of the first
 * record with timestamp >= ts and offset delta >= min_delta, looking at
 * the first recordCount records only. 0 found, 1 none, -1 malformed
 * (including an offsetDelta outside 0..lastOffsetDelta). */
int rb_find_timestamp(const uint8_t *batch, uint32_t batch_bytes, int64_t ts, int32_t min_delta,
                      int32_t *offset_delta, int64_t *timestamp);

#endif
