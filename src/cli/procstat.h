/*
 * What a benchmark reports about a server process it did not start: CPU
 * seconds (user + system, all threads) from /proc/PID/stat and peak and
 * current resident memory from /proc/PID/status. Linux only, no client
 * library, so the peer drivers in bench/peers link it too and every server
 * is measured the same way.
 */
#ifndef GREGOR_CLI_PROCSTAT_H
#define GREGOR_CLI_PROCSTAT_H

#include <stdint.h>

struct proc_sample {
    double cpu_s;      /* utime + stime, seconds */
    uint64_t hwm_kib;  /* VmHWM: peak resident set since the process began */
    uint64_t rss_kib;  /* VmRSS: resident now */
};

/* 0 on success, -1 if the process is gone or /proc cannot be parsed. */
int proc_sample_read(int pid, struct proc_sample *out);

/* CPU seconds this process (the client) has used, user + system. */
double proc_self_cpu_s(void);

#endif
