/*
 * faultshim: an LD_PRELOAD library for the fault-injection tests. It does
 * two jobs for the process it is loaded into (the broker):
 *
 * 1. Injects errors. FAULTSHIM_CTL names a control file the test rewrites
 *    at any time; the shim re-reads it whenever its mtime or size changes
 *    (one stat per intercepted call, so switching a fault on or off takes
 *    effect on the very next call). One rule per line:
 *
 *        <op> <path-substring> <errno-name> [count]
 *
 *    op is write, pwrite, writev, fsync, fdatasync, ftruncate, fallocate,
 *    rename, open (only opens that may create: O_CREAT) or "any". The path
 *    of a descriptor is read from /proc/self/fd, so rules match the file
 *    whatever directory descriptor it was opened through. count bounds how
 *    many calls fail (default: every call until the rule is removed).
 *    A failing write first writes half its bytes, as a torn write on a
 *    full disk would, so the broker has to clean up after it.
 *
 * 2. Records what was made durable, for the power-cut tool
 *    (tests/faultshim/powercut.py). FAULTSHIM_EVENTS names a file the shim
 *    appends lines to:
 *
 *        sync <ino> <size>          fsync/fdatasync of a regular file succeeded
 *                                   (syncfs: every file and directory below
 *                                   the descriptor's directory, as if each
 *                                   had been synced)
 *        trunc <ino> <size>         ftruncate of a regular file succeeded
 *        unlink <ino>               the last name of a file went away
 *        dirsync <dir-ino> <n>      fsync of a directory succeeded; n lines
 *        ent <ino> <name>           follow: the directory's entries then
 *        fault <op> <errno> <path>  an injected fault fired
 *
 *    After kill -9, powercut.py rolls a data directory back to exactly
 *    this durable state: each file cut to the size of its last sync, and
 *    each name absent from its directory's last synced listing removed.
 *
 * Everything here is test code; it never ships inside the broker.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define SHIM_RULES_MAX 32
#define SHIM_PATTERN_BYTES 256
#define SHIM_CTL_BYTES 8192
#define SHIM_DIR_EVENT_BYTES (4 << 20)

enum shim_op { OP_WRITE, OP_PWRITE, OP_WRITEV, OP_FSYNC, OP_FDATASYNC, OP_FTRUNCATE, OP_FALLOCATE, OP_RENAME,
               OP_OPEN, OP_SYNCFS, OP_ANY, OP_COUNT };
static const char *const op_names[OP_COUNT] = {"write", "pwrite", "writev", "fsync", "fdatasync", "ftruncate",
                                               "fallocate", "rename", "open", "syncfs", "any"};
/* syncfs records the tree below the descriptor's directory this deep:
 * the data directory and its partition directories. */
#define SHIM_SYNCFS_DEPTH_MAX 3

struct shim_rule {
    enum shim_op op;
    char pattern[SHIM_PATTERN_BYTES];
    int err;
    long remaining; /* < 0: unlimited */
};

static pthread_mutex_t shim_lock = PTHREAD_MUTEX_INITIALIZER;
static struct shim_rule rules[SHIM_RULES_MAX];
static int nrules;
static struct timespec ctl_mtime;
static off_t ctl_size = -1;
static int events_fd = -2; /* -2: not opened yet, -1: recording off */
static __thread int in_shim; /* our own calls must not be intercepted */

static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_pwritev)(int, const struct iovec *, int, off_t);
static int (*real_fsync)(int);
static int (*real_syncfs)(int);
static int (*real_fdatasync)(int);
static int (*real_ftruncate)(int, off_t);
static int (*real_fallocate)(int, int, off_t, off_t);
static int (*real_posix_fallocate)(int, off_t, off_t);
static int (*real_rename)(const char *, const char *);
static int (*real_renameat)(int, const char *, int, const char *);
static int (*real_renameat2)(int, const char *, int, const char *, unsigned);
static int (*real_open)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_unlink)(const char *);
static int (*real_unlinkat)(int, const char *, int);

static void resolve(void) {
    if (real_write) return;
    real_pwrite = dlsym(RTLD_NEXT, "pwrite");
    real_writev = dlsym(RTLD_NEXT, "writev");
    real_pwritev = dlsym(RTLD_NEXT, "pwritev");
    real_fsync = dlsym(RTLD_NEXT, "fsync");
    real_syncfs = dlsym(RTLD_NEXT, "syncfs");
    real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
    real_ftruncate = dlsym(RTLD_NEXT, "ftruncate");
    real_fallocate = dlsym(RTLD_NEXT, "fallocate");
    real_posix_fallocate = dlsym(RTLD_NEXT, "posix_fallocate");
    real_rename = dlsym(RTLD_NEXT, "rename");
    real_renameat = dlsym(RTLD_NEXT, "renameat");
    real_renameat2 = dlsym(RTLD_NEXT, "renameat2");
    real_open = dlsym(RTLD_NEXT, "open");
    real_openat = dlsym(RTLD_NEXT, "openat");
    real_unlink = dlsym(RTLD_NEXT, "unlink");
    real_unlinkat = dlsym(RTLD_NEXT, "unlinkat");
    real_write = dlsym(RTLD_NEXT, "write");
}

static int errno_by_name(const char *s) {
    static const struct { const char *name; int err; } names[] = {
        {"ENOSPC", ENOSPC}, {"EIO", EIO}, {"EDQUOT", EDQUOT}, {"EROFS", EROFS}, {"EFBIG", EFBIG},
        {"ENOMEM", ENOMEM}, {"EMFILE", EMFILE}, {"EACCES", EACCES},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(s, names[i].name) == 0) return names[i].err;
    long v = strtol(s, NULL, 10);
    return v > 0 && v < 4096 ? (int)v : EIO;
}

static void parse_rules(char *text) {
    nrules = 0;
    for (char *line = strtok(text, "\n"); line && nrules < SHIM_RULES_MAX; line = strtok(NULL, "\n")) {
        char op[32], pattern[SHIM_PATTERN_BYTES], err[32];
        long count = -1;
        if (line[0] == '#' || sscanf(line, "%31s %255s %31s %ld", op, pattern, err, &count) < 3) continue;
        for (int i = 0; i < OP_COUNT; i++) {
            if (strcmp(op, op_names[i]) != 0) continue;
            struct shim_rule *r = &rules[nrules++];
            r->op = (enum shim_op)i;
            snprintf(r->pattern, sizeof(r->pattern), "%s", pattern);
            r->err = errno_by_name(err);
            r->remaining = count;
        }
    }
}

/* Re-reads the control file if it changed. Called with shim_lock held. */
static void reload_rules(void) {
    const char *ctl = getenv("FAULTSHIM_CTL");
    struct stat st;
    if (!ctl || stat(ctl, &st) != 0) {
        nrules = 0;
        ctl_size = -1;
        return;
    }
    if (st.st_size == ctl_size && st.st_mtim.tv_sec == ctl_mtime.tv_sec && st.st_mtim.tv_nsec == ctl_mtime.tv_nsec)
        return;
    ctl_size = st.st_size;
    ctl_mtime = st.st_mtim;
    char text[SHIM_CTL_BYTES];
    int fd = real_open(ctl, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    ssize_t n = read(fd, text, sizeof(text) - 1);
    close(fd);
    text[n > 0 ? n : 0] = '\0';
    parse_rules(text);
}

static void event_write(const char *buf, size_t len) {
    if (events_fd == -2) {
        const char *path = getenv("FAULTSHIM_EVENTS");
        events_fd = path ? real_open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644) : -1;
    }
    if (events_fd < 0) return;
    /* One write per event block: O_APPEND keeps blocks whole. */
    ssize_t ignored = real_write(events_fd, buf, len);
    (void)ignored;
}

static void event_printf(const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n > 0) event_write(buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

static void fd_path(int fd, char *out, size_t cap) {
    char link[64];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, out, cap - 1);
    out[n > 0 ? n : 0] = '\0';
}

/* The errno to fail this call with, or 0. path may be NULL (then fd's). */
static int fault_for(enum shim_op op, int fd, const char *path) {
    if (in_shim) return 0;
    resolve();
    pthread_mutex_lock(&shim_lock);
    reload_rules();
    int err = 0;
    char fdpath[4096];
    for (int i = 0; i < nrules && !err; i++) {
        struct shim_rule *r = &rules[i];
        if ((r->op != op && r->op != OP_ANY) || r->remaining == 0) continue;
        if (!path) {
            fd_path(fd, fdpath, sizeof(fdpath));
            path = fdpath;
        }
        if (!strstr(path, r->pattern)) continue;
        if (r->remaining > 0) r->remaining--;
        err = r->err;
        event_printf("fault %s %d %s\n", op_names[op], err, path);
    }
    pthread_mutex_unlock(&shim_lock);
    return err;
}

static bool is_regular(int fd, struct stat *st) { return fstat(fd, st) == 0 && S_ISREG(st->st_mode); }

static void record_dirsync(int fd, const struct stat *dst) {
    int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dup_fd < 0) return;
    DIR *d = fdopendir(dup_fd);
    if (!d) {
        close(dup_fd);
        return;
    }
    rewinddir(d);
    size_t cap = SHIM_DIR_EVENT_BYTES, len = 0;
    char *entries = malloc(cap);
    int count = 0;
    struct dirent *e;
    while (entries && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        int n = snprintf(entries + len, cap - len, "ent %llu %s\n", (unsigned long long)e->d_ino, e->d_name);
        if (n < 0 || (size_t)n >= cap - len) {
            /* A listing cut short would make powercut.py delete real files. */
            event_printf("error dirsync listing too long for the shim\n");
            count = -1;
            break;
        }
        len += (size_t)n;
        count++;
    }
    closedir(d);
    if (entries && count >= 0) {
        event_printf("dirsync %llu %d\n", (unsigned long long)dst->st_ino, count);
        event_write(entries, len);
    }
    free(entries);
}

static void record_sync(int fd) {
    struct stat st;
    if (fstat(fd, &st) != 0) return;
    pthread_mutex_lock(&shim_lock);
    in_shim++;
    if (S_ISREG(st.st_mode)) event_printf("sync %llu %lld\n", (unsigned long long)st.st_ino, (long long)st.st_size);
    else if (S_ISDIR(st.st_mode)) record_dirsync(fd, &st);
    in_shim--;
    pthread_mutex_unlock(&shim_lock);
}

/* syncfs made everything on the file system durable: record each file
 * and directory below fd's directory as synced now. Called with the lock
 * held and in_shim raised. */
static void record_tree(int dirfd, int depth) {
    struct stat st;
    if (fstat(dirfd, &st) != 0) return;
    record_dirsync(dirfd, &st);
    if (depth >= SHIM_SYNCFS_DEPTH_MAX) return;
    int scan_fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
    DIR *d = scan_fd >= 0 ? fdopendir(scan_fd) : NULL;
    if (!d) {
        if (scan_fd >= 0) close(scan_fd);
        return;
    }
    rewinddir(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        int fd = openat(dirfd, e->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) continue;
        if (fstat(fd, &st) == 0) {
            if (S_ISREG(st.st_mode))
                event_printf("sync %llu %lld\n", (unsigned long long)st.st_ino, (long long)st.st_size);
            else if (S_ISDIR(st.st_mode))
                record_tree(fd, depth + 1);
        }
        close(fd);
    }
    closedir(d);
}

static void record_unlink(int dirfd, const char *path) {
    struct stat st;
    if (fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) || st.st_nlink > 1) return;
    pthread_mutex_lock(&shim_lock);
    event_printf("unlink %llu\n", (unsigned long long)st.st_ino);
    pthread_mutex_unlock(&shim_lock);
}

/* A failing write leaves half its bytes behind, like a torn write. */
static ssize_t torn_write(int fd, const void *buf, size_t len, off_t pos, bool positioned, int err) {
    if (len > 1) {
        ssize_t ignored = positioned ? real_pwrite(fd, buf, len / 2, pos) : real_write(fd, buf, len / 2);
        (void)ignored;
    }
    errno = err;
    return -1;
}

/* ---- intercepted calls ---- */

ssize_t write(int fd, const void *buf, size_t len) {
    resolve();
    /* stdio and sockets are not files the tests target: only regular files. */
    struct stat st;
    if (!in_shim && fd > 2 && is_regular(fd, &st)) {
        int err = fault_for(OP_WRITE, fd, NULL);
        if (err) return torn_write(fd, buf, len, 0, false, err);
    }
    return real_write(fd, buf, len);
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t pos) {
    int err = fault_for(OP_PWRITE, fd, NULL);
    if (err) return torn_write(fd, buf, len, pos, true, err);
    return real_pwrite(fd, buf, len, pos);
}
ssize_t pwrite64(int fd, const void *buf, size_t len, off_t pos) __attribute__((alias("pwrite")));

ssize_t writev(int fd, const struct iovec *iov, int cnt) {
    resolve();
    struct stat st;
    if (!in_shim && is_regular(fd, &st)) {
        int err = fault_for(OP_WRITEV, fd, NULL);
        if (err) {
            errno = err;
            return -1;
        }
    }
    return real_writev(fd, iov, cnt);
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t pos) {
    int err = fault_for(OP_WRITEV, fd, NULL);
    if (err) {
        errno = err;
        return -1;
    }
    return real_pwritev(fd, iov, cnt, pos);
}

int fsync(int fd) {
    int err = fault_for(OP_FSYNC, fd, NULL);
    if (err) {
        errno = err;
        return -1;
    }
    int rc = real_fsync(fd);
    if (rc == 0) record_sync(fd);
    return rc;
}

int syncfs(int fd) {
    resolve();
    int err = fault_for(OP_SYNCFS, fd, NULL);
    if (err) {
        errno = err;
        return -1;
    }
    int rc = real_syncfs(fd);
    struct stat st;
    if (rc == 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        pthread_mutex_lock(&shim_lock);
        in_shim++;
        record_tree(fd, 1);
        in_shim--;
        pthread_mutex_unlock(&shim_lock);
    }
    return rc;
}

int fdatasync(int fd) {
    int err = fault_for(OP_FDATASYNC, fd, NULL);
    if (err) {
        errno = err;
        return -1;
    }
    int rc = real_fdatasync(fd);
    if (rc == 0) record_sync(fd);
    return rc;
}

int ftruncate(int fd, off_t len) {
    int err = fault_for(OP_FTRUNCATE, fd, NULL);
    if (err) {
        errno = err;
        return -1;
    }
    int rc = real_ftruncate(fd, len);
    struct stat st;
    if (rc == 0 && is_regular(fd, &st)) {
        pthread_mutex_lock(&shim_lock);
        event_printf("trunc %llu %lld\n", (unsigned long long)st.st_ino, (long long)len);
        pthread_mutex_unlock(&shim_lock);
    }
    return rc;
}
int ftruncate64(int fd, off_t len) __attribute__((alias("ftruncate")));

int fallocate(int fd, int mode, off_t off, off_t len) {
    int err = fault_for(OP_FALLOCATE, fd, NULL);
    if (err) {
        errno = err;
        return -1;
    }
    return real_fallocate(fd, mode, off, len);
}

int posix_fallocate(int fd, off_t off, off_t len) {
    int err = fault_for(OP_FALLOCATE, fd, NULL);
    if (err) return err;
    return real_posix_fallocate(fd, off, len);
}

int rename(const char *from, const char *to) {
    int err = fault_for(OP_RENAME, -1, to);
    if (err) {
        errno = err;
        return -1;
    }
    return real_rename(from, to);
}

int renameat(int fromfd, const char *from, int tofd, const char *to) {
    int err = fault_for(OP_RENAME, -1, to);
    if (err) {
        errno = err;
        return -1;
    }
    return real_renameat(fromfd, from, tofd, to);
}

int renameat2(int fromfd, const char *from, int tofd, const char *to, unsigned flags) {
    int err = fault_for(OP_RENAME, -1, to);
    if (err) {
        errno = err;
        return -1;
    }
    return real_renameat2(fromfd, from, tofd, to, flags);
}

int open(const char *path, int flags, ...) {
    mode_t mode = 0;
    if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        va_end(ap);
    }
    resolve();
    if (flags & O_CREAT) {
        int err = fault_for(OP_OPEN, -1, path);
        if (err) {
            errno = err;
            return -1;
        }
    }
    return real_open(path, flags, mode);
}
int open64(const char *path, int flags, ...) __attribute__((alias("open")));

int openat(int dirfd, const char *path, int flags, ...) {
    mode_t mode = 0;
    if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        va_end(ap);
    }
    resolve();
    if (flags & O_CREAT) {
        int err = fault_for(OP_OPEN, -1, path);
        if (err) {
            errno = err;
            return -1;
        }
    }
    return real_openat(dirfd, path, flags, mode);
}
int openat64(int dirfd, const char *path, int flags, ...) __attribute__((alias("openat")));

int unlink(const char *path) {
    resolve();
    record_unlink(AT_FDCWD, path);
    return real_unlink(path);
}

int unlinkat(int dirfd, const char *path, int flags) {
    resolve();
    if (!(flags & AT_REMOVEDIR)) record_unlink(dirfd, path);
    return real_unlinkat(dirfd, path, flags);
}
