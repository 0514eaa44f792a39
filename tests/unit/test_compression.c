/*
 * Codecs (round trips, frames written by the real libraries and CLI tools
 * in Kafka's framing, corruption, bombs) and the v2 record iterator
 * (hand-built records, malformed varints and lengths).
 */
#include <lz4frame.h>
#include <snappy-c.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "check.h"
#include "protocol/compression.h"
#include "protocol/records.h"

#define MIB (1024u * 1024)

static uint64_t rng_state = 0x2545F4914F6CDD1DULL;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

/* Text-like bytes that compress, with random stretches that do not. */
static uint8_t *sample(size_t n) {
    uint8_t *p = malloc(n ? n : 1);
    static const char words[] = "kafka broker record batch offset partition leader epoch ";
    for (size_t i = 0; i < n; i++) p[i] = (i / 4096) % 3 == 2 ? (uint8_t)rnd() : (uint8_t)words[i % (sizeof(words) - 1)];
    return p;
}

static bool round_trip(int codec, const uint8_t *in, size_t n, int level) {
    size_t bound = compression_compress_bound(codec, n);
    uint8_t *c = malloc(bound ? bound : 1), *d = malloc(n ? n : 1);
    size_t clen = 0, dlen = 0;
    bool ok = compression_compress(codec, level, in, n, c, bound, &clen) == COMPRESSION_OK && clen <= bound &&
              compression_decompress(codec, c, clen, d, n, &dlen) == COMPRESSION_OK && dlen == n &&
              (n == 0 || memcmp(in, d, n) == 0);
    /* One byte less room than needed is always a bomb, never a short read. */
    if (ok && n > 0) ok = compression_decompress(codec, c, clen, d, n - 1, &dlen) == COMPRESSION_ERR_TOO_LARGE;
    free(c);
    free(d);
    return ok;
}

static void test_round_trips(void) {
    static const size_t sizes[] = {0, 1, 100, 32767, 32768, 32769, 65536, 65537, 300000, 2 * MIB + 3};
    for (int codec = COMPRESSION_NONE; codec <= COMPRESSION_CODEC_MAX; codec++) {
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
            uint8_t *in = sample(sizes[i]);
            if (!round_trip(codec, in, sizes[i], COMPRESSION_LEVEL_DEFAULT)) {
                fprintf(stderr, "round trip failed codec=%s size=%zu\n", compression_codec_name(codec), sizes[i]);
                CHECK(0);
            }
            free(in);
        }
    }
    uint8_t *in = sample(200000);
    static const int levels[] = {-5, 0, 1, 3, 9, 12, 17, 22, 99};
    for (int codec = COMPRESSION_GZIP; codec <= COMPRESSION_CODEC_MAX; codec++)
        for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) CHECK(round_trip(codec, in, 200000, levels[i]));
    /* Incompressible bytes are the worst case for the bounds. */
    uint8_t *noise = malloc(300000);
    for (size_t i = 0; i < 300000; i++) noise[i] = (uint8_t)rnd();
    for (int codec = COMPRESSION_NONE; codec <= COMPRESSION_CODEC_MAX; codec++) {
        CHECK(round_trip(codec, noise, 300000, 0));
        CHECK(round_trip(codec, noise, 300000, COMPRESSION_LEVEL_DEFAULT));
    }
    free(noise);
    /* Too little room to compress is its own error. */
    uint8_t small[8];
    size_t len;
    for (int codec = COMPRESSION_NONE; codec <= COMPRESSION_CODEC_MAX; codec++)
        CHECK_EQ_INT(compression_compress(codec, COMPRESSION_LEVEL_DEFAULT, in, 1000, small, sizeof(small), &len),
                     COMPRESSION_ERR_NOSPACE);
    CHECK_EQ_INT(compression_compress(5, 0, in, 10, small, sizeof(small), &len), COMPRESSION_ERR_CODEC);
    CHECK_EQ_INT(compression_decompress(7, in, 10, small, sizeof(small), &len), COMPRESSION_ERR_CODEC);
    CHECK(strcmp(compression_codec_name(COMPRESSION_ZSTD), "zstd") == 0);
    free(in);
}

/* ---- frames written by the real tools ---- */

static const char HK[] = "hello kafka hello kafka hello kafka";

/* `printf kafka | gzip -n` */
static const uint8_t GZIP_CLI[] = {0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xcb, 0x4e, 0x4c,
                                   0xcb, 0x4e, 0x04, 0x00, 0x17, 0x75, 0xbc, 0x5b, 0x05, 0x00, 0x00, 0x00};
/* `lz4 -c` of HK: linked flag clear, content checksum on. */
static const uint8_t LZ4_CLI[] = {0x04, 0x22, 0x4d, 0x18, 0x64, 0x40, 0xa7, 0x15, 0x00, 0x00, 0x00, 0xce, 0x68, 0x65,
                                  0x6c, 0x6c, 0x6f, 0x20, 0x6b, 0x61, 0x66, 0x6b, 0x61, 0x20, 0x0c, 0x00, 0x50, 0x6b,
                                  0x61, 0x66, 0x6b, 0x61, 0x00, 0x00, 0x00, 0x00, 0x61, 0xc4, 0xf6, 0xdf};
/* `zstd -c -` of HK: streamed, so no content size in the header. */
static const uint8_t ZSTD_CLI[] = {0x28, 0xb5, 0x2f, 0xfd, 0x04, 0x58, 0x95, 0x00, 0x00, 0x60, 0x68, 0x65,
                                   0x6c, 0x6c, 0x6f, 0x20, 0x6b, 0x61, 0x66, 0x6b, 0x61, 0x20, 0x01, 0x00,
                                   0xaf, 0x4b, 0x12, 0xc3, 0x2e, 0x1c, 0x62};

static bool decodes_to(int codec, const uint8_t *in, size_t in_len, const void *want, size_t want_len) {
    uint8_t *out = malloc(want_len + 64);
    size_t len = 0;
    int rc = compression_decompress(codec, in, in_len, out, want_len + 64, &len);
    bool ok = rc == COMPRESSION_OK && len == want_len && memcmp(out, want, want_len) == 0;
    if (!ok) fprintf(stderr, "decode codec=%d rc=%d (%s) len=%zu want=%zu\n", codec, rc, compression_strerror(rc), len,
                     want_len);
    free(out);
    return ok;
}

static void test_cli_frames(void) {
    CHECK(decodes_to(COMPRESSION_GZIP, GZIP_CLI, sizeof(GZIP_CLI), "kafka", 5));
    CHECK(decodes_to(COMPRESSION_LZ4, LZ4_CLI, sizeof(LZ4_CLI), HK, strlen(HK)));
    CHECK(decodes_to(COMPRESSION_ZSTD, ZSTD_CLI, sizeof(ZSTD_CLI), HK, strlen(HK)));
    /* Two gzip members back to back, as GZIPInputStream reads them. */
    uint8_t two[2 * sizeof(GZIP_CLI)];
    memcpy(two, GZIP_CLI, sizeof(GZIP_CLI));
    memcpy(two + sizeof(GZIP_CLI), GZIP_CLI, sizeof(GZIP_CLI));
    CHECK(decodes_to(COMPRESSION_GZIP, two, sizeof(two), "kafkakafka", 10));
    /* A zlib (not gzip) stream is not what Kafka clients send. */
    uint8_t z[64];
    uLongf zlen = sizeof(z);
    CHECK_EQ_INT(compress2(z, &zlen, (const Bytef *)"kafka", 5, 6), Z_OK);
    size_t len;
    uint8_t out[64];
    CHECK_EQ_INT(compression_decompress(COMPRESSION_GZIP, z, zlen, out, sizeof(out), &len), COMPRESSION_ERR_CORRUPT);
}

/* The snappy-java stream a Java producer sends: header, then chunks. */
static size_t xerial_frame(const uint8_t *in, size_t n, size_t chunk, uint8_t *out) {
    static const uint8_t hdr[16] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1};
    memcpy(out, hdr, sizeof(hdr));
    size_t pos = sizeof(hdr);
    for (size_t done = 0; done < n; done += chunk) {
        size_t len = n - done < chunk ? n - done : chunk;
        size_t clen = snappy_max_compressed_length(len);
        CHECK_EQ_INT(snappy_compress((const char *)in + done, len, (char *)out + pos + 4, &clen), SNAPPY_OK);
        out[pos] = (uint8_t)(clen >> 24), out[pos + 1] = (uint8_t)(clen >> 16);
        out[pos + 2] = (uint8_t)(clen >> 8), out[pos + 3] = (uint8_t)clen;
        pos += 4 + clen;
    }
    return pos;
}

static void test_snappy_framings(void) {
    size_t n = 100000;
    uint8_t *in = sample(n);
    uint8_t *buf = malloc(2 * n + 4096);
    /* xerial with snappy-java's 32 KiB chunks and with odd ones */
    CHECK(decodes_to(COMPRESSION_SNAPPY, buf, xerial_frame(in, n, 32768, buf), in, n));
    CHECK(decodes_to(COMPRESSION_SNAPPY, buf, xerial_frame(in, n, 1000, buf), in, n));
    /* an empty chunk in the middle is harmless */
    size_t len = xerial_frame(in, 5, 5, buf);
    memset(buf + len, 0, 4);
    len += 4;
    uint8_t second[64];
    size_t slen = xerial_frame(in + 5, 5, 5, second) - 16;
    memcpy(buf + len, second + 16, slen);
    len += slen;
    CHECK(decodes_to(COMPRESSION_SNAPPY, buf, len, in, 10));
    /* header only: empty */
    CHECK(decodes_to(COMPRESSION_SNAPPY, buf, xerial_frame(in, 0, 1, buf), "", 0));
    /* a raw block, as librdkafka sends */
    size_t clen = snappy_max_compressed_length(n);
    CHECK_EQ_INT(snappy_compress((const char *)in, n, (char *)buf, &clen), SNAPPY_OK);
    CHECK(decodes_to(COMPRESSION_SNAPPY, buf, clen, in, n));
    /* a chunk length past the end, and a header cut short */
    len = xerial_frame(in, 100, 100, buf);
    buf[19] += 1;
    uint8_t out[256];
    size_t olen;
    CHECK_EQ_INT(compression_decompress(COMPRESSION_SNAPPY, buf, len, out, sizeof(out), &olen), COMPRESSION_ERR_CORRUPT);
    CHECK_EQ_INT(compression_decompress(COMPRESSION_SNAPPY, buf, 12, out, sizeof(out), &olen), COMPRESSION_ERR_CORRUPT);
    free(buf);
    free(in);
}

/* lz4 frames in the shapes other writers use: linked blocks, checksums,
 * content size, 4 MiB blocks. */
static void test_lz4_variants(void) {
    size_t n = 300000;
    uint8_t *in = sample(n);
    LZ4F_preferences_t prefs;
    for (int v = 0; v < 4; v++) {
        memset(&prefs, 0, sizeof(prefs));
        prefs.frameInfo.blockMode = v & 1 ? LZ4F_blockLinked : LZ4F_blockIndependent;
        prefs.frameInfo.contentChecksumFlag = v & 2 ? LZ4F_contentChecksumEnabled : LZ4F_noContentChecksum;
        prefs.frameInfo.blockChecksumFlag = v & 2 ? LZ4F_blockChecksumEnabled : LZ4F_noBlockChecksum;
        prefs.frameInfo.contentSize = v & 2 ? n : 0;
        prefs.frameInfo.blockSizeID = v == 3 ? LZ4F_max4MB : LZ4F_max64KB;
        size_t cap = LZ4F_compressFrameBound(n, &prefs);
        uint8_t *c = malloc(cap);
        size_t clen = LZ4F_compressFrame(c, cap, in, n, &prefs);
        CHECK(!LZ4F_isError(clen));
        CHECK(decodes_to(COMPRESSION_LZ4, c, clen, in, n));
        if (v & 2) { /* a flipped content byte now fails a checksum */
            c[clen / 2] ^= 1;
            uint8_t *out = malloc(n);
            size_t olen;
            CHECK_EQ_INT(compression_decompress(COMPRESSION_LZ4, c, clen, out, n, &olen), COMPRESSION_ERR_CORRUPT);
            free(out);
        }
        free(c);
    }
    free(in);
}

static void test_zstd_variants(void) {
    size_t n = 300000;
    uint8_t *in = sample(n);
    size_t cap = ZSTD_compressBound(n) * 2 + 64;
    uint8_t *c = malloc(cap);
    /* one-shot with content size, then a second frame and a skippable one */
    size_t len = ZSTD_compress(c, cap, in, n / 2, 3);
    CHECK(!ZSTD_isError(len));
    static const uint8_t skippable[] = {0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 'x', 'y', 'z'};
    memcpy(c + len, skippable, sizeof(skippable));
    len += sizeof(skippable);
    size_t second = ZSTD_compress(c + len, cap - len, in + n / 2, n - n / 2, 19);
    CHECK(!ZSTD_isError(second));
    CHECK(decodes_to(COMPRESSION_ZSTD, c, len + second, in, n));
    /* streamed with no pledged size, as zstd-jni's output stream writes */
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    ZSTD_outBuffer ob = {c, cap, 0};
    ZSTD_inBuffer ib = {in, n, 0};
    while (ib.pos < ib.size) CHECK(!ZSTD_isError(ZSTD_compressStream2(cc, &ob, &ib, ZSTD_e_continue)));
    while (ZSTD_compressStream2(cc, &ob, &ib, ZSTD_e_end) != 0) {
    }
    ZSTD_freeCCtx(cc);
    CHECK(decodes_to(COMPRESSION_ZSTD, c, ob.pos, in, n));
    /* a pre-1.0 (legacy) magic is refused, not handed to old decoders */
    static const uint8_t legacy[] = {0x27, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0};
    uint8_t out[64];
    size_t olen;
    CHECK_EQ_INT(compression_decompress(COMPRESSION_ZSTD, legacy, sizeof(legacy), out, sizeof(out), &olen),
                 COMPRESSION_ERR_CORRUPT);
    free(c);
    free(in);
}

/* ---- corruption ---- */

static void test_corruption(void) {
    size_t n = 20000;
    uint8_t *in = sample(n);
    uint8_t *out = malloc(n + 1);
    for (int codec = COMPRESSION_GZIP; codec <= COMPRESSION_CODEC_MAX; codec++) {
        size_t bound = compression_compress_bound(codec, n), clen, olen;
        uint8_t *c = malloc(bound + 8);
        CHECK_EQ_INT(compression_compress(codec, COMPRESSION_LEVEL_DEFAULT, in, n, c, bound, &clen), COMPRESSION_OK);
        /* Every truncation fails (snappy's xerial framing has no end mark:
         * cut exactly between chunks it is shorter but valid, so cut inside
         * the single chunk of a one-chunk stream instead). */
        size_t full = clen;
        if (codec == COMPRESSION_SNAPPY)
            CHECK_EQ_INT(compression_compress(codec, 0, in, 30000, c, bound, &full), COMPRESSION_OK);
        size_t want = codec == COMPRESSION_SNAPPY ? 30000 : n;
        for (size_t cut = 0; cut < full; cut += (cut < 64 ? 1 : 97)) {
            int rc = compression_decompress(codec, c, cut, out, n + 1, &olen);
            if (codec == COMPRESSION_SNAPPY && cut == 16) CHECK(rc == COMPRESSION_OK && olen == 0);
            else if (rc == COMPRESSION_OK) CHECK(olen != want);
            else CHECK_EQ_INT(rc, COMPRESSION_ERR_CORRUPT);
        }
        if (codec == COMPRESSION_SNAPPY)
            CHECK_EQ_INT(compression_compress(codec, 0, in, n, c, bound, &clen), COMPRESSION_OK);
        /* Trailing garbage is corruption, not ignored (for snappy, "garb"
         * read as a chunk length overruns the input). */
        memcpy(c + clen, "garbage!", 8);
        CHECK_EQ_INT(compression_decompress(codec, c, clen + 8, out, n + 1, &olen), COMPRESSION_ERR_CORRUPT);
        /* Random byte flips never crash and never claim success with the
         * wrong length beyond the cap. */
        for (int k = 0; k < 300; k++) {
            uint8_t *m = malloc(clen);
            memcpy(m, c, clen);
            for (int f = 0; f < 1 + k % 4; f++) m[rnd() % clen] ^= (uint8_t)(1 + rnd() % 255);
            int rc = compression_decompress(codec, m, clen, out, n + 1, &olen);
            CHECK(rc == COMPRESSION_OK || rc == COMPRESSION_ERR_CORRUPT || rc == COMPRESSION_ERR_TOO_LARGE);
            CHECK(olen <= n + 1);
            free(m);
        }
        /* Empty input is not a valid stream for any codec. */
        CHECK_EQ_INT(compression_decompress(codec, c, 0, out, n, &olen), COMPRESSION_ERR_CORRUPT);
        free(c);
    }
    free(out);
    free(in);
}

/* ---- bombs ---- */

/* Streams `total` zero bytes through a codec's compressor without ever
 * holding them: a few KiB of input that claims tens of MiB. */
static uint8_t *zero_bomb(int codec, size_t total, size_t *len) {
    static uint8_t zeros[1 << 20];
    size_t cap = 8 * MIB, pos = 0;
    uint8_t *c = malloc(cap);
    if (codec == COMPRESSION_GZIP) {
        z_stream zs;
        memset(&zs, 0, sizeof(zs));
        CHECK_EQ_INT(deflateInit2(&zs, 9, Z_DEFLATED, 31, 9, Z_DEFAULT_STRATEGY), Z_OK);
        zs.next_out = c;
        zs.avail_out = (uInt)cap;
        for (size_t done = 0; done < total; done += sizeof(zeros)) {
            zs.next_in = zeros;
            zs.avail_in = (uInt)(total - done < sizeof(zeros) ? total - done : sizeof(zeros));
            CHECK_EQ_INT(deflate(&zs, done + sizeof(zeros) >= total ? Z_FINISH : Z_NO_FLUSH),
                         done + sizeof(zeros) >= total ? Z_STREAM_END : Z_OK);
        }
        pos = zs.total_out;
        deflateEnd(&zs);
    } else if (codec == COMPRESSION_LZ4) {
        LZ4F_cctx *cc;
        LZ4F_createCompressionContext(&cc, LZ4F_VERSION);
        pos = LZ4F_compressBegin(cc, c, cap, NULL);
        for (size_t done = 0; done < total; done += sizeof(zeros))
            pos += LZ4F_compressUpdate(cc, c + pos, cap - pos, zeros,
                                       total - done < sizeof(zeros) ? total - done : sizeof(zeros), NULL);
        pos += LZ4F_compressEnd(cc, c + pos, cap - pos, NULL);
        LZ4F_freeCompressionContext(cc);
    } else if (codec == COMPRESSION_ZSTD) {
        ZSTD_CCtx *cc = ZSTD_createCCtx();
        ZSTD_outBuffer ob = {c, cap, 0};
        for (size_t done = 0; done < total; done += sizeof(zeros)) {
            ZSTD_inBuffer ib = {zeros, total - done < sizeof(zeros) ? total - done : sizeof(zeros), 0};
            while (ib.pos < ib.size) ZSTD_compressStream2(cc, &ob, &ib, ZSTD_e_continue);
        }
        ZSTD_inBuffer none = {NULL, 0, 0};
        while (ZSTD_compressStream2(cc, &ob, &none, ZSTD_e_end) != 0) {
        }
        pos = ob.pos;
        ZSTD_freeCCtx(cc);
    } else { /* snappy: xerial chunks of 32 KiB of zeros */
        pos = xerial_frame(zeros, 32768, 32768, c);
        size_t chunk = pos - 16;
        for (size_t done = 32768; done < total && pos + chunk <= cap; done += 32768, pos += chunk)
            memcpy(c + pos, c + 16, chunk);
    }
    *len = pos;
    return c;
}

static void test_bombs(void) {
    size_t big = COMPRESSION_DECOMPRESSED_BYTES_MAX + MIB;
    uint8_t *out = malloc(big);
    for (int codec = COMPRESSION_GZIP; codec <= COMPRESSION_CODEC_MAX; codec++) {
        size_t len, olen;
        /* Past the limit fails even into a buffer large enough. */
        uint8_t *bomb = zero_bomb(codec, big, &len);
        CHECK(len < 4 * MIB);
        CHECK_EQ_INT(compression_decompress(codec, bomb, len, out, big, &olen), COMPRESSION_ERR_TOO_LARGE);
        uint8_t *grown;
        CHECK_EQ_INT(compression_decompress_alloc(codec, bomb, len, SIZE_MAX, &grown, &olen), COMPRESSION_ERR_TOO_LARGE);
        CHECK(grown == NULL);
        free(bomb);
        /* Under the limit, the growing variant finds the size. */
        bomb = zero_bomb(codec, 10 * MIB, &len);
        CHECK_EQ_INT(compression_decompress_alloc(codec, bomb, len, SIZE_MAX, &grown, &olen), COMPRESSION_OK);
        CHECK_EQ_INT(olen, 10 * MIB);
        free(grown);
        CHECK_EQ_INT(compression_decompress_alloc(codec, bomb, len, 10 * MIB - 1, &grown, &olen),
                     COMPRESSION_ERR_TOO_LARGE);
        CHECK_EQ_INT(compression_decompress(codec, bomb, len, out, 10 * MIB, &olen), COMPRESSION_OK);
        CHECK_EQ_INT(compression_decompress(codec, bomb, len, out, 10 * MIB - 1, &olen), COMPRESSION_ERR_TOO_LARGE);
        CHECK_EQ_INT(compression_decompress(codec, bomb, len, NULL, 0, &olen), COMPRESSION_ERR_TOO_LARGE);
        free(bomb);
    }
    /* A raw snappy block that claims 4 GiB is refused before decoding. */
    static const uint8_t claim[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x00};
    size_t olen;
    CHECK_EQ_INT(compression_decompress(COMPRESSION_SNAPPY, claim, sizeof(claim), out, big, &olen),
                 COMPRESSION_ERR_TOO_LARGE);
    /* A zstd frame asking for a window past the cap. */
    size_t n = 1000, cap = ZSTD_compressBound(n) + 64;
    uint8_t *c = malloc(cap), *in = sample(n);
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(cc, ZSTD_c_windowLog, COMPRESSION_ZSTD_WINDOW_LOG_MAX + 1);
    ZSTD_outBuffer ob = {c, cap, 0};
    ZSTD_inBuffer ib = {in, n, 0};
    /* Streamed without a known size, so the header keeps the big window. */
    while (ib.pos < ib.size) ZSTD_compressStream2(cc, &ob, &ib, ZSTD_e_continue);
    while (ZSTD_compressStream2(cc, &ob, &ib, ZSTD_e_end) != 0) {
    }
    ZSTD_freeCCtx(cc);
    CHECK_EQ_INT(compression_decompress(COMPRESSION_ZSTD, c, ob.pos, out, big, &olen), COMPRESSION_ERR_TOO_LARGE);
    free(in);
    free(c);
    free(out);
}

/* ---- records ---- */

/* Two records written byte by byte from the spec:
 *  #1 attributes 0, ts +5, offset 0, key "k", value "vv", one header a=null
 *  #2 attributes 0, ts -1, offset 1, null key, null value, no headers */
static const uint8_t TWO_RECORDS[] = {
    /* length 12 */ 0x18, 0x00, /* ts 5 */ 0x0a, /* off 0 */ 0x00, /* key len 1 */ 0x02, 'k',
    /* value len 2 */ 0x04, 'v', 'v', /* 1 header */ 0x02, /* key len 1 */ 0x02, 'a', /* null */ 0x01,
    /* length 6 */ 0x0c, 0x00, /* ts -1 */ 0x01, /* off 1 */ 0x02, /* null key */ 0x01, /* null value */ 0x01,
    /* no headers */ 0x00,
};

static void test_records_hand_built(void) {
    struct records_iter it;
    struct record_view r;
    records_iter_init(&it, TWO_RECORDS, sizeof(TWO_RECORDS), 2);
    CHECK_EQ_INT(records_next(&it, &r), 1);
    CHECK_EQ_INT(r.timestamp_delta, 5);
    CHECK_EQ_INT(r.offset_delta, 0);
    CHECK(r.key_len == 1 && r.key && r.key[0] == 'k');
    CHECK(r.value_len == 2 && memcmp(r.value, "vv", 2) == 0);
    CHECK_EQ_INT(r.header_count, 1);
    CHECK_EQ_INT(r.headers_len, 3);
    struct record_headers_iter hi;
    struct record_header_view h;
    record_headers_init(&hi, &r);
    CHECK_EQ_INT(record_headers_next(&hi, &h), 1);
    CHECK(h.key_len == 1 && h.key[0] == 'a' && h.value == NULL && h.value_len == -1);
    CHECK_EQ_INT(record_headers_next(&hi, &h), 0);
    CHECK_EQ_INT(records_next(&it, &r), 1);
    CHECK_EQ_INT(r.timestamp_delta, -1);
    CHECK_EQ_INT(r.offset_delta, 1);
    CHECK(r.key == NULL && r.key_len == -1 && r.value == NULL && r.value_len == -1);
    CHECK_EQ_INT(r.header_count, 0);
    CHECK_EQ_INT(records_next(&it, &r), 0);
    CHECK_EQ_INT(records_next(&it, &r), 0);
    /* Count unknown: read until the bytes end. */
    records_iter_init(&it, TWO_RECORDS, sizeof(TWO_RECORDS), RECORDS_COUNT_UNKNOWN);
    int n = 0;
    while (records_next(&it, &r) == 1) n++;
    CHECK_EQ_INT(n, 2);
    /* An empty body with a count of zero is fine. */
    records_iter_init(&it, NULL, 0, 0);
    CHECK_EQ_INT(records_next(&it, &r), 0);

    /* The writer reproduces the hand-built bytes exactly. */
    uint8_t buf[64], hdr[8];
    size_t hlen = records_write_header(hdr, sizeof(hdr), "a", 1, NULL, -1);
    struct record_view w = {.timestamp_delta = 5, .key = (const uint8_t *)"k", .key_len = 1,
                            .value = (const uint8_t *)"vv", .value_len = 2, .header_count = 1, .headers = hdr,
                            .headers_len = hlen};
    size_t len = records_write(buf, sizeof(buf), &w);
    struct record_view w2 = {.timestamp_delta = -1, .offset_delta = 1, .key_len = -1, .value_len = -1};
    CHECK_EQ_INT(records_record_size(&w), len);
    len += records_write(buf + len, sizeof(buf) - len, &w2);
    CHECK_EQ_INT(len, sizeof(TWO_RECORDS));
    CHECK(memcmp(buf, TWO_RECORDS, sizeof(TWO_RECORDS)) == 0);
    CHECK_EQ_INT(records_write(buf, 5, &w), 0);
    struct record_view bad = {.key_len = -2, .value_len = -1};
    CHECK_EQ_INT(records_write(buf, sizeof(buf), &bad), 0);
    CHECK_EQ_INT(records_write_header(hdr, sizeof(hdr), NULL, -1, NULL, -1), 0);
}

static void test_records_compressed(void) {
    /* 500 records with keys, values and headers, compressed by each codec. */
    size_t cap = 1 << 20, len = 0;
    uint8_t *body = malloc(cap), hdr[64];
    char key[32], value[64];
    for (int i = 0; i < 500; i++) {
        int kl = snprintf(key, sizeof(key), "key-%d", i), vl = snprintf(value, sizeof(value), "value-%d-%d", i, i * i);
        size_t hl = records_write_header(hdr, sizeof(hdr), "trace", 5, value, i % 3 ? vl : -1);
        hl += records_write_header(hdr + hl, sizeof(hdr) - hl, "", 0, "", 0);
        struct record_view r = {.timestamp_delta = i * 1000LL, .offset_delta = i, .key = (uint8_t *)key,
                                .key_len = i % 7 ? kl : -1, .value = (uint8_t *)value, .value_len = i % 11 ? vl : -1,
                                .header_count = 2, .headers = hdr, .headers_len = hl};
        len += records_write(body + len, cap - len, &r);
    }
    for (int codec = COMPRESSION_NONE; codec <= COMPRESSION_CODEC_MAX; codec++) {
        size_t bound = compression_compress_bound(codec, len), clen, dlen;
        uint8_t *c = malloc(bound), *d;
        CHECK_EQ_INT(compression_compress(codec, COMPRESSION_LEVEL_DEFAULT, body, len, c, bound, &clen), 0);
        CHECK_EQ_INT(compression_decompress_alloc(codec, c, clen, COMPRESSION_DECOMPRESSED_BYTES_MAX, &d, &dlen), 0);
        struct records_iter it;
        struct record_view r;
        records_iter_init(&it, d, dlen, 500);
        int i = 0, rc;
        while ((rc = records_next(&it, &r)) == 1) {
            CHECK_EQ_INT(r.offset_delta, i);
            CHECK_EQ_INT(r.timestamp_delta, i * 1000LL);
            CHECK_EQ_INT(r.key_len == -1, i % 7 == 0);
            CHECK_EQ_INT(r.value == NULL, i % 11 == 0);
            struct record_headers_iter hi;
            struct record_header_view h;
            record_headers_init(&hi, &r);
            CHECK_EQ_INT(record_headers_next(&hi, &h), 1);
            CHECK(h.key_len == 5 && memcmp(h.key, "trace", 5) == 0);
            CHECK_EQ_INT(h.value == NULL, i % 3 == 0);
            CHECK_EQ_INT(record_headers_next(&hi, &h), 1);
            CHECK(h.key_len == 0 && h.value_len == 0 && h.value != NULL);
            CHECK_EQ_INT(record_headers_next(&hi, &h), 0);
            i++;
        }
        CHECK_EQ_INT(rc, 0);
        CHECK_EQ_INT(i, 500);
        free(d);
        free(c);
    }
    free(body);
}

static void test_varints(void) {
    static const int64_t longs[] = {0, 1, -1, 63, -64, 64, -65, 8191, 8192, INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN};
    uint8_t buf[16];
    for (size_t i = 0; i < sizeof(longs) / sizeof(longs[0]); i++) {
        int64_t l;
        size_t n = records_put_varlong(buf, longs[i]);
        CHECK_EQ_INT(n, records_varlong_size(longs[i]));
        CHECK_EQ_INT(records_read_varlong(buf, n, &l), (int)n);
        CHECK(l == longs[i]);
        CHECK_EQ_INT(records_read_varlong(buf, n - 1, &l), -1); /* truncated */
        if (longs[i] < INT32_MIN || longs[i] > INT32_MAX) continue;
        int32_t v;
        n = records_put_varint(buf, (int32_t)longs[i]);
        CHECK(n <= RECORDS_VARINT_BYTES_MAX);
        CHECK_EQ_INT(records_read_varint(buf, n, &v), (int)n);
        CHECK_EQ_INT(v, longs[i]);
    }
    int32_t v;
    int64_t l;
    static const uint8_t six[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
    CHECK_EQ_INT(records_read_varint(six, sizeof(six), &v), -1);              /* longer than 5 bytes */
    static const uint8_t wide[] = {0xff, 0xff, 0xff, 0xff, 0x1f};
    CHECK_EQ_INT(records_read_varint(wide, sizeof(wide), &v), -1);            /* bits past 32 */
    static const uint8_t max[] = {0xfe, 0xff, 0xff, 0xff, 0x0f};
    CHECK_EQ_INT(records_read_varint(max, sizeof(max), &v), 5);
    CHECK_EQ_INT(v, INT32_MAX);
    static const uint8_t padded[] = {0x82, 0x80, 0x00}; /* non-minimal but in range: accepted, as Kafka */
    CHECK_EQ_INT(records_read_varint(padded, sizeof(padded), &v), 3);
    CHECK_EQ_INT(v, 1);
    static const uint8_t eleven[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
    CHECK_EQ_INT(records_read_varlong(eleven, sizeof(eleven), &l), -1);
    static const uint8_t wide64[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x03};
    CHECK_EQ_INT(records_read_varlong(wide64, sizeof(wide64), &l), -1);
    CHECK_EQ_INT(records_read_varint(six, 0, &v), -1);
}

/* Feeds one malformed body; the iterator must fail (after `good` records)
 * and stay failed. */
static void expect_malformed(const uint8_t *p, size_t len, int32_t count, int good, int line) {
    struct records_iter it;
    struct record_view r;
    records_iter_init(&it, p, len, count);
    for (int i = 0; i < good; i++) {
        if (records_next(&it, &r) != 1) {
            fprintf(stderr, "line %d: record %d should parse\n", line, i);
            CHECK(0);
            return;
        }
    }
    int rc = records_next(&it, &r);
    if (rc != -1) fprintf(stderr, "line %d: expected malformed, got %d\n", line, rc);
    CHECK_EQ_INT(rc, -1);
    CHECK_EQ_INT(records_next(&it, &r), -1);
}

#define MALFORMED(count, good, ...)                                                  \
    do {                                                                             \
        static const uint8_t m_[] = {__VA_ARGS__};                                   \
        expect_malformed(m_, sizeof(m_), count, good, __LINE__);                     \
    } while (0)

static void test_records_malformed(void) {
    /* record length: past the end, negative, too small, overlong varint */
    MALFORMED(1, 0, 0x1e, 0x00, 0x0a, 0x00, 0x02, 'k');
    MALFORMED(1, 0, 0x01, 0x00);
    MALFORMED(1, 0, 0x0a, 0x00, 0x00, 0x00, 0x01, 0x01);
    MALFORMED(1, 0, 0x8c, 0x80, 0x80, 0x80, 0x80, 0x00);
    MALFORMED(1, 0, 0x8c);
    /* key length past the record, below -1; value length past the record */
    MALFORMED(1, 0, 0x0c, 0x00, 0x00, 0x00, 0x08, 0x01, 0x00);
    MALFORMED(1, 0, 0x0c, 0x00, 0x00, 0x00, 0x03, 0x01, 0x00);
    MALFORMED(1, 0, 0x0c, 0x00, 0x00, 0x00, 0x01, 0x04, 0x00);
    /* timestamp varlong of 11 bytes */
    MALFORMED(1, 0, 0x20, 0x00, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x00, 0x01, 0x01,
              0x00);
    /* header count negative, larger than the bytes, null header key */
    MALFORMED(1, 0, 0x0c, 0x00, 0x00, 0x00, 0x01, 0x01, 0x01);
    MALFORMED(1, 0, 0x0c, 0x00, 0x00, 0x00, 0x01, 0x01, 0x7e);
    MALFORMED(1, 0, 0x12, 0x00, 0x00, 0x00, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00);
    /* the fields end before the stated length (a stray byte inside) */
    MALFORMED(1, 0, 0x0e, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00, 0xaa);
    /* more bytes than the declared count, fewer records than declared */
    expect_malformed(TWO_RECORDS, sizeof(TWO_RECORDS), 1, 1, __LINE__);
    expect_malformed(TWO_RECORDS, sizeof(TWO_RECORDS), 3, 2, __LINE__);
    expect_malformed(TWO_RECORDS, sizeof(TWO_RECORDS) - 1, 2, 1, __LINE__);
    expect_malformed(TWO_RECORDS, sizeof(TWO_RECORDS), -2, 0, __LINE__);
    /* Every truncation and every single-byte change of a valid body either
     * parses or fails cleanly; never reads past the end (ASan watches). */
    for (size_t cut = 0; cut < sizeof(TWO_RECORDS); cut++) {
        uint8_t *p = malloc(cut ? cut : 1);
        memcpy(p, TWO_RECORDS, cut);
        struct records_iter it;
        struct record_view r;
        records_iter_init(&it, p, cut, 2);
        int rc;
        while ((rc = records_next(&it, &r)) == 1) {
        }
        CHECK_EQ_INT(rc, -1);
        for (size_t at = 0; at < cut; at++)
            for (int b = 0; b < 256; b += 5) {
                p[at] = (uint8_t)b;
                records_iter_init(&it, p, cut, RECORDS_COUNT_UNKNOWN);
                while ((rc = records_next(&it, &r)) == 1) CHECK(r.key_len >= -1 && r.value_len >= -1);
                memcpy(p, TWO_RECORDS, cut);
            }
        free(p);
    }
}

int main(void) {
    TEST_RUN(test_round_trips);
    TEST_RUN(test_cli_frames);
    TEST_RUN(test_snappy_framings);
    TEST_RUN(test_lz4_variants);
    TEST_RUN(test_zstd_variants);
    TEST_RUN(test_corruption);
    TEST_RUN(test_bombs);
    TEST_RUN(test_records_hand_built);
    TEST_RUN(test_records_compressed);
    TEST_RUN(test_varints);
    TEST_RUN(test_records_malformed);
    TEST_EXIT();
}
