/*
 * Kafka wire primitives: the value types the generated message codecs use,
 * a bounds-checked reader over one request frame, and writers that append
 * to an obuf.
 *
 * Reading: a struct kreader has a sticky error flag. Every reader checks
 * the bytes left first; reading past the end (or reading malformed data)
 * sets err and returns a zero value, so a decoder can run a sequence of
 * reads and check err once. Length and count prefixes are validated against
 * the bytes actually left before anything is allocated, so a frame cannot
 * make us allocate more than a small multiple of its own size.
 *
 * Writing: obuf errors are sticky too. The writers also mark the obuf
 * failed when asked to write something the protocol cannot express (a null
 * where the field is not nullable, an over-long string), so an encoder
 * checks obuf_failed() once at the end.
 *
 * Decoded strings, bytes and records point into the frame: they live as
 * long as the frame does and are not NUL-terminated.
 */
#ifndef GREGOR_PROTOCOL_WIRE_H
#define GREGOR_PROTOCOL_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/arena.h"
#include "core/obuf.h"

/* Kafka caps every string at 32767 bytes, compact or not (its generated
 * Java rejects longer ones), because the classic encoding has an int16
 * length; we keep the same bound in both directions. */
#define KWIRE_STRING_LEN_MAX INT16_MAX

/* An unsigned varint carrying a 32-bit value takes at most 5 bytes
 * (5 * 7 = 35 bits); longer ones are malformed. */
#define KWIRE_UVARINT32_BYTES_MAX 5
/* Likewise 10 bytes (70 bits) for a 64-bit varlong. */
#define KWIRE_UVARINT64_BYTES_MAX 10

/* A string: len -1 is null. Not NUL-terminated. */
struct kstr {
    const char *ptr;
    int32_t len;
};

/* Binary data: len -1 is null. */
struct kbytes {
    const uint8_t *ptr;
    int32_t len;
};

/*
 * A record set, kept as an opaque byte range (record batches are parsed
 * elsewhere). len -1 is null. Decoding sets ptr into the frame and fd = -1.
 * Encoding with fd >= 0 writes the length prefix from len and then hands
 * (fd, file_pos, len) to obuf_add_file, which takes ownership of fd: the
 * bytes go out with sendfile and never pass through user space.
 */
struct krecords {
    const uint8_t *ptr;
    int32_t len;
    int fd;
    int64_t file_pos;
};

struct kuuid {
    uint8_t bytes[16];
};

/* From a C string; NULL gives a null kstr. */
static inline struct kstr kstr_c(const char *s) {
    struct kstr k = {s, -1};
    if (s) {
        size_t n = strlen(s);
        k.len = n > INT32_MAX ? INT32_MAX : (int32_t)n;
    }
    return k;
}
/* True if s equals the C string c; a null kstr equals only c == NULL. */
bool kstr_eq(struct kstr s, const char *c);
/* NUL-terminated copy in the arena; NULL for a null kstr or no memory. */
char *kstr_dup(struct arena *a, struct kstr s);
static inline bool kuuid_is_zero(struct kuuid u) {
    static const struct kuuid zero;
    return memcmp(u.bytes, zero.bytes, sizeof(u.bytes)) == 0;
}
static inline struct krecords krecords_null(void) { return (struct krecords){NULL, -1, -1, 0}; }

/* ------------------------------------------------------------------ reading */

struct kreader {
    const uint8_t *p;
    const uint8_t *end;
    bool err;
};

static inline void kreader_init(struct kreader *r, const void *data, size_t len) {
    /* Even an empty reader points at something: pointer arithmetic on NULL
     * is undefined, even adding zero. */
    static const uint8_t empty;
    r->p = data ? data : &empty;
    r->end = r->p + len;
    r->err = false;
}
static inline size_t kr_remaining(const struct kreader *r) { return (size_t)(r->end - r->p); }
/* Marks the reader failed; returns -1 so decoders can `return kr_fail(r);`. */
static inline int kr_fail(struct kreader *r) {
    r->err = true;
    return -1;
}

int8_t kr_i8(struct kreader *r);
int16_t kr_i16(struct kreader *r);
int32_t kr_i32(struct kreader *r);
int64_t kr_i64(struct kreader *r);
uint16_t kr_u16(struct kreader *r);
uint32_t kr_u32(struct kreader *r);
double kr_f64(struct kreader *r);
bool kr_bool(struct kreader *r);
uint32_t kr_uvarint(struct kreader *r);
uint64_t kr_uvarlong(struct kreader *r);
int32_t kr_varint(struct kreader *r);  /* zigzag */
int64_t kr_varlong(struct kreader *r); /* zigzag */
struct kuuid kr_uuid(struct kreader *r);
/* Skips n bytes; err if fewer remain. */
void kr_skip(struct kreader *r, size_t n);

/*
 * compact: the flexible-version encoding (unsigned varint of length + 1,
 * 0 = null) instead of an int16 (strings) or int32 (bytes) length with -1
 * = null. A null read where nullable is false is an error.
 */
struct kstr kr_string(struct kreader *r, bool compact, bool nullable);
struct kbytes kr_bytes(struct kreader *r, bool compact, bool nullable);
struct krecords kr_records(struct kreader *r, bool compact, bool nullable);

/*
 * Reads an array length (compact or int32, as for bytes) and validates it:
 * at most LIMIT_ARRAY_COUNT_MAX and, since every element takes at least
 * min_elem_bytes on the wire, no more than the bytes left allow. Returns
 * the count, -1 for a null array, or 0 with err set.
 */
int32_t kr_array_len(struct kreader *r, bool compact, bool nullable, size_t min_elem_bytes);
/*
 * kr_array_len plus allocation of count zeroed elements of elem_size from
 * the arena. Returns NULL for a null or empty array (see *count) and on
 * error (err set, *count 0).
 */
void *kr_array(struct kreader *r, struct arena *a, bool compact, bool nullable, size_t min_elem_bytes,
               size_t elem_size, int32_t *count);

/*
 * Tagged fields: kr_tag_count reads how many follow; each kr_tag_next reads
 * one tag and its size, points *body at exactly that many bytes and moves r
 * past them, so a field's decoder cannot overrun into the next. Returns
 * false (err set) if the size runs past the end.
 */
uint32_t kr_tag_count(struct kreader *r);
bool kr_tag_next(struct kreader *r, uint32_t *tag, struct kreader *body);
/* Skips a whole tagged-field section (a struct with no known tags). */
void kr_skip_tagged_fields(struct kreader *r);

/* ------------------------------------------------------------------ writing */

/* Marks the buffer failed: an encoder was given a value it cannot write. */
static inline void kw_fail(struct obuf *ob) { ob->failed = true; }

void kw_i8(struct obuf *ob, int8_t v);
void kw_i16(struct obuf *ob, int16_t v);
void kw_i32(struct obuf *ob, int32_t v);
void kw_i64(struct obuf *ob, int64_t v);
void kw_u16(struct obuf *ob, uint16_t v);
void kw_u32(struct obuf *ob, uint32_t v);
void kw_f64(struct obuf *ob, double v);
void kw_bool(struct obuf *ob, bool v);
void kw_uvarint(struct obuf *ob, uint32_t v);
void kw_uvarlong(struct obuf *ob, uint64_t v);
void kw_varint(struct obuf *ob, int32_t v);  /* zigzag */
void kw_varlong(struct obuf *ob, int64_t v); /* zigzag */
void kw_uuid(struct obuf *ob, struct kuuid v);

void kw_string(struct obuf *ob, struct kstr s, bool compact, bool nullable);
void kw_bytes(struct obuf *ob, struct kbytes b, bool compact, bool nullable);
/* See struct krecords: with fd >= 0 the fd always ends up owned by ob
 * (closed by it on failure), even if this call fails. */
void kw_records(struct obuf *ob, const struct krecords *rec, bool compact, bool nullable);
/* An array length; fails the buffer for a null where not nullable, or a
 * positive count with no elements (elems == NULL). */
void kw_array_len(struct obuf *ob, int32_t count, const void *elems, bool compact, bool nullable);

/*
 * A tagged field's size precedes its body but is a varint, so it cannot be
 * reserved in advance: kw_tag_begin writes the tag and returns where the
 * body starts; after the body is written, kw_tag_end inserts its size
 * there. The body must not add file ranges (records are never tagged).
 */
size_t kw_tag_begin(struct obuf *ob, uint32_t tag);
void kw_tag_end(struct obuf *ob, size_t body_start);

/* Bytes an unsigned varint takes. */
size_t kw_uvarint_size(uint32_t v);

#endif
