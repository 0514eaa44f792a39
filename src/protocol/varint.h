/*
 * Base-128 varints (little-endian groups of 7 bits, high bit = "more")
 * and zigzag, the two pieces Kafka builds every variable-length integer
 * from: protocol messages use plain unsigned varints (wire.c), records
 * use zigzag-signed ones (records.c). Both layers call these, so there is
 * one decoder with one set of rules.
 *
 * Everything is static inline on purpose: the callers sit on the request
 * and produce paths, call with constant widths, and the compiler then
 * folds the width checks away.
 *
 * A decoder rejects an encoding longer than the value's width needs
 * (5 bytes for 32 bits, 10 for 64) or whose last byte carries bits past
 * that width. Kafka's Java decoders drop such bits instead, but no
 * encoder produces them, and accepting them would let two byte strings
 * mean the same value.
 */
#ifndef GREGOR_PROTOCOL_VARINT_H
#define GREGOR_PROTOCOL_VARINT_H

#include <stddef.h>
#include <stdint.h>

#define VARINT_BYTES_MAX_32 5  /* ceil(32 / 7) */
#define VARINT_BYTES_MAX_64 10 /* ceil(64 / 7) */

static inline uint32_t varint_zigzag32(int32_t v) { return ((uint32_t)v << 1) ^ (uint32_t)(v >> 31); }
static inline uint64_t varint_zigzag64(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }
static inline int32_t varint_unzigzag32(uint32_t u) { return (int32_t)((u >> 1) ^ (0u - (u & 1))); }
static inline int64_t varint_unzigzag64(uint64_t u) { return (int64_t)((u >> 1) ^ (0ull - (u & 1))); }

/* Decodes an unsigned varint of a `bits`-wide value (32 or 64) from at
 * most `avail` bytes. Returns the bytes consumed, or -1 when the input
 * ends first or the encoding is malformed (see above); *out is written
 * only on success. */
static inline int varint_decode(const uint8_t *p, size_t avail, int bits, uint64_t *out) {
    /* Most varints on the wire fit in one byte (counts, small deltas) or
     * two (lengths below 8 KiB); settle those before entering the loop. */
    if (avail > 0 && p[0] < 0x80) {
        *out = p[0];
        return 1;
    }
    if (avail > 1 && p[1] < 0x80) {
        *out = (uint64_t)(p[0] & 0x7f) | (uint64_t)p[1] << 7;
        return 2;
    }
    /* Bytes before the last one the width allows need no width check, so
     * the loop tests only "input left" and "more follows". */
    const int last = (bits + 6) / 7 - 1;
    size_t head = avail < (size_t)last ? avail : (size_t)last;
    uint64_t v = 0;
    for (size_t i = 0; i < head; i++) {
        v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (p[i] < 0x80) {
            *out = v;
            return (int)i + 1;
        }
    }
    if (avail <= (size_t)last) return -1; /* the input ended inside the varint */
    /* The last byte holds the width's remaining bits and nothing above
     * them: that one shift refuses both bits past the width and a
     * continuation bit (an over-long encoding). */
    if (p[last] >> (bits - 7 * last) != 0) return -1;
    *out = v | (uint64_t)p[last] << (7 * last);
    return last + 1;
}

/* Writes u; p needs VARINT_BYTES_MAX_64 bytes of room (5 if u fits in 32
 * bits). Returns the bytes written. */
static inline size_t varint_encode(uint8_t *p, uint64_t u) {
    size_t n = 0;
    while (u >= 0x80) {
        p[n++] = (uint8_t)(u | 0x80);
        u >>= 7;
    }
    p[n++] = (uint8_t)u;
    return n;
}

/* The bytes varint_encode would write for u. */
static inline size_t varint_size(uint64_t u) {
    size_t n = 1;
    while (u >= 0x80) {
        u >>= 7;
        n++;
    }
    return n;
}

#endif
