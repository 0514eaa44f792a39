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

/* Each segment holds three descriptors today; this keeps one partition
 * from exhausting the process's descriptors (and bounds the segment
 * array). A descriptor cache would let it grow. */
#define STORAGE_SEGMENTS_PER_LOG_MAX 20000

/* Recovery and index validation read the files in chunks this large, so
 * they never allocate in proportion to a (possibly corrupt) length. */
#define STORAGE_IO_CHUNK_BYTES (64 * 1024)

#endif
