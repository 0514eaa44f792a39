/*
 * Start-up cost of many partition logs: creates N partition directories
 * with one small segment each (through the plog API, in parallel worker
 * processes since creation is fsync-bound), closes them cleanly, then in
 * one process times
 *   1. opening all N after the clean shutdown,
 *   2. closing them (no writes happened, so no fsync),
 *   3. opening all N again after a simulated crash (every clean-shutdown
 *      marker removed: the last segment of each gets the full check),
 *   4. with -C, closing them (seal and marker: five syncs per partition;
 *      otherwise the process exits with them open, as after a crash),
 * reporting wall time, RSS (now and peak), open descriptors and the
 * descriptor cache's counters after each open. Targets for 100,000
 * partitions: open in <= 10 s with <= 1 GiB RSS, descriptors bounded by
 * log.open.files.max.
 *
 * Not part of the test suite. Build against the release objects:
 *   make -j2 $(ls src/storage/[a-z]*.c src/protocol/[a-z]*.c src/core/[a-z]*.c | sed 's|^|build/rel/|; s|c$|o|')
 *   mkdir -p build/bench && cc -std=c17 -D_GNU_SOURCE -Isrc -O2 -Wall -Wextra -Werror -Wshadow \
 *     -o build/bench/storage_open bench/storage_open.c build/rel/src/storage/[a-z]*.o \
 *     build/rel/src/protocol/[a-z]*.o build/rel/src/core/[a-z]*.o -lzstd -llz4 -lsnappy -lz -lpthread -lm
 * Run:
 *   build/bench/storage_open [-n partitions] [-d parent_dir] [-j setup_workers]
 *                            [-m open_files_max] [-c] [-p threads] [-C] [-k]
 *   -c drops the page cache before each timed open (needs root; skipped if refused)
 *   -p T after dropping the page cache, first reads every partition's
 *      files with T threads (an experiment: how much of a cold start is
 *      I/O latency that a parallel warm-up, which the broker does not do
 *      yet, would hide); timed separately
 *   -C also times the close after the crash open
 *   -k keeps the directory (a later run with the same -d and -n reuses it)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "protocol/crc32c.h"
#include "protocol/record_batch.h"
#include "storage/log.h"

#define BENCH_PARTITIONS_DEFAULT 100000
#define BENCH_WORKERS_DEFAULT 8
#define BENCH_WORKERS_MAX 64
#define BENCH_PREFETCH_THREADS_MAX 256
#define BENCH_PREFETCH_READ_BYTES 4096
#define BENCH_RECORDS 10       /* per partition, one batch */
#define BENCH_VALUE_BYTES 100  /* per record */
#define BENCH_BATCH_BYTES_MAX 4096
#define BENCH_PATH_BYTES 512

static char parent[BENCH_PATH_BYTES / 2];

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void partition_dir(char *out, int i) { snprintf(out, BENCH_PATH_BYTES, "%s/bench-%d", parent, i); }

static struct log_config bench_cfg(void) {
    /* The broker's defaults (Kafka's). */
    return (struct log_config){
        .segment_bytes = 1u << 30,
        .segment_ms = 7LL * 24 * 3600 * 1000,
        .retention_ms = 7LL * 24 * 3600 * 1000,
        .retention_bytes = LOG_UNLIMITED,
        .index_interval_bytes = 4096,
        .flush_interval_messages = INT64_MAX,
        .flush_interval_ms = INT64_MAX,
    };
}

/* ---- a v2 batch built by hand (only crc32c from the tree) ---- */

static size_t put_varint(uint8_t *p, int64_t v) {
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    size_t n = 0;
    while (z >= 0x80) {
        p[n++] = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    p[n++] = (uint8_t)z;
    return n;
}

static void put_be(uint8_t *p, uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v;
}

static uint32_t build_batch(uint8_t *out, int64_t ts) {
    uint8_t *p = out + RB_HEADER_BYTES;
    for (int i = 0; i < BENCH_RECORDS; i++) {
        uint8_t body[BENCH_VALUE_BYTES + 32];
        size_t n = 0;
        body[n++] = 0;                          /* attributes */
        n += put_varint(body + n, 0);           /* timestampDelta */
        n += put_varint(body + n, i);           /* offsetDelta */
        n += put_varint(body + n, -1);          /* key: null */
        n += put_varint(body + n, BENCH_VALUE_BYTES);
        memset(body + n, 'v', BENCH_VALUE_BYTES);
        n += BENCH_VALUE_BYTES;
        n += put_varint(body + n, 0);           /* headers */
        p += put_varint(p, (int64_t)n);
        memcpy(p, body, n);
        p += n;
    }
    uint32_t total = (uint32_t)(p - out);
    memset(out, 0, RB_HEADER_BYTES);
    put_be(out + RB_OFF_BATCH_LENGTH, total - 12, 4);
    put_be(out + RB_OFF_LEADER_EPOCH, 0, 4);
    out[RB_OFF_MAGIC] = RB_MAGIC_V2;
    put_be(out + RB_OFF_LAST_OFFSET_DELTA, BENCH_RECORDS - 1, 4);
    put_be(out + RB_OFF_BASE_TIMESTAMP, (uint64_t)ts, 8);
    put_be(out + RB_OFF_MAX_TIMESTAMP, (uint64_t)ts, 8);
    put_be(out + RB_OFF_PRODUCER_ID, (uint64_t)-1, 8);
    put_be(out + RB_OFF_PRODUCER_EPOCH, (uint64_t)-1, 2);
    put_be(out + RB_OFF_BASE_SEQUENCE, (uint64_t)-1, 4);
    put_be(out + RB_OFF_RECORD_COUNT, BENCH_RECORDS, 4);
    put_be(out + RB_OFF_CRC, crc32c(0, out + RB_OFF_ATTRIBUTES, total - RB_OFF_ATTRIBUTES), 4);
    return total;
}

/* ---- measurements ---- */

static long status_kib(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long v = -1;
    size_t n = strlen(field);
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, field, n) == 0 && line[n] == ':') v = strtol(line + n + 1, NULL, 10);
    fclose(f);
    return v;
}

static int count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n - 1; /* the directory stream's own descriptor */
}

static void drop_caches(bool wanted) {
    if (!wanted) return;
    sync();
    int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
    if (fd < 0 || write(fd, "3\n", 2) != 2) printf("  (page cache not dropped: %s)\n", strerror(errno));
    else printf("  (page cache dropped)\n");
    if (fd >= 0) close(fd);
}

/* ---- optional parallel warm-up ---- */

struct prefetch_arg {
    int first, step, n;
};

static void *prefetch_thread(void *opaque) {
    const struct prefetch_arg *a = opaque;
    char dir[BENCH_PATH_BYTES], path[BENCH_PATH_BYTES + 300];
    uint8_t buf[BENCH_PREFETCH_READ_BYTES];
    for (int i = a->first; i < a->n; i += a->step) {
        partition_dir(dir, i);
        DIR *d = opendir(dir);
        if (!d) continue;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            int fd = open(path, O_RDONLY | O_CLOEXEC);
            if (fd < 0) continue;
            struct stat st;
            if (fstat(fd, &st) == 0 && st.st_size > 0) {
                ssize_t ignored = pread(fd, buf, sizeof(buf), 0);
                if (st.st_size > (off_t)sizeof(buf))
                    ignored = pread(fd, buf, sizeof(buf), st.st_size - (off_t)sizeof(buf));
                (void)ignored;
            }
            close(fd);
        }
        closedir(d);
    }
    return NULL;
}

static void prefetch(int n, int threads) {
    if (threads <= 0) return;
    pthread_t tids[BENCH_PREFETCH_THREADS_MAX];
    struct prefetch_arg args[BENCH_PREFETCH_THREADS_MAX];
    double t0 = now_s();
    int started = 0;
    for (int t = 0; t < threads; t++) {
        args[t] = (struct prefetch_arg){.first = t, .step = threads, .n = n};
        if (pthread_create(&tids[t], NULL, prefetch_thread, &args[t]) == 0) started++;
        else break;
    }
    for (int t = 0; t < started; t++) pthread_join(tids[t], NULL);
    printf("%-22s %8.2f s  (%d threads)\n", "parallel warm-up", now_s() - t0, started);
}

static void report(const char *phase, double secs, int n, long rss_before_kib) {
    struct log_open_files st;
    plog_open_files(&st);
    printf("%-22s %8.2f s  %6.1f us/partition  rss %6ld MiB (+%ld)  peak %6ld MiB  fds %d  "
           "cache: max %u open %u pinned %u opens %llu evictions %llu over_cap %llu\n",
           phase, secs, secs * 1e6 / n, status_kib("VmRSS") / 1024, (status_kib("VmRSS") - rss_before_kib) / 1024,
           status_kib("VmHWM") / 1024, count_fds(), st.max, st.open, st.pinned, (unsigned long long)st.opens,
           (unsigned long long)st.evictions, (unsigned long long)st.over_cap);
    fflush(stdout);
}

/* ---- phases ---- */

static int create_range(int from, int to) {
    struct log_config cfg = bench_cfg();
    uint8_t batch[BENCH_BATCH_BYTES_MAX];
    char dir[BENCH_PATH_BYTES];
    for (int i = from; i < to; i++) {
        partition_dir(dir, i);
        struct plog *log;
        int rc = plog_open(dir, &cfg, &log, NULL);
        if (rc != 0) {
            fprintf(stderr, "open %s: %s\n", dir, strerror(-rc));
            return 1;
        }
        if (plog_end_offset(log) == 0) {
            uint32_t len = build_batch(batch, 1700000000000LL + i);
            if ((rc = plog_append(log, batch, len, 1, 1700000000000LL + i, NULL, NULL)) != 0) {
                fprintf(stderr, "append %s: %s\n", dir, strerror(-rc));
                return 1;
            }
        }
        plog_close(log);
    }
    return 0;
}

static int create_all(int n, int workers) {
    pid_t pids[BENCH_WORKERS_MAX];
    int per = (n + workers - 1) / workers;
    for (int w = 0; w < workers; w++) {
        int from = w * per, to = from + per < n ? from + per : n;
        pids[w] = fork();
        if (pids[w] < 0) return 1;
        if (pids[w] == 0) _exit(create_range(from, to));
    }
    int failed = 0;
    for (int w = 0; w < workers; w++) {
        int status;
        if (waitpid(pids[w], &status, 0) != pids[w] || !WIFEXITED(status) || WEXITSTATUS(status) != 0) failed = 1;
    }
    return failed;
}

static int open_all(struct plog **logs, int n) {
    struct log_config cfg = bench_cfg();
    char dir[BENCH_PATH_BYTES];
    for (int i = 0; i < n; i++) {
        partition_dir(dir, i);
        int rc = plog_open(dir, &cfg, &logs[i], NULL);
        if (rc != 0) {
            fprintf(stderr, "open %s: %s\n", dir, strerror(-rc));
            return 1;
        }
        if (plog_end_offset(logs[i]) != BENCH_RECORDS) {
            fprintf(stderr, "%s: end offset %lld, expected %d\n", dir, (long long)plog_end_offset(logs[i]),
                    BENCH_RECORDS);
            return 1;
        }
    }
    return 0;
}

static void close_all(struct plog **logs, int n) {
    for (int i = 0; i < n; i++) plog_close(logs[i]);
}

static int remove_markers(int n) {
    char path[BENCH_PATH_BYTES + 32], dir[BENCH_PATH_BYTES];
    for (int i = 0; i < n; i++) {
        partition_dir(dir, i);
        snprintf(path, sizeof(path), "%s/clean-shutdown", dir);
        if (unlink(path) != 0) {
            fprintf(stderr, "unlink %s: %s\n", path, strerror(errno));
            return 1;
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    int n = BENCH_PARTITIONS_DEFAULT, workers = BENCH_WORKERS_DEFAULT, threads = 0, opt;
    long max_files = 0;
    bool drop = false, keep = false, close_after_crash = false;
    const char *base = "/tmp";
    while ((opt = getopt(argc, argv, "n:d:j:m:p:cCk")) != -1) {
        switch (opt) {
        case 'n': n = atoi(optarg); break;
        case 'd': base = optarg; break;
        case 'j': workers = atoi(optarg); break;
        case 'm': max_files = atol(optarg); break;
        case 'c': drop = true; break;
        case 'p': threads = atoi(optarg); break;
        case 'C': close_after_crash = true; break;
        case 'k': keep = true; break;
        default:
            fprintf(stderr, "usage: %s [-n partitions] [-d dir] [-j workers] [-m open_files_max] [-c] "
                    "[-p threads] [-C] [-k]\n", argv[0]);
            return 2;
        }
    }
    if (n < 1 || workers < 1 || workers > BENCH_WORKERS_MAX || threads < 0 || threads > BENCH_PREFETCH_THREADS_MAX)
        return 2;
    log_set_level(LOG_LEVEL_WARN);
    snprintf(parent, sizeof(parent), "%s/gregor-bench-open-%d", base, n);
    if (mkdir(parent, 0755) != 0 && errno != EEXIST) {
        perror(parent);
        return 1;
    }
    if (max_files > 0) plog_set_open_files_max((uint32_t)max_files);
    printf("partitions %d, one segment of one %d-record batch each, in %s\n", n, BENCH_RECORDS, parent);

    double t0 = now_s();
    if (create_all(n, workers) != 0) return 1;
    printf("%-22s %8.2f s  (%d workers, fsync-bound)\n", "create + clean close", now_s() - t0, workers);

    struct plog **logs = calloc((size_t)n, sizeof(*logs));
    if (!logs) return 1;
    long rss0 = status_kib("VmRSS");
    drop_caches(drop);
    prefetch(n, threads);
    t0 = now_s();
    if (open_all(logs, n) != 0) return 1;
    report("open after clean stop", now_s() - t0, n, rss0);
    t0 = now_s();
    close_all(logs, n);
    report("close (no writes)", now_s() - t0, n, rss0);

    if (remove_markers(n) != 0) return 1;
    drop_caches(drop);
    prefetch(n, threads);
    t0 = now_s();
    if (open_all(logs, n) != 0) return 1;
    report("open after crash", now_s() - t0, n, rss0);
    if (close_after_crash) {
        t0 = now_s();
        close_all(logs, n);
        report("close (seal + marker)", now_s() - t0, n, rss0);
    }
    /* Otherwise the logs are left open: exiting now is another crash, and
     * the directory is either removed or reopened by the next run. */
    free(logs);

    if (!keep) {
        char cmd[BENCH_PATH_BYTES];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", parent);
        if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", parent);
    }
    return 0;
}
