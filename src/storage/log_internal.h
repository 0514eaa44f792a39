/*
 * What log.c (append, read, retention) and log_open.c (open, recovery,
 * close) share. Not for use outside src/storage.
 */
#ifndef GREGOR_STORAGE_LOG_INTERNAL_H
#define GREGOR_STORAGE_LOG_INTERNAL_H

#include <stdint.h>

#include "storage/log.h"
#include "storage/segment.h"

struct plog {
    int dirfd;                  /* the partition directory; every file is opened relative to it */
    char *dir;                  /* for log lines and plog_remove */
    struct log_config cfg;      /* sanitized by log_config_apply */
    struct segment **segs;      /* by base offset; the last is the active segment; never empty */
    uint32_t nsegs, cap;
    int64_t start_offset;       /* log start offset: reads below it fail with -ERANGE */
    int64_t max_ts;             /* largest timestamp in the log, -1 if none */
    int64_t max_ts_offset;      /* the first record carrying it, -1 if none */
    int64_t unflushed_msgs;     /* records appended since the last fdatasync */
    int64_t first_unflushed_ms; /* when the oldest of them was appended, -1 if none */
    int32_t leader_epoch;       /* stamped into every appended batch */
    int failed;                 /* -errno once a sync failed: appends refused until reopen */
};

static inline struct segment *log_active(const struct plog *log) { return log->segs[log->nsegs - 1]; }

void log_config_apply(struct plog *log, const struct log_config *cfg);
/* Recomputes max_ts / max_ts_offset over the segments at or above the start. */
int log_recompute_max_ts(struct plog *log);
/* Makes room for one more segment pointer. */
int log_reserve_segment(struct plog *log);
/* Persists the log start offset (atomically). */
int log_write_start_offset(struct plog *log, int64_t offset);
/* Stops appends after an error that leaves the files' durability unknown. */
void log_poison(struct plog *log, int rc, const char *what);

#endif
