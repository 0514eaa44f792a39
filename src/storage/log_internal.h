/*
 * What log.c (append, read, retention) and log_open.c (open, recovery,
 * close) share. Not for use outside src/storage.
 */
#ifndef GREGOR_STORAGE_LOG_INTERNAL_H
#define GREGOR_STORAGE_LOG_INTERNAL_H

#include "core/assert.h"
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/log.h"
#include "storage/epoch_cache.h"
#include "storage/log.h"
#include "storage/segment.h"

#define STORAGE_ASSERT(cond) ASSERT_ALWAYS("storage", cond)

struct plog {
    char *dir;                  /* every file is opened by path under it; no descriptor is kept for it */
    struct log_config cfg;      /* sanitized by log_config_apply */
    struct segment **segs;      /* by base offset; the last is the active segment, always loaded; never empty */
    uint32_t nsegs, cap;
    int64_t start_offset;       /* log start offset: reads below it fail with -ERANGE */
    int64_t max_ts;             /* largest timestamp in the log, -1 if none; valid unless max_ts_stale */
    int64_t max_ts_offset;      /* the first record carrying it, -1 if none */
    bool max_ts_stale;          /* recompute before answering (segments unloaded at open, or deleted) */
    int64_t unflushed_msgs;     /* records appended since the last fdatasync */
    int64_t first_unflushed_ms; /* when the oldest of them was appended, -1 if none */
    int32_t leader_epoch;       /* stamped into every appended batch */
    struct epoch_cache epochs;  /* mirrors leader-epoch-checkpoint */
    bool clean_marker;          /* clean-shutdown is still on disk: nothing was written since open */
    struct log_recovery_report repairs; /* since open, lazy segment loads included */
    int failed;                 /* -errno once a sync failed: appends refused until reopen */
    bool close_prepared;        /* plog_close_prepare sealed it: plog_close only writes the marker */
    /* Compaction (log_clean.c). */
    int64_t first_dirty;        /* offsets below were cleaned; persisted in cleaner-offset-checkpoint */
    int64_t next_clean_ms;      /* log.cleaner.backoff.ms after the last clean */
    struct cleaner_job *clean_job; /* the clean in progress, owned by the log */
};

static inline struct segment *log_active(const struct plog *log) { return log->segs[log->nsegs - 1]; }

void log_config_apply(struct plog *log, const struct log_config *cfg);
/* Recomputes max_ts / max_ts_offset over the segments at or above the
 * start (loading them); on failure leaves max_ts_stale set. */
int log_recompute_max_ts(struct plog *log);
/* Frees the log's memory and descriptors; writes nothing. */
void log_free(struct plog *log);
/* Makes room for one more segment pointer. */
int log_reserve_segment(struct plog *log);
/* A descriptor of the partition directory, for fsyncs, renames and
 * listings; the caller closes it. >= 0 or -errno. */
int log_open_dirfd(const struct plog *log);
/* Persists the log start offset (atomically). */
int log_write_start_offset(struct plog *log, int64_t offset);
/* Persists the leader-epoch cache (atomically). */
int log_write_epochs(struct plog *log);
/* Must precede every change to the directory's files: while the
 * clean-shutdown marker is still on disk (the log was opened after a
 * clean close and nothing was written since), removes it durably so a
 * crash from here on is recovered as one. */
int log_begin_write(struct plog *log);
/* Leftovers of interrupted work (.tmp, .deleted, .cleaned, .swap), which an open clears up. */
bool log_stray_file(const char *name);
/* Loads (checks) a segment left unloaded by a clean open; repairs it if
 * the check fails, after log_begin_write. */
int log_load_segment(struct plog *log, struct segment *s);
/* Stops appends after an error that leaves the files' durability unknown. */
void log_poison(struct plog *log, int rc, const char *what);
/* Keeps the start offset at or above the first segment and the leader
 * epochs in line after segments were removed from the front. */
void log_after_start_moved(struct plog *log);
/* The same without writing leader-epoch-checkpoint (an fsync): for the
 * cleaner's swap on the event loop. Safe because open trims the epochs
 * from the start it finds, and any later write writes the trimmed cache.
 * True when the epochs changed. */
bool log_after_start_moved_unpersisted(struct plog *log);

/* Small "version\noffset\n" files (log-start-offset,
 * cleaner-offset-checkpoint): -ENOENT when absent, -EUCLEAN when not in
 * that format. The write replaces the file atomically. */
int log_read_offset_file(int dirfd, const char *name, int64_t *out);
int log_write_offset_file(struct plog *log, const char *name, int64_t offset);
/* The same through a directory descriptor, no struct plog: for the cleaner threads. */
int log_write_offset_file_at(int dirfd, const char *name, int64_t offset);

/* The log's side of compaction (log_clean.c), called by cleaner.c on the loop. */
struct cleaner_job;
static inline struct cleaner_job *log_clean_job(const struct plog *log) { return log->clean_job; }
/* dirty / (clean + dirty) bytes of the cleanable closed segments, above 1
 * when max.compaction.lag.ms forces a clean; -1 when there is nothing to
 * clean or the ratio is below min.cleanable.dirty.ratio. */
double log_clean_dirty_ratio(struct plog *log, int64_t now_ms);
/* A job over the log's cleanable closed segments, owned by the log from
 * now on; NULL when there is nothing to clean or no memory. */
struct cleaner_job *log_clean_prepare(struct plog *log, int64_t now_ms, uint64_t map_slots);
/* Swaps in a finished, committed job's files (renames and opens only, no
 * sync). 0 when swapped: the log keeps the job for its checkpoint phase.
 * Otherwise the thread already removed an uncommitted job's files, and a
 * committed one that cannot be swapped poisons the log (the next open
 * completes it). */
int log_clean_finish(struct plog *log, struct cleaner_job *job, int64_t next_clean_ms);
/* The log lets go of its job (the caller frees it). */
void log_clean_release(struct plog *log);
/* Before retention or DeleteRecords removes the first closed segment:
 * true when it must stay for now (a clean committed to replacing it and
 * is swapped in at the next housekeeping pass); otherwise a clean in
 * progress is told not to commit. */
bool log_clean_blocks_removal(struct plog *log);
/* At open, when the listing found <B>.<E>.log.swap files: completes the
 * swaps a crash interrupted (the caller then lists the directory again). */
int log_clean_recover(struct plog *log, int dirfd, struct log_recovery_report *rep);
/* At open, once start and end are known: loads first_dirty. */
void log_clean_load_checkpoint(struct plog *log, int dirfd);

#endif
