/*
 * The cleaner's threads: for one log at a time, build the key -> latest
 * offset map over the dirty part, then rewrite the closed segments from
 * the first one up to where the map reaches into "<base>.<end>.log.cleaned"
 * files, adjacent small segments merged into one. The event loop side
 * (what to clean, the swap, recovery) is in log_clean.c; the design in
 * docs/STORAGE.md, "Compaction".
 *
 * Which records survive a clean, for a record at offset o with key k:
 *   - o at or past clean_end (beyond what the map covers): kept;
 *   - a null key (only possible in data written before the topic became
 *     compacted): kept;
 *   - the map holds a later offset for k: removed;
 *   - a null value (tombstone) in a segment last written more than
 *     delete.retention.ms ago: removed;
 *   - otherwise kept.
 * Control and transactional batches are copied as they are. A batch that
 * keeps all its records is copied byte for byte; one that keeps some is
 * rebuilt with the same header (base offset, lastOffsetDelta, timestamps,
 * producer id/epoch, base sequence, attributes) around the surviving
 * records, unchanged and recompressed with the batch's codec; one that
 * keeps none is dropped. Offsets never change: compaction leaves gaps.
 *
 * The dedupe map is a fixed-size open-addressing table of 128-bit key
 * hashes (two independent 64-bit hashes) -> offset, at most
 * log.cleaner.dedupe.buffer.size / threads bytes. When it is
 * CLEANER_MAP_LOAD_MAX full the scan stops there and only records below
 * that offset are deduplicated this round, as Kafka does.
 */
#include "storage/cleaner.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "protocol/compression.h"
#include "protocol/record_batch.h"
#include "protocol/records.h"
#include "storage/cleaner_internal.h"
#include "storage/fileio.h"
#include "storage/index.h"
#include "storage/log_internal.h"
#include "storage/storage_limits.h"

/* ------------------------------------------------------------ dedupe map */

struct dedupe_entry {
    uint64_t h1, h2;
    int64_t offset_plus1; /* 0: empty slot (calloc'd pages stay untouched until used) */
};
_Static_assert(sizeof(struct dedupe_entry) == CLEANER_MAP_ENTRY_BYTES, "the map's sizing assumes this entry size");

struct dedupe_map {
    struct dedupe_entry *slots;
    uint64_t mask;
    uint64_t used, used_max;
};

static uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33;
    x *= UINT64_C(0xc4ceb9fe1a85ec53);
    x ^= x >> 33;
    return x;
}

static uint64_t key_hash(const uint8_t *key, size_t len, uint64_t seed) {
    uint64_t h = seed ^ (len * UINT64_C(0x9e3779b97f4a7c15));
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, key + i, 8);
        h = mix64(h ^ w) + UINT64_C(0x9e3779b97f4a7c15);
    }
    uint64_t tail = 0;
    memcpy(&tail, key + i, len - i);
    return mix64(h ^ tail ^ ((uint64_t)(len - i) << 56));
}

#define KEY_SEED_1 UINT64_C(0x243f6a8885a308d3)
#define KEY_SEED_2 UINT64_C(0x13198a2e03707344)

static int map_init(struct dedupe_map *m, uint64_t slots) {
    m->slots = calloc(slots, sizeof(*m->slots));
    if (!m->slots) return -ENOMEM;
    m->mask = slots - 1;
    m->used = 0;
    m->used_max = (uint64_t)((double)slots * CLEANER_MAP_LOAD_MAX);
    return 0;
}

/* 0 stored, -1 full (a new key and no room left). */
static int map_put(struct dedupe_map *m, const uint8_t *key, size_t len, int64_t offset) {
    uint64_t h1 = key_hash(key, len, KEY_SEED_1), h2 = key_hash(key, len, KEY_SEED_2);
    for (uint64_t i = h1 & m->mask;; i = (i + 1) & m->mask) {
        struct dedupe_entry *e = &m->slots[i];
        if (e->offset_plus1 == 0) {
            if (m->used >= m->used_max) return -1;
            *e = (struct dedupe_entry){h1, h2, offset + 1};
            m->used++;
            return 0;
        }
        if (e->h1 == h1 && e->h2 == h2) {
            if (offset + 1 > e->offset_plus1) e->offset_plus1 = offset + 1;
            return 0;
        }
    }
}

/* The latest offset recorded for key, or -1. */
static int64_t map_get(const struct dedupe_map *m, const uint8_t *key, size_t len) {
    uint64_t h1 = key_hash(key, len, KEY_SEED_1), h2 = key_hash(key, len, KEY_SEED_2);
    for (uint64_t i = h1 & m->mask;; i = (i + 1) & m->mask) {
        const struct dedupe_entry *e = &m->slots[i];
        if (e->offset_plus1 == 0) return -1;
        if (e->h1 == h1 && e->h2 == h2) return e->offset_plus1 - 1;
    }
}

/* ------------------------------------------------------------ records */

/* The record bytes of a checked batch: aliases it when uncompressed,
 * else decompressed into *owned, which the caller frees. */
static int batch_records(const uint8_t *batch, uint32_t len, const struct rb_header *h, const uint8_t **body,
                         size_t *body_len, uint8_t **owned) {
    *owned = NULL;
    *body = batch + RB_HEADER_BYTES;
    *body_len = len - RB_HEADER_BYTES;
    if (rb_codec_of(h) == RB_CODEC_NONE) return 0;
    size_t out_len;
    int rc = compression_decompress_alloc(rb_codec_of(h), *body, *body_len, COMPRESSION_DECOMPRESSED_BYTES_MAX,
                                          owned, &out_len);
    if (rc != COMPRESSION_OK) return -EUCLEAN;
    *body = *owned;
    *body_len = out_len;
    return 0;
}

int cleaner_batch_has_null_key(const uint8_t *batch, uint32_t len) {
    struct rb_header h;
    if (rb_parse_header(batch, len, &h) != 0 || len < RB_HEADER_BYTES) return -1;
    if (h.attributes & RB_ATTR_CONTROL) return 0;
    const uint8_t *body;
    size_t body_len;
    uint8_t *owned;
    if (batch_records(batch, len, &h, &body, &body_len, &owned) != 0) return -1;
    struct records_iter it;
    struct record_view r;
    records_iter_init(&it, body, body_len, h.record_count);
    int rc, found = 0;
    while ((rc = records_next(&it, &r)) == 1 && !found) found = r.key == NULL;
    free(owned);
    return rc < 0 && !found ? -1 : found;
}

/* ------------------------------------------------------------ I/O */

struct cleaner {
    struct cleaner_config cfg;
    pthread_t *threads;
    int32_t nthreads;
    pthread_mutex_t mu;
    pthread_cond_t work;          /* a job was queued, or stop */
    struct cleaner_job *queue;    /* JOB_QUEUED jobs, oldest first */
    char **unlinks;               /* retired segment files the threads remove */
    uint32_t nunlinks;
    bool stop;
    uint32_t jobs;                /* jobs owned by logs (loop only) */
    uint32_t running;             /* jobs held by threads (under mu) */
    uint64_t map_slots;           /* per job */
    /* Candidates of the current housekeeping pass, dirtiest first (loop only). */
    struct plog **cand;
    double *cand_ratio;
    uint32_t ncand;
    struct cleaner_stats stats;   /* loop only */
    /* The I/O throttle, shared by the threads. */
    pthread_mutex_t io_mu;
    int64_t io_window_start_ms;
    uint64_t io_window_bytes;
};

static int64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int64_t ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* log.cleaner.io.max.bytes.per.second over all threads: after moving
 * `bytes`, sleep until the window's bytes are within the rate. */
static void throttle(struct cleaner *c, const struct cleaner_job *job, uint64_t bytes) {
    double rate = c->cfg.io_max_bytes_per_second;
    if (!(rate > 0) || isinf(rate) || rate >= 1e300) return;
    pthread_mutex_lock(&c->io_mu);
    int64_t now = mono_ms();
    if (now - c->io_window_start_ms >= CLEANER_THROTTLE_WINDOW_MS) {
        c->io_window_start_ms = now;
        c->io_window_bytes = 0;
    }
    c->io_window_bytes += bytes;
    int64_t due = c->io_window_start_ms + (int64_t)((double)c->io_window_bytes * 1000.0 / rate);
    pthread_mutex_unlock(&c->io_mu);
    while (now < due && !atomic_load(&job->cancel)) {
        int64_t step = due - now < CLEANER_CANCEL_POLL_MS ? due - now : CLEANER_CANCEL_POLL_MS;
        sleep_ms(step);
        now = mono_ms();
    }
}

/* Sequential reader of one closed segment, batch by batch. */
struct seg_reader {
    int fd;
    uint64_t size;      /* bytes of batches (the segment's size when the job was made) */
    uint64_t buf_pos;   /* file position of buf[0] */
    uint8_t *buf;
    size_t cap, start, end;
};

static int reader_fill(struct seg_reader *r, size_t need) {
    if (r->start > 0) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->buf_pos += r->start;
        r->end -= r->start;
        r->start = 0;
    }
    /* A corrupt length must not cost an allocation the file cannot fill. */
    if (need > r->size - r->buf_pos) return -EUCLEAN;
    if (need > r->cap) {
        uint8_t *nb = realloc(r->buf, need);
        if (!nb) return -ENOMEM;
        r->buf = nb;
        r->cap = need;
    }
    uint64_t file_left = r->size - (r->buf_pos + r->end);
    size_t want = r->cap - r->end;
    if (want > file_left) want = (size_t)file_left;
    if (r->end + want < need) return -EUCLEAN; /* the segment ends inside a batch */
    int rc = fio_pread_full(r->fd, r->buf + r->end, want, (off_t)(r->buf_pos + r->end));
    if (rc != 0) return rc;
    r->end += want;
    return 0;
}

/* 1 with the next CRC-checked batch, 0 at the end, or -errno. */
static int reader_next(struct seg_reader *r, const uint8_t **batch, struct rb_header *h) {
    if (r->buf_pos + r->start >= r->size) return 0;
    int rc;
    if (r->end - r->start < RB_HEADER_BYTES && (rc = reader_fill(r, RB_HEADER_BYTES)) != 0) return rc;
    if (rb_parse_header(r->buf + r->start, r->end - r->start, h) != 0 || rb_check_header(h) != RB_OK)
        return -EUCLEAN;
    uint32_t total = rb_total_bytes(h);
    if (total > STORAGE_BATCH_BYTES_MAX) return -EUCLEAN;
    if (r->end - r->start < total && (rc = reader_fill(r, total)) != 0) return rc;
    *batch = r->buf + r->start;
    if (rb_compute_crc(*batch, total) != h->crc) return -EUCLEAN;
    r->start += total;
    return 1;
}

static int reader_open(struct seg_reader *r, int dirfd, const struct clean_segment *s) {
    char name[FIO_SEGMENT_NAME_BYTES];
    fio_segment_name(name, s->base, ".log");
    *r = (struct seg_reader){.size = s->size, .cap = CLEANER_IO_BUFFER_BYTES};
    r->fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) return -errno;
    if (!(r->buf = malloc(r->cap))) {
        close(r->fd);
        return -ENOMEM;
    }
    return 0;
}

static void reader_close(struct seg_reader *r) {
    if (r->fd >= 0) close(r->fd);
    free(r->buf);
}

/* Last-modified time of a segment, in ms (-1 if unknown). */
static int64_t segment_mtime_ms(int fd) {
    struct stat st;
    if (fstat(fd, &st) != 0) return -1;
    return (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
}

/* Buffered writer of one .cleaned file. */
struct out_file {
    int fd;
    uint8_t *buf;
    size_t len, cap;
    uint64_t pos; /* file bytes written */
};

static int out_flush(struct cleaner *c, struct cleaner_job *job, struct out_file *o) {
    if (o->len == 0) return 0;
    int rc = fio_pwrite_full(o->fd, o->buf, o->len, (off_t)o->pos);
    if (rc != 0) return rc;
    o->pos += o->len;
    job->bytes_written += o->len;
    throttle(c, job, o->len);
    o->len = 0;
    return 0;
}

static int out_write(struct cleaner *c, struct cleaner_job *job, struct out_file *o, const uint8_t *p, size_t n) {
    if (o->len + n > o->cap) {
        int rc = out_flush(c, job, o);
        if (rc != 0) return rc;
    }
    if (n > o->cap) {
        int rc = fio_pwrite_full(o->fd, p, n, (off_t)o->pos);
        if (rc != 0) return rc;
        o->pos += n;
        job->bytes_written += n;
        throttle(c, job, n);
        return 0;
    }
    memcpy(o->buf + o->len, p, n);
    o->len += n;
    return 0;
}

/* ------------------------------------------------------------ the clean */

/* Scratch space of one thread's job, reused batch after batch. */
struct out_file;
struct out_indexes;
struct scratch {
    struct out_file *out;      /* the group file being written */
    struct out_indexes *ix;    /* and its indexes */
    uint8_t *kept;        /* surviving records, uncompressed */
    size_t kept_cap;
    uint8_t *batch;       /* the rebuilt batch */
    size_t batch_cap;
};

static int grow(uint8_t **p, size_t *cap, size_t need) {
    if (need <= *cap) return 0;
    uint8_t *np = realloc(*p, need);
    if (!np) return -ENOMEM;
    *p = np;
    *cap = need;
    return 0;
}

/* Adds the keys of the dirty records of one batch; 1 when the map filled
 * (job->clean_end then marks the first record left out). */
static int map_batch(struct cleaner_job *job, struct dedupe_map *m, const uint8_t *batch, const struct rb_header *h) {
    if (rb_last_offset(h) < job->first_dirty || (h->attributes & (RB_ATTR_CONTROL | RB_ATTR_TRANSACTIONAL)))
        return 0;
    const uint8_t *body;
    size_t body_len;
    uint8_t *owned;
    if (batch_records(batch, rb_total_bytes(h), h, &body, &body_len, &owned) != 0) return -EUCLEAN;
    struct records_iter it;
    struct record_view r;
    records_iter_init(&it, body, body_len, h->record_count);
    int rc, full = 0;
    while (!full && (rc = records_next(&it, &r)) == 1) {
        int64_t off = h->base_offset + r.offset_delta;
        if (off < job->first_dirty || !r.key) continue;
        if (map_put(m, r.key, (size_t)r.key_len, off) != 0) {
            job->clean_end = off;
            full = 1;
        }
    }
    free(owned);
    if (!full && rc < 0) return -EUCLEAN;
    return full;
}

static int build_map(struct cleaner *c, struct cleaner_job *job, struct dedupe_map *m) {
    job->clean_end = job->segs[job->nsegs - 1].end;
    for (uint32_t i = 0; i < job->nsegs; i++) {
        if (job->segs[i].end <= job->first_dirty) continue;
        struct seg_reader rd;
        int rc = reader_open(&rd, job->dirfd, &job->segs[i]);
        if (rc != 0) return rc;
        const uint8_t *batch;
        struct rb_header h;
        while (!atomic_load(&job->cancel) && (rc = reader_next(&rd, &batch, &h)) == 1) {
            job->bytes_read += rb_total_bytes(&h);
            throttle(c, job, rb_total_bytes(&h));
            if ((rc = map_batch(job, m, batch, &h)) != 0) break;
        }
        reader_close(&rd);
        if (atomic_load(&job->cancel)) return -ECANCELED;
        if (rc == 1) return 0; /* full: clean_end set */
        if (rc != 0) return rc;
    }
    return 0;
}

static bool record_survives(const struct cleaner_job *job, const struct dedupe_map *m, int64_t off,
                            const struct record_view *r, bool drop_tombstones) {
    if (off >= job->clean_end || !r->key) return true;
    int64_t latest = map_get(m, r->key, (size_t)r->key_len);
    if (latest > off) return false;
    return !(r->value == NULL && drop_tombstones);
}

/* Writes what survives of one batch. */
static int emit_batch(struct cleaner *c, struct cleaner_job *job, struct out_file *o, struct out_indexes *ix,
                      const uint8_t *batch, uint32_t len);

static int clean_batch(struct cleaner *c, struct cleaner_job *job, const struct dedupe_map *m, struct scratch *sc,
                       const uint8_t *batch, const struct rb_header *h, bool drop_tombstones) {
    uint32_t total = rb_total_bytes(h);
    if (h->base_offset >= job->clean_end || (h->attributes & (RB_ATTR_CONTROL | RB_ATTR_TRANSACTIONAL)))
        return emit_batch(c, job, sc->out, sc->ix, batch, total);
    const uint8_t *body;
    size_t body_len;
    uint8_t *owned;
    if (batch_records(batch, total, h, &body, &body_len, &owned) != 0) return -EUCLEAN;
    int rc = grow(&sc->kept, &sc->kept_cap, body_len > 0 ? body_len : 1);
    struct records_iter it;
    struct record_view r;
    records_iter_init(&it, body, body_len, h->record_count);
    size_t kept_len = 0;
    int32_t kept = 0;
    int walk = 0;
    /* Surviving records are copied as encoded: their deltas stay valid
     * because the batch keeps its base offset and base timestamp. */
    for (size_t start = 0; rc == 0 && (walk = records_next(&it, &r)) == 1; start = records_iter_offset(&it)) {
        if (record_survives(job, m, h->base_offset + r.offset_delta, &r, drop_tombstones)) {
            memcpy(sc->kept + kept_len, body + start, records_iter_offset(&it) - start);
            kept_len += records_iter_offset(&it) - start;
            kept++;
        }
    }
    if (rc == 0 && walk < 0) rc = -EUCLEAN;
    job->records_removed += (uint64_t)(h->record_count - kept);
    if (rc == 0 && kept == h->record_count) rc = emit_batch(c, job, sc->out, sc->ix, batch, total);
    else if (rc == 0 && kept > 0) {
        size_t bound = RB_HEADER_BYTES + compression_compress_bound(rb_codec_of(h), kept_len);
        size_t out_len = kept_len;
        rc = grow(&sc->batch, &sc->batch_cap, bound);
        if (rc == 0 && rb_codec_of(h) != RB_CODEC_NONE) {
            if (compression_compress(rb_codec_of(h), COMPRESSION_LEVEL_DEFAULT, sc->kept, kept_len,
                                     sc->batch + RB_HEADER_BYTES, bound - RB_HEADER_BYTES, &out_len) != COMPRESSION_OK)
                rc = -EIO;
        } else if (rc == 0) {
            memcpy(sc->batch + RB_HEADER_BYTES, sc->kept, kept_len);
        }
        if (rc == 0) {
            uint32_t nb = (uint32_t)(RB_HEADER_BYTES + out_len);
            memcpy(sc->batch, batch, RB_HEADER_BYTES);
            rb_put_be32(sc->batch + RB_OFF_BATCH_LENGTH, nb - RB_LOG_OVERHEAD);
            rb_put_be32(sc->batch + RB_OFF_RECORD_COUNT, (uint32_t)kept);
            rb_put_be32(sc->batch + RB_OFF_CRC, rb_compute_crc(sc->batch, nb));
            rc = emit_batch(c, job, sc->out, sc->ix, sc->batch, nb);
        }
    }
    free(owned);
    return rc;
}

static int clean_segment_into(struct cleaner *c, struct cleaner_job *job, const struct dedupe_map *m,
                              struct scratch *sc, const struct clean_segment *s) {
    struct seg_reader rd;
    int rc = reader_open(&rd, job->dirfd, s);
    if (rc != 0) return rc;
    int64_t mtime = segment_mtime_ms(rd.fd);
    bool drop_tombstones = mtime >= 0 && job->now_ms - mtime > job->delete_retention_ms;
    const uint8_t *batch;
    struct rb_header h;
    while (!atomic_load(&job->cancel) && (rc = reader_next(&rd, &batch, &h)) == 1) {
        job->bytes_read += rb_total_bytes(&h);
        throttle(c, job, rb_total_bytes(&h));
        rc = clean_batch(c, job, m, sc, batch, &h, drop_tombstones);
        if (rc != 0) break;
    }
    reader_close(&rd);
    if (atomic_load(&job->cancel)) return -ECANCELED;
    return rc;
}

/* Adjacent segments below clean_end, merged while the sum of their sizes
 * fits in segment.bytes and their offsets in one segment's range. */
static int plan_groups(struct cleaner_job *job) {
    uint32_t n = 0;
    while (n < job->nsegs && job->segs[n].base < job->clean_end) n++;
    if (n == 0) return 0;
    if (!(job->groups = calloc(n, sizeof(*job->groups)))) return -ENOMEM;
    uint64_t bytes = 0;
    for (uint32_t i = 0; i < n; i++) {
        const struct clean_segment *s = &job->segs[i];
        struct clean_group *g = job->ngroups ? &job->groups[job->ngroups - 1] : NULL;
        if (g && bytes + s->size <= job->segment_bytes && s->end - 1 - g->base <= STORAGE_SEGMENT_OFFSET_SPAN_MAX) {
            g->count++;
            g->end = s->end;
            bytes += s->size;
            continue;
        }
        job->groups[job->ngroups++] = (struct clean_group){.first = i, .count = 1, .base = s->base, .end = s->end};
        bytes = s->size;
    }
    return 0;
}

static const char *const group_kinds[] = {".log", ".index", ".timeindex"};

/* The indexes of the segment being written, kept by index_add_batch's
 * rule like those of an appended segment. */
struct out_indexes {
    int fds[2]; /* offset index, time index */
    struct offset_index oidx;
    struct time_index tidx;
    uint64_t bytes_since_index;
    int64_t max_ts, max_ts_batch_offset;
    struct index_cursor cur;
};

static int out_index_fd(void *ctx, int which) { return ((struct out_indexes *)ctx)->fds[which]; }

/* Appends one batch to the group's file, with its index entries. */
static int emit_batch(struct cleaner *c, struct cleaner_job *job, struct out_file *o, struct out_indexes *ix,
                      const uint8_t *batch, uint32_t len) {
    struct rb_header h;
    if (rb_parse_header(batch, len, &h) != 0) return -EUCLEAN;
    int rc = index_add_batch(&ix->oidx, &ix->tidx, &ix->cur, o->pos + o->len, h.base_offset, h.max_timestamp, len,
                             job->index_interval_bytes, out_index_fd, ix);
    return rc != 0 ? rc : out_write(c, job, o, batch, len);
}

static int open_group_files(const struct cleaner_job *job, const struct clean_group *g, int fds[3]) {
    for (int i = 0; i < 3; i++) fds[i] = -1;
    for (int i = 0; i < 3; i++) {
        char name[CLEAN_FILE_NAME_BYTES];
        clean_file_name(name, g->base, g->end, group_kinds[i], CLEAN_CLEANED_SUFFIX);
        /* Through the job's directory descriptor: after plog_remove the
         * directory is gone and this fails instead of creating a file in
         * a directory of the same name made since. */
        fds[i] = openat(job->dirfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fds[i] < 0) return -errno;
    }
    return 0;
}

static int clean_group_file(struct cleaner *c, struct cleaner_job *job, const struct dedupe_map *m,
                            struct scratch *sc, struct clean_group *g) {
    int fds[3];
    struct out_file o = {.cap = CLEANER_IO_BUFFER_BYTES};
    struct out_indexes ix = {.max_ts = -1, .max_ts_batch_offset = -1};
    ix.cur = (struct index_cursor){g->base, &ix.bytes_since_index, &ix.max_ts, &ix.max_ts_batch_offset};
    int rc = open_group_files(job, g, fds);
    o.fd = fds[0];
    ix.fds[0] = fds[1];
    ix.fds[1] = fds[2];
    if (rc == 0 && !(o.buf = malloc(o.cap))) rc = -ENOMEM;
    sc->out = &o;
    sc->ix = &ix;
    for (uint32_t i = 0; rc == 0 && i < g->count; i++) rc = clean_segment_into(c, job, m, sc, &job->segs[g->first + i]);
    if (rc == 0) rc = out_flush(c, job, &o);
    /* As a seal does: the last time entry carries the segment's largest timestamp. */
    if (rc == 0 && ix.max_ts >= 0 && (ix.tidx.entries == 0 || ix.max_ts > ix.tidx.last_ts) && !tidx_full(&ix.tidx))
        rc = tidx_append(&ix.tidx, ix.fds[1], ix.max_ts, (uint32_t)(ix.max_ts_batch_offset - g->base));
    /* The swap renames these files into place: their bytes must be durable first. */
    for (int i = 0; rc == 0 && i < 3; i++) rc = fio_fdatasync(fds[i]);
    g->bytes_out = o.pos;
    for (int i = 0; i < 3; i++)
        if (fds[i] >= 0) close(fds[i]);
    free(o.buf);
    return rc;
}

void cleaner_discard_groups(const struct cleaner_job *job, uint32_t first) {
    for (uint32_t i = first; i < job->ngroups; i++) {
        for (size_t k = 0; k < sizeof(group_kinds) / sizeof(group_kinds[0]); k++) {
            char name[CLEAN_FILE_NAME_BYTES];
            clean_file_name(name, job->groups[i].base, job->groups[i].end, group_kinds[k], CLEAN_CLEANED_SUFFIX);
            unlinkat(job->dirfd, name, 0);
        }
    }
}

/* The .swap files of a committed job whose directory is being removed. */
static void discard_swaps(const struct cleaner_job *job) {
    for (uint32_t i = 0; i < job->ngroups; i++) {
        char name[CLEAN_FILE_NAME_BYTES];
        clean_file_name(name, job->groups[i].base, job->groups[i].end, ".log", CLEAN_SWAP_SUFFIX);
        unlinkat(job->dirfd, name, 0);
    }
}

void cleaner_discard_outputs(const struct cleaner_job *job) { cleaner_discard_groups(job, 0); }

static uint64_t mono_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* The commit point, here rather than on the event loop, where the
 * directory syncs used to cost 13-62 ms per clean: every group's .cleaned
 * log becomes <B>.<E>.log.swap, oldest first, each rename synced. From
 * the first rename on, a crash is completed at open; the loop keeps the
 * replaced segments (see cleaner_job_blocks_removal) until its swap.
 * Unless the loop already removed one of them or the job was abandoned:
 * then nothing is renamed. */
static int commit(struct cleaner *c, struct cleaner_job *job) {
    pthread_mutex_lock(&c->mu);
    bool go = !job->invalidated && !job->orphaned && !atomic_load(&job->cancel);
    if (go) job->state = JOB_COMMITTING;
    pthread_mutex_unlock(&c->mu);
    if (!go) return atomic_load(&job->cancel) ? -ECANCELED : -ESTALE;
    uint64_t t0 = mono_us();
    int rc = 0;
    for (uint32_t i = 0; rc == 0 && i < job->ngroups; i++) {
        char cleaned[CLEAN_FILE_NAME_BYTES], swap[CLEAN_FILE_NAME_BYTES];
        clean_file_name(cleaned, job->groups[i].base, job->groups[i].end, ".log", CLEAN_CLEANED_SUFFIX);
        clean_file_name(swap, job->groups[i].base, job->groups[i].end, ".log", CLEAN_SWAP_SUFFIX);
        if (renameat(job->dirfd, cleaned, job->dirfd, swap) != 0) {
            rc = -errno;
            break;
        }
        job->committed = true;
        /* One sync per group, oldest first, so a durable group implies
         * durable older ones on any file system: a newer group's removed
         * tombstone never outlives an older group's copy of the value it
         * deleted. This thread pays for them, not the event loop. */
        rc = fio_fsync(job->dirfd);
    }
    job->commit_us = mono_us() - t0;
    return rc;
}

static void run_job(struct cleaner *c, struct cleaner_job *job) {
    int64_t t0 = mono_ms();
    struct dedupe_map m;
    struct scratch sc = {0};
    int rc = map_init(&m, job->map_slots);
    if (rc == 0) rc = build_map(c, job, &m);
    if (rc == 0 && job->clean_end <= job->first_dirty) {
        log_warn("storage", "cleaner dedupe map too small to make progress dir=%s slots=%llu", job->dir,
                 (unsigned long long)job->map_slots);
        rc = -ENOBUFS;
    }
    if (rc == 0) rc = plan_groups(job);
    for (uint32_t i = 0; rc == 0 && i < job->ngroups; i++) rc = clean_group_file(c, job, &m, &sc, &job->groups[i]);
    if (rc == 0) rc = commit(c, job);
    if (rc != 0 && job->committed) {
        /* Some .swap may be durable: the loop poisons the log and the next
         * open completes what is there (older groups first, as renamed). */
        log_error("storage", "clean commit failed dir=%s errno=%d", job->dir, -rc);
    } else if (rc != 0) {
        cleaner_discard_outputs(job);
        /* A segment deleted meanwhile (retention on compact,delete, topic
         * deletion) is expected; the swap would have been discarded anyway. */
        if (rc == -ENOENT) log_info("storage", "clean abandoned: a segment went away dir=%s", job->dir);
        else if (rc == -ESTALE) log_info("storage", "clean discarded: the log changed meanwhile dir=%s", job->dir);
        else if (rc != -ECANCELED) log_error("storage", "clean failed dir=%s errno=%d", job->dir, -rc);
    }
    job->rc = rc;
    job->busy_ms = (uint64_t)(mono_ms() - t0);
    free(m.slots);
    free(sc.kept);
    free(sc.batch);
}

/* ------------------------------------------------------------ threads */

/* Removes the queued retired files; called and returns with c->mu held. */
static void drain_unlinks(struct cleaner *c) {
    while (c->nunlinks > 0) {
        char *path = c->unlinks[--c->nunlinks];
        pthread_mutex_unlock(&c->mu);
        if (unlink(path) != 0 && errno != ENOENT)
            log_warn("storage", "cannot remove retired segment file file=%s errno=%d", path, errno);
        free(path);
        pthread_mutex_lock(&c->mu);
    }
}

void cleaner_defer_unlink(struct cleaner *c, const char *path) {
    char *copy = NULL;
    pthread_mutex_lock(&c->mu);
    bool queued = c->nthreads > 0 && c->nunlinks < CLEANER_DEFERRED_UNLINKS_MAX && (copy = strdup(path)) != NULL;
    if (queued) {
        c->unlinks[c->nunlinks++] = copy;
        pthread_cond_signal(&c->work);
    }
    pthread_mutex_unlock(&c->mu);
    /* No thread, or the queue is full: pay for it here rather than grow. */
    if (!queued && unlink(path) != 0 && errno != ENOENT)
        log_warn("storage", "cannot remove retired segment file file=%s errno=%d", path, errno);
}

/* After the loop's swap: the checkpoint, atomically. Its directory sync
 * also makes the swap's renames durable; until then a crash redoes them
 * from the .swap files (or finds them done). */
static void write_checkpoint(struct cleaner_job *job) {
    int rc = log_write_offset_file_at(job->dirfd, LOG_CLEANER_CHECKPOINT_FILE, job->clean_end);
    /* A lost checkpoint only makes the next clean redo work. */
    if (rc != 0 && !atomic_load(&job->cancel))
        log_warn("storage", "cannot persist cleaner checkpoint dir=%s errno=%d", job->dir, -rc);
}

/* An abandoned job this thread held: its files are its own to remove. A
 * closed log keeps the .swap files of a committed job (they are a valid
 * replacement, completed at the next open); a removed one loses them, and
 * the directory, if plog_remove could not remove it because of them. */
static void release_orphan(struct cleaner_job *job) {
    if (job->phase == CLEAN_PHASE_REWRITE) cleaner_discard_outputs(job); /* indexes too: rebuilt at open */
    if (job->removing) {
        if (job->phase == CLEAN_PHASE_REWRITE) discard_swaps(job);
        /* Only if the path still names the directory this job worked in:
         * the inode stays allocated while job->dirfd is open, so a
         * directory made since under the same name cannot match. */
        struct stat held, named;
        if (fstat(job->dirfd, &held) == 0 && stat(job->dir, &named) == 0 && held.st_ino == named.st_ino &&
            held.st_dev == named.st_dev)
            rmdir(job->dir);
    }
    log_debug("storage", "abandoned clean released by its thread dir=%s", job->dir);
    cleaner_job_free(job);
}

static void *cleaner_thread(void *arg) {
    struct cleaner *c = arg;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (!c->stop && !c->queue && c->nunlinks == 0) pthread_cond_wait(&c->work, &c->mu);
        drain_unlinks(c);
        if (c->stop) break;
        if (!c->queue) continue;
        struct cleaner_job *job = c->queue;
        c->queue = job->next;
        job->next = NULL;
        job->state = JOB_RUNNING;
        c->running++;
        pthread_mutex_unlock(&c->mu);
        if (atomic_load(&job->cancel)) job->rc = -ECANCELED;
        else if (job->phase == CLEAN_PHASE_REWRITE) run_job(c, job);
        else write_checkpoint(job);
        pthread_mutex_lock(&c->mu);
        if (job->orphaned) {
            pthread_mutex_unlock(&c->mu);
            release_orphan(job);
            pthread_mutex_lock(&c->mu);
            c->running--;
            continue;
        }
        job->state = JOB_DONE;
        c->running--;
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

static uint64_t pow2_floor(uint64_t x) {
    uint64_t p = 1;
    while (p <= x / 2) p *= 2;
    return p;
}

struct cleaner *cleaner_create(const struct cleaner_config *cfg) {
    struct cleaner *c = calloc(1, sizeof(*c));
    if (!c) return NULL;
    c->cfg = *cfg;
    int32_t n = cfg->threads < 1 ? 1 : cfg->threads;
    if (n > CLEANER_THREADS_MAX) n = CLEANER_THREADS_MAX;
    uint64_t per_thread = (uint64_t)cfg->dedupe_buffer_bytes / (uint64_t)n;
    c->map_slots = pow2_floor(per_thread / CLEANER_MAP_ENTRY_BYTES);
    if (c->map_slots < CLEANER_MAP_SLOTS_MIN) c->map_slots = CLEANER_MAP_SLOTS_MIN;
    c->unlinks = calloc(CLEANER_DEFERRED_UNLINKS_MAX, sizeof(*c->unlinks));
    c->cand = calloc((size_t)n, sizeof(*c->cand));
    c->cand_ratio = calloc((size_t)n, sizeof(*c->cand_ratio));
    c->threads = calloc((size_t)n, sizeof(*c->threads));
    if (!c->unlinks || !c->cand || !c->cand_ratio || !c->threads) goto fail;
    pthread_mutex_init(&c->mu, NULL);
    pthread_mutex_init(&c->io_mu, NULL);
    pthread_cond_init(&c->work, NULL);
    c->io_window_start_ms = mono_ms();
    if (!cfg->enable) return c;
    for (; c->nthreads < n; c->nthreads++) {
        if (pthread_create(&c->threads[c->nthreads], NULL, cleaner_thread, c) != 0) {
            log_error("storage", "cannot start cleaner thread errno=%d", errno);
            cleaner_destroy(c);
            return NULL;
        }
    }
    log_info("storage", "cleaner started threads=%d map_slots=%llu", n, (unsigned long long)c->map_slots);
    return c;
fail:
    free(c->unlinks);
    free(c->cand);
    free(c->cand_ratio);
    free(c->threads);
    free(c);
    return NULL;
}

void cleaner_destroy(struct cleaner *c) {
    if (!c) return;
    STORAGE_ASSERT(c->jobs == 0);
    pthread_mutex_lock(&c->mu);
    c->stop = true;
    pthread_cond_broadcast(&c->work);
    pthread_mutex_unlock(&c->mu);
    for (int32_t i = 0; i < c->nthreads; i++) pthread_join(c->threads[i], NULL);
    pthread_mutex_lock(&c->mu);
    drain_unlinks(c); /* left by a thread that saw stop first */
    pthread_mutex_unlock(&c->mu);
    free(c->unlinks);
    pthread_mutex_destroy(&c->mu);
    pthread_mutex_destroy(&c->io_mu);
    pthread_cond_destroy(&c->work);
    free(c->cand);
    free(c->cand_ratio);
    free(c->threads);
    free(c);
}

void cleaner_job_free(struct cleaner_job *job) {
    if (!job) return;
    if (job->dirfd >= 0) close(job->dirfd);
    free(job->dir);
    free(job->segs);
    free(job->groups);
    free(job);
}

static void unqueue(struct cleaner *c, struct cleaner_job *job) {
    for (struct cleaner_job **p = &c->queue; *p; p = &(*p)->next) {
        if (*p == job) {
            *p = job->next;
            return;
        }
    }
}

bool cleaner_job_abandon(struct cleaner_job *job, bool removing_dir, bool *swaps_possible) {
    if (swaps_possible) *swaps_possible = false;
    if (!job) return false;
    struct cleaner *c = job->cleaner;
    atomic_store(&job->cancel, true);
    job->log = NULL;
    c->jobs--;
    c->stats.jobs_discarded += job->swapped ? 0 : 1;
    pthread_mutex_lock(&c->mu);
    if (job->state == JOB_QUEUED) unqueue(c, job);
    /* Decided under the mutex: a running rewrite that is not committing yet
     * will see the orphan flag in commit() and rename nothing. */
    if (swaps_possible && job->phase == CLEAN_PHASE_REWRITE && !job->swapped)
        *swaps_possible = job->state == JOB_COMMITTING || (job->state == JOB_DONE && job->committed);
    bool held = job->state == JOB_RUNNING || job->state == JOB_COMMITTING;
    if (held) {
        job->orphaned = true;
        job->removing = removing_dir;
    }
    pthread_mutex_unlock(&c->mu);
    /* From here a held job belongs to its thread, which may free it at any
     * moment: not one more access. */
    if (held) {
        c->stats.jobs_orphaned++;
        return true;
    }
    /* Not yet run, or finished: nothing of it is on a thread. A committed
     * rewrite not swapped yet keeps its .swap files (the next open
     * completes them); uncommitted ones left none. */
    cleaner_job_free(job);
    return false;
}

bool cleaner_job_blocks_removal(struct cleaner_job *job) {
    if (job->phase != CLEAN_PHASE_REWRITE || job->swapped) return false;
    struct cleaner *c = job->cleaner;
    pthread_mutex_lock(&c->mu);
    bool blocks = job->state == JOB_COMMITTING || (job->state == JOB_DONE && job->committed);
    if (!blocks) job->invalidated = true;
    pthread_mutex_unlock(&c->mu);
    return blocks;
}

static void enqueue(struct cleaner *c, struct cleaner_job *job) {
    pthread_mutex_lock(&c->mu);
    job->state = JOB_QUEUED;
    job->next = NULL;
    struct cleaner_job **tail = &c->queue;
    while (*tail) tail = &(*tail)->next;
    *tail = job;
    pthread_cond_signal(&c->work);
    pthread_mutex_unlock(&c->mu);
}

void cleaner_job_queue_checkpoint(struct cleaner_job *job) {
    job->phase = CLEAN_PHASE_CHECKPOINT;
    enqueue(job->cleaner, job);
}

void cleaner_tick_begin(struct cleaner *c) { c->ncand = 0; }

static void offer(struct cleaner *c, struct plog *log, double ratio) {
    uint32_t cap = (uint32_t)(c->nthreads > 0 ? c->nthreads : 1);
    uint32_t i = c->ncand;
    if (i == cap) {
        if (ratio <= c->cand_ratio[cap - 1]) return;
        i = cap - 1;
    } else {
        c->ncand++;
    }
    while (i > 0 && c->cand_ratio[i - 1] < ratio) {
        c->cand[i] = c->cand[i - 1];
        c->cand_ratio[i] = c->cand_ratio[i - 1];
        i--;
    }
    c->cand[i] = log;
    c->cand_ratio[i] = ratio;
}

void cleaner_consider(struct cleaner *c, struct plog *log, int64_t now_ms) {
    struct cleaner_job *job = log_clean_job(log);
    if (job) {
        pthread_mutex_lock(&c->mu);
        bool done = job->state == JOB_DONE;
        pthread_mutex_unlock(&c->mu);
        if (!done) return;
        if (job->phase == CLEAN_PHASE_REWRITE) {
            bool swapped = log_clean_finish(log, job, now_ms + c->cfg.backoff_ms) == 0;
            if (swapped) {
                c->stats.jobs_done++;
                c->stats.records_removed += job->records_removed;
            } else {
                c->stats.jobs_discarded++;
            }
            c->stats.bytes_read += job->bytes_read;
            c->stats.bytes_written += job->bytes_written;
            c->stats.busy_ms += job->busy_ms;
            if (swapped) {
                /* The log keeps it until the checkpoint is written, so the
                 * next clean's checkpoint cannot overtake this one. */
                cleaner_job_queue_checkpoint(job);
                return;
            }
        }
        log_clean_release(log);
        c->jobs--;
        cleaner_job_free(job);
        return;
    }
    if (!c->cfg.enable || c->nthreads == 0) return;
    double ratio = log_clean_dirty_ratio(log, now_ms);
    if (ratio >= 0) offer(c, log, ratio);
}

void cleaner_tick_end(struct cleaner *c, int64_t now_ms) {
    for (uint32_t i = 0; i < c->ncand && c->jobs < (uint32_t)c->nthreads; i++) {
        struct cleaner_job *job = log_clean_prepare(c->cand[i], now_ms, c->map_slots);
        if (!job) continue;
        job->cleaner = c;
        c->jobs++;
        enqueue(c, job);
    }
    c->ncand = 0;
}

void cleaner_get_stats(struct cleaner *c, struct cleaner_stats *out) { *out = c->stats; }
bool cleaner_busy(struct cleaner *c) { return c->jobs > 0; }

uint32_t cleaner_jobs_running(struct cleaner *c) {
    pthread_mutex_lock(&c->mu);
    uint32_t n = c->running;
    pthread_mutex_unlock(&c->mu);
    return n;
}

/* ------------------------------------------------------------ file names */

void clean_file_name(char out[CLEAN_FILE_NAME_BYTES], int64_t base, int64_t end, const char *kind, const char *suffix) {
    snprintf(out, CLEAN_FILE_NAME_BYTES, "%020lld.%020lld%s%s", (long long)base, (long long)end, kind, suffix);
}

static int parse_digits20(const char *p, int64_t *out) {
    int64_t v = 0;
    for (int i = 0; i < 20; i++) {
        if (p[i] < '0' || p[i] > '9') return -1;
        if (v > (INT64_MAX - (p[i] - '0')) / 10) return -1;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return 0;
}

int clean_parse_file_name(const char *name, const char *suffix, int64_t *base, int64_t *end) {
    if (strlen(name) != 20 + 1 + 20 + 4 + strlen(suffix)) return -1;
    if (name[20] != '.' || strncmp(name + 41, ".log", 4) != 0 || strcmp(name + 45, suffix) != 0) return -1;
    if (parse_digits20(name, base) != 0 || parse_digits20(name + 21, end) != 0 || *end <= *base) return -1;
    return 0;
}
