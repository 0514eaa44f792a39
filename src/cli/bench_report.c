#include "cli/bench_report.h"

#include <stdarg.h>
#include <string.h>

#include "cli/cli_output.h"

/* Points of the percentile spectrum written to JSON, for the latency plots:
 * denser towards the tail, where stalls show. */
static const double spectrum_pcts[] = {0,    10,    25,    50,     75,     90,  95,
                                       99,   99.5,  99.9,  99.95,  99.99,  99.999, 100};

void report_init(struct bench_report *r, const char *tool, const char *mode) {
    memset(r, 0, sizeof(*r));
    r->tool = tool;
    r->mode = mode;
    r->consumed = -1;
}

void report_param(struct bench_report *r, const char *key, const char *fmt, ...) {
    if (r->nparams >= REPORT_PARAMS_MAX) return;
    snprintf(r->keys[r->nparams], sizeof(r->keys[0]), "%s", key);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->values[r->nparams], sizeof(r->values[0]), fmt, ap);
    va_end(ap);
    r->nparams++;
}

static double mb_per_s(const struct bench_report *r) {
    return r->seconds > 0 ? (double)r->bytes / 1e6 / r->seconds : 0;
}

static double records_per_s(const struct bench_report *r) {
    return r->seconds > 0 ? (double)r->records / r->seconds : 0;
}

static double server_cpu(const struct bench_report *r) {
    return r->server_after.cpu_s - r->server_before.cpu_s;
}

static int has_latency(const struct bench_report *r) {
    return r->latency && r->latency->count > 0;
}

static void fmt_latency(char *buf, size_t len, uint64_t ns) {
    if (ns < 1000000)
        snprintf(buf, len, "%.1f us", (double)ns / 1e3);
    else if (ns < 1000000000)
        snprintf(buf, len, "%.2f ms", (double)ns / 1e6);
    else
        snprintf(buf, len, "%.2f s", (double)ns / 1e9);
}

void report_print_table(const struct bench_report *r, FILE *out) {
    fprintf(out, "%s bench %s\n", r->tool, r->mode);
    for (int i = 0; i < r->nparams; i++)
        fprintf(out, "  %-16s %s\n", r->keys[i], r->values[i]);
    fprintf(out, "\n  %-22s %s\n", "metric", "value");
    fprintf(out, "  %-22s %s\n", "----------------------", "--------------------");
    fprintf(out, "  %-22s %llu\n", "records", (unsigned long long)r->records);
    if (r->consumed >= 0) fprintf(out, "  %-22s %lld\n", "consumed", (long long)r->consumed);
    fprintf(out, "  %-22s %llu\n", "errors", (unsigned long long)r->errors);
    fprintf(out, "  %-22s %.3f\n", "seconds", r->seconds);
    fprintf(out, "  %-22s %.1f\n", "MB/s", mb_per_s(r));
    fprintf(out, "  %-22s %.0f\n", "records/s", records_per_s(r));
    if (has_latency(r)) {
        char b[32];
        static const struct { const char *name; double pct; } rows[] = {
            {"latency p50", 50}, {"latency p99", 99}, {"latency p99.9", 99.9}, {"latency max", 100}};
        for (unsigned i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
            fmt_latency(b, sizeof(b), hist_percentile(r->latency, rows[i].pct));
            fprintf(out, "  %-22s %s\n", rows[i].name, b);
        }
        fprintf(out, "  %-22s %s\n", "latency measures", r->latency_what ? r->latency_what : "");
    }
    if (r->server_pid > 0) {
        double gb = (double)r->bytes / 1e9;
        fprintf(out, "  %-22s %.2f\n", "server CPU s", server_cpu(r));
        if (gb > 0) fprintf(out, "  %-22s %.3f\n", "server CPU s/GB", server_cpu(r) / gb);
        fprintf(out, "  %-22s %.1f\n", "server peak RSS MiB", (double)r->server_after.hwm_kib / 1024);
    }
    fprintf(out, "  %-22s %.2f\n", "client CPU s", r->client_cpu_s);
}

void report_print_json(const struct bench_report *r, FILE *out) {
    fprintf(out, "{\"tool\":");
    cli_json_str(out, r->tool);
    fprintf(out, ",\"mode\":");
    cli_json_str(out, r->mode);
    fprintf(out, ",\"params\":{");
    for (int i = 0; i < r->nparams; i++) {
        if (i) fputc(',', out);
        cli_json_str(out, r->keys[i]);
        fputc(':', out);
        cli_json_str(out, r->values[i]);
    }
    fprintf(out, "},\"records\":%llu,\"bytes\":%llu,\"errors\":%llu,\"seconds\":%.6f",
            (unsigned long long)r->records, (unsigned long long)r->bytes,
            (unsigned long long)r->errors, r->seconds);
    fprintf(out, ",\"mb_per_s\":%.3f,\"records_per_s\":%.1f", mb_per_s(r), records_per_s(r));
    if (r->consumed >= 0) fprintf(out, ",\"consumed\":%lld", (long long)r->consumed);
    fprintf(out, ",\"latency_us\":");
    if (has_latency(r)) {
        const struct histogram *h = r->latency;
        fprintf(out, "{\"what\":");
        cli_json_str(out, r->latency_what ? r->latency_what : "");
        fprintf(out,
                ",\"count\":%llu,\"mean\":%.3f,\"p50\":%.3f,\"p99\":%.3f,\"p999\":%.3f,"
                "\"max\":%.3f,\"spectrum\":[",
                (unsigned long long)h->count, hist_mean(h) / 1e3,
                (double)hist_percentile(h, 50) / 1e3, (double)hist_percentile(h, 99) / 1e3,
                (double)hist_percentile(h, 99.9) / 1e3, (double)h->max / 1e3);
        for (unsigned i = 0; i < sizeof(spectrum_pcts) / sizeof(spectrum_pcts[0]); i++)
            fprintf(out, "%s[%g,%.3f]", i ? "," : "", spectrum_pcts[i],
                    (double)hist_percentile(h, spectrum_pcts[i]) / 1e3);
        fprintf(out, "]}");
    } else {
        fprintf(out, "null");
    }
    fprintf(out, ",\"server\":");
    if (r->server_pid > 0) {
        double gb = (double)r->bytes / 1e9;
        fprintf(out, "{\"pid\":%d,\"cpu_s\":%.3f,\"cpu_s_per_gb\":", r->server_pid, server_cpu(r));
        if (gb > 0)
            fprintf(out, "%.4f", server_cpu(r) / gb);
        else
            fprintf(out, "null");
        fprintf(out, ",\"peak_rss_kib\":%llu,\"rss_kib\":%llu}",
                (unsigned long long)r->server_after.hwm_kib,
                (unsigned long long)r->server_after.rss_kib);
    } else {
        fprintf(out, "null");
    }
    fprintf(out, ",\"client_cpu_s\":%.3f}\n", r->client_cpu_s);
}
