/*
 * The log's side of compaction, on the event loop: how dirty a log is,
 * the job handed to a cleaner thread (cleaner.c), the swap of its result,
 * and the recovery of a swap a crash interrupted.
 *
 * Files (all in the partition directory):
 *   cleaner-offset-checkpoint   ASCII "0\n<offset>\n" (as log-start-offset):
 *       the first offset not yet cleaned. Records below it were
 *       deduplicated against everything below it. Replaced atomically
 *       after each swap; absent until the first clean (then: the log start).
 *   <B>.<E>.log.cleaned         a cleaner thread's output for the closed
 *       segments whose base offsets lie in [B, E), written and fdatasynced
 *       by the thread. Not yet part of the log: removed at open.
 *   <B>.<E>.log.swap            the same file once the thread committed to
 *       it (rename, then fsync of the directory, group by group), which
 *       it does only while the loop has not removed any of the job's
 *       segments; from then on the loop does not remove them until it has
 *       swapped (log_clean_blocks_removal). From that moment it replaces
 *       the segments in [B, E): the loop (or, after a crash, plog_open)
 *       removes every segment file (.log, .index, .timeindex) with a base
 *       in [B, E), then renames the swap file to <B>.log (or removes it
 *       when empty: nothing survived). Indexes of the new segment are
 *       rebuilt from it at open. The loop's renames are not synced: the
 *       thread's checkpoint write after them syncs the directory, and
 *       until then recovery redoes them from the .swap.
 *   B and E are 20-digit decimal offsets; E is the base of the segment
 *   that followed the range when the clean was prepared.
 *
 * A crash at any point leaves either the old segments (no .swap yet) or,
 * after recovery, the new one: never both, never neither. Groups of one
 * clean are swapped oldest first, each committed before the next starts,
 * so a crash between two can only leave older records removed while a
 * newer group still holds its old copy (superseded values, tombstones),
 * never a removed tombstone with the value it deleted still present.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "storage/cleaner_internal.h"
#include "storage/fileio.h"
#include "storage/log_internal.h"
#include "storage/storage_limits.h"

/* How many closed segments from the first may be cleaned now:
 * min.compaction.lag.ms stops at the first one holding a newer record. */
static uint32_t cleanable_segments(struct plog *log, int64_t now_ms) {
    uint32_t n = log->nsegs - 1;
    if (log->cfg.min_compaction_lag_ms <= 0) return n;
    for (uint32_t i = 0; i < n; i++) {
        struct segment *s = log->segs[i];
        if (log_load_segment(log, s) != 0) return i;
        int64_t largest = segment_largest_timestamp(s);
        if (largest < 0 || now_ms - largest < log->cfg.min_compaction_lag_ms) return i;
    }
    return n;
}

/* max.compaction.lag.ms: the first dirty segment's first batch is older. */
static bool max_lag_passed(struct plog *log, uint32_t first_dirty_seg, int64_t now_ms) {
    if (log->cfg.max_compaction_lag_ms <= 0 || log->cfg.max_compaction_lag_ms == INT64_MAX) return false;
    struct segment *s = log->segs[first_dirty_seg];
    struct rb_header h;
    if (log_load_segment(log, s) != 0 || s->size == 0 || segment_read_header(s, 0, &h) != 0) return false;
    return h.max_timestamp >= 0 && now_ms - h.max_timestamp > log->cfg.max_compaction_lag_ms;
}

double log_clean_dirty_ratio(struct plog *log, int64_t now_ms) {
    if (!log->cfg.compact || log->failed || log->clean_job || now_ms < log->next_clean_ms || log->nsegs < 2)
        return -1;
    uint32_t n = cleanable_segments(log, now_ms);
    uint64_t clean = 0, dirty = 0;
    uint32_t first_dirty_seg = n;
    for (uint32_t i = 0; i < n; i++) {
        const struct segment *s = log->segs[i];
        if (s->next_offset <= log->first_dirty) {
            clean += s->size;
        } else {
            dirty += s->size;
            if (first_dirty_seg == n) first_dirty_seg = i;
        }
    }
    if (dirty == 0) return -1;
    double ratio = (double)dirty / (double)(clean + dirty);
    if (ratio >= log->cfg.min_cleanable_ratio) return ratio;
    return max_lag_passed(log, first_dirty_seg, now_ms) ? 1.0 + ratio : -1;
}

struct cleaner_job *log_clean_prepare(struct plog *log, int64_t now_ms, uint64_t map_slots) {
    uint32_t n = cleanable_segments(log, now_ms);
    if (n == 0) return NULL;
    struct cleaner_job *job = calloc(1, sizeof(*job));
    if (!job) return NULL;
    job->dirfd = -1;
    /* The thread's commit changes the directory: a clean-shutdown marker
     * must not outlive that (once per open, and usually long gone). */
    if (log_begin_write(log) != 0) {
        free(job);
        return NULL;
    }
    job->dir = strdup(log->dir);
    job->segs = calloc(n, sizeof(*job->segs));
    job->dirfd = log_open_dirfd(log);
    if (!job->dir || !job->segs || job->dirfd < 0) {
        cleaner_job_free(job);
        return NULL;
    }
    for (uint32_t i = 0; i < n; i++)
        job->segs[i] = (struct clean_segment){log->segs[i]->base_offset, log->segs[i + 1]->base_offset,
                                              log->segs[i]->size};
    job->nsegs = n;
    job->first_dirty = log->first_dirty;
    job->now_ms = now_ms;
    job->delete_retention_ms = log->cfg.delete_retention_ms;
    job->segment_bytes = log->cfg.segment_bytes;
    job->index_interval_bytes = log->cfg.index_interval_bytes;
    job->map_slots = map_slots;
    atomic_init(&job->cancel, false);
    job->log = log;
    log->clean_job = job;
    log_debug("storage", "clean queued dir=%s segments=%u first_dirty=%lld", log->dir, n,
              (long long)log->first_dirty);
    return job;
}

/* The segments the job read are still the log's first ones, unchanged
 * (true for a committed job unless a segment was repaired meanwhile). */
static bool job_still_valid(const struct plog *log, const struct cleaner_job *job) {
    if (log->nsegs <= job->nsegs) return false;
    for (uint32_t i = 0; i < job->nsegs; i++) {
        const struct segment *s = log->segs[i];
        if (s->base_offset != job->segs[i].base || s->size != job->segs[i].size ||
            log->segs[i + 1]->base_offset != job->segs[i].end)
            return false;
    }
    return true;
}

/* Moves the group's cleaned indexes into place (or drops them when the
 * group is empty). A missing or bad one is rebuilt when the segment opens. */
static void place_indexes(int dirfd, const struct clean_group *g) {
    static const char *const kinds[] = {".index", ".timeindex"};
    for (size_t i = 0; i < 2; i++) {
        char from[CLEAN_FILE_NAME_BYTES], to[FIO_SEGMENT_NAME_BYTES];
        clean_file_name(from, g->base, g->end, kinds[i], CLEAN_CLEANED_SUFFIX);
        fio_segment_name(to, g->base, kinds[i]);
        if (g->bytes_out > 0) renameat(dirfd, from, dirfd, to);
        else unlinkat(dirfd, from, 0);
    }
}

static void retire_file(void *ctx, const char *path) { cleaner_defer_unlink(ctx, path); }

/* Swaps one committed group in; *opened gets the new segment (NULL if
 * nothing survived). Returns -errno; the old segments are out of the
 * array whatever happens (the caller poisons the log on failure and the
 * next open completes the swap from the .swap file). */
/* Where the loop's part of a swap spends its time (µs), for the log line. */
struct swap_timing {
    uint64_t retire_us, rename_us, open_us, other_us;
};

static uint64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int swap_group(struct plog *log, int dirfd, struct cleaner *cleaner, const struct clean_group *g, uint32_t idx,
                      struct segment **opened, struct swap_timing *t) {
    char swap[CLEAN_FILE_NAME_BYTES], final[FIO_SEGMENT_NAME_BYTES];
    clean_file_name(swap, g->base, g->end, ".log", CLEAN_SWAP_SUFFIX);
    fio_segment_name(final, g->base, ".log");
    *opened = NULL;
    int rc = 0;
    uint64_t t0 = now_us();
    /* Renamed away now, unlinked by a cleaner thread later: freeing the
     * blocks of a large file costs milliseconds, which the loop must not pay. */
    for (uint32_t k = 0; k < g->count; k++) {
        int rrc = segment_retire(log->segs[idx + k], retire_file, cleaner);
        if (rc == 0) rc = rrc;
    }
    uint64_t t1 = now_us();
    t->retire_us += t1 - t0;
    /* An old file still in place must not meet the new segment under its
     * final name: leave the .swap for the next open to complete (the
     * caller poisons the log). */
    if (rc != 0) return rc;
    /* The old segment of the same base is gone, indexes included: the new
     * ones cannot be mistaken for its. A crash from here on is completed
     * at open from the .swap, which also drops these indexes (rebuilt). */
    place_indexes(dirfd, g);
    /* Not fsynced here: the thread's checkpoint write after the swap
     * makes it durable, and until then recovery completes it from the
     * .swap. No sync at all on the event loop. */
    if (g->bytes_out > 0) rc = renameat(dirfd, swap, dirfd, final) != 0 ? -errno : 0;
    else rc = unlinkat(dirfd, swap, 0) != 0 ? -errno : 0;
    uint64_t t2 = now_us();
    t->rename_us += t2 - t1;
    if (rc == 0 && g->bytes_out > 0) {
        /* The thread wrote the indexes: the cheap check suffices, and a
         * failing one falls back to the full check, which rebuilds them. */
        struct segment_recovery rec = {0};
        rc = segment_open(log->dir, g->base, SEGMENT_CHECK_TAIL, true, log->cfg.index_interval_bytes, &rec, opened);
        if (rc == 0 && rec.indexes_rebuilt > 0)
            log_warn("storage", "cleaned segment's indexes rebuilt dir=%s base_offset=%lld", log->dir,
                     (long long)g->base);
    }
    t->open_us += now_us() - t2;
    return rc;
}

/* The swap proper, on the loop: renames and opens only (the thread
 * synced everything that must be durable before, and syncs the rest
 * after). */
static int apply(struct plog *log, struct cleaner_job *job, struct swap_timing *t) {
    uint64_t t0 = now_us();
    int dirfd = log_open_dirfd(log);
    t->other_us += now_us() - t0;
    if (dirfd < 0) return dirfd;
    int rc = 0;
    uint32_t removed = 0; /* entries gone from log->segs so far */
    for (uint32_t gi = 0; gi < job->ngroups && rc == 0; gi++) {
        const struct clean_group *g = &job->groups[gi];
        uint32_t idx = g->first - removed;
        struct segment *ns;
        rc = swap_group(log, dirfd, job->cleaner, g, idx, &ns, t);
        uint32_t put = ns ? 1 : 0;
        if (ns) log->segs[idx] = ns;
        memmove(log->segs + idx + put, log->segs + idx + g->count, (log->nsegs - idx - g->count) * sizeof(*log->segs));
        log->nsegs -= g->count - put;
        removed += g->count - put;
    }
    uint64_t t1 = now_us();
    close(dirfd);
    job->swapped = true;
    log->max_ts_stale = true;
    /* A clean that emptied the first group moves the start: the epochs
     * below it go in memory; persisting them would be a sync here. */
    log_after_start_moved_unpersisted(log);
    if (rc != 0) log_poison(log, rc, "clean_swap");
    else log->first_dirty = job->clean_end;
    t->other_us += now_us() - t1;
    return rc;
}

void log_clean_release(struct plog *log) {
    if (log->clean_job) log->clean_job->log = NULL;
    log->clean_job = NULL;
}

bool log_clean_blocks_removal(struct plog *log) {
    return log->clean_job && cleaner_job_blocks_removal(log->clean_job);
}

int log_clean_finish(struct plog *log, struct cleaner_job *job, int64_t next_clean_ms) {
    log->next_clean_ms = next_clean_ms;
    if (!job->committed) return job->rc != 0 ? job->rc : -ESTALE; /* the thread removed its files */
    if (job->rc != 0 || log->failed || !job_still_valid(log, job)) {
        /* Committed, so the .swap files replace the old segments at the
         * next open; the log must not serve or write anything else. */
        if (!log->failed) log_poison(log, job->rc != 0 ? job->rc : -ESTALE, "clean_commit");
        return job->rc != 0 ? job->rc : -ESTALE;
    }
    uint64_t before = 0, after = 0;
    for (uint32_t i = 0; i < job->ngroups; i++) {
        after += job->groups[i].bytes_out;
        for (uint32_t k = 0; k < job->groups[i].count; k++) before += job->segs[job->groups[i].first + k].size;
    }
    struct swap_timing t = {0};
    uint64_t t0 = now_us();
    int rc = apply(log, job, &t);
    /* The swap is the part that runs on the event loop: worth watching. */
    uint64_t swap_us = now_us() - t0;
    if (rc == 0)
        log_info("storage", "log cleaned dir=%s segments_in=%u segments_out=%u bytes_in=%llu bytes_out=%llu "
                 "records_removed=%llu first_dirty=%lld ms=%llu swap_us=%llu thread_commit_us=%llu "
                 "swap_retire_us=%llu swap_rename_us=%llu swap_open_us=%llu swap_other_us=%llu", log->dir,
                 job->ngroups ? job->groups[job->ngroups - 1].first + job->groups[job->ngroups - 1].count : 0,
                 job->ngroups, (unsigned long long)before, (unsigned long long)after,
                 (unsigned long long)job->records_removed, (long long)log->first_dirty,
                 (unsigned long long)job->busy_ms, (unsigned long long)swap_us, (unsigned long long)job->commit_us,
                 (unsigned long long)t.retire_us, (unsigned long long)t.rename_us, (unsigned long long)t.open_us,
                 (unsigned long long)t.other_us);
    return rc;
}

/* ---- open ---- */

void log_clean_load_checkpoint(struct plog *log, int dirfd) {
    int64_t v;
    int rc = log_read_offset_file(dirfd, LOG_CLEANER_CHECKPOINT_FILE, &v);
    if (rc == -EUCLEAN) log_warn("storage", "ignoring unreadable %s dir=%s", LOG_CLEANER_CHECKPOINT_FILE, log->dir);
    if (rc != 0 || v < log->start_offset) v = log->start_offset;
    if (v > plog_end_offset(log)) v = plog_end_offset(log);
    log->first_dirty = v;
}

struct swap_range {
    int64_t base, end;
};

static bool in_swap_range(const struct swap_range *r, uint32_t n, int64_t base) {
    for (uint32_t i = 0; i < n; i++)
        if (base >= r[i].base && base < r[i].end) return true;
    return false;
}

struct swap_scan {
    struct swap_range *ranges;
    uint32_t n;
    struct log_recovery_report *rep;
    const char *dir;
};

static int collect_swap(void *ctx, int dirfd, const char *name) {
    (void)dirfd;
    struct swap_scan *sc = ctx;
    struct swap_range r;
    if (clean_parse_file_name(name, CLEAN_SWAP_SUFFIX, &r.base, &r.end) != 0) return 0;
    if (sc->n >= STORAGE_SEGMENTS_PER_LOG_MAX) return -EMFILE;
    struct swap_range *nr = realloc(sc->ranges, (sc->n + 1) * sizeof(*nr));
    if (!nr) return -ENOMEM;
    sc->ranges = nr;
    sc->ranges[sc->n++] = r;
    return 0;
}

static int remove_replaced(void *ctx, int dirfd, const char *name) {
    struct swap_scan *sc = ctx;
    static const char *const suffixes[] = {".log", ".index", ".timeindex"};
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        int64_t base;
        if (fio_parse_segment_name(name, suffixes[i], &base) != 0 || !in_swap_range(sc->ranges, sc->n, base)) continue;
        if (unlinkat(dirfd, name, 0) != 0 && errno != ENOENT) return -errno;
        log_warn("storage", "completing interrupted clean: removed replaced file dir=%s file=%s", sc->dir, name);
        sc->rep->stray_files_removed++;
    }
    return 0;
}

int log_clean_recover(struct plog *log, int dirfd, struct log_recovery_report *rep) {
    struct swap_scan sc = {.rep = rep, .dir = log->dir};
    int rc = fio_dir_each(dirfd, collect_swap, &sc);
    if (rc == 0 && sc.n > 0) rc = fio_dir_each(dirfd, remove_replaced, &sc);
    for (uint32_t i = 0; rc == 0 && i < sc.n; i++) {
        char swap[CLEAN_FILE_NAME_BYTES], final[FIO_SEGMENT_NAME_BYTES];
        clean_file_name(swap, sc.ranges[i].base, sc.ranges[i].end, ".log", CLEAN_SWAP_SUFFIX);
        fio_segment_name(final, sc.ranges[i].base, ".log");
        struct stat st;
        if (fstatat(dirfd, swap, &st, 0) != 0) rc = -errno;
        else if (st.st_size == 0) rc = unlinkat(dirfd, swap, 0) != 0 ? -errno : 0;
        else rc = renameat(dirfd, swap, dirfd, final) != 0 ? -errno : 0;
        if (rc == 0)
            log_warn("storage", "completed interrupted clean dir=%s base_offset=%lld end=%lld bytes=%lld", log->dir,
                     (long long)sc.ranges[i].base, (long long)sc.ranges[i].end, (long long)st.st_size);
    }
    if (rc == 0 && sc.n > 0) rc = fio_fsync(dirfd);
    free(sc.ranges);
    if (rc != 0) log_error("storage", "cannot complete interrupted clean dir=%s errno=%d", log->dir, -rc);
    return rc;
}
