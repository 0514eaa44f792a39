#include "storage/fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "core/metrics.h"

#define FIO_BASE_DIGITS 20
#define FIO_TMP_NAME_BYTES 256

struct fio_fault {
    uint32_t countdown;
    int err;
};
static struct fio_fault faults[FIO_FAULT_OPS];

void fio_fault_inject(enum fio_fault_op op, uint32_t countdown, int err) {
    faults[op].countdown = countdown;
    faults[op].err = err;
}

/* -err when an injected fault fires now, else 0. */
static int fault_fire(enum fio_fault_op op) {
    struct fio_fault *f = &faults[op];
    if (f->err == 0) return 0;
    if (f->countdown > 0) {
        f->countdown--;
        return 0;
    }
    int err = f->err;
    f->err = 0;
    return -err;
}

/* pread or pwrite until all len bytes moved, across short transfers and
 * EINTR. A transfer of 0 bytes cannot progress: for a read the file ends
 * first (-ENODATA), for a write the device took nothing (-EIO). When
 * reading, buf is the caller's writable buffer, so the const is cast off. */
static int transfer_full(int fd, const void *buf, size_t len, off_t pos, bool writing) {
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = writing ? pwrite(fd, p, len, pos) : pread(fd, (void *)p, len, pos);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        if (n == 0) return writing ? -EIO : -ENODATA;
        p += n;
        len -= (size_t)n;
        pos += n;
    }
    return 0;
}

int fio_pread_full(int fd, void *buf, size_t len, off_t pos) { return transfer_full(fd, buf, len, pos, false); }

int fio_pwrite_full(int fd, const void *buf, size_t len, off_t pos) {
    int injected = fault_fire(FIO_FAULT_WRITE);
    if (injected != 0) {
        /* Leave half the bytes behind so callers prove they clean up. */
        ssize_t ignored = pwrite(fd, buf, len / 2, pos);
        (void)ignored;
        return injected;
    }
    return transfer_full(fd, buf, len, pos, true);
}

static struct metrics_histogram sync_latency;

const struct metrics_histogram *fio_sync_latency(void) { return &sync_latency; }

static uint64_t monotonic_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Per thread: deferring is the shutdown path's business; a cleaner thread
 * syncing its own files meanwhile is not affected. */
static _Thread_local bool syncs_deferred;

void fio_defer_syncs(bool deferred) { syncs_deferred = deferred; }

int fio_syncfs(int fd) {
    int injected = fault_fire(FIO_FAULT_SYNC);
    if (injected != 0) return injected;
    uint64_t start = monotonic_us();
    int rc = syncfs(fd) == 0 ? 0 : -errno;
    metrics_observe_us(&sync_latency, monotonic_us() - start);
    return rc;
}

bool fio_syncfs_reports_errors(void) {
    struct utsname u;
    int major = 0, minor = 0;
    if (uname(&u) != 0 || sscanf(u.release, "%d.%d", &major, &minor) != 2) return false;
    return major > 5 || (major == 5 && minor >= 8);
}

int fio_fdatasync(int fd) {
    if (syncs_deferred) return 0;
    int injected = fault_fire(FIO_FAULT_SYNC);
    if (injected != 0) return injected;
    uint64_t start = monotonic_us();
    int rc = fdatasync(fd) == 0 ? 0 : -errno;
    metrics_observe_us(&sync_latency, monotonic_us() - start);
    return rc;
}

int fio_fsync(int fd) {
    if (syncs_deferred) return 0;
    int injected = fault_fire(FIO_FAULT_SYNC);
    if (injected != 0) return injected;
    uint64_t start = monotonic_us();
    int rc = fsync(fd) == 0 ? 0 : -errno;
    metrics_observe_us(&sync_latency, monotonic_us() - start);
    return rc;
}

int fio_ftruncate(int fd, off_t len) {
    while (ftruncate(fd, len) != 0) {
        if (errno != EINTR) return -errno;
    }
    return 0;
}

int fio_fsync_parent(const char *path) {
    char parent[PATH_MAX];
    size_t n = strlen(path);
    if (n >= sizeof(parent)) return -ENAMETOOLONG;
    memcpy(parent, path, n + 1);
    while (n > 1 && parent[n - 1] == '/') parent[--n] = '\0';
    char *slash = strrchr(parent, '/');
    if (!slash) {
        parent[0] = '.';
        parent[1] = '\0';
    } else if (slash == parent) {
        parent[1] = '\0';
    } else {
        *slash = '\0';
    }
    int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -errno;
    int rc = fio_fsync(fd);
    close(fd);
    return rc;
}

int fio_write_atomic(int dirfd, const char *name, const void *data, size_t len) {
    char tmp[FIO_TMP_NAME_BYTES];
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp", name);
    if (n < 0 || (size_t)n >= sizeof(tmp)) return -ENAMETOOLONG;
    int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -errno;
    int rc = fio_pwrite_full(fd, data, len, 0);
    if (rc == 0) rc = fio_fsync(fd);
    close(fd);
    if (rc == 0 && renameat(dirfd, tmp, dirfd, name) != 0) rc = -errno;
    if (rc != 0) {
        unlinkat(dirfd, tmp, 0);
        return rc;
    }
    return fio_fsync(dirfd);
}

int fio_dir_each(int dirfd, int (*fn)(void *ctx, int dirfd, const char *name), void *ctx) {
    int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) return -errno;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -errno;
    }
    /* The duplicate shares the directory's read position with dirfd. */
    rewinddir(d);
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) rc = fn(ctx, dirfd, e->d_name);
    closedir(d);
    return rc;
}

int fio_read_small(int dirfd, const char *name, char *buf, size_t cap, size_t *len_out) {
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    size_t len = 0;
    int rc = 0;
    for (;;) {
        if (len + 1 >= cap) {
            rc = -EFBIG;
            break;
        }
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n < 0) {
            if (errno == EINTR) continue;
            rc = -errno;
            break;
        }
        if (n == 0) break;
        len += (size_t)n;
    }
    close(fd);
    if (rc != 0) return rc;
    buf[len] = '\0';
    *len_out = len;
    return 0;
}

void fio_segment_name(char out[FIO_SEGMENT_NAME_BYTES], int64_t base_offset, const char *suffix) {
    snprintf(out, FIO_SEGMENT_NAME_BYTES, "%020lld%s", (long long)base_offset, suffix);
}

int fio_parse_segment_name(const char *name, const char *suffix, int64_t *base_out) {
    uint64_t v = 0;
    for (int i = 0; i < FIO_BASE_DIGITS; i++) {
        if (name[i] < '0' || name[i] > '9') return -1;
        uint64_t digit = (uint64_t)(name[i] - '0');
        /* 20 digits can exceed INT64_MAX; check before multiplying so v cannot wrap. */
        if (v > ((uint64_t)INT64_MAX - digit) / 10) return -1;
        v = v * 10 + digit;
    }
    if (strcmp(name + FIO_BASE_DIGITS, suffix) != 0) return -1;
    *base_out = (int64_t)v;
    return 0;
}
