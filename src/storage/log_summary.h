/*
 * The start-up summary: one file per data directory, written at a clean
 * shutdown, holding for every cleanly closed partition what opening it
 * would otherwise read from its directory (segment list, the active
 * segment's index state, start offset, leader epochs, compaction
 * checkpoint, producer snapshot). With a cold page cache those reads are
 * random disk reads, 3-4 per partition, and they bound the start of a
 * broker with 100,000 partitions; with the summary a partition opens from
 * memory and its files are opened on first use.
 *
 * Trust rules (docs/STORAGE.md, "Start-up summary"):
 *   - it is written only after every marker it vouches for is durable,
 *     and lists only partitions whose clean-shutdown marker is on disk;
 *   - at start it is read and removed (durably) before anything in the
 *     data directory is written, so a crash, or any run at all, leaves no
 *     summary behind to describe files that changed since;
 *   - it is ignored whole when its magic, version, length or CRC32C is
 *     wrong, or when the data directory's top-level listing differs from
 *     the one it recorded (a partition directory added, removed, renamed);
 *   - a partition missing from it, or whose entry does not decode, is
 *     opened by the usual recovery.
 * Edits inside a partition directory while the broker is stopped are not
 * detected (as with Kafka's checkpoint files): an operator who changes a
 * partition's files must remove the summary.
 *
 * Threading: used by the thread that opens and closes the logs.
 */
#ifndef GREGOR_STORAGE_LOG_SUMMARY_H
#define GREGOR_STORAGE_LOG_SUMMARY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/log.h"

#define LOG_SUMMARY_FILE "clean-shutdown-summary"

/* ---- writing, at a clean shutdown ---- */

struct log_summary_writer;
struct log_summary_writer *log_summary_writer_create(void);
/* A partition's idempotent-producer state as the summary keeps it. */
struct log_summary_producers {
    int64_t snapshot_offset; /* the newest durable snapshot file's offset, -1 if none */
    uint32_t count;          /* producers at the log end */
    const uint8_t *state;    /* their state at the log end, in the snapshot file format; NULL when too large
                                (STORAGE_SUMMARY_PRODUCER_BYTES_MAX) or count is 0 */
    uint32_t state_len;
};

/* Records one partition: `name` is its directory under the data
 * directory, `log` its state as the close about to follow leaves it on
 * disk (call after plog_close_prepare, before plog_close), and its
 * producers. 0, or -errno (the writer is then failed and commits nothing). */
int log_summary_writer_add(struct log_summary_writer *w, const char *name, const struct plog *log,
                           const struct log_summary_producers *producers);
uint32_t log_summary_writer_count(const struct log_summary_writer *w);
/* Forgets the partition added last (its close did not leave a marker). */
void log_summary_writer_drop_last(struct log_summary_writer *w);
/* Lists the data directory and writes the summary atomically (tmp file,
 * fsync, rename, fsync of the directory). Only after every recorded
 * partition's marker is durable. Number of partitions written, or -errno. */
int log_summary_writer_commit(struct log_summary_writer *w, const char *data_dir);
void log_summary_writer_free(struct log_summary_writer *w);

/* ---- reading, at start ---- */

struct log_summary;
struct log_summary_entry {
    const uint8_t *log_state; /* for plog_open_summarized */
    size_t log_state_len;
    struct log_summary_producers producers;
};

/* Reads the data directory's summary and removes it durably, whatever it
 * holds, then checks each entry's directory identity with up to `threads`
 * threads (num.recovery.threads.per.data.dir; they only stat). *out is
 * NULL when there is none or it is not to be trusted (the reason is
 * logged). -errno only when it cannot be removed: the caller must then not
 * start, since a later crash would leave it describing files that
 * changed. */
int log_summary_take(const char *data_dir, uint32_t threads, struct log_summary **out);
/* The entry of partition directory `name`; false if it has none. */
bool log_summary_find(const struct log_summary *s, const char *name, struct log_summary_entry *out);
uint32_t log_summary_count(const struct log_summary *s);
void log_summary_free(struct log_summary *s);

/* Opens a log from its summary entry without reading its directory: the
 * active segment as the clean close left it, the others unloaded (checked
 * on first use, as after a clean open), the clean-shutdown marker taken as
 * present. -EUCLEAN when the entry is not consistent (the caller then
 * uses plog_open). */
int plog_open_summarized(const char *dir, const struct log_config *cfg, const struct log_summary_entry *e,
                         struct plog **out);

#endif
