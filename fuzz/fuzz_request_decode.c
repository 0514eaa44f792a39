/*
 * libFuzzer target for the request decoders. Input: api key (2 bytes,
 * big-endian), api version (2 bytes), then a request body. The body is
 * decoded with kafka_request_decode_any inside a bounded arena, and the
 * same bytes are parsed as a request header of the version that API uses.
 *
 * Beyond "no crash", a body that decodes must survive a second trip:
 * encode it, decode the encoding, encode again, and the two encodings must
 * match (unknown tags are dropped by the first encode, so the first
 * decode's input need not match).
 *
 * Built with -DFUZZ_WRITE_SEEDS (and without -fsanitize=fuzzer) it is
 * instead a program that writes the seed corpus: one valid encoding of every
 * request at its lowest and highest version, from the codec tests' samples.
 *   cc -std=c17 -D_GNU_SOURCE -Isrc -DFUZZ_WRITE_SEEDS fuzz/fuzz_request_decode.c \
 *      $(find src/protocol/gen -name '*.c') src/protocol/wire.c src/core/arena.c src/core/obuf.c \
 *      -o /tmp/seeds
 *   /tmp/seeds fuzz/corpus/fuzz_request_decode
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tests/unit/gen/kafka_samples.c"
#include "core/arena.h"
#include "core/obuf.h"
#include "protocol/gen/kafka_msgs.h"
#include "protocol/wire.h"

/* Far below the broker's LIMIT_REQUEST_ARENA_BYTES_MAX so that inputs
 * claiming huge arrays hit the limit quickly instead of exhausting the
 * fuzzer's RSS budget; real inputs of fuzzing size need much less. */
#define FUZZ_ARENA_BYTES (4 * 1024 * 1024)
/* Re-encodings of fuzz-sized inputs are small; the cap only guards RSS. */
#define FUZZ_OBUF_BYTES (16 * 1024 * 1024)

static const struct ksample_entry *find_request(int16_t api_key) {
    for (size_t i = 0; i < ksample_count; i++)
        if (ksample_table[i].api_key == api_key && strcmp(ksample_table[i].kind, "request") == 0)
            return &ksample_table[i];
    return NULL;
}

static void check_reencoding(const struct ksample_entry *e, int16_t v, const uint8_t *body, size_t len) {
    struct arena a;
    arena_init(&a, FUZZ_ARENA_BYTES);
    struct obuf ob1, ob2;
    obuf_init(&ob1, FUZZ_OBUF_BYTES);
    obuf_init(&ob2, FUZZ_OBUF_BYTES);
    void *m1 = arena_alloc(&a, e->size);
    void *m2 = arena_alloc(&a, e->size);
    struct kreader r;
    kreader_init(&r, body, len);
    if (m1 && m2 && e->decode(m1, &r, v, &a) == 0) {
        if (e->encode(m1, &ob1, v) != 0) {
            fprintf(stderr, "%s v%d: a decoded request does not encode\n", e->name, v);
            abort();
        }
        kreader_init(&r, ob1.data, ob1.len);
        if (e->decode(m2, &r, v, &a) != 0 || r.p != r.end) {
            fprintf(stderr, "%s v%d: our own encoding does not decode\n", e->name, v);
            abort();
        }
        if (e->encode(m2, &ob2, v) != 0 || ob2.len != ob1.len ||
            (ob1.len && memcmp(ob1.data, ob2.data, ob1.len) != 0)) {
            fprintf(stderr, "%s v%d: re-encoding is not stable\n", e->name, v);
            abort();
        }
    }
    obuf_free(&ob1);
    obuf_free(&ob2);
    arena_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 4) return 0;
    int16_t api_key = (int16_t)((data[0] << 8) | data[1]);
    int16_t version = (int16_t)((data[2] << 8) | data[3]);
    const uint8_t *body = data + 4;
    size_t len = size - 4;

    struct arena a;
    arena_init(&a, FUZZ_ARENA_BYTES);
    struct kreader r;
    kreader_init(&r, body, len);
    (void)kafka_request_decode_any(api_key, version, &r, &a);

    int16_t hv = kafka_request_header_version(api_key, version);
    if (hv >= 0) {
        struct kafka_request_header h;
        kreader_init(&r, body, len);
        if (kafka_request_header_decode(&h, &r, hv, &a) == 0 && h.client_id.len > 0) {
            /* Decoded strings point into the input; touch them all. */
            volatile char sink = h.client_id.ptr[h.client_id.len - 1];
            (void)sink;
        }
    }
    arena_free(&a);

    const struct ksample_entry *e = find_request(api_key);
    if (e && version >= e->min_version && version <= e->max_version) check_reencoding(e, version, body, len);
    return 0;
}

#ifdef FUZZ_WRITE_SEEDS
static int write_seed(const char *dir, const struct ksample_entry *e, int16_t v) {
    struct arena a;
    arena_init(&a, FUZZ_ARENA_BYTES);
    struct obuf ob;
    obuf_init(&ob, FUZZ_OBUF_BYTES);
    kw_i16(&ob, e->api_key);
    kw_i16(&ob, v);
    void *m = arena_alloc(&a, e->size);
    struct ksample s = {.n = 0, .nulls = false};
    e->fill(m, v, &a, &s);
    int rc = e->encode(m, &ob, v);
    if (rc == 0) {
        char path[512];
        snprintf(path, sizeof(path), "%s/%s-v%d", dir, e->name, v);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(ob.data, 1, ob.len, f) != ob.len) rc = -1;
        if (f && fclose(f) != 0) rc = -1;
    }
    obuf_free(&ob);
    arena_free(&a);
    return rc;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    for (size_t i = 0; i < ksample_count; i++) {
        const struct ksample_entry *e = &ksample_table[i];
        if (strcmp(e->kind, "request") != 0) continue;
        if (write_seed(argv[1], e, e->min_version) != 0) return 1;
        if (e->max_version != e->min_version && write_seed(argv[1], e, e->max_version) != 0) return 1;
    }
    return 0;
}
#endif
