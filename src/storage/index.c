/*
 * Index file formats (big-endian, like Kafka's; no header, no padding):
 *
 * <base>.index — offset index, 8-byte entries:
 *   off size field
 *     0    4 relativeOffset  baseOffset of a batch minus the segment's base offset
 *     4    4 position        byte position of that batch in <base>.log
 *   Entries strictly increase in both fields. An entry is added before a
 *   batch once index.interval.bytes of log have been appended since the
 *   previous entry, so a lookup walks at most about that many bytes.
 *   (Kafka records the batch's last offset; we record its base offset, so
 *   the entry's batch is exactly the one starting at that offset.)
 *
 * <base>.timeindex — time index, 12-byte entries:
 *   off size field
 *     0    8 timestamp       the segment's max timestamp so far
 *     8    4 relativeOffset  base offset (relative) of the batch that first
 *                            reached that max
 *   Timestamps strictly increase, offsets never decrease. Every record
 *   before the entry's batch has a smaller timestamp, so a search for ts
 *   may start at the last entry with timestamp <= ts. An entry is added
 *   with each offset index entry when the max grew, and once more when a
 *   segment is sealed (rolled or closed), so the last entry of a sealed
 *   segment carries its largest timestamp.
 *
 * Files are append-only and exactly entries * entry size bytes long: a
 * torn final entry (crash mid-write) makes the size wrong, and the file
 * is then rebuilt from the log.
 */
#include "storage/index.h"

#include <errno.h>
#include <sys/stat.h>

#include "protocol/record_batch.h"
#include "storage/fileio.h"
#include "storage/storage_limits.h"

/* Validation reads this much at a time: a multiple of both entry sizes,
 * small enough for the stack. */
#define INDEX_CHECK_CHUNK_BYTES (512 * 24)
_Static_assert(INDEX_CHECK_CHUNK_BYTES % STORAGE_OFFSET_INDEX_ENTRY_BYTES == 0 &&
                   INDEX_CHECK_CHUNK_BYTES % STORAGE_TIME_INDEX_ENTRY_BYTES == 0,
               "chunks hold whole entries");

static int read_entry(int fd, uint32_t i, uint32_t size, uint8_t *buf) {
    int rc = fio_pread_full(fd, buf, size, (off_t)i * size);
    /* The file shrank under us: treat as damage, not as an I/O error. */
    return rc == -ENODATA ? -EUCLEAN : rc;
}

/* Entry count from the file size, or -EUCLEAN for a torn or oversized file. */
static int64_t count_entries(int fd, uint32_t entry_bytes, uint32_t max_entries) {
    struct stat st;
    if (fstat(fd, &st) != 0) return -errno;
    if (st.st_size % entry_bytes != 0) return -EUCLEAN;
    if ((uint64_t)st.st_size / entry_bytes > max_entries) return -EUCLEAN;
    return st.st_size / entry_bytes;
}

/* Calls check(ctx, entry) for every entry, reading in chunks. */
static int for_each_entry(int fd, uint32_t entries, uint32_t entry_bytes,
                          int (*check)(void *ctx, const uint8_t *e), void *ctx) {
    uint8_t chunk[INDEX_CHECK_CHUNK_BYTES];
    uint32_t per_chunk = (uint32_t)(sizeof(chunk) / entry_bytes);
    for (uint32_t i = 0; i < entries; i += per_chunk) {
        uint32_t n = entries - i < per_chunk ? entries - i : per_chunk;
        int rc = fio_pread_full(fd, chunk, (size_t)n * entry_bytes, (off_t)i * entry_bytes);
        if (rc != 0) return rc == -ENODATA ? -EUCLEAN : rc;
        for (uint32_t k = 0; k < n; k++) {
            rc = check(ctx, chunk + (size_t)k * entry_bytes);
            if (rc != 0) return rc;
        }
    }
    return 0;
}

/* ---- offset index ---- */

struct oidx_check {
    uint64_t log_size;
    bool any;
    uint32_t prev_rel, prev_pos;
};

static int oidx_check_entry(void *ctx, const uint8_t *e) {
    struct oidx_check *c = ctx;
    uint32_t rel = rb_be32(e), pos = rb_be32(e + 4);
    if (pos >= c->log_size) return -EUCLEAN;
    if (c->any && (rel <= c->prev_rel || pos <= c->prev_pos)) return -EUCLEAN;
    c->any = true;
    c->prev_rel = rel;
    c->prev_pos = pos;
    return 0;
}

int oidx_load(struct offset_index *ix, int fd, uint64_t log_size, bool full_check) {
    int64_t n = count_entries(fd, STORAGE_OFFSET_INDEX_ENTRY_BYTES, STORAGE_OFFSET_INDEX_ENTRIES_MAX);
    if (n < 0) return (int)n;
    ix->entries = (uint32_t)n;
    if (n == 0) return 0;
    uint8_t e[STORAGE_OFFSET_INDEX_ENTRY_BYTES];
    int rc = read_entry(fd, ix->entries - 1, sizeof(e), e);
    if (rc != 0) return rc;
    ix->last_rel = rb_be32(e);
    ix->last_pos = rb_be32(e + 4);
    if (ix->last_pos >= log_size || ix->last_rel > STORAGE_SEGMENT_OFFSET_SPAN_MAX) return -EUCLEAN;
    if (!full_check) return 0;
    struct oidx_check c = {.log_size = log_size};
    return for_each_entry(fd, ix->entries, STORAGE_OFFSET_INDEX_ENTRY_BYTES, oidx_check_entry, &c);
}

bool oidx_full(const struct offset_index *ix) { return ix->entries >= STORAGE_OFFSET_INDEX_ENTRIES_MAX; }

int oidx_append(struct offset_index *ix, int fd, uint32_t rel, uint32_t pos) {
    if (oidx_full(ix)) return -ENOSPC;
    uint8_t e[STORAGE_OFFSET_INDEX_ENTRY_BYTES];
    rb_put_be32(e, rel);
    rb_put_be32(e + 4, pos);
    off_t at = (off_t)ix->entries * STORAGE_OFFSET_INDEX_ENTRY_BYTES;
    int rc = fio_pwrite_full(fd, e, sizeof(e), at);
    if (rc != 0) {
        /* A half-written entry would make the file size wrong; cut it off. */
        fio_ftruncate(fd, at);
        return rc;
    }
    ix->entries++;
    ix->last_rel = rel;
    ix->last_pos = pos;
    return 0;
}

/* Cuts the file to len bytes unless it already has that length. */
static int cut_to(int fd, off_t len) {
    struct stat st;
    if (fstat(fd, &st) != 0) return -errno;
    return st.st_size == len ? 0 : fio_ftruncate(fd, len);
}

int oidx_end_rebuild(const struct offset_index *ix, int fd) {
    return cut_to(fd, (off_t)ix->entries * STORAGE_OFFSET_INDEX_ENTRY_BYTES);
}

int oidx_rollback(struct offset_index *ix, int fd, const struct offset_index *saved) {
    *ix = *saved;
    return fio_ftruncate(fd, (off_t)saved->entries * STORAGE_OFFSET_INDEX_ENTRY_BYTES);
}

int oidx_lookup(const struct offset_index *ix, int fd, uint32_t rel, uint32_t *rel_out, uint32_t *pos_out) {
    if (ix->entries == 0) return 1;
    uint32_t found_rel = ix->last_rel, found_pos = ix->last_pos;
    if (ix->last_rel > rel) {
        /* Invariant of the search: entry lo has key <= rel, entry hi > rel. */
        uint8_t e[STORAGE_OFFSET_INDEX_ENTRY_BYTES];
        int rc = read_entry(fd, 0, sizeof(e), e);
        if (rc != 0) return rc;
        if (rb_be32(e) > rel) return 1;
        uint32_t lo = 0, hi = ix->entries - 1;
        found_rel = rb_be32(e);
        found_pos = rb_be32(e + 4);
        while (hi - lo > 1) {
            uint32_t mid = lo + (hi - lo) / 2;
            rc = read_entry(fd, mid, sizeof(e), e);
            if (rc != 0) return rc;
            if (rb_be32(e) <= rel) {
                lo = mid;
                found_rel = rb_be32(e);
                found_pos = rb_be32(e + 4);
            } else {
                hi = mid;
            }
        }
    }
    if (rel_out) *rel_out = found_rel;
    *pos_out = found_pos;
    return 0;
}

/* ---- time index ---- */

struct tidx_check {
    bool any;
    int64_t prev_ts;
    uint32_t prev_rel;
};

static int tidx_check_entry(void *ctx, const uint8_t *e) {
    struct tidx_check *c = ctx;
    int64_t ts = (int64_t)rb_be64(e);
    uint32_t rel = rb_be32(e + 8);
    if (rel > STORAGE_SEGMENT_OFFSET_SPAN_MAX) return -EUCLEAN;
    if (c->any && (ts <= c->prev_ts || rel < c->prev_rel)) return -EUCLEAN;
    c->any = true;
    c->prev_ts = ts;
    c->prev_rel = rel;
    return 0;
}

int tidx_load(struct time_index *ix, int fd, bool full_check) {
    int64_t n = count_entries(fd, STORAGE_TIME_INDEX_ENTRY_BYTES, STORAGE_TIME_INDEX_ENTRIES_MAX);
    if (n < 0) return (int)n;
    ix->entries = (uint32_t)n;
    if (n == 0) return 0;
    uint8_t e[STORAGE_TIME_INDEX_ENTRY_BYTES];
    int rc = read_entry(fd, ix->entries - 1, sizeof(e), e);
    if (rc != 0) return rc;
    ix->last_ts = (int64_t)rb_be64(e);
    ix->last_rel = rb_be32(e + 8);
    if (ix->last_rel > STORAGE_SEGMENT_OFFSET_SPAN_MAX) return -EUCLEAN;
    if (!full_check) return 0;
    struct tidx_check c = {0};
    return for_each_entry(fd, ix->entries, STORAGE_TIME_INDEX_ENTRY_BYTES, tidx_check_entry, &c);
}

bool tidx_full(const struct time_index *ix) { return ix->entries >= STORAGE_TIME_INDEX_ENTRIES_MAX; }

int tidx_append(struct time_index *ix, int fd, int64_t ts, uint32_t rel) {
    if (tidx_full(ix)) return -ENOSPC;
    uint8_t e[STORAGE_TIME_INDEX_ENTRY_BYTES];
    rb_put_be64(e, (uint64_t)ts);
    rb_put_be32(e + 8, rel);
    off_t at = (off_t)ix->entries * STORAGE_TIME_INDEX_ENTRY_BYTES;
    int rc = fio_pwrite_full(fd, e, sizeof(e), at);
    if (rc != 0) {
        fio_ftruncate(fd, at);
        return rc;
    }
    ix->entries++;
    ix->last_ts = ts;
    ix->last_rel = rel;
    return 0;
}

int tidx_end_rebuild(const struct time_index *ix, int fd) {
    return cut_to(fd, (off_t)ix->entries * STORAGE_TIME_INDEX_ENTRY_BYTES);
}

int tidx_rollback(struct time_index *ix, int fd, const struct time_index *saved) {
    *ix = *saved;
    return fio_ftruncate(fd, (off_t)saved->entries * STORAGE_TIME_INDEX_ENTRY_BYTES);
}

int tidx_lookup(const struct time_index *ix, int fd, int64_t ts, int64_t *ts_out, uint32_t *rel_out) {
    if (ix->entries == 0) return 1;
    int64_t found_ts = ix->last_ts;
    uint32_t found_rel = ix->last_rel;
    if (ix->last_ts > ts) {
        uint8_t e[STORAGE_TIME_INDEX_ENTRY_BYTES];
        int rc = read_entry(fd, 0, sizeof(e), e);
        if (rc != 0) return rc;
        if ((int64_t)rb_be64(e) > ts) return 1;
        uint32_t lo = 0, hi = ix->entries - 1;
        found_ts = (int64_t)rb_be64(e);
        found_rel = rb_be32(e + 8);
        while (hi - lo > 1) {
            uint32_t mid = lo + (hi - lo) / 2;
            rc = read_entry(fd, mid, sizeof(e), e);
            if (rc != 0) return rc;
            if ((int64_t)rb_be64(e) <= ts) {
                lo = mid;
                found_ts = (int64_t)rb_be64(e);
                found_rel = rb_be32(e + 8);
            } else {
                hi = mid;
            }
        }
    }
    if (ts_out) *ts_out = found_ts;
    *rel_out = found_rel;
    return 0;
}

int index_add_batch(struct offset_index *oidx, struct time_index *tidx, const struct index_cursor *cur,
                    uint64_t pos, int64_t batch_base_offset, int64_t batch_max_ts, uint32_t batch_bytes,
                    uint32_t index_interval_bytes, index_fd_fn get_fd, void *ctx) {
    if (batch_max_ts > *cur->max_ts) {
        *cur->max_ts = batch_max_ts;
        *cur->max_ts_batch_offset = batch_base_offset;
    }
    if (*cur->bytes_since_index >= index_interval_bytes) {
        int rc, fd;
        /* A full index only makes lookups walk further; the log rolls
         * before its next append. */
        if (!oidx_full(oidx)) {
            if ((fd = get_fd(ctx, 0)) < 0) return fd;
            if ((rc = oidx_append(oidx, fd, (uint32_t)(batch_base_offset - cur->base_offset), (uint32_t)pos)) != 0)
                return rc;
        }
        if (*cur->max_ts >= 0 && (tidx->entries == 0 || *cur->max_ts > tidx->last_ts) && !tidx_full(tidx)) {
            if ((fd = get_fd(ctx, 1)) < 0) return fd;
            if ((rc = tidx_append(tidx, fd, *cur->max_ts, (uint32_t)(*cur->max_ts_batch_offset - cur->base_offset))) != 0)
                return rc;
        }
        *cur->bytes_since_index = 0;
    }
    *cur->bytes_since_index += batch_bytes;
    return 0;
}
