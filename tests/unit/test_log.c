/*
 * Partition log tests: round trips across rolls, reads inside batches and
 * cut by max_bytes / max_offset, clean and crashed reopens (torn tail,
 * flipped byte, damaged or missing indexes, empty trailing segment, a real
 * kill of a child process), retention, DeleteRecords, time lookups,
 * write failures (RLIMIT_FSIZE and injected faults), the leader-epoch
 * cache and its checkpoint, segments left unopened by a clean open, and
 * the descriptor cache at its smallest cap (including random operations
 * over several logs checked against a model).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "core/log.h"
#include "protocol/batch_builder.h"
#include "protocol/record_batch.h"
#include "storage/fileio.h"
#include "storage/log.h"
#include "storage/prefetch.h"

#define BATCH_BUF_BYTES (256 * 1024)
#define PATH_BYTES 512

/* Sized so the compiler can see every path built from them fits. */
static char root[PATH_BYTES / 4];
static char pdir[PATH_BYTES / 2];
static uint8_t batch_buf[BATCH_BUF_BYTES];
static uint8_t read_buf[4 * 1024 * 1024];

static struct log_config base_cfg(void) {
    return (struct log_config){
        .segment_bytes = 1024 * 1024,
        .segment_ms = LOG_UNLIMITED,
        .retention_ms = LOG_UNLIMITED,
        .retention_bytes = LOG_UNLIMITED,
        .index_interval_bytes = 256,
        .flush_interval_messages = INT64_MAX,
        .flush_interval_ms = INT64_MAX,
        .log_append_time = false,
    };
}

static void fresh_dir(const char *name) {
    snprintf(pdir, sizeof(pdir), "%s/%s", root, name);
}

static void path_of(char *out, const char *file) { snprintf(out, PATH_BYTES, "%s/%s", pdir, file); }

static void seg_path(char *out, int64_t base, const char *suffix) {
    char name[FIO_SEGMENT_NAME_BYTES];
    fio_segment_name(name, base, suffix);
    path_of(out, name);
}

/* A batch of n records with timestamps ts0, ts0+1, ... (or the given
 * array) and values of value_len bytes. */
static uint32_t make_batch_ts(uint8_t *out, int32_t n, const int64_t *ts, int64_t ts0, int32_t value_len) {
    static char value[4096];
    memset(value, 'v', sizeof(value));
    struct batch_builder bb;
    batch_builder_init(&bb, BATCH_BUF_BYTES, ts && n > 0 ? ts[0] : ts0);
    for (int32_t i = 0; i < n; i++) batch_builder_add_at(&bb, ts ? ts[i] : ts0 + i, "key", 3, value, value_len);
    uint32_t len = 0;
    if (batch_builder_finish(&bb) == 0) {
        memcpy(out, bb.ob.data, bb.ob.len);
        len = (uint32_t)bb.ob.len;
    }
    batch_builder_free(&bb);
    return len;
}

static int64_t append_one(struct plog *log, int32_t n, int64_t ts0, int32_t value_len) {
    uint32_t len = make_batch_ts(batch_buf, n, NULL, ts0, value_len);
    int64_t first = -1, at = 0;
    int rc = plog_append(log, batch_buf, len, 1, ts0, &first, &at);
    CHECK_EQ_INT(rc, 0);
    return rc == 0 ? first : -1;
}

/* Reads everything from `from` to the end through plog_read, checking
 * every batch (CRC, offsets continuing); returns the records seen. */
static int64_t read_all(struct plog *log, int64_t from) {
    int64_t offset = from, records = 0, end = plog_end_offset(log);
    int guard = 0;
    while (offset < end && guard++ < 100000) {
        struct log_slice sl;
        int rc = plog_read(log, offset, end, 64 * 1024, true, &sl);
        CHECK_EQ_INT(rc, 0);
        if (rc != 0 || sl.len == 0) break;
        CHECK(sl.len <= sizeof(read_buf));
        CHECK_EQ_INT(pread(sl.fd, read_buf, sl.len, sl.file_pos), sl.len);
        close(sl.fd);
        uint32_t pos = 0;
        bool progressed = false;
        while (pos < sl.len) {
            uint32_t bytes;
            if (rb_validate(read_buf + pos, sl.len - pos, &bytes) != RB_OK) break; /* cut last batch */
            struct rb_header h;
            rb_parse_header(read_buf + pos, bytes, &h);
            CHECK(h.base_offset <= offset || !progressed);
            CHECK(rb_last_offset(&h) >= offset);
            if (rb_last_offset(&h) >= offset) {
                records += h.record_count;
                offset = rb_last_offset(&h) + 1;
                progressed = true;
            }
            pos += bytes;
        }
        CHECK(progressed);
        if (!progressed) break;
    }
    CHECK_EQ_INT(offset, end);
    return records;
}

static int file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (int)st.st_size : -1;
}

static bool exists(const char *path) { return access(path, F_OK) == 0; }

/* Closes the log as a crash would leave it: everything written, no marker. */
static void crash_close(struct plog *log) {
    plog_close(log);
    char p[PATH_BYTES];
    path_of(p, "clean-shutdown");
    CHECK_EQ_INT(unlink(p), 0);
}

static struct plog *open_log(const struct log_config *cfg, struct log_recovery_report *rep) {
    struct plog *log = NULL;
    CHECK_EQ_INT(plog_open(pdir, cfg, &log, rep), 0);
    return log;
}

/* ---------------------------------------------------------------- */

static void test_append_read_across_rolls(void) {
    fresh_dir("rolls");
    struct log_config cfg = base_cfg();
    cfg.segment_bytes = 2000;
    struct log_recovery_report rep;
    struct plog *log = open_log(&cfg, &rep);
    if (!log) return;
    CHECK_EQ_INT(rep.segments, 0);
    CHECK_EQ_INT(plog_end_offset(log), 0);
    CHECK_EQ_INT(plog_start_offset(log), 0);
    for (int i = 0; i < 100; i++) CHECK_EQ_INT(append_one(log, 3, 1000 + 10 * i, 50), 3 * i);
    CHECK_EQ_INT(plog_end_offset(log), 300);
    CHECK(plog_segment_count(log) > 5);
    CHECK(plog_size_bytes(log) > 10000);
    char p[PATH_BYTES];
    seg_path(p, 0, ".log");
    CHECK(exists(p));
    CHECK(file_size(p) <= 2000);
    seg_path(p, 0, ".index");
    CHECK(file_size(p) > 0 && file_size(p) % 8 == 0);
    seg_path(p, 0, ".timeindex");
    CHECK(file_size(p) > 0 && file_size(p) % 12 == 0);

    /* Every offset, including ones in the middle of a batch, starts its
     * slice at the batch holding it. */
    for (int64_t off = 0; off < 300; off++) {
        struct log_slice sl;
        CHECK_EQ_INT(plog_read(log, off, 300, 1 << 20, true, &sl), 0);
        CHECK(sl.len > 0 && sl.fd >= 0);
        uint8_t hdr[RB_HEADER_BYTES];
        CHECK_EQ_INT(pread(sl.fd, hdr, sizeof(hdr), sl.file_pos), sizeof(hdr));
        struct rb_header h;
        rb_parse_header(hdr, sizeof(hdr), &h);
        CHECK_EQ_INT(h.base_offset, off - off % 3);
        CHECK_EQ_INT(h.record_count, 3);
        close(sl.fd);
    }
    CHECK_EQ_INT(read_all(log, 0), 300);
    CHECK_EQ_INT(read_all(log, 151), 300 - 150);

    struct log_slice sl;
    CHECK_EQ_INT(plog_read(log, 300, 300, 1000, true, &sl), 0);
    CHECK_EQ_INT(sl.len, 0);
    CHECK_EQ_INT(sl.fd, -1);
    CHECK_EQ_INT(plog_read(log, 301, 301, 1000, true, &sl), -ERANGE);
    CHECK_EQ_INT(plog_read(log, -1, 300, 1000, true, &sl), -ERANGE);
    CHECK_EQ_INT(plog_remove(log), 0);
    CHECK(!exists(pdir));
}

static void test_read_limits(void) {
    fresh_dir("limits");
    struct log_config cfg = base_cfg();
    struct plog *log = open_log(&cfg, NULL);
    if (!log) return;
    for (int i = 0; i < 10; i++) append_one(log, 3, 5000 + i, 100);
    uint32_t batch_bytes = make_batch_ts(batch_buf, 3, NULL, 0, 100);

    struct log_slice sl;
    /* Cut short by max_bytes: a partial trailing batch, as Kafka does. */
    CHECK_EQ_INT(plog_read(log, 0, 30, batch_bytes + 10, false, &sl), 0);
    CHECK_EQ_INT(sl.len, batch_bytes + 10);
    CHECK_EQ_INT(sl.file_pos, 0);
    close(sl.fd);
    /* Smaller than one batch: nothing, unless min_one_batch. */
    CHECK_EQ_INT(plog_read(log, 4, 30, 10, false, &sl), 0);
    CHECK_EQ_INT(sl.len, 10);
    close(sl.fd);
    CHECK_EQ_INT(plog_read(log, 4, 30, 10, true, &sl), 0);
    CHECK_EQ_INT(sl.len, batch_bytes);
    CHECK_EQ_INT(sl.file_pos, batch_bytes);
    close(sl.fd);
    CHECK_EQ_INT(plog_read(log, 4, 30, 0, false, &sl), 0);
    CHECK_EQ_INT(sl.len, 0);
    CHECK_EQ_INT(sl.fd, -1);
    /* max_offset (exclusive) 7 ends the slice after the batch holding 6. */
    CHECK_EQ_INT(plog_read(log, 1, 7, 1 << 20, false, &sl), 0);
    CHECK_EQ_INT(sl.len, 3 * batch_bytes);
    close(sl.fd);
    CHECK_EQ_INT(plog_read(log, 1, 6, 1 << 20, false, &sl), 0);
    CHECK_EQ_INT(sl.len, 2 * batch_bytes);
    close(sl.fd);
    CHECK_EQ_INT(plog_read(log, 6, 6, 1 << 20, false, &sl), 0);
    CHECK_EQ_INT(sl.len, 0);
    CHECK_EQ_INT(plog_read(log, 7, 6, 1 << 20, false, &sl), -ERANGE);
    CHECK_EQ_INT(plog_remove(log), 0);
}

static void test_multi_batch_append_and_append_time(void) {
    fresh_dir("multi");
    struct log_config cfg = base_cfg();
    cfg.log_append_time = true;
    struct plog *log = open_log(&cfg, NULL);
    if (!log) return;
    uint32_t a = make_batch_ts(batch_buf, 2, NULL, 100, 10);
    uint32_t b = make_batch_ts(batch_buf + a, 5, NULL, 200, 10);
    int64_t first, at;
    CHECK_EQ_INT(plog_append(log, batch_buf, a + b, 2, 777000, &first, &at), 0);
    CHECK_EQ_INT(first, 0);
    CHECK_EQ_INT(at, 777000);
    CHECK_EQ_INT(plog_end_offset(log), 7);
    CHECK_EQ_INT(plog_append(log, batch_buf, a + b, 1, 777000, &first, &at), -EINVAL); /* count mismatch */
    CHECK_EQ_INT(plog_append(log, batch_buf, a + b - 1, 2, 777000, &first, &at), -EINVAL); /* cut batch */
    struct log_slice sl;
    CHECK_EQ_INT(plog_read(log, 3, 7, 1 << 20, true, &sl), 0);
    CHECK_EQ_INT(sl.len, b);
    CHECK_EQ_INT(pread(sl.fd, read_buf, sl.len, sl.file_pos), b);
    close(sl.fd);
    CHECK_EQ_INT(rb_validate_for_produce(read_buf, b, NULL), RB_OK);
    struct rb_header h;
    rb_parse_header(read_buf, b, &h);
    CHECK_EQ_INT(h.base_offset, 2);
    CHECK_EQ_INT(h.max_timestamp, 777000);
    CHECK(h.attributes & RB_ATTR_LOG_APPEND_TIME);
    int64_t ts, off;
    plog_max_timestamp(log, &ts, &off);
    CHECK_EQ_INT(ts, 777000);
    CHECK_EQ_INT(off, 0);
    CHECK_EQ_INT(plog_remove(log), 0);
}

static void test_reopen_clean(void) {
    fresh_dir("clean");
    struct log_config cfg = base_cfg();
    cfg.segment_bytes = 3000;
    struct plog *log = open_log(&cfg, NULL);
    if (!log) return;
    for (int i = 0; i < 60; i++) append_one(log, 2, 1000 + i * 2, 40);
    uint32_t segs = plog_segment_count(log);
    plog_close(log);
    char p[PATH_BYTES];
    path_of(p, "clean-shutdown");
    CHECK(exists(p));

    struct log_recovery_report rep;
    log = open_log(&cfg, &rep);
    if (!log) return;
    /* The marker stays until the first write (it still tells the truth). */
    CHECK(exists(p));
    CHECK_EQ_INT(rep.segments, segs);
    CHECK_EQ_INT(rep.truncated_bytes, 0);
    CHECK_EQ_INT(rep.indexes_rebuilt, 0);
    CHECK_EQ_INT(rep.stray_files_removed, 0);
    CHECK_EQ_INT(plog_end_offset(log), 120);
    CHECK_EQ_INT(plog_segment_count(log), segs);
    CHECK_EQ_INT(read_all(log, 0), 120);
    int64_t ts, off;
    plog_max_timestamp(log, &ts, &off);
    CHECK_EQ_INT(ts, 1000 + 59 * 2 + 1);
    CHECK_EQ_INT(off, 119);
    CHECK(exists(p));
    CHECK_EQ_INT(append_one(log, 2, 5000, 40), 120);
    CHECK(!exists(p));
    CHECK_EQ_INT(read_all(log, 100), 22);
    CHECK_EQ_INT(plog_remove(log), 0);
}

/* Builds a log of `batches` 3-record batches, then closes it like a crash. */
static void build_crashed(const char *name, const struct log_config *cfg, int batches) {
    fresh_dir(name);
    struct plog *log = open_log(cfg, NULL);
    if (!log) return;
    for (int i = 0; i < batches; i++) append_one(log, 3, 1000 + i * 3, 30);
    crash_close(log);
}

static void test_crash_torn_tail(void) {
    struct log_config cfg = base_cfg();
    build_crashed("torn", &cfg, 20);
    uint32_t batch = make_batch_ts(batch_buf, 3, NULL, 0, 30);
    char p[PATH_BYTES];
    seg_path(p, 0, ".log");
    CHECK_EQ_INT(file_size(p), 20 * batch);
    CHECK_EQ_INT(truncate(p, 19 * batch + batch / 2), 0);
    struct log_recovery_report rep;
    struct plog *log = open_log(&cfg, &rep);
    if (!log) return;
    CHECK_EQ_INT(rep.truncated_bytes, batch / 2);
    CHECK_EQ_INT(rep.indexes_rebuilt, 2);
    CHECK_EQ_INT(plog_end_offset(log), 57);
    CHECK_EQ_INT(file_size(p), 19 * batch);
    CHECK_EQ_INT(read_all(log, 0), 57);
    CHECK_EQ_INT(append_one(log, 3, 9000, 30), 57);
    CHECK_EQ_INT(read_all(log, 50), 12); /* from batch 48..50 on */
    CHECK_EQ_INT(plog_remove(log), 0);
}

static void flip_byte(const char *path, off_t at) {
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0);
    uint8_t b;
    CHECK_EQ_INT(pread(fd, &b, 1, at), 1);
    b ^= 0x40;
    CHECK_EQ_INT(pwrite(fd, &b, 1, at), 1);
    close(fd);
}

static void test_crash_corrupt_last_batch(void) {
    struct log_config cfg = base_cfg();
    build_crashed("flip", &cfg, 10);
    uint32_t batch = make_batch_ts(batch_buf, 3, NULL, 0, 30);
    char p[PATH_BYTES];
    seg_path(p, 0, ".log");
    flip_byte(p, 9 * batch + 70); /* inside the last batch's records */
    struct log_recovery_report rep;
    struct plog *log = open_log(&cfg, &rep);
    if (!log) return;
    CHECK_EQ_INT(rep.truncated_bytes, batch);
    CHECK_EQ_INT(plog_end_offset(log), 27);
    CHECK_EQ_INT(read_all(log, 0), 27);
    plog_close(log);

    /* A flip in a middle batch cuts everything after it. */
    flip_byte(p, 4 * batch + 30);
    path_of(p, "clean-shutdown");
    unlink(p);
    log = open_log(&cfg, &rep);
    if (!log) return;
    CHECK_EQ_INT(rep.truncated_bytes, 5 * batch);
    CHECK_EQ_INT(plog_end_offset(log), 12);
    CHECK_EQ_INT(read_all(log, 0), 12);
    CHECK_EQ_INT(plog_remove(log), 0);
}

static void write_file(const char *path, const void *data, size_t len) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    if (len) CHECK_EQ_INT(write(fd, data, len), (ssize_t)len);
    close(fd);
}

static void test_damaged_indexes(void) {
    struct log_config cfg = base_cfg();
    cfg.segment_bytes = 1500;
    cfg.index_interval_bytes = 100;
    fresh_dir("indexes");
    struct plog *log = open_log(&cfg, NULL);
    if (!log) return;
    for (int i = 0; i < 40; i++) append_one(log, 3, 1000 + i * 3, 30);
    CHECK(plog_segment_count(log) >= 3);
    plog_close(log);
    uint32_t batch = make_batch_ts(batch_buf, 3, NULL, 0, 30);
    int per_seg = 1500 / (int)batch;
    int64_t seg1 = 3 * per_seg;
    char p[PATH_BYTES];
    /* Garbage in the first segment's offset index (right size, wrong
     * content), a torn time index in the second, a missing index in the
     * last. Clean marker present, so only the cheap checks run. */
    seg_path(p, 0, ".index");
    uint8_t junk[16] = {0, 0, 0, 9, 0, 0, 0, 1, 0, 0, 0, 3, 0, 0, 0, 2};
    write_file(p, junk, sizeof(junk));
    seg_path(p, seg1, ".timeindex");
    write_file(p, junk, 5);
    seg_path(p, 3 * 2 * per_seg, ".index");
    CHECK_EQ_INT(unlink(p), 0);
    struct log_recovery_report rep;
    log = open_log(&cfg, &rep);
    if (!log) return;
    /* After a clean close only the last segment is checked at open; the
     * damaged ones are repaired when first read. */
    CHECK_EQ_INT(rep.truncated_bytes, 0);
    CHECK_EQ_INT(rep.indexes_rebuilt, 0);
    CHECK_EQ_INT(plog_end_offset(log), 120);
    CHECK_EQ_INT(read_all(log, 0), 120);
    struct log_recovery_report total;
    plog_repairs(log, &total);
    CHECK_EQ_INT(total.truncated_bytes, 0);
    CHECK_EQ_INT(total.indexes_rebuilt, 6);
    seg_path(p, seg1, ".timeindex");
    CHECK(file_size(p) % 12 == 0 && file_size(p) > 0);
    seg_path(p, 0, ".index");
    CHECK(file_size(p) % 8 == 0 && file_size(p) > 0);
    int64_t off, ts;
    CHECK_EQ_INT(plog_offset_for_time(log, 1000 + 3 * 50 / 2, &off, &ts), 0);
    CHECK_EQ_INT(off, 75);
    plog_close(log);

    /* After a crash (no marker) sealed segments get every entry checked:
     * an index whose entries go backwards is rebuilt. */
    seg_path(p, 0, ".index");
    uint8_t back[16] = {0, 0, 0, 6, 0, 0, 0, 200, 0, 0, 0, 3, 0, 0, 0, 100};
    int fd = open(p, O_WRONLY);
    CHECK(fd >= 0);
    CHECK_EQ_INT(pwrite(fd, back, sizeof(back), 0), sizeof(back));
    close(fd);
    path_of(p, "clean-shutdown");
    unlink(p);
    log = open_log(&cfg, &rep);
    if (!log) return;
    CHECK_EQ_INT(rep.indexes_rebuilt, 4); /* the first segment's and the active one's */
    CHECK_EQ_INT(read_all(log, 0), 120);
    CHECK_EQ_INT(plog_remove(log), 0);
}

static void test_empty_trailing_segment_and_strays(void) {
    struct log_config cfg = base_cfg();
    build_crashed("empty", &cfg, 5);
    char p[PATH_BYTES];
    seg_path(p, 15, ".log");
    write_file(p, NULL, 0);
    seg_path(p, 15, ".index");
    write_file(p, NULL, 0);
    seg_path(p, 99, ".timeindex"); /* index without a log */
    write_file(p, "x", 1);
    path_of(p, "log-start-offset.tmp");
    write_file(p, "junk", 4);
    path_of(p, "00000000000000000000.log.deleted");
    write_file(p, "junk", 4);
    struct log_recovery_report rep;
    struct plog *log = open_log(&cfg, &rep);
    if (!log) return;
    CHECK_EQ_INT(rep.segments, 2);
    CHECK_EQ_INT(plog_segment_count(log), 1);
    CHECK(rep.stray_files_removed >= 4);
    CHECK_EQ_INT(plog_end_offset(log), 15);
    seg_path(p, 15, ".log");
    CHECK(!exists(p));
    seg_path(p, 99, ".timeindex");
    CHECK(!exists(p));
    CHECK_EQ_INT(read_all(log, 0), 15);
    CHECK_EQ_INT(append_one(log, 1, 5, 1), 15);
    CHECK_EQ_INT(plog_remove(log), 0);

    /* A sole segment with nothing valid stays, and its name keeps the
     * offsets going. */
    fresh_dir("sole");
    mkdir(pdir, 0755);
    seg_path(p, 500, ".log");
    write_file(p, "garbage that is not a batch at all, not even close......................", 70);
    log = open_log(&cfg, &rep);
    if (!log) return;
    CHECK_EQ_INT(rep.truncated_bytes, 70);
    CHECK_EQ_INT(plog_segment_count(log), 1);
    CHECK_EQ_INT(plog_end_offset(log), 500);
    CHECK_EQ_INT(plog_start_offset(log), 500);
    CHECK_EQ_INT(append_one(log, 2, 5, 1), 500);
    CHECK_EQ_INT(read_all(log, 500), 2);
    CHECK_EQ_INT(plog_remove(log), 0);
}

/* A real crash: a child appends and dies without closing. */
static void test_kill_child(void) {
    struct log_config cfg = base_cfg();
    cfg.segment_bytes = 4000;
    cfg.flush_interval_messages = 1;
    fresh_dir("killed");
    pid_t pid = fork();
    if (pid == 0) {
        struct plog *log = NULL;
        if (plog_open(pdir, &cfg, &log, NULL) != 0) _exit(2);
        for (int i = 0; i < 50; i++) {
            uint32_t len = make_batch_ts(batch_buf, 4, NULL, 100 * i, 20);
            if (plog_append(log, batch_buf, len, 1, 100 * i, NULL, NULL) != 0) _exit(3);
        }
        raise(SIGKILL);
        _exit(4);
    }
    int status;
    CHECK_EQ_INT(waitpid(pid, &status, 0), pid);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    struct log_recovery_report rep;
    struct plog *log = open_log(&cfg, &rep);
    if (!log) return;
    CHECK_EQ_INT(rep.truncated_bytes, 0);
    CHECK_EQ_INT(rep.indexes_rebuilt, 2);
    CHECK_EQ_INT(plog_end_offset(log), 200);
    CHECK_EQ_INT(read_all(log, 0), 200);
    CHECK_EQ_INT(plog_remove(log), 0);
}

static void test_retention(void) {
    struct log_config cfg = base_cfg();
    cfg.segment_bytes = 1000;
    fresh_dir("retention");
    struct plog *log = open_log(&cfg, NULL);
    if (!log) return;
    /* Timestamps grow by 1000 per batch. */
    for (int i = 0; i < 50; i++) append_one(log, 2, 1000 * (i + 1), 50);
    uint32_t segs = plog_segment_count(log);
    CHECK(segs >= 5);
    CHECK_EQ_INT(plog_enforce_retention(log, 1000000), 0);

    cfg.retention_ms = 30000;
    plog_set_config(log, &cfg);
    int deleted = plog_enforce_retention(log, 60000);
    CHECK(deleted > 0);
    int64_t start = plog_start_offset(log);
    CHECK(start > 0);
    /* Every batch left older than now - retention is gone, bar the active segment. */
    struct log_slice sl;
    CHECK_EQ_INT(plog_read(log, start - 1, 100, 100, true, &sl), -ERANGE);
    CHECK_EQ_INT(plog_read(log, start, 100, 100, true, &sl), 0);
    CHECK(sl.len > 0);
    close(sl.fd);
    CHECK_EQ_INT(read_all(log, start), 100 - start);
    int64_t off, ts;
    CHECK_EQ_INT(plog_offset_for_time(log, 0, &off, &ts), 0);
    CHECK_EQ_INT(off, start);

    cfg.retention_ms = LOG_UNLIMITED;
    cfg.retention_bytes = 2500;
    plog_set_config(log, &cfg);
    deleted = plog_enforce_retention(log, 60000);
    CHECK(deleted > 0);
    CHECK(plog_size_bytes(log) >= 2500 - 1000);
    CHECK(plog_size_bytes(log) < 2500 + 1000);
    CHECK(plog_start_offset(log) > start);
    CHECK_EQ_INT(read_all(log, plog_start_offset(log)), 100 - plog_start_offset(log));

    /* Nothing deletes the active segment. */
    cfg.retention_bytes = 0;
    cfg.retention_ms = 0;
    plog_set_config(log, &cfg);
    plog_enforce_retention(log, INT64_MAX / 2);
    CHECK_EQ_INT(plog_segment_count(log), 1);
    CHECK_EQ_INT(plog_end_offset(log), 100);
    plog_close(log);
    log = open_log(&cfg, NULL);
    if (!log) return;
    CHECK_EQ_INT(plog_segment_count(log), 1);
    CHECK(plog_start_offset(log) > 0);
    CHECK_EQ_INT(plog_end_offset(log), 100);
    CHECK_EQ_INT(plog_remove(log), 0);
}

static void test_advance_start(void) {
    struct log_config cfg = base_cfg();
    cfg.segment_bytes = 1000;
    fresh_dir("advance");
    struct plog *log = open_log(&cfg, NULL);
    if (!log) return;
    for (int i = 0; i < 30; i++) append_one(log, 2, 1000 + i, 50);
    uint32_t segs = plog_segment_count(log);
    CHECK_EQ_INT(plog_advance_start(log, 61), -ERANGE);
    CHECK_EQ_INT(plog_advance_start(log, 25), 0);
    CHECK_EQ_INT(plog_start_offset(log), 25);
    CHECK(plog_segment_count(log) < segs);
    struct log_slice sl;
    CHECK_EQ_INT(plog_read(log, 24, 60, 100, true, &sl), -ERANGE);
    CHECK_EQ_INT(plog_read(log, 25, 60, 1 << 20, true, &sl), 0);
    CHECK(sl.len > 0);
    close(sl.fd);
    CHECK_EQ_INT(plog_advance_start(log, 10), 0); /* never moves back */
    CHECK_EQ_INT(plog_start_offset(log), 25);
    int64_t off, ts;
    CHECK_EQ_INT(plog_offset_for_time(log, 1000, &off, &ts), 0);
    CHECK_EQ_INT(off, 25);
    plog_close(log);
    char p[PATH_BYTES];
    path_of(p, "log-start-offset");
    CHECK(exists(p));
    log = open_log(&cfg, NULL);
    if (!log) return;
    CHECK_EQ_INT(plog_start_offset(log), 25);
    CHECK_EQ_INT(plog_read(log, 24, 60, 100, true, &sl), -ERANGE);
    CHECK_EQ_INT(plog_advance_start(log, 60), 0);
    CHECK_EQ_INT(plog_segment_count(log), 1);
    CHECK_EQ_INT(plog_read(log, 60, 60, 100, true, &sl), 0);
    CHECK_EQ_INT(sl.len, 0);
    plog_close(log);
    /* A garbled start file is ignored, not fatal. */
    write_file(p, "banana", 6);
    log = open_log(&cfg, NULL);
    if (!log) return;
    CHECK(plog_start_offset(log) > 0 && plog_start_offset(log) <= 60);
    CHECK_EQ_INT(plog_end_offset(log), 60);
    CHECK_EQ_INT(plog_remove(log), 0);
}

static void test_offset_for_time(void) {
    struct log_config cfg = base_cfg();
    cfg.segment_bytes = 800;
    cfg.index_interval_bytes = 0;
    fresh_dir("time");
    struct plog *log = open_log(&cfg, NULL);
    if (!log) return;
    /* Batch i (offsets 4i..4i+3) holds timestamps 100i + {5, 1, 9, 3}:
     * out of order inside a batch, increasing from batch to batch. */
    for (int i = 0; i < 20; i++) {
        int64_t ts[4] = {100 * i + 5, 100 * i + 1, 100 * i + 9, 100 * i + 3};
        uint32_t len = make_batch_ts(batch_buf, 4, ts, 0, 20);
        CHECK_EQ_INT(plog_append(log, batch_buf, len, 1, 0, NULL, NULL), 0);
    }
    CHECK(plog_segment_count(log) > 2);
    int64_t off, ts;
    CHECK_EQ_INT(plog_offset_for_time(log, 0, &off, &ts), 0);
    CHECK_EQ_INT(off, 0);
    CHECK_EQ_INT(ts, 5);
    CHECK_EQ_INT(plog_offset_for_time(log, 706, &off, &ts), 0);
    CHECK_EQ_INT(off, 30);
    CHECK_EQ_INT(ts, 709);
    CHECK_EQ_INT(plog_offset_for_time(log, 709, &off, &ts), 0);
    CHECK_EQ_INT(off, 30);
    CHECK_EQ_INT(plog_offset_for_time(log, 710, &off, &ts), 0);
    CHECK_EQ_INT(off, 32); /* batch 8's first record, ts 805 */
    CHECK_EQ_INT(ts, 805);
    CHECK_EQ_INT(plog_offset_for_time(log, 1909, &off, &ts), 0);
    CHECK_EQ_INT(off, 78);
    CHECK_EQ_INT(plog_offset_for_time(log, 1910, &off, &ts), 0);
    CHECK_EQ_INT(off, -1);
    CHECK_EQ_INT(ts, -1);
    plog_max_timestamp(log, &ts, &off);
    CHECK_EQ_INT(ts, 1909);
    CHECK_EQ_INT(off, 78);
    plog_close(log);
    log = open_log(&cfg, NULL);
    if (!log) return;
    plog_max_timestamp(log, &ts, &off);
    CHECK_EQ_INT(ts, 1909);
    CHECK_EQ_INT(off, 78);
    CHECK_EQ_INT(plog_offset_for_time(log, 1402, &off, &ts), 0);
    CHECK_EQ_INT(off, 56);
    crash_close(log);
    log = open_log(&cfg, NULL);
    if (!log) return;
    plog_max_timestamp(log, &ts, &off);
    CHECK_EQ_INT(ts, 1909);
    CHECK_EQ_INT(off, 78);
    CHECK_EQ_INT(plog_offset_for_time(log, 1402, &off, &ts), 0);
    CHECK_EQ_INT(off, 56);
    CHECK_EQ_INT(plog_remove(log), 0);
}

static void test_write_failure_fsize(void) {
    struct log_config cfg = base_cfg();
    fresh_dir("efbig");
    struct plog *log = open_log(&cfg, NULL);
    if (!log) return;
    for (int i = 0; i < 5; i++) append_one(log, 3, 1000 + i, 100);
    char p[PATH_BYTES];
    seg_path(p, 0, ".log");
    int size_before = file_size(p);

    struct rlimit old;
    getrlimit(RLIMIT_FSIZE, &old);
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = old;
    lim.rlim_cur = (rlim_t)size_before + 200;
    CHECK_EQ_INT(setrlimit(RLIMIT_FSIZE, &lim), 0);
    uint32_t len = make_batch_ts(batch_buf, 10, NULL, 2000, 100);
    CHECK(len > 200);
    int rc = plog_append(log, batch_buf, len, 1, 2000, NULL, NULL);
    CHECK_EQ_INT(rc, -EFBIG);
    CHECK_EQ_INT(file_size(p), size_before);
    CHECK_EQ_INT(plog_end_offset(log), 15);
    CHECK_EQ_INT(read_all(log, 0), 15);
    CHECK_EQ_INT(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, old_handler);

    len = make_batch_ts(batch_buf, 10, NULL, 2000, 100);
    CHECK_EQ_INT(plog_append(log, batch_buf, len, 1, 2000, NULL, NULL), 0);
    CHECK_EQ_INT(plog_end_offset(log), 25);
    crash_close(log);
    struct log_recovery_report rep;
    log = open_log(&cfg, &rep);
    if (!log) return;
    CHECK_EQ_INT(rep.truncated_bytes, 0);
    CHECK_EQ_INT(read_all(log, 0), 25);
    CHECK_EQ_INT(plog_remove(log), 0);
}

static void test_injected_faults(void) {
    struct log_config cfg = base_cfg();
    cfg.index_interval_bytes = 0; /* every batch writes index entries */
    fresh_dir("faults");
    struct plog *log = open_log(&cfg, NULL);
    if (!log) return;
    for (int i = 0; i < 3; i++) append_one(log, 2, 1000 + i, 10);
    char p[PATH_BYTES], pi[PATH_BYTES];
    seg_path(p, 0, ".log");
    seg_path(pi, 0, ".index");
    int log_size = file_size(p), idx_size = file_size(pi);

    /* The log write succeeds, the index write fails: both are cut back. */
    fio_fault_inject(FIO_FAULT_WRITE, 1, EIO);
    uint32_t len = make_batch_ts(batch_buf, 2, NULL, 2000, 10);
    CHECK_EQ_INT(plog_append(log, batch_buf, len, 1, 2000, NULL, NULL), -EIO);
    CHECK_EQ_INT(file_size(p), log_size);
    CHECK_EQ_INT(file_size(pi), idx_size);
    CHECK_EQ_INT(plog_end_offset(log), 6);
    /* The log write itself fails half way. */
    fio_fault_inject(FIO_FAULT_WRITE, 0, ENOSPC);
    len = make_batch_ts(batch_buf, 2, NULL, 2000, 10);
    CHECK_EQ_INT(plog_append(log, batch_buf, len, 1, 2000, NULL, NULL), -ENOSPC);
    CHECK_EQ_INT(file_size(p), log_size);
    /* Not poisoned: appends resume. */
    CHECK_EQ_INT(append_one(log, 2, 3000, 10), 6);
    CHECK_EQ_INT(read_all(log, 0), 8);

    /* A failed fdatasync poisons the log until it is reopened. */
    cfg.flush_interval_messages = 1;
    plog_set_config(log, &cfg);
    fio_fault_inject(FIO_FAULT_SYNC, 0, EIO);
    len = make_batch_ts(batch_buf, 2, NULL, 4000, 10);
    CHECK_EQ_INT(plog_append(log, batch_buf, len, 1, 4000, NULL, NULL), -EIO);
    CHECK_EQ_INT(plog_end_offset(log), 8);
    len = make_batch_ts(batch_buf, 2, NULL, 4000, 10);
    CHECK_EQ_INT(plog_append(log, batch_buf, len, 1, 4000, NULL, NULL), -EIO);
    CHECK_EQ_INT(plog_flush(log), -EIO);
    CHECK_EQ_INT(plog_tick(log, 99999), 0); /* already reported; housekeeping stays quiet */
    CHECK_EQ_INT(read_all(log, 0), 8);
    plog_close(log);
    path_of(p, "clean-shutdown");
    CHECK(!exists(p));
    struct log_recovery_report rep;
    log = open_log(&cfg, &rep);
    if (!log) return;
    CHECK_EQ_INT(rep.truncated_bytes, 0);
    CHECK_EQ_INT(plog_end_offset(log), 8);
    CHECK_EQ_INT(append_one(log, 2, 5000, 10), 8);
    CHECK_EQ_INT(plog_remove(log), 0);
}

struct scan_ctx {
    int batches;
    int64_t first;
    int stop_after;
};

static int scan_fn(void *ctx, const uint8_t *batch, uint32_t len) {
    struct scan_ctx *c = ctx;
    CHECK_EQ_INT(rb_validate(batch, len, NULL), RB_OK);
    struct rb_header h;
    rb_parse_header(batch, len, &h);
    if (c->first < 0) c->first = h.base_offset;
    c->batches++;
    return c->stop_after && c->batches == c->stop_after ? 42 : 0;
}

static void test_scan(void) {
    struct log_config cfg = base_cfg();
    cfg.segment_bytes = 700;
    fresh_dir("scan");
    struct plog *log = open_log(&cfg, NULL);
    if (!log) return;
    for (int i = 0; i < 20; i++) append_one(log, 5, 1000 + i, 20);
    struct scan_ctx c = {0, -1, 0};
    CHECK_EQ_INT(plog_scan(log, 52, scan_fn, &c), 0);
    CHECK_EQ_INT(c.batches, 10);
    CHECK_EQ_INT(c.first, 50);
    c = (struct scan_ctx){0, -1, 3};
    CHECK_EQ_INT(plog_scan(log, 0, scan_fn, &c), 42);
    CHECK_EQ_INT(c.batches, 3);
    CHECK_EQ_INT(plog_remove(log), 0);
}

static void test_time_roll_and_flush_ms(void) {
    struct log_config cfg = base_cfg();
    cfg.segment_ms = 1000;
    cfg.flush_interval_ms = 500;
    fresh_dir("tick");
    struct plog *log = open_log(&cfg, NULL);
    if (!log) return;
    uint32_t len = make_batch_ts(batch_buf, 1, NULL, 1, 10);
    CHECK_EQ_INT(plog_append(log, batch_buf, len, 1, 10000, NULL, NULL), 0);
    CHECK_EQ_INT(plog_tick(log, 10400), 0);
    CHECK_EQ_INT(plog_tick(log, 10600), 0); /* flushes */
    CHECK_EQ_INT(plog_segment_count(log), 1);
    CHECK_EQ_INT(plog_tick(log, 11001), 0);
    CHECK_EQ_INT(plog_segment_count(log), 2);
    CHECK_EQ_INT(plog_tick(log, 50000), 0); /* empty active: no roll */
    CHECK_EQ_INT(plog_segment_count(log), 2);
    len = make_batch_ts(batch_buf, 1, NULL, 1, 10);
    CHECK_EQ_INT(plog_append(log, batch_buf, len, 1, 60000, NULL, NULL), 0);
    len = make_batch_ts(batch_buf, 1, NULL, 1, 10);
    CHECK_EQ_INT(plog_append(log, batch_buf, len, 1, 61001, NULL, NULL), 0); /* rolls first */
    CHECK_EQ_INT(plog_segment_count(log), 3);
    CHECK_EQ_INT(plog_flush(log), 0);
    CHECK_EQ_INT(read_all(log, 0), 3);
    CHECK_EQ_INT(plog_remove(log), 0);
}

/* ---------------------------------------------------------------- */
/* leader-epoch cache */

static void read_text(const char *file, char *out, size_t cap) {
    char p[PATH_BYTES];
    path_of(p, file);
    out[0] = '\0';
    int fd = open(p, O_RDONLY);
    CHECK(fd >= 0);
    if (fd < 0) return;
    ssize_t n = read(fd, out, cap - 1);
    close(fd);
    out[n > 0 ? n : 0] = '\0';
}

static void check_end(struct plog *log, int32_t req, int32_t epoch, int64_t end) {
    int32_t e = -7;
    int64_t o = -7;
    CHECK_EQ_INT(plog_epoch_end_offset(log, req, &e, &o), 0);
    CHECK_EQ_INT(e, epoch);
    CHECK_EQ_INT(o, end);
}

static int32_t epoch_of_batch_at(struct plog *log, int64_t offset) {
    struct log_slice sl;
    if (plog_read(log, offset, plog_end_offset(log), 1 << 20, true, &sl) != 0 || sl.len < RB_HEADER_BYTES) return -9;
    uint8_t hdr[RB_HEADER_BYTES];
    ssize_t n = pread(sl.fd, hdr, sizeof(hdr), sl.file_pos);
    close(sl.fd);
    if (n != (ssize_t)sizeof(hdr)) return -9;
    struct rb_header h;
    rb_parse_header(hdr, sizeof(hdr), &h);
    return h.leader_epoch;
}

static void test_epoch_cache(void) {
    fresh_dir("epochs");
    struct log_config cfg = base_cfg();
    cfg.segment_bytes = 1000;
    struct plog *log = open_log(&cfg, NULL);
    if (!log) return;
    char text[256];
    char p[PATH_BYTES];
    path_of(p, "leader-epoch-checkpoint");
    CHECK(!exists(p));
    /* A brand-new log: the current epoch (0) starts at the end. */
    check_end(log, 0, 0, 0);
    check_end(log, 1, -1, -1);
    for (int i = 0; i < 5; i++) append_one(log, 2, 1000 + i, 50); /* epoch 0: offsets 0..9 */
    read_text("leader-epoch-checkpoint", text, sizeof(text));
    CHECK(strcmp(text, "0\n1\n0 0\n") == 0);
    plog_set_leader_epoch(log, 3);
    check_end(log, 3, 3, 10); /* no append under 3 yet: it starts at the end */
    check_end(log, 2, 0, 10);
    check_end(log, 0, 0, 10);
    for (int i = 0; i < 5; i++) append_one(log, 2, 2000 + i, 50); /* epoch 3: 10..19 */
    read_text("leader-epoch-checkpoint", text, sizeof(text));
    CHECK(strcmp(text, "0\n2\n0 0\n3 10\n") == 0);
    CHECK_EQ_INT(epoch_of_batch_at(log, 9), 0);
    CHECK_EQ_INT(epoch_of_batch_at(log, 10), 3);
    CHECK_EQ_INT(epoch_of_batch_at(log, 19), 3);
    check_end(log, 0, 0, 10);
    check_end(log, 1, 0, 10);
    check_end(log, 2, 0, 10);
    check_end(log, 3, 3, 20);
    check_end(log, 4, -1, -1);
    check_end(log, -1, -1, -1);
    /* A lower epoch is stamped but recorded nowhere (epochs only grow). */
    plog_set_leader_epoch(log, 2);
    append_one(log, 2, 3000, 50); /* 20..21 */
    CHECK_EQ_INT(epoch_of_batch_at(log, 20), 2);
    read_text("leader-epoch-checkpoint", text, sizeof(text));
    CHECK(strcmp(text, "0\n2\n0 0\n3 10\n") == 0);
    check_end(log, 3, 3, 22);
    plog_set_leader_epoch(log, 7);
    for (int i = 0; i < 4; i++) append_one(log, 2, 4000 + i, 50); /* epoch 7: 22..29 */
    check_end(log, 5, 3, 22);
    check_end(log, 7, 7, 30);
    uint32_t segs = plog_segment_count(log);
    CHECK(segs >= 3);
    plog_close(log);

    /* Persisted: a clean reopen answers the same (the current epoch is
     * 0 again until the broker sets it, and counts for nothing below 7). */
    log = open_log(&cfg, NULL);
    if (!log) return;
    check_end(log, 2, 0, 10);
    check_end(log, 5, 3, 22);
    check_end(log, 7, 7, 30);
    check_end(log, 8, -1, -1);

    /* DeleteRecords: epochs wholly below the start go; the latest of them
     * is moved up to the start. Below the first entry Kafka answers with
     * the requested epoch and the first start. */
    CHECK_EQ_INT(plog_advance_start(log, 15), 0);
    read_text("leader-epoch-checkpoint", text, sizeof(text));
    CHECK(strcmp(text, "0\n2\n3 15\n7 22\n") == 0);
    check_end(log, 0, 0, 15);
    check_end(log, 3, 3, 22);
    /* Retention does the same when it moves the start. */
    plog_set_leader_epoch(log, 7);
    for (int i = 0; i < 12; i++) append_one(log, 2, 5000 + i, 50); /* still epoch 7: 30..53 */
    cfg.retention_bytes = 0;
    plog_set_config(log, &cfg);
    CHECK(plog_enforce_retention(log, 10000) > 0);
    int64_t start = plog_start_offset(log);
    CHECK(start > 22);
    char want[64];
    snprintf(want, sizeof(want), "0\n1\n7 %lld\n", (long long)start);
    read_text("leader-epoch-checkpoint", text, sizeof(text));
    CHECK(strcmp(text, want) == 0);
    check_end(log, 3, 3, start);
    check_end(log, 7, 7, 54);
    CHECK_EQ_INT(plog_remove(log), 0);
}

static void test_epoch_recovery(void) {
    fresh_dir("epoch-recovery");
    struct log_config cfg = base_cfg();
    struct plog *log = open_log(&cfg, NULL);
    if (!log) return;
    uint32_t batch = make_batch_ts(batch_buf, 3, NULL, 0, 30);
    for (int i = 0; i < 4; i++) append_one(log, 3, 1000 + i, 30); /* epoch 0: 0..11 */
    plog_set_leader_epoch(log, 4);
    for (int i = 0; i < 2; i++) append_one(log, 3, 2000 + i, 30); /* epoch 4: 12..17 */
    plog_set_leader_epoch(log, 6);
    append_one(log, 3, 3000, 30); /* epoch 6: 18..20 */
    crash_close(log);
    char text[256], p[PATH_BYTES];
    read_text("leader-epoch-checkpoint", text, sizeof(text));
    CHECK(strcmp(text, "0\n3\n0 0\n4 12\n6 18\n") == 0);

    /* The crash tore the last batch: epoch 6 has no data left, so its
     * entry goes, and the file is rewritten. */
    seg_path(p, 0, ".log");
    CHECK_EQ_INT(truncate(p, 6 * batch + batch / 2), 0);
    struct log_recovery_report rep;
    log = open_log(&cfg, &rep);
    if (!log) return;
    CHECK_EQ_INT(rep.truncated_bytes, batch / 2);
    CHECK_EQ_INT(plog_end_offset(log), 18);
    read_text("leader-epoch-checkpoint", text, sizeof(text));
    CHECK(strcmp(text, "0\n2\n0 0\n4 12\n") == 0);
    check_end(log, 4, 4, 18);
    crash_close(log);

    /* A lost checkpoint is rebuilt from the batches recovery walks. */
    path_of(p, "leader-epoch-checkpoint");
    CHECK_EQ_INT(unlink(p), 0);
    log = open_log(&cfg, NULL);
    if (!log) return;
    read_text("leader-epoch-checkpoint", text, sizeof(text));
    CHECK(strcmp(text, "0\n2\n0 0\n4 12\n") == 0);
    plog_close(log);

    /* A damaged checkpoint is ignored, never trusted: the cache is empty. */
    write_file(p, "0\n2\n4 12\n0 0\n", 13); /* epochs going backwards */
    log = open_log(&cfg, NULL);
    if (!log) return;
    check_end(log, 4, -1, -1);
    plog_close(log);
    write_file(p, "0\n3\n0 0\n4 12\n", 13); /* count says 3 */
    log = open_log(&cfg, NULL);
    if (!log) return;
    check_end(log, 4, -1, -1);
    plog_close(log);
    write_file(p, "0\n2\n0 0\n4  12\n", 14); /* Kafka's reader accepts any run of spaces */
    log = open_log(&cfg, NULL);
    if (!log) return;
    check_end(log, 0, 0, 12);
    check_end(log, 4, 4, 18);

    /* The checkpoint is written before the batch: if that write fails,
     * the append fails with it and nothing changes. */
    plog_set_leader_epoch(log, 9);
    fio_fault_inject(FIO_FAULT_WRITE, 0, EIO);
    uint32_t len = make_batch_ts(batch_buf, 3, NULL, 5000, 30);
    CHECK_EQ_INT(plog_append(log, batch_buf, len, 1, 5000, NULL, NULL), -EIO);
    CHECK_EQ_INT(plog_end_offset(log), 18);
    read_text("leader-epoch-checkpoint", text, sizeof(text));
    CHECK(strcmp(text, "0\n2\n0 0\n4  12\n") == 0);
    CHECK_EQ_INT(append_one(log, 3, 5000, 30), 18);
    read_text("leader-epoch-checkpoint", text, sizeof(text));
    CHECK(strcmp(text, "0\n3\n0 0\n4 12\n9 18\n") == 0);
    check_end(log, 9, 9, 21);
    check_end(log, 5, 4, 18);
    CHECK_EQ_INT(plog_remove(log), 0);
}

/* ---------------------------------------------------------------- */
/* descriptor cache and lazy segments */

static int count_open_fds(void) {
    int n = 0;
    char p[64];
    for (int fd = 0; fd < 4096; fd++) {
        snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
        if (access(p, F_OK) == 0) n++;
    }
    return n;
}

static void test_lazy_segments(void) {
    fresh_dir("lazy");
    struct log_config cfg = base_cfg();
    cfg.segment_bytes = 1000;
    struct plog *log = open_log(&cfg, NULL);
    if (!log) return;
    for (int i = 0; i < 40; i++) append_one(log, 2, 1000 + i, 50);
    uint32_t segs = plog_segment_count(log);
    CHECK(segs >= 8);
    uint64_t size = plog_size_bytes(log);
    plog_close(log);

    struct log_open_files before, after;
    plog_open_files(&before);
    int fds_before = count_open_fds();
    struct log_recovery_report rep;
    log = open_log(&cfg, &rep);
    if (!log) return;
    plog_open_files(&after);
    /* Only the last segment's three files were opened, and nothing else
     * (not even the directory) stays open. */
    CHECK_EQ_INT(after.opens - before.opens, 3);
    CHECK(count_open_fds() <= fds_before + 3);
    CHECK_EQ_INT(plog_segment_count(log), segs);
    CHECK_EQ_INT(plog_size_bytes(log), size);
    CHECK_EQ_INT(plog_end_offset(log), 80);
    /* A read in the first segment opens it on demand. */
    struct log_slice sl;
    CHECK_EQ_INT(plog_read(log, 1, 80, 1 << 20, true, &sl), 0);
    CHECK(sl.len > 0);
    close(sl.fd);
    CHECK_EQ_INT(read_all(log, 0), 80);
    int64_t ts, off;
    plog_max_timestamp(log, &ts, &off);
    CHECK_EQ_INT(ts, 1000 + 39 + 1);
    CHECK_EQ_INT(off, 79);
    CHECK_EQ_INT(plog_offset_for_time(log, 1005, &off, &ts), 0);
    CHECK_EQ_INT(off, 9); /* batch 4 holds 1004 @ 8, 1005 @ 9 */
    /* Opened and closed without a write: no fsync, the marker stays. */
    plog_close(log);
    char p[PATH_BYTES];
    path_of(p, "clean-shutdown");
    CHECK(exists(p));
    log = open_log(&cfg, NULL);
    if (!log) return;
    CHECK_EQ_INT(read_all(log, 0), 80);

    /* A roll right before a clean close leaves an empty last segment,
     * which the next open removes: the segment before it, otherwise left
     * unchecked, becomes the active one and takes appends correctly. */
    cfg.segment_ms = 1000;
    plog_set_config(log, &cfg);
    CHECK_EQ_INT(plog_tick(log, INT64_MAX / 4), 0);
    CHECK_EQ_INT(plog_segment_count(log), segs + 1);
    plog_close(log);
    log = open_log(&cfg, &rep);
    if (!log) return;
    CHECK_EQ_INT(plog_segment_count(log), segs);
    CHECK_EQ_INT(plog_end_offset(log), 80);
    for (int i = 0; i < 3; i++) CHECK_EQ_INT(append_one(log, 2, 3000 + i, 50), 80 + 2 * i);
    CHECK_EQ_INT(read_all(log, 0), 86);
    plog_close(log);
    log = open_log(&cfg, &rep);
    if (!log) return;
    CHECK_EQ_INT(rep.indexes_rebuilt, 0);
    CHECK_EQ_INT(read_all(log, 0), 86);
    CHECK_EQ_INT(plog_remove(log), 0);
}

static void test_descriptor_cap(void) {
    struct log_config cfg = base_cfg();
    cfg.segment_bytes = 600;
    enum { LOGS = 4 };
    struct plog *logs[LOGS] = {0};
    char dirs[LOGS][PATH_BYTES / 2];
    uint32_t cap = plog_set_open_files_max(LOG_OPEN_FILES_MAX_MIN);
    CHECK_EQ_INT(cap, LOG_OPEN_FILES_MAX_MIN);
    int fds_base = count_open_fds();
    for (int l = 0; l < LOGS; l++) {
        char name[32];
        snprintf(name, sizeof(name), "cap-%d", l);
        fresh_dir(name);
        snprintf(dirs[l], sizeof(dirs[l]), "%s", pdir);
        logs[l] = open_log(&cfg, NULL);
        if (!logs[l]) return;
    }
    /* Interleaved appends across many segments of several logs. */
    for (int i = 0; i < 30; i++)
        for (int l = 0; l < LOGS; l++) CHECK_EQ_INT(append_one(logs[l], 2, 1000 + i, 40), 2 * i);
    struct log_open_files st;
    plog_open_files(&st);
    CHECK(plog_segment_count(logs[0]) >= 8);
    CHECK(st.open <= cap);
    CHECK_EQ_INT(st.over_cap, 0);
    CHECK(st.evictions > 0);
    CHECK(count_open_fds() <= fds_base + (int)cap);
    /* Unsynced appends pin each active .log. */
    CHECK_EQ_INT(st.pinned, LOGS);
    for (int l = 0; l < LOGS; l++) {
        fresh_dir("x");
        snprintf(pdir, sizeof(pdir), "%s", dirs[l]);
        CHECK_EQ_INT(read_all(logs[l], 0), 60);
    }
    plog_open_files(&st);
    CHECK(st.open <= cap);
    /* A slice handed out stays readable after its segment's descriptor
     * was closed by the cache. */
    struct log_slice sl;
    CHECK_EQ_INT(plog_read(logs[0], 0, 60, 1 << 20, true, &sl), 0);
    for (int l = 1; l < LOGS; l++) read_all(logs[l], 0);
    uint8_t hdr[RB_HEADER_BYTES];
    CHECK_EQ_INT(pread(sl.fd, hdr, sizeof(hdr), sl.file_pos), sizeof(hdr));
    close(sl.fd);
    /* Pins over half the cap: the periodic tick flushes to release them. */
    plog_set_open_files_max(2 * LOGS);
    plog_open_files(&st);
    CHECK_EQ_INT(st.max, LOG_OPEN_FILES_MAX_MIN); /* the floor */
    for (int l = 0; l < LOGS; l++) CHECK_EQ_INT(plog_tick(logs[l], 2000), 0);
    plog_open_files(&st);
    CHECK_EQ_INT(st.pinned, LOGS); /* 4 < 16 / 2: no pressure, nothing flushed */
    enum { MORE = 5 };
    struct plog *more[MORE] = {0};
    for (int m = 0; m < MORE; m++) {
        char name[32];
        snprintf(name, sizeof(name), "cap-more-%d", m);
        fresh_dir(name);
        more[m] = open_log(&cfg, NULL);
        if (more[m]) append_one(more[m], 1, 5, 10);
    }
    plog_open_files(&st);
    CHECK_EQ_INT(st.pinned, LOGS + MORE);
    for (int l = 0; l < LOGS; l++) CHECK_EQ_INT(plog_tick(logs[l], 2000), 0);
    plog_open_files(&st);
    /* Flushing stops as soon as the pins no longer fill half the cap. */
    CHECK_EQ_INT(st.pinned, st.max / 2 - 1);
    for (int m = 0; m < MORE; m++)
        if (more[m]) CHECK_EQ_INT(plog_remove(more[m]), 0);
    /* Clean close and a crash reopen under the same tiny cap. */
    for (int l = 0; l < LOGS; l++) {
        plog_close(logs[l]);
        snprintf(pdir, sizeof(pdir), "%s", dirs[l]);
        if (l % 2) {
            char p[PATH_BYTES];
            path_of(p, "clean-shutdown");
            CHECK_EQ_INT(unlink(p), 0);
        }
        logs[l] = open_log(&cfg, NULL);
        if (!logs[l]) return;
    }
    for (int l = 0; l < LOGS; l++) {
        snprintf(pdir, sizeof(pdir), "%s", dirs[l]);
        CHECK_EQ_INT(read_all(logs[l], 0), 60);
        CHECK_EQ_INT(append_one(logs[l], 2, 9000, 40), 60);
    }
    plog_open_files(&st);
    CHECK(st.open <= cap);
    CHECK_EQ_INT(st.over_cap, 0);
    for (int l = 0; l < LOGS; l++) CHECK_EQ_INT(plog_remove(logs[l]), 0);
    plog_open_files(&st);
    CHECK_EQ_INT(st.open, 0);
    CHECK_EQ_INT(st.pinned, 0);
    CHECK_EQ_INT(count_open_fds(), fds_base);
    plog_set_open_files_max(LOG_OPEN_FILES_MAX_DEFAULT);
}

/* Random operations on several logs under the smallest descriptor cap,
 * checked against a model of each log's start and end offsets. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rng(uint32_t n) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

static void test_random_ops_small_cap(void) {
    enum { LOGS = 6, OPS = 1500 };
    struct log_config cfg = base_cfg();
    cfg.segment_bytes = 700;
    cfg.index_interval_bytes = 128;
    struct plog *logs[LOGS];
    char dirs[LOGS][PATH_BYTES / 2];
    int64_t end[LOGS], start[LOGS];
    plog_set_open_files_max(LOG_OPEN_FILES_MAX_MIN);
    int fds_base = count_open_fds();
    for (int l = 0; l < LOGS; l++) {
        char name[32];
        snprintf(name, sizeof(name), "random-%d", l);
        fresh_dir(name);
        snprintf(dirs[l], sizeof(dirs[l]), "%s", pdir);
        logs[l] = open_log(&cfg, NULL);
        if (!logs[l]) return;
        end[l] = start[l] = 0;
    }
    int64_t now = 1000;
    for (int op = 0; op < OPS; op++) {
        int l = (int)rng(LOGS);
        snprintf(pdir, sizeof(pdir), "%s", dirs[l]);
        now += rng(50);
        uint32_t what = rng(100);
        if (what < 50) {
            int32_t n = 1 + (int32_t)rng(4);
            if (rng(10) == 0) plog_set_leader_epoch(logs[l], (int32_t)(op / 100));
            CHECK_EQ_INT(append_one(logs[l], n, now, 10 + (int32_t)rng(60)), end[l]);
            end[l] += n;
        } else if (what < 75) {
            int64_t from = start[l] + (end[l] > start[l] ? rng((uint32_t)(end[l] - start[l])) : 0);
            read_all(logs[l], from);
        } else if (what < 82) {
            int64_t off, ts;
            CHECK_EQ_INT(plog_offset_for_time(logs[l], now - rng(500), &off, &ts), 0);
            CHECK(off == -1 || (off >= start[l] && off < end[l]));
        } else if (what < 88) {
            bool crash = rng(2);
            if (crash) crash_close(logs[l]);
            else plog_close(logs[l]);
            logs[l] = open_log(&cfg, NULL);
            if (!logs[l]) return;
            CHECK_EQ_INT(plog_end_offset(logs[l]), end[l]);
            CHECK_EQ_INT(plog_start_offset(logs[l]), start[l]);
        } else if (what < 92) {
            if (end[l] > start[l]) {
                int64_t to = start[l] + rng((uint32_t)(end[l] - start[l]) + 1);
                CHECK_EQ_INT(plog_advance_start(logs[l], to), 0);
                if (to > start[l]) start[l] = to;
            }
        } else if (what < 96) {
            cfg.retention_bytes = 1500;
            plog_set_config(logs[l], &cfg);
            CHECK(plog_enforce_retention(logs[l], now) >= 0);
            start[l] = plog_start_offset(logs[l]);
            cfg.retention_bytes = LOG_UNLIMITED;
            plog_set_config(logs[l], &cfg);
        } else {
            CHECK_EQ_INT(plog_tick(logs[l], now), 0);
        }
        CHECK_EQ_INT(plog_end_offset(logs[l]), end[l]);
        int32_t e;
        int64_t eo;
        plog_epoch_end_offset(logs[l], 0, &e, &eo);
        CHECK(eo <= end[l]);
    }
    struct log_open_files st;
    plog_open_files(&st);
    CHECK(st.open <= st.max);
    CHECK_EQ_INT(st.over_cap, 0);
    CHECK(st.evictions > 1000); /* the cap was exercised, not just respected */
    for (int l = 0; l < LOGS; l++) {
        snprintf(pdir, sizeof(pdir), "%s", dirs[l]);
        CHECK(read_all(logs[l], start[l]) >= end[l] - start[l]); /* read_all checks it reaches the end */
        CHECK_EQ_INT(plog_remove(logs[l]), 0);
    }
    CHECK_EQ_INT(count_open_fds(), fds_base);
    plog_set_open_files_max(LOG_OPEN_FILES_MAX_DEFAULT);
}

/* Shutdown's bulk close: seal with syncs deferred, one syncfs, markers. A
 * log whose sync "failed" is closed without a marker and gets the crash
 * check at the next open; one never written keeps its old marker. */
static void test_bulk_close(void) {
    struct log_config cfg = base_cfg();
    cfg.segment_bytes = 3000;
    char marker[PATH_BYTES];
    fresh_dir("bulk-a");
    struct plog *a = open_log(&cfg, NULL);
    if (!a) return;
    for (int i = 0; i < 30; i++) append_one(a, 2, 1000 + i * 2, 40);
    char dir_a[sizeof(pdir)];
    snprintf(dir_a, sizeof(dir_a), "%s", pdir);
    fresh_dir("bulk-b");
    struct plog *b = open_log(&cfg, NULL);
    if (!b) return;
    append_one(b, 3, 1000, 40);

    int rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(rootfd >= 0);
    fio_defer_syncs(true);
    CHECK_EQ_INT(plog_close_prepare(a), 0);
    CHECK_EQ_INT(plog_close_prepare(b), 0);
    CHECK_EQ_INT(plog_close_prepare(a), 0); /* twice is harmless */
    fio_defer_syncs(false);
    CHECK_EQ_INT(fio_syncfs(rootfd), 0);
    fio_defer_syncs(true);
    plog_close(a);
    plog_close_unclean(b);
    fio_defer_syncs(false);
    CHECK_EQ_INT(fio_syncfs(rootfd), 0);
    close(rootfd);

    path_of(marker, "clean-shutdown"); /* pdir is bulk-b */
    CHECK(!exists(marker));
    struct log_recovery_report rep;
    b = open_log(&cfg, &rep);
    if (b) {
        CHECK_EQ_INT(plog_end_offset(b), 3);
        CHECK_EQ_INT(read_all(b, 0), 3);
        CHECK_EQ_INT(plog_remove(b), 0);
    }
    snprintf(pdir, sizeof(pdir), "%s", dir_a);
    path_of(marker, "clean-shutdown");
    CHECK(exists(marker));
    a = open_log(&cfg, &rep);
    if (!a) return;
    CHECK_EQ_INT(rep.truncated_bytes, 0);
    CHECK_EQ_INT(plog_end_offset(a), 60);
    CHECK_EQ_INT(read_all(a, 0), 60);
    /* Never written since the open: nothing to seal, the marker stays. */
    fio_defer_syncs(true);
    CHECK_EQ_INT(plog_close_prepare(a), 0);
    plog_close(a);
    fio_defer_syncs(false);
    CHECK(exists(marker));
    a = open_log(&cfg, NULL);
    if (a) CHECK_EQ_INT(plog_remove(a), 0);
}

/* The start-up read-ahead only reads: whatever it is given (missing
 * directories, empty ones, ones with segments), the logs open the same. */
static void test_prefetch(void) {
    enum { DIRS = 40 };
    struct log_config cfg = base_cfg();
    char *dirs[DIRS];
    for (int i = 0; i < DIRS; i++) {
        char name[32];
        snprintf(name, sizeof(name), "warm-%d", i);
        fresh_dir(name);
        dirs[i] = strdup(pdir);
        if (i % 4 == 3) continue; /* left missing */
        struct plog *log = open_log(&cfg, NULL);
        if (!log) continue;
        for (int j = 0; j < i % 3; j++) append_one(log, 2, 1000 + j, 40);
        plog_close(log);
    }
    CHECK(log_prefetch_start((const char *const *)dirs, DIRS, 0) == NULL);
    for (uint32_t threads = 1; threads <= 64; threads *= 8) {
        struct log_prefetch *p = log_prefetch_start((const char *const *)dirs, DIRS, threads);
        CHECK(p != NULL);
        for (int i = 0; i < DIRS; i++) {
            if (i % 4 != 3) {
                snprintf(pdir, sizeof(pdir), "%s", dirs[i]);
                struct plog *log = open_log(&cfg, NULL);
                if (log) {
                    CHECK_EQ_INT(plog_end_offset(log), (i % 3) * 2);
                    plog_close(log);
                }
            }
            log_prefetch_progress(p, (uint32_t)i);
        }
        log_prefetch_finish(p);
    }
    log_prefetch_finish(NULL);
    for (int i = 0; i < DIRS; i++) {
        snprintf(pdir, sizeof(pdir), "%s", dirs[i]);
        struct plog *log = NULL;
        if (i % 4 != 3 && plog_open(pdir, &cfg, &log, NULL) == 0) plog_remove(log);
        free(dirs[i]);
    }
}

int main(void) {
    log_set_level(LOG_LEVEL_ERROR);
    snprintf(root, sizeof(root), "/tmp/gregor-test-log-XXXXXX");
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    TEST_RUN(test_append_read_across_rolls);
    TEST_RUN(test_read_limits);
    TEST_RUN(test_multi_batch_append_and_append_time);
    TEST_RUN(test_reopen_clean);
    TEST_RUN(test_crash_torn_tail);
    TEST_RUN(test_crash_corrupt_last_batch);
    TEST_RUN(test_damaged_indexes);
    TEST_RUN(test_empty_trailing_segment_and_strays);
    TEST_RUN(test_kill_child);
    TEST_RUN(test_retention);
    TEST_RUN(test_advance_start);
    TEST_RUN(test_offset_for_time);
    TEST_RUN(test_write_failure_fsize);
    TEST_RUN(test_injected_faults);
    TEST_RUN(test_scan);
    TEST_RUN(test_time_roll_and_flush_ms);
    TEST_RUN(test_epoch_cache);
    TEST_RUN(test_epoch_recovery);
    TEST_RUN(test_lazy_segments);
    TEST_RUN(test_descriptor_cap);
    TEST_RUN(test_random_ops_small_cap);
    TEST_RUN(test_bulk_close);
    TEST_RUN(test_prefetch);
    char cmd[PATH_BYTES + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", root);
    TEST_EXIT();
}
