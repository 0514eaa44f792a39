/*
 * Process-wide descriptor cache for segment files.
 *
 * A broker with 100,000 partitions cannot keep three descriptors open per
 * segment. Instead every segment file is a `struct fdc_file` that is open
 * or not; code asks for the descriptor when it needs it (fdc_use, or
 * fdc_open on a miss) and the cache closes the least recently used ones
 * once `max` are open:
 *   - cold entries first: the index files of segments that are no longer
 *     active (old segments are read rarely, their indexes more rarely);
 *   - then warm entries: .log files, and the indexes of active segments;
 *   - never a pinned entry: the active segment's .log while it holds
 *     writes not yet fdatasynced. Closing it then could lose the report of
 *     a writeback error (Linux reports it to open descriptors; a reopened
 *     one may miss it if the inode was evicted meanwhile), so the next
 *     fdatasync would claim durability it does not have;
 *   - never one of the STORAGE_OPEN_FILES_RECENT_PROTECTED most recently
 *     handed out, which a caller may still be holding.
 * When nothing can be evicted the open goes over the cap (logged, counted)
 * rather than failing: only pinned descriptors can cause that, and
 * plog_tick flushes logs while pinned descriptors fill half the cap.
 *
 * Rule for callers: a descriptor returned by fdc_use/fdc_open is valid
 * until the next fdc_open of another file (which may evict it), so use it
 * at once and ask again after opening anything else.
 *
 * Not thread-safe: the storage engine runs on the broker's one event loop
 * thread. Descriptors are opened O_CLOEXEC.
 */
#ifndef GREGOR_STORAGE_FDCACHE_H
#define GREGOR_STORAGE_FDCACHE_H

#include <stdbool.h>
#include <stdint.h>

struct fdc_file {
    int fd;                      /* -1 when closed */
    bool cold;                   /* evicted before warm entries */
    bool pinned;                 /* not on any LRU list, never evicted */
    struct fdc_file *prev, *next; /* LRU list links while open and not pinned */
    uint64_t last_use;           /* cache clock value at the last fdc_use/fdc_open */
};

struct fdc_stats {
    uint32_t max;          /* effective cap */
    uint32_t open;         /* descriptors open now (pinned included) */
    uint32_t pinned;       /* of which pinned */
    uint64_t opens;        /* files opened since start */
    uint64_t evictions;    /* descriptors closed to stay under the cap */
    uint64_t over_cap;     /* opens that went over the cap (nothing evictable) */
};

void fdc_file_init(struct fdc_file *f, bool cold);
static inline bool fdc_is_open(const struct fdc_file *f) { return f->fd >= 0; }
/* The descriptor of an open file, marked most recently used. */
int fdc_use(struct fdc_file *f);
/* Opens the closed file `name` relative to dirfd (AT_FDCWD for a path)
 * with O_RDWR | O_CLOEXEC | extra_flags, evicting first if at the cap.
 * Returns the descriptor or -errno. */
int fdc_open(struct fdc_file *f, int dirfd, const char *name, int extra_flags);
void fdc_close(struct fdc_file *f);
/* Pinning: the file must be open. */
void fdc_pin(struct fdc_file *f);
void fdc_unpin(struct fdc_file *f);
void fdc_set_cold(struct fdc_file *f, bool cold);

/* Sets the cap: min(max, RLIMIT_NOFILE / STORAGE_OPEN_FILES_RLIMIT_DIVISOR),
 * at least STORAGE_OPEN_FILES_MIN; closes descriptors down to it now.
 * Returns the effective cap. Without a call the cap is derived the same
 * way from STORAGE_OPEN_FILES_DEFAULT at the first open. */
uint32_t fdc_set_max(uint32_t max);
void fdc_get_stats(struct fdc_stats *out);
/* True while pinned descriptors hold half the cap or more: logs with
 * unflushed appends should flush so their descriptors become evictable. */
bool fdc_under_pressure(void);

#endif
