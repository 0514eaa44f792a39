#include "check.h"
#include "protocol/crc32c.h"

#include <stdint.h>
#include <string.h>

/* Published check values: RFC 3720 appendix B.4 and the common "123456789". */
static void test_known_vectors(void) {
    CHECK_EQ_INT(crc32c(0, "123456789", 9), 0xE3069283u);
    CHECK_EQ_INT(crc32c(0, "", 0), 0);
    uint8_t zeros[32] = {0}, ones[32], inc[32], dec[32];
    memset(ones, 0xff, sizeof(ones));
    for (int i = 0; i < 32; i++) {
        inc[i] = (uint8_t)i;
        dec[i] = (uint8_t)(31 - i);
    }
    CHECK_EQ_INT(crc32c(0, zeros, 32), 0x8A9136AAu);
    CHECK_EQ_INT(crc32c(0, ones, 32), 0x62A8AB43u);
    CHECK_EQ_INT(crc32c(0, inc, 32), 0x46DD794Eu);
    CHECK_EQ_INT(crc32c(0, dec, 32), 0x113FDB5Cu);
    CHECK_EQ_INT(crc32c_sw(0, "123456789", 9), 0xE3069283u);
    if (crc32c_hw_available()) CHECK_EQ_INT(crc32c_hw(0, "123456789", 9), 0xE3069283u);
}

/* Every split point and alignment must give the one-shot answer, in both
 * implementations, so callers can checksum a batch in pieces. */
static void test_chaining_and_alignment(void) {
    enum { N = 1031 };
    static uint8_t buf[N + 8];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof(buf); i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (uint8_t)(x >> 16);
    }
    for (int shift = 0; shift < 8; shift++) {
        const uint8_t *p = buf + shift;
        uint32_t whole = crc32c_sw(0, p, N);
        CHECK_EQ_INT(crc32c(0, p, N), whole);
        if (crc32c_hw_available()) CHECK_EQ_INT(crc32c_hw(0, p, N), whole);
        for (size_t cut = 0; cut <= N; cut += 7) {
            CHECK_EQ_INT(crc32c(crc32c(0, p, cut), p + cut, N - cut), whole);
            CHECK_EQ_INT(crc32c_sw(crc32c_sw(0, p, cut), p + cut, N - cut), whole);
        }
    }
    for (size_t len = 0; len < 64; len++) CHECK_EQ_INT(crc32c_sw(0, buf, len), crc32c(0, buf, len));
}

/* Inputs long enough for the hardware path's three interleaved lanes
 * (3 KiB blocks), with tails and starts around the block edges, must give
 * the table walk's answer, whole and chained. */
static void test_long_inputs(void) {
    enum { N = 3 * 3072 + 40 };
    static uint8_t buf[N];
    uint32_t x = 777;
    for (size_t i = 0; i < sizeof(buf); i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (uint8_t)(x >> 16);
    }
    const size_t lens[] = {3071, 3072, 3073, 3079, 3080, 6143, 6144, 6151, 9216, 9217, N - 8};
    for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
        for (size_t start = 0; start < 8; start += 3) {
            uint32_t want = crc32c_sw(0, buf + start, lens[k]);
            CHECK_EQ_INT(crc32c(0, buf + start, lens[k]), want);
            if (crc32c_hw_available()) {
                CHECK_EQ_INT(crc32c_hw(0, buf + start, lens[k]), want);
                CHECK_EQ_INT(crc32c_hw(crc32c_hw(0, buf + start, 5), buf + start + 5, lens[k] - 5), want);
                uint32_t seeded = crc32c_sw(0xdeadbeefu, buf + start, lens[k]);
                CHECK_EQ_INT(crc32c_hw(0xdeadbeefu, buf + start, lens[k]), seeded);
            }
        }
    }
}

int main(void) {
    TEST_RUN(test_known_vectors);
    TEST_RUN(test_chaining_and_alignment);
    TEST_RUN(test_long_inputs);
    TEST_EXIT();
}
