/*
 * Leader-epoch cache of one partition, as Kafka's LeaderEpochFileCache:
 * the ordered list of (leader epoch, start offset of its first batch),
 * persisted as `leader-epoch-checkpoint` (format at the top of
 * epoch_cache.c). Both fields strictly increase from entry to entry.
 *
 * The log (log.c) decides when to call these: an entry is assigned before
 * the first append under an epoch larger than the latest one, entries are
 * dropped from the end when recovery cuts the log, and from the start when
 * the log start offset moves. Not thread-safe (one log, one thread).
 */
#ifndef GREGOR_STORAGE_EPOCH_CACHE_H
#define GREGOR_STORAGE_EPOCH_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#define EPOCH_UNDEFINED (-1)
#define EPOCH_OFFSET_UNDEFINED (-1)

struct epoch_entry {
    int32_t epoch;
    int64_t start_offset;
};

struct epoch_cache {
    struct epoch_entry *entries; /* oldest first */
    uint32_t count, cap;
};

void ecache_init(struct epoch_cache *c);
void ecache_free(struct epoch_cache *c);
/* dst (initialised or freed) becomes a copy of src; 0 or -ENOMEM. */
int ecache_copy(struct epoch_cache *dst, const struct epoch_cache *src);

/* Reads the checkpoint in dirfd. 0 with the entries (none when the file is
 * absent); -EUCLEAN when the file is not the documented format (the cache
 * is left empty, the caller logs it); -errno on I/O errors. */
int ecache_read(struct epoch_cache *c, int dirfd);
/* Replaces the checkpoint atomically (tmp file, fsync, rename, fsync dir). */
int ecache_write(const struct epoch_cache *c, int dirfd);

/* The latest entry's epoch, EPOCH_UNDEFINED when empty. */
int32_t ecache_latest_epoch(const struct epoch_cache *c);

/* Kafka's assign: adds (epoch, start) unless the latest entry already has
 * this epoch at an offset <= start; entries at or above it in either field
 * are removed first, so both fields keep increasing. When the cache is
 * full the oldest entry is dropped. 1 if the cache changed, 0 if not,
 * -EINVAL for a negative epoch or offset, -ENOMEM. */
int ecache_assign(struct epoch_cache *c, int32_t epoch, int64_t start_offset);
/* Removes entries whose start offset >= end_offset (the log was cut to
 * end there, so those epochs hold no data). True if any was removed. */
bool ecache_truncate_from_end(struct epoch_cache *c, int64_t end_offset);
/* The log start moved to start_offset: entries starting at or below it
 * are removed except the latest of them, which is moved up to start at
 * start_offset. True if the cache changed. */
bool ecache_truncate_from_start(struct epoch_cache *c, int64_t start_offset);

/* OffsetForLeaderEpoch for `requested`, as Kafka answers it, over the
 * entries plus (current_epoch, log_end) when current_epoch is above the
 * latest entry (a leader that has not appended in its epoch yet):
 *   - requested < 0, or above every epoch: (UNDEFINED, UNDEFINED);
 *   - requested is the latest epoch: (requested, log_end);
 *   - below the first entry: (requested, first entry's start offset);
 *   - otherwise: (largest epoch <= requested, start offset of the next
 *     entry), i.e. where that epoch ended. */
void ecache_end_offset_for(const struct epoch_cache *c, int32_t requested, int32_t current_epoch, int64_t log_end,
                           int32_t *epoch_out, int64_t *end_offset_out);

#endif
