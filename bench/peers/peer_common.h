/*
 * What the two peer drivers (redis_bench.c, nats_bench.c) share: options,
 * the clock, the payload pool and the report. They print the same JSON as
 * `gregor bench` (src/cli/bench_report.c) so bench/run treats all three
 * alike. Header-only because each driver is one program built by bench/run
 * from one .c file plus the three src/cli modules it links.
 */
#ifndef GREGOR_BENCH_PEER_COMMON_H
#define GREGOR_BENCH_PEER_COMMON_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/bench_report.h"
#include "cli/histogram.h"
#include "cli/procstat.h"

/* Same pool scheme as gregor bench: random capital letters, a different
 * window per record. */
#define PEER_POOL_BYTES (1024 * 1024)
#define PEER_RECORD_SIZE_MAX (1024 * 1024)
#define PEER_THREADS_MAX 16
/* Records in flight per producer connection by default: deep enough that
 * the round trip is hidden, as librdkafka's batching hides it for Gregor. */
#define PEER_DEFAULT_WINDOW 1000
#define PEER_DEFAULT_DURATION_S 10.0

struct peer_opts {
    const char *mode;  /* produce | consume */
    const char *host;
    int port;
    const char *stream;
    int record_size;
    uint64_t count;     /* 0: none */
    double duration_s;  /* 0: none */
    int producers;
    int window;
    int server_pid;
    int json;
};

static inline int64_t peer_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline uint8_t *peer_pool_new(int record_size) {
    size_t n = PEER_POOL_BYTES + (size_t)record_size;
    uint8_t *pool = malloc(n);
    if (!pool) return NULL;
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        pool[i] = (uint8_t)('A' + x % 26);
    }
    return pool;
}

static inline size_t peer_pool_offset(uint64_t seq, int id) {
    return (size_t)((seq * 4099u + (uint64_t)id * 131u) % PEER_POOL_BYTES);
}

static inline void peer_usage(const char *prog, const char *what, FILE *out) {
    fprintf(out,
            "usage: %s --mode produce|consume [options]\n"
            "Drives %s for bench/run; prints the same report as gregor bench.\n"
            "  --host H --port P     server (default 127.0.0.1 and the server's default)\n"
            "  --stream NAME         stream (default gregor-bench)\n"
            "  --record-size BYTES   payload size (default 1024)\n"
            "  --count N             records (consume: at most; default: all there)\n"
            "  --duration SECONDS    produce: length of the run (default 10 without --count)\n"
            "  --producers N         producer connections, one thread each (default 1)\n"
            "  --window N            records in flight per producer (default %d)\n"
            "  --server-pid PID      report that process's CPU s/GB and peak RSS\n"
            "  --json                one JSON object instead of the table\n",
            prog, what, PEER_DEFAULT_WINDOW);
}

/* 0: parsed; 1: help printed; -1: bad usage. */
static inline int peer_parse(int argc, char **argv, struct peer_opts *o, int default_port,
                             const char *what) {
    static const struct option longopts[] = {
        {"mode", required_argument, NULL, 'm'},     {"host", required_argument, NULL, 'H'},
        {"port", required_argument, NULL, 'p'},     {"stream", required_argument, NULL, 's'},
        {"record-size", required_argument, NULL, 'r'}, {"count", required_argument, NULL, 'c'},
        {"duration", required_argument, NULL, 'd'}, {"producers", required_argument, NULL, 'P'},
        {"window", required_argument, NULL, 'w'},   {"server-pid", required_argument, NULL, 'S'},
        {"json", no_argument, NULL, 'j'},           {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof(*o));
    o->mode = "produce";
    o->host = "127.0.0.1";
    o->port = default_port;
    o->stream = "gregor-bench";
    o->record_size = 1024;
    o->producers = 1;
    o->window = PEER_DEFAULT_WINDOW;
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'm': o->mode = optarg; break;
        case 'H': o->host = optarg; break;
        case 'p': o->port = atoi(optarg); break;
        case 's': o->stream = optarg; break;
        case 'r': o->record_size = atoi(optarg); break;
        case 'c': o->count = strtoull(optarg, NULL, 10); break;
        case 'd': o->duration_s = atof(optarg); break;
        case 'P': o->producers = atoi(optarg); break;
        case 'w': o->window = atoi(optarg); break;
        case 'S': o->server_pid = atoi(optarg); break;
        case 'j': o->json = 1; break;
        case 'h': peer_usage(argv[0], what, stdout); return 1;
        default: peer_usage(argv[0], what, stderr); return -1;
        }
    }
    if (strcmp(o->mode, "produce") != 0 && strcmp(o->mode, "consume") != 0) {
        fprintf(stderr, "%s: --mode is produce or consume\n", argv[0]);
        return -1;
    }
    if (o->record_size < 8 || o->record_size > PEER_RECORD_SIZE_MAX || o->producers < 1 ||
        o->producers > PEER_THREADS_MAX || o->window < 2 || o->port <= 0) {
        fprintf(stderr, "%s: record size 8..%d, producers 1..%d, window >= 2, a port\n", argv[0],
                PEER_RECORD_SIZE_MAX, PEER_THREADS_MAX);
        return -1;
    }
    if (strcmp(o->mode, "produce") == 0 && o->count == 0 && o->duration_s == 0)
        o->duration_s = PEER_DEFAULT_DURATION_S;
    return 0;
}

static inline void peer_report_params(struct bench_report *r, const struct peer_opts *o,
                                      const char *settings) {
    report_param(r, "server", "%s:%d", o->host, o->port);
    report_param(r, "stream", "%s", o->stream);
    report_param(r, "record_size", "%d", o->record_size);
    if (strcmp(o->mode, "produce") == 0) {
        report_param(r, "producers", "%d", o->producers);
        report_param(r, "window", "%d", o->window);
    }
    if (o->count) report_param(r, "count", "%llu", (unsigned long long)o->count);
    if (o->duration_s > 0) report_param(r, "duration_s", "%g", o->duration_s);
    report_param(r, "settings", "%s", settings);
}

static inline void peer_sample(const struct peer_opts *o, struct proc_sample *s, int *ok) {
    if (o->server_pid > 0 && proc_sample_read(o->server_pid, s) != 0) *ok = 0;
}

static inline void peer_print(struct bench_report *r, const struct peer_opts *o) {
    if (o->json)
        report_print_json(r, stdout);
    else
        report_print_table(r, stdout);
    fflush(stdout);
}

#endif
