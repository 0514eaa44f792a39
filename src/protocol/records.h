/*
 * The records inside a magic-v2 batch: the bytes after the 61-byte batch
 * header, decompressed first if the batch is compressed (compression.h).
 * Each record is (varint/varlong are zigzag-encoded, as Kafka's):
 *
 *   length          varint   bytes of the record after this field
 *   attributes      int8     unused by v2, kept as read
 *   timestampDelta  varlong  from the batch's baseTimestamp
 *   offsetDelta     varint   from the batch's baseOffset
 *   keyLength       varint   -1: null key
 *   key             bytes
 *   valueLength     varint   -1: null value
 *   value           bytes
 *   headerCount     varint   >= 0
 *   headers         headerCount times:
 *     headerKeyLength    varint  >= 0 (a header key is never null)
 *     headerKey          bytes
 *     headerValueLength  varint  -1: null value
 *     headerValue        bytes
 *
 * Every length is checked against the bytes that remain, and the fields of
 * a record must fill exactly its stated length. A varint longer than 5
 * bytes (varlong: 10) or carrying bits past 32 (64) is malformed; Kafka
 * silently drops those bits, but no encoder produces them.
 *
 * Views alias the caller's buffer; nothing here allocates.
 */
#ifndef GREGOR_PROTOCOL_RECORDS_H
#define GREGOR_PROTOCOL_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/varint.h"

/* A record_count for records_iter_init meaning "read until the bytes end". */
#define RECORDS_COUNT_UNKNOWN (-1)

/* The encoded size bounds of zigzag varints. */
#define RECORDS_VARINT_BYTES_MAX VARINT_BYTES_MAX_32
#define RECORDS_VARLONG_BYTES_MAX VARINT_BYTES_MAX_64

/* The smallest record body: one byte each for attributes, timestampDelta,
 * offsetDelta, keyLength, valueLength and headerCount. */
#define RECORDS_BODY_BYTES_MIN 6

struct record_view {
    int8_t attributes;
    int64_t timestamp_delta;
    int32_t offset_delta;
    const uint8_t *key; /* NULL iff key_len == -1 */
    int32_t key_len;
    const uint8_t *value; /* NULL iff value_len == -1 */
    int32_t value_len;
    uint32_t header_count;
    const uint8_t *headers; /* header_count encoded headers, headers_len bytes */
    size_t headers_len;
};

struct records_iter {
    const uint8_t *p;
    size_t len;
    size_t pos;
    int32_t remaining; /* records still expected, or RECORDS_COUNT_UNKNOWN */
    bool failed;       /* once malformed, always malformed */
};

/* Starts a walk over `len` bytes of records. record_count is the batch's
 * recordCount: exactly that many records must fill exactly `len` bytes.
 * Any other negative count makes the first records_next fail. */
void records_iter_init(struct records_iter *it, const uint8_t *body, size_t len, int32_t record_count);
/* 1 and *out filled; 0 at the end; -1 when malformed (and from then on). */
int records_next(struct records_iter *it, struct record_view *out);
/* Bytes consumed so far (where a malformed record starts, after a -1). */
static inline size_t records_iter_offset(const struct records_iter *it) { return it->pos; }

struct record_header_view {
    const uint8_t *key;
    int32_t key_len; /* >= 0 */
    const uint8_t *value; /* NULL iff value_len == -1 */
    int32_t value_len;
};

struct record_headers_iter {
    const uint8_t *p;
    size_t len;
    size_t pos;
    uint32_t remaining;
};

/* Walks the headers of a record returned by records_next. */
void record_headers_init(struct record_headers_iter *it, const struct record_view *rec);
/* 1 and *out filled; 0 at the end; -1 malformed (not after records_next
 * accepted the record, which checks every header). */
int record_headers_next(struct record_headers_iter *it, struct record_header_view *out);

/* Writing. rec->headers must hold rec->header_count encoded headers (see
 * records_write_header); key/value may be NULL only with length -1 or 0.
 * records_record_size gives the full encoded size (length prefix included)
 * or 0 if rec is invalid; records_write returns the bytes written, or 0 if
 * rec is invalid or does not fit in cap. */
size_t records_record_size(const struct record_view *rec);
size_t records_write(uint8_t *out, size_t cap, const struct record_view *rec);
/* One encoded header; value_len -1 for a null value. 0 if invalid or no room. */
size_t records_write_header(uint8_t *out, size_t cap, const void *key, int32_t key_len, const void *value,
                            int32_t value_len);

/* Zigzag varint codecs, shared with tests and fuzzers. Readers return the
 * bytes consumed, or -1 when malformed or past avail. Writers need
 * RECORDS_VARINT_BYTES_MAX / RECORDS_VARLONG_BYTES_MAX bytes of room. */
int records_read_varint(const uint8_t *p, size_t avail, int32_t *v);
int records_read_varlong(const uint8_t *p, size_t avail, int64_t *v);
size_t records_put_varint(uint8_t *p, int32_t v);
size_t records_put_varlong(uint8_t *p, int64_t v);
size_t records_varint_size(int32_t v);
size_t records_varlong_size(int64_t v);

#endif
