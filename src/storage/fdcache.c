/*
 * The descriptor cache (policy in fdcache.h): two intrusive LRU lists,
 * cold and warm, most recently used at the head; pinned files are on
 * neither list but counted as open. Every operation is O(1).
 */
#include "storage/fdcache.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/log.h"
#include "storage/storage_limits.h"

/* After the first, a warning every this many opens that went over the cap,
 * so a persistent overload is visible without a line per open. */
#define FDC_OVER_CAP_LOG_EVERY 4096u

/* Opens retried after evicting, when the process limit (not our cap) is
 * what refused the descriptor: sockets share RLIMIT_NOFILE with us. */
#define FDC_EMFILE_RETRIES 8

struct fdc_list {
    struct fdc_file *head, *tail;
};

static struct {
    struct fdc_list cold, warm;
    uint32_t max; /* 0 until set or first derived */
    uint32_t open;
    uint32_t pinned;
    uint64_t clock;
    uint64_t opens, evictions, over_cap;
} cache;

static struct fdc_list *list_of(struct fdc_file *f) { return f->cold ? &cache.cold : &cache.warm; }

static void list_remove(struct fdc_list *l, struct fdc_file *f) {
    if (f->prev) f->prev->next = f->next;
    else l->head = f->next;
    if (f->next) f->next->prev = f->prev;
    else l->tail = f->prev;
    f->prev = f->next = NULL;
}

static void list_push_head(struct fdc_list *l, struct fdc_file *f) {
    f->prev = NULL;
    f->next = l->head;
    if (l->head) l->head->prev = f;
    else l->tail = f;
    l->head = f;
}

static uint32_t derive_max(uint32_t wanted) {
    struct rlimit rl;
    uint64_t cap = wanted;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        uint64_t share = (uint64_t)rl.rlim_cur / STORAGE_OPEN_FILES_RLIMIT_DIVISOR;
        if (share < cap) cap = share;
    }
    if (cap < STORAGE_OPEN_FILES_MIN) cap = STORAGE_OPEN_FILES_MIN;
    return (uint32_t)cap;
}

static uint32_t current_max(void) {
    if (cache.max == 0) cache.max = derive_max(STORAGE_OPEN_FILES_DEFAULT);
    return cache.max;
}

void fdc_file_init(struct fdc_file *f, bool cold) {
    *f = (struct fdc_file){.fd = -1, .cold = cold};
}

static void touch(struct fdc_file *f) {
    f->last_use = ++cache.clock;
    if (f->pinned) return;
    struct fdc_list *l = list_of(f);
    if (l->head == f) return;
    list_remove(l, f);
    list_push_head(l, f);
}

int fdc_use(struct fdc_file *f) {
    if (f->fd < 0) return -EBADF;
    touch(f);
    return f->fd;
}

static bool evictable(const struct fdc_file *f) {
    return f && cache.clock - f->last_use >= STORAGE_OPEN_FILES_RECENT_PROTECTED;
}

/* Closes the least recently used evictable descriptor; false if none. */
static bool evict_one(void) {
    struct fdc_file *victim = evictable(cache.cold.tail) ? cache.cold.tail
                            : evictable(cache.warm.tail) ? cache.warm.tail : NULL;
    if (!victim) return false;
    list_remove(list_of(victim), victim);
    close(victim->fd);
    victim->fd = -1;
    cache.open--;
    cache.evictions++;
    return true;
}

int fdc_open(struct fdc_file *f, int dirfd, const char *name, int extra_flags) {
    if (f->fd >= 0) return fdc_use(f);
    uint32_t max = current_max();
    while (cache.open >= max && evict_one()) {
    }
    if (cache.open >= max) {
        cache.over_cap++;
        if (cache.over_cap % FDC_OVER_CAP_LOG_EVERY == 1)
            log_warn("storage", "descriptor cache over its cap, all descriptors pinned or in use "
                     "open=%u pinned=%u max=%u over_cap_opens=%llu", cache.open, cache.pinned, max,
                     (unsigned long long)cache.over_cap);
    }
    int fd;
    int retries = 0;
    while ((fd = openat(dirfd, name, O_RDWR | O_CLOEXEC | extra_flags, 0644)) < 0) {
        int err = errno;
        if (err == EINTR) continue;
        if ((err == EMFILE || err == ENFILE) && retries++ < FDC_EMFILE_RETRIES && evict_one()) continue;
        return -err;
    }
    f->fd = fd;
    f->pinned = false;
    cache.open++;
    cache.opens++;
    f->last_use = ++cache.clock;
    list_push_head(list_of(f), f);
    return fd;
}

void fdc_close(struct fdc_file *f) {
    if (f->fd < 0) return;
    if (f->pinned) cache.pinned--;
    else list_remove(list_of(f), f);
    close(f->fd);
    f->fd = -1;
    f->pinned = false;
    cache.open--;
}

void fdc_pin(struct fdc_file *f) {
    if (f->fd < 0 || f->pinned) return;
    list_remove(list_of(f), f);
    f->pinned = true;
    cache.pinned++;
}

void fdc_unpin(struct fdc_file *f) {
    if (f->fd < 0 || !f->pinned) return;
    f->pinned = false;
    cache.pinned--;
    list_push_head(list_of(f), f);
}

void fdc_set_cold(struct fdc_file *f, bool cold) {
    if (f->cold == cold) return;
    bool listed = f->fd >= 0 && !f->pinned;
    if (listed) list_remove(list_of(f), f);
    f->cold = cold;
    if (listed) list_push_head(list_of(f), f);
}

uint32_t fdc_set_max(uint32_t max) {
    cache.max = derive_max(max);
    while (cache.open > cache.max && evict_one()) {
    }
    return cache.max;
}

void fdc_get_stats(struct fdc_stats *out) {
    *out = (struct fdc_stats){.max = current_max(), .open = cache.open, .pinned = cache.pinned,
                              .opens = cache.opens, .evictions = cache.evictions, .over_cap = cache.over_cap};
}

bool fdc_under_pressure(void) { return cache.pinned >= current_max() / 2; }
