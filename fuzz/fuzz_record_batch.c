/*
 * libFuzzer target: record batch validation on arbitrary bytes. Besides
 * memory safety it checks the validators' promises: a batch accepted for
 * produce is accepted structurally, the reported size lies within the
 * input, its records can be walked, and the broker's rewrites keep it
 * valid.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "protocol/record_batch.h"


static void walk_records(const uint8_t *batch, uint32_t len) {
    struct rb_record_iter it;
    struct rb_record r;
    rb_records_begin(&it, batch, len);
    uint64_t sum = 0;
    while (rb_records_next(&it, &r) == 1) {
        /* Touch every byte the walker hands out so ASan sees any overrun. */
        for (int32_t i = 0; i < r.rec.key_len; i++) sum += r.rec.key[i];
        for (int32_t i = 0; i < r.rec.value_len; i++) sum += r.rec.value[i];
        for (size_t i = 0; i < r.rec.headers_len; i++) sum += r.rec.headers[i];
    }
    int32_t delta;
    int64_t ts;
    (void)rb_find_timestamp(batch, len, (int64_t)sum, 0, &delta, &ts);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* An exact-size heap copy so reads past the end are caught. */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    if (size) memcpy(buf, data, size);

    uint32_t n1 = 0, n2 = 0;
    enum rb_check c1 = rb_validate(buf, size, &n1);
    enum rb_check c2 = rb_validate_for_produce(buf, size, &n2);
    FUZZ_CHECK(rb_check_name(c1) != NULL && rb_check_name(c2) != NULL);
    if (c2 == RB_OK) FUZZ_CHECK(c1 == RB_OK && n1 == n2);
    if (c1 == RB_OK) {
        FUZZ_CHECK(n1 >= RB_HEADER_BYTES && n1 <= size);
        walk_records(buf, n1);
        struct rb_header h;
        FUZZ_CHECK(rb_parse_header(buf, size, &h) == 0);
        FUZZ_CHECK(rb_check_header(&h) == RB_OK && rb_total_bytes(&h) == n1);
        rb_set_base_offset(buf, 42);
        rb_set_leader_epoch(buf, 7);
        rb_set_log_append_time(buf, n1, 123456);
        FUZZ_CHECK(rb_validate(buf, size, NULL) == RB_OK);
        enum rb_check c3 = rb_validate_for_produce(buf, size, NULL);
        /* LogAppendTime only rewrites header fields the produce rules
         * do not look at. */
        FUZZ_CHECK((c3 == RB_OK) == (c2 == RB_OK));
    }
    free(buf);
    return 0;
}
