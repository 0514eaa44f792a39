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
/* The crc32 instruction takes 3 cycles but can start one per cycle, so a
 * single dependency chain uses a third of it. Buffers of at least three
 * stripes are checksummed as three independent chains over consecutive
 * stripes, then joined: with update(r, data) the raw register step,
 *   update(r, A||B||C) = shift(shift(update(r, A)) ^ update(0, B)) ^ update(0, C)
 * where shift(r) = update(r, CRC32C_STRIPE zero bytes) is linear in r, so
 * four 256-entry tables (one per byte of r) evaluate it. */
#define CRC32C_STRIPE 1024

static uint32_t stripe_shift[4][256];
static pthread_once_t stripe_shift_once = PTHREAD_ONCE_INIT;

__attribute__((target("sse4.2"))) static uint64_t hw_update(uint64_t c, const uint8_t *p, size_t len) {
    while (len > 0 && ((uintptr_t)p & 7) != 0) {
        c = _mm_crc32_u8((uint32_t)c, *p++);
        len--;
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
    return c;
}

static void stripe_shift_build(void) {
    static const uint8_t zeros[CRC32C_STRIPE];
    for (int k = 0; k < 4; k++)
        for (uint32_t v = 0; v < 256; v++) stripe_shift[k][v] = (uint32_t)hw_update((uint64_t)v << (8 * k), zeros, sizeof(zeros));
}

static inline uint32_t shift_stripe(uint32_t r) {
    return stripe_shift[0][r & 0xff] ^ stripe_shift[1][(r >> 8) & 0xff] ^ stripe_shift[2][(r >> 16) & 0xff] ^
           stripe_shift[3][r >> 24];
}

__attribute__((target("sse4.2"))) uint32_t crc32c_hw(uint32_t crc, const void *data, size_t len) {
    const uint8_t *p = data;
    uint64_t c = (uint32_t)~crc;
    if (len >= 3 * CRC32C_STRIPE) {
        pthread_once(&stripe_shift_once, stripe_shift_build);
        /* Aligned chains: the three stripes then start 8-byte aligned too. */
        size_t head = (8 - ((uintptr_t)p & 7)) & 7;
        c = hw_update(c, p, head);
        p += head;
        len -= head;
        while (len >= 3 * CRC32C_STRIPE) {
            uint64_t a = c, b = 0, d = 0;
            for (size_t i = 0; i < CRC32C_STRIPE; i += 8) {
                uint64_t wa, wb, wd;
                memcpy(&wa, p + i, 8);
                memcpy(&wb, p + CRC32C_STRIPE + i, 8);
                memcpy(&wd, p + 2 * CRC32C_STRIPE + i, 8);
                a = _mm_crc32_u64(a, wa);
                b = _mm_crc32_u64(b, wb);
                d = _mm_crc32_u64(d, wd);
            }
            c = shift_stripe(shift_stripe((uint32_t)a) ^ (uint32_t)b) ^ (uint32_t)d;
            p += 3 * CRC32C_STRIPE;
            len -= 3 * CRC32C_STRIPE;
        }
    }
    return ~(uint32_t)hw_update(c, p, len);
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
