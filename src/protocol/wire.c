#include "protocol/wire.h"

#include <string.h>

#include "core/limits.h"
#include "protocol/varint.h"

bool kstr_eq(struct kstr s, const char *c) {
    if (s.len < 0 || !c) return s.len < 0 && !c;
    size_t n = strlen(c);
    return n == (size_t)s.len && (n == 0 || memcmp(s.ptr, c, n) == 0);
}

char *kstr_dup(struct arena *a, struct kstr s) {
    if (s.len < 0) return NULL;
    return arena_strndup(a, s.ptr ? s.ptr : "", (size_t)s.len);
}

/* ------------------------------------------------------------------ reading */

/* Returns n bytes to read, or NULL (err set) if fewer remain. */
static const uint8_t *take(struct kreader *r, size_t n) {
    if (r->err || kr_remaining(r) < n) {
        r->err = true;
        return NULL;
    }
    const uint8_t *p = r->p;
    r->p += n;
    return p;
}

/* The next n bytes as a big-endian number; 0 (err set) if fewer remain.
 * Every fixed-width reader is this plus a cast, as put_be is for writing. */
static uint64_t read_be(struct kreader *r, int n) {
    const uint8_t *p = take(r, (size_t)n);
    uint64_t v = 0;
    if (p)
        for (int i = 0; i < n; i++) v = (v << 8) | p[i];
    return v;
}

int8_t kr_i8(struct kreader *r) { return (int8_t)read_be(r, 1); }
int16_t kr_i16(struct kreader *r) { return (int16_t)read_be(r, 2); }
int32_t kr_i32(struct kreader *r) { return (int32_t)read_be(r, 4); }
int64_t kr_i64(struct kreader *r) { return (int64_t)read_be(r, 8); }
uint16_t kr_u16(struct kreader *r) { return (uint16_t)read_be(r, 2); }
uint32_t kr_u32(struct kreader *r) { return (uint32_t)read_be(r, 4); }
double kr_f64(struct kreader *r) {
    uint64_t bits = read_be(r, 8);
    double d;
    memcpy(&d, &bits, sizeof(d));
    return d;
}
/* Kafka reads any non-zero byte as true. */
bool kr_bool(struct kreader *r) { return kr_i8(r) != 0; }

/* wire.h's public size bounds must be the ones the shared decoder enforces. */
_Static_assert(KWIRE_UVARINT32_BYTES_MAX == VARINT_BYTES_MAX_32, "varint bound");
_Static_assert(KWIRE_UVARINT64_BYTES_MAX == VARINT_BYTES_MAX_64, "varlong bound");

/* Inline so each caller passes a constant width and the shared decoder
 * folds its width arithmetic away. */
static inline uint64_t read_uvar(struct kreader *r, int value_bits) {
    uint64_t v = 0;
    int n = r->err ? -1 : varint_decode(r->p, kr_remaining(r), value_bits, &v);
    if (n < 0) {
        r->err = true;
        return 0;
    }
    r->p += n;
    return v;
}

uint32_t kr_uvarint(struct kreader *r) { return (uint32_t)read_uvar(r, 32); }
uint64_t kr_uvarlong(struct kreader *r) { return read_uvar(r, 64); }
int32_t kr_varint(struct kreader *r) { return varint_unzigzag32(kr_uvarint(r)); }
int64_t kr_varlong(struct kreader *r) { return varint_unzigzag64(kr_uvarlong(r)); }

struct kuuid kr_uuid(struct kreader *r) {
    struct kuuid u = {{0}};
    const uint8_t *p = take(r, sizeof(u.bytes));
    if (p) memcpy(u.bytes, p, sizeof(u.bytes));
    return u;
}

void kr_skip(struct kreader *r, size_t n) { (void)take(r, n); }

/* A length prefix: -1 for null, otherwise validated against max and the
 * bytes left; on any problem err is set and -1 returned. */
static int32_t read_len(struct kreader *r, bool compact, bool wide, bool nullable, uint32_t max) {
    int64_t n;
    if (compact)
        n = (int64_t)kr_uvarint(r) - 1;
    else
        n = wide ? kr_i32(r) : kr_i16(r);
    if (r->err) return -1;
    if (n == -1) {
        if (!nullable) r->err = true;
        return -1;
    }
    if (n < -1 || n > (int64_t)max || (uint64_t)n > kr_remaining(r)) {
        r->err = true;
        return -1;
    }
    return (int32_t)n;
}

struct kstr kr_string(struct kreader *r, bool compact, bool nullable) {
    struct kstr s = {NULL, -1};
    int32_t n = read_len(r, compact, false, nullable, KWIRE_STRING_LEN_MAX);
    if (n >= 0) {
        s.ptr = (const char *)take(r, (size_t)n);
        s.len = n;
    }
    if (r->err) s = (struct kstr){NULL, nullable ? -1 : 0};
    return s;
}

struct kbytes kr_bytes(struct kreader *r, bool compact, bool nullable) {
    struct kbytes b = {NULL, -1};
    int32_t n = read_len(r, compact, true, nullable, INT32_MAX);
    if (n >= 0) {
        b.ptr = take(r, (size_t)n);
        b.len = n;
    }
    if (r->err) b = (struct kbytes){NULL, nullable ? -1 : 0};
    return b;
}

struct krecords kr_records(struct kreader *r, bool compact, bool nullable) {
    struct kbytes b = kr_bytes(r, compact, nullable);
    return (struct krecords){b.ptr, b.len, -1, 0};
}

int32_t kr_array_len(struct kreader *r, bool compact, bool nullable, size_t min_elem_bytes) {
    int64_t n;
    if (compact)
        n = (int64_t)kr_uvarint(r) - 1;
    else
        n = kr_i32(r);
    if (r->err) return 0;
    if (n == -1) {
        if (!nullable) r->err = true;
        return r->err ? 0 : -1;
    }
    if (n < -1 || n > LIMIT_ARRAY_COUNT_MAX || (uint64_t)n * min_elem_bytes > kr_remaining(r)) {
        r->err = true;
        return 0;
    }
    return (int32_t)n;
}

void *kr_array(struct kreader *r, struct arena *a, bool compact, bool nullable, size_t min_elem_bytes,
               size_t elem_size, int32_t *count) {
    *count = kr_array_len(r, compact, nullable, min_elem_bytes);
    if (*count <= 0) return NULL;
    void *p = arena_alloc(a, (size_t)*count * elem_size);
    if (!p) {
        r->err = true;
        *count = 0;
    }
    return p;
}

uint32_t kr_tag_count(struct kreader *r) {
    uint32_t n = kr_uvarint(r);
    /* Each tagged field takes at least two bytes (tag and size). */
    if (!r->err && n > kr_remaining(r) / 2) r->err = true;
    return r->err ? 0 : n;
}

bool kr_tag_next(struct kreader *r, uint32_t *tag, struct kreader *body) {
    *tag = kr_uvarint(r);
    uint32_t size = kr_uvarint(r);
    const uint8_t *p = r->err ? NULL : take(r, size);
    if (!p) {
        kreader_init(body, NULL, 0);
        body->err = true;
        return false;
    }
    kreader_init(body, p, size);
    return true;
}

void kr_skip_tagged_fields(struct kreader *r) {
    uint32_t n = kr_tag_count(r);
    for (uint32_t i = 0; i < n && !r->err; i++) {
        uint32_t tag;
        struct kreader body;
        kr_tag_next(r, &tag, &body);
    }
}

/* ------------------------------------------------------------------ writing */

static void put_be(struct obuf *ob, uint64_t v, int n) {
    uint8_t *p = obuf_extend(ob, (size_t)n);
    if (!p) return;
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

void kw_i8(struct obuf *ob, int8_t v) { put_be(ob, (uint8_t)v, 1); }
void kw_i16(struct obuf *ob, int16_t v) { put_be(ob, (uint16_t)v, 2); }
void kw_i32(struct obuf *ob, int32_t v) { put_be(ob, (uint32_t)v, 4); }
void kw_i64(struct obuf *ob, int64_t v) { put_be(ob, (uint64_t)v, 8); }
void kw_u16(struct obuf *ob, uint16_t v) { put_be(ob, v, 2); }
void kw_u32(struct obuf *ob, uint32_t v) { put_be(ob, v, 4); }
void kw_f64(struct obuf *ob, double v) {
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    put_be(ob, bits, 8);
}
void kw_bool(struct obuf *ob, bool v) { put_be(ob, v ? 1 : 0, 1); }

void kw_uvarlong(struct obuf *ob, uint64_t v) {
    uint8_t tmp[KWIRE_UVARINT64_BYTES_MAX];
    obuf_put(ob, tmp, varint_encode(tmp, v));
}
void kw_uvarint(struct obuf *ob, uint32_t v) { kw_uvarlong(ob, v); }
void kw_varint(struct obuf *ob, int32_t v) { kw_uvarint(ob, varint_zigzag32(v)); }
void kw_varlong(struct obuf *ob, int64_t v) { kw_uvarlong(ob, varint_zigzag64(v)); }
size_t kw_uvarint_size(uint32_t v) { return varint_size(v); }

void kw_uuid(struct obuf *ob, struct kuuid v) { obuf_put(ob, v.bytes, sizeof(v.bytes)); }

/* Writes a length prefix; false (buffer failed) if it cannot be written. */
static bool write_len(struct obuf *ob, int32_t len, bool compact, bool wide, bool nullable) {
    if (len < -1 || (len == -1 && !nullable) || (!wide && len > KWIRE_STRING_LEN_MAX)) {
        kw_fail(ob);
        return false;
    }
    if (compact)
        kw_uvarint(ob, (uint32_t)len + 1);
    else if (wide)
        kw_i32(ob, len);
    else
        kw_i16(ob, (int16_t)len);
    return true;
}

void kw_string(struct obuf *ob, struct kstr s, bool compact, bool nullable) {
    if (s.len > 0 && !s.ptr) {
        kw_fail(ob);
        return;
    }
    if (write_len(ob, s.len, compact, false, nullable) && s.len > 0) obuf_put(ob, s.ptr, (size_t)s.len);
}

void kw_bytes(struct obuf *ob, struct kbytes b, bool compact, bool nullable) {
    if (b.len > 0 && !b.ptr) {
        kw_fail(ob);
        return;
    }
    if (write_len(ob, b.len, compact, true, nullable) && b.len > 0) obuf_put(ob, b.ptr, (size_t)b.len);
}

void kw_records(struct obuf *ob, const struct krecords *rec, bool compact, bool nullable) {
    if (rec->fd >= 0) {
        /* The fd is handed over whatever happens, so the caller never has
         * to work out whether it still owns it. */
        if (rec->len < 0) kw_fail(ob);
        else write_len(ob, rec->len, compact, true, nullable);
        obuf_add_file(ob, rec->fd, rec->file_pos, rec->len < 0 ? 0 : (uint32_t)rec->len);
        return;
    }
    kw_bytes(ob, (struct kbytes){rec->ptr, rec->len}, compact, nullable);
}

void kw_array_len(struct obuf *ob, int32_t count, const void *elems, bool compact, bool nullable) {
    if (count > 0 && !elems) {
        kw_fail(ob);
        return;
    }
    write_len(ob, count, compact, true, nullable);
}

size_t kw_tag_begin(struct obuf *ob, uint32_t tag) {
    kw_uvarint(ob, tag);
    return ob->len;
}

void kw_tag_end(struct obuf *ob, size_t body_start) {
    if (ob->failed) return;
    if (ob->files_len && ob->files[ob->files_len - 1].mem_pos >= body_start) {
        kw_fail(ob); /* a file range inside a tagged body would be misplaced */
        return;
    }
    size_t body = ob->len - body_start;
    if (body > UINT32_MAX) {
        kw_fail(ob);
        return;
    }
    uint8_t tmp[KWIRE_UVARINT32_BYTES_MAX];
    size_t n = varint_encode(tmp, body);
    if (!obuf_extend(ob, n)) return;
    memmove(ob->data + body_start + n, ob->data + body_start, body);
    memcpy(ob->data + body_start, tmp, n);
}
