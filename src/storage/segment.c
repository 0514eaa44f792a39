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
 */
#include "storage/segment.h"

#include <errno.h>
#include <fcntl.h>
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
#define SEGMENT_FILE_MODE 0644

static struct segment *segment_alloc(int64_t base_offset) {
    struct segment *s = calloc(1, sizeof(*s));
    if (!s) return NULL;
    s->base_offset = base_offset;
    s->next_offset = base_offset;
    s->log_fd = s->oidx.fd = s->tidx.fd = -1;
    s->max_ts = -1;
    s->max_ts_batch_offset = -1;
    s->roll_base_ms = -1;
    return s;
}

void segment_close(struct segment *s) {
    if (!s) return;
    if (s->log_fd >= 0) close(s->log_fd);
    if (s->oidx.fd >= 0) close(s->oidx.fd);
    if (s->tidx.fd >= 0) close(s->tidx.fd);
    free(s);
}

void segment_unlink(int dirfd, struct segment *s) {
    static const char *const suffixes[] = {SEGMENT_LOG_SUFFIX, SEGMENT_INDEX_SUFFIX, SEGMENT_TIMEINDEX_SUFFIX};
    char name[FIO_SEGMENT_NAME_BYTES];
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        fio_segment_name(name, s->base_offset, suffixes[i]);
        if (unlinkat(dirfd, name, 0) != 0 && errno != ENOENT)
            log_warn("storage", "cannot remove segment file file=%s errno=%d", name, errno);
    }
    segment_close(s);
}

static int open_file(int dirfd, int64_t base, const char *suffix, int flags) {
    char name[FIO_SEGMENT_NAME_BYTES];
    fio_segment_name(name, base, suffix);
    int fd = openat(dirfd, name, flags | O_RDWR | O_CLOEXEC, SEGMENT_FILE_MODE);
    return fd < 0 ? -errno : fd;
}

int segment_create(int dirfd, int64_t base_offset, struct segment **out) {
    struct segment *s = segment_alloc(base_offset);
    if (!s) return -ENOMEM;
    int rc;
    /* O_TRUNC: a leftover index of the same name can only be a stray. */
    if ((rc = open_file(dirfd, base_offset, SEGMENT_LOG_SUFFIX, O_CREAT | O_TRUNC)) < 0) goto fail;
    s->log_fd = rc;
    if ((rc = open_file(dirfd, base_offset, SEGMENT_INDEX_SUFFIX, O_CREAT | O_TRUNC)) < 0) goto fail;
    s->oidx.fd = rc;
    if ((rc = open_file(dirfd, base_offset, SEGMENT_TIMEINDEX_SUFFIX, O_CREAT | O_TRUNC)) < 0) goto fail;
    s->tidx.fd = rc;
    *out = s;
    return 0;
fail:
    segment_unlink(dirfd, s);
    return rc;
}

/* Keeps the in-memory max timestamp and adds index entries for a batch
 * about to live at pos; shared by appends and index rebuilds so both
 * produce identical indexes. */
static int segment_index_batch(struct segment *s, uint64_t pos, const struct rb_header *h,
                               uint32_t index_interval_bytes) {
    if (h->max_timestamp > s->max_ts) {
        s->max_ts = h->max_timestamp;
        s->max_ts_batch_offset = h->base_offset;
    }
    if (s->bytes_since_index >= index_interval_bytes) {
        int rc;
        /* A full index only makes lookups walk further; the log rolls
         * before its next append. */
        if (!oidx_full(&s->oidx) &&
            (rc = oidx_append(&s->oidx, (uint32_t)(h->base_offset - s->base_offset), (uint32_t)pos)) != 0)
            return rc;
        if (s->max_ts >= 0 && (s->tidx.entries == 0 || s->max_ts > s->tidx.last_ts) && !tidx_full(&s->tidx) &&
            (rc = tidx_append(&s->tidx, s->max_ts, (uint32_t)(s->max_ts_batch_offset - s->base_offset))) != 0)
            return rc;
        s->bytes_since_index = 0;
    }
    s->bytes_since_index += rb_total_bytes(h);
    return 0;
}

/* ---- open-time checks ---- */

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
 * rule of the .log format; with `rebuild` each valid batch is indexed. */
static int walk_batches(struct segment *s, uint64_t pos, uint64_t end, int64_t min_base, bool check_crc,
                        bool rebuild, uint32_t index_interval_bytes, struct walk *w) {
    *w = (struct walk){.end_pos = pos, .next_offset = -1, .max_ts = -1,
                       .max_ts_batch_offset = -1};
    uint8_t *chunk = NULL;
    int64_t expect = min_base;
    int rc = 0;
    while (pos < end) {
        uint8_t hdr[RB_HEADER_BYTES];
        struct rb_header h;
        if (end - pos < RB_HEADER_BYTES) { w->why = "torn_header"; break; }
        rc = fio_pread_full(segment_fd(s), hdr, sizeof(hdr), (off_t)pos);
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
            rc = crc_of_batch(segment_fd(s), pos, total, hdr, &chunk, &crc);
            if (rc == -ENODATA) { rc = 0; w->why = "file_shrank"; break; }
            if (rc != 0) break;
            if (crc != h.crc) { w->why = "crc_mismatch"; break; }
        }
        if (rebuild && (rc = segment_index_batch(s, pos, &h, index_interval_bytes)) != 0) break;
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
    if (fstat(fd, &st) != 0) return -1;
    return (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
}

/* Trusts the indexes as far as cheap checks allow and walks only the tail
 * after the last offset index entry. -EUCLEAN sends the caller to a full
 * check. */
static int check_tail(struct segment *s, uint64_t file_size, bool deep, const char *dir) {
    int rc = oidx_load(&s->oidx, file_size, deep);
    if (rc == 0) rc = tidx_load(&s->tidx, deep);
    if (rc != 0) return rc;
    uint64_t start = 0;
    int64_t min_base = s->base_offset;
    if (s->oidx.entries > 0) {
        uint8_t hdr[RB_HEADER_BYTES];
        struct rb_header h;
        start = s->oidx.last_pos;
        min_base = s->base_offset + s->oidx.last_rel;
        /* The last entry must point at the start of the batch it names. */
        rc = fio_pread_full(segment_fd(s), hdr, sizeof(hdr), (off_t)start);
        if (rc == -ENODATA) return -EUCLEAN;
        if (rc != 0) return rc;
        rb_parse_header(hdr, sizeof(hdr), &h);
        if (h.base_offset != min_base) return -EUCLEAN;
    }
    struct walk w;
    rc = walk_batches(s, start, file_size, min_base, deep, false, 0, &w);
    if (rc != 0) return rc;
    if (w.why) {
        log_warn("storage", "segment tail check failed, checking whole segment dir=%s base_offset=%lld "
                 "position=%llu reason=%s", dir, (long long)s->base_offset, (unsigned long long)w.end_pos, w.why);
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

/* Checks every batch, rebuilds both indexes, truncates at the first bad batch. */
static int check_full(struct segment *s, uint64_t file_size, uint32_t index_interval_bytes, const char *dir,
                      struct segment_recovery *rec) {
    int rc = oidx_reset(&s->oidx);
    if (rc == 0) rc = tidx_reset(&s->tidx);
    if (rc != 0) return rc;
    s->bytes_since_index = 0;
    s->max_ts = -1;
    s->max_ts_batch_offset = -1;
    struct walk w;
    rc = walk_batches(s, 0, file_size, s->base_offset, true, true, index_interval_bytes, &w);
    if (rc != 0) return rc;
    rec->indexes_rebuilt += 2;
    if (w.end_pos < file_size) {
        log_warn("storage", "truncating corrupt or torn segment tail dir=%s base_offset=%lld position=%llu "
                 "dropped_bytes=%llu reason=%s", dir, (long long)s->base_offset,
                 (unsigned long long)w.end_pos, (unsigned long long)(file_size - w.end_pos),
                 w.why ? w.why : "unknown");
        if ((rc = fio_ftruncate(segment_fd(s), (off_t)w.end_pos)) != 0) return rc;
        /* New appends land where the garbage was; make the cut durable first. */
        if ((rc = fio_fdatasync(segment_fd(s))) != 0) return rc;
        rec->truncated_bytes += file_size - w.end_pos;
    }
    s->size = w.end_pos;
    s->next_offset = w.next_offset >= 0 ? w.next_offset : s->base_offset;
    return 0;
}

int segment_open(int dirfd, int64_t base_offset, enum segment_check check, uint32_t index_interval_bytes,
                 const char *dir, struct segment_recovery *rec, struct segment **out) {
    struct segment *s = segment_alloc(base_offset);
    if (!s) return -ENOMEM;
    bool missing_index = false;
    int rc = open_file(dirfd, base_offset, SEGMENT_LOG_SUFFIX, 0);
    if (rc < 0) goto fail;
    s->log_fd = rc;
    rc = open_file(dirfd, base_offset, SEGMENT_INDEX_SUFFIX, 0);
    if (rc == -ENOENT) {
        missing_index = true;
        rc = open_file(dirfd, base_offset, SEGMENT_INDEX_SUFFIX, O_CREAT);
    }
    if (rc < 0) goto fail;
    s->oidx.fd = rc;
    rc = open_file(dirfd, base_offset, SEGMENT_TIMEINDEX_SUFFIX, 0);
    if (rc == -ENOENT) {
        missing_index = true;
        rc = open_file(dirfd, base_offset, SEGMENT_TIMEINDEX_SUFFIX, O_CREAT);
    }
    if (rc < 0) goto fail;
    s->tidx.fd = rc;

    struct stat st;
    if (fstat(segment_fd(s), &st) != 0) {
        rc = -errno;
        goto fail;
    }
    uint64_t file_size = (uint64_t)st.st_size;
    rc = -EUCLEAN;
    if (check != SEGMENT_CHECK_FULL && !missing_index)
        rc = check_tail(s, file_size, check == SEGMENT_CHECK_DEEP, dir);
    if (rc == -EUCLEAN) rc = check_full(s, file_size, index_interval_bytes, dir, rec);
    if (rc != 0) goto fail;

    if (s->size > 0) {
        /* segment.ms counts from the first batch's time, but never from
         * later than the last write (a producer clock far in the future
         * must not keep a segment open forever). */
        struct rb_header h;
        int64_t mtime = file_mtime_ms(segment_fd(s));
        s->roll_base_ms = mtime;
        if (segment_read_header(s, 0, &h) == 0 && h.max_timestamp >= 0 && h.max_timestamp < mtime)
            s->roll_base_ms = h.max_timestamp;
    }
    *out = s;
    return 0;
fail:
    segment_close(s);
    return rc;
}

/* ---- runtime ---- */

int segment_append(struct segment *s, const uint8_t *data, uint32_t len, uint32_t index_interval_bytes,
                   bool sync, bool *sync_failed) {
    const struct segment saved = *s;
    *sync_failed = false;
    int rc = fio_pwrite_full(segment_fd(s), data, len, (off_t)s->size);
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
        rc = fio_fdatasync(segment_fd(s));
        *sync_failed = rc != 0;
    }
    if (rc != 0) {
        /* Never leave a partial batch behind: cut the log and the indexes
         * back to where this append started. */
        int trc = fio_ftruncate(segment_fd(s), (off_t)saved.size);
        if (trc != 0)
            log_error("storage", "cannot truncate after failed append base_offset=%lld size=%llu errno=%d",
                      (long long)s->base_offset, (unsigned long long)saved.size, -trc);
        oidx_rollback(&s->oidx, &saved.oidx);
        tidx_rollback(&s->tidx, &saved.tidx);
        *s = saved;
        return rc;
    }
    s->size += len;
    s->next_offset = next;
    return 0;
}

int segment_sync(struct segment *s) { return fio_fdatasync(segment_fd(s)); }

int segment_seal(struct segment *s) {
    struct stat st;
    int rc = 0;
    /* Bytes past size can only be the remains of a failed append whose
     * truncation also failed; do not let them reach the next open. */
    if (fstat(segment_fd(s), &st) == 0 && (uint64_t)st.st_size > s->size)
        rc = fio_ftruncate(segment_fd(s), (off_t)s->size);
    if (rc == 0 && s->max_ts >= 0 && (s->tidx.entries == 0 || s->max_ts > s->tidx.last_ts) &&
        !tidx_full(&s->tidx))
        rc = tidx_append(&s->tidx, s->max_ts, (uint32_t)(s->max_ts_batch_offset - s->base_offset));
    if (rc == 0) rc = fio_fdatasync(segment_fd(s));
    if (rc == 0) rc = fio_fdatasync(s->oidx.fd);
    if (rc == 0) rc = fio_fdatasync(s->tidx.fd);
    return rc;
}

int segment_read_header(const struct segment *s, uint64_t pos, struct rb_header *h) {
    uint8_t hdr[RB_HEADER_BYTES];
    if (pos + RB_HEADER_BYTES > s->size) goto corrupt;
    int rc = fio_pread_full(segment_fd(s), hdr, sizeof(hdr), (off_t)pos);
    if (rc == -ENODATA) goto corrupt;
    if (rc != 0) return rc;
    rb_parse_header(hdr, sizeof(hdr), h);
    if (h->magic != RB_MAGIC_V2 || h->batch_length < RB_BATCH_LENGTH_MIN || h->last_offset_delta < 0 ||
        rb_total_bytes(h) > s->size - pos)
        goto corrupt;
    return 0;
corrupt:
    /* The file changed under us (or a check at open was too trusting). */
    log_error("storage", "corrupt batch header in open segment base_offset=%lld position=%llu size=%llu",
              (long long)s->base_offset, (unsigned long long)pos, (unsigned long long)s->size);
    return -EUCLEAN;
}

/* Position of a batch at or before the one holding `offset`. */
static int index_start(const struct segment *s, int64_t offset, uint64_t *pos) {
    *pos = 0;
    if (offset <= s->base_offset) return 0;
    int64_t rel = offset - s->base_offset;
    uint32_t p;
    int rc = oidx_lookup(&s->oidx, rel > UINT32_MAX ? UINT32_MAX : (uint32_t)rel, NULL, &p);
    if (rc < 0) return rc;
    if (rc == 0) *pos = p;
    return 0;
}

int segment_locate(const struct segment *s, int64_t offset, uint64_t *pos_out, struct rb_header *h) {
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

int segment_position_of(const struct segment *s, int64_t offset, uint64_t from, uint64_t *pos_out) {
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

int segment_read_batch(const struct segment *s, uint64_t pos, uint32_t total, uint8_t **buf, uint32_t *cap) {
    if (total > STORAGE_BATCH_BYTES_MAX) return -EINVAL;
    if (total > *cap) {
        uint8_t *nb = realloc(*buf, total);
        if (!nb) return -ENOMEM;
        *buf = nb;
        *cap = total;
    }
    int rc = fio_pread_full(segment_fd(s), *buf, total, (off_t)pos);
    return rc == -ENODATA ? -EUCLEAN : rc;
}

int segment_find_time(const struct segment *s, int64_t ts, int64_t min_offset, int64_t *offset,
                      int64_t *timestamp) {
    int64_t from = s->base_offset;
    int64_t entry_ts;
    uint32_t rel;
    int rc = tidx_lookup(&s->tidx, ts, &entry_ts, &rel);
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

int64_t segment_largest_timestamp(const struct segment *s) {
    return s->max_ts >= 0 ? s->max_ts : file_mtime_ms(segment_fd(s));
}
