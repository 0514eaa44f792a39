/*
 * Cleaner tests, driving a real log and the cleaner's threads the way the
 * broker's housekeeping does: deduplication keeps each key's latest
 * record with offsets preserved and batches partly rewritten; a dedupe
 * map too small for the dirty part cleans in several rounds; tombstones
 * go once delete.retention.ms has passed; closing or removing a log in
 * the middle of a throttled clean returns without waiting for the thread,
 * which then leaves no temporary file; a crash after the thread's commit
 * is completed at open; retention waits for a committed swap; a cleaned
 * log reopens the same; the keyless-record check used by Produce.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "core/log.h"
#include "protocol/batch_builder.h"
#include "protocol/record_batch.h"
#include "protocol/records.h"
#include "storage/cleaner.h"
#include "storage/log.h"

#define KEYS_MAX 4096
#define PATH_BYTES 512

static char root[PATH_BYTES / 4];
static char pdir[PATH_BYTES / 2];

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct log_config compact_cfg(void) {
    return (struct log_config){
        .segment_bytes = 4096,
        .segment_ms = LOG_UNLIMITED,
        .retention_ms = LOG_UNLIMITED,
        .retention_bytes = LOG_UNLIMITED,
        .index_interval_bytes = 256,
        .flush_interval_messages = INT64_MAX,
        .flush_interval_ms = INT64_MAX,
        .compact = true,
        .min_cleanable_ratio = 0.01,
        .max_compaction_lag_ms = INT64_MAX,
        .delete_retention_ms = 3600 * 1000,
    };
}

static struct cleaner *new_cleaner(int64_t dedupe_bytes, double io_rate) {
    struct cleaner_config cc = {.enable = true, .threads = 1, .dedupe_buffer_bytes = dedupe_bytes,
                                .io_max_bytes_per_second = io_rate, .backoff_ms = 0};
    return cleaner_create(&cc);
}

/* Appends one batch of `n` records: keys "k<i % keys>", values "v<seq>"
 * (NULL for a tombstone when tombstone is set). */
static int64_t append_batch(struct plog *log, int *seq, int n, int keys, bool tombstone) {
    struct batch_builder bb;
    batch_builder_init(&bb, 1 << 20, now_ms());
    for (int i = 0; i < n; i++, (*seq)++) {
        char k[32], v[32];
        int kl = snprintf(k, sizeof(k), "k%d", *seq % keys);
        int vl = snprintf(v, sizeof(v), "v%d", *seq);
        CHECK(batch_builder_add(&bb, k, kl, tombstone ? NULL : v, tombstone ? -1 : vl) == 0);
    }
    CHECK(batch_builder_finish(&bb) == 0);
    int64_t first = -1;
    CHECK(plog_append(log, bb.ob.data, (uint32_t)bb.ob.len, 1, now_ms(), &first, NULL) == 0);
    batch_builder_free(&bb);
    return first;
}

static void tick(struct cleaner *c, struct plog *log, int64_t clock_skew_ms) {
    cleaner_tick_begin(c);
    cleaner_consider(c, log, now_ms() + clock_skew_ms);
    cleaner_tick_end(c, now_ms() + clock_skew_ms);
}

/* Runs housekeeping passes until one finds nothing to clean. */
static bool clean_fully(struct cleaner *c, struct plog *log, int64_t clock_skew_ms) {
    for (int i = 0; i < 4000; i++) {
        bool was_busy = cleaner_busy(c);
        tick(c, log, clock_skew_ms);
        if (!was_busy && !cleaner_busy(c)) return true;
        usleep(5000);
    }
    return false;
}

struct seen {
    int64_t offsets[KEYS_MAX * 4];
    int n;
    int latest_seq[KEYS_MAX];  /* -1 absent, -2 tombstone */
    int count_below[KEYS_MAX]; /* occurrences below the first dirty offset */
    int64_t first_dirty;
    bool ascending;
};

static int on_batch(void *ctx, const uint8_t *batch, uint32_t len) {
    struct seen *s = ctx;
    struct rb_header h;
    CHECK(rb_parse_header(batch, len, &h) == 0);
    CHECK(rb_compute_crc(batch, len) == h.crc);
    struct records_iter it;
    struct record_view r;
    records_iter_init(&it, batch + RB_HEADER_BYTES, len - RB_HEADER_BYTES, h.record_count);
    int rc;
    while ((rc = records_next(&it, &r)) == 1) {
        int64_t off = h.base_offset + r.offset_delta;
        if (s->n > 0 && off <= s->offsets[s->n - 1]) s->ascending = false;
        if (s->n < (int)(sizeof(s->offsets) / sizeof(s->offsets[0]))) s->offsets[s->n++] = off;
        int k = atoi((const char *)r.key + 1);
        CHECK(k >= 0 && k < KEYS_MAX);
        if (k < 0 || k >= KEYS_MAX) continue;
        s->latest_seq[k] = r.value ? atoi((const char *)r.value + 1) : -2;
        if (off < s->first_dirty) s->count_below[k]++;
    }
    CHECK(rc == 0);
    return 0;
}

static void scan(struct plog *log, struct seen *s) {
    memset(s, 0, sizeof(*s));
    memset(s->latest_seq, -1, sizeof(s->latest_seq));
    s->ascending = true;
    s->first_dirty = plog_first_dirty_offset(log);
    CHECK(plog_scan(log, 0, on_batch, s) == 0);
}

static int count_files(const char *suffix) {
    DIR *d = opendir(pdir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name), m = strlen(suffix);
        if (l >= m && strcmp(e->d_name + l - m, suffix) == 0) n++;
    }
    if (d) closedir(d);
    return n;
}

static void fresh(const char *name) { snprintf(pdir, sizeof(pdir), "%s/%s", root, name); }

/* 3000 updates over 100 keys in batches of 7: each key's latest survives
 * once, offsets ascend, the log shrinks, and a reopen sees the same. */
static void test_dedupe(void) {
    fresh("dedupe");
    struct log_config cfg = compact_cfg();
    struct plog *log;
    CHECK(plog_open(pdir, &cfg, &log, NULL) == 0);
    int seq = 0;
    while (seq < 3000) append_batch(log, &seq, 7, 100, false);
    uint64_t before = plog_size_bytes(log);
    struct cleaner *c = new_cleaner(1 << 20, 1e308);
    CHECK(c != NULL);
    CHECK(clean_fully(c, log, 0));
    CHECK(plog_size_bytes(log) < before / 4);
    struct seen *s = calloc(1, sizeof(*s));
    scan(log, s);
    CHECK(s->ascending);
    for (int k = 0; k < 100; k++) {
        int latest = -1;
        for (int q = 0; q < seq; q++)
            if (q % 100 == k) latest = q;
        CHECK_EQ_INT(s->latest_seq[k], latest);
        CHECK(s->count_below[k] <= 1);
    }
    int64_t end = plog_end_offset(log);
    plog_close(log);
    CHECK(plog_open(pdir, &cfg, &log, NULL) == 0);
    CHECK_EQ_INT(plog_end_offset(log), end);
    struct seen *s2 = calloc(1, sizeof(*s2));
    scan(log, s2);
    CHECK_EQ_INT(s2->n, s->n);
    CHECK(memcmp(s2->offsets, s->offsets, (size_t)s->n * sizeof(s->offsets[0])) == 0);
    CHECK_EQ_INT(count_files(".cleaned") + count_files(".swap"), 0);
    plog_close(log);
    cleaner_destroy(c);
    free(s);
    free(s2);
}

/* 3000 distinct keys with a map of 1,024 slots (768 usable): several
 * partial cleans, each advancing the first dirty offset, end correct. */
static void test_small_map(void) {
    fresh("smallmap");
    struct log_config cfg = compact_cfg();
    struct plog *log;
    CHECK(plog_open(pdir, &cfg, &log, NULL) == 0);
    int seq = 0;
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < 3000; i += 10) append_batch(log, &seq, 10, 3000, false);
    struct cleaner *c = new_cleaner(1, 1e308);
    CHECK(c != NULL);
    CHECK(clean_fully(c, log, 0));
    struct seen *s = calloc(1, sizeof(*s));
    scan(log, s);
    CHECK(s->ascending);
    for (int k = 0; k < 3000; k++) {
        CHECK_EQ_INT(s->latest_seq[k], 3000 + k);
        CHECK(s->count_below[k] <= 1);
    }
    plog_close(log);
    cleaner_destroy(c);
    free(s);
}

/* Tombstones stay while delete.retention.ms has not passed since their
 * segment was written, then go (with the values they deleted). */
static void test_tombstones(void) {
    fresh("tombstones");
    struct log_config cfg = compact_cfg();
    struct plog *log;
    CHECK(plog_open(pdir, &cfg, &log, NULL) == 0);
    int seq = 0;
    append_batch(log, &seq, 50, 50, false);       /* k0..k49 */
    int tseq = 0;
    append_batch(log, &tseq, 25, 50, true);       /* tombstones for k0..k24 */
    for (int i = 0; i < 100; i++) {               /* filler keys k50.. */
        int fseq = 50 + (i % 20);
        append_batch(log, &fseq, 1, 4000, false);
    }
    struct cleaner *c = new_cleaner(1 << 20, 1e308);
    CHECK(clean_fully(c, log, 0));
    struct seen *s = calloc(1, sizeof(*s));
    scan(log, s);
    for (int k = 0; k < 25; k++) CHECK_EQ_INT(s->latest_seq[k], -2);
    for (int k = 25; k < 50; k++) CHECK_EQ_INT(s->latest_seq[k], k);
    /* Past delete.retention.ms (0 now, the clock 2 s ahead): more filler
     * makes the log dirty again and the next clean drops them. */
    cfg.delete_retention_ms = 0;
    plog_set_config(log, &cfg);
    for (int i = 0; i < 100; i++) {
        int fseq = 50 + (i % 20);
        append_batch(log, &fseq, 1, 4000, false);
    }
    CHECK(clean_fully(c, log, 2000));
    scan(log, s);
    for (int k = 0; k < 25; k++) CHECK_EQ_INT(s->latest_seq[k], -1);
    for (int k = 25; k < 50; k++) CHECK_EQ_INT(s->latest_seq[k], k);
    plog_close(log);
    cleaner_destroy(c);
    free(s);
}

/* Below min.cleanable.dirty.ratio nothing is cleaned until the first
 * dirty record is older than max.compaction.lag.ms. */
static void test_max_compaction_lag(void) {
    fresh("maxlag");
    struct log_config cfg = compact_cfg();
    cfg.min_cleanable_ratio = 0.99;
    struct plog *log;
    CHECK(plog_open(pdir, &cfg, &log, NULL) == 0);
    int seq = 0;
    while (seq < 1500) append_batch(log, &seq, 5, 50, false);
    struct cleaner *c = new_cleaner(1 << 20, 1e308);
    CHECK(clean_fully(c, log, 0)); /* everything dirty: ratio 1 */
    int64_t cleaned = plog_first_dirty_offset(log);
    CHECK(cleaned > 0);
    while (seq < 1700) append_batch(log, &seq, 5, 50, false);
    CHECK(clean_fully(c, log, 0));
    CHECK_EQ_INT(plog_first_dirty_offset(log), cleaned); /* ratio now far below 0.99 */
    cfg.max_compaction_lag_ms = 5000;
    plog_set_config(log, &cfg);
    CHECK(clean_fully(c, log, 0));
    CHECK_EQ_INT(plog_first_dirty_offset(log), cleaned); /* not that old yet */
    CHECK(clean_fully(c, log, 60 * 1000));
    CHECK(plog_first_dirty_offset(log) > cleaned);
    plog_close(log);
    cleaner_destroy(c);
}

/* Until the thread has taken the queued job (bounded). */
static bool wait_running(struct cleaner *c) {
    for (int i = 0; i < 4000; i++) {
        if (cleaner_jobs_running(c) == 1) return true;
        usleep(5000);
    }
    return false;
}

/* A clean throttled to a crawl is cancelled by closing its log: the close
 * returns while the thread still holds the job (it does not wait for it),
 * and once the thread has finished no .cleaned / .swap / .tmp file stays. */
static void test_close_cancels(void) {
    fresh("cancel");
    struct log_config cfg = compact_cfg();
    struct plog *log;
    CHECK(plog_open(pdir, &cfg, &log, NULL) == 0);
    int seq = 0;
    while (seq < 2000) append_batch(log, &seq, 5, 50, false);
    struct cleaner *c = new_cleaner(1 << 20, 2000);
    tick(c, log, 0);
    CHECK(cleaner_busy(c));
    CHECK(wait_running(c));
    plog_close(log);
    CHECK(!cleaner_busy(c));
    /* The close did not wait for the thread: it still held the job. */
    struct cleaner_stats st;
    cleaner_get_stats(c, &st);
    CHECK_EQ_INT(st.jobs_orphaned, 1);
    cleaner_destroy(c); /* joins the thread, which removed its files */
    CHECK_EQ_INT(count_files(".cleaned") + count_files(".swap") + count_files(".tmp"), 0);
    CHECK(plog_open(pdir, &cfg, &log, NULL) == 0);
    CHECK_EQ_INT(plog_end_offset(log), 2000);
    plog_close(log);
}

/* Removing a log while its clean runs (DeleteTopics) returns without
 * waiting; the thread then removes its own files and the directory is
 * gone once it has finished. */
static void test_remove_while_cleaning(void) {
    fresh("remove-running");
    struct log_config cfg = compact_cfg();
    struct plog *log;
    CHECK(plog_open(pdir, &cfg, &log, NULL) == 0);
    int seq = 0;
    while (seq < 2000) append_batch(log, &seq, 5, 50, false);
    struct cleaner *c = new_cleaner(1 << 20, 2000);
    tick(c, log, 0);
    CHECK(cleaner_busy(c));
    CHECK(wait_running(c));
    CHECK_EQ_INT(plog_remove(log), 0);
    struct cleaner_stats st;
    cleaner_get_stats(c, &st);
    CHECK_EQ_INT(st.jobs_orphaned, 1);
    cleaner_destroy(c);
    struct stat sb;
    CHECK(stat(pdir, &sb) != 0);
}

static bool wait_for_file(const char *suffix) {
    for (int i = 0; i < 4000; i++) {
        if (count_files(suffix) > 0) return true;
        usleep(5000);
    }
    return false;
}

/* A crash once the thread committed (.swap files, renamed and synced by
 * the thread) and before the loop swapped: the next open completes the
 * swap, and the log reads as cleaned. */
/* clean_close: a normal close (shutdown) instead of a crash; it must not
 * write the clean-shutdown marker, so the recovering open (and not the
 * start-up summary) completes the committed .swap files. */
static void reopen_after_thread_commit(bool clean_close) {
    fresh(clean_close ? "close-swap" : "crash-swap");
    struct log_config cfg = compact_cfg();
    struct plog *log;
    CHECK(plog_open(pdir, &cfg, &log, NULL) == 0);
    int seq = 0;
    while (seq < 3000) append_batch(log, &seq, 7, 100, false);
    int64_t end = plog_end_offset(log);
    uint64_t before = plog_size_bytes(log);
    struct cleaner *c = new_cleaner(1 << 20, 1e308);
    tick(c, log, 0); /* queues the clean; no pass afterwards swaps it */
    CHECK(wait_for_file(".swap"));
    if (clean_close) {
        CHECK_EQ_INT(plog_close(log), -EINPROGRESS);
        CHECK_EQ_INT(count_files("clean-shutdown"), 0);
    } else {
        plog_close_unclean(log); /* as kill -9: no seal, no marker */
    }
    cleaner_destroy(c);
    CHECK(count_files(".swap") > 0);
    struct log_recovery_report rep;
    CHECK(plog_open(pdir, &cfg, &log, &rep) == 0);
    CHECK(rep.stray_files_removed > 0);
    CHECK_EQ_INT(count_files(".swap") + count_files(".cleaned"), 0);
    CHECK_EQ_INT(plog_end_offset(log), end);
    CHECK(plog_size_bytes(log) < before / 4);
    struct seen *s = calloc(1, sizeof(*s));
    scan(log, s);
    CHECK(s->ascending);
    for (int k = 0; k < 100; k++) {
        int latest = -1;
        for (int q = 0; q < seq; q++)
            if (q % 100 == k) latest = q;
        CHECK_EQ_INT(s->latest_seq[k], latest);
    }
    CHECK_EQ_INT(append_batch(log, &seq, 1, 100, false), end);
    plog_close(log);
    free(s);
}

static void test_crash_after_thread_commit(void) { reopen_after_thread_commit(false); }
static void test_close_after_thread_commit(void) { reopen_after_thread_commit(true); }

/* Retention waits while a committed clean is not swapped in yet (the
 * .swap replaces those segments at open), then runs once it is. */
static void test_retention_waits_for_committed_swap(void) {
    fresh("retention-hold");
    struct log_config cfg = compact_cfg();
    struct plog *log;
    CHECK(plog_open(pdir, &cfg, &log, NULL) == 0);
    int seq = 0;
    while (seq < 3000) append_batch(log, &seq, 7, 100, false);
    struct cleaner *c = new_cleaner(1 << 20, 1e308);
    tick(c, log, 0);
    CHECK(wait_for_file(".swap"));
    cfg.retention_bytes = 1;
    plog_set_config(log, &cfg);
    uint32_t segs = plog_segment_count(log);
    CHECK_EQ_INT(plog_enforce_retention(log, now_ms()), 0);
    CHECK_EQ_INT(plog_segment_count(log), segs);
    CHECK(clean_fully(c, log, 0));
    CHECK_EQ_INT(count_files(".swap"), 0);
    CHECK(plog_enforce_retention(log, now_ms()) > 0);
    CHECK_EQ_INT(plog_segment_count(log), 1);
    plog_close(log);
    cleaner_destroy(c);
}

static void test_null_key_check(void) {
    struct batch_builder bb;
    batch_builder_init(&bb, 1 << 16, 1);
    CHECK(batch_builder_add(&bb, "a", 1, "x", 1) == 0);
    CHECK(batch_builder_add(&bb, "b", 1, NULL, -1) == 0);
    CHECK(batch_builder_finish(&bb) == 0);
    CHECK_EQ_INT(cleaner_batch_has_null_key(bb.ob.data, (uint32_t)bb.ob.len), 0);
    batch_builder_free(&bb);
    batch_builder_init(&bb, 1 << 16, 1);
    CHECK(batch_builder_add(&bb, "a", 1, "x", 1) == 0);
    CHECK(batch_builder_add(&bb, NULL, -1, "y", 1) == 0);
    CHECK(batch_builder_finish(&bb) == 0);
    CHECK_EQ_INT(cleaner_batch_has_null_key(bb.ob.data, (uint32_t)bb.ob.len), 1);
    /* Records that do not parse: refused rather than guessed. */
    bb.ob.data[RB_HEADER_BYTES] = 0x7f;
    CHECK(cleaner_batch_has_null_key(bb.ob.data, (uint32_t)bb.ob.len) != 0);
    batch_builder_free(&bb);
}

/* A clean that drops the last batch of the last closed segment (expired
 * tombstones) leaves that segment ending below the empty active segment's
 * base: the log end after a restart must still be that base, or offsets
 * would be handed out twice. */
static void test_end_kept_after_tail_removed(void) {
    fresh("tail-removed");
    struct log_config cfg = compact_cfg();
    cfg.delete_retention_ms = 0;
    struct plog *log;
    CHECK(plog_open(pdir, &cfg, &log, NULL) == 0);
    int keep_seq = 500;
    append_batch(log, &keep_seq, 3, 1000, false); /* k500..k502: never superseded */
    int seq = 0;
    for (int i = 0; i < 3; i++) append_batch(log, &seq, 20, 5, false);
    int tseq = 0;
    append_batch(log, &tseq, 5, 5, true); /* tombstones for k0..k4, the last batch */
    int64_t end = plog_end_offset(log);
    uint32_t segs = plog_segment_count(log);
    cfg.segment_ms = 1; /* idle roll: the active segment becomes empty */
    plog_set_config(log, &cfg);
    CHECK(plog_tick(log, now_ms() + 10000) >= 0);
    CHECK_EQ_INT(plog_segment_count(log), segs + 1);
    struct cleaner *c = new_cleaner(1 << 20, 1e308);
    CHECK(clean_fully(c, log, 2000));
    CHECK_EQ_INT(plog_end_offset(log), end);
    plog_close(log);
    struct log_recovery_report rep;
    CHECK(plog_open(pdir, &cfg, &log, &rep) == 0);
    CHECK_EQ_INT(plog_end_offset(log), end);
    CHECK_EQ_INT(append_batch(log, &seq, 1, 5, false), end);
    plog_close(log);
    cleaner_destroy(c);
}

int main(void) {
    log_set_level(LOG_LEVEL_ERROR);
    snprintf(root, sizeof(root), "/tmp/gregor-test-cleaner-%d", (int)getpid());
    mkdir(root, 0755);
    TEST_RUN(test_dedupe);
    TEST_RUN(test_small_map);
    TEST_RUN(test_tombstones);
    TEST_RUN(test_max_compaction_lag);
    TEST_RUN(test_close_cancels);
    TEST_RUN(test_remove_while_cleaning);
    TEST_RUN(test_crash_after_thread_commit);
    TEST_RUN(test_close_after_thread_commit);
    TEST_RUN(test_retention_waits_for_committed_swap);
    TEST_RUN(test_null_key_check);
    TEST_RUN(test_end_kept_after_tail_removed);
    char cmd[PATH_BYTES];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", root);
    TEST_EXIT();
}
