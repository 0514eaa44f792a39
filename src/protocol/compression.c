/*
 * Kafka's record-batch codecs; framing and limits are described in
 * compression.h.
 *
 * How a bomb is caught without trusting any size the input declares: the
 * streaming decoders (gzip, lz4, zstd) write into the caller's buffer, and
 * once it is full they are handed a one-byte scratch buffer instead; a byte
 * landing there means the output did not fit. Snappy blocks state their
 * length up front, which is checked before anything is written.
 *
 * The xerial snappy-java framing (all integers big-endian):
 *    0   8  magic 0x82 'S' 'N' 'A' 'P' 'P' 'Y' 0x00
 *    8   4  version (snappy-java writes 1; not checked)
 *   12   4  minimum compatible version (1; not checked)
 *   16 ...  chunks: 4-byte compressed length L, then L bytes of one raw
 *           snappy block (which starts with its own uncompressed length)
 */
#include "protocol/compression.h"

#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define ZLIB_CONST
#include <lz4frame.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

_Static_assert((1u << COMPRESSION_ZSTD_WINDOW_LOG_MAX) >= COMPRESSION_DECOMPRESSED_BYTES_MAX,
               "a zstd window must be allowed to span the largest output we accept");
_Static_assert(COMPRESSION_DECOMPRESSED_BYTES_MAX <= UINT_MAX, "zlib counts output in unsigned int");

static const uint8_t XERIAL_MAGIC[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
#define XERIAL_HEADER_BYTES 16
#define XERIAL_VERSION 1
#define XERIAL_CHUNK_BYTES (32 * 1024) /* snappy-java's default block size */
#define XERIAL_LEN_BYTES 4

/* gzip's header and trailer (10 + 8) against zlib's 6 counted by compressBound. */
#define GZIP_WRAPPER_BYTES 18
#define GZIP_WINDOW_BITS (15 + 16) /* 15-bit window, gzip wrapper only */
#define GZIP_LEVEL_DEFAULT 6
#define LZ4_LEVEL_DEFAULT 9
#define LZ4_LEVEL_MAX 17 /* Kafka's range; LZ4F itself caps at 12 */
#define ZSTD_LEVEL_DEFAULT 3

/* Frame magics, little-endian as stored. Only these are decoded: libzstd
 * may be built with decoders for pre-1.0 formats that no Kafka client ever
 * wrote, and those are better left unreachable from the network. */
#define ZSTD_FRAME_MAGIC 0xFD2FB528u
#define ZSTD_SKIPPABLE_MAGIC_MASK 0xFFFFFFF0u
#define ZSTD_SKIPPABLE_MAGIC 0x184D2A50u

const char *compression_codec_name(int codec) {
    static const char *const names[] = {"none", "gzip", "snappy", "lz4", "zstd"};
    return codec >= 0 && codec <= COMPRESSION_CODEC_MAX ? names[codec] : "unknown";
}

const char *compression_strerror(int result) {
    switch (result) {
    case COMPRESSION_OK: return "ok";
    case COMPRESSION_ERR_CODEC: return "unknown codec";
    case COMPRESSION_ERR_CORRUPT: return "corrupt compressed data";
    case COMPRESSION_ERR_TOO_LARGE: return "decompressed data too large";
    case COMPRESSION_ERR_NOMEM: return "out of memory";
    case COMPRESSION_ERR_NOSPACE: return "output buffer too small";
    default: return "unknown error";
    }
}

static uint32_t be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* Where a streaming decoder writes next: the caller's buffer until it is
 * full, then one byte of scratch that must stay empty. */
struct sink {
    uint8_t *out;
    size_t cap;
    size_t len;
    bool overflow;
    uint8_t scratch;
};

static uint8_t *sink_ptr(struct sink *s) { return s->overflow ? &s->scratch : s->out + s->len; }
static size_t sink_room(const struct sink *s) { return s->overflow ? 1 : s->cap - s->len; }

/* Accounts for `wrote` bytes; false when they went past the cap. */
static bool sink_advance(struct sink *s, size_t wrote) {
    if (s->overflow) return wrote == 0;
    s->len += wrote;
    if (s->len == s->cap) s->overflow = true;
    return true;
}

/* ---- gzip ---- */

static int gzip_decompress(const uint8_t *in, size_t in_len, struct sink *s) {
    if (in_len > UINT_MAX) return COMPRESSION_ERR_TOO_LARGE;
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (inflateInit2(&zs, GZIP_WINDOW_BITS) != Z_OK) return COMPRESSION_ERR_NOMEM;
    zs.next_in = in;
    zs.avail_in = (uInt)in_len;
    int rc = COMPRESSION_ERR_CORRUPT;
    for (;;) {
        zs.next_out = sink_ptr(s);
        zs.avail_out = (uInt)sink_room(s);
        uInt room = zs.avail_out, had_in = zs.avail_in;
        int z = inflate(&zs, Z_NO_FLUSH);
        if (!sink_advance(s, room - zs.avail_out)) {
            rc = COMPRESSION_ERR_TOO_LARGE;
            break;
        }
        if (z == Z_STREAM_END) {
            if (zs.avail_in == 0) {
                rc = COMPRESSION_OK;
                break;
            }
            /* Another member follows, as GZIPInputStream accepts. */
            if (inflateReset(&zs) != Z_OK) break;
            continue;
        }
        if (z == Z_MEM_ERROR) rc = COMPRESSION_ERR_NOMEM;
        if (z != Z_OK && z != Z_BUF_ERROR) break;
        if (zs.avail_in == had_in && zs.avail_out == room) break; /* no progress: truncated */
    }
    inflateEnd(&zs);
    return rc;
}

static int gzip_compress(int level, const uint8_t *in, size_t in_len, uint8_t *out, size_t out_cap,
                         size_t *out_len) {
    if (in_len > UINT_MAX) return COMPRESSION_ERR_TOO_LARGE;
    if (level == COMPRESSION_LEVEL_DEFAULT) level = GZIP_LEVEL_DEFAULT;
    level = level < Z_NO_COMPRESSION ? Z_NO_COMPRESSION : level > Z_BEST_COMPRESSION ? Z_BEST_COMPRESSION : level;
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (deflateInit2(&zs, level, Z_DEFLATED, GZIP_WINDOW_BITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return COMPRESSION_ERR_NOMEM;
    zs.next_in = in;
    zs.avail_in = (uInt)in_len;
    zs.next_out = out;
    zs.avail_out = out_cap > UINT_MAX ? UINT_MAX : (uInt)out_cap;
    int z = deflate(&zs, Z_FINISH);
    if (z == Z_STREAM_END) *out_len = zs.total_out;
    deflateEnd(&zs);
    return z == Z_STREAM_END ? COMPRESSION_OK : COMPRESSION_ERR_NOSPACE;
}

/* ---- snappy ---- */

/* One raw block into the sink's buffer; the block's stated length is
 * checked against the room left before decoding. */
static int snappy_block(const uint8_t *in, size_t in_len, struct sink *s) {
    size_t need;
    if (snappy_uncompressed_length((const char *)in, in_len, &need) != SNAPPY_OK) return COMPRESSION_ERR_CORRUPT;
    if (need > s->cap - s->len) return COMPRESSION_ERR_TOO_LARGE;
    size_t got = s->cap - s->len;
    if (snappy_uncompress((const char *)in, in_len, (char *)s->out + s->len, &got) != SNAPPY_OK || got != need)
        return COMPRESSION_ERR_CORRUPT;
    s->len += got;
    return COMPRESSION_OK;
}

static int snappy_decompress(const uint8_t *in, size_t in_len, struct sink *s) {
    if (in_len < sizeof(XERIAL_MAGIC) || memcmp(in, XERIAL_MAGIC, sizeof(XERIAL_MAGIC)) != 0)
        return snappy_block(in, in_len, s);
    if (in_len < XERIAL_HEADER_BYTES) return COMPRESSION_ERR_CORRUPT;
    size_t pos = XERIAL_HEADER_BYTES;
    while (pos < in_len) {
        if (in_len - pos < XERIAL_LEN_BYTES) return COMPRESSION_ERR_CORRUPT;
        uint32_t chunk = be32(in + pos);
        pos += XERIAL_LEN_BYTES;
        if (chunk > in_len - pos) return COMPRESSION_ERR_CORRUPT;
        if (chunk == 0) continue; /* nothing in it; costs the sender 4 bytes, so no bomb */
        int rc = snappy_block(in + pos, chunk, s);
        if (rc != COMPRESSION_OK) return rc;
        pos += chunk;
    }
    return COMPRESSION_OK;
}

static size_t snappy_bound(size_t in_len) {
    size_t chunks = in_len / XERIAL_CHUNK_BYTES + (in_len % XERIAL_CHUNK_BYTES != 0);
    return XERIAL_HEADER_BYTES + chunks * (XERIAL_LEN_BYTES + snappy_max_compressed_length(XERIAL_CHUNK_BYTES));
}

static int snappy_compress_xerial(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_cap, size_t *out_len) {
    if (out_cap < XERIAL_HEADER_BYTES) return COMPRESSION_ERR_NOSPACE;
    memcpy(out, XERIAL_MAGIC, sizeof(XERIAL_MAGIC));
    put_be32(out + 8, XERIAL_VERSION);
    put_be32(out + 12, XERIAL_VERSION);
    size_t pos = XERIAL_HEADER_BYTES;
    for (size_t done = 0; done < in_len;) {
        size_t n = in_len - done < XERIAL_CHUNK_BYTES ? in_len - done : XERIAL_CHUNK_BYTES;
        size_t room = out_cap - pos;
        if (room < XERIAL_LEN_BYTES || room - XERIAL_LEN_BYTES < snappy_max_compressed_length(n))
            return COMPRESSION_ERR_NOSPACE;
        size_t clen = room - XERIAL_LEN_BYTES;
        if (snappy_compress((const char *)in + done, n, (char *)out + pos + XERIAL_LEN_BYTES, &clen) != SNAPPY_OK)
            return COMPRESSION_ERR_NOSPACE;
        put_be32(out + pos, (uint32_t)clen);
        pos += XERIAL_LEN_BYTES + clen;
        done += n;
    }
    *out_len = pos;
    return COMPRESSION_OK;
}

/* ---- lz4 ---- */

static int lz4_decompress(const uint8_t *in, size_t in_len, struct sink *s) {
    LZ4F_dctx *ctx;
    if (LZ4F_isError(LZ4F_createDecompressionContext(&ctx, LZ4F_VERSION))) return COMPRESSION_ERR_NOMEM;
    size_t pos = 0;
    int rc;
    for (;;) {
        size_t room = sink_room(s), used = in_len - pos;
        size_t hint = LZ4F_decompress(ctx, sink_ptr(s), &room, in + pos, &used, NULL);
        if (LZ4F_isError(hint)) {
            rc = COMPRESSION_ERR_CORRUPT;
            break;
        }
        pos += used;
        if (!sink_advance(s, room)) {
            rc = COMPRESSION_ERR_TOO_LARGE;
            break;
        }
        /* hint 0: a frame ended; what follows must be another frame. */
        if (hint == 0 && pos == in_len) {
            rc = COMPRESSION_OK;
            break;
        }
        if (used == 0 && room == 0) { /* no progress: truncated */
            rc = COMPRESSION_ERR_CORRUPT;
            break;
        }
    }
    LZ4F_freeDecompressionContext(ctx);
    return rc;
}

static void lz4_prefs(LZ4F_preferences_t *prefs, int level) {
    memset(prefs, 0, sizeof(*prefs));
    prefs->frameInfo.blockSizeID = LZ4F_max64KB;
    prefs->frameInfo.blockMode = LZ4F_blockIndependent;
    if (level == COMPRESSION_LEVEL_DEFAULT) level = LZ4_LEVEL_DEFAULT;
    prefs->compressionLevel = level < 1 ? 1 : level > LZ4_LEVEL_MAX ? LZ4_LEVEL_MAX : level;
}

static int lz4_compress(int level, const uint8_t *in, size_t in_len, uint8_t *out, size_t out_cap, size_t *out_len) {
    LZ4F_preferences_t prefs;
    lz4_prefs(&prefs, level);
    if (out_cap < LZ4F_compressFrameBound(in_len, &prefs)) return COMPRESSION_ERR_NOSPACE;
    size_t n = LZ4F_compressFrame(out, out_cap, in, in_len, &prefs);
    if (LZ4F_isError(n)) return COMPRESSION_ERR_NOSPACE;
    *out_len = n;
    return COMPRESSION_OK;
}

/* ---- zstd ---- */

static bool zstd_frame_start_ok(const uint8_t *p, size_t avail) {
    if (avail < 4) return false;
    uint32_t magic = le32(p);
    return magic == ZSTD_FRAME_MAGIC || (magic & ZSTD_SKIPPABLE_MAGIC_MASK) == ZSTD_SKIPPABLE_MAGIC;
}

static int zstd_error(size_t r) {
    switch (ZSTD_getErrorCode(r)) {
    case ZSTD_error_frameParameter_windowTooLarge: return COMPRESSION_ERR_TOO_LARGE;
    case ZSTD_error_memory_allocation: return COMPRESSION_ERR_NOMEM;
    default: return COMPRESSION_ERR_CORRUPT;
    }
}

static int zstd_decompress(const uint8_t *in, size_t in_len, struct sink *s) {
    if (!zstd_frame_start_ok(in, in_len)) return COMPRESSION_ERR_CORRUPT;
    ZSTD_DCtx *ctx = ZSTD_createDCtx();
    if (!ctx) return COMPRESSION_ERR_NOMEM;
    if (ZSTD_isError(ZSTD_DCtx_setParameter(ctx, ZSTD_d_windowLogMax, COMPRESSION_ZSTD_WINDOW_LOG_MAX))) {
        ZSTD_freeDCtx(ctx);
        return COMPRESSION_ERR_NOMEM;
    }
    ZSTD_inBuffer ib = {in, in_len, 0};
    int rc;
    for (;;) {
        ZSTD_outBuffer ob = {sink_ptr(s), sink_room(s), 0};
        size_t had = ib.pos;
        size_t hint = ZSTD_decompressStream(ctx, &ob, &ib);
        if (ZSTD_isError(hint)) {
            rc = zstd_error(hint);
            break;
        }
        if (!sink_advance(s, ob.pos)) {
            rc = COMPRESSION_ERR_TOO_LARGE;
            break;
        }
        if (hint == 0) { /* a frame ended and is fully flushed */
            if (ib.pos == ib.size) {
                rc = COMPRESSION_OK;
                break;
            }
            if (!zstd_frame_start_ok(in + ib.pos, ib.size - ib.pos)) {
                rc = COMPRESSION_ERR_CORRUPT;
                break;
            }
        } else if (ib.pos == had && ob.pos == 0) { /* no progress: truncated */
            rc = COMPRESSION_ERR_CORRUPT;
            break;
        }
    }
    ZSTD_freeDCtx(ctx);
    return rc;
}

static int zstd_compress(int level, const uint8_t *in, size_t in_len, uint8_t *out, size_t out_cap,
                         size_t *out_len) {
    if (level == COMPRESSION_LEVEL_DEFAULT) level = ZSTD_LEVEL_DEFAULT;
    if (level < ZSTD_minCLevel()) level = ZSTD_minCLevel();
    if (level > ZSTD_maxCLevel()) level = ZSTD_maxCLevel();
    size_t n = ZSTD_compress(out, out_cap, in, in_len, level);
    if (ZSTD_isError(n))
        return ZSTD_getErrorCode(n) == ZSTD_error_memory_allocation ? COMPRESSION_ERR_NOMEM : COMPRESSION_ERR_NOSPACE;
    *out_len = n;
    return COMPRESSION_OK;
}

/* ---- entry points ---- */

int compression_decompress(int codec, const uint8_t *in, size_t in_len, uint8_t *out, size_t out_cap,
                           size_t *out_len) {
    struct sink s = {.out = out, .cap = out_cap < COMPRESSION_DECOMPRESSED_BYTES_MAX ? out_cap
                                                                                  : COMPRESSION_DECOMPRESSED_BYTES_MAX};
    if (!out) { /* no pointer arithmetic on NULL, even for empty output */
        s.out = &s.scratch;
        s.cap = 0;
    }
    s.overflow = s.cap == 0;
    *out_len = 0;
    int rc;
    switch (codec) {
    case COMPRESSION_NONE:
        if (in_len > s.cap) return COMPRESSION_ERR_TOO_LARGE;
        if (in_len) memcpy(out, in, in_len);
        s.len = in_len;
        rc = COMPRESSION_OK;
        break;
    case COMPRESSION_GZIP: rc = gzip_decompress(in, in_len, &s); break;
    case COMPRESSION_SNAPPY: rc = snappy_decompress(in, in_len, &s); break;
    case COMPRESSION_LZ4: rc = lz4_decompress(in, in_len, &s); break;
    case COMPRESSION_ZSTD: rc = zstd_decompress(in, in_len, &s); break;
    default: return COMPRESSION_ERR_CODEC;
    }
    if (rc == COMPRESSION_OK) *out_len = s.len;
    return rc;
}

/* First guess for compression_decompress_alloc: most batches compress
 * less than 4x, and small ones are not worth several attempts. */
#define DECOMPRESS_GUESS_RATIO 4
#define DECOMPRESS_GUESS_MIN (64 * 1024)

int compression_decompress_alloc(int codec, const uint8_t *in, size_t in_len, size_t max_len, uint8_t **out,
                                 size_t *out_len) {
    *out = NULL;
    *out_len = 0;
    if (max_len > COMPRESSION_DECOMPRESSED_BYTES_MAX) max_len = COMPRESSION_DECOMPRESSED_BYTES_MAX;
    size_t size = in_len > max_len / DECOMPRESS_GUESS_RATIO ? max_len : in_len * DECOMPRESS_GUESS_RATIO;
    if (size < DECOMPRESS_GUESS_MIN) size = DECOMPRESS_GUESS_MIN < max_len ? DECOMPRESS_GUESS_MIN : max_len;
    if (codec == COMPRESSION_NONE) size = in_len <= max_len ? in_len : max_len;
    for (;;) {
        uint8_t *buf = malloc(size ? size : 1);
        if (!buf) return COMPRESSION_ERR_NOMEM;
        int rc = compression_decompress(codec, in, in_len, buf, size, out_len);
        if (rc == COMPRESSION_OK) {
            *out = buf;
            return rc;
        }
        free(buf);
        if (rc != COMPRESSION_ERR_TOO_LARGE || size >= max_len) return rc;
        size = size > max_len / 2 ? max_len : size * 2;
    }
}

size_t compression_compress_bound(int codec, size_t in_len) {
    LZ4F_preferences_t prefs;
    switch (codec) {
    case COMPRESSION_NONE: return in_len;
    case COMPRESSION_GZIP: return compressBound((uLong)in_len) + GZIP_WRAPPER_BYTES;
    case COMPRESSION_SNAPPY: return snappy_bound(in_len);
    case COMPRESSION_LZ4: lz4_prefs(&prefs, COMPRESSION_LEVEL_DEFAULT); return LZ4F_compressFrameBound(in_len, &prefs);
    case COMPRESSION_ZSTD: return ZSTD_compressBound(in_len);
    default: return 0;
    }
}

int compression_compress(int codec, int level, const uint8_t *in, size_t in_len, uint8_t *out, size_t out_cap,
                         size_t *out_len) {
    *out_len = 0;
    switch (codec) {
    case COMPRESSION_NONE:
        if (in_len > out_cap) return COMPRESSION_ERR_NOSPACE;
        if (in_len) memcpy(out, in, in_len);
        *out_len = in_len;
        return COMPRESSION_OK;
    case COMPRESSION_GZIP: return gzip_compress(level, in, in_len, out, out_cap, out_len);
    case COMPRESSION_SNAPPY: return snappy_compress_xerial(in, in_len, out, out_cap, out_len);
    case COMPRESSION_LZ4: return lz4_compress(level, in, in_len, out, out_cap, out_len);
    case COMPRESSION_ZSTD: return zstd_compress(level, in, in_len, out, out_cap, out_len);
    default: return COMPRESSION_ERR_CODEC;
    }
}
