/*
 * libFuzzer target: the start-up summary's decoders (storage/log_summary.c).
 * Two modes, by the first byte:
 *   'S'  the rest is a summary body: written to a data directory behind a
 *        valid header (its CRC computed here, so the body's walk and the
 *        entry index are reached), then taken; every entry name must be
 *        found or refused without reading outside the file;
 *   else the whole input is one partition's log state, decoded by
 *        plog_open_summarized.
 * The file's CRC keeps damaged bytes out in practice; this proves the
 * decoders refuse or survive any bytes: an accepted log state must give a
 * log whose start lies within [first segment, end], and queries on it
 * (whose files do not exist) must fail cleanly.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_check.h"
#include "core/log.h"
#include "protocol/crc32c.h"
#include "protocol/record_batch.h"
#include "storage/log.h"
#include "storage/log_summary.h"

#define FUZZ_PATH_BYTES 256
#define FUZZ_HEADER_BYTES 40

static char data_dir[FUZZ_PATH_BYTES];

static void cleanup_dir(void) {
    char path[FUZZ_PATH_BYTES + 64];
    snprintf(path, sizeof(path), "%s/%s", data_dir, LOG_SUMMARY_FILE);
    unlink(path);
    rmdir(data_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    log_set_level(LOG_LEVEL_ERROR);
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(data_dir, sizeof(data_dir), "%s/gregor-fuzz-summary-XXXXXX", base);
    FUZZ_CHECK(mkdtemp(data_dir) != NULL);
    atexit(cleanup_dir);
    return 0;
}

static void fuzz_log_state(const uint8_t *data, size_t size) {
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
    if (plog_open_summarized("/nonexistent/gregor-fuzz-summary/p-0", &cfg, &e, &log) != 0) return;
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
}

/* The summary file around `body`, for a data directory that holds nothing
 * else (an empty listing). The partition count is the body's first two
 * bytes, so the fuzzer can claim more or fewer entries than it holds. */
static void fuzz_summary_file(const uint8_t *body, size_t size) {
    if (size < 2 || size > (1u << 20)) return;
    uint16_t count = (uint16_t)rb_be16(body);
    body += 2;
    size -= 2;
    uint8_t *file = malloc(FUZZ_HEADER_BYTES + size + 1);
    FUZZ_CHECK(file != NULL);
    memset(file, 0, FUZZ_HEADER_BYTES);
    memcpy(file, "GRGRSUMM", 8);
    rb_put_be16(file + 8, 1);
    rb_put_be16(file + 10, FUZZ_HEADER_BYTES);
    rb_put_be32(file + 12, count);
    rb_put_be64(file + 28, size);
    memcpy(file + FUZZ_HEADER_BYTES, body, size);
    rb_put_be32(file + 36, crc32c(crc32c(0, file, 36), file + FUZZ_HEADER_BYTES, size));
    char path[FUZZ_PATH_BYTES + 64];
    snprintf(path, sizeof(path), "%s/%s", data_dir, LOG_SUMMARY_FILE);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    FUZZ_CHECK(fd >= 0);
    FUZZ_CHECK(write(fd, file, FUZZ_HEADER_BYTES + size) == (ssize_t)(FUZZ_HEADER_BYTES + size));
    close(fd);
    free(file);
    struct log_summary *s = NULL;
    FUZZ_CHECK(log_summary_take(data_dir, 2, &s) == 0);
    FUZZ_CHECK(access(path, F_OK) != 0);
    if (!s) return;
    FUZZ_CHECK(log_summary_count(s) == count);
    /* No directory exists here, so every entry counts as changed. */
    struct log_summary_entry e;
    FUZZ_CHECK(!log_summary_find(s, "t-0", &e));
    log_summary_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 0 && data[0] == 'S') fuzz_summary_file(data + 1, size - 1);
    else fuzz_log_state(data, size);
    return 0;
}
