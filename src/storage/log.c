/*
 * The partition log at run time: append (offset assignment, roll, one
 * write, flush policy), reads for fetch, scans, time lookups, retention
 * and DeleteRecords. Opening, recovery and closing are in log_open.c; the
 * file formats are at the top of segment.c and index.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "storage/fdcache.h"
#include "storage/fileio.h"
#include "storage/log_internal.h"
#include "storage/storage_limits.h"

#define LOG_SEGMENTS_INITIAL_CAP 16

_Static_assert(LOG_OPEN_FILES_MAX_DEFAULT == STORAGE_OPEN_FILES_DEFAULT, "one default for log.open.files.max");
_Static_assert(LOG_OPEN_FILES_MAX_MIN == STORAGE_OPEN_FILES_MIN, "one minimum for log.open.files.max");

void log_config_apply(struct plog *log, const struct log_config *cfg) {
    log->cfg = *cfg;
    if (log->cfg.segment_bytes == 0) log->cfg.segment_bytes = 1;
    if (log->cfg.segment_bytes > STORAGE_SEGMENT_BYTES_MAX) log->cfg.segment_bytes = STORAGE_SEGMENT_BYTES_MAX;
    /* flush.messages below 1 means nothing sensible; Kafka rejects it. */
    if (log->cfg.flush_interval_messages < 1) log->cfg.flush_interval_messages = 1;
}

void plog_set_config(struct plog *log, const struct log_config *cfg) { log_config_apply(log, cfg); }
void plog_set_leader_epoch(struct plog *log, int32_t epoch) { log->leader_epoch = epoch; }

int plog_epoch_end_offset(const struct plog *log, int32_t epoch, int32_t *epoch_out, int64_t *end_offset_out) {
    ecache_end_offset_for(&log->epochs, epoch, log->leader_epoch, plog_end_offset(log), epoch_out, end_offset_out);
    return 0;
}

void plog_repairs(const struct plog *log, struct log_recovery_report *out) { *out = log->repairs; }

uint32_t plog_set_open_files_max(uint32_t max) { return fdc_set_max(max); }

void plog_open_files(struct log_open_files *out) {
    struct fdc_stats st;
    fdc_get_stats(&st);
    *out = (struct log_open_files){.max = st.max, .open = st.open, .pinned = st.pinned, .opens = st.opens,
                                   .evictions = st.evictions, .over_cap = st.over_cap};
}

int log_open_dirfd(const struct plog *log) {
    int fd = open(log->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int log_write_epochs(struct plog *log) {
    int dirfd = log_open_dirfd(log);
    int rc = dirfd < 0 ? dirfd : ecache_write(&log->epochs, dirfd);
    if (dirfd >= 0) close(dirfd);
    if (rc != 0) log_error("storage", "cannot persist leader epoch checkpoint dir=%s errno=%d", log->dir, -rc);
    return rc;
}

int log_load_segment(struct plog *log, struct segment *s) {
    if (s->loaded) return 0;
    /* Only a clean open leaves segments unloaded, so the cheap check is the
     * right one; anything it rejects is repaired like a torn tail. */
    struct segment_recovery rec = {0};
    int rc = segment_load(s, SEGMENT_CHECK_TAIL, false, log->cfg.index_interval_bytes, &rec);
    if (rc == -EUCLEAN && (rc = log_begin_write(log)) == 0)
        rc = segment_load(s, SEGMENT_CHECK_TAIL, true, log->cfg.index_interval_bytes, &rec);
    log->repairs.truncated_bytes += rec.truncated_bytes;
    log->repairs.indexes_rebuilt += rec.indexes_rebuilt;
    if (rc != 0) {
        log_error("storage", "cannot load segment dir=%s base_offset=%lld errno=%d", log->dir,
                  (long long)s->base_offset, -rc);
        return rc;
    }
    if (rec.truncated_bytes > 0 || rec.indexes_rebuilt > 0)
        log_warn("storage", "segment repaired on first use dir=%s base_offset=%lld truncated_bytes=%llu "
                 "indexes_rebuilt=%u", log->dir, (long long)s->base_offset,
                 (unsigned long long)rec.truncated_bytes, rec.indexes_rebuilt);
    return 0;
}

void log_poison(struct plog *log, int rc, const char *what) {
    log->failed = rc < 0 ? rc : -EIO;
    log_error("storage", "log refuses appends until reopened dir=%s failed=%s errno=%d", log->dir, what, -rc);
}

int log_reserve_segment(struct plog *log) {
    if (log->nsegs >= STORAGE_SEGMENTS_PER_LOG_MAX) {
        log_error("storage", "too many segments dir=%s segments=%u max=%d", log->dir, log->nsegs,
                  STORAGE_SEGMENTS_PER_LOG_MAX);
        return -EMFILE;
    }
    if (log->nsegs < log->cap) return 0;
    uint32_t cap = log->cap ? log->cap * 2 : LOG_SEGMENTS_INITIAL_CAP;
    struct segment **segs = realloc(log->segs, cap * sizeof(*segs));
    if (!segs) return -ENOMEM;
    log->segs = segs;
    log->cap = cap;
    return 0;
}

int64_t plog_start_offset(const struct plog *log) { return log->start_offset; }
int64_t plog_first_dirty_offset(const struct plog *log) { return log->first_dirty; }
int64_t plog_end_offset(const struct plog *log) { return log_active(log)->next_offset; }
uint32_t plog_segment_count(const struct plog *log) { return log->nsegs; }

uint64_t plog_size_bytes(const struct plog *log) {
    uint64_t total = 0;
    for (uint32_t i = 0; i < log->nsegs; i++) total += log->segs[i]->size;
    return total;
}

/* Index of the last segment whose base offset <= offset (0 if none). */
static uint32_t segment_for(const struct plog *log, int64_t offset) {
    uint32_t lo = 0, hi = log->nsegs;
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (log->segs[mid]->base_offset <= offset) lo = mid;
        else hi = mid;
    }
    return lo;
}

/* ---- append ---- */

static int log_roll(struct plog *log, int64_t now_ms) {
    struct segment *active = log_active(log);
    if (active->size == 0) return 0;
    int rc = log_reserve_segment(log);
    if (rc == 0) rc = log_begin_write(log);
    if (rc != 0) return rc;
    /* Sealing syncs the old segment, so after a crash only the active
     * segment can have a torn tail and recovery checks just that one. */
    if ((rc = segment_seal(active)) != 0) {
        log_poison(log, rc, "seal");
        return rc;
    }
    struct segment *s;
    int64_t base = active->next_offset;
    if ((rc = segment_create(log->dir, base, &s)) != 0) return rc;
    int dirfd = log_open_dirfd(log);
    rc = dirfd < 0 ? dirfd : fio_fsync(dirfd);
    if (dirfd >= 0) close(dirfd);
    if (rc != 0) {
        segment_unlink(s);
        log_poison(log, rc, "fsync_dir");
        return rc;
    }
    segment_set_active(active, false);
    segment_set_active(s, true);
    log->segs[log->nsegs++] = s;
    log->unflushed_msgs = 0;
    log->first_unflushed_ms = -1;
    log_info("storage", "segment rolled dir=%s base_offset=%lld", log->dir, (long long)base);
    return 0;
}

static bool roll_due(const struct plog *log, uint32_t len, int64_t span, int64_t now_ms) {
    const struct segment *s = log_active(log);
    if (s->size == 0) return false;
    if (s->size + len > log->cfg.segment_bytes) return true;
    if (log->cfg.segment_ms > 0 && s->roll_base_ms >= 0 && now_ms - s->roll_base_ms > log->cfg.segment_ms)
        return true;
    if (oidx_full(&s->oidx) || tidx_full(&s->tidx)) return true;
    return s->next_offset + span - 1 - s->base_offset > STORAGE_SEGMENT_OFFSET_SPAN_MAX;
}

/* The offset of the first record carrying the batch's maxTimestamp. */
static int64_t max_ts_record_offset(const uint8_t *batch, const struct rb_header *h) {
    if (rb_codec_of(h) != RB_CODEC_NONE || (h->attributes & RB_ATTR_LOG_APPEND_TIME)) return h->base_offset;
    int32_t delta;
    int64_t ts;
    if (rb_find_timestamp(batch, rb_total_bytes(h), h->max_timestamp, 0, &delta, &ts) == 0)
        return h->base_offset + delta;
    return h->base_offset;
}

/* Before the first batch of an epoch above every recorded one: record
 * (epoch, its start offset) durably, so that no batch of an epoch can be
 * on disk without its entry. If the batch then fails to be written, the
 * entry stays and names the log end, which the next append or open fixes
 * (an entry at or past the log end is dropped at open). */
static int record_epoch_start(struct plog *log, int64_t start_offset) {
    if (log->leader_epoch < 0 || log->leader_epoch <= ecache_latest_epoch(&log->epochs)) return 0;
    struct epoch_cache saved;
    int rc = ecache_copy(&saved, &log->epochs);
    if (rc != 0) return rc;
    rc = ecache_assign(&log->epochs, log->leader_epoch, start_offset);
    if (rc > 0) rc = log_write_epochs(log);
    if (rc != 0) {
        ecache_free(&log->epochs);
        log->epochs = saved;
        return rc;
    }
    ecache_free(&saved);
    log_debug("storage", "leader epoch started dir=%s epoch=%d start_offset=%lld", log->dir, log->leader_epoch,
              (long long)start_offset);
    return 0;
}

int plog_append(struct plog *log, uint8_t *data, uint32_t len, uint32_t batch_count, int64_t now_ms,
                int64_t *first_offset, int64_t *append_time_ms) {
    if (log->failed) return log->failed;
    if (!data || len == 0 || batch_count == 0) return -EINVAL;
    /* The caller validated the batches; check the framing again anyway,
     * since a mistake here would corrupt the log for every reader. */
    int64_t span = 0, records = 0;
    uint32_t n = 0;
    for (uint32_t pos = 0; pos < len; n++) {
        struct rb_header h;
        if (rb_parse_header(data + pos, len - pos, &h) != 0 || rb_check_header(&h) != RB_OK) return -EINVAL;
        uint32_t total = rb_total_bytes(&h);
        if (total > len - pos || total > STORAGE_BATCH_BYTES_MAX) return -EINVAL;
        span += (int64_t)h.last_offset_delta + 1;
        records += h.record_count;
        pos += total;
    }
    if (n != batch_count || span > STORAGE_SEGMENT_OFFSET_SPAN_MAX) return -EINVAL;
    int64_t end = plog_end_offset(log);
    if (end > STORAGE_OFFSET_MAX - span) return -EOVERFLOW;

    int rc = log_begin_write(log);
    if (rc != 0) return rc;
    if (roll_due(log, len, span, now_ms) && (rc = log_roll(log, now_ms)) != 0) return rc;
    if ((rc = record_epoch_start(log, end)) != 0) return rc;
    struct segment *active = log_active(log);
    STORAGE_ASSERT(active->loaded);

    int64_t next = end;
    for (uint32_t pos = 0; pos < len;) {
        struct rb_header h;
        rb_parse_header(data + pos, len - pos, &h);
        uint32_t total = rb_total_bytes(&h);
        rb_set_base_offset(data + pos, next);
        rb_set_leader_epoch(data + pos, log->leader_epoch);
        if (log->cfg.log_append_time) rb_set_log_append_time(data + pos, total, now_ms);
        next += (int64_t)h.last_offset_delta + 1;
        pos += total;
    }

    bool sync = log->unflushed_msgs + records >= log->cfg.flush_interval_messages;
    bool sync_failed;
    if ((rc = segment_append(active, data, len, log->cfg.index_interval_bytes, sync, &sync_failed)) != 0) {
        /* After a failed fdatasync the kernel may have dropped dirty pages
         * of earlier appends too; nothing can be trusted to be durable. */
        if (sync_failed) log_poison(log, rc, "fdatasync");
        log_warn("storage", "append failed dir=%s offset=%lld bytes=%u errno=%d", log->dir, (long long)end, len, -rc);
        return rc;
    }
    if (active->roll_base_ms < 0) active->roll_base_ms = now_ms;
    if (sync) {
        log->unflushed_msgs = 0;
        log->first_unflushed_ms = -1;
    } else {
        log->unflushed_msgs += records;
        if (log->first_unflushed_ms < 0) log->first_unflushed_ms = now_ms;
    }
    for (uint32_t pos = 0; pos < len && !log->max_ts_stale;) {
        struct rb_header h;
        rb_parse_header(data + pos, len - pos, &h);
        if (h.max_timestamp > log->max_ts) {
            log->max_ts = h.max_timestamp;
            log->max_ts_offset = max_ts_record_offset(data + pos, &h);
        }
        pos += rb_total_bytes(&h);
    }
    if (first_offset) *first_offset = end;
    if (append_time_ms) *append_time_ms = log->cfg.log_append_time ? now_ms : -1;
    return 0;
}

int plog_flush(struct plog *log) {
    if (log->failed) return log->failed;
    if (log->unflushed_msgs == 0) return 0;
    int rc = segment_sync(log_active(log));
    if (rc != 0) {
        log_poison(log, rc, "flush");
        return rc;
    }
    log->unflushed_msgs = 0;
    log->first_unflushed_ms = -1;
    return 0;
}

int plog_tick(struct plog *log, int64_t now_ms) {
    /* A poisoned log can neither roll nor flush; its failure was logged
     * once and every append reports it, so periodic calls stay quiet. */
    if (log->failed) return 0;
    const struct segment *s = log_active(log);
    int rc;
    if (s->size > 0 && log->cfg.segment_ms > 0 && s->roll_base_ms >= 0 &&
        now_ms - s->roll_base_ms > log->cfg.segment_ms && (rc = log_roll(log, now_ms)) != 0)
        return rc;
    if (log->unflushed_msgs > 0 && log->cfg.flush_interval_ms != INT64_MAX && log->first_unflushed_ms >= 0 &&
        now_ms - log->first_unflushed_ms >= log->cfg.flush_interval_ms)
        return plog_flush(log);
    /* Unsynced appends pin the active segment's descriptor; when such pins
     * fill half the descriptor cap, syncing lets the cache close it. */
    if (log->unflushed_msgs > 0 && fdc_under_pressure()) return plog_flush(log);
    return 0;
}

/* ---- reads ---- */

int plog_read(struct plog *log, int64_t offset, int64_t max_offset, uint32_t max_bytes, bool min_one_batch,
              struct log_slice *out) {
    *out = (struct log_slice){.fd = -1, .file_pos = 0, .len = 0};
    int64_t end = plog_end_offset(log);
    if (max_offset > end) max_offset = end;
    if (offset < log->start_offset || offset > max_offset) return -ERANGE;
    if (offset == max_offset) return 0;

    /* Offsets can have gaps (a truncated middle segment): the batch
     * holding `offset` may be the first of a later segment. */
    struct segment *s = NULL;
    uint64_t pos = 0;
    struct rb_header h;
    for (uint32_t i = segment_for(log, offset); i < log->nsegs; i++) {
        int rc = log_load_segment(log, log->segs[i]);
        if (rc == 0) rc = segment_locate(log->segs[i], offset, &pos, &h);
        if (rc < 0) return rc;
        if (rc == 0) {
            s = log->segs[i];
            break;
        }
    }
    if (!s || h.base_offset >= max_offset) return 0;

    uint64_t limit = s->size;
    if (max_offset < s->next_offset) {
        int rc = segment_position_of(s, max_offset, pos, &limit);
        if (rc != 0) return rc;
    }
    uint64_t avail = limit - pos;
    uint64_t len = avail < max_bytes ? avail : max_bytes;
    uint32_t first = rb_total_bytes(&h);
    if (min_one_batch && len < first) len = first < avail ? first : avail;
    if (len == 0) return 0;
    /* The caller gets its own descriptor: the cache may close the
     * segment's at any time, and the caller's sendfile must not care. */
    int sfd = segment_fd(s);
    if (sfd < 0) return sfd;
    int fd = fcntl(sfd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) return -errno;
    *out = (struct log_slice){.fd = fd, .file_pos = (int64_t)pos, .len = (uint32_t)len};
    return 0;
}

int plog_scan(struct plog *log, int64_t from_offset, plog_batch_fn fn, void *ctx) {
    if (from_offset < log->start_offset) from_offset = log->start_offset;
    uint8_t *buf = NULL;
    uint32_t cap = 0;
    int rc = 0;
    for (uint32_t i = segment_for(log, from_offset); i < log->nsegs && rc == 0; i++) {
        struct segment *s = log->segs[i];
        uint64_t pos;
        struct rb_header h;
        if ((rc = log_load_segment(log, s)) != 0) break;
        rc = segment_locate(s, from_offset, &pos, &h);
        if (rc == 1) {
            rc = 0;
            continue;
        }
        while (rc == 0 && pos < s->size) {
            if ((rc = segment_read_header(s, pos, &h)) != 0) break;
            uint32_t total = rb_total_bytes(&h);
            if ((rc = segment_read_batch(s, pos, total, &buf, &cap)) != 0) break;
            if (rb_last_offset(&h) >= from_offset) rc = fn(ctx, buf, total);
            pos += total;
        }
    }
    free(buf);
    return rc;
}

/* ---- time ---- */

int plog_offset_for_time(struct plog *log, int64_t ts, int64_t *offset, int64_t *timestamp) {
    *offset = -1;
    *timestamp = -1;
    for (uint32_t i = 0; i < log->nsegs; i++) {
        struct segment *s = log->segs[i];
        if (s->next_offset <= log->start_offset) continue;
        int rc = log_load_segment(log, s);
        if (rc != 0) return rc;
        /* Segments are in offset order, not time order: the first one
         * whose max reaches ts holds the answer, if any does. */
        if (s->next_offset <= log->start_offset || s->max_ts < ts) continue;
        rc = segment_find_time(s, ts, log->start_offset, offset, timestamp);
        if (rc <= 0) return rc;
    }
    return 0;
}

void plog_max_timestamp(const struct plog *log, int64_t *timestamp, int64_t *offset) {
    if (log->max_ts_stale) {
        /* The interface is const because the answer is a property of the
         * log; computing it on first demand (which loads segments) only
         * fills a cache. The log itself is never a const object. */
        struct plog *mlog = (struct plog *)log;
        if (log_recompute_max_ts(mlog) != 0) {
            *timestamp = -1;
            *offset = -1;
            return;
        }
    }
    *timestamp = log->max_ts;
    *offset = log->max_ts_offset;
}

int log_recompute_max_ts(struct plog *log) {
    log->max_ts_stale = true;
    log->max_ts = -1;
    log->max_ts_offset = -1;
    struct segment *best = NULL;
    for (uint32_t i = 0; i < log->nsegs; i++) {
        struct segment *s = log->segs[i];
        if (s->next_offset <= log->start_offset) continue;
        int rc = log_load_segment(log, s);
        if (rc != 0) return rc;
        if (s->next_offset > log->start_offset && s->max_ts > log->max_ts) {
            log->max_ts = s->max_ts;
            best = s;
        }
    }
    log->max_ts_stale = false;
    if (!best) return 0;
    int64_t ts;
    int rc = segment_find_time(best, log->max_ts, log->start_offset, &log->max_ts_offset, &ts);
    /* The record holding the max may lie below the start offset in a
     * partly deleted segment; the start is then the best answer we have
     * without scanning everything. */
    if (rc != 0) log->max_ts_offset = best->base_offset > log->start_offset ? best->base_offset : log->start_offset;
    return rc < 0 ? rc : 0;
}

/* ---- retention ---- */

static void delete_oldest(struct plog *log, const char *reason) {
    struct segment *s = log->segs[0];
    log_info("storage", "deleting segment dir=%s base_offset=%lld next_offset=%lld bytes=%llu reason=%s",
             log->dir, (long long)s->base_offset, (long long)s->next_offset, (unsigned long long)s->size, reason);
    segment_unlink(s);
    memmove(log->segs, log->segs + 1, (log->nsegs - 1) * sizeof(*log->segs));
    log->nsegs--;
}

/* The start moved (DeleteRecords or deleted segments): epochs wholly below
 * it go, the latest of them now starts at the start, as in Kafka. A failed
 * write is logged and left to the next change or open, which applies the
 * same rule from the persisted start. */
void log_after_start_moved(struct plog *log) {
    if (log_after_start_moved_unpersisted(log)) log_write_epochs(log);
}

bool log_after_start_moved_unpersisted(struct plog *log) {
    if (log->start_offset < log->segs[0]->base_offset) log->start_offset = log->segs[0]->base_offset;
    if (log->max_ts_offset < log->start_offset) log->max_ts_stale = true;
    return ecache_truncate_from_start(&log->epochs, log->start_offset);
}

/* Whether the oldest segment is due for deletion, and why. */
static int retention_reason(struct plog *log, uint64_t total, int64_t now_ms, const char **reason) {
    struct segment *s = log->segs[0];
    *reason = NULL;
    if (s->next_offset <= log->start_offset) {
        *reason = "below_log_start";
        return 0;
    }
    if (log->cfg.retention_ms >= 0) {
        /* The only check that needs the segment's content (its timestamps). */
        int rc = log_load_segment(log, s);
        if (rc != 0) return rc;
        /* -1 means the time is unknown (no timestamp, and the file could
         * not be stat'ed): never a reason to delete. */
        int64_t largest = segment_largest_timestamp(s);
        if (s->next_offset <= log->start_offset) *reason = "below_log_start";
        else if (largest >= 0 && now_ms - largest > log->cfg.retention_ms) *reason = "retention_ms";
        if (*reason) return 0;
    }
    if (log->cfg.retention_bytes >= 0 && total - s->size >= (uint64_t)log->cfg.retention_bytes)
        *reason = "retention_bytes";
    return 0;
}

int plog_enforce_retention(struct plog *log, int64_t now_ms) {
    int deleted = 0, rc = 0;
    uint64_t total = plog_size_bytes(log);
    while (log->nsegs > 1) {
        const char *reason;
        if ((rc = retention_reason(log, total, now_ms, &reason)) != 0 || !reason) break;
        if (log_clean_blocks_removal(log)) break; /* a committed clean replaces it: next pass */
        if ((rc = log_begin_write(log)) != 0) break;
        total -= log->segs[0]->size;
        delete_oldest(log, reason);
        deleted++;
    }
    if (deleted > 0) log_after_start_moved(log);
    return deleted > 0 || rc == 0 ? deleted : rc;
}

int plog_advance_start(struct plog *log, int64_t offset) {
    if (offset > plog_end_offset(log)) return -ERANGE;
    if (offset <= log->start_offset) return 0;
    int rc = log_begin_write(log);
    if (rc == 0) rc = log_write_start_offset(log, offset);
    if (rc != 0) return rc;
    log->start_offset = offset;
    /* Segments a committed clean is about to replace stay until it did;
     * retention then removes them (they lie below the start). */
    while (log->nsegs > 1 && log->segs[0]->next_offset <= offset && !log_clean_blocks_removal(log))
        delete_oldest(log, "delete_records");
    log_after_start_moved(log);
    return 0;
}
