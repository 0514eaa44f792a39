/*
 * libFuzzer target: recovery of a partition log from an arbitrary
 * segment file. Input layout:
 *   byte 0      flags: bit 0 leave a clean-shutdown marker (exercises the
 *               trusting path), bit 1 also write an offset index, bit 2
 *               also write a time index
 *   (bit 1)     2-byte big-endian length L, then L bytes of .index
 *   (bit 2)     2-byte big-endian length L, then L bytes of .timeindex
 *   rest        the contents of 00000000000000000000.log
 * After plog_open every offset from start to end must be readable, every
 * served batch must be whole and (after an unclean open) pass its CRC,
 * an append must succeed, and a close/reopen must give the same end.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_check.h"
#include "core/log.h"
#include "protocol/batch_builder.h"
#include "protocol/record_batch.h"
#include "storage/log.h"


#define FUZZ_PATH_BYTES 256
#define FUZZ_READ_BYTES_MAX (1024 * 1024)
#define FUZZ_FLAG_CLEAN 1
#define FUZZ_FLAG_INDEX 2
#define FUZZ_FLAG_TIMEINDEX 4

static char root[FUZZ_PATH_BYTES / 2];
static char pdir[FUZZ_PATH_BYTES / 2 + 8];
static uint8_t read_buf[FUZZ_READ_BYTES_MAX];

static void write_file(const char *name, const uint8_t *data, size_t len) {
    char path[FUZZ_PATH_BYTES + 32];
    snprintf(path, sizeof(path), "%s/%s", pdir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    FUZZ_CHECK(fd >= 0);
    FUZZ_CHECK(len == 0 || write(fd, data, len) == (ssize_t)len);
    close(fd);
}

static void remove_dir(void) {
    static const char *const names[] = {"00000000000000000000.log", "00000000000000000000.index",
                                        "00000000000000000000.timeindex", "clean-shutdown"};
    char path[FUZZ_PATH_BYTES + 32];
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", pdir, names[i]);
        unlink(path);
    }
    rmdir(pdir);
}

static int count_batch(void *ctx, const uint8_t *batch, uint32_t len) {
    FUZZ_CHECK(len >= RB_HEADER_BYTES);
    (*(int64_t *)ctx)++;
    return 0;
}

/* Reads start..end through plog_read; checks each batch. */
static void read_everything(struct plog *log, bool verify_crc) {
    int64_t offset = plog_start_offset(log), end = plog_end_offset(log);
    while (offset < end) {
        struct log_slice sl;
        FUZZ_CHECK(plog_read(log, offset, end, 64 * 1024, true, &sl) == 0);
        FUZZ_CHECK(sl.len > 0 && sl.fd >= 0 && sl.len <= sizeof(read_buf));
        FUZZ_CHECK(pread(sl.fd, read_buf, sl.len, sl.file_pos) == (ssize_t)sl.len);
        close(sl.fd);
        uint32_t pos = 0;
        int64_t next = offset;
        while (sl.len - pos >= RB_HEADER_BYTES) {
            struct rb_header h;
            rb_parse_header(read_buf + pos, sl.len - pos, &h);
            FUZZ_CHECK(rb_check_header(&h) == RB_OK);
            if (rb_total_bytes(&h) > sl.len - pos) break;
            if (verify_crc) FUZZ_CHECK(rb_validate(read_buf + pos, sl.len - pos, NULL) == RB_OK);
            FUZZ_CHECK(rb_last_offset(&h) >= next);
            next = rb_last_offset(&h) + 1;
            pos += rb_total_bytes(&h);
        }
        FUZZ_CHECK(next > offset);
        offset = next;
    }
    FUZZ_CHECK(offset == end);
}

static void cleanup_root(void) {
    remove_dir();
    rmdir(root);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    log_set_level(LOG_LEVEL_ERROR);
    /* tmpfs when available: recovery fsyncs, and a disk would make each
     * run take milliseconds. */
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(root, sizeof(root), "%s/gregor-fuzz-recovery-XXXXXX", base);
    FUZZ_CHECK(mkdtemp(root) != NULL);
    snprintf(pdir, sizeof(pdir), "%s/p", root);
    atexit(cleanup_root);
    return 0;
}

/* Takes a 2-byte length and that many bytes off the front of the input. */
static bool take_part(const uint8_t **data, size_t *size, const uint8_t **part, size_t *len) {
    if (*size < 2) return false;
    *len = ((size_t)(*data)[0] << 8) | (*data)[1];
    *data += 2;
    *size -= 2;
    if (*len > *size) *len = *size;
    *part = *data;
    *data += *len;
    *size -= *len;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    uint8_t flags = data[0];
    data++;
    size--;
    const uint8_t *index = NULL, *timeindex = NULL;
    size_t index_len = 0, timeindex_len = 0;
    if ((flags & FUZZ_FLAG_INDEX) && !take_part(&data, &size, &index, &index_len)) return 0;
    if ((flags & FUZZ_FLAG_TIMEINDEX) && !take_part(&data, &size, &timeindex, &timeindex_len)) return 0;
    remove_dir();
    FUZZ_CHECK(mkdir(pdir, 0755) == 0);
    write_file("00000000000000000000.log", data, size);
    if (index) write_file("00000000000000000000.index", index, index_len);
    if (timeindex) write_file("00000000000000000000.timeindex", timeindex, timeindex_len);
    if (flags & FUZZ_FLAG_CLEAN) write_file("clean-shutdown", NULL, 0);

    struct log_config cfg = {
        .segment_bytes = 1024 * 1024, .segment_ms = LOG_UNLIMITED, .retention_ms = LOG_UNLIMITED,
        .retention_bytes = LOG_UNLIMITED, .index_interval_bytes = 64,
        .flush_interval_messages = INT64_MAX, .flush_interval_ms = INT64_MAX, .log_append_time = false,
    };
    struct plog *log = NULL;
    struct log_recovery_report rep;
    int rc = plog_open(pdir, &cfg, &log, &rep);
    if (rc != 0) {
        remove_dir();
        return 0;
    }
    FUZZ_CHECK(plog_start_offset(log) <= plog_end_offset(log));
    read_everything(log, !(flags & FUZZ_FLAG_CLEAN));
    int64_t batches = 0;
    FUZZ_CHECK(plog_scan(log, 0, count_batch, &batches) == 0);
    int64_t off, ts;
    FUZZ_CHECK(plog_offset_for_time(log, size > 8 ? (int64_t)data[size - 1] << 8 : 0, &off, &ts) == 0);
    FUZZ_CHECK(off == -1 || (off >= plog_start_offset(log) && off < plog_end_offset(log)));
    plog_max_timestamp(log, &ts, &off);

    /* Appending after recovery must work and land at the end. */
    struct batch_builder bb;
    batch_builder_init(&bb, 256, 5);
    FUZZ_CHECK(batch_builder_add(&bb, NULL, -1, "v", 1) == 0 && batch_builder_finish(&bb) == 0);
    int64_t end = plog_end_offset(log), first = -1;
    if (end < INT64_MAX - 1) {
        rc = plog_append(log, bb.ob.data, (uint32_t)bb.ob.len, 1, 1000, &first, NULL);
        /* Only a segment whose offsets already span 2^31 may refuse (it
         * would need a roll to a new base, which does work too). */
        FUZZ_CHECK(rc == 0 && first == end);
        end++;
    }
    batch_builder_free(&bb);
    plog_close(log);
    FUZZ_CHECK(plog_open(pdir, &cfg, &log, &rep) == 0);
    FUZZ_CHECK(plog_end_offset(log) == end);
    FUZZ_CHECK(rep.truncated_bytes == 0);
    read_everything(log, false);
    FUZZ_CHECK(plog_remove(log) == 0);
    return 0;
}
