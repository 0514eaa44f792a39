#include "storage/prefetch.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "storage/fileio.h"
#include "storage/log_internal.h"

struct log_prefetch {
    const char *const *dirs;
    uint32_t count;
    uint32_t threads;
    atomic_uint next;   /* next directory a worker claims */
    atomic_uint opened; /* the opener has passed every index below this */
    atomic_bool stop;
    pthread_t tids[];
};

/* Reads a segment file's tail, or a small file whole. */
static void warm_file(int dirfd, const char *name, bool segment_file) {
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOATIME);
    if (fd < 0) fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC); /* O_NOATIME needs ownership */
    if (fd < 0) return;
    struct stat st;
    if (fstat(fd, &st) == 0 && st.st_size > 0 && (segment_file || st.st_size <= PREFETCH_SMALL_FILE_BYTES_MAX)) {
        off_t len = st.st_size < PREFETCH_TAIL_BYTES ? st.st_size : PREFETCH_TAIL_BYTES;
        off_t from = st.st_size - len;
        /* readahead() returns once the pages are read, which is the point:
         * each worker keeps one read in flight. */
        readahead(fd, from, (size_t)len);
    }
    close(fd);
}

static void warm_dir(const char *path) {
    int dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) return;
    int scanfd = dup(dirfd);
    DIR *d = scanfd >= 0 ? fdopendir(scanfd) : NULL;
    if (!d) {
        if (scanfd >= 0) close(scanfd);
        close(dirfd);
        return;
    }
    /* The last segment (largest base offset) is the one a clean open
     * reads; older ones are only stat'ed (their size). */
    int64_t last = -1, base;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        if (fio_parse_segment_name(e->d_name, ".log", &base) == 0) {
            if (base > last) last = base;
        } else if (fio_parse_segment_name(e->d_name, ".index", &base) != 0 &&
                   fio_parse_segment_name(e->d_name, ".timeindex", &base) != 0) {
            /* Leftovers of interrupted work are removed at open, not read. */
            if (!log_stray_file(e->d_name)) warm_file(dirfd, e->d_name, false);
            continue;
        }
        struct stat st;
        fstatat(dirfd, e->d_name, &st, 0);
    }
    closedir(d);
    if (last >= 0) {
        static const char *const suffixes[] = {".log", ".index", ".timeindex"};
        for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
            char name[FIO_SEGMENT_NAME_BYTES];
            fio_segment_name(name, last, suffixes[i]);
            warm_file(dirfd, name, true);
        }
    }
    close(dirfd);
}

static void *prefetch_worker(void *arg) {
    struct log_prefetch *p = arg;
    while (!atomic_load_explicit(&p->stop, memory_order_relaxed)) {
        uint32_t i = atomic_fetch_add(&p->next, 1);
        if (i >= p->count) break;
        /* Behind the opener: reading it now would only cost I/O. */
        uint32_t opened = atomic_load_explicit(&p->opened, memory_order_relaxed);
        if (i < opened) {
            uint32_t expect = i + 1;
            atomic_compare_exchange_strong(&p->next, &expect, opened);
            continue;
        }
        /* Too far ahead: what it warmed could be evicted before use. */
        while (i >= atomic_load_explicit(&p->opened, memory_order_relaxed) + PREFETCH_WINDOW_DIRS &&
               !atomic_load_explicit(&p->stop, memory_order_relaxed)) {
            struct timespec pause = {0, 1000000};
            nanosleep(&pause, NULL);
        }
        warm_dir(p->dirs[i]);
    }
    return NULL;
}

struct log_prefetch *log_prefetch_start(const char *const *dirs, uint32_t count, uint32_t threads) {
    if (threads == 0 || count == 0) return NULL;
    if (threads > PREFETCH_THREADS_MAX) threads = PREFETCH_THREADS_MAX;
    if (threads > count) threads = count;
    struct log_prefetch *p = calloc(1, sizeof(*p) + threads * sizeof(pthread_t));
    if (!p) return NULL;
    p->dirs = dirs;
    p->count = count;
    atomic_init(&p->next, 0);
    atomic_init(&p->opened, 0);
    atomic_init(&p->stop, false);
    for (uint32_t t = 0; t < threads; t++) {
        /* The workers need little stack: no recursion, one dirent buffer. */
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, 256 * 1024);
        int rc = pthread_create(&p->tids[t], &attr, prefetch_worker, p);
        pthread_attr_destroy(&attr);
        if (rc != 0) break;
        p->threads++;
    }
    if (p->threads == 0) {
        free(p);
        return NULL;
    }
    return p;
}

void log_prefetch_progress(struct log_prefetch *p, uint32_t index) {
    if (p) atomic_store_explicit(&p->opened, index + 1, memory_order_relaxed);
}

void log_prefetch_finish(struct log_prefetch *p) {
    if (!p) return;
    atomic_store(&p->stop, true);
    for (uint32_t t = 0; t < p->threads; t++) pthread_join(p->tids[t], NULL);
    free(p);
}
