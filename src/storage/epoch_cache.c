/*
 * leader-epoch-checkpoint: Kafka's text format, so a partition directory
 * can be read by either broker. ASCII, lines ending in "\n":
 *
 *   line 1        format version, "0"
 *   line 2        N, the number of entries, decimal, 0 <= N <= STORAGE_EPOCH_ENTRIES_MAX
 *   lines 3..N+2  "<epoch> <start offset>": leader epoch (decimal, 0..2^31-1),
 *                 one or more spaces, the offset of the first batch appended
 *                 under that epoch (decimal, 0..2^63-1)
 *
 * e.g. "0\n2\n0 0\n3 1500\n". Nothing follows the last line. Entries are
 * oldest first; epochs and offsets both strictly increase. The file is
 * replaced atomically (write leader-epoch-checkpoint.tmp, fsync, rename,
 * fsync the directory) and never edited in place. A file that breaks any
 * of these rules is ignored with a warning: an empty cache makes
 * OffsetForLeaderEpoch answer UNDEFINED, which sends a follower or a
 * consumer back to the high watermark instead of trusting wrong data.
 */
#include "storage/epoch_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "storage/fileio.h"
#include "storage/storage_limits.h"

#define ECACHE_FILE "leader-epoch-checkpoint"
#define ECACHE_VERSION 0
#define ECACHE_INITIAL_CAP 4

void ecache_init(struct epoch_cache *c) { *c = (struct epoch_cache){0}; }

void ecache_free(struct epoch_cache *c) {
    free(c->entries);
    ecache_init(c);
}

static int reserve(struct epoch_cache *c, uint32_t n) {
    if (n <= c->cap) return 0;
    uint32_t cap = c->cap ? c->cap : ECACHE_INITIAL_CAP;
    while (cap < n) cap *= 2;
    struct epoch_entry *e = realloc(c->entries, cap * sizeof(*e));
    if (!e) return -ENOMEM;
    c->entries = e;
    c->cap = cap;
    return 0;
}

int ecache_copy(struct epoch_cache *dst, const struct epoch_cache *src) {
    ecache_init(dst);
    if (src->count == 0) return 0;
    if (reserve(dst, src->count) != 0) return -ENOMEM;
    memcpy(dst->entries, src->entries, src->count * sizeof(*src->entries));
    dst->count = src->count;
    return 0;
}

int32_t ecache_latest_epoch(const struct epoch_cache *c) {
    return c->count ? c->entries[c->count - 1].epoch : EPOCH_UNDEFINED;
}

/* ---- the file ---- */

/* Parses a decimal in [0, max] followed by `end`; advances *p past `end`. */
static bool parse_field(const char **p, int64_t max, char end, int64_t *out) {
    const char *s = *p;
    if (*s < '0' || *s > '9') return false;
    errno = 0;
    char *e;
    long long v = strtoll(s, &e, 10);
    if (errno || v < 0 || v > max || *e != end) return false;
    *out = v;
    *p = e + 1;
    return true;
}

static int parse(struct epoch_cache *c, const char *p) {
    int64_t version, count;
    if (!parse_field(&p, INT32_MAX, '\n', &version) || version != ECACHE_VERSION) return -EUCLEAN;
    if (!parse_field(&p, STORAGE_EPOCH_ENTRIES_MAX, '\n', &count)) return -EUCLEAN;
    if (reserve(c, (uint32_t)count) != 0) return -ENOMEM;
    for (int64_t i = 0; i < count; i++) {
        int64_t epoch, offset;
        if (!parse_field(&p, INT32_MAX, ' ', &epoch)) return -EUCLEAN;
        while (*p == ' ') p++;
        if (!parse_field(&p, INT64_MAX, '\n', &offset)) return -EUCLEAN;
        if (c->count > 0) {
            const struct epoch_entry *last = &c->entries[c->count - 1];
            if (epoch <= last->epoch || offset <= last->start_offset) return -EUCLEAN;
        }
        c->entries[c->count++] = (struct epoch_entry){(int32_t)epoch, offset};
    }
    return *p == '\0' ? 0 : -EUCLEAN;
}

int ecache_read(struct epoch_cache *c, int dirfd) {
    ecache_free(c);
    int fd = openat(dirfd, ECACHE_FILE, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? 0 : -errno;
    struct stat st;
    int rc = 0;
    char *buf = NULL;
    if (fstat(fd, &st) != 0) rc = -errno;
    else if (st.st_size > (off_t)STORAGE_EPOCH_FILE_BYTES_MAX) rc = -EUCLEAN;
    else if (!(buf = malloc((size_t)st.st_size + 1))) rc = -ENOMEM;
    else if ((rc = fio_pread_full(fd, buf, (size_t)st.st_size, 0)) == -ENODATA) rc = -EUCLEAN;
    close(fd);
    if (rc == 0) {
        buf[st.st_size] = '\0';
        /* A NUL inside the file would hide what follows it from parse(). */
        if (strlen(buf) != (size_t)st.st_size) rc = -EUCLEAN;
        else rc = parse(c, buf);
    }
    free(buf);
    if (rc != 0) ecache_free(c);
    return rc;
}

int ecache_write(const struct epoch_cache *c, int dirfd) {
    size_t cap = 16 + (size_t)c->count * STORAGE_EPOCH_LINE_BYTES_MAX + 1;
    char *buf = malloc(cap);
    if (!buf) return -ENOMEM;
    size_t len = (size_t)snprintf(buf, cap, "%d\n%" PRIu32 "\n", ECACHE_VERSION, c->count);
    for (uint32_t i = 0; i < c->count; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%" PRId32 " %" PRId64 "\n", c->entries[i].epoch,
                                c->entries[i].start_offset);
    int rc = fio_write_atomic(dirfd, ECACHE_FILE, buf, len);
    free(buf);
    return rc;
}

/* ---- changes ---- */

int ecache_assign(struct epoch_cache *c, int32_t epoch, int64_t start_offset) {
    if (epoch < 0 || start_offset < 0) return -EINVAL;
    if (c->count > 0) {
        const struct epoch_entry *last = &c->entries[c->count - 1];
        if (last->epoch == epoch && last->start_offset <= start_offset) return 0;
    }
    uint32_t keep = c->count;
    while (keep > 0 && (c->entries[keep - 1].epoch >= epoch || c->entries[keep - 1].start_offset >= start_offset))
        keep--;
    /* Removing more than an entry for this very offset means epochs that
     * held data were rewritten: worth a line, as in Kafka. */
    if (c->count - keep > 1 || (c->count > keep && c->entries[keep].start_offset != start_offset))
        log_warn("storage", "leader epoch entry replaced conflicting entries epoch=%d start_offset=%lld removed=%u",
                 epoch, (long long)start_offset, c->count - keep);
    c->count = keep;
    if (c->count == STORAGE_EPOCH_ENTRIES_MAX) {
        log_warn("storage", "leader epoch cache full, dropping oldest entry epoch=%d start_offset=%lld",
                 c->entries[0].epoch, (long long)c->entries[0].start_offset);
        memmove(c->entries, c->entries + 1, (c->count - 1) * sizeof(*c->entries));
        c->count--;
    }
    if (reserve(c, c->count + 1) != 0) return -ENOMEM;
    c->entries[c->count++] = (struct epoch_entry){epoch, start_offset};
    return 1;
}

bool ecache_truncate_from_end(struct epoch_cache *c, int64_t end_offset) {
    uint32_t keep = c->count;
    while (keep > 0 && c->entries[keep - 1].start_offset >= end_offset) keep--;
    bool changed = keep != c->count;
    c->count = keep;
    return changed;
}

bool ecache_truncate_from_start(struct epoch_cache *c, int64_t start_offset) {
    uint32_t below = 0; /* entries starting at or below start_offset */
    while (below < c->count && c->entries[below].start_offset <= start_offset) below++;
    if (below == 0) return false;
    struct epoch_entry kept = {c->entries[below - 1].epoch, start_offset};
    if (below == 1 && c->entries[0].start_offset == start_offset) return false;
    memmove(c->entries + 1, c->entries + below, (c->count - below) * sizeof(*c->entries));
    c->count -= below - 1;
    c->entries[0] = kept;
    return true;
}

/* ---- lookup ---- */

void ecache_end_offset_for(const struct epoch_cache *c, int32_t requested, int32_t current_epoch, int64_t log_end,
                           int32_t *epoch_out, int64_t *end_offset_out) {
    *epoch_out = EPOCH_UNDEFINED;
    *end_offset_out = EPOCH_OFFSET_UNDEFINED;
    if (requested < 0) return;
    int32_t latest = ecache_latest_epoch(c);
    /* A leader that has not appended in its epoch yet: that epoch starts
     * at the log end, as if its entry had been written at election. */
    if (current_epoch >= 0 && current_epoch > latest) latest = current_epoch;
    if (latest == EPOCH_UNDEFINED || requested > latest) return;
    if (requested == latest) {
        *epoch_out = requested;
        *end_offset_out = log_end;
        return;
    }
    /* The first entry above `requested` (binary search: epochs increase);
     * there is one, or the virtual current epoch, since requested < latest. */
    uint32_t lo = 0, hi = c->count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (c->entries[mid].epoch <= requested) lo = mid + 1;
        else hi = mid;
    }
    int64_t next_start = lo < c->count ? c->entries[lo].start_offset : log_end;
    /* Below the first entry: Kafka answers with the requested epoch and the
     * first known start, so a follower whose old epochs were deleted by
     * retention still replicates from the leader's start. */
    *epoch_out = lo == 0 ? requested : c->entries[lo - 1].epoch;
    *end_offset_out = next_start;
}
