#include "protocol/crc32c.h"

#include <pthread.h>
#include <string.h>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

/* Reflected form of the Castagnoli polynomial 0x1EDC6F41. */
#define CRC32C_POLY_REFLECTED 0x82F63B78u
/* Slice-by-8 consumes eight bytes per step with eight 256-entry tables. */
#define CRC32C_SLICES 8

static uint32_t crc_tables[CRC32C_SLICES][256];
static pthread_once_t crc_tables_once = PTHREAD_ONCE_INIT;

/* Table k maps a byte to its contribution after k further zero bytes,
 * which lets eight input bytes be folded in independent lookups. */
static void crc_tables_build(void) {
    for (uint32_t b = 0; b < 256; b++) {
        uint32_t c = b;
        for (int bit = 0; bit < 8; bit++) c = (c & 1) ? (c >> 1) ^ CRC32C_POLY_REFLECTED : c >> 1;
        crc_tables[0][b] = c;
    }
    for (uint32_t b = 0; b < 256; b++) {
        for (int k = 1; k < CRC32C_SLICES; k++) {
            uint32_t prev = crc_tables[k - 1][b];
            crc_tables[k][b] = (prev >> 8) ^ crc_tables[0][prev & 0xff];
        }
    }
}

static inline uint64_t load_le64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, sizeof(v));
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

uint32_t crc32c_sw(uint32_t crc, const void *data, size_t len) {
    pthread_once(&crc_tables_once, crc_tables_build);
    const uint8_t *p = data;
    uint32_t c = ~crc;
    while (len > 0 && ((uintptr_t)p & 7) != 0) {
        c = (c >> 8) ^ crc_tables[0][(c ^ *p++) & 0xff];
        len--;
    }
    while (len >= 8) {
        uint64_t w = load_le64(p) ^ c;
        c = crc_tables[7][w & 0xff] ^ crc_tables[6][(w >> 8) & 0xff] ^
            crc_tables[5][(w >> 16) & 0xff] ^ crc_tables[4][(w >> 24) & 0xff] ^
            crc_tables[3][(w >> 32) & 0xff] ^ crc_tables[2][(w >> 40) & 0xff] ^
            crc_tables[1][(w >> 48) & 0xff] ^ crc_tables[0][w >> 56];
        p += 8;
        len -= 8;
    }
    while (len > 0) {
        c = (c >> 8) ^ crc_tables[0][(c ^ *p++) & 0xff];
        len--;
    }
    return ~c;
}

#if defined(__x86_64__)
/* The crc32 instruction has a latency of three cycles but can start one
 * per cycle, so one dependent chain runs at a third of its throughput.
 * Long inputs are cut into three lanes of CRC32C_LANE_BYTES checksummed
 * side by side; the lanes' registers are then merged by moving each one
 * past the bytes that follow it. On the produce path the checksum of every
 * batch was a fifth of the broker's CPU with a single chain. */
#define CRC32C_LANES 3
#define CRC32C_LANE_BYTES 1024

/* Advancing a raw CRC register over n zero bytes is linear in the
 * register, so for the fixed n = CRC32C_LANE_BYTES it is a table lookup
 * per register byte. */
static uint32_t lane_shift_tables[4][256];
static pthread_once_t lane_shift_once = PTHREAD_ONCE_INIT;

__attribute__((target("sse4.2"))) static uint32_t crc_raw_over_zeros(uint32_t reg, size_t n) {
    uint64_t c = reg;
    for (size_t i = 0; i < n / 8; i++) c = _mm_crc32_u64(c, 0);
    return (uint32_t)c;
}

static void lane_shift_build(void) {
    uint32_t basis[32];
    for (int bit = 0; bit < 32; bit++) basis[bit] = crc_raw_over_zeros(1u << bit, CRC32C_LANE_BYTES);
    for (int k = 0; k < 4; k++) {
        for (uint32_t b = 0; b < 256; b++) {
            uint32_t v = 0;
            for (int bit = 0; bit < 8; bit++)
                if (b & (1u << bit)) v ^= basis[8 * k + bit];
            lane_shift_tables[k][b] = v;
        }
    }
}

static inline uint32_t lane_shift(uint32_t reg) {
    return lane_shift_tables[0][reg & 0xff] ^ lane_shift_tables[1][(reg >> 8) & 0xff] ^
           lane_shift_tables[2][(reg >> 16) & 0xff] ^ lane_shift_tables[3][reg >> 24];
}

__attribute__((target("sse4.2"))) uint32_t crc32c_hw(uint32_t crc, const void *data, size_t len) {
    const uint8_t *p = data;
    uint64_t c = (uint32_t)~crc;
    while (len > 0 && ((uintptr_t)p & 7) != 0) {
        c = _mm_crc32_u8((uint32_t)c, *p++);
        len--;
    }
    if (len >= CRC32C_LANES * CRC32C_LANE_BYTES) {
        pthread_once(&lane_shift_once, lane_shift_build);
        do {
            /* Lanes b and c start from a zero register: a raw CRC of a||b||c
             * is shift(shift(crc(a)) ^ crc0(b)) ^ crc0(c). */
            uint64_t cb = 0, cc = 0;
            for (size_t i = 0; i < CRC32C_LANE_BYTES; i += 8) {
                uint64_t wa, wb, wc;
                memcpy(&wa, p + i, 8);
                memcpy(&wb, p + CRC32C_LANE_BYTES + i, 8);
                memcpy(&wc, p + 2 * CRC32C_LANE_BYTES + i, 8);
                c = _mm_crc32_u64(c, wa);
                cb = _mm_crc32_u64(cb, wb);
                cc = _mm_crc32_u64(cc, wc);
            }
            c = lane_shift(lane_shift((uint32_t)c) ^ (uint32_t)cb) ^ (uint32_t)cc;
            p += CRC32C_LANES * CRC32C_LANE_BYTES;
            len -= CRC32C_LANES * CRC32C_LANE_BYTES;
        } while (len >= CRC32C_LANES * CRC32C_LANE_BYTES);
    }
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, sizeof(w));
        c = _mm_crc32_u64(c, w);
        p += 8;
        len -= 8;
    }
    while (len > 0) {
        c = _mm_crc32_u8((uint32_t)c, *p++);
        len--;
    }
    return ~(uint32_t)c;
}

bool crc32c_hw_available(void) {
    /* Cached: __builtin_cpu_supports is cheap but not free, and this sits
     * on the produce path. Racing first callers compute the same answer. */
    static int cached = -1;
    int v = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (v < 0) {
        __builtin_cpu_init();
        v = __builtin_cpu_supports("sse4.2") ? 1 : 0;
        __atomic_store_n(&cached, v, __ATOMIC_RELAXED);
    }
    return v == 1;
}
#else
uint32_t crc32c_hw(uint32_t crc, const void *data, size_t len) { return crc32c_sw(crc, data, len); }
bool crc32c_hw_available(void) { return false; }
#endif

uint32_t crc32c(uint32_t crc, const void *data, size_t len) {
    if (crc32c_hw_available()) return crc32c_hw(crc, data, len);
    return crc32c_sw(crc, data, len);
}
