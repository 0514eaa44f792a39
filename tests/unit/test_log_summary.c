/*
 * Start-up summary tests (storage/log_summary.c): logs closed into a
 * summary reopen from it with the same offsets, segments, epochs and data
 * as an open from their files, and keep working (appends remove the
 * clean-shutdown marker first, so a crash afterwards recovers as usual);
 * the file is removed when taken; damaged, truncated, foreign-version
 * summaries and a changed data-directory listing are ignored; entries
 * that do not decode are refused without crashing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "core/log.h"
#include "protocol/batch_builder.h"
#include "protocol/record_batch.h"
#include "storage/fileio.h"
#include "storage/log.h"
#include "storage/log_summary.h"

#define PATH_BYTES 512
#define LOGS 3

static char data_dir[PATH_BYTES / 4];
static uint8_t batch[64 * 1024];
static const char *const names[LOGS] = {"orders-0", "orders-1", "empty-0"};

static struct log_config small_segments(void) {
    return (struct log_config){
        .segment_bytes = 1000,
        .segment_ms = LOG_UNLIMITED,
        .retention_ms = LOG_UNLIMITED,
        .retention_bytes = LOG_UNLIMITED,
        .index_interval_bytes = 256,
        .flush_interval_messages = INT64_MAX,
        .flush_interval_ms = INT64_MAX,
    };
}

static void log_path(char *out, const char *name) { snprintf(out, PATH_BYTES, "%s/%s", data_dir, name); }

static void file_in(char *out, const char *dir_name, const char *file) {
    snprintf(out, PATH_BYTES, "%s/%s/%s", data_dir, dir_name, file);
}

static bool exists(const char *path) { return access(path, F_OK) == 0; }

static void summary_path(char *out) { log_path(out, LOG_SUMMARY_FILE); }

/* Appends one batch of n records stamped ts0, ts0+1, ... */
static void append(struct plog *log, int32_t n, int64_t ts0) {
    struct batch_builder bb;
    batch_builder_init(&bb, sizeof(batch), ts0);
    for (int32_t i = 0; i < n; i++) batch_builder_add_at(&bb, ts0 + i, "key", 3, "value-value-value", 17);
    CHECK_EQ_INT(batch_builder_finish(&bb), 0);
    memcpy(batch, bb.ob.data, bb.ob.len);
    int64_t first, at;
    CHECK_EQ_INT(plog_append(log, batch, (uint32_t)bb.ob.len, 1, ts0, &first, &at), 0);
    batch_builder_free(&bb);
}

static int count_records(void *ctx, const uint8_t *b, uint32_t len) {
    struct rb_header h;
    CHECK_EQ_INT(rb_parse_header(b, len, &h), 0);
    *(int64_t *)ctx += h.record_count;
    return 0;
}

static int64_t records_from(struct plog *log, int64_t offset) {
    int64_t n = 0;
    CHECK_EQ_INT(plog_scan(log, offset, count_records, &n), 0);
    return n;
}

static struct plog *open_files(const char *name) {
    char dir[PATH_BYTES];
    log_path(dir, name);
    struct log_config cfg = small_segments();
    struct plog *log = NULL;
    CHECK_EQ_INT(plog_open(dir, &cfg, &log, NULL), 0);
    return log;
}

/* The three logs: several segments with a moved start and two leader
 * epochs; one segment; never written. */
static void make_logs(struct plog *logs[LOGS]) {
    for (int i = 0; i < LOGS; i++) logs[i] = open_files(names[i]);
    plog_set_leader_epoch(logs[0], 1);
    for (int i = 0; i < 20; i++) append(logs[0], 3, 1000 + i * 10);
    plog_set_leader_epoch(logs[0], 4);
    for (int i = 0; i < 20; i++) append(logs[0], 3, 2000 + i * 10);
    CHECK_EQ_INT(plog_advance_start(logs[0], 13), 0);
    append(logs[1], 5, 500);
}

/* What a shutdown does: seal, record, close (marker), then the summary. */
static int close_into_summary(struct plog *logs[LOGS]) {
    struct log_summary_writer *w = log_summary_writer_create();
    CHECK(w != NULL);
    for (int i = 0; i < LOGS; i++) {
        CHECK_EQ_INT(plog_close_prepare(logs[i]), 0);
        struct log_summary_producers none = {-1, 0, NULL, 0};
        CHECK_EQ_INT(log_summary_writer_add(w, names[i], logs[i], &none), 0);
        if (plog_close(logs[i]) != 0) log_summary_writer_drop_last(w);
    }
    int n = log_summary_writer_commit(w, data_dir);
    log_summary_writer_free(w);
    return n;
}

struct facts {
    int64_t start, end, max_ts, max_ts_offset, time_offset, records;
    uint64_t size;
    uint32_t segments;
    int32_t epoch_out;
    int64_t epoch_end;
};

static void facts_of(struct plog *log, struct facts *f) {
    f->start = plog_start_offset(log);
    f->end = plog_end_offset(log);
    f->size = plog_size_bytes(log);
    f->segments = plog_segment_count(log);
    f->records = records_from(log, f->start);
    int64_t ts;
    CHECK(plog_offset_for_time(log, 2005, &f->time_offset, &ts) >= 0);
    plog_max_timestamp(log, &f->max_ts, &f->max_ts_offset);
    plog_epoch_end_offset(log, 1, &f->epoch_out, &f->epoch_end);
}

static void check_same(const struct facts *a, const struct facts *b) {
    CHECK_EQ_INT(a->start, b->start);
    CHECK_EQ_INT(a->end, b->end);
    CHECK_EQ_INT(a->size, b->size);
    CHECK_EQ_INT(a->segments, b->segments);
    CHECK_EQ_INT(a->records, b->records);
    CHECK_EQ_INT(a->time_offset, b->time_offset);
    CHECK_EQ_INT(a->max_ts, b->max_ts);
    CHECK_EQ_INT(a->max_ts_offset, b->max_ts_offset);
    CHECK_EQ_INT(a->epoch_out, b->epoch_out);
    CHECK_EQ_INT(a->epoch_end, b->epoch_end);
}

static struct log_summary *take(void) {
    struct log_summary *s = NULL;
    CHECK_EQ_INT(log_summary_take(data_dir, 4, &s), 0);
    char p[PATH_BYTES];
    summary_path(p);
    CHECK(!exists(p)); /* gone once taken, whatever it held */
    return s;
}

static struct plog *open_summarized(const struct log_summary *s, const char *name) {
    struct log_summary_entry e;
    CHECK(log_summary_find(s, name, &e));
    char dir[PATH_BYTES];
    log_path(dir, name);
    struct log_config cfg = small_segments();
    struct plog *log = NULL;
    CHECK_EQ_INT(plog_open_summarized(dir, &cfg, &e, &log), 0);
    return log;
}

static void remove_logs(void) {
    for (int i = 0; i < LOGS; i++) {
        struct plog *log = open_files(names[i]);
        if (log) CHECK_EQ_INT(plog_remove(log), 0);
    }
}

/* ---------------------------------------------------------------- */

static void test_round_trip(void) {
    struct plog *logs[LOGS];
    make_logs(logs);
    CHECK(plog_segment_count(logs[0]) > 3);
    CHECK_EQ_INT(close_into_summary(logs), LOGS);

    /* What an open from the files finds (it leaves the markers). */
    struct facts want[LOGS];
    for (int i = 0; i < LOGS; i++) {
        struct plog *log = open_files(names[i]);
        facts_of(log, &want[i]);
        CHECK_EQ_INT(plog_close(log), 0);
    }
    CHECK_EQ_INT(want[0].start, 13);
    CHECK_EQ_INT(want[0].end, 120);
    CHECK_EQ_INT(want[0].epoch_end, 60);

    struct log_summary *s = take();
    CHECK(s != NULL);
    if (!s) return;
    CHECK_EQ_INT(log_summary_count(s), LOGS);
    struct log_summary_entry e;
    CHECK(!log_summary_find(s, "orders-2", &e));
    struct plog *got[LOGS];
    for (int i = 0; i < LOGS; i++) got[i] = open_summarized(s, names[i]);
    log_summary_free(s);
    for (int i = 0; i < LOGS; i++) {
        if (!got[i]) return;
        struct facts f;
        facts_of(got[i], &f);
        check_same(&f, &want[i]);
    }

    /* A write removes the marker before touching a file, so a crash after
     * it is recovered from the files, data included. */
    char marker[PATH_BYTES];
    file_in(marker, names[0], "clean-shutdown");
    CHECK(exists(marker));
    append(got[0], 4, 3000);
    CHECK(!exists(marker));
    CHECK_EQ_INT(plog_end_offset(got[0]), 124);
    append(got[2], 2, 3000); /* the never-written log gets its first batch */
    plog_close_unclean(got[0]);
    plog_close_unclean(got[2]);
    CHECK_EQ_INT(plog_close(got[1]), 0);
    struct plog *again = open_files(names[0]);
    if (again) {
        CHECK_EQ_INT(plog_end_offset(again), 124);
        CHECK_EQ_INT(records_from(again, 13), want[0].records + 4);
        CHECK_EQ_INT(plog_close(again), 0);
    }
    again = open_files(names[2]);
    if (again) {
        CHECK_EQ_INT(plog_end_offset(again), 2);
        CHECK_EQ_INT(plog_close(again), 0);
    }
    remove_logs();
}

/* DeleteRecords and retention on a log opened from the summary (its old
 * segments unloaded) remove the marker first and persist like any other
 * open: an open from the files afterwards sees the same start. */
static void test_delete_records_and_retention_after_summarized_open(void) {
    struct plog *logs[LOGS];
    make_logs(logs);
    CHECK_EQ_INT(close_into_summary(logs), LOGS);
    struct log_summary *s = take();
    if (!s) return;
    struct log_summary_entry e;
    CHECK(log_summary_find(s, names[0], &e));
    char dir[PATH_BYTES], marker[PATH_BYTES];
    log_path(dir, names[0]);
    file_in(marker, names[0], "clean-shutdown");
    struct log_config cfg = small_segments();
    cfg.retention_bytes = 2500;
    struct plog *log = NULL;
    CHECK_EQ_INT(plog_open_summarized(dir, &cfg, &e, &log), 0);
    log_summary_free(s);
    if (!log) return;
    uint32_t segments = plog_segment_count(log);
    CHECK_EQ_INT(plog_advance_start(log, 50), 0);
    CHECK(!exists(marker));
    int deleted = plog_enforce_retention(log, 10000);
    CHECK(deleted > 0);
    CHECK(plog_segment_count(log) < segments);
    int64_t start = plog_start_offset(log), end = plog_end_offset(log);
    CHECK(start >= 50);
    CHECK_EQ_INT(records_from(log, start) > 0, 1);
    plog_close_unclean(log); /* a crash: recovery from the files must agree */
    log = open_files(names[0]);
    if (log) {
        CHECK_EQ_INT(plog_start_offset(log), start);
        CHECK_EQ_INT(plog_end_offset(log), end);
        CHECK_EQ_INT(plog_close(log), 0);
    }
    remove_logs();
}

static void test_drop_last_and_absent(void) {
    struct log_summary *s = (struct log_summary *)1;
    CHECK_EQ_INT(log_summary_take(data_dir, 4, &s), 0);
    CHECK(s == NULL); /* none there */

    struct plog *logs[LOGS];
    make_logs(logs);
    struct log_summary_writer *w = log_summary_writer_create();
    for (int i = 0; i < LOGS; i++) {
        CHECK_EQ_INT(plog_close_prepare(logs[i]), 0);
        static const uint8_t state[] = "not really a snapshot";
        struct log_summary_producers prod = {42, (uint32_t)i, i == 1 ? state : NULL, i == 1 ? sizeof(state) : 0};
        CHECK_EQ_INT(log_summary_writer_add(w, names[i], logs[i], &prod), 0);
        plog_close(logs[i]);
    }
    log_summary_writer_drop_last(w); /* as when a close leaves no marker */
    CHECK_EQ_INT(log_summary_writer_commit(w, data_dir), LOGS - 1);
    log_summary_writer_free(w);
    s = take();
    CHECK(s != NULL);
    struct log_summary_entry e;
    CHECK(!log_summary_find(s, names[LOGS - 1], &e));
    CHECK(log_summary_find(s, names[1], &e));
    CHECK_EQ_INT(e.producers.snapshot_offset, 42);
    CHECK_EQ_INT(e.producers.count, 1);
    CHECK_EQ_INT(e.producers.state_len, sizeof("not really a snapshot"));
    CHECK(e.producers.state && memcmp(e.producers.state, "not really a snapshot", e.producers.state_len) == 0);
    /* the log state follows the producer state */
    struct log_config cfg = small_segments();
    char dir[PATH_BYTES];
    log_path(dir, names[1]);
    struct plog *log = NULL;
    CHECK_EQ_INT(plog_open_summarized(dir, &cfg, &e, &log), 0);
    if (log) {
        CHECK_EQ_INT(plog_end_offset(log), 5);
        plog_close_unclean(log);
    }
    log_summary_free(s);
    remove_logs();
}

/* Writes a summary of the three logs and returns its path. */
static void fresh_summary(char path[PATH_BYTES]) {
    struct plog *logs[LOGS];
    make_logs(logs);
    CHECK_EQ_INT(close_into_summary(logs), LOGS);
    summary_path(path);
    CHECK(exists(path));
}

static void patch_file(const char *path, off_t at, uint8_t xor_mask) {
    int fd = open(path, O_RDWR);
    uint8_t c = 0;
    CHECK_EQ_INT(pread(fd, &c, 1, at), 1);
    c ^= xor_mask;
    CHECK_EQ_INT(pwrite(fd, &c, 1, at), 1);
    close(fd);
}

static off_t size_of(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

static void test_damage_ignored(void) {
    char path[PATH_BYTES];
    /* byte to flip (negative: from the end), or a length to cut to */
    static const struct { off_t at; bool cut; } damage[] = {
        {-1, false}, {-200, false}, {0, false}, {9, false}, {13, false}, {17, false}, {25, false},
        {33, false}, {37, false}, {-1, true}, {39, true}, {0, true}, {8, true},
    };
    for (size_t i = 0; i < sizeof(damage) / sizeof(damage[0]); i++) {
        fresh_summary(path);
        off_t size = size_of(path);
        off_t at = damage[i].at < 0 ? size + damage[i].at : damage[i].at;
        if (damage[i].cut) CHECK_EQ_INT(truncate(path, at), 0);
        else patch_file(path, at, 0x10);
        struct log_summary *s = take();
        if (s) fprintf(stderr, "damage %zu at %lld was trusted\n", i, (long long)at);
        CHECK(s == NULL);
        log_summary_free(s);
        remove_logs();
    }
}

static void test_listing_change_ignored(void) {
    char path[PATH_BYTES], extra[PATH_BYTES], a[PATH_BYTES], b[PATH_BYTES];
    /* a directory added */
    fresh_summary(path);
    log_path(extra, "operator-notes");
    CHECK_EQ_INT(mkdir(extra, 0755), 0);
    CHECK(take() == NULL);
    CHECK_EQ_INT(rmdir(extra), 0);
    remove_logs();
    /* one renamed: the same number of entries, other names */
    fresh_summary(path);
    log_path(a, names[1]);
    log_path(b, "orders-7");
    CHECK_EQ_INT(rename(a, b), 0);
    CHECK(take() == NULL);
    CHECK_EQ_INT(rename(b, a), 0);
    remove_logs();
    /* one removed */
    fresh_summary(path);
    struct plog *log = open_files(names[2]);
    if (log) CHECK_EQ_INT(plog_remove(log), 0);
    CHECK(take() == NULL);
    remove_logs();
    /* a leftover of an interrupted summary write does not count */
    fresh_summary(path);
    log_path(extra, LOG_SUMMARY_FILE ".tmp");
    int fd = open(extra, O_CREAT | O_WRONLY, 0644);
    close(fd);
    struct log_summary *s = take();
    CHECK(s != NULL);
    CHECK(!exists(extra));
    log_summary_free(s);
    remove_logs();
}

/* A partition directory whose entries changed after the summary was
 * written (an older broker that wrote there, a file an operator added or
 * removed) is not opened from the summary; the others still are. */
static void test_changed_directory_not_trusted(void) {
    char path[PATH_BYTES], file[PATH_BYTES];
    fresh_summary(path);
    file_in(file, names[0], "clean-shutdown");
    CHECK_EQ_INT(unlink(file), 0); /* what any write does first */
    file_in(file, names[2], "operator-was-here");
    int fd = open(file, O_CREAT | O_WRONLY, 0644);
    close(fd);
    struct log_summary *s = take();
    CHECK(s != NULL);
    struct log_summary_entry e;
    CHECK(!log_summary_find(s, names[0], &e));
    CHECK(log_summary_find(s, names[1], &e));
    CHECK(!log_summary_find(s, names[2], &e));
    log_summary_free(s);
    CHECK_EQ_INT(unlink(file), 0);
    /* A directory replaced by another of the same name: another inode. */
    fresh_summary(path);
    struct plog *log = open_files(names[1]);
    if (log) CHECK_EQ_INT(plog_remove(log), 0);
    log = open_files(names[1]);
    if (log) CHECK_EQ_INT(plog_close(log), 0);
    s = take();
    CHECK(s != NULL);
    CHECK(!log_summary_find(s, names[1], &e));
    CHECK(log_summary_find(s, names[2], &e));
    log_summary_free(s);
    remove_logs();
}

/* Enough partitions for the identity check to split over threads: the
 * changed ones are found wherever they fall in inode order. */
static void test_many_partitions_threaded_check(void) {
    enum { N = 600 };
    struct log_config cfg = small_segments();
    struct log_summary_writer *w = log_summary_writer_create();
    char name[32], dir[PATH_BYTES], file[PATH_BYTES];
    fio_defer_syncs(true); /* durability is not what this checks; syncs would take seconds */
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof(name), "many-%d", i);
        log_path(dir, name);
        struct plog *log = NULL;
        CHECK_EQ_INT(plog_open(dir, &cfg, &log, NULL), 0);
        if (!log) return;
        CHECK_EQ_INT(plog_close_prepare(log), 0);
        struct log_summary_producers none = {-1, 0, NULL, 0};
        CHECK_EQ_INT(log_summary_writer_add(w, name, log, &none), 0);
        CHECK_EQ_INT(plog_close(log), 0);
    }
    CHECK_EQ_INT(log_summary_writer_commit(w, data_dir), N);
    log_summary_writer_free(w);
    fio_defer_syncs(false);
    static const int touched[] = {0, 99, 300, 599};
    for (size_t k = 0; k < sizeof(touched) / sizeof(touched[0]); k++) {
        snprintf(name, sizeof(name), "many-%d", touched[k]);
        file_in(file, name, "clean-shutdown");
        CHECK_EQ_INT(unlink(file), 0);
    }
    struct log_summary *s = NULL;
    CHECK_EQ_INT(log_summary_take(data_dir, 8, &s), 0);
    CHECK(s != NULL);
    int found = 0;
    for (int i = 0; s && i < N; i++) {
        struct log_summary_entry e;
        snprintf(name, sizeof(name), "many-%d", i);
        bool is_touched = i == 0 || i == 99 || i == 300 || i == 599;
        bool f = log_summary_find(s, name, &e);
        CHECK(f != is_touched);
        found += f;
    }
    CHECK_EQ_INT(found, N - 4);
    log_summary_free(s);
    fio_defer_syncs(true);
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof(name), "many-%d", i);
        log_path(dir, name);
        struct plog *log = NULL;
        if (plog_open(dir, &cfg, &log, NULL) == 0) CHECK_EQ_INT(plog_remove(log), 0);
    }
    fio_defer_syncs(false);
}

/* Every truncation of a valid entry is refused; random damage to it is
 * refused or gives a log that answers queries, never a crash (the CRC
 * keeps such entries out in practice; this checks the decoder anyway). */
static void test_bad_entries_refused(void) {
    char path[PATH_BYTES], dir[PATH_BYTES];
    fresh_summary(path);
    struct log_summary *s = take();
    struct log_summary_entry e;
    CHECK(s && log_summary_find(s, names[0], &e));
    if (!s) return;
    uint8_t *copy = malloc(e.log_state_len);
    memcpy(copy, e.log_state, e.log_state_len);
    log_path(dir, names[0]);
    struct log_config cfg = small_segments();
    struct log_summary_entry bad = e;
    bad.log_state = copy;
    struct plog *log = NULL;
    for (size_t len = 0; len < e.log_state_len; len++) {
        bad.log_state_len = len;
        CHECK(plog_open_summarized(dir, &cfg, &bad, &log) != 0);
    }
    bad.log_state_len = e.log_state_len;
    uint32_t seed = 12345, opened = 0;
    for (int round = 0; round < 3000; round++) {
        memcpy(copy, e.log_state, e.log_state_len);
        for (int k = 0; k < 1 + round % 3; k++) {
            seed = seed * 1103515245u + 12345u;
            copy[(seed >> 8) % e.log_state_len] ^= (uint8_t)(1u << ((seed >> 4) % 8));
        }
        if (plog_open_summarized(dir, &cfg, &bad, &log) == 0) {
            opened++;
            CHECK(plog_start_offset(log) <= plog_end_offset(log));
            CHECK(plog_segment_count(log) >= 1);
            plog_close_unclean(log); /* frees without writing */
        }
    }
    fprintf(stderr, "damaged entries opened: %u of 3000\n", opened);
    /* Segments out of order. */
    memcpy(copy, e.log_state, e.log_state_len);
    uint32_t epochs = rb_be32(copy + 16);
    uint8_t *seg0 = copy + 20 + epochs * 12 + 4;
    rb_put_be64(seg0 + 24, 0); /* the second segment's base below the first's end */
    CHECK(plog_open_summarized(dir, &cfg, &bad, &log) != 0);
    free(copy);
    log_summary_free(s);
    remove_logs();
}

int main(void) {
    log_set_level(LOG_LEVEL_ERROR);
    snprintf(data_dir, sizeof(data_dir), "/tmp/gregor-test-summary-XXXXXX");
    if (!mkdtemp(data_dir)) {
        perror("mkdtemp");
        return 1;
    }
    TEST_RUN(test_round_trip);
    TEST_RUN(test_delete_records_and_retention_after_summarized_open);
    TEST_RUN(test_drop_last_and_absent);
    TEST_RUN(test_damage_ignored);
    TEST_RUN(test_listing_change_ignored);
    TEST_RUN(test_changed_directory_not_trusted);
    TEST_RUN(test_bad_entries_refused);
    TEST_RUN(test_many_partitions_threaded_check);
    char cmd[PATH_BYTES];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", data_dir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", data_dir);
    TEST_EXIT();
}
