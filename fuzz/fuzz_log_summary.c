/*
 * libFuzzer target: a partition's entry in the start-up summary
 * (storage/log_summary.c), decoded by plog_open_summarized. The whole
 * input is the entry's log state. The file's CRC keeps damaged entries out
 * in practice; this proves the decoder itself refuses or survives any
 * bytes: an accepted entry must give a log whose start lies within
 * [first segment, end], and queries on it (whose files do not exist) must
 * fail cleanly.
 */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_check.h"
#include "core/log.h"
#include "storage/log.h"
#include "storage/log_summary.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    log_set_level(LOG_LEVEL_ERROR);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct log_summary_entry e = {.log_state = data, .log_state_len = size, .producers = {.snapshot_offset = -1}};
    struct log_config cfg = {
        .segment_bytes = 1 << 20,
        .segment_ms = LOG_UNLIMITED,
        .retention_ms = LOG_UNLIMITED,
        .retention_bytes = LOG_UNLIMITED,
        .index_interval_bytes = 4096,
        .flush_interval_messages = INT64_MAX,
        .flush_interval_ms = INT64_MAX,
    };
    struct plog *log = NULL;
    if (plog_open_summarized("/nonexistent/gregor-fuzz-summary/p-0", &cfg, &e, &log) != 0) return 0;
    int64_t start = plog_start_offset(log), end = plog_end_offset(log);
    FUZZ_CHECK(start >= 0 && start <= end);
    FUZZ_CHECK(plog_segment_count(log) >= 1);
    struct log_slice sl;
    if (plog_read(log, start, end, 4096, true, &sl) == 0 && sl.fd >= 0) FUZZ_CHECK(0); /* no file to read */
    int64_t off, ts;
    plog_offset_for_time(log, 0, &off, &ts);
    int32_t epoch;
    plog_epoch_end_offset(log, 0, &epoch, &off);
    plog_close_unclean(log);
    return 0;
}
