/*
 * libFuzzer target for the record iterator and the decompressors. The
 * first byte picks what the rest is fed to:
 *   % 6 == 0   the record iterator (count unknown), with each record
 *              written back by records_write and read again: fields must
 *              survive the round trip
 *   % 6 == 1-4 compression_decompress with that codec into a bounded
 *              buffer; whatever decodes is recompressed with the same codec
 *              and must decode to the same bytes, then walked as records
 *   % 6 == 5   compression_decompress_alloc (growth path), codec from the
 *              second byte
 * Any inconsistency traps; the sanitizers catch the rest.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/compression.h"
#include "protocol/records.h"

/* Small enough to keep runs fast, large enough for real multi-block frames. */
#define FUZZ_OUT_CAP (1u << 20)
#define FUZZ_MODES 6

static uint8_t out_buf[FUZZ_OUT_CAP];

static void require(int cond) {
    if (!cond) __builtin_trap();
}

static int same_bytes(const uint8_t *a, int32_t alen, const uint8_t *b, int32_t blen) {
    if (alen != blen || (a == NULL) != (b == NULL)) return 0;
    return alen <= 0 || memcmp(a, b, (size_t)alen) == 0;
}

static void check_headers(const struct record_view *r) {
    struct record_headers_iter hi;
    struct record_header_view h;
    record_headers_init(&hi, r);
    uint32_t n = 0;
    int rc;
    while ((rc = record_headers_next(&hi, &h)) == 1) {
        require(h.key_len >= 0 && h.value_len >= -1);
        n++;
    }
    /* records_next already checked every header. */
    require(rc == 0 && n == r->header_count);
}

static void rewrite_and_compare(const struct record_view *r) {
    static uint8_t buf[FUZZ_OUT_CAP + 64];
    size_t len = records_write(buf, sizeof(buf), r);
    require(len > 0 && len == records_record_size(r));
    struct records_iter it;
    struct record_view back;
    records_iter_init(&it, buf, len, 1);
    require(records_next(&it, &back) == 1);
    require(records_next(&it, &back) == 0);
    require(back.attributes == r->attributes && back.timestamp_delta == r->timestamp_delta &&
            back.offset_delta == r->offset_delta && back.header_count == r->header_count);
    require(same_bytes(back.key, back.key_len, r->key, r->key_len));
    require(same_bytes(back.value, back.value_len, r->value, r->value_len));
    require(back.headers_len == r->headers_len && memcmp(back.headers, r->headers, r->headers_len) == 0);
}

static void walk_records(const uint8_t *p, size_t len, int rewrite) {
    struct records_iter it;
    struct record_view r;
    records_iter_init(&it, p, len, RECORDS_COUNT_UNKNOWN);
    int rc;
    while ((rc = records_next(&it, &r)) == 1) {
        require(r.key_len >= -1 && r.value_len >= -1);
        require((r.key == NULL) == (r.key_len == -1) && (r.value == NULL) == (r.value_len == -1));
        check_headers(&r);
        if (rewrite) rewrite_and_compare(&r);
    }
    require(records_next(&it, &r) == rc); /* the end and failure both stick */
    require(records_iter_offset(&it) <= len);
}

static void decompress_and_recompress(int codec, const uint8_t *in, size_t len) {
    size_t out_len = 0;
    int rc = compression_decompress(codec, in, len, out_buf, FUZZ_OUT_CAP, &out_len);
    require(rc == COMPRESSION_OK || rc == COMPRESSION_ERR_CORRUPT || rc == COMPRESSION_ERR_TOO_LARGE ||
            rc == COMPRESSION_ERR_NOMEM);
    if (rc != COMPRESSION_OK) return;
    require(out_len <= FUZZ_OUT_CAP);
    walk_records(out_buf, out_len, 0);
    size_t bound = compression_compress_bound(codec, out_len), clen = 0, back_len = 0;
    uint8_t *c = malloc(bound ? bound : 1), *back = malloc(out_len ? out_len : 1);
    require(c && back);
    require(compression_compress(codec, COMPRESSION_LEVEL_DEFAULT, out_buf, out_len, c, bound, &clen) == 0);
    require(compression_decompress(codec, c, clen, back, out_len, &back_len) == COMPRESSION_OK);
    require(back_len == out_len && (out_len == 0 || memcmp(back, out_buf, out_len) == 0));
    free(back);
    free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int mode = data[0] % FUZZ_MODES;
    data++, size--;
    if (mode == 0) {
        walk_records(data, size, 1);
    } else if (mode <= COMPRESSION_CODEC_MAX) {
        decompress_and_recompress(mode, data, size);
    } else if (size >= 1) {
        int codec = data[0] % (COMPRESSION_CODEC_MAX + 1);
        uint8_t *out = NULL;
        size_t out_len = 0;
        int rc = compression_decompress_alloc(codec, data + 1, size - 1, FUZZ_OUT_CAP, &out, &out_len);
        require((rc == COMPRESSION_OK) == (out != NULL));
        require(out_len <= FUZZ_OUT_CAP);
        free(out);
    }
    return 0;
}
