/*
 * A partition log: a directory of segments, each a ".log" file of record
 * batches (magic v2, exactly as produced but for baseOffset and
 * partitionLeaderEpoch), a sparse ".index" (offset -> file position) and a
 * sparse ".timeindex" (timestamp -> offset), named by the 20-digit base
 * offset of their first batch, like Kafka's. The on-disk formats are
 * documented byte by byte in segment.c, index.c, epoch_cache.c and
 * log_open.c, and in docs/STORAGE.md.
 *
 * Descriptors: segment files are opened on demand and closed by a
 * process-wide LRU cache bounded by log.open.files.max (see
 * plog_set_open_files_max); a log keeps none of its own, not even the
 * directory's. After a clean shutdown only the last segment is read at
 * open; the others are checked on first use.
 *
 * Threading: logs and the descriptor cache are used by one thread (the
 * event loop).
 * Errors: functions return 0 or a negative errno (-ENOSPC, -EIO, ...);
 * the broker maps I/O errors to KAFKA_STORAGE_ERROR.
 */
#ifndef GREGOR_STORAGE_LOG_H
#define GREGOR_STORAGE_LOG_H

#include <stdbool.h>
#include <stdint.h>

/* Sentinels used by the settings below. */
#define LOG_UNLIMITED (-1)

struct log_config {
    uint64_t segment_bytes;          /* segment.bytes: roll when the next append would pass it */
    int64_t segment_ms;              /* segment.ms: roll when the active segment is this old */
    int64_t retention_ms;            /* retention.ms, or LOG_UNLIMITED */
    int64_t retention_bytes;         /* retention.bytes, or LOG_UNLIMITED */
    uint32_t index_interval_bytes;   /* index.interval.bytes: bytes between sparse index entries */
    int64_t flush_interval_messages; /* flush.messages: fsync once this many are unflushed (INT64_MAX: never by count) */
    int64_t flush_interval_ms;       /* flush.ms: fsync when the oldest unflushed append is this old (INT64_MAX: never) */
    bool log_append_time;            /* message.timestamp.type=LogAppendTime */
    /* Compaction (cleaner.h); only read when compact is set. */
    bool compact;                    /* cleanup.policy includes compact */
    double min_cleanable_ratio;      /* min.cleanable.dirty.ratio: clean once dirty / closed bytes reaches it */
    int64_t min_compaction_lag_ms;   /* min.compaction.lag.ms: newer records are not cleaned yet */
    int64_t max_compaction_lag_ms;   /* max.compaction.lag.ms: older dirty records force a clean */
    int64_t delete_retention_ms;     /* delete.retention.ms: how long tombstones outlive their segment's last write */
};

struct plog;

struct log_recovery_report {
    uint32_t segments;               /* segments found (at open; 0 in plog_repairs) */
    uint64_t truncated_bytes;        /* torn or corrupt tail removed */
    uint32_t indexes_rebuilt;        /* .index/.timeindex files rebuilt */
    uint32_t stray_files_removed;    /* e.g. .tmp files, empty segments left by a crashed roll */
};

/* Opens (creating if needed) the log in dir and recovers it: the tail after
 * the last flushed point is checked batch by batch (length, magic, CRC32C),
 * a torn or corrupt tail is truncated and logged, damaged indexes rebuilt. */
int plog_open(const char *dir, const struct log_config *cfg, struct plog **out,
              struct log_recovery_report *report);
/* Flushes and closes; the next open can then skip the tail check.
 * 0 when the clean-shutdown marker is on disk (written now, or still
 * there from the open), else -errno. */
int plog_close(struct plog *log);
/* Closing many logs at once (shutdown), with one file-system sync instead
 * of several per log: with syncs deferred (fio_defer_syncs),
 * plog_close_prepare seals each log; the caller then syncs the file system
 * (fio_syncfs) and, if that worked, closes each with plog_close (its
 * clean-shutdown marker written with syncs deferred again, owed by a
 * second fio_syncfs), else with plog_close_unclean: no marker, so the next
 * open checks the tail as after a crash. */
int plog_close_prepare(struct plog *log);
void plog_close_unclean(struct plog *log);
/* Closes the log and removes its directory. */
int plog_remove(struct plog *log);
void plog_set_config(struct plog *log, const struct log_config *cfg);
/* The partitionLeaderEpoch stamped into appended batches from now on (0
 * until set). The first append under an epoch larger than any recorded
 * records (epoch, its first offset) in the leader-epoch cache, persisted
 * in leader-epoch-checkpoint before the batch is written. */
void plog_set_leader_epoch(struct plog *log, int32_t epoch);

/* OffsetForLeaderEpoch, as Kafka answers it: *epoch_out is the largest
 * epoch <= `epoch` and *end_offset_out where it ended (the start offset of
 * the next recorded epoch, or the log end for the current epoch). Below
 * the first recorded epoch: (epoch, the first epoch's start offset), as
 * Kafka since 2.1; a negative epoch, one above the current epoch, or a log
 * with no epoch: (-1, -1). The current epoch (plog_set_leader_epoch) counts
 * as starting at the log end until its first append. Always returns 0. */
int plog_epoch_end_offset(const struct plog *log, int32_t epoch, int32_t *epoch_out, int64_t *end_offset_out);

/* Repairs done since open, including those of segments checked lazily on
 * first use after a clean open (which `report` at open cannot include). */
void plog_repairs(const struct plog *log, struct log_recovery_report *out);

/* The process-wide bound on descriptors the storage engine keeps open
 * (log.open.files.max): the effective cap is min(max, RLIMIT_NOFILE / 2),
 * at least 16. Without a call, LOG_OPEN_FILES_MAX_DEFAULT applies the same
 * way. Descriptors returned by plog_read are the caller's and not counted.
 * Returns the effective cap. */
#define LOG_OPEN_FILES_MAX_DEFAULT 65536
#define LOG_OPEN_FILES_MAX_MIN 16
uint32_t plog_set_open_files_max(uint32_t max);
struct log_open_files {
    uint32_t max;       /* effective cap */
    uint32_t open;      /* descriptors open now */
    uint32_t pinned;    /* of which holding unsynced appends (never closed by the cache) */
    uint64_t opens;     /* files opened since start */
    uint64_t evictions; /* descriptors closed to stay under the cap */
    uint64_t over_cap;  /* opens that found nothing to close and went over the cap */
};
void plog_open_files(struct log_open_files *out);

/* Appends one or more complete, already validated v2 batches held in
 * writable memory (they are modified in place): assigns consecutive offsets
 * from the log end, stamps partitionLeaderEpoch, and under LogAppendTime
 * sets the timestamps and recomputes the CRC. Rolls the segment first when
 * needed. Updates the log end offset; the high watermark is the caller's.
 * `batch_count` is how many batches `data` holds; *first_offset gets the
 * base offset of the first, *append_time_ms the time stamped (or -1). */
int plog_append(struct plog *log, uint8_t *data, uint32_t len, uint32_t batch_count,
                int64_t now_ms, int64_t *first_offset, int64_t *append_time_ms);

struct log_slice {
    int fd;              /* a dup of the segment's descriptor, owned by the caller; -1 if len == 0 */
    int64_t file_pos;
    uint32_t len;
};

/* Where a fetch at `offset` reads: from the start of the batch holding
 * `offset`, up to max_bytes (the last batch may be cut short, as Kafka
 * does; clients drop a partial trailing batch) but never past the batch
 * that holds `max_offset - 1` (exclusive end, e.g. the high watermark),
 * and never across a segment end. With min_one_batch the first batch is
 * returned whole even if larger than max_bytes (KIP-74).
 * Returns -ERANGE when offset is below the log start or above `max_offset`. */
int plog_read(struct plog *log, int64_t offset, int64_t max_offset, uint32_t max_bytes,
              bool min_one_batch, struct log_slice *out);

/* Calls fn for each batch whose last offset >= from_offset, in order, with
 * the batch bytes in memory; stops early when fn returns non-zero (and
 * returns that value). For recovery-time replays (producer state, the
 * metadata log), not the fetch path. fn must not modify the log. A batch
 * larger than STORAGE_BATCH_BYTES_MAX ends the scan with -EINVAL. */
typedef int (*plog_batch_fn)(void *ctx, const uint8_t *batch, uint32_t len);
int plog_scan(struct plog *log, int64_t from_offset, plog_batch_fn fn, void *ctx);

/* ListOffsets by time: the first offset whose timestamp >= ts
 * (*offset = -1 if none). */
int plog_offset_for_time(struct plog *log, int64_t ts, int64_t *offset, int64_t *timestamp);
/* ListOffsets MAX_TIMESTAMP (-3): the record with the largest timestamp. */
void plog_max_timestamp(const struct plog *log, int64_t *timestamp, int64_t *offset);

int64_t plog_start_offset(const struct plog *log);
int64_t plog_end_offset(const struct plog *log);
uint64_t plog_size_bytes(const struct plog *log);
uint32_t plog_segment_count(const struct plog *log);

/* DeleteRecords: moves the log start offset up to `offset` (persisted),
 * deleting segments wholly below it. -ERANGE past the log end. */
int plog_advance_start(struct plog *log, int64_t offset);
/* Deletes whole non-active segments past retention.ms / retention.bytes
 * and advances the log start; returns the number deleted or -errno. */
int plog_enforce_retention(struct plog *log, int64_t now_ms);
/* Rolls by segment.ms and fsyncs by flush.ms when due; cheap when not. */
int plog_tick(struct plog *log, int64_t now_ms);
/* fsyncs everything appended so far. */
int plog_flush(struct plog *log);

/* Compaction state: the first offset not yet cleaned (persisted in
 * cleaner-offset-checkpoint; the log start until the first clean). */
int64_t plog_first_dirty_offset(const struct plog *log);

#endif
