/*
 * Fixed bounds of the storage engine, each with its reason. (Kept beside
 * the storage code rather than in core/limits.h so the two can be merged
 * by whoever owns that file.)
 */
#ifndef GREGOR_STORAGE_LIMITS_H
#define GREGOR_STORAGE_LIMITS_H

#include <stdint.h>

#include "core/limits.h"
#include "protocol/record_batch.h"

/* segment.bytes is capped like Kafka's (an int): index entries store file
 * positions as 32-bit values. */
#define STORAGE_SEGMENT_BYTES_MAX ((uint64_t)INT32_MAX)

/* No batch can reach the log larger than a request frame; anything larger
 * found on disk is corruption. It also bounds plog_scan's buffer. */
#define STORAGE_BATCH_BYTES_MAX ((uint32_t)LIMIT_FRAME_BYTES_MAX)

/* A segment ends at most one oversized batch past segment.bytes, and that
 * must still be addressable with 32-bit positions. */
_Static_assert(STORAGE_SEGMENT_BYTES_MAX + STORAGE_BATCH_BYTES_MAX <= UINT32_MAX,
               "segment positions must fit the 32-bit index position field");

/* Offsets in a segment are stored relative to its base in 32 bits; Kafka
 * rolls at the same bound. */
#define STORAGE_SEGMENT_OFFSET_SPAN_MAX ((int64_t)INT32_MAX)

/* The largest offset a log hands out, so that any segment base plus a
 * relative offset stays representable. Reaching it takes 2^63 records. */
#define STORAGE_OFFSET_MAX (INT64_MAX - STORAGE_SEGMENT_OFFSET_SPAN_MAX - 1)

/* Kafka's segment.index.bytes default: an index holds at most this much,
 * and a segment rolls when either of its indexes is full. */
#define STORAGE_INDEX_BYTES_MAX (10 * 1024 * 1024)
#define STORAGE_OFFSET_INDEX_ENTRY_BYTES 8
#define STORAGE_TIME_INDEX_ENTRY_BYTES 12
#define STORAGE_OFFSET_INDEX_ENTRIES_MAX (STORAGE_INDEX_BYTES_MAX / STORAGE_OFFSET_INDEX_ENTRY_BYTES)
#define STORAGE_TIME_INDEX_ENTRIES_MAX (STORAGE_INDEX_BYTES_MAX / STORAGE_TIME_INDEX_ENTRY_BYTES)

/* Bounds one partition's segment array and the directory listing read at
 * open (two arrays of 8-byte bases). Descriptors no longer scale with it:
 * they come from the process-wide cache below. */
#define STORAGE_SEGMENTS_PER_LOG_MAX 20000

/* ---- descriptor cache (fdcache.c) ---- */

/* log.open.files.max when the broker never sets it: enough for the active
 * segments of 65k busy partitions, and under a typical `ulimit -n` of
 * 1,048,576 it leaves most descriptors to sockets. */
#define STORAGE_OPEN_FILES_DEFAULT 65536u

/* The cap never exceeds this share of RLIMIT_NOFILE (soft): the other half
 * is for sockets, the descriptors plog_read hands out for sendfile, and
 * the transient directory descriptors opened for renames and fsyncs. */
#define STORAGE_OPEN_FILES_RLIMIT_DIVISOR 2u

/* The smallest cap accepted: one operation holds up to three descriptors
 * of one segment at a time, plus the protected ones below. */
#define STORAGE_OPEN_FILES_MIN 16u

/* The descriptors handed out by the last this-many cache acquisitions are
 * never evicted: a caller may still be about to use one of them. Eviction
 * picks the least recently used, so this only matters when nearly every
 * descriptor is pinned. */
#define STORAGE_OPEN_FILES_RECENT_PROTECTED 4u

_Static_assert(STORAGE_OPEN_FILES_MIN > STORAGE_OPEN_FILES_RECENT_PROTECTED + 3,
               "the minimum cap must leave room beyond the protected descriptors");
_Static_assert(STORAGE_OPEN_FILES_DEFAULT >= STORAGE_OPEN_FILES_MIN, "default below minimum");

/* ---- leader-epoch cache (epoch_cache.c) ---- */

/* Entries kept per partition. Kafka has no bound; one entry is added per
 * leader election that led to an append, so even a partition that changed
 * leader every minute for a month stays below this. When full, the oldest
 * entry is dropped (its epoch then answers like one below the first). */
#define STORAGE_EPOCH_ENTRIES_MAX 65536u

/* A checkpoint line is "<epoch> <offset>\n": at most 10 + 1 + 19 + 1
 * bytes; the header "0\n<count>\n" at most 2 + 10 + 1. Bounds the file
 * read at open so a damaged size cannot make it allocate without limit. */
#define STORAGE_EPOCH_LINE_BYTES_MAX 31u
#define STORAGE_EPOCH_FILE_BYTES_MAX (16u + STORAGE_EPOCH_ENTRIES_MAX * STORAGE_EPOCH_LINE_BYTES_MAX)

/* The start-up summary (log_summary.c) is read whole at start. About 160
 * bytes per idle partition with one segment, so 100,000 partitions take
 * 16 MB; this leaves room for many segments and producers per partition
 * while keeping the start-up allocation far below the memory budget. A data
 * directory that would need more gets no summary (a slower, usual start). */
#define STORAGE_SUMMARY_BYTES_MAX (256u * 1024 * 1024)
/* A partition's idempotent-producer state is kept in the summary up to
 * this size (a few hundred producers); a larger one is read from its
 * snapshot file at start, so a few busy partitions cannot crowd the
 * summary past its bound. */
#define STORAGE_SUMMARY_PRODUCER_BYTES_MAX (64u * 1024)
/* Threads that stat the summarized partition directories at start (their
 * stacks are the only cost; past a few, the disk is the limit), and the
 * fewest directories worth a thread of its own. */
#define STORAGE_SUMMARY_CHECK_THREADS_MAX 64u
#define STORAGE_SUMMARY_CHECK_ENTRIES_PER_THREAD_MIN 256u

/* Recovery and index validation read the files in chunks this large, so
 * they never allocate in proportion to a (possibly corrupt) length. */
#define STORAGE_IO_CHUNK_BYTES (64 * 1024)

/* Cleaner (log compaction). Threads are bounded because each holds its
 * share of log.cleaner.dedupe.buffer.size and two I/O buffers. */
#define CLEANER_THREADS_MAX 16
/* One dedupe map entry: two 64-bit key hashes and the offset. */
#define CLEANER_MAP_ENTRY_BYTES 24
/* Linear probing stays short below this fill; past it the scan stops and
 * the rest waits for the next clean (Kafka's default is 0.9 with probing
 * by rehash). */
#define CLEANER_MAP_LOAD_MAX 0.75
/* A tiny log.cleaner.dedupe.buffer.size still makes progress. */
#define CLEANER_MAP_SLOTS_MIN 1024u
/* Retired segment files (.deleted) waiting for a cleaner thread to
 * unlink them; past this the event loop unlinks them itself. */
#define CLEANER_DEFERRED_UNLINKS_MAX 4096
/* Read and write buffers of a cleaner thread (each). */
#define CLEANER_IO_BUFFER_BYTES (1024 * 1024)
/* The I/O throttle measures its rate over windows this long. */
#define CLEANER_THROTTLE_WINDOW_MS 1000
/* A throttled thread checks for cancellation (log closed) this often, so
 * closing a log never waits longer for its cleaner. */
#define CLEANER_CANCEL_POLL_MS 50

#endif
