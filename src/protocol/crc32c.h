/*
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of
 * Kafka's magic-v2 record batches.
 *
 * crc32c(0, p, n) starts a checksum; passing a previous result continues
 * it, so crc32c(crc32c(0, a, na), b, nb) == crc32c(0, a||b, na+nb). The
 * initial and final inversions are applied inside, so callers never see
 * the raw register value. crc32c(0, "123456789", 9) == 0xE3069283.
 *
 * Uses the SSE4.2 crc32 instruction when the CPU has it (checked once at
 * run time), otherwise a slice-by-8 table walk. Thread-safe.
 */
#ifndef GREGOR_PROTOCOL_CRC32C_H
#define GREGOR_PROTOCOL_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

uint32_t crc32c(uint32_t crc, const void *data, size_t len);

/* Both implementations, exposed so tests can compare them. crc32c_hw must
 * only be called when crc32c_hw_available() is true. */
uint32_t crc32c_sw(uint32_t crc, const void *data, size_t len);
uint32_t crc32c_hw(uint32_t crc, const void *data, size_t len);
bool crc32c_hw_available(void);

#endif
