/*
 * libFuzzer target: the keyless-record check Produce runs on every batch
 * sent to a compacted topic (cleaner_batch_has_null_key), which inflates
 * compressed batches and walks their records. The input becomes a batch
 * whose length, magic and CRC are made right, so the fuzzer spends its
 * time on the records; the check must agree with a plain record walk on
 * uncompressed batches.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "protocol/record_batch.h"
#include "protocol/records.h"
#include "storage/cleaner.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < RB_HEADER_BYTES || size > (1u << 20)) return 0;
    uint8_t *buf = malloc(size);
    if (!buf) return 0;
    memcpy(buf, data, size);
    rb_put_be32(buf + RB_OFF_BATCH_LENGTH, (uint32_t)(size - RB_LOG_OVERHEAD));
    buf[RB_OFF_MAGIC] = RB_MAGIC_V2;
    rb_put_be32(buf + RB_OFF_CRC, rb_compute_crc(buf, (uint32_t)size));
    uint32_t n = 0;
    if (rb_validate_for_produce(buf, size, &n) == RB_OK && n == size) {
        int r = cleaner_batch_has_null_key(buf, (uint32_t)size);
        FUZZ_CHECK(r >= -1 && r <= 1);
        struct rb_header h;
        rb_parse_header(buf, size, &h);
        if (rb_codec_of(&h) == RB_CODEC_NONE && !(h.attributes & RB_ATTR_CONTROL)) {
            struct records_iter it;
            struct record_view rec;
            records_iter_init(&it, buf + RB_HEADER_BYTES, size - RB_HEADER_BYTES, h.record_count);
            int rc, null_key = 0;
            while ((rc = records_next(&it, &rec)) == 1) null_key |= rec.key == NULL;
            FUZZ_CHECK(r == (null_key ? 1 : rc < 0 ? -1 : 0));
        }
    }
    free(buf);
    return 0;
}
