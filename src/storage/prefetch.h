/*
 * Start-up warm-up of partition directories.
 *
 * Opening a partition after a clean stop costs a handful of small reads
 * (directory entries, inodes, the last segment's tail and indexes, the
 * checkpoint and snapshot files). With a cold page cache each is a random
 * read the event loop waits for, one after another: 100,000 partitions
 * took 45 s. Worker threads read ahead of the (single-threaded) opener, so
 * the opener finds its pages cached and the disk sees many reads at once.
 * The workers only read files (never the descriptor cache, never a
 * `struct plog`), so the storage engine stays single-threaded.
 */
#ifndef GREGOR_STORAGE_PREFETCH_H
#define GREGOR_STORAGE_PREFETCH_H

#include <stdint.h>

/* What a clean open reads of the last segment: the last index entries and
 * the batches after the last indexed position (index.interval.bytes apart,
 * 4 KiB by default), so the tail of each file; and small files whole.
 * Bigger files are the ones an open does not read whole either. */
#define PREFETCH_TAIL_BYTES (64 * 1024)
#define PREFETCH_SMALL_FILE_BYTES_MAX (64 * 1024)
/* Workers stay at most this many directories ahead of the opener, so what
 * they warm is still cached when the opener gets there. */
#define PREFETCH_WINDOW_DIRS 4096u
#define PREFETCH_THREADS_MAX 256

struct log_prefetch;

/* Starts `threads` workers over dirs[0..count). The caller keeps `dirs`
 * alive until log_prefetch_finish. Returns NULL (and warms nothing) when
 * threads is 0 or resources are short: the open works the same, slower. */
struct log_prefetch *log_prefetch_start(const char *const *dirs, uint32_t count, uint32_t threads);
/* The opener is done with dirs[0..index]: workers skip what is behind it. */
void log_prefetch_progress(struct log_prefetch *p, uint32_t index);
/* Stops the workers and frees p (NULL is fine). */
void log_prefetch_finish(struct log_prefetch *p);

#endif
