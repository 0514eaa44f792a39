/*
 * Log compaction ("the cleaner"): keeps the latest record of every key in
 * the logs of compacted topics (cleanup.policy=compact), with Kafka's
 * semantics and setting names. Design and file states: docs/STORAGE.md,
 * "Compaction".
 *
 * Threading: the heavy work (building the key -> latest offset map from
 * the dirty part of a log, rewriting its closed segments into
 * "<base>.<end>.log.cleaned" files) runs on log.cleaner.threads background
 * threads. They read closed, immutable segment files through descriptors
 * of their own (never the descriptor cache, never the active segment) and
 * touch no struct plog. Choosing the dirtiest log and the in-memory swap
 * run on the event loop, from the broker's housekeeping timer:
 *
 *     cleaner_tick_begin(c)
 *     for every log: cleaner_consider(c, log, now)   (swaps finished work, picks candidates)
 *     cleaner_tick_end(c, now)                       (starts the dirtiest logs)
 *
 * A job is owned by one log (struct plog's clean_job); closing or
 * removing the log abandons it without waiting for its thread. The
 * durable steps (fdatasync of the cleaned files, the commit renames to
 * .swap and their directory sync, the checkpoint) run on the threads; the
 * loop's swap only renames and opens files.
 */
#ifndef GREGOR_STORAGE_CLEANER_H
#define GREGOR_STORAGE_CLEANER_H

#include <stdbool.h>
#include <stdint.h>

struct plog;
struct cleaner;
struct cleaner_job;

struct cleaner_config {
    bool enable;                       /* log.cleaner.enable */
    int32_t threads;                   /* log.cleaner.threads */
    int64_t dedupe_buffer_bytes;       /* log.cleaner.dedupe.buffer.size, shared by the threads */
    double io_max_bytes_per_second;    /* log.cleaner.io.max.bytes.per.second (read + written) */
    int64_t backoff_ms;                /* log.cleaner.backoff.ms: a log is not reconsidered sooner after a clean */
};

struct cleaner_stats {
    uint64_t jobs_done;        /* cleans swapped in */
    uint64_t jobs_discarded;   /* results dropped: the log changed meanwhile, was closed, or failed */
    uint64_t jobs_orphaned;    /* abandoned while a thread worked on them: that thread cleaned up */
    uint64_t bytes_read;       /* segment bytes read by the threads */
    uint64_t bytes_written;    /* cleaned bytes written */
    uint64_t records_removed;
    uint64_t busy_ms;          /* thread time spent cleaning, throttling sleeps included */
};

/* NULL when the threads cannot be started (logged). With enable false the
 * cleaner exists but never starts a job. */
struct cleaner *cleaner_create(const struct cleaner_config *cfg);
/* Stops the threads; jobs still owned by logs must have been abandoned
 * (close the logs first). */
void cleaner_destroy(struct cleaner *c);

void cleaner_tick_begin(struct cleaner *c);
/* For every log, each pass: swaps in a finished clean of it, or, when it
 * is compacted (log_config.compact), idle and dirty enough, makes it a
 * candidate for cleaner_tick_end (cheap for the others). The log must stay
 * open until cleaner_tick_end. */
void cleaner_consider(struct cleaner *c, struct plog *log, int64_t now_ms);
void cleaner_tick_end(struct cleaner *c, int64_t now_ms);
void cleaner_get_stats(struct cleaner *c, struct cleaner_stats *out);
/* Whether any job is queued, running or waiting for its swap. */
bool cleaner_busy(struct cleaner *c);
/* Jobs a thread is working on right now, abandoned ones included. */
uint32_t cleaner_jobs_running(struct cleaner *c);

/* Called by plog_close / plog_remove: cancels the log's job without
 * waiting for its thread (which may be in the middle of a read, a write
 * or an fsync). A queued or finished job is freed at once; a running one
 * is left to its thread, which removes its .cleaned files and frees it
 * (with removing_dir, also its .swap files, then the directory if it is
 * still there). .swap files of a finished, committed job are left for the
 * next open to complete. True when a thread still holds the job. */
/* *swaps_possible (may be NULL): the job committed .swap files that no swap
 * consumed, or is committing them now; the directory then needs the
 * recovering open, not a clean-shutdown one. */
bool cleaner_job_abandon(struct cleaner_job *job, bool removing_dir, bool *swaps_possible);

/* Produce to a compacted topic: 1 when some record of the v2 batch (whose
 * header and CRC were validated) has a null key, 0 when none has, -1 when
 * its records cannot be read (decompressed first if needed). */
int cleaner_batch_has_null_key(const uint8_t *batch, uint32_t len);

#endif
