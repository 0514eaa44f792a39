/*
 * Record iteration and writing for magic-v2 batch bodies; the record
 * layout is in records.h. Every read is checked against the bytes left in
 * the enclosing record, and the record against the bytes left in the body.
 */
#include "protocol/records.h"

#include <string.h>

#include "protocol/varint.h"

/* ---- varints: records' zigzag flavour of the shared codec ---- */

int records_read_varint(const uint8_t *p, size_t avail, int32_t *v) {
    uint64_t u;
    int n = varint_decode(p, avail, 32, &u);
    if (n > 0) *v = varint_unzigzag32((uint32_t)u);
    return n;
}

int records_read_varlong(const uint8_t *p, size_t avail, int64_t *v) {
    uint64_t u;
    int n = varint_decode(p, avail, 64, &u);
    if (n > 0) *v = varint_unzigzag64(u);
    return n;
}

size_t records_put_varint(uint8_t *p, int32_t v) { return varint_encode(p, varint_zigzag32(v)); }
size_t records_put_varlong(uint8_t *p, int64_t v) { return varint_encode(p, varint_zigzag64(v)); }
size_t records_varint_size(int32_t v) { return varint_size(varint_zigzag32(v)); }
size_t records_varlong_size(int64_t v) { return varint_size(varint_zigzag64(v)); }

/* ---- a bounded reader over one record ----
 *
 * Every reader returns false as soon as something is malformed and the
 * callers stop at the first false: this loop runs for every record of
 * every produced batch, so it carries no sticky error flag to re-test. */

struct cursor {
    const uint8_t *p;
    const uint8_t *end;
};

static inline bool cur_uvar(struct cursor *c, int bits, uint64_t *u) {
    int n = varint_decode(c->p, (size_t)(c->end - c->p), bits, u);
    if (n < 0) return false;
    c->p += n;
    return true;
}

static inline bool cur_varint(struct cursor *c, int32_t *v) {
    uint64_t u = 0;
    bool ok = cur_uvar(c, 32, &u);
    *v = varint_unzigzag32((uint32_t)u);
    return ok;
}

static inline bool cur_varlong(struct cursor *c, int64_t *v) {
    uint64_t u = 0;
    bool ok = cur_uvar(c, 64, &u);
    *v = varint_unzigzag64(u);
    return ok;
}

/* A length-prefixed byte string; -1 is null when allowed. */
static inline bool cur_bytes(struct cursor *c, bool nullable, int32_t *len, const uint8_t **data) {
    if (!cur_varint(c, len)) return false;
    if (*len < 0) {
        *data = NULL;
        return *len == -1 && nullable;
    }
    if ((size_t)*len > (size_t)(c->end - c->p)) return false;
    *data = c->p;
    c->p += *len;
    return true;
}

static inline bool read_header(struct cursor *c, struct record_header_view *h) {
    return cur_bytes(c, false, &h->key_len, &h->key) && cur_bytes(c, true, &h->value_len, &h->value);
}

/* ---- records ---- */

void records_iter_init(struct records_iter *it, const uint8_t *body, size_t len, int32_t record_count) {
    /* Never NULL: even adding 0 to a null pointer is undefined. */
    static const uint8_t empty;
    it->p = body ? body : &empty;
    it->len = body ? len : 0;
    it->pos = 0;
    it->remaining = record_count;
    it->failed = record_count < RECORDS_COUNT_UNKNOWN;
}

/* Fields of one record held in c, which spans exactly its stated length
 * (at least RECORDS_BODY_BYTES_MIN bytes, so the attributes byte is there). */
static bool parse_record(struct cursor *c, struct record_view *out) {
    out->attributes = (int8_t)*c->p++;
    int32_t count;
    if (!cur_varlong(c, &out->timestamp_delta) || !cur_varint(c, &out->offset_delta) ||
        !cur_bytes(c, true, &out->key_len, &out->key) || !cur_bytes(c, true, &out->value_len, &out->value) ||
        !cur_varint(c, &count) || count < 0)
        return false;
    out->header_count = (uint32_t)count;
    out->headers = c->p;
    struct record_header_view h;
    /* Each header takes at least 2 bytes, so the loop is bounded by the
     * record's length whatever count claims. */
    for (int32_t i = 0; i < count; i++)
        if (!read_header(c, &h)) return false;
    out->headers_len = (size_t)(c->p - out->headers);
    return c->p == c->end; /* the fields fill the record exactly */
}

int records_next(struct records_iter *it, struct record_view *out) {
    if (it->failed) return -1;
    if (it->remaining == 0 || (it->remaining == RECORDS_COUNT_UNKNOWN && it->pos == it->len)) {
        if (it->pos == it->len) return 0;
        it->failed = true; /* bytes left after the declared records */
        return -1;
    }
    struct cursor c = {.p = it->p + it->pos, .end = it->p + it->len};
    int32_t body_len;
    if (!cur_varint(&c, &body_len) || body_len < RECORDS_BODY_BYTES_MIN || (size_t)body_len > (size_t)(c.end - c.p)) {
        it->failed = true;
        return -1;
    }
    c.end = c.p + body_len;
    if (!parse_record(&c, out)) {
        it->failed = true;
        return -1;
    }
    it->pos = (size_t)(c.end - it->p);
    if (it->remaining > 0) it->remaining--;
    return 1;
}

void record_headers_init(struct record_headers_iter *it, const struct record_view *rec) {
    static const uint8_t empty;
    it->p = rec->headers ? rec->headers : &empty;
    it->len = rec->headers ? rec->headers_len : 0;
    it->pos = 0;
    it->remaining = rec->header_count;
}

int record_headers_next(struct record_headers_iter *it, struct record_header_view *out) {
    if (it->remaining == 0) return 0;
    struct cursor c = {.p = it->p + it->pos, .end = it->p + it->len};
    if (!read_header(&c, out)) return -1;
    it->pos = (size_t)(c.p - it->p);
    it->remaining--;
    return 1;
}

/* ---- writing ---- */

static bool bytes_valid(const void *p, int32_t len) { return len >= -1 && (p || len <= 0); }

/* The record's size after its length prefix, or 0 if invalid. */
static size_t body_size(const struct record_view *rec) {
    if (!bytes_valid(rec->key, rec->key_len) || !bytes_valid(rec->value, rec->value_len)) return 0;
    if (rec->header_count > INT32_MAX || (rec->headers_len && !rec->headers)) return 0;
    if (rec->header_count > 0 && rec->headers_len < 2 * (size_t)rec->header_count) return 0;
    size_t n = 1 + records_varlong_size(rec->timestamp_delta) + records_varint_size(rec->offset_delta);
    n += records_varint_size(rec->key_len) + (rec->key_len > 0 ? (size_t)rec->key_len : 0);
    n += records_varint_size(rec->value_len) + (rec->value_len > 0 ? (size_t)rec->value_len : 0);
    n += records_varint_size((int32_t)rec->header_count) + rec->headers_len;
    return n <= INT32_MAX ? n : 0;
}

size_t records_record_size(const struct record_view *rec) {
    size_t body = body_size(rec);
    return body ? records_varint_size((int32_t)body) + body : 0;
}

static size_t put_bytes(uint8_t *p, const void *src, int32_t len) {
    size_t n = records_put_varint(p, len);
    if (len > 0) memcpy(p + n, src, (size_t)len);
    return n + (len > 0 ? (size_t)len : 0);
}

size_t records_write(uint8_t *out, size_t cap, const struct record_view *rec) {
    size_t body = body_size(rec);
    if (!body || records_varint_size((int32_t)body) + body > cap) return 0;
    size_t n = records_put_varint(out, (int32_t)body);
    out[n++] = (uint8_t)rec->attributes;
    n += records_put_varlong(out + n, rec->timestamp_delta);
    n += records_put_varint(out + n, rec->offset_delta);
    n += put_bytes(out + n, rec->key, rec->key_len);
    n += put_bytes(out + n, rec->value, rec->value_len);
    n += records_put_varint(out + n, (int32_t)rec->header_count);
    if (rec->headers_len) memcpy(out + n, rec->headers, rec->headers_len);
    return n + rec->headers_len;
}

size_t records_write_header(uint8_t *out, size_t cap, const void *key, int32_t key_len, const void *value,
                            int32_t value_len) {
    if (key_len < 0 || !bytes_valid(key, key_len) || !bytes_valid(value, value_len)) return 0;
    size_t need = records_varint_size(key_len) + (size_t)key_len + records_varint_size(value_len) +
                  (value_len > 0 ? (size_t)value_len : 0);
    if (need > cap) return 0;
    size_t n = put_bytes(out, key, key_len);
    return n + put_bytes(out + n, value, value_len);
}
