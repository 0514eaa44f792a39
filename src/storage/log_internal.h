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
};

static inline struct segment *log_active(const struct plog *log) { return log->segs[log->nsegs - 1]; }

void log_config_apply(struct plog *log, const struct log_config *cfg);
/* Recomputes max_ts / max_ts_offset over the segments at or above the
 * start (loading them); on failure leaves max_ts_stale set. */
int log_recompute_max_ts(struct plog *log);
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

#endif
