#include "core/metrics.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/text.h"

const uint64_t metrics_latency_bounds_us[METRICS_LATENCY_BUCKETS] = {
    50,     100,    250,    500,     1000,    2500,    5000,     10000,    25000,
    50000,  100000, 250000, 500000,  1000000, 2500000, 5000000, 10000000, 30000000,
};

/* A formatted sample line is short; longer ones are cut and mark the buffer failed. */
#define PROM_LINE_BYTES_MAX 4096

void obuf_printf(struct obuf *ob, const char *fmt, ...) {
    char line[PROM_LINE_BYTES_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(line)) {
        ob->failed = true;
        return;
    }
    obuf_put(ob, line, (size_t)n);
}

static const char *const type_names[] = {"counter", "gauge", "histogram"};

void prom_family(struct obuf *ob, const char *name, enum prom_type type, const char *help) {
    obuf_printf(ob, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type_names[type]);
}

/* A label value. Prometheus takes any UTF-8 there, escaping only
 * backslash, quote and newline, so valid UTF-8 passes through. Group ids
 * and client-chosen names need not be UTF-8, though: each invalid byte is
 * written as the four characters \xNN, and for that to stay unambiguous
 * (distinct ids, distinct series) a real backslash is written as two.
 * Both then get the format's own escaping: on the wire a backslash in the
 * id is \\\\ and an invalid byte 0xff is \\xff. */
static void put_escaped(struct obuf *ob, const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        size_t len = utf8_sequence_len(p + i, n - i);
        if (p[i] == '\\') obuf_put(ob, "\\\\\\\\", 4);
        else if (p[i] == '"') obuf_put(ob, "\\\"", 2);
        else if (p[i] == '\n') obuf_put(ob, "\\n", 2);
        else if (len == 0) obuf_printf(ob, "\\\\x%02x", p[i]);
        else {
            obuf_put(ob, p + i, len);
            i += len;
            continue;
        }
        i++;
    }
}

static void put_labels(struct obuf *ob, const char *const *labels, const char *extra_name, const char *extra_value) {
    bool any = (labels && labels[0]) || extra_name;
    if (!any) return;
    obuf_put(ob, "{", 1);
    bool first = true;
    for (size_t i = 0; labels && labels[i]; i += 2) {
        if (!first) obuf_put(ob, ",", 1);
        first = false;
        obuf_put(ob, labels[i], strlen(labels[i]));
        obuf_put(ob, "=\"", 2);
        put_escaped(ob, labels[i + 1] ? labels[i + 1] : "");
        obuf_put(ob, "\"", 1);
    }
    if (extra_name) {
        if (!first) obuf_put(ob, ",", 1);
        obuf_printf(ob, "%s=\"%s\"", extra_name, extra_value);
    }
    obuf_put(ob, "}", 1);
}

void prom_sample_u64(struct obuf *ob, const char *name, const char *const *labels, uint64_t value) {
    obuf_put(ob, name, strlen(name));
    put_labels(ob, labels, NULL, NULL);
    obuf_printf(ob, " %" PRIu64 "\n", value);
}

void prom_sample_i64(struct obuf *ob, const char *name, const char *const *labels, int64_t value) {
    obuf_put(ob, name, strlen(name));
    put_labels(ob, labels, NULL, NULL);
    obuf_printf(ob, " %" PRId64 "\n", value);
}

void prom_sample_f64(struct obuf *ob, const char *name, const char *const *labels, double value) {
    obuf_put(ob, name, strlen(name));
    put_labels(ob, labels, NULL, NULL);
    obuf_printf(ob, " %.6f\n", value);
}

/* Atomic loads (writers may be other threads, see metrics_observe_us);
 * _count is the buckets' sum, so it always equals the +Inf bucket. */
void prom_histogram(struct obuf *ob, const char *name, const char *const *labels, const struct metrics_histogram *h) {
    uint64_t cumulative = 0;
    for (int i = 0; i <= METRICS_LATENCY_BUCKETS; i++) {
        cumulative += __atomic_load_n(&h->buckets[i], __ATOMIC_RELAXED);
        char le[32];
        if (i == METRICS_LATENCY_BUCKETS) snprintf(le, sizeof(le), "+Inf");
        else snprintf(le, sizeof(le), "%g", (double)metrics_latency_bounds_us[i] / 1e6);
        obuf_printf(ob, "%s_bucket", name);
        put_labels(ob, labels, "le", le);
        obuf_printf(ob, " %" PRIu64 "\n", cumulative);
    }
    obuf_printf(ob, "%s_sum", name);
    put_labels(ob, labels, NULL, NULL);
    obuf_printf(ob, " %.6f\n", (double)__atomic_load_n(&h->sum_us, __ATOMIC_RELAXED) / 1e6);
    obuf_printf(ob, "%s_count", name);
    put_labels(ob, labels, NULL, NULL);
    obuf_printf(ob, " %" PRIu64 "\n", cumulative);
}
