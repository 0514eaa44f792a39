/*
 * Opening, recovering and closing a partition log.
 *
 * Partition directory contents:
 *   <base>.log, <base>.index, <base>.timeindex   segments (segment.c, index.c)
 *   log-start-offset    the DeleteRecords start offset, ASCII:
 *                         line 1: format version, "0"
 *                         line 2: the offset in decimal
 *                       replaced atomically (write .tmp, fsync, rename, fsync dir);
 *                       absent until the first DeleteRecords.
 *   leader-epoch-checkpoint   the leader-epoch cache (format in epoch_cache.c);
 *                       absent until the first append.
 *   clean-shutdown      empty; written by plog_close after everything is
 *                       synced. plog_open leaves it in place; it is removed
 *                       (durably) before the first change to any file of
 *                       the directory (log_begin_write), so its presence
 *                       proves the files are exactly as the last clean
 *                       close left them, and a log opened and closed
 *                       without writes costs no fsync at all.
 *   cleaner-offset-checkpoint   the first offset not yet compacted, same
 *                       format as log-start-offset (log_clean.c).
 *   <base>.<end>.log.cleaned   a clean being written (removed at open);
 *   <base>.<end>.log.swap      a clean being swapped in (completed at open:
 *                       see log_clean.c).
 *   *.tmp *.deleted *.cleaned *.swap   other leftovers of interrupted work; removed at open.
 *
 * Recovery rules (see docs/STORAGE.md):
 *   - after a clean shutdown only the last segment is checked
 *     (SEGMENT_CHECK_TAIL); the others are opened unloaded, with their size
 *     from stat and their end taken from the next segment's name, and get
 *     SEGMENT_CHECK_TAIL on first use;
 *   - otherwise the last segment gets SEGMENT_CHECK_FULL (rolls sync the
 *     segment they seal, so only the active one can be torn) and the
 *     others SEGMENT_CHECK_DEEP;
 *   - a segment left with no batch is deleted unless it is the only one;
 *   - index files without a .log are removed;
 *   - segments must not overlap in offsets, else the open fails (-EUCLEAN);
 *   - leader-epoch entries starting at or past the recovered log end are
 *     dropped, and those below the log start folded into one at the start.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "storage/cleaner.h"
#include "storage/cleaner_internal.h"
#include "storage/epoch_cache.h"
#include "storage/fileio.h"
#include "storage/log_internal.h"
#include "storage/storage_limits.h"

#define LOG_CLEAN_MARKER "clean-shutdown"
#define LOG_START_OFFSET_FILE "log-start-offset"
#define LOG_START_OFFSET_VERSION 0
/* "0\n" + 19 digits + "\n" with room to spare; anything longer is damage. */
#define LOG_START_OFFSET_FILE_BYTES_MAX 64
#define LOG_DIR_MODE 0755

static const char *const stray_suffixes[] = {".tmp", ".deleted", ".cleaned", ".swap"};

static bool has_suffix(const char *name, const char *suffix) {
    size_t n = strlen(name), m = strlen(suffix);
    return n >= m && strcmp(name + n - m, suffix) == 0;
}

bool log_stray_file(const char *name) {
    for (size_t i = 0; i < sizeof(stray_suffixes) / sizeof(stray_suffixes[0]); i++)
        if (has_suffix(name, stray_suffixes[i])) return true;
    return false;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

struct listing {
    int64_t *logs;
    uint32_t nlogs;
    int64_t *indexes; /* bases of .index/.timeindex files, possibly repeated */
    uint32_t nindexes;
    uint32_t swaps;   /* cleaner swaps a crash interrupted (log_clean.c completes them) */
};

static int push_base(int64_t **arr, uint32_t *n, int64_t base) {
    if (*n >= STORAGE_SEGMENTS_PER_LOG_MAX * 2) return -EMFILE;
    if (*n == 0 || (*n >= 8 && (*n & (*n - 1)) == 0)) { /* capacity 8, then doubling */
        int64_t *na = realloc(*arr, (*n ? *n * 2 : 8) * sizeof(**arr));
        if (!na) return -ENOMEM;
        *arr = na;
    }
    (*arr)[(*n)++] = base;
    return 0;
}

struct list_ctx {
    struct plog *log;
    struct listing *ls;
    struct log_recovery_report *rep;
};

static int list_entry(void *opaque, int dirfd, const char *name) {
    struct list_ctx *lc = opaque;
    int64_t base, end;
    if (clean_parse_file_name(name, CLEAN_SWAP_SUFFIX, &base, &end) == 0) {
        lc->ls->swaps++;
        return 0;
    }
    if (log_stray_file(name)) {
        log_warn("storage", "removing stray file dir=%s file=%s", lc->log->dir, name);
        if (unlinkat(dirfd, name, 0) == 0) lc->rep->stray_files_removed++;
    } else if (fio_parse_segment_name(name, ".log", &base) == 0) {
        if (base > STORAGE_OFFSET_MAX) {
            log_warn("storage", "ignoring segment with impossible base offset dir=%s file=%s", lc->log->dir, name);
            return 0;
        }
        return push_base(&lc->ls->logs, &lc->ls->nlogs, base);
    } else if (fio_parse_segment_name(name, ".index", &base) == 0 ||
               fio_parse_segment_name(name, ".timeindex", &base) == 0) {
        return push_base(&lc->ls->indexes, &lc->ls->nindexes, base);
    }
    return 0;
}

/* Collects segment bases and removes leftovers of interrupted work. */
static int list_dir(struct plog *log, int dirfd, struct listing *ls, struct log_recovery_report *rep) {
    struct list_ctx lc = {log, ls, rep};
    int rc = fio_dir_each(dirfd, list_entry, &lc);
    if (rc == -EMFILE) log_error("storage", "too many segment files dir=%s", log->dir);
    if (rc != 0) return rc;
    if (ls->nlogs > STORAGE_SEGMENTS_PER_LOG_MAX) {
        log_error("storage", "too many segments dir=%s segments=%u max=%d", log->dir, ls->nlogs,
                  STORAGE_SEGMENTS_PER_LOG_MAX);
        return -EMFILE;
    }
    if (ls->nlogs > 0) qsort(ls->logs, ls->nlogs, sizeof(*ls->logs), cmp_i64);
    return 0;
}

static void remove_orphan_indexes(struct plog *log, int dirfd, const struct listing *ls,
                                  struct log_recovery_report *rep) {
    for (uint32_t i = 0; i < ls->nindexes; i++) {
        int64_t base = ls->indexes[i];
        if (ls->nlogs > 0 && bsearch(&base, ls->logs, ls->nlogs, sizeof(*ls->logs), cmp_i64)) continue;
        static const char *const suffixes[] = {".index", ".timeindex"};
        for (size_t k = 0; k < 2; k++) {
            char name[FIO_SEGMENT_NAME_BYTES];
            fio_segment_name(name, base, suffixes[k]);
            if (unlinkat(dirfd, name, 0) == 0) {
                log_warn("storage", "removed index without log dir=%s file=%s", log->dir, name);
                rep->stray_files_removed++;
            }
        }
    }
}

int log_read_offset_file(int dirfd, const char *name, int64_t *out) {
    char buf[LOG_START_OFFSET_FILE_BYTES_MAX];
    size_t len;
    int rc = fio_read_small(dirfd, name, buf, sizeof(buf), &len);
    if (rc == -EFBIG) rc = -EUCLEAN;
    if (rc != 0) return rc;
    char *p = buf, *endp;
    errno = 0;
    long long version = strtoll(p, &endp, 10);
    if (errno || endp == p || *endp != '\n' || version != LOG_START_OFFSET_VERSION) return -EUCLEAN;
    p = endp + 1;
    long long v = strtoll(p, &endp, 10);
    if (errno || endp == p || *endp != '\n' || endp[1] != '\0' || v < 0) return -EUCLEAN;
    *out = v;
    return 0;
}

int log_write_offset_file_at(int dirfd, const char *name, int64_t offset) {
    char buf[LOG_START_OFFSET_FILE_BYTES_MAX];
    int n = snprintf(buf, sizeof(buf), "%d\n%" PRId64 "\n", LOG_START_OFFSET_VERSION, offset);
    return fio_write_atomic(dirfd, name, buf, (size_t)n);
}

int log_write_offset_file(struct plog *log, const char *name, int64_t offset) {
    int dirfd = log_open_dirfd(log);
    int rc = dirfd < 0 ? dirfd : log_write_offset_file_at(dirfd, name, offset);
    if (dirfd >= 0) close(dirfd);
    if (rc != 0) log_error("storage", "cannot persist offset file dir=%s file=%s offset=%lld errno=%d", log->dir,
                           name, (long long)offset, -rc);
    return rc;
}

int log_write_start_offset(struct plog *log, int64_t offset) {
    return log_write_offset_file(log, LOG_START_OFFSET_FILE, offset);
}

int log_begin_write(struct plog *log) {
    if (!log->clean_marker) return 0;
    int dirfd = log_open_dirfd(log);
    if (dirfd < 0) return dirfd;
    int rc = 0;
    if (unlinkat(dirfd, LOG_CLEAN_MARKER, 0) != 0 && errno != ENOENT) rc = -errno;
    if (rc == 0) rc = fio_fsync(dirfd);
    close(dirfd);
    if (rc != 0) {
        log_error("storage", "cannot remove clean-shutdown marker before writing dir=%s errno=%d", log->dir, -rc);
        return rc;
    }
    log->clean_marker = false;
    return 0;
}

/* Leader epochs found in batches a full check walks (the unflushed tail
 * after a crash), as Kafka's segment recovery does: the checkpoint may
 * predate them. */
struct epoch_replay {
    struct epoch_cache *epochs;
    bool changed;
};

static void epoch_from_batch(void *ctx, const struct rb_header *h) {
    struct epoch_replay *r = ctx;
    if (h->leader_epoch >= 0 && h->leader_epoch > ecache_latest_epoch(r->epochs) &&
        ecache_assign(r->epochs, h->leader_epoch, h->base_offset) > 0)
        r->changed = true;
}

/* After a clean shutdown: the last segment is checked, the others only
 * stat'ed. A check that wants to repair first removes the marker. */
static int open_segments_clean(struct plog *log, const struct listing *ls, struct segment_recovery *rec) {
    int rc = 0;
    for (uint32_t i = 0; i + 1 < ls->nlogs && rc == 0; i++) {
        struct segment *s;
        if ((rc = log_reserve_segment(log)) != 0) break;
        rc = segment_open_lazy(log->dir, ls->logs[i], ls->logs[i + 1], &s);
        if (rc == 0) log->segs[log->nsegs++] = s;
    }
    if (rc != 0 || ls->nlogs == 0) return rc;
    struct segment *s;
    int64_t base = ls->logs[ls->nlogs - 1];
    if ((rc = log_reserve_segment(log)) != 0) return rc;
    rc = segment_open(log->dir, base, SEGMENT_CHECK_TAIL, false, log->cfg.index_interval_bytes, rec, &s);
    if (rc == -EUCLEAN && (rc = log_begin_write(log)) == 0)
        rc = segment_open(log->dir, base, SEGMENT_CHECK_TAIL, true, log->cfg.index_interval_bytes, rec, &s);
    if (rc == 0) log->segs[log->nsegs++] = s;
    return rc;
}

static int open_segments_crashed(struct plog *log, const struct listing *ls, struct segment_recovery *rec) {
    int rc = 0;
    for (uint32_t i = 0; i < ls->nlogs && rc == 0; i++) {
        enum segment_check check = i + 1 == ls->nlogs ? SEGMENT_CHECK_FULL : SEGMENT_CHECK_DEEP;
        struct segment *s;
        if ((rc = log_reserve_segment(log)) != 0) break;
        rc = segment_open(log->dir, ls->logs[i], check, true, log->cfg.index_interval_bytes, rec, &s);
        if (rc == 0) log->segs[log->nsegs++] = s;
    }
    return rc;
}

/* *epochs_changed: batches walked by a full check added leader epochs. */
static int open_segments(struct plog *log, const struct listing *ls, bool clean,
                         struct log_recovery_report *rep, bool *epochs_changed) {
    struct epoch_replay replay = {.epochs = &log->epochs};
    struct segment_recovery rec = {.on_batch = epoch_from_batch, .ctx = &replay};
    int rc = clean ? open_segments_clean(log, ls, &rec) : open_segments_crashed(log, ls, &rec);
    *epochs_changed = replay.changed;
    rep->truncated_bytes += rec.truncated_bytes;
    rep->indexes_rebuilt += rec.indexes_rebuilt;
    if (rc != 0) return rc;

    /* A segment with no batch left carries nothing but its name: a crash
     * during a roll, or recovery cut everything. Only the sole segment is
     * kept, since its name still records where the offsets continue; and
     * an empty last segment whose predecessor ends below its name, since
     * then the name is the only record of the log end (compaction removed
     * the predecessor's last records: dropping the name would hand their
     * offsets out again). */
    uint32_t kept = 0;
    for (uint32_t i = 0; i < log->nsegs; i++) {
        struct segment *s = log->segs[i];
        bool last_standing = kept == 0 && i + 1 == log->nsegs;
        if (s->size == 0 && !last_standing && i + 1 == log->nsegs) {
            struct segment *prev = log->segs[kept - 1];
            if ((rc = log_load_segment(log, prev)) != 0) return rc;
            last_standing = prev->next_offset < s->base_offset;
        }
        if (s->size == 0 && !last_standing) {
            log_warn("storage", "removing empty segment dir=%s base_offset=%lld", log->dir, (long long)s->base_offset);
            segment_unlink(s);
            rep->stray_files_removed++;
            continue;
        }
        log->segs[kept++] = s;
    }
    log->nsegs = kept;
    for (uint32_t i = 1; i < log->nsegs; i++) {
        if (log->segs[i]->base_offset < log->segs[i - 1]->next_offset) {
            log_error("storage", "segments overlap dir=%s base_offset=%lld previous_next_offset=%lld", log->dir,
                      (long long)log->segs[i]->base_offset, (long long)log->segs[i - 1]->next_offset);
            return -EUCLEAN;
        }
    }
    if (log->nsegs == 0) return 0;
    /* The active segment must be loaded: after a clean shutdown with an
     * empty last segment (a roll just before close), the one before it,
     * left unloaded above, takes its place. */
    segment_set_active(log_active(log), true);
    rc = log_load_segment(log, log_active(log));
    /* That load counted its repairs in log->repairs (zero until now);
     * they happened at open, so the report gets them too. */
    rep->truncated_bytes += log->repairs.truncated_bytes;
    rep->indexes_rebuilt += log->repairs.indexes_rebuilt;
    return rc;
}

void log_free(struct plog *log) {
    for (uint32_t i = 0; i < log->nsegs; i++) segment_close(log->segs[i]);
    free(log->segs);
    ecache_free(&log->epochs);
    free(log->dir);
    free(log);
}

/* With no segment left (a new partition, or all removed), an empty one at
 * the persisted start; its directory entry is made durable before any
 * append can land in it. */
static int create_first_segment(struct plog *log, int dirfd, int64_t start) {
    struct segment *s;
    int rc = log_reserve_segment(log);
    if (rc == 0) rc = log_begin_write(log);
    if (rc == 0) rc = segment_create(log->dir, start, &s);
    if (rc != 0) return rc;
    segment_set_active(s, true);
    log->segs[log->nsegs++] = s;
    return fio_fsync(dirfd);
}

/* Reads the leader-epoch checkpoint; a damaged one is ignored (an empty
 * cache answers UNDEFINED, which is safe), an I/O error fails the open. */
static int load_epochs(struct plog *log, int dirfd) {
    int rc = ecache_read(&log->epochs, dirfd);
    if (rc == -EUCLEAN) {
        log_warn("storage", "ignoring unreadable leader-epoch-checkpoint dir=%s", log->dir);
        rc = 0;
    }
    return rc;
}

/* Entries the recovered log can no longer back are dropped: those starting
 * at or past its end (cut by recovery, or written before an append that
 * failed), and those wholly below its start. */
static int trim_epochs(struct plog *log, bool changed_by_recovery) {
    bool changed = changed_by_recovery;
    changed |= ecache_truncate_from_end(&log->epochs, plog_end_offset(log));
    changed |= ecache_truncate_from_start(&log->epochs, log->start_offset);
    if (!changed) return 0;
    int rc = log_begin_write(log);
    return rc != 0 ? rc : log_write_epochs(log);
}

int plog_open(const char *dir, const struct log_config *cfg, struct plog **out,
              struct log_recovery_report *report) {
    struct log_recovery_report local;
    struct log_recovery_report *rep = report ? report : &local;
    memset(rep, 0, sizeof(*rep));
    bool created = mkdir(dir, LOG_DIR_MODE) == 0;
    if (!created && errno != EEXIST) return -errno;
    /* A new partition must survive a crash as much as its first append. */
    if (created) {
        int prc = fio_fsync_parent(dir);
        if (prc != 0) return prc;
    }
    struct plog *log = calloc(1, sizeof(*log));
    if (!log) return -ENOMEM;
    log->max_ts = log->max_ts_offset = log->first_unflushed_ms = -1;
    log->max_ts_stale = true;
    ecache_init(&log->epochs);
    log_config_apply(log, cfg);
    struct listing ls = {0};
    int dirfd = -1;
    int rc = -ENOMEM;
    if (!(log->dir = strdup(dir))) goto out;
    if ((dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        rc = -errno;
        goto out;
    }
    bool clean = faccessat(dirfd, LOG_CLEAN_MARKER, F_OK, 0) == 0;
    log->clean_marker = clean;
    if ((rc = list_dir(log, dirfd, &ls, rep)) != 0) goto out;
    if (ls.swaps > 0) {
        /* Rare (a crash in the middle of a swap, or a close while a
         * cleaner thread was committing one), so the common open lists
         * the directory once; this one lists it again once completed. The
         * replaced segments' indexes are gone: not a clean open. */
        clean = false;
        free(ls.logs);
        free(ls.indexes);
        memset(&ls, 0, sizeof(ls));
        if ((rc = log_clean_recover(log, dirfd, rep)) != 0) goto out;
        if ((rc = list_dir(log, dirfd, &ls, rep)) != 0) goto out;
    }
    rep->segments = ls.nlogs;
    remove_orphan_indexes(log, dirfd, &ls, rep);
    if ((rc = load_epochs(log, dirfd)) != 0) goto out;
    bool epochs_recovered;
    if ((rc = open_segments(log, &ls, clean, rep, &epochs_recovered)) != 0) goto out;
    log->repairs = *rep;
    log->repairs.segments = 0;

    int64_t start = 0;
    int src = log_read_offset_file(dirfd, LOG_START_OFFSET_FILE, &start);
    if (src == -EUCLEAN) log_warn("storage", "ignoring unreadable %s dir=%s", LOG_START_OFFSET_FILE, dir);
    if (src != 0) start = 0;
    if (log->nsegs == 0 && (rc = create_first_segment(log, dirfd, start)) != 0) goto out;
    /* The start never lies below the first segment nor past the end (a
     * crash may have cut the tail it pointed into). */
    if (start < log->segs[0]->base_offset) start = log->segs[0]->base_offset;
    if (start > plog_end_offset(log)) start = plog_end_offset(log);
    log->start_offset = start;
    log_clean_load_checkpoint(log, dirfd);
    if ((rc = trim_epochs(log, epochs_recovered)) != 0) goto out;
    if (rep->truncated_bytes > 0 || rep->stray_files_removed > 0)
        log_warn("storage", "log recovered dir=%s clean=%d segments=%u truncated_bytes=%llu indexes_rebuilt=%u "
                 "stray_files_removed=%u", dir, clean, rep->segments, (unsigned long long)rep->truncated_bytes,
                 rep->indexes_rebuilt, rep->stray_files_removed);
    *out = log;
    log = NULL;
    rc = 0;
out:
    if (dirfd >= 0) close(dirfd);
    free(ls.logs);
    free(ls.indexes);
    if (log) log_free(log);
    return rc;
}

/* Nothing to seal or mark: opened after a clean close and never written,
 * the marker on disk still tells the truth. */
static bool close_needs_nothing(const struct plog *log) { return log->clean_marker && !log->failed; }

int plog_close_prepare(struct plog *log) {
    if (close_needs_nothing(log) || log->close_prepared) return log->failed;
    int rc = log->failed;
    if (rc == 0) rc = segment_seal(log_active(log));
    if (rc != 0) log->failed = rc;
    log->close_prepared = true;
    return rc;
}

int plog_close(struct plog *log) {
    if (!log) return 0;
    bool swaps_possible;
    cleaner_job_abandon(log->clean_job, false, &swaps_possible);
    log->clean_job = NULL;
    if (swaps_possible) {
        /* .swap files a clean committed (or is committing right now) must
         * be completed by the recovering open: no marker, so neither a
         * clean-shutdown open nor the start-up summary skips them. */
        log_info("storage", "log closed during a committed clean, the next open completes it dir=%s", log->dir);
        log_free(log);
        return -EINPROGRESS;
    }
    if (close_needs_nothing(log)) {
        log_free(log);
        return 0;
    }
    int rc = log->close_prepared ? log->failed : plog_close_prepare(log);
    if (rc == 0) {
        int dirfd = log_open_dirfd(log);
        rc = dirfd < 0 ? dirfd : fio_write_atomic(dirfd, LOG_CLEAN_MARKER, "", 0);
        if (dirfd >= 0) close(dirfd);
    }
    if (rc != 0)
        log_warn("storage", "log closed without clean-shutdown marker dir=%s errno=%d", log->dir, -rc);
    log_free(log);
    return rc;
}

void plog_close_unclean(struct plog *log) {
    if (!log) return;
    cleaner_job_abandon(log->clean_job, false, NULL);
    log->clean_job = NULL;
    log_free(log);
}

int plog_remove(struct plog *log) {
    if (!log) return 0;
    bool thread_still_there = cleaner_job_abandon(log->clean_job, true, NULL);
    log->clean_job = NULL;
    char *dir = log->dir;
    log->dir = NULL; /* kept for the removal below */
    log_free(log);
    int rc = 0;
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = dirfd >= 0 ? fdopendir(dirfd) : NULL;
    if (!d) {
        rc = -errno;
        if (dirfd >= 0) close(dirfd);
    } else {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            if (unlinkat(dirfd, e->d_name, 0) != 0 && errno != ENOENT && rc == 0) rc = -errno;
        }
        closedir(d);
    }
    if (rc == 0 && rmdir(dir) != 0) rc = -errno;
    /* A cleaner thread still finishing an abandoned clean may have created
     * a file after the listing, or removed the directory itself: it
     * removes its files and then the directory (cleaner.c, orphans). */
    if (thread_still_there && (rc == -ENOTEMPTY || rc == -ENOENT)) rc = 0;
    free(dir);
    return rc;
}
