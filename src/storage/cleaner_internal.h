/*
 * What the cleaner's threads (cleaner.c) and the log's side of cleaning
 * (log_clean.c: choosing the work, the swap, recovery) share. Not for use
 * outside src/storage.
 *
 * A job is written by the loop before it is queued (everything above
 * "results") and read-only for the thread; the thread writes the results
 * and then sets state to JOB_DONE under the cleaner's mutex; the loop reads
 * them only after seeing JOB_DONE. A job goes through the threads twice:
 *   CLEAN_PHASE_REWRITE     map, rewrite into .cleaned files, fdatasync
 *                           them, then commit: rename them to .swap,
 *                           each followed by a directory fsync (unless
 *                           the loop invalidated the job first);
 *   (loop)                  the swap proper: cheap renames, no sync;
 *   CLEAN_PHASE_CHECKPOINT  cleaner-offset-checkpoint written atomically,
 *                           whose directory sync also makes the loop's
 *                           renames durable.
 * Ownership: the log owns the job (plog.clean_job) until it frees it after
 * the checkpoint phase or abandons it. An abandoned job the thread still
 * holds (JOB_RUNNING, JOB_COMMITTING) is "orphaned": the thread cleans up
 * its own files and frees it. Everything a thread touches is in the job
 * (its directory descriptor, names, ranges), never the struct plog.
 */
#ifndef GREGOR_STORAGE_CLEANER_INTERNAL_H
#define GREGOR_STORAGE_CLEANER_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "storage/cleaner.h"

/* A closed segment as the job sees it: [base, end) where end is the next
 * segment's base offset (its records may stop earlier: gaps). */
struct clean_segment {
    int64_t base;
    int64_t end;
    uint64_t size;
};

/* Adjacent segments rewritten into one file: segs[first .. first+count). */
struct clean_group {
    uint32_t first, count;
    int64_t base, end;     /* segs[first].base, segs[first+count-1].end: the swap file's name */
    uint64_t bytes_out;    /* 0: everything in it was removed, no file is left */
};

/* JOB_COMMITTING: the thread is renaming .cleaned files to .swap; from
 * then on the loop must not remove the job's segments (see
 * log_clean_blocks_removal) until it has swapped them out. */
enum job_state { JOB_QUEUED, JOB_RUNNING, JOB_COMMITTING, JOB_DONE };
enum job_phase { CLEAN_PHASE_REWRITE, CLEAN_PHASE_CHECKPOINT };

struct cleaner_job {
    struct cleaner *cleaner;
    struct plog *log;              /* loop only; NULL once abandoned */
    struct cleaner_job *next;      /* in the cleaner's queue or done list */
    char *dir;                     /* for log lines and the orphan's rmdir */
    int dirfd;                     /* the partition directory: every file operation of the thread goes through it */
    struct clean_segment *segs;    /* closed, cleanable segments from the first, in order */
    uint32_t nsegs;
    int64_t first_dirty;           /* records below were cleaned before */
    int64_t now_ms;
    int64_t delete_retention_ms;   /* tombstones in a segment last written longer ago are removed */
    uint64_t segment_bytes;        /* merged groups stay within it */
    uint32_t index_interval_bytes; /* for the cleaned segments' indexes */
    uint64_t map_slots;            /* dedupe map size, a power of two */

    /* results */
    struct clean_group *groups;
    uint32_t ngroups;
    int64_t clean_end;             /* the next first dirty offset */
    int rc;                        /* 0 or -errno; the cleaned files are discarded unless 0 */
    bool committed;                /* .swap files exist (all of them, durable, when rc is 0) */
    uint64_t bytes_read, bytes_written, records_removed, busy_ms;
    uint64_t commit_us;            /* the thread's renames + directory sync */

    enum job_phase phase;          /* loop only, before queueing */
    bool swapped;                  /* loop only: the segments were swapped out */
    /* Under the cleaner's mutex. */
    enum job_state state;
    bool invalidated;              /* the loop removed one of the job's segments: do not commit */
    bool orphaned;                 /* abandoned while a thread held it: the thread frees it */
    bool removing;                 /* abandoned by plog_remove: the orphan also removes .swap files and the directory */
    atomic_bool cancel;
};

/* Names of a group's temporary files: "<base 20 digits>.<end 20 digits><kind><suffix>",
 * kind ".log", ".index" or ".timeindex". */
#define CLEAN_FILE_NAME_BYTES 72
#define CLEAN_CLEANED_SUFFIX ".cleaned"
#define CLEAN_SWAP_SUFFIX ".swap"
/* ASCII "0\n<offset>\n" (as log-start-offset): the first offset not yet cleaned. */
#define LOG_CLEANER_CHECKPOINT_FILE "cleaner-offset-checkpoint"
void clean_file_name(char out[CLEAN_FILE_NAME_BYTES], int64_t base, int64_t end, const char *kind, const char *suffix);
/* Parses a ".log" name made by clean_file_name with that suffix: 0, or -1. */
int clean_parse_file_name(const char *name, const char *suffix, int64_t *base, int64_t *end);

void cleaner_job_free(struct cleaner_job *job);
/* Retention or DeleteRecords is about to remove the log's first closed
 * segment: true when that must wait (the job committed to a swap that
 * replaces it; the loop swaps it in at the next housekeeping pass), else
 * the job is marked invalid so its thread will not commit it. */
bool cleaner_job_blocks_removal(struct cleaner_job *job);
/* Queues a swapped job again for its checkpoint phase. */
void cleaner_job_queue_checkpoint(struct cleaner_job *job);
/* Queues a retired segment file for a cleaner thread to unlink (at once
 * on the caller's thread when there is none or the queue is full). */
void cleaner_defer_unlink(struct cleaner *c, const char *path);
/* Removes the .cleaned files (log and indexes) of groups from `first` on,
 * those that exist; cleaner_discard_outputs: of every group. Both go
 * through job->dirfd, so they only ever touch the job's own directory. */
void cleaner_discard_groups(const struct cleaner_job *job, uint32_t first);
void cleaner_discard_outputs(const struct cleaner_job *job);

#endif
