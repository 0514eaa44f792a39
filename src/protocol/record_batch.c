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
 * Each record (varints are zigzag, protobuf-style):
 *   length varint | attributes int8 | timestampDelta varlong |
 *   offsetDelta varint | keyLength varint (-1 null) | key |
 *   valueLength varint (-1 null) | value | headerCount varint |
 *   headers: headerKeyLength varint (>= 0) | key | headerValueLength varint (-1 null) | value
 * `length` counts the bytes after itself.
 */
#include "protocol/record_batch.h"

#include "protocol/crc32c.h"

/* A zigzag varint for a 32-bit value takes at most 5 bytes, a varlong 10;
 * longer encodings are malformed, which also bounds the decode loop. */
#define RB_VARINT_BYTES_MAX 5
#define RB_VARLONG_BYTES_MAX 10

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

/* Reads a zigzag varint of at most max_bytes bytes. -1 on truncation or
 * an over-long encoding. */
static int read_zigzag(const uint8_t **pp, const uint8_t *end, int max_bytes, int64_t *out) {
    const uint8_t *p = *pp;
    uint64_t v = 0;
    for (int i = 0; i < max_bytes; i++) {
        if (p >= end) return -1;
        uint8_t b = *p++;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *pp = p;
            *out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
            return 0;
        }
    }
    return -1;
}

static int read_varint(const uint8_t **pp, const uint8_t *end, int32_t *out) {
    int64_t v;
    if (read_zigzag(pp, end, RB_VARINT_BYTES_MAX, &v) != 0 || v < INT32_MIN || v > INT32_MAX) return -1;
    *out = (int32_t)v;
    return 0;
}

/* A length-prefixed byte field: -1 (null) allowed when nullable. */
static int read_bytes(const uint8_t **pp, const uint8_t *end, bool nullable, int32_t *len,
                      const uint8_t **data) {
    if (read_varint(pp, end, len) != 0) return -1;
    if (*len < 0) {
        if (*len != -1 || !nullable) return -1;
        *data = NULL;
        return 0;
    }
    if ((size_t)(end - *pp) < (size_t)*len) return -1;
    *data = *pp;
    *pp += *len;
    return 0;
}

void rb_records_begin(struct rb_record_iter *it, const uint8_t *batch, uint32_t batch_bytes) {
    it->p = batch + RB_HEADER_BYTES;
    it->end = batch + batch_bytes;
    it->base_timestamp = (int64_t)rb_be64(batch + RB_OFF_BASE_TIMESTAMP);
    int16_t attrs = (int16_t)rb_be16(batch + RB_OFF_ATTRIBUTES);
    it->append_time = (attrs & RB_ATTR_LOG_APPEND_TIME) ? (int64_t)rb_be64(batch + RB_OFF_MAX_TIMESTAMP) : -1;
    int32_t count = (int32_t)rb_be32(batch + RB_OFF_RECORD_COUNT);
    it->remaining = count < 0 ? 0 : count;
}

int rb_records_next(struct rb_record_iter *it, struct rb_record *r) {
    if (it->remaining == 0) return 0;
    int32_t len;
    if (read_varint(&it->p, it->end, &len) != 0 || len < 0 || (size_t)(it->end - it->p) < (size_t)len)
        return -1;
    const uint8_t *p = it->p, *end = it->p + len;
    if (p >= end) return -1;
    r->attributes = (int8_t)*p++;
    int64_t ts_delta;
    if (read_zigzag(&p, end, RB_VARLONG_BYTES_MAX, &ts_delta) != 0) return -1;
    if (it->append_time >= 0) {
        r->timestamp = it->append_time;
    } else if (__builtin_add_overflow(it->base_timestamp, ts_delta, &r->timestamp)) {
        return -1;
    }
    if (read_varint(&p, end, &r->offset_delta) != 0) return -1;
    if (read_bytes(&p, end, true, &r->key_len, &r->key) != 0) return -1;
    if (read_bytes(&p, end, true, &r->value_len, &r->value) != 0) return -1;
    if (read_varint(&p, end, &r->header_count) != 0 || r->header_count < 0) return -1;
    r->headers = p;
    /* Each header takes at least two bytes, so the loop is bounded by the
     * record length whatever the count claims. */
    for (int32_t i = 0; i < r->header_count; i++) {
        int32_t hl;
        const uint8_t *hd;
        if (read_bytes(&p, end, false, &hl, &hd) != 0) return -1;
        if (read_bytes(&p, end, true, &hl, &hd) != 0) return -1;
    }
    if (p != end) return -1;
    r->header_bytes = (uint32_t)(end - r->headers);
    it->p = end;
    it->remaining--;
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
        struct rb_record_iter it;
        struct rb_record r;
        rb_records_begin(&it, p, total);
        int32_t index = 0;
        int rc;
        while ((rc = rb_records_next(&it, &r)) == 1) {
            if (r.offset_delta != index) return RB_ERR_RECORDS;
            index++;
        }
        if (rc < 0 || index != h.record_count || it.p != it.end) return RB_ERR_RECORDS;
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
    int rc;
    while ((rc = rb_records_next(&it, &r)) == 1) {
        /* An answer outside the batch's offsets would send a consumer past
         * the log end; such a batch is malformed. */
        if (r.offset_delta < 0 || r.offset_delta > last_delta) return -1;
        if (r.timestamp >= ts && r.offset_delta >= min_delta) {
            *offset_delta = r.offset_delta;
            *timestamp = r.timestamp;
            return 0;
        }
    }
    return rc < 0 ? -1 : 1;
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

/* ---- builder ---- */

static size_t zigzag_size(int64_t v) {
    uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    size_t n = 1;
    while (u >= 0x80) {
        u >>= 7;
        n++;
    }
    return n;
}

static uint8_t *put_zigzag(uint8_t *p, int64_t v) {
    uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    while (u >= 0x80) {
        *p++ = (uint8_t)(u | 0x80);
        u >>= 7;
    }
    *p++ = (uint8_t)u;
    return p;
}

/* Size of a record body (what its length prefix counts). */
static size_t record_body_size(const struct rb_record_spec *r, int64_t ts_delta, int32_t offset_delta) {
    size_t n = 1 + zigzag_size(ts_delta) + zigzag_size(offset_delta);
    n += zigzag_size(r->key_len) + (r->key_len > 0 ? (size_t)r->key_len : 0);
    n += zigzag_size(r->value_len) + (r->value_len > 0 ? (size_t)r->value_len : 0);
    n += zigzag_size(0); /* no headers */
    return n;
}

size_t rb_build_batch(uint8_t *out, size_t cap, const struct rb_batch_spec *spec,
                      const struct rb_record_spec *recs, int32_t count) {
    if (count <= 0 || (spec->attributes & RB_ATTR_CODEC_MASK) != 0) return 0;
    int64_t base_ts = recs[0].timestamp, max_ts = recs[0].timestamp;
    size_t total = RB_HEADER_BYTES;
    for (int32_t i = 0; i < count; i++) {
        if (recs[i].key_len < -1 || recs[i].value_len < -1) return 0;
        int64_t ts_delta;
        if (__builtin_sub_overflow(recs[i].timestamp, base_ts, &ts_delta)) return 0;
        if (recs[i].timestamp > max_ts) max_ts = recs[i].timestamp;
        size_t body = record_body_size(&recs[i], ts_delta, i);
        total += zigzag_size((int64_t)body) + body;
        if (total > cap || total > INT32_MAX) return 0;
    }
    memset(out, 0, RB_HEADER_BYTES);
    rb_put_be64(out + RB_OFF_BASE_OFFSET, (uint64_t)spec->base_offset);
    rb_put_be32(out + RB_OFF_BATCH_LENGTH, (uint32_t)(total - RB_LOG_OVERHEAD));
    out[RB_OFF_MAGIC] = RB_MAGIC_V2;
    rb_put_be16(out + RB_OFF_ATTRIBUTES, (uint16_t)spec->attributes);
    rb_put_be32(out + RB_OFF_LAST_OFFSET_DELTA, (uint32_t)(count - 1));
    rb_put_be64(out + RB_OFF_BASE_TIMESTAMP, (uint64_t)base_ts);
    rb_put_be64(out + RB_OFF_MAX_TIMESTAMP, (uint64_t)max_ts);
    rb_put_be64(out + RB_OFF_PRODUCER_ID, (uint64_t)spec->producer_id);
    rb_put_be16(out + RB_OFF_PRODUCER_EPOCH, (uint16_t)spec->producer_epoch);
    rb_put_be32(out + RB_OFF_BASE_SEQUENCE, (uint32_t)spec->base_sequence);
    rb_put_be32(out + RB_OFF_RECORD_COUNT, (uint32_t)count);
    uint8_t *p = out + RB_HEADER_BYTES;
    for (int32_t i = 0; i < count; i++) {
        const struct rb_record_spec *r = &recs[i];
        int64_t ts_delta = r->timestamp - base_ts;
        p = put_zigzag(p, (int64_t)record_body_size(r, ts_delta, i));
        *p++ = 0;
        p = put_zigzag(p, ts_delta);
        p = put_zigzag(p, i);
        p = put_zigzag(p, r->key_len);
        if (r->key_len > 0) {
            memcpy(p, r->key, (size_t)r->key_len);
            p += r->key_len;
        }
        p = put_zigzag(p, r->value_len);
        if (r->value_len > 0) {
            memcpy(p, r->value, (size_t)r->value_len);
            p += r->value_len;
        }
        p = put_zigzag(p, 0);
    }
    rb_put_be32(out + RB_OFF_CRC, rb_compute_crc(out, (uint32_t)total));
    return total;
}
