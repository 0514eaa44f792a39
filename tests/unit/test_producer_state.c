/*
 * Idempotent producer state: sequence and epoch rules (Kafka 2.5+), the
 * duplicate window, the producer bound, snapshots and expiry.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "core/limits.h"
#include "core/log.h"
#include "storage/producer_state.h"

#define PID 1000
#define TS 1700000000000LL

static char tmpdir[] = "/tmp/test_pstate.XXXXXX";

/* Records `n` batches of `per` records each for pid from sequence `seq`,
 * at consecutive offsets from `offset`. Returns the next free offset. */
static int64_t record_run(struct producer_state *ps, int64_t pid, int16_t epoch, int32_t *seq, int n, int32_t per,
                          int64_t offset) {
    for (int i = 0; i < n; i++) {
        pstate_record(ps, pid, epoch, *seq, per, offset, TS);
        offset += per;
        *seq = (int32_t)(((int64_t)*seq + per) % ((int64_t)INT32_MAX + 1));
    }
    return offset;
}

static void test_in_order(void) {
    struct producer_state *ps = pstate_create();
    int64_t dup = -7;
    CHECK_EQ_INT(pstate_check(ps, -1, -1, -1, 10, &dup), PSTATE_APPEND);
    CHECK_EQ_INT(pstate_check(ps, PID, 0, 0, 3, &dup), PSTATE_APPEND);
    int32_t seq = 0;
    int64_t off = record_run(ps, PID, 0, &seq, 4, 3, 0);
    CHECK_EQ_INT(seq, 12);
    CHECK_EQ_INT(pstate_check(ps, PID, 0, 12, 1, &dup), PSTATE_APPEND);
    CHECK_EQ_INT(dup, -7);
    struct pstate_producer_info info;
    CHECK_EQ_INT(pstate_lookup(ps, PID, &info), 0);
    CHECK_EQ_INT(info.last_sequence, 11);
    CHECK_EQ_INT(info.last_offset, off - 1);
    CHECK_EQ_INT(info.batches_cached, 4);
    CHECK_EQ_INT(pstate_producer_count(ps), 1);
    /* Non-idempotent batches are never tracked. */
    pstate_record(ps, -1, -1, -1, 5, off, TS);
    CHECK_EQ_INT(pstate_producer_count(ps), 1);
    pstate_destroy(ps);
}

static void test_duplicates_in_window(void) {
    struct producer_state *ps = pstate_create();
    int32_t seq = 0;
    int64_t offsets[LIMIT_PRODUCER_BATCHES_CACHED + 1];
    int64_t off = 100;
    for (int i = 0; i < LIMIT_PRODUCER_BATCHES_CACHED + 1; i++) {
        offsets[i] = off;
        off = record_run(ps, PID, 3, &seq, 1, 2, off);
    }
    /* Each of the newest five, retried, gets its original offset back. */
    for (int i = 1; i < LIMIT_PRODUCER_BATCHES_CACHED + 1; i++) {
        int64_t dup = -1;
        CHECK_EQ_INT(pstate_check(ps, PID, 3, 2 * i, 2, &dup), PSTATE_DUPLICATE);
        CHECK_EQ_INT(dup, offsets[i]);
    }
    /* The sixth-newest fell out of the window: like Kafka, out of order. */
    int64_t dup = -1;
    CHECK_EQ_INT(pstate_check(ps, PID, 3, 0, 2, &dup), PSTATE_OUT_OF_ORDER);
    /* Same first sequence, different last: not the same batch. */
    CHECK_EQ_INT(pstate_check(ps, PID, 3, 4, 3, &dup), PSTATE_OUT_OF_ORDER);
    /* A retry under another epoch is not a duplicate. */
    CHECK_EQ_INT(pstate_check(ps, PID, 2, 4, 2, &dup), PSTATE_FENCED);
    pstate_destroy(ps);
}

static void test_gaps(void) {
    struct producer_state *ps = pstate_create();
    int32_t seq = 0;
    record_run(ps, PID, 0, &seq, 2, 5, 0); /* sequences 0..9 */
    int64_t dup;
    CHECK_EQ_INT(pstate_check(ps, PID, 0, 10, 1, &dup), PSTATE_APPEND);
    CHECK_EQ_INT(pstate_check(ps, PID, 0, 11, 1, &dup), PSTATE_OUT_OF_ORDER);
    CHECK_EQ_INT(pstate_check(ps, PID, 0, 9, 2, &dup), PSTATE_OUT_OF_ORDER);
    CHECK_EQ_INT(pstate_check(ps, PID, 0, 1000, 1, &dup), PSTATE_OUT_OF_ORDER);
    CHECK_EQ_INT(pstate_check(ps, PID, 0, -1, 1, &dup), PSTATE_OUT_OF_ORDER);
    CHECK_EQ_INT(pstate_check(ps, PID, 0, 10, 0, &dup), PSTATE_OUT_OF_ORDER);
    pstate_destroy(ps);
}

static void test_epoch_bump_and_fencing(void) {
    struct producer_state *ps = pstate_create();
    int32_t seq = 0;
    int64_t off = record_run(ps, PID, 5, &seq, 3, 1, 0);
    int64_t dup;
    CHECK_EQ_INT(pstate_check(ps, PID, 6, 3, 1, &dup), PSTATE_OUT_OF_ORDER);
    CHECK_EQ_INT(pstate_check(ps, PID, 6, 0, 1, &dup), PSTATE_APPEND);
    CHECK_EQ_INT(pstate_check(ps, PID, 4, 3, 1, &dup), PSTATE_FENCED);
    pstate_record(ps, PID, 6, 0, 1, off++, TS);
    /* The old epoch is fenced, even for what was its next sequence. */
    CHECK_EQ_INT(pstate_check(ps, PID, 5, 3, 1, &dup), PSTATE_FENCED);
    CHECK_EQ_INT(pstate_check(ps, PID, 5, 0, 1, &dup), PSTATE_FENCED);
    CHECK_EQ_INT(pstate_check(ps, PID, 6, 0, 1, &dup), PSTATE_DUPLICATE);
    CHECK_EQ_INT(dup, off - 1);
    CHECK_EQ_INT(pstate_check(ps, PID, 6, 1, 1, &dup), PSTATE_APPEND);
    /* Epochs compare as signed shorts, as in Kafka. */
    CHECK_EQ_INT(pstate_check(ps, PID, INT16_MAX, 0, 1, &dup), PSTATE_APPEND);
    /* A control batch carrying a bumped epoch forgets the cached batches,
     * so the producer must restart at 0. */
    pstate_record(ps, PID, 7, -1, 1, off++, TS);
    struct pstate_producer_info info;
    CHECK_EQ_INT(pstate_lookup(ps, PID, &info), 0);
    CHECK_EQ_INT(info.epoch, 7);
    CHECK_EQ_INT(info.batches_cached, 0);
    CHECK_EQ_INT(info.last_sequence, -1);
    CHECK_EQ_INT(pstate_check(ps, PID, 7, 1, 1, &dup), PSTATE_OUT_OF_ORDER);
    CHECK_EQ_INT(pstate_check(ps, PID, 7, 0, 1, &dup), PSTATE_APPEND);
    CHECK_EQ_INT(pstate_check(ps, PID, 6, 0, 1, &dup), PSTATE_FENCED);
    pstate_destroy(ps);
}

static void test_wraparound(void) {
    struct producer_state *ps = pstate_create();
    int64_t dup;
    pstate_record(ps, PID, 0, INT32_MAX - 2, 3, 0, TS); /* ends exactly at INT32_MAX */
    CHECK_EQ_INT(pstate_check(ps, PID, 0, 0, 1, &dup), PSTATE_APPEND);
    CHECK_EQ_INT(pstate_check(ps, PID, 0, INT32_MAX, 1, &dup), PSTATE_OUT_OF_ORDER);
    CHECK_EQ_INT(pstate_check(ps, PID, 0, INT32_MAX - 2, 3, &dup), PSTATE_DUPLICATE);
    CHECK_EQ_INT(dup, 0);
    pstate_record(ps, PID, 0, 0, 2, 3, TS);
    CHECK_EQ_INT(pstate_check(ps, PID, 0, 2, 1, &dup), PSTATE_APPEND);

    /* A batch whose sequences straddle the wrap: INT32_MAX-1 .. 1. */
    struct producer_state *ps2 = pstate_create();
    pstate_record(ps2, PID, 0, INT32_MAX - 1, 4, 50, TS);
    struct pstate_producer_info info;
    CHECK_EQ_INT(pstate_lookup(ps2, PID, &info), 0);
    CHECK_EQ_INT(info.last_sequence, 1);
    CHECK_EQ_INT(info.last_offset, 53);
    CHECK_EQ_INT(pstate_check(ps2, PID, 0, INT32_MAX - 1, 4, &dup), PSTATE_DUPLICATE);
    CHECK_EQ_INT(dup, 50);
    CHECK_EQ_INT(pstate_check(ps2, PID, 0, 2, 1, &dup), PSTATE_APPEND);
    CHECK_EQ_INT(pstate_check(ps2, PID, 0, 0, 1, &dup), PSTATE_OUT_OF_ORDER);
    pstate_destroy(ps2);
    pstate_destroy(ps);
}

static void test_unknown_producer(void) {
    struct producer_state *ps = pstate_create();
    int64_t dup;
    /* Kafka 2.5+: no state means any sequence is accepted, never 59. */
    CHECK_EQ_INT(pstate_check(ps, PID, 0, 0, 1, &dup), PSTATE_APPEND);
    CHECK_EQ_INT(pstate_check(ps, PID, 0, 42, 1, &dup), PSTATE_APPEND);
    CHECK_EQ_INT(pstate_check(ps, PID, 9, 12345, 7, &dup), PSTATE_APPEND);
    CHECK_EQ_INT(pstate_check(ps, PID, 0, -1, 1, &dup), PSTATE_OUT_OF_ORDER);
    CHECK(pstate_lookup(ps, PID, &(struct pstate_producer_info){0}) == -ENOENT);
    /* Once accepted it is tracked from where it stood. */
    pstate_record(ps, PID, 0, 42, 1, 0, TS);
    CHECK_EQ_INT(pstate_check(ps, PID, 0, 43, 1, &dup), PSTATE_APPEND);
    CHECK_EQ_INT(pstate_check(ps, PID, 0, 0, 1, &dup), PSTATE_OUT_OF_ORDER);
    pstate_destroy(ps);
}

static void test_eviction_bound(void) {
    struct producer_state *ps = pstate_create_bounded(4);
    for (int64_t pid = 1; pid <= 4; pid++) pstate_record(ps, pid, 0, 0, 1, pid, TS);
    pstate_record(ps, 1, 0, 1, 1, 10, TS); /* 1 becomes the most recent: 2 is now the oldest */
    pstate_record(ps, 5, 0, 0, 1, 11, TS);
    CHECK_EQ_INT(pstate_producer_count(ps), 4);
    struct pstate_producer_info info;
    CHECK(pstate_lookup(ps, 2, &info) == -ENOENT);
    CHECK_EQ_INT(pstate_lookup(ps, 1, &info), 0);
    CHECK_EQ_INT(pstate_lookup(ps, 3, &info), 0);
    CHECK_EQ_INT(pstate_lookup(ps, 5, &info), 0);
    pstate_destroy(ps);

    /* The default bound holds under a flood of producer ids. */
    log_set_level(LOG_LEVEL_ERROR);
    ps = pstate_create();
    for (int64_t pid = 0; pid < PSTATE_PRODUCERS_MAX + 1000; pid++) pstate_record(ps, pid, 0, 0, 1, pid, TS);
    log_set_level(LOG_LEVEL_INFO);
    CHECK_EQ_INT(pstate_producer_count(ps), PSTATE_PRODUCERS_MAX);
    CHECK(pstate_lookup(ps, 999, &info) == -ENOENT);
    CHECK_EQ_INT(pstate_lookup(ps, 1000, &info), 0);
    CHECK_EQ_INT(pstate_lookup(ps, PSTATE_PRODUCERS_MAX + 999, &info), 0);
    pstate_destroy(ps);
}

/* Random records over a small id space against a model LRU list: exercises
 * backward-shift deletion in the hash table. */
#define MODEL_MAX 32
#define MODEL_IDS 100
struct model_entry {
    int64_t pid;
    int64_t ts;
};
static void test_eviction_model(void) {
    log_set_level(LOG_LEVEL_ERROR);
    struct producer_state *ps = pstate_create_bounded(MODEL_MAX);
    struct model_entry model[MODEL_MAX]; /* least recently recorded first */
    int n = 0;
    uint64_t rng = 0x9e3779b97f4a7c15ULL;
    struct pstate_producer_info info;
    for (int step = 0; step < 20000; step++) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        int64_t pid = (int64_t)(rng % MODEL_IDS) * 7919; /* spread, with probe collisions */
        int at = -1;
        for (int i = 0; i < n; i++)
            if (model[i].pid == pid) at = i;
        if (at < 0 && n == MODEL_MAX) at = 0;
        if (at >= 0) {
            memmove(&model[at], &model[at + 1], sizeof(model[0]) * (size_t)(n - at - 1));
            n--;
        }
        model[n++] = (struct model_entry){pid, TS + step};
        pstate_record(ps, pid, 0, 0, 1, step, TS + step);
        if (step % 97 == 0) {
            /* Expire what is older than 200 steps; the model follows. */
            int64_t cut = TS + step - 200;
            pstate_expire(ps, cut + 1000, 1000);
            int kept = 0;
            for (int i = 0; i < n; i++)
                if (model[i].ts > cut) model[kept++] = model[i];
            n = kept;
        }
        CHECK_EQ_INT(pstate_producer_count(ps), n);
    }
    for (int i = 0; i < n; i++) {
        CHECK_EQ_INT(pstate_lookup(ps, model[i].pid, &info), 0);
        CHECK_EQ_INT(info.last_timestamp_ms, model[i].ts);
    }
    for (int64_t id = 0; id < MODEL_IDS; id++) {
        bool in_model = false;
        for (int i = 0; i < n; i++) in_model |= model[i].pid == id * 7919;
        CHECK_EQ_INT(pstate_lookup(ps, id * 7919, &info) == 0, in_model);
    }
    pstate_destroy(ps);
    log_set_level(LOG_LEVEL_INFO);
}

static void test_expiry(void) {
    struct producer_state *ps = pstate_create();
    pstate_record(ps, 1, 0, 0, 1, 0, 1000);
    pstate_record(ps, 2, 0, 0, 1, 1, 5000);
    pstate_record(ps, 3, 0, 0, 1, 2, 9000);
    pstate_record(ps, 1, 0, 1, 1, 3, 2000); /* recent by LRU, old by timestamp */
    pstate_expire(ps, 10000, 8000);          /* expires last timestamp <= 2000 */
    CHECK_EQ_INT(pstate_producer_count(ps), 2);
    struct pstate_producer_info info;
    CHECK(pstate_lookup(ps, 1, &info) == -ENOENT);
    pstate_expire(ps, 10000, PSTATE_EXPIRATION_MS_DEFAULT);
    CHECK_EQ_INT(pstate_producer_count(ps), 2);
    pstate_expire(ps, INT64_MIN + 5, 100); /* no overflow */
    CHECK_EQ_INT(pstate_producer_count(ps), 2);
    pstate_expire(ps, 100000, 1);
    CHECK_EQ_INT(pstate_producer_count(ps), 0);
    int64_t dup;
    CHECK_EQ_INT(pstate_check(ps, 2, 0, 7, 1, &dup), PSTATE_APPEND);
    pstate_destroy(ps);
}

/* ---- snapshots ---- */

static int count_files(const char *suffix) {
    DIR *d = opendir(tmpdir);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name), s = strlen(suffix);
        if (l >= s && strcmp(de->d_name + l - s, suffix) == 0) n++;
    }
    if (d) closedir(d);
    return n;
}

static bool snapshot_exists(int64_t offset) {
    char path[512];
    snprintf(path, sizeof(path), "%s/%020lld.snapshot", tmpdir, (long long)offset);
    return access(path, F_OK) == 0;
}

static void clear_dir(void) {
    DIR *d = opendir(tmpdir);
    struct dirent *de;
    char path[512];
    while (d && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue;
        snprintf(path, sizeof(path), "%s/%s", tmpdir, de->d_name);
        unlink(path);
    }
    if (d) closedir(d);
}

/* State: producer 7 with 6 batches (5 cached), producer 8 straddling the
 * wrap, producer 9 after a marker bump (no batches). Log end = 100. */
static struct producer_state *sample_state(void) {
    struct producer_state *ps = pstate_create();
    int32_t seq = 0;
    int64_t off = record_run(ps, 7, 2, &seq, 6, 3, 10);
    pstate_record(ps, 8, 0, INT32_MAX - 1, 4, off, TS + 1);
    off += 4;
    pstate_record(ps, 9, 0, 0, 1, off++, TS + 2);
    pstate_record(ps, 9, 1, -1, 1, off++, TS + 3);
    return ps;
}

static void check_sample(const struct producer_state *ps) {
    int64_t dup = -1;
    CHECK_EQ_INT(pstate_producer_count(ps), 3);
    for (int i = 1; i < 6; i++) {
        CHECK_EQ_INT(pstate_check(ps, 7, 2, 3 * i, 3, &dup), PSTATE_DUPLICATE);
        CHECK_EQ_INT(dup, 10 + 3 * i);
    }
    CHECK_EQ_INT(pstate_check(ps, 7, 2, 0, 3, &dup), PSTATE_OUT_OF_ORDER);
    CHECK_EQ_INT(pstate_check(ps, 7, 2, 18, 1, &dup), PSTATE_APPEND);
    CHECK_EQ_INT(pstate_check(ps, 7, 1, 18, 1, &dup), PSTATE_FENCED);
    CHECK_EQ_INT(pstate_check(ps, 8, 0, 2, 1, &dup), PSTATE_APPEND);
    CHECK_EQ_INT(pstate_check(ps, 8, 0, INT32_MAX - 1, 4, &dup), PSTATE_DUPLICATE);
    CHECK_EQ_INT(dup, 28);
    CHECK_EQ_INT(pstate_check(ps, 9, 1, 0, 1, &dup), PSTATE_APPEND);
    CHECK_EQ_INT(pstate_check(ps, 9, 1, 1, 1, &dup), PSTATE_OUT_OF_ORDER);
    CHECK_EQ_INT(pstate_check(ps, 9, 0, 1, 1, &dup), PSTATE_FENCED);
    struct pstate_producer_info info;
    CHECK_EQ_INT(pstate_lookup(ps, 9, &info), 0);
    CHECK_EQ_INT(info.last_timestamp_ms, TS + 3);
}

static void test_snapshot_round_trip(void) {
    clear_dir();
    struct producer_state *ps = sample_state();
    CHECK_EQ_INT(pstate_snapshot_write(ps, tmpdir, 100), 0);
    CHECK(snapshot_exists(100));
    CHECK_EQ_INT(count_files(".tmp"), 0);
    struct producer_state *loaded = pstate_create();
    pstate_record(loaded, 12345, 0, 0, 1, 0, TS); /* loading replaces what was there */
    int64_t offset = -1;
    CHECK_EQ_INT(pstate_snapshot_load(loaded, tmpdir, 100, &offset), 0);
    CHECK_EQ_INT(offset, 100);
    check_sample(loaded);
    struct pstate_producer_info info;
    CHECK(pstate_lookup(loaded, 12345, &info) == -ENOENT);

    /* LRU order survives: with room for 3, a new producer evicts 7. */
    struct producer_state *small = pstate_create_bounded(3);
    CHECK_EQ_INT(pstate_snapshot_load(small, tmpdir, 1000, &offset), 0);
    CHECK_EQ_INT(offset, 100);
    pstate_record(small, 50, 0, 0, 1, 100, TS);
    CHECK(pstate_lookup(small, 7, &info) == -ENOENT);
    CHECK_EQ_INT(pstate_lookup(small, 8, &info), 0);

    /* An empty state round-trips too. */
    struct producer_state *empty = pstate_create();
    CHECK_EQ_INT(pstate_snapshot_write(empty, tmpdir, 0), 0);
    /* A state that contradicts the offset is refused, not written. */
    CHECK(pstate_snapshot_write(ps, tmpdir, 30) == -EINVAL); /* logs an error line */
    CHECK(!snapshot_exists(30));
    CHECK_EQ_INT(pstate_snapshot_load(empty, tmpdir, 99, &offset), 0);
    CHECK_EQ_INT(offset, 0);
    CHECK_EQ_INT(pstate_producer_count(empty), 0);
    pstate_destroy(empty);
    pstate_destroy(small);
    pstate_destroy(loaded);
    pstate_destroy(ps);
}

static void test_snapshot_keeps_two(void) {
    clear_dir();
    struct producer_state *ps = sample_state();
    CHECK_EQ_INT(pstate_snapshot_write(ps, tmpdir, 100), 0);
    CHECK_EQ_INT(pstate_snapshot_write(ps, tmpdir, 200), 0);
    CHECK_EQ_INT(pstate_snapshot_write(ps, tmpdir, 300), 0);
    CHECK_EQ_INT(count_files(".snapshot"), PSTATE_SNAPSHOTS_KEPT);
    CHECK(!snapshot_exists(100));
    CHECK(snapshot_exists(200) && snapshot_exists(300));
    /* Rewriting the same offset replaces it. */
    CHECK_EQ_INT(pstate_snapshot_write(ps, tmpdir, 300), 0);
    CHECK_EQ_INT(count_files(".snapshot"), 2);
    pstate_destroy(ps);
}

static void damage(int64_t offset, long at, int truncate_to) {
    char path[512];
    snprintf(path, sizeof(path), "%s/%020lld.snapshot", tmpdir, (long long)offset);
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0);
    if (truncate_to >= 0) {
        CHECK_EQ_INT(ftruncate(fd, truncate_to), 0);
    } else {
        uint8_t b;
        CHECK_EQ_INT(pread(fd, &b, 1, at), 1);
        b ^= 0x40;
        CHECK_EQ_INT(pwrite(fd, &b, 1, at), 1);
    }
    close(fd);
}

static void test_snapshot_corrupt_fallback(void) {
    clear_dir();
    struct producer_state *ps = sample_state();
    CHECK_EQ_INT(pstate_snapshot_write(ps, tmpdir, 100), 0);
    pstate_record(ps, 77, 0, 0, 1, 100, TS);
    CHECK_EQ_INT(pstate_snapshot_write(ps, tmpdir, 200), 0);
    damage(200, 60, -1);
    struct producer_state *loaded = pstate_create();
    int64_t offset = -1;
    CHECK_EQ_INT(pstate_snapshot_load(loaded, tmpdir, 500, &offset), 0);
    CHECK_EQ_INT(offset, 100);
    check_sample(loaded); /* exactly the older state: nothing of 77 */
    CHECK(!snapshot_exists(200));

    /* A short file is damaged too; with nothing older, start empty at 0. */
    damage(100, 0, 30);
    CHECK_EQ_INT(pstate_snapshot_load(loaded, tmpdir, 500, &offset), 0);
    CHECK_EQ_INT(offset, 0);
    CHECK_EQ_INT(pstate_producer_count(loaded), 0);
    CHECK_EQ_INT(count_files(".snapshot"), 0);

    /* A damaged header (each byte of the first 24) is always caught. */
    for (long at = 0; at < 24; at++) {
        CHECK_EQ_INT(pstate_snapshot_write(ps, tmpdir, 200), 0);
        damage(200, at, -1);
        log_set_level(LOG_LEVEL_ERROR);
        CHECK_EQ_INT(pstate_snapshot_load(loaded, tmpdir, 500, &offset), 0);
        log_set_level(LOG_LEVEL_INFO);
        CHECK_EQ_INT(offset, 0);
    }
    pstate_destroy(loaded);
    pstate_destroy(ps);
}

static void test_snapshot_above_max_offset(void) {
    clear_dir();
    struct producer_state *ps = sample_state();
    CHECK_EQ_INT(pstate_snapshot_write(ps, tmpdir, 100), 0);
    CHECK_EQ_INT(pstate_snapshot_write(ps, tmpdir, 200), 0);
    /* A leftover temporary file from a crashed write goes too. */
    char path[512];
    snprintf(path, sizeof(path), "%s/%020d.snapshot.tmp", tmpdir, 300);
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    CHECK(fd >= 0);
    close(fd);
    struct producer_state *loaded = pstate_create();
    int64_t offset = -1;
    CHECK_EQ_INT(pstate_snapshot_load(loaded, tmpdir, 150, &offset), 0);
    CHECK_EQ_INT(offset, 100);
    CHECK(!snapshot_exists(200));
    CHECK(snapshot_exists(100));
    CHECK_EQ_INT(count_files(".tmp"), 0);
    check_sample(loaded);
    /* Unrelated files in the partition directory are left alone. */
    snprintf(path, sizeof(path), "%s/%020d.log", tmpdir, 0);
    fd = open(path, O_WRONLY | O_CREAT, 0644);
    close(fd);
    CHECK_EQ_INT(pstate_snapshot_load(loaded, tmpdir, 50, &offset), 0);
    CHECK_EQ_INT(offset, 0);
    CHECK_EQ_INT(count_files(".log"), 1);
    /* A missing directory is simply no snapshot. */
    CHECK_EQ_INT(pstate_snapshot_load(loaded, "/tmp/does-not-exist-pstate", 50, &offset), 0);
    CHECK_EQ_INT(offset, 0);
    pstate_destroy(loaded);
    pstate_destroy(ps);
}

/* The snapshot bytes without a file (the start-up summary keeps them):
 * decoding gives back the producers with their cached batches; damaged
 * bytes are refused and leave the state empty. */
static void test_snapshot_bytes_round_trip(void) {
    struct producer_state *ps = pstate_create();
    int32_t seq = 0;
    int64_t off = record_run(ps, PID, 3, &seq, 3, 2, 100);
    int32_t seq2 = 0;
    off = record_run(ps, PID + 1, 0, &seq2, 1, 4, off);
    size_t len = 0;
    uint8_t *buf = pstate_snapshot_encode(ps, off, &len);
    CHECK(buf != NULL);
    if (!buf) return;
    struct producer_state *back = pstate_create();
    CHECK_EQ_INT(pstate_snapshot_decode(back, buf, len, off), 0);
    CHECK_EQ_INT(pstate_producer_count(back), 2);
    int64_t dup = -1;
    CHECK_EQ_INT(pstate_check(back, PID, 3, 4, 2, &dup), PSTATE_DUPLICATE);
    CHECK_EQ_INT(dup, 104);
    CHECK_EQ_INT(pstate_check(back, PID, 3, 6, 1, &dup), PSTATE_APPEND);
    CHECK_EQ_INT(pstate_snapshot_decode(back, buf, len, off + 1), -EBADMSG); /* another offset */
    CHECK_EQ_INT(pstate_producer_count(back), 0);
    buf[len - 1] ^= 1;
    CHECK_EQ_INT(pstate_snapshot_decode(back, buf, len, off), -EBADMSG);
    CHECK_EQ_INT(pstate_snapshot_decode(back, buf, len - 3, off), -EBADMSG);
    CHECK_EQ_INT(pstate_producer_count(back), 0);
    free(buf);
    pstate_destroy(back);
    pstate_destroy(ps);
}

int main(void) {
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    TEST_RUN(test_in_order);
    TEST_RUN(test_duplicates_in_window);
    TEST_RUN(test_gaps);
    TEST_RUN(test_epoch_bump_and_fencing);
    TEST_RUN(test_wraparound);
    TEST_RUN(test_unknown_producer);
    TEST_RUN(test_eviction_bound);
    TEST_RUN(test_eviction_model);
    TEST_RUN(test_expiry);
    TEST_RUN(test_snapshot_round_trip);
    TEST_RUN(test_snapshot_keeps_two);
    TEST_RUN(test_snapshot_corrupt_fallback);
    TEST_RUN(test_snapshot_above_max_offset);
    TEST_RUN(test_snapshot_bytes_round_trip);
    clear_dir();
    rmdir(tmpdir);
    TEST_EXIT();
}
