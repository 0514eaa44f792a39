#include "protocol/batch_builder.h"

#include <string.h>

#include "protocol/record_batch.h"
#include "protocol/records.h"

void batch_builder_init(struct batch_builder *bb, size_t limit_bytes, int64_t timestamp_ms) {
    obuf_init(&bb->ob, limit_bytes);
    bb->count = 0;
    bb->timestamp_ms = timestamp_ms;
    bb->max_timestamp = timestamp_ms;
    bb->attributes = 0;
    uint8_t *h = obuf_extend(&bb->ob, RB_HEADER_BYTES);
    if (h) memset(h, 0, RB_HEADER_BYTES);
}

int batch_builder_set_attributes(struct batch_builder *bb, int16_t attributes) {
    if (attributes & RB_ATTR_CODEC_MASK) return -1;
    bb->attributes = attributes;
    return 0;
}

int batch_builder_add_at(struct batch_builder *bb, int64_t timestamp_ms, const void *key, int32_t key_len,
                         const void *value, int32_t value_len) {
    struct record_view rec = {
        .offset_delta = bb->count,
        .key = key,
        .key_len = key_len,
        .value = value,
        .value_len = value_len,
    };
    if (__builtin_sub_overflow(timestamp_ms, bb->timestamp_ms, &rec.timestamp_delta)) return -1;
    size_t size = records_record_size(&rec);
    if (size == 0) return -1;
    uint8_t *at = obuf_extend(&bb->ob, size);
    if (!at || records_write(at, size, &rec) != size) return -1;
    if (timestamp_ms > bb->max_timestamp) bb->max_timestamp = timestamp_ms;
    bb->count++;
    return 0;
}

int batch_builder_add(struct batch_builder *bb, const void *key, int32_t key_len, const void *value,
                      int32_t value_len) {
    return batch_builder_add_at(bb, bb->timestamp_ms, key, key_len, value, value_len);
}

int batch_builder_finish(struct batch_builder *bb) {
    if (obuf_failed(&bb->ob) || bb->count == 0 || bb->ob.len > INT32_MAX) return -1;
    uint8_t *b = bb->ob.data;
    uint32_t total = (uint32_t)bb->ob.len;
    rb_put_be64(b + RB_OFF_BASE_OFFSET, 0);
    rb_put_be32(b + RB_OFF_BATCH_LENGTH, total - RB_LOG_OVERHEAD);
    rb_put_be32(b + RB_OFF_LEADER_EPOCH, 0);
    b[RB_OFF_MAGIC] = RB_MAGIC_V2;
    rb_put_be16(b + RB_OFF_ATTRIBUTES, (uint16_t)bb->attributes);
    rb_put_be32(b + RB_OFF_LAST_OFFSET_DELTA, (uint32_t)(bb->count - 1));
    rb_put_be64(b + RB_OFF_BASE_TIMESTAMP, (uint64_t)bb->timestamp_ms);
    rb_put_be64(b + RB_OFF_MAX_TIMESTAMP, (uint64_t)bb->max_timestamp);
    rb_put_be64(b + RB_OFF_PRODUCER_ID, (uint64_t)-1);
    rb_put_be16(b + RB_OFF_PRODUCER_EPOCH, (uint16_t)-1);
    rb_put_be32(b + RB_OFF_BASE_SEQUENCE, (uint32_t)-1);
    rb_put_be32(b + RB_OFF_RECORD_COUNT, (uint32_t)bb->count);
    rb_put_be32(b + RB_OFF_CRC, rb_compute_crc(b, total));
    return 0;
}

void batch_builder_free(struct batch_builder *bb) { obuf_free(&bb->ob); }
