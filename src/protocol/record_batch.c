/*
 * Magic-v2 record batch, as stored on disk and sent on the wire
 * (all integers big-endian):
 *
 *   off  size  field
 *     0     8  baseOffset            first offset of the batch (set by the broker)
 *     8     4  batchLength           bytes from offset 12 to the end of the batch
 *    12     4  partitionLeaderEpoch  set by the broker; outside the CRC
 *    16     1  magic                 2
 *    17     4  crc                   CRC-32C of bytes 21..end
 *    21     2  attributes            bits 0-2 codec (0 none, 1 gzip, 2 snappy,
 *                                    3 lz4, 4 zstd), 3 LogAppendTime,
 *                                    4 transactional, 5 control, 6 delete horizon
 *    23     4  lastOffsetDelta       last record's offset minus baseOffset
 *    27     8  baseTimestamp
 *    35     8  maxTimestamp
 *    43     8  producerId
 *    51     2  producerEpoch
 *    53     4  baseSequence
 *    57     4  recordCount
 *    61     -  records (compressed as one block when the codec is not 0)
 *
 * The records' own layout, and the rules they are read by, are in
 * records.h; this file walks them only through records_iter.
 */
#include "protocol/record_batch.h"

#include "protocol/crc32c.h"

const char *rb_check_name(enum rb_check c) {
    switch (c) {
    case RB_OK: return "ok";
    case RB_ERR_TRUNCATED: return "truncated";
    case RB_ERR_LENGTH: return "bad_length";
    case RB_ERR_MAGIC: return "bad_magic";
    case RB_ERR_CRC: return "bad_crc";
    case RB_ERR_CODEC: return "bad_codec";
    case RB_ERR_COUNT: return "bad_record_count";
    case RB_ERR_RECORDS: return "bad_records";
    case RB_ERR_CONTROL: return "control_batch";
    }
    return "unknown";
}

int rb_parse_header(const uint8_t *p, size_t avail, struct rb_header *h) {
    if (avail < RB_HEADER_BYTES) return -1;
    h->base_offset = (int64_t)rb_be64(p + RB_OFF_BASE_OFFSET);
    h->batch_length = (int32_t)rb_be32(p + RB_OFF_BATCH_LENGTH);
    h->leader_epoch = (int32_t)rb_be32(p + RB_OFF_LEADER_EPOCH);
    h->magic = (int8_t)p[RB_OFF_MAGIC];
    h->crc = rb_be32(p + RB_OFF_CRC);
    h->attributes = (int16_t)rb_be16(p + RB_OFF_ATTRIBUTES);
    h->last_offset_delta = (int32_t)rb_be32(p + RB_OFF_LAST_OFFSET_DELTA);
    h->base_timestamp = (int64_t)rb_be64(p + RB_OFF_BASE_TIMESTAMP);
    h->max_timestamp = (int64_t)rb_be64(p + RB_OFF_MAX_TIMESTAMP);
    h->producer_id = (int64_t)rb_be64(p + RB_OFF_PRODUCER_ID);
    h->producer_epoch = (int16_t)rb_be16(p + RB_OFF_PRODUCER_EPOCH);
    h->base_sequence = (int32_t)rb_be32(p + RB_OFF_BASE_SEQUENCE);
    h->record_count = (int32_t)rb_be32(p + RB_OFF_RECORD_COUNT);
    return 0;
}

enum rb_check rb_check_header(const struct rb_header *h) {
    if (h->magic != RB_MAGIC_V2) return RB_ERR_MAGIC;
    if (h->batch_length < RB_BATCH_LENGTH_MIN) return RB_ERR_LENGTH;
    if (rb_codec_of(h) > RB_CODEC_MAX) return RB_ERR_CODEC;
    /* Offsets must advance: the log computes the next offset as
     * base + lastOffsetDelta + 1. Compaction can leave fewer records than
     * the delta implies (even none), never more. */
    if (h->record_count < 0 || h->last_offset_delta < 0) return RB_ERR_COUNT;
    if (!(h->attributes & RB_ATTR_CONTROL) && h->last_offset_delta < h->record_count - 1) return RB_ERR_COUNT;
    return RB_OK;
}

uint32_t rb_compute_crc(const uint8_t *batch, uint32_t batch_bytes) {
    return crc32c(0, batch + RB_OFF_ATTRIBUTES, batch_bytes - RB_OFF_ATTRIBUTES);
}

enum rb_check rb_validate(const uint8_t *p, size_t avail, uint32_t *batch_bytes_out) {
    /* The magic byte sits at offset 16 in every message format, so an old
     * v0/v1 message set (shorter headers) is reported as such rather than
     * as truncated. */
    if (avail <= RB_OFF_MAGIC) return RB_ERR_TRUNCATED;
    if (p[RB_OFF_MAGIC] != RB_MAGIC_V2) return RB_ERR_MAGIC;
    struct rb_header h;
    if (rb_parse_header(p, avail, &h) != 0) return RB_ERR_TRUNCATED;
    enum rb_check c = rb_check_header(&h);
    if (c != RB_OK) return c;
    uint32_t total = rb_total_bytes(&h);
    if (total > avail) return RB_ERR_TRUNCATED;
    if (rb_compute_crc(p, total) != h.crc) return RB_ERR_CRC;
    if (batch_bytes_out) *batch_bytes_out = total;
    return RB_OK;
}

void rb_records_begin(struct rb_record_iter *it, const uint8_t *batch, uint32_t batch_bytes) {
    int32_t count = (int32_t)rb_be32(batch + RB_OFF_RECORD_COUNT);
    /* A negative recordCount would read as records.h's "count unknown";
     * INT32_MIN instead makes the walk fail at once. rb_check_header
     * rejects such batches anyway, so no checked caller gets here. */
    records_iter_init(&it->records, batch + RB_HEADER_BYTES, batch_bytes - RB_HEADER_BYTES,
                      count < 0 ? INT32_MIN : count);
    it->base_timestamp = (int64_t)rb_be64(batch + RB_OFF_BASE_TIMESTAMP);
    int16_t attrs = (int16_t)rb_be16(batch + RB_OFF_ATTRIBUTES);
    it->append_time = (attrs & RB_ATTR_LOG_APPEND_TIME) ? (int64_t)rb_be64(batch + RB_OFF_MAX_TIMESTAMP) : -1;
}

int rb_records_next(struct rb_record_iter *it, struct rb_record *r) {
    int rc = records_next(&it->records, &r->rec);
    if (rc != 1) return rc;
    if (it->append_time >= 0) {
        r->timestamp = it->append_time;
    } else if (__builtin_add_overflow(it->base_timestamp, r->rec.timestamp_delta, &r->timestamp)) {
        /* No real time is that far out; a client sending it is broken. */
        it->records.failed = true;
        return -1;
    }
    return 1;
}

enum rb_check rb_validate_for_produce(const uint8_t *p, size_t avail, uint32_t *batch_bytes_out) {
    uint32_t total;
    enum rb_check c = rb_validate(p, avail, &total);
    if (c != RB_OK) return c;
    struct rb_header h;
    rb_parse_header(p, avail, &h);
    if (h.attributes & RB_ATTR_CONTROL) return RB_ERR_CONTROL;
    if (h.record_count <= 0 || (int64_t)h.record_count != (int64_t)h.last_offset_delta + 1) return RB_ERR_COUNT;
    if (rb_codec_of(&h) == RB_CODEC_NONE) {
        /* records_next insists on recordCount records filling the body
         * exactly, so reaching the end (0) proves both. */
        struct rb_record_iter it;
        struct rb_record r;
        rb_records_begin(&it, p, total);
        int32_t index = 0;
        int rc;
        while ((rc = rb_records_next(&it, &r)) == 1) {
            if (r.rec.offset_delta != index) return RB_ERR_RECORDS;
            index++;
        }
        if (rc < 0) return RB_ERR_RECORDS;
    }
    if (batch_bytes_out) *batch_bytes_out = total;
    return RB_OK;
}

int rb_find_timestamp(const uint8_t *batch, uint32_t batch_bytes, int64_t ts, int32_t min_delta,
                      int32_t *offset_delta, int64_t *timestamp) {
    struct rb_record_iter it;
    struct rb_record r;
    rb_records_begin(&it, batch, batch_bytes);
    int32_t last_delta = (int32_t)rb_be32(batch + RB_OFF_LAST_OFFSET_DELTA);
    int32_t count = (int32_t)rb_be32(batch + RB_OFF_RECORD_COUNT);
    /* Only the recordCount records are looked at: bytes after them do not
     * make the batch unsearchable (validation is where they are refused),
     * so the loop stops before records_next would judge them. */
    for (int32_t i = 0; i < count; i++) {
        if (rb_records_next(&it, &r) != 1) return -1;
        /* An answer outside the batch's offsets would send a consumer past
         * the log end; such a batch is malformed. */
        if (r.rec.offset_delta < 0 || r.rec.offset_delta > last_delta) return -1;
        if (r.timestamp >= ts && r.rec.offset_delta >= min_delta) {
            *offset_delta = r.rec.offset_delta;
            *timestamp = r.timestamp;
            return 0;
        }
    }
    return 1;
}

void rb_set_base_offset(uint8_t *batch, int64_t base_offset) {
    rb_put_be64(batch + RB_OFF_BASE_OFFSET, (uint64_t)base_offset);
}

void rb_set_leader_epoch(uint8_t *batch, int32_t epoch) {
    rb_put_be32(batch + RB_OFF_LEADER_EPOCH, (uint32_t)epoch);
}

void rb_set_log_append_time(uint8_t *batch, uint32_t batch_bytes, int64_t ts) {
    uint16_t attrs = rb_be16(batch + RB_OFF_ATTRIBUTES);
    rb_put_be16(batch + RB_OFF_ATTRIBUTES, (uint16_t)(attrs | RB_ATTR_LOG_APPEND_TIME));
    rb_put_be64(batch + RB_OFF_MAX_TIMESTAMP, (uint64_t)ts);
    rb_put_be32(batch + RB_OFF_CRC, rb_compute_crc(batch, batch_bytes));
}
