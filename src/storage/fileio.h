/*
 * Small file helpers for the storage engine: full preads/pwrites, durable
 * directory updates, atomic small-file replacement, segment file names,
 * and fault injection so tests can make any write or sync fail.
 */
#ifndef GREGOR_STORAGE_FILEIO_H
#define GREGOR_STORAGE_FILEIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* "%020lld" + the longest suffix (".timeindex") + NUL. */
#define FIO_SEGMENT_NAME_BYTES 32

/* 0, -ENODATA if the file ends first, or -errno. */
int fio_pread_full(int fd, void *buf, size_t len, off_t pos);
/* 0 or -errno; retries short writes, so a failure means the bytes from
 * pos on are in an unknown state and the caller must truncate. */
int fio_pwrite_full(int fd, const void *buf, size_t len, off_t pos);
int fio_fdatasync(int fd);
int fio_fsync(int fd);
/* Latency of every fsync/fdatasync above, for /metrics. Process-wide and
 * unsynchronised: syncs happen on the loop thread (a loop per core would
 * make it per loop). */
struct metrics_histogram;
const struct metrics_histogram *fio_sync_latency(void);
int fio_ftruncate(int fd, off_t len);
/* fsyncs the directory holding path (after creating path in it). */
int fio_fsync_parent(const char *path);
/* Replaces dir/name with data: write name.tmp, fsync, rename, fsync dir. */
int fio_write_atomic(int dirfd, const char *name, const void *data, size_t len);
/* Reads a small file whole into buf (NUL-terminated); -ENOENT, -EFBIG if
 * it does not fit, or -errno. */
int fio_read_small(int dirfd, const char *name, char *buf, size_t cap, size_t *len_out);

/* Calls fn for each entry name of the directory (but "." and ".."), through
 * a duplicate of dirfd so the caller's descriptor stays usable, until fn
 * returns non-zero (which is returned). 0 or -errno otherwise. */
int fio_dir_each(int dirfd, int (*fn)(void *ctx, int dirfd, const char *name), void *ctx);

void fio_segment_name(char out[FIO_SEGMENT_NAME_BYTES], int64_t base_offset, const char *suffix);
/* Parses "<20 digits><suffix>" exactly; 0 and *base_out, or -1. */
int fio_parse_segment_name(const char *name, const char *suffix, int64_t *base_out);

/* Bulk durability, for closing many logs at shutdown: while deferred,
 * fio_fsync and fio_fdatasync do nothing and the caller owes one
 * fio_syncfs on the file system, which makes every file and directory
 * change on it durable at once. A close costs about five syncs per
 * partition; 100,000 partitions took minutes to stop. Not for concurrent
 * use.
 * Errors: syncfs reports a writeback error that happened on the file
 * system since `fd` was opened (Linux 5.8+; earlier kernels report none,
 * see fio_syncfs_reports_errors), so fd must have been opened before the
 * writes it vouches for: the broker opens it at start. */
void fio_defer_syncs(bool deferred);
int fio_syncfs(int fd);
bool fio_syncfs_reports_errors(void);

/* Fault injection (tests): after `countdown` more successful operations
 * of that kind, the next one fails with -err (once). err = 0 disarms.
 * Writes fail after writing half their bytes, like a short write. */
enum fio_fault_op { FIO_FAULT_WRITE, FIO_FAULT_SYNC, FIO_FAULT_OPS };
void fio_fault_inject(enum fio_fault_op op, uint32_t countdown, int err);

#endif
