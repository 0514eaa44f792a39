/*
 * One benchmark run's result and its two renderings: a table for people and
 * one JSON object for bench/run. Shared by `gregor bench` and the peer
 * drivers in bench/peers, so Gregor, Redis and NATS figures come out in the
 * same units computed the same way: MB is 10^6 bytes of record payload
 * (keys, headers and framing are not counted), GB is 10^9.
 */
#ifndef GREGOR_CLI_BENCH_REPORT_H
#define GREGOR_CLI_BENCH_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "cli/histogram.h"
#include "cli/procstat.h"

/* Parameters echoed in a report; the bench tool sets about fifteen. */
#define REPORT_PARAMS_MAX 32
#define REPORT_PARAM_LEN_MAX 256

struct bench_report {
    const char *tool;  /* "gregor", "redis", "nats" */
    const char *mode;  /* "produce", "consume", "e2e", "open-loop" */
    int nparams;
    char keys[REPORT_PARAMS_MAX][64];
    char values[REPORT_PARAMS_MAX][REPORT_PARAM_LEN_MAX];

    uint64_t records;   /* records that made it (acknowledged or consumed) */
    uint64_t bytes;     /* their payload bytes */
    double seconds;     /* the measured window */
    uint64_t errors;    /* failed deliveries or consume errors */
    int64_t consumed;   /* e2e only: records seen by the consumers, else -1 */

    const struct histogram *latency;  /* nanoseconds; NULL or empty: none */
    const char *latency_what;         /* what the latency measures */

    int server_pid;  /* 0: server not measured */
    struct proc_sample server_before, server_after;
    double client_cpu_s;
};

void report_init(struct bench_report *r, const char *tool, const char *mode);
void report_param(struct bench_report *r, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void report_print_table(const struct bench_report *r, FILE *out);
void report_print_json(const struct bench_report *r, FILE *out);

#endif
