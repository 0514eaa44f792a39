#include "cli/procstat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* Longest /proc/PID/stat line we accept; real ones are ~300 bytes, the
 * command name is at most 16, so this leaves ample room. */
#define PROCSTAT_LINE_MAX 4096

static int read_cpu(int pid, double *cpu_s) {
    char path[64], line[PROCSTAT_LINE_MAX];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(line, 1, sizeof(line) - 1, f);
    fclose(f);
    line[n] = '\0';
    /* The command name (field 2) is in parentheses and may itself contain
     * spaces or ')', so fields are counted from the last ')'. */
    char *p = strrchr(line, ')');
    if (!p) return -1;
    p++;
    /* After ')' come field 3 (state) onwards; utime and stime are fields
     * 14 and 15, so skip 11 fields first. */
    for (int field = 3; field < 14; field++) {
        while (*p == ' ') p++;
        while (*p && *p != ' ') p++;
    }
    char *end;
    unsigned long long ut = strtoull(p, &end, 10);
    if (end == p) return -1;
    p = end;
    unsigned long long st = strtoull(p, &end, 10);
    if (end == p) return -1;
    long hz = sysconf(_SC_CLK_TCK);
    if (hz <= 0) hz = 100;
    *cpu_s = (double)(ut + st) / (double)hz;
    return 0;
}

static int read_mem(int pid, uint64_t *hwm, uint64_t *rss) {
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int found = 0;
    while (fgets(line, sizeof(line), f)) {
        unsigned long long v;
        if (sscanf(line, "VmHWM: %llu kB", &v) == 1) {
            *hwm = v;
            found |= 1;
        } else if (sscanf(line, "VmRSS: %llu kB", &v) == 1) {
            *rss = v;
            found |= 2;
        }
    }
    fclose(f);
    return found == 3 ? 0 : -1;
}

int proc_sample_read(int pid, struct proc_sample *out) {
    memset(out, 0, sizeof(*out));
    if (pid <= 0) return -1;
    if (read_cpu(pid, &out->cpu_s) != 0) return -1;
    return read_mem(pid, &out->hwm_kib, &out->rss_kib);
}

double proc_self_cpu_s(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}
