/*
 * One segment: a <base>.log file of record batches plus its two sparse
 * indexes (format at the top of segment.c and index.c). The segment knows
 * its valid end (`size`): appends go there and reads never pass it, so a
 * reader never sees a half-written append.
 *
 * Files are opened on demand through the descriptor cache (fdcache.h) and
 * may be closed by it between any two calls. A segment may also be
 * *unloaded*: opened after a clean shutdown without reading anything, only
 * its size (from stat) known. segment_load checks it on first use; the
 * functions below that read batches or indexes require a loaded segment.
 */
#ifndef GREGOR_STORAGE_SEGMENT_H
#define GREGOR_STORAGE_SEGMENT_H

#include <stdbool.h>
#include <stdint.h>

#include "protocol/record_batch.h"
#include "storage/fdcache.h"
#include "storage/index.h"

struct segment {
    int64_t base_offset;         /* from the file name; first batch's base offset >= this */
    int64_t next_offset;         /* one past the last offset held; base_offset when empty.
                                    Unloaded: an upper bound, the next segment's base */
    uint64_t size;               /* bytes of complete batches (unloaded: the file size) */
    const char *dir;             /* the log's directory (owned by the log), to reopen files */
    bool loaded;                 /* checked; everything below is valid */
    bool active;                 /* the log's last segment: its indexes are not cold */
    struct fdc_file log_file;    /* use segment_fd() */
    struct fdc_file oidx_file, tidx_file;
    struct offset_index oidx;
    struct time_index tidx;
    uint64_t bytes_since_index;  /* log bytes since the last offset index entry */
    int64_t max_ts;              /* largest batch maxTimestamp, -1 if none */
    int64_t max_ts_batch_offset; /* base offset of the batch that first reached max_ts */
    int64_t roll_base_ms;        /* segment.ms counts from here; -1 until the first append */
};

/* How much an existing segment is checked when loaded. */
enum segment_check {
    SEGMENT_CHECK_TAIL, /* after a clean shutdown: cheap index checks, header walk from the last index entry */
    SEGMENT_CHECK_DEEP, /* sealed segment after a crash: every index entry, CRC of the walked tail */
    SEGMENT_CHECK_FULL, /* every batch, CRC included; indexes rebuilt */
};

struct segment_recovery {
    uint64_t truncated_bytes;
    uint32_t indexes_rebuilt;
    /* Optional: called for every valid batch a full check walks, in order
     * (the log rebuilds leader-epoch entries from them, as Kafka does). */
    void (*on_batch)(void *ctx, const struct rb_header *h);
    void *ctx;
};

/* The descriptor of the .log file, opened if the cache had closed it:
 * >= 0, or -errno. Valid until the next file of any segment is opened. */
int segment_fd(struct segment *s);

/* Creates empty files for a new segment (loaded, not active). */
int segment_create(const char *dir, int64_t base_offset, struct segment **out);
/* Opens and checks an existing segment; see segment_load. */
int segment_open(const char *dir, int64_t base_offset, enum segment_check check, bool may_repair,
                 uint32_t index_interval_bytes, struct segment_recovery *rec, struct segment **out);
/* An unloaded segment: only stats the .log file; next_offset is taken as
 * next_base (the following segment's base offset). */
int segment_open_lazy(const char *dir, int64_t base_offset, int64_t next_base, struct segment **out);
/* What a load learns by reading a segment's files. The start-up summary
 * (log_summary.h) saves it at a clean shutdown so that the next start can
 * rebuild the segment without a single read. */
struct segment_state {
    int64_t next_offset;
    uint64_t size;
    struct offset_index oidx;
    struct time_index tidx;
    uint64_t bytes_since_index;
    int64_t max_ts, max_ts_batch_offset;
    int64_t roll_base_ms;
};
void segment_get_state(const struct segment *s, struct segment_state *out);
/* A segment from saved state, without touching its files: loaded with all
 * of st, or (loaded false) unloaded with only next_offset and size, as
 * segment_open_lazy leaves one. -EUCLEAN when st breaks an invariant of
 * the formats (entries past their bounds, offsets out of range). */
int segment_restore(const char *dir, int64_t base_offset, const struct segment_state *st, bool loaded,
                    struct segment **out);
/* Checks an unloaded segment (no-op when loaded). A check failing at a
 * lower level escalates to SEGMENT_CHECK_FULL, which truncates a torn or
 * corrupt tail and rebuilds the indexes; when that (or creating a missing
 * index) is needed and may_repair is false, nothing is written and
 * -EUCLEAN is returned, so the caller can first make the repair safe. */
int segment_load(struct segment *s, enum segment_check check, bool may_repair, uint32_t index_interval_bytes,
                 struct segment_recovery *rec);
/* Active segments keep their index descriptors warm; old ones are cold. */
void segment_set_active(struct segment *s, bool active);
void segment_close(struct segment *s);
/* Removes the files (the .log first, so a crash cannot bring the segment
 * back), then closes. */
void segment_unlink(struct segment *s);
/* As segment_unlink, but renames each file to "<name>.deleted" (a cheap
 * directory operation; plog_open removes such leftovers) and hands the new
 * path to on_retired, which unlinks it later, off the event loop: freeing
 * a large file's blocks takes milliseconds. 0, or the first -errno. */
#define SEGMENT_RETIRED_SUFFIX ".deleted"
int segment_retire(struct segment *s, void (*on_retired)(void *ctx, const char *path), void *ctx);

/* Appends len bytes of complete batches (offsets already assigned) with
 * one write, adds index entries, and fdatasyncs when sync is set. On any
 * failure the files are cut back to their previous state and -errno is
 * returned; *sync_failed tells whether the fdatasync was what failed.
 * The .log descriptor stays pinned in the cache until its next fdatasync. */
int segment_append(struct segment *s, const uint8_t *data, uint32_t len, uint32_t index_interval_bytes,
                   bool sync, bool *sync_failed);
/* Adds the final time index entry, trims the file to its valid size and
 * fdatasyncs the log and both indexes. */
int segment_seal(struct segment *s);
int segment_sync(struct segment *s);

/* Reads the batch header at pos, checking it lies within the segment. */
int segment_read_header(struct segment *s, uint64_t pos, struct rb_header *h);
/* The first batch whose last offset >= offset: 0 with *pos and *h,
 * 1 if the segment holds none, -errno. */
int segment_locate(struct segment *s, int64_t offset, uint64_t *pos, struct rb_header *h);
/* Position of the first batch at or after `from` whose base offset >=
 * offset, or the segment size. */
int segment_position_of(struct segment *s, int64_t offset, uint64_t from, uint64_t *pos);
/* The first record with timestamp >= ts and offset >= min_offset (exact
 * for uncompressed batches; a compressed batch answers with its first
 * eligible offset and its maxTimestamp). 0 found, 1 none, -errno. */
int segment_find_time(struct segment *s, int64_t ts, int64_t min_offset, int64_t *offset, int64_t *timestamp);
/* Reads the whole batch at pos (total bytes) into *buf, growing it up to
 * STORAGE_BATCH_BYTES_MAX. */
int segment_read_batch(struct segment *s, uint64_t pos, uint32_t total, uint8_t **buf, uint32_t *cap);
/* The segment's largest timestamp for retention: max_ts, or the file's
 * modification time when no batch carried a timestamp (-1 if unknown). */
int64_t segment_largest_timestamp(struct segment *s);

#endif
