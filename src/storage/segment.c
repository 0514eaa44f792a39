/*
 * Segment files. <base> is the segment's base offset as 20 zero-padded
 * decimal digits, e.g. 00000000000000000000.log.
 *
 * <base>.log — record batches back to back, exactly as described at the
 * top of protocol/record_batch.c, nothing else: no file header, no
 * padding, no footer.
 *   off size field (per batch, big-endian)
 *     0    8 baseOffset         assigned by the log; > every offset before it
 *     8    4 batchLength        the batch is 12 + batchLength bytes
 *    12    4 partitionLeaderEpoch
 *    16    1 magic (2)
 *    17    4 crc (CRC-32C of bytes 21..end)
 *    21  ... rest of the v2 header and the records
 * A valid file is a sequence of batches that each pass rb_check_header
 * and their CRC, whose base offsets increase (base >= previous last + 1,
 * first >= <base>), whose relative offsets fit in 31 bits, and which end
 * exactly at the end of the file. Recovery cuts the file at the end of
 * the last batch meeting all of these.
 *
 * <base>.index and <base>.timeindex: see index.c.
 *
 * Descriptors: every file is reached through the descriptor cache
 * (segment_fd and the two index accessors below), which may close it
 * between any two acquisitions; so code here asks for a descriptor right
 * before each use and never keeps one across opening another file. The
 * .log descriptor is pinned from the first write after an fdatasync until
 * the next one (see fdcache.h for why).
 */
#include "storage/segment.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "protocol/crc32c.h"
#include "storage/fileio.h"
#include "storage/storage_limits.h"

#define SEGMENT_LOG_SUFFIX ".log"
#define SEGMENT_INDEX_SUFFIX ".index"
#define SEGMENT_TIMEINDEX_SUFFIX ".timeindex"

static struct segment *segment_alloc(const char *dir, int64_t base_offset) {
    struct segment *s = calloc(1, sizeof(*s));
    if (!s) return NULL;
    s->base_offset = base_offset;
    s->next_offset = base_offset;
    s->dir = dir;
    fdc_file_init(&s->log_file, false);
    fdc_file_init(&s->oidx_file, true);
    fdc_file_init(&s->tidx_file, true);
    s->max_ts = -1;
    s->max_ts_batch_offset = -1;
    s->roll_base_ms = -1;
    return s;
}

static int segment_path(const struct segment *s, const char *suffix, char out[PATH_MAX]) {
    int n = snprintf(out, PATH_MAX, "%s/%020lld%s", s->dir, (long long)s->base_offset, suffix);
    return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

/* The descriptor of one of the segment's files, opening it on a miss. */
static int segment_file(struct segment *s, struct fdc_file *f, const char *suffix, int flags) {
    if (fdc_is_open(f)) return fdc_use(f);
    char path[PATH_MAX];
    int rc = segment_path(s, suffix, path);
    return rc != 0 ? rc : fdc_open(f, AT_FDCWD, path, flags);
}

int segment_fd(struct segment *s) { return segment_file(s, &s->log_file, SEGMENT_LOG_SUFFIX, 0); }
static int oidx_fd(struct segment *s) { return segment_file(s, &s->oidx_file, SEGMENT_INDEX_SUFFIX, 0); }
static int tidx_fd(struct segment *s) { return segment_file(s, &s->tidx_file, SEGMENT_TIMEINDEX_SUFFIX, 0); }

/* fdatasync of the .log; on success its descriptor may be evicted again. */
static int sync_log(struct segment *s) {
    int fd = segment_fd(s);
    if (fd < 0) return fd;
    int rc = fio_fdatasync(fd);
    if (rc == 0) fdc_unpin(&s->log_file);
    return rc;
}

void segment_set_active(struct segment *s, bool active) {
    s->active = active;
    fdc_set_cold(&s->oidx_file, !active);
    fdc_set_cold(&s->tidx_file, !active);
}

void segment_close(struct segment *s) {
    if (!s) return;
    fdc_close(&s->log_file);
    fdc_close(&s->oidx_file);
    fdc_close(&s->tidx_file);
    free(s);
}

void segment_unlink(struct segment *s) {
    static const char *const suffixes[] = {SEGMENT_LOG_SUFFIX, SEGMENT_INDEX_SUFFIX, SEGMENT_TIMEINDEX_SUFFIX};
    char path[PATH_MAX];
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        if (segment_path(s, suffixes[i], path) != 0) continue;
        if (unlink(path) != 0 && errno != ENOENT)
            log_warn("storage", "cannot remove segment file file=%s errno=%d", path, errno);
    }
    segment_close(s);
}

int segment_retire(struct segment *s, void (*on_retired)(void *ctx, const char *path), void *ctx) {
    static const char *const suffixes[] = {SEGMENT_LOG_SUFFIX, SEGMENT_INDEX_SUFFIX, SEGMENT_TIMEINDEX_SUFFIX};
    char path[PATH_MAX], retired[PATH_MAX + 16];
    int rc = 0;
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        if (segment_path(s, suffixes[i], path) != 0) continue;
        snprintf(retired, sizeof(retired), "%s%s", path, SEGMENT_RETIRED_SUFFIX);
        if (rename(path, retired) == 0) on_retired(ctx, retired);
        else if (errno != ENOENT && rc == 0) rc = -errno;
    }
    segment_close(s);
    return rc;
}

int segment_create(const char *dir, int64_t base_offset, struct segment **out) {
    struct segment *s = segment_alloc(dir, base_offset);
    if (!s) return -ENOMEM;
    s->loaded = true;
    int rc;
    /* O_TRUNC: a leftover index of the same name can only be a stray. */
    if ((rc = segment_file(s, &s->log_file, SEGMENT_LOG_SUFFIX, O_CREAT | O_TRUNC)) < 0 ||
        (rc = segment_file(s, &s->oidx_file, SEGMENT_INDEX_SUFFIX, O_CREAT | O_TRUNC)) < 0 ||
        (rc = segment_file(s, &s->tidx_file, SEGMENT_TIMEINDEX_SUFFIX, O_CREAT | O_TRUNC)) < 0) {
        segment_unlink(s);
        return rc;
    }
    *out = s;
    return 0;
}

static int segment_index_fd(void *ctx, int which) { return which == 0 ? oidx_fd(ctx) : tidx_fd(ctx); }

/* Keeps the in-memory max timestamp and adds index entries for a batch
 * about to live at pos; shared by appends and index rebuilds so both
 * produce identical indexes (the rule is index_add_batch's). */
static int segment_index_batch(struct segment *s, uint64_t pos, const struct rb_header *h,
                               uint32_t index_interval_bytes) {
    struct index_cursor cur = {s->base_offset, &s->bytes_since_index, &s->max_ts, &s->max_ts_batch_offset};
    return index_add_batch(&s->oidx, &s->tidx, &cur, pos, h->base_offset, h->max_timestamp, rb_total_bytes(h),
                           index_interval_bytes, segment_index_fd, s);
}

/* ---- load-time checks ---- */

struct walk {
    uint64_t end_pos;          /* end of the last valid batch */
    int64_t next_offset;       /* last valid offset + 1, or -1 if no batch */
    int64_t max_ts;
    int64_t max_ts_batch_offset;
    const char *why;           /* NULL when the walk reached the end cleanly */
};

/* CRC of the batch at pos whose first RB_HEADER_BYTES are in hdr, read in
 * chunks so a huge (possibly bogus) length costs no memory. */
static int crc_of_batch(int fd, uint64_t pos, uint32_t total, const uint8_t *hdr, uint8_t **chunk,
                        uint32_t *crc_out) {
    if (!*chunk && !(*chunk = malloc(STORAGE_IO_CHUNK_BYTES))) return -ENOMEM;
    uint32_t crc = crc32c(0, hdr + RB_OFF_ATTRIBUTES, RB_HEADER_BYTES - RB_OFF_ATTRIBUTES);
    uint64_t at = pos + RB_HEADER_BYTES, end = pos + total;
    while (at < end) {
        size_t n = end - at < STORAGE_IO_CHUNK_BYTES ? (size_t)(end - at) : STORAGE_IO_CHUNK_BYTES;
        int rc = fio_pread_full(fd, *chunk, n, (off_t)at);
        if (rc != 0) return rc;
        crc = crc32c(crc, *chunk, n);
        at += n;
    }
    *crc_out = crc;
    return 0;
}

/* Walks batches from pos to end, stopping at the first that breaks a
 * rule of the .log format; with `rebuild` each valid batch is indexed and
 * reported to rec->on_batch. */
static int walk_batches(struct segment *s, uint64_t pos, uint64_t end, int64_t min_base, bool check_crc,
                        bool rebuild, uint32_t index_interval_bytes, const struct segment_recovery *rec,
                        struct walk *w) {
    *w = (struct walk){.end_pos = pos, .next_offset = -1, .max_ts = -1,
                       .max_ts_batch_offset = -1};
    uint8_t *chunk = NULL;
    int64_t expect = min_base;
    int rc = 0;
    while (pos < end) {
        uint8_t hdr[RB_HEADER_BYTES];
        struct rb_header h;
        if (end - pos < RB_HEADER_BYTES) { w->why = "torn_header"; break; }
        /* Asked for again on each batch: indexing below may open files. */
        int fd = segment_fd(s);
        if (fd < 0) { rc = fd; break; }
        rc = fio_pread_full(fd, hdr, sizeof(hdr), (off_t)pos);
        if (rc == -ENODATA) { rc = 0; w->why = "file_shrank"; break; }
        if (rc != 0) break;
        rb_parse_header(hdr, sizeof(hdr), &h);
        enum rb_check c = rb_check_header(&h);
        if (c != RB_OK) { w->why = rb_check_name(c); break; }
        uint32_t total = rb_total_bytes(&h);
        if (total > end - pos) { w->why = "torn_batch"; break; }
        if (total > STORAGE_BATCH_BYTES_MAX) { w->why = "oversized_batch"; break; }
        if (pos > UINT32_MAX) { w->why = "segment_too_large"; break; }
        if (h.base_offset < expect) { w->why = "offset_not_increasing"; break; }
        if (h.base_offset - s->base_offset > STORAGE_SEGMENT_OFFSET_SPAN_MAX - h.last_offset_delta ||
            h.base_offset > INT64_MAX - 1 - h.last_offset_delta) {
            w->why = "offset_out_of_segment_range";
            break;
        }
        if (check_crc) {
            uint32_t crc;
            rc = crc_of_batch(fd, pos, total, hdr, &chunk, &crc);
            if (rc == -ENODATA) { rc = 0; w->why = "file_shrank"; break; }
            if (rc != 0) break;
            if (crc != h.crc) { w->why = "crc_mismatch"; break; }
        }
        if (rebuild) {
            if ((rc = segment_index_batch(s, pos, &h, index_interval_bytes)) != 0) break;
            if (rec && rec->on_batch) rec->on_batch(rec->ctx, &h);
        }
        if (h.max_timestamp > w->max_ts) {
            w->max_ts = h.max_timestamp;
            w->max_ts_batch_offset = h.base_offset;
        }
        expect = rb_last_offset(&h) + 1;
        w->next_offset = expect;
        pos += total;
        w->end_pos = pos;
    }
    free(chunk);
    return rc;
}

static int64_t file_mtime_ms(int fd) {
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) return -1;
    return (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
}

/* Trusts the indexes as far as cheap checks allow and walks only the tail
 * after the last offset index entry. -EUCLEAN sends the caller to a full
 * check. */
static int check_tail(struct segment *s, uint64_t file_size, bool deep) {
    int fd = oidx_fd(s);
    if (fd < 0) return fd;
    int rc = oidx_load(&s->oidx, fd, file_size, deep);
    if (rc != 0) return rc;
    if ((fd = tidx_fd(s)) < 0) return fd;
    if ((rc = tidx_load(&s->tidx, fd, deep)) != 0) return rc;
    uint64_t start = 0;
    int64_t min_base = s->base_offset;
    if (s->oidx.entries > 0) {
        uint8_t hdr[RB_HEADER_BYTES];
        struct rb_header h;
        start = s->oidx.last_pos;
        min_base = s->base_offset + s->oidx.last_rel;
        /* The last entry must point at the start of the batch it names. */
        if ((fd = segment_fd(s)) < 0) return fd;
        rc = fio_pread_full(fd, hdr, sizeof(hdr), (off_t)start);
        if (rc == -ENODATA) return -EUCLEAN;
        if (rc != 0) return rc;
        rb_parse_header(hdr, sizeof(hdr), &h);
        if (h.base_offset != min_base) return -EUCLEAN;
    }
    struct walk w;
    rc = walk_batches(s, start, file_size, min_base, deep, false, 0, NULL, &w);
    if (rc != 0) return rc;
    if (w.why) {
        log_warn("storage", "segment tail check failed, checking whole segment dir=%s base_offset=%lld "
                 "position=%llu reason=%s", s->dir, (long long)s->base_offset, (unsigned long long)w.end_pos, w.why);
        return -EUCLEAN;
    }
    s->size = file_size;
    s->next_offset = w.next_offset >= 0 ? w.next_offset : s->base_offset;
    if (s->tidx.entries > 0 && s->base_offset + s->tidx.last_rel >= s->next_offset) return -EUCLEAN;
    if (s->tidx.entries > 0) {
        s->max_ts = s->tidx.last_ts;
        s->max_ts_batch_offset = s->base_offset + s->tidx.last_rel;
    }
    if (w.max_ts > s->max_ts) {
        s->max_ts = w.max_ts;
        s->max_ts_batch_offset = w.max_ts_batch_offset;
    }
    s->bytes_since_index = file_size - start;
    return 0;
}

/* The time index entry a seal adds: the segment's largest timestamp, if
 * no entry carries it yet. */
static int add_final_time_entry(struct segment *s) {
    if (s->max_ts < 0 || (s->tidx.entries > 0 && s->max_ts <= s->tidx.last_ts) || tidx_full(&s->tidx)) return 0;
    int fd = tidx_fd(s);
    return fd < 0 ? fd : tidx_append(&s->tidx, fd, s->max_ts, (uint32_t)(s->max_ts_batch_offset - s->base_offset));
}

/* Checks every batch, rebuilds both indexes, truncates at the first bad
 * batch. The rebuilt time index ends with the entry a seal would add, so a
 * segment sealed before the crash gets back byte-identical indexes (and
 * no ftruncate); for the active segment the extra entry is as valid as
 * any other. */
static int check_full(struct segment *s, uint64_t file_size, uint32_t index_interval_bytes,
                      struct segment_recovery *rec) {
    oidx_begin_rebuild(&s->oidx);
    tidx_begin_rebuild(&s->tidx);
    s->bytes_since_index = 0;
    s->max_ts = -1;
    s->max_ts_batch_offset = -1;
    struct walk w;
    int fd, rc = walk_batches(s, 0, file_size, s->base_offset, true, true, index_interval_bytes, rec, &w);
    if (rc == 0) rc = add_final_time_entry(s);
    if (rc == 0) rc = (fd = oidx_fd(s)) < 0 ? fd : oidx_end_rebuild(&s->oidx, fd);
    if (rc == 0) rc = (fd = tidx_fd(s)) < 0 ? fd : tidx_end_rebuild(&s->tidx, fd);
    if (rc != 0) return rc;
    rec->indexes_rebuilt += 2;
    if (w.end_pos < file_size) {
        log_warn("storage", "truncating corrupt or torn segment tail dir=%s base_offset=%lld position=%llu "
                 "dropped_bytes=%llu reason=%s", s->dir, (long long)s->base_offset,
                 (unsigned long long)w.end_pos, (unsigned long long)(file_size - w.end_pos),
                 w.why ? w.why : "unknown");
        if ((fd = segment_fd(s)) < 0) return fd;
        fdc_pin(&s->log_file);
        if ((rc = fio_ftruncate(fd, (off_t)w.end_pos)) != 0) return rc;
        /* New appends land where the garbage was; make the cut durable first. */
        if ((rc = sync_log(s)) != 0) return rc;
        rec->truncated_bytes += file_size - w.end_pos;
    }
    s->size = w.end_pos;
    s->next_offset = w.next_offset >= 0 ? w.next_offset : s->base_offset;
    return 0;
}

/* Opens an index file that must exist; -EUCLEAN (rebuild it) when it is
 * missing, after creating it if allowed. */
static int open_index(struct segment *s, struct fdc_file *f, const char *suffix, bool may_create) {
    int rc = segment_file(s, f, suffix, 0);
    if (rc != -ENOENT) return rc < 0 ? rc : 0;
    if (!may_create) return -EUCLEAN;
    rc = segment_file(s, f, suffix, O_CREAT);
    return rc < 0 ? rc : -EUCLEAN;
}

int segment_load(struct segment *s, enum segment_check check, bool may_repair, uint32_t index_interval_bytes,
                 struct segment_recovery *rec) {
    if (s->loaded) return 0;
    int fd = segment_fd(s);
    if (fd < 0) return fd;
    struct stat st;
    if (fstat(fd, &st) != 0) return -errno;
    uint64_t file_size = (uint64_t)st.st_size;
    int orc = open_index(s, &s->oidx_file, SEGMENT_INDEX_SUFFIX, may_repair);
    int trc = open_index(s, &s->tidx_file, SEGMENT_TIMEINDEX_SUFFIX, may_repair);
    if (orc != 0 && orc != -EUCLEAN) return orc;
    if (trc != 0 && trc != -EUCLEAN) return trc;
    int rc = -EUCLEAN;
    if (check != SEGMENT_CHECK_FULL && orc == 0 && trc == 0) rc = check_tail(s, file_size, check == SEGMENT_CHECK_DEEP);
    if (rc == -EUCLEAN) {
        if (!may_repair) return -EUCLEAN;
        rc = check_full(s, file_size, index_interval_bytes, rec);
    }
    if (rc != 0) return rc;

    if (s->size > 0) {
        /* segment.ms counts from the first batch's time, but never from
         * later than the last write (a producer clock far in the future
         * must not keep a segment open forever). */
        struct rb_header h;
        s->roll_base_ms = file_mtime_ms(segment_fd(s));
        if (segment_read_header(s, 0, &h) == 0 && h.max_timestamp >= 0 && h.max_timestamp < s->roll_base_ms)
            s->roll_base_ms = h.max_timestamp;
    }
    s->loaded = true;
    return 0;
}

int segment_open(const char *dir, int64_t base_offset, enum segment_check check, bool may_repair,
                 uint32_t index_interval_bytes, struct segment_recovery *rec, struct segment **out) {
    struct segment *s = segment_alloc(dir, base_offset);
    if (!s) return -ENOMEM;
    int rc = segment_load(s, check, may_repair, index_interval_bytes, rec);
    if (rc != 0) {
        segment_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

int segment_open_lazy(const char *dir, int64_t base_offset, int64_t next_base, struct segment **out) {
    struct segment *s = segment_alloc(dir, base_offset);
    if (!s) return -ENOMEM;
    char path[PATH_MAX];
    struct stat st;
    int rc = segment_path(s, SEGMENT_LOG_SUFFIX, path);
    if (rc == 0 && stat(path, &st) != 0) rc = -errno;
    if (rc != 0) {
        segment_close(s);
        return rc;
    }
    s->size = (uint64_t)st.st_size;
    s->next_offset = next_base;
    *out = s;
    return 0;
}

void segment_get_state(const struct segment *s, struct segment_state *out) {
    *out = (struct segment_state){
        .next_offset = s->next_offset,
        .size = s->size,
        .oidx = s->oidx,
        .tidx = s->tidx,
        .bytes_since_index = s->bytes_since_index,
        .max_ts = s->max_ts,
        .max_ts_batch_offset = s->max_ts_batch_offset,
        .roll_base_ms = s->roll_base_ms,
    };
}

/* The bounds a load would have enforced, so saved state can never put a
 * segment in a shape the runtime code does not expect. */
static bool state_plausible(int64_t base_offset, const struct segment_state *st, bool loaded) {
    if (base_offset < 0 || base_offset > STORAGE_OFFSET_MAX || st->next_offset < base_offset ||
        st->size > UINT32_MAX)
        return false;
    if (!loaded) return true;
    /* An unloaded segment's end is only the next one's base; a loaded one's is exact. */
    if (st->next_offset - base_offset > (int64_t)STORAGE_SEGMENT_OFFSET_SPAN_MAX + 1) return false;
    const struct offset_index *o = &st->oidx;
    const struct time_index *t = &st->tidx;
    if (o->entries > STORAGE_OFFSET_INDEX_ENTRIES_MAX || t->entries > STORAGE_TIME_INDEX_ENTRIES_MAX) return false;
    if (o->entries > 0 && (o->last_pos >= st->size || base_offset + o->last_rel >= st->next_offset)) return false;
    if (t->entries > 0 && base_offset + t->last_rel >= st->next_offset) return false;
    return st->bytes_since_index <= st->size && (st->size == 0) == (st->next_offset == base_offset);
}

int segment_restore(const char *dir, int64_t base_offset, const struct segment_state *st, bool loaded,
                    struct segment **out) {
    if (!state_plausible(base_offset, st, loaded)) return -EUCLEAN;
    struct segment *s = segment_alloc(dir, base_offset);
    if (!s) return -ENOMEM;
    s->next_offset = st->next_offset;
    s->size = st->size;
    if (loaded) {
        s->oidx = st->oidx;
        s->tidx = st->tidx;
        s->bytes_since_index = st->bytes_since_index;
        s->max_ts = st->max_ts;
        s->max_ts_batch_offset = st->max_ts_batch_offset;
        s->roll_base_ms = st->roll_base_ms;
        s->loaded = true;
    }
    *out = s;
    return 0;
}

/* ---- runtime ---- */

int segment_append(struct segment *s, const uint8_t *data, uint32_t len, uint32_t index_interval_bytes,
                   bool sync, bool *sync_failed) {
    /* Only the metadata is saved: the descriptor handles are the cache's
     * (their list links move with every use). */
    const uint64_t saved_size = s->size, saved_bytes_since_index = s->bytes_since_index;
    const int64_t saved_max_ts = s->max_ts, saved_max_ts_batch_offset = s->max_ts_batch_offset;
    const struct offset_index saved_oidx = s->oidx;
    const struct time_index saved_tidx = s->tidx;
    *sync_failed = false;
    int fd = segment_fd(s);
    if (fd < 0) return fd;
    /* From the first unsynced byte on, the descriptor must stay open. */
    fdc_pin(&s->log_file);
    int rc = fio_pwrite_full(fd, data, len, (off_t)s->size);
    uint64_t pos = 0;
    int64_t next = s->next_offset;
    while (rc == 0 && pos < len) {
        struct rb_header h;
        rb_parse_header(data + pos, len - pos, &h);
        rc = segment_index_batch(s, s->size + pos, &h, index_interval_bytes);
        pos += rb_total_bytes(&h);
        next = rb_last_offset(&h) + 1;
    }
    if (rc == 0 && sync) {
        rc = sync_log(s);
        *sync_failed = rc != 0;
    }
    if (rc != 0) {
        /* Never leave a partial batch behind: cut the log and the indexes
         * back to where this append started. */
        int trc = (fd = segment_fd(s)) < 0 ? fd : fio_ftruncate(fd, (off_t)saved_size);
        if (trc != 0)
            log_error("storage", "cannot truncate after failed append base_offset=%lld size=%llu errno=%d",
                      (long long)s->base_offset, (unsigned long long)saved_size, -trc);
        if ((fd = oidx_fd(s)) >= 0) oidx_rollback(&s->oidx, fd, &saved_oidx);
        else s->oidx = saved_oidx;
        if ((fd = tidx_fd(s)) >= 0) tidx_rollback(&s->tidx, fd, &saved_tidx);
        else s->tidx = saved_tidx;
        s->bytes_since_index = saved_bytes_since_index;
        s->max_ts = saved_max_ts;
        s->max_ts_batch_offset = saved_max_ts_batch_offset;
        return rc;
    }
    s->size += len;
    s->next_offset = next;
    return 0;
}

int segment_sync(struct segment *s) { return sync_log(s); }

int segment_seal(struct segment *s) {
    struct stat st;
    int rc = 0;
    int fd = segment_fd(s);
    if (fd < 0) return fd;
    /* Bytes past size can only be the remains of a failed append whose
     * truncation also failed; do not let them reach the next open. */
    if (fstat(fd, &st) == 0 && (uint64_t)st.st_size > s->size) {
        fdc_pin(&s->log_file);
        rc = fio_ftruncate(fd, (off_t)s->size);
    }
    if (rc == 0) rc = add_final_time_entry(s);
    if (rc == 0) rc = sync_log(s);
    if (rc == 0) rc = (fd = oidx_fd(s)) < 0 ? fd : fio_fdatasync(fd);
    if (rc == 0) rc = (fd = tidx_fd(s)) < 0 ? fd : fio_fdatasync(fd);
    return rc;
}

int segment_read_header(struct segment *s, uint64_t pos, struct rb_header *h) {
    uint8_t hdr[RB_HEADER_BYTES];
    if (pos + RB_HEADER_BYTES > s->size) goto corrupt;
    int fd = segment_fd(s);
    if (fd < 0) return fd;
    int rc = fio_pread_full(fd, hdr, sizeof(hdr), (off_t)pos);
    if (rc == -ENODATA) goto corrupt;
    if (rc != 0) return rc;
    rb_parse_header(hdr, sizeof(hdr), h);
    if (h->magic != RB_MAGIC_V2 || h->batch_length < RB_BATCH_LENGTH_MIN || h->last_offset_delta < 0 ||
        rb_total_bytes(h) > s->size - pos)
        goto corrupt;
    return 0;
corrupt:
    /* The file changed under us (or a check at open was too trusting). */
    log_error("storage", "corrupt batch header in open segment dir=%s base_offset=%lld position=%llu size=%llu",
              s->dir, (long long)s->base_offset, (unsigned long long)pos, (unsigned long long)s->size);
    return -EUCLEAN;
}

/* Position of a batch at or before the one holding `offset`. */
static int index_start(struct segment *s, int64_t offset, uint64_t *pos) {
    *pos = 0;
    if (offset <= s->base_offset) return 0;
    int64_t rel = offset - s->base_offset;
    uint32_t rel32 = rel > UINT32_MAX ? UINT32_MAX : (uint32_t)rel, p;
    /* The usual tail lookup is answered from memory without the file. */
    int fd = oidx_needs_file(&s->oidx, rel32) ? oidx_fd(s) : -1;
    if (fd < 0 && oidx_needs_file(&s->oidx, rel32)) return fd;
    int rc = oidx_lookup(&s->oidx, fd, rel32, NULL, &p);
    if (rc < 0) return rc;
    if (rc == 0) *pos = p;
    return 0;
}

int segment_locate(struct segment *s, int64_t offset, uint64_t *pos_out, struct rb_header *h) {
    if (offset >= s->next_offset) return 1;
    uint64_t pos;
    int rc = index_start(s, offset, &pos);
    if (rc != 0) return rc;
    while (pos < s->size) {
        if ((rc = segment_read_header(s, pos, h)) != 0) return rc;
        if (rb_last_offset(h) >= offset) {
            *pos_out = pos;
            return 0;
        }
        pos += rb_total_bytes(h);
    }
    return 1;
}

int segment_position_of(struct segment *s, int64_t offset, uint64_t from, uint64_t *pos_out) {
    uint64_t pos;
    int rc = index_start(s, offset, &pos);
    if (rc != 0) return rc;
    if (pos < from) pos = from;
    while (pos < s->size) {
        struct rb_header h;
        if ((rc = segment_read_header(s, pos, &h)) != 0) return rc;
        if (h.base_offset >= offset) break;
        pos += rb_total_bytes(&h);
    }
    *pos_out = pos < s->size ? pos : s->size;
    return 0;
}

int segment_read_batch(struct segment *s, uint64_t pos, uint32_t total, uint8_t **buf, uint32_t *cap) {
    if (total > STORAGE_BATCH_BYTES_MAX) return -EINVAL;
    if (total > *cap) {
        uint8_t *nb = realloc(*buf, total);
        if (!nb) return -ENOMEM;
        *buf = nb;
        *cap = total;
    }
    int fd = segment_fd(s);
    if (fd < 0) return fd;
    int rc = fio_pread_full(fd, *buf, total, (off_t)pos);
    return rc == -ENODATA ? -EUCLEAN : rc;
}

int segment_find_time(struct segment *s, int64_t ts, int64_t min_offset, int64_t *offset, int64_t *timestamp) {
    int64_t from = s->base_offset;
    int64_t entry_ts;
    uint32_t rel;
    int fd = tidx_needs_file(&s->tidx, ts) ? tidx_fd(s) : -1;
    if (fd < 0 && tidx_needs_file(&s->tidx, ts)) return fd;
    int rc = tidx_lookup(&s->tidx, fd, ts, &entry_ts, &rel);
    if (rc < 0) return rc;
    if (rc == 0) from = s->base_offset + rel;
    if (from < min_offset) from = min_offset;
    uint64_t pos;
    if ((rc = index_start(s, from, &pos)) != 0) return rc;
    uint8_t *buf = NULL;
    uint32_t cap = 0;
    rc = 1;
    while (pos < s->size) {
        struct rb_header h;
        int hrc = segment_read_header(s, pos, &h);
        if (hrc != 0) { rc = hrc; break; }
        uint32_t total = rb_total_bytes(&h);
        if (rb_last_offset(&h) >= min_offset && h.max_timestamp >= ts) {
            int64_t first = h.base_offset > min_offset ? h.base_offset : min_offset;
            /* Compressed bodies are not inflated here; their first eligible
             * offset is a safe answer (a consumer starting there sees every
             * record at or after ts), as are LogAppendTime batches, whose
             * records all carry maxTimestamp. */
            if (rb_codec_of(&h) != RB_CODEC_NONE || (h.attributes & RB_ATTR_LOG_APPEND_TIME)) {
                *offset = first;
                *timestamp = h.max_timestamp;
                rc = 0;
                break;
            }
            int brc = segment_read_batch(s, pos, total, &buf, &cap);
            if (brc != 0) { rc = brc; break; }
            int32_t delta;
            int64_t found_ts;
            int frc = rb_find_timestamp(buf, total, ts, (int32_t)(first - h.base_offset), &delta, &found_ts);
            if (frc == 0) {
                *offset = h.base_offset + delta;
                *timestamp = found_ts;
                rc = 0;
                break;
            }
            if (frc < 0) {
                /* Records we cannot walk: answer for the batch as a whole. */
                log_warn("storage", "unreadable records in batch base_offset=%lld segment=%lld position=%llu",
                         (long long)h.base_offset, (long long)s->base_offset, (unsigned long long)pos);
                *offset = first;
                *timestamp = h.max_timestamp;
                rc = 0;
                break;
            }
        }
        pos += total;
    }
    free(buf);
    return rc;
}

int64_t segment_largest_timestamp(struct segment *s) {
    return s->max_ts >= 0 ? s->max_ts : file_mtime_ms(segment_fd(s));
}
