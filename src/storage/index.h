/*
 * The two sparse per-segment indexes (formats at the top of index.c):
 * the offset index maps a relative offset to the file position of the
 * batch starting there; the time index maps a timestamp to the relative
 * offset of the batch where the segment's max timestamp first reached it.
 *
 * Both are append-only files written with pwrite; the file size is always
 * a whole number of entries. Only the entry count and the last entry live
 * in memory; lookups binary-search the file with pread (served from the
 * page cache), and the common tail lookup is answered from memory.
 * Indexes are derived data: anything inconsistent is rebuilt from the log.
 *
 * The structs hold no descriptor: the segment owns the files through the
 * descriptor cache and passes the descriptor to each call that touches the
 * file (the *_needs_file helpers tell a lookup whether it will).
 */
#ifndef GREGOR_STORAGE_INDEX_H
#define GREGOR_STORAGE_INDEX_H

#include <stdbool.h>
#include <stdint.h>

struct offset_index {
    uint32_t entries;
    uint32_t last_rel; /* valid when entries > 0 */
    uint32_t last_pos;
};

struct time_index {
    uint32_t entries;
    int64_t last_ts; /* valid when entries > 0 */
    uint32_t last_rel;
};

/* Loads the index from its file fd. Always checks the size is a
 * whole number of entries within the bound and that the last entry is
 * plausible; with full_check every entry is checked to increase and
 * (offset index) to point inside a log of log_size bytes.
 * 0, -EUCLEAN when the file must be rebuilt, or -errno. */
int oidx_load(struct offset_index *ix, int fd, uint64_t log_size, bool full_check);
int tidx_load(struct time_index *ix, int fd, bool full_check);

/* Appends one entry; the caller keeps keys increasing. 0 or -errno, with
 * the file unchanged on failure. */
int oidx_append(struct offset_index *ix, int fd, uint32_t rel, uint32_t pos);
int tidx_append(struct time_index *ix, int fd, int64_t ts, uint32_t rel);
bool oidx_full(const struct offset_index *ix);
bool tidx_full(const struct time_index *ix);

/* A rebuild forgets the entries in memory and appends them again over the
 * old ones; *_end_rebuild then cuts the file to the new length. A rebuild
 * that reproduces the file (the usual case after a crash) thus changes no
 * file size: ftruncate costs a journal transaction. */
static inline void oidx_begin_rebuild(struct offset_index *ix) { ix->entries = 0; }
static inline void tidx_begin_rebuild(struct time_index *ix) { ix->entries = 0; }
int oidx_end_rebuild(const struct offset_index *ix, int fd);
int tidx_end_rebuild(const struct time_index *ix, int fd);
/* Returns to an earlier state (an append that failed later on). */
int oidx_rollback(struct offset_index *ix, int fd, const struct offset_index *saved);
int tidx_rollback(struct time_index *ix, int fd, const struct time_index *saved);

/* The rule that places entries while batches are laid out one after the
 * other (appends, rebuilds, and the cleaner writing a cleaned segment):
 * before a batch, once index.interval.bytes of log were written since the
 * previous entry, an offset entry for it and, if the max timestamp grew, a
 * time entry. The state is the writer's; the files are reached through
 * get_fd (which = 0 offset index, 1 time index) only when an entry is due. */
struct index_cursor {
    int64_t base_offset;          /* the segment's */
    uint64_t *bytes_since_index;  /* log bytes since the last offset entry */
    int64_t *max_ts;              /* largest batch maxTimestamp so far, -1 if none */
    int64_t *max_ts_batch_offset; /* base offset of the batch that first reached it */
};
typedef int (*index_fd_fn)(void *ctx, int which);
int index_add_batch(struct offset_index *oidx, struct time_index *tidx, const struct index_cursor *cur,
                    uint64_t pos, int64_t batch_base_offset, int64_t batch_max_ts, uint32_t batch_bytes,
                    uint32_t index_interval_bytes, index_fd_fn get_fd, void *ctx);

/* Whether a lookup for rel / ts must read the file (fd may be -1 otherwise). */
static inline bool oidx_needs_file(const struct offset_index *ix, uint32_t rel) {
    return ix->entries > 0 && ix->last_rel > rel;
}
static inline bool tidx_needs_file(const struct time_index *ix, int64_t ts) {
    return ix->entries > 0 && ix->last_ts > ts;
}

/* The last entry with relative offset <= rel: 0 and *pos_out (and
 * *rel_out if not NULL), 1 if every entry is above rel, or -errno. */
int oidx_lookup(const struct offset_index *ix, int fd, uint32_t rel, uint32_t *rel_out, uint32_t *pos_out);
/* The last entry with timestamp <= ts: 0 and *rel_out, 1 if none, -errno. */
int tidx_lookup(const struct time_index *ix, int fd, int64_t ts, int64_t *ts_out, uint32_t *rel_out);

#endif
