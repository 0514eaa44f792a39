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

/* Long buffers take the three-stripe hardware path: every length and
 * alignment around its stripe boundaries must match the table walk. */
static void test_striped_lengths(void) {
    enum { STRIPE = 1024, N = 3 * STRIPE * 3 + 64 };  /* STRIPE: CRC32C_STRIPE in crc32c.c */
    static uint8_t buf[N + 8];
    uint32_t x = 777;
    for (size_t i = 0; i < sizeof(buf); i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (uint8_t)(x >> 16);
    }
    size_t lens[] = {3 * STRIPE - 1, 3 * STRIPE, 3 * STRIPE + 1, 3 * STRIPE + 7, 6 * STRIPE - 8, 6 * STRIPE,
                     6 * STRIPE + 9, N - 3, N};
    for (int shift = 0; shift < 8; shift++) {
        for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
            uint32_t want = crc32c_sw(0x1234, buf + shift, lens[i]);
            CHECK_EQ_INT(crc32c(0x1234, buf + shift, lens[i]), want);
        }
    }
}

int main(void) {
    TEST_RUN(test_known_vectors);
    TEST_RUN(test_chaining_and_alignment);
    TEST_RUN(test_striped_lengths);
    TEST_EXIT();
}
