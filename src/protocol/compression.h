/*
 * The four Kafka record-batch codecs, in the framing Kafka clients use:
 *
 *   1 gzip    a gzip stream (RFC 1952), as java.util.zip.GZIPOutputStream
 *             writes; concatenated members are accepted, as GZIPInputStream does.
 *   2 snappy  either the xerial snappy-java framing the Java client writes
 *             ("\x82SNAPPY\0", int32 version, int32 min-compatible version,
 *             then chunks of [int32 big-endian length][raw snappy block]), or a
 *             single raw snappy block, which is what librdkafka writes.
 *             compression_compress writes the xerial framing (32 KiB chunks,
 *             snappy-java's default), which every client reads.
 *   3 lz4     the LZ4 frame format. Kafka clients before 0.10 computed the
 *             frame header checksum wrongly, but only inside magic v0 message
 *             sets (Kafka itself ignores that byte only for v0); this broker
 *             accepts magic v2 batches only, so a bad header checksum is
 *             corruption here. compression_compress writes independent 64 KiB
 *             blocks: the Java client decodes each block on its own and
 *             cannot read linked blocks.
 *   4 zstd    zstd frames, streaming (a frame need not carry its content size).
 *
 * Decompression never allocates in proportion to what the input claims:
 * output goes into the caller's buffer, bounded by out_cap and by
 * COMPRESSION_DECOMPRESSED_BYTES_MAX; going past either is
 * COMPRESSION_ERR_TOO_LARGE, distinct from corrupt input, so a decompression
 * bomb is recognisable. Library state is bounded too (zstd's window is
 * capped by COMPRESSION_ZSTD_WINDOW_LOG_MAX).
 *
 * Thread-safe: no shared state; contexts are made per call (not a hot path:
 * produce and fetch pass compressed batches through untouched).
 */
#ifndef GREGOR_PROTOCOL_COMPRESSION_H
#define GREGOR_PROTOCOL_COMPRESSION_H

#include <stddef.h>
#include <stdint.h>

/* Codec numbers are the low three bits of a v2 batch's attributes. */
#define COMPRESSION_NONE 0
#define COMPRESSION_GZIP 1
#define COMPRESSION_SNAPPY 2
#define COMPRESSION_LZ4 3
#define COMPRESSION_ZSTD 4
#define COMPRESSION_CODEC_MAX COMPRESSION_ZSTD

/* The largest batch body we will decompress. A batch on the wire is at
 * most message.max.bytes (1 MiB by default); 64 MiB allows a 64x ratio on
 * a default-sized batch (ordinary text and JSON compress 5-20x) while
 * bounding what one crafted batch of a few KiB can make us hold. */
#define COMPRESSION_DECOMPRESSED_BYTES_MAX (64u * 1024 * 1024)

/* zstd's decoder allocates its window from the frame header's claim. Any
 * window larger than the biggest output we accept is useless, so cap it at
 * log2(COMPRESSION_DECOMPRESSED_BYTES_MAX); a frame asking for more fails
 * as COMPRESSION_ERR_TOO_LARGE. */
#define COMPRESSION_ZSTD_WINDOW_LOG_MAX 26

/* compression_compress: Kafka's default levels (KIP-390). */
#define COMPRESSION_LEVEL_DEFAULT INT32_MIN

enum compression_result {
    COMPRESSION_OK = 0,
    COMPRESSION_ERR_CODEC = -1,     /* codec not 0..4 */
    COMPRESSION_ERR_CORRUPT = -2,   /* malformed, truncated, bad checksum, trailing garbage */
    COMPRESSION_ERR_TOO_LARGE = -3, /* output past out_cap or the limit: a possible bomb */
    COMPRESSION_ERR_NOMEM = -4,     /* a library could not allocate its (bounded) state */
    COMPRESSION_ERR_NOSPACE = -5,   /* compress: out_cap below compression_compress_bound */
};

const char *compression_codec_name(int codec);
const char *compression_strerror(int result);

/* Decompresses in[0..in_len) into out[0..out_cap); *out_len gets the size.
 * Codec 0 copies. Returns an enum compression_result. */
int compression_decompress(int codec, const uint8_t *in, size_t in_len, uint8_t *out, size_t out_cap,
                           size_t *out_len);

/* As compression_decompress into a malloc'd buffer grown by doubling up to
 * max_len (itself capped by COMPRESSION_DECOMPRESSED_BYTES_MAX). Each growth
 * decompresses again from the start, so the cost is at most ~2x one pass.
 * On success the caller frees *out; on failure *out is NULL. */
int compression_decompress_alloc(int codec, const uint8_t *in, size_t in_len, size_t max_len, uint8_t **out,
                                 size_t *out_len);

/* The largest output compression_compress can produce for in_len bytes. */
size_t compression_compress_bound(int codec, size_t in_len);

/* Compresses with the codec's Kafka framing (see above). level is the
 * codec's own scale, or COMPRESSION_LEVEL_DEFAULT: gzip 6, lz4 9, zstd 3,
 * as Kafka's producer defaults; snappy has none. */
int compression_compress(int codec, int level, const uint8_t *in, size_t in_len, uint8_t *out, size_t out_cap,
                         size_t *out_len);

#endif
