/*
 * The broker's admin endpoints on the HTTP listener (admin.listener):
 *   /metrics        Prometheus text format 0.0.4 (names in docs/OPERATIONS.md)
 *   /health/live    200 while the process runs its loop
 *   /health/ready   200 once storage and groups are loaded, 503 before/after
 *   /v1/status      JSON summary: version, node, uptime, listeners, counts
 * Everything is computed on request from the live structures and the
 * counters the hot paths keep (struct broker_stats, topic traffic, net and
 * fsync stats): no background work and no copies between scrapes.
 *
 * Series whose number grows with the data (per partition, per group and
 * partition) stop after metrics.partition.series.max each, and
 * gregor_metrics_series_truncated says so; everything else is bounded by
 * the API table.
 */
#include "broker/internal.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "admin/http.h"
#include "cli/procstat.h"
#include "core/limits.h"
#include "core/log.h"
#include "core/text.h"
#include "group/group.h"
#include "storage/fileio.h"

#ifndef GREGOR_VERSION
#define GREGOR_VERSION "0.1.0-dev"
#endif

/* Room for a partition number or offset as label text. */
#define LABEL_NUMBER_BYTES 24

/* ------------------------------------------------------------ per-API series */

static void render_requests(const struct broker *b, struct obuf *ob) {
    prom_family(ob, "gregor_requests_total", PROM_COUNTER, "Kafka requests answered, by API.");
    for (size_t i = 0; i < api_handler_count; i++) {
        const char *labels[] = {"api", kafka_api_lookup(api_handlers[i].api_key)->name, NULL};
        prom_sample_u64(ob, "gregor_requests_total", labels, b->stats.api[api_handlers[i].api_key].requests);
    }
    prom_family(ob, "gregor_requests_rejected_total", PROM_COUNTER,
                "Requests refused as malformed or unserviceable (connection closed), by API.");
    for (size_t i = 0; i < api_handler_count; i++) {
        const char *labels[] = {"api", kafka_api_lookup(api_handlers[i].api_key)->name, NULL};
        prom_sample_u64(ob, "gregor_requests_rejected_total", labels, b->stats.api[api_handlers[i].api_key].rejected);
    }
    prom_family(ob, "gregor_requests_unknown_api_total", PROM_COUNTER,
                "Requests for an API key or version this broker does not serve (connection closed).");
    prom_sample_u64(ob, "gregor_requests_unknown_api_total", NULL, b->stats.requests_unknown_api);
    prom_family(ob, "gregor_request_errors_total", PROM_COUNTER,
                "Kafka error codes returned, by API and error name (Produce and Fetch count one per partition).");
    for (size_t i = 0; i < api_handler_count; i++) {
        const struct api_stats *a = &b->stats.api[api_handlers[i].api_key];
        for (int slot = 0; slot < API_ERROR_SLOTS; slot++) {
            if (!a->errors[slot]) continue;
            const char *labels[] = {"api", kafka_api_lookup(api_handlers[i].api_key)->name, "error",
                                    kafka_error_name((int16_t)(slot - 1)), NULL};
            prom_sample_u64(ob, "gregor_request_errors_total", labels, a->errors[slot]);
        }
    }
    prom_family(ob, "gregor_request_duration_seconds", PROM_HISTOGRAM,
                "Time from a request's last byte received to its response queued, by API.");
    for (size_t i = 0; i < api_handler_count; i++) {
        const char *labels[] = {"api", kafka_api_lookup(api_handlers[i].api_key)->name, NULL};
        prom_histogram(ob, "gregor_request_duration_seconds", labels, &b->stats.api[api_handlers[i].api_key].latency);
    }
    prom_family(ob, "gregor_requests_inflight", PROM_GAUGE, "Requests received and not yet answered.");
    prom_sample_u64(ob, "gregor_requests_inflight", NULL, b->stats.requests_inflight);
    prom_family(ob, "gregor_slow_requests_total", PROM_COUNTER, "Requests slower than log.slow.request.ms (each logged).");
    prom_sample_u64(ob, "gregor_slow_requests_total", NULL, b->stats.slow_requests);
}

/* ------------------------------------------------------- network and queues */

static void gauge(struct obuf *ob, const char *name, const char *help, uint64_t v) {
    prom_family(ob, name, PROM_GAUGE, help);
    prom_sample_u64(ob, name, NULL, v);
}

static void counter(struct obuf *ob, const char *name, const char *help, uint64_t v) {
    prom_family(ob, name, PROM_COUNTER, help);
    prom_sample_u64(ob, name, NULL, v);
}

/* Per event loop: how evenly connections and traffic spread. */
static void render_loops(const struct broker *b, struct obuf *ob) {
    uint32_t n = net_loop_count(b->loop);
    static const struct {
        const char *name, *help;
        enum prom_type type;
    } families[] = {
        {"gregor_event_loop_connections", "Kafka client connections open, per event loop.", PROM_GAUGE},
        {"gregor_event_loop_requests_total", "Requests read, per event loop.", PROM_COUNTER},
        {"gregor_event_loop_sent_bytes_total", "Bytes written to clients, per event loop.", PROM_COUNTER},
    };
    /* One snapshot per loop, so the three families agree with each other. */
    struct net_stats per_loop[LIMIT_NET_LOOPS_MAX];
    for (uint32_t i = 0; i < n; i++) net_loop_stats_one(b->loop, i, &per_loop[i]);
    for (size_t f = 0; f < sizeof(families) / sizeof(families[0]); f++) {
        prom_family(ob, families[f].name, families[f].type, families[f].help);
        for (uint32_t i = 0; i < n; i++) {
            const struct net_stats *ns = &per_loop[i];
            char idx[12];
            snprintf(idx, sizeof(idx), "%u", i);
            const char *labels[] = {"loop", idx, NULL};
            uint64_t v = f == 0 ? ns->connections : f == 1 ? ns->requests : ns->bytes_out;
            prom_sample_u64(ob, families[f].name, labels, v);
        }
    }
}

static void render_network(const struct broker *b, struct obuf *ob) {
    struct net_stats ns;
    net_loop_stats(b->loop, &ns);
    gauge(ob, "gregor_connections", "Kafka client connections open.", ns.connections);
    counter(ob, "gregor_connections_accepted_total", "Kafka client connections accepted.", ns.connections_accepted);
    counter(ob, "gregor_connections_rejected_total", "Connections refused at once: over max.connections.",
            ns.connections_rejected);
    /* "other": socket errors, out of memory, shutdown. */
    uint64_t known = ns.connections_idle_closed + ns.frames_rejected + ns.connections_peer_closed +
                     ns.connections_handler_closed;
    prom_family(ob, "gregor_connections_closed_total", PROM_COUNTER, "Kafka client connections closed, by reason.");
    static const char *const reasons[] = {"idle_timeout", "bad_frame", "peer_closed", "request_refused", "other"};
    uint64_t counts[] = {ns.connections_idle_closed, ns.frames_rejected, ns.connections_peer_closed,
                         ns.connections_handler_closed,
                         ns.connections_closed > known ? ns.connections_closed - known : 0};
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        const char *labels[] = {"reason", reasons[i], NULL};
        prom_sample_u64(ob, "gregor_connections_closed_total", labels, counts[i]);
    }
    counter(ob, "gregor_network_received_bytes_total", "Bytes read from Kafka client connections.", ns.bytes_in);
    counter(ob, "gregor_network_sent_bytes_total", "Bytes written to Kafka client connections (sendfile included).",
            ns.bytes_out);
    gauge(ob, "gregor_output_queued_bytes", "Response memory waiting to be written, all connections.",
          ns.output_bytes_queued);
    gauge(ob, "gregor_timers", "Timers armed on the event loop (long polls, group deadlines, housekeeping).",
          ns.timers);
    render_loops(b, ob);
    gauge(ob, "gregor_fetch_parked", "Fetch requests waiting for data (the fetch purgatory).", b->fetch_waiter_count);
    gauge(ob, "gregor_group_requests_held", "JoinGroup/SyncGroup requests held until a rebalance step completes.",
          group_held_request_count(b->groups));
    prom_family(ob, "gregor_fsync_duration_seconds", PROM_HISTOGRAM, "Duration of fsync and fdatasync calls.");
    prom_histogram(ob, "gregor_fsync_duration_seconds", NULL, fio_sync_latency());
    if (b->admin) {
        struct http_stats hs;
        http_server_stats(b->admin, &hs);
        counter(ob, "gregor_admin_requests_total", "Admin HTTP requests served.", hs.requests);
        counter(ob, "gregor_admin_bad_requests_total",
                "Admin HTTP requests refused: malformed, too large, too slow (408) or too many (503).", hs.bad_requests);
    }
}

/* Descriptors of this process: entries of /proc/self/fd, less the one
 * the walk itself holds. */
static uint64_t open_fd_count(void) {
    DIR *d = opendir("/proc/self/fd");
    if (!d) return 0;
    uint64_t n = 0;
    for (struct dirent *e = readdir(d); e; e = readdir(d))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n > 0 ? n - 1 : 0;
}

/* The standard process_* series Prometheus client libraries export. */
static void render_process(struct obuf *ob) {
    struct proc_sample ps;
    if (proc_sample_read((int)getpid(), &ps) == 0) {
        prom_family(ob, "process_cpu_seconds_total", PROM_COUNTER, "User and system CPU time spent, in seconds.");
        prom_sample_f64(ob, "process_cpu_seconds_total", NULL, ps.cpu_s);
        gauge(ob, "process_resident_memory_bytes", "Resident memory size in bytes.", ps.rss_kib * 1024);
    }
    gauge(ob, "process_open_fds", "Open file descriptors.", open_fd_count());
    struct log_open_files lf;
    plog_open_files(&lf);
    gauge(ob, "gregor_log_open_files", "Segment and index descriptors the log cache holds open.", lf.open);
    gauge(ob, "gregor_log_open_files_max", "The cache's cap (log.open.files.max, bounded by RLIMIT_NOFILE).", lf.max);
    counter(ob, "gregor_log_file_evictions_total", "Descriptors closed to stay under the cap.", lf.evictions);
}

/* ------------------------------------------------------------ topics, logs */

enum partition_series { SERIES_SIZE, SERIES_SEGMENTS, SERIES_START, SERIES_END, SERIES_KINDS };

static const struct {
    const char *name;
    const char *help;
} partition_series_info[SERIES_KINDS] = {
    {"gregor_partition_log_size_bytes", "Bytes in the partition's segments."},
    {"gregor_partition_log_segments", "Segments in the partition's log."},
    {"gregor_partition_log_start_offset", "First offset still in the log."},
    {"gregor_partition_log_end_offset", "Offset the next record gets (the high watermark on one node)."},
};

struct render_walk {
    struct broker *b;
    struct obuf *ob;
    int kind;
    uint64_t emitted;
    uint64_t max;
    bool truncated;
    uint32_t partitions;
};

static void count_topic(void *opaque, struct topic *t) {
    struct render_walk *w = opaque;
    w->partitions += (uint32_t)(t->partition_count > 0 ? t->partition_count : 0);
}

/* Per-topic series count against metrics.partition.series.max too: a
 * broker with 100,000 topics would otherwise write 300,000 lines a scrape. */
static void topic_traffic_sample(void *opaque, struct topic *t) {
    struct render_walk *w = opaque;
    if (w->emitted >= w->max) {
        w->truncated = true;
        return;
    }
    w->emitted++;
    const char *labels[] = {"topic", t->name, NULL};
    uint64_t v = w->kind == 0 ? t->traffic.bytes_in : w->kind == 1 ? t->traffic.records_in : t->traffic.bytes_out;
    prom_sample_u64(w->ob, w->kind == 0   ? "gregor_topic_received_bytes_total"
                           : w->kind == 1 ? "gregor_topic_received_records_total"
                                          : "gregor_topic_sent_bytes_total",
                    labels, v);
}

static void partition_samples(void *opaque, struct topic *t) {
    struct render_walk *w = opaque;
    for (int32_t i = 0; i < t->partition_count; i++) {
        const struct partition *p = t->partitions[i];
        if (!p || !p->log) continue;
        if (w->emitted >= w->max) {
            w->truncated = true;
            return;
        }
        w->emitted++;
        char index[LABEL_NUMBER_BYTES];
        snprintf(index, sizeof(index), "%" PRId32, i);
        const char *labels[] = {"topic", t->name, "partition", index, NULL};
        const char *name = partition_series_info[w->kind].name;
        switch (w->kind) {
        case SERIES_SIZE: prom_sample_u64(w->ob, name, labels, plog_size_bytes(p->log)); break;
        case SERIES_SEGMENTS: prom_sample_u64(w->ob, name, labels, plog_segment_count(p->log)); break;
        case SERIES_START: prom_sample_i64(w->ob, name, labels, plog_start_offset(p->log)); break;
        default: prom_sample_i64(w->ob, name, labels, plog_end_offset(p->log)); break;
        }
    }
}

static bool render_topics(struct broker *b, struct obuf *ob) {
    struct render_walk w = {.b = b, .ob = ob, .max = (uint64_t)b->cfg.metrics_partition_series_max};
    topic_each(b, count_topic, &w);
    gauge(ob, "gregor_topics", "Topics, internal ones included.", b->topic_count);
    gauge(ob, "gregor_partitions", "Partitions of all topics.", w.partitions);
    static const char *const traffic_help[3][2] = {
        {"gregor_topic_received_bytes_total", "Record batch bytes appended by Produce, by topic."},
        {"gregor_topic_received_records_total", "Records appended by Produce, by topic."},
        {"gregor_topic_sent_bytes_total", "Record batch bytes sent by Fetch, by topic."},
    };
    for (w.kind = 0; w.kind < 3; w.kind++) {
        prom_family(ob, traffic_help[w.kind][0], PROM_COUNTER, traffic_help[w.kind][1]);
        w.emitted = 0;
        topic_each(b, topic_traffic_sample, &w);
    }
    for (w.kind = 0; w.kind < SERIES_KINDS; w.kind++) {
        prom_family(ob, partition_series_info[w.kind].name, PROM_GAUGE, partition_series_info[w.kind].help);
        w.emitted = 0;
        topic_each(b, partition_samples, &w);
    }
    return w.truncated;
}

/* ----------------------------------------------------------- consumer lag */

struct lag_walk {
    struct broker *b;
    struct obuf *ob;
    bool lag;               /* this pass writes lag (else the committed offset) */
    uint64_t emitted;
    uint64_t max;
    bool truncated;
};

static bool group_members_sample(void *opaque, const struct group_view *g) {
    struct lag_walk *w = opaque;
    if (w->emitted >= w->max) {
        w->truncated = true;
        return false;
    }
    w->emitted++;
    const char *labels[] = {"group", g->group_id, "state", group_state_name(g->state), NULL};
    prom_sample_u64(w->ob, "gregor_consumer_group_members", labels, g->members);
    return true;
}

/* Lag is the partition's high watermark minus the committed offset, as
 * kafka-consumer-groups computes it; offsets of deleted topics are skipped. */
static bool group_offset_sample(void *opaque, const struct group_offset_view *o) {
    struct lag_walk *w = opaque;
    if (w->emitted >= w->max) {
        w->truncated = true;
        return false;
    }
    struct topic *t = topic_find(w->b, (struct kstr){o->topic, (int32_t)strlen(o->topic)});
    struct partition *p = partition_find(t, o->partition);
    if (!p || !p->log || o->offset < 0) return true;
    w->emitted++;
    char index[LABEL_NUMBER_BYTES];
    snprintf(index, sizeof(index), "%" PRId32, o->partition);
    const char *labels[] = {"group", o->group->group_id, "topic", o->topic, "partition", index, NULL};
    if (!w->lag) {
        prom_sample_i64(w->ob, "gregor_consumer_group_committed_offset", labels, o->offset);
        return true;
    }
    /* Not clamped, like `gregor group describe` and Kafka's tool: an
     * offset committed past the end shows as negative lag, a fact worth
     * seeing (a client committing wrong offsets), not a zero. */
    prom_sample_i64(w->ob, "gregor_consumer_group_lag", labels, p->high_watermark - o->offset);
    return true;
}

static bool render_groups(struct broker *b, struct obuf *ob) {
    struct lag_walk w = {.b = b, .ob = ob, .max = (uint64_t)b->cfg.metrics_partition_series_max};
    prom_family(ob, "gregor_consumer_group_members", PROM_GAUGE, "Members of each consumer group, with its state.");
    group_walk(b->groups, group_members_sample, NULL, &w);
    prom_family(ob, "gregor_consumer_group_committed_offset", PROM_GAUGE, "Offset committed by the group.");
    w.emitted = 0;
    group_walk(b->groups, NULL, group_offset_sample, &w);
    prom_family(ob, "gregor_consumer_group_lag", PROM_GAUGE,
                "Records between the committed offset and the high watermark, per group and partition.");
    w.lag = true;
    w.emitted = 0;
    group_walk(b->groups, NULL, group_offset_sample, &w);
    return w.truncated;
}

static void render_metrics(struct broker *b, struct obuf *ob) {
    prom_family(ob, "gregor_build_info", PROM_GAUGE, "Always 1; the labels say which build runs.");
    const char *build[] = {"version", GREGOR_VERSION, NULL};
    prom_sample_u64(ob, "gregor_build_info", build, 1);
    prom_family(ob, "process_start_time_seconds", PROM_GAUGE, "Start time of the process since unix epoch in seconds.");
    prom_sample_f64(ob, "process_start_time_seconds", NULL, (double)b->stats.started_wall_ms / 1000.0);
    gauge(ob, "gregor_ready", "1 once storage and groups are loaded.", b->ready ? 1 : 0);
    render_requests(b, ob);
    render_network(b, ob);
    render_process(ob);
    bool partitions_cut = render_topics(b, ob);
    bool lag_cut = render_groups(b, ob);
    prom_family(ob, "gregor_metrics_series_truncated", PROM_GAUGE,
                "1 when per-partition series were cut at metrics.partition.series.max.");
    const char *part[] = {"series", "partition", NULL};
    const char *lag[] = {"series", "consumer_group", NULL};
    prom_sample_u64(ob, "gregor_metrics_series_truncated", part, partitions_cut);
    prom_sample_u64(ob, "gregor_metrics_series_truncated", lag, lag_cut);
}

/* ------------------------------------------------------------------ status */

static bool count_group(void *opaque, const struct group_view *g) {
    (void)g;
    (*(uint32_t *)opaque)++;
    return true;
}

static void render_status(struct broker *b, struct obuf *ob) {
    struct net_stats ns;
    net_loop_stats(b->loop, &ns);
    struct render_walk w = {.b = b};
    topic_each(b, count_topic, &w);
    uint32_t groups = 0;
    group_walk(b->groups, count_group, NULL, &groups);
    obuf_printf(ob, "{\"version\":");
    json_string(ob, GREGOR_VERSION);
    obuf_printf(ob, ",\"node_id\":%" PRId32 ",\"cluster_id\":", b->cfg.node_id);
    json_string(ob, b->cluster_id);
    obuf_printf(ob, ",\"ready\":%s,\"uptime_seconds\":%.3f,\"listeners\":[", b->ready ? "true" : "false",
                (double)(net_now_us() - b->stats.started_us) / 1e6);
    json_string(ob, b->cfg.listeners);
    obuf_printf(ob, "],\"advertised_listeners\":[");
    json_string(ob, b->cfg.advertised_listeners);
    obuf_printf(ob, "],\"kafka_port\":%d,\"admin_listener\":", net_loop_port(b->loop));
    json_string(ob, b->cfg.admin_listener);
    obuf_printf(ob, ",\"admin_port\":%d,\"data_dir\":", b->admin ? http_server_port(b->admin) : -1);
    json_string(ob, b->data_dir);
    obuf_printf(ob,
                ",\"topics\":%" PRIu32 ",\"partitions\":%" PRIu32 ",\"consumer_groups\":%" PRIu32
                ",\"connections\":%" PRIu32 ",\"requests_inflight\":%" PRIu64 ",\"fetch_parked\":%" PRIu32 "}\n",
                b->topic_count, w.partitions, groups, ns.connections, b->stats.requests_inflight,
                b->fetch_waiter_count);
}

/* ------------------------------------------------------------------ routes */

static void on_http(void *ctx, const struct http_request *req, struct http_response *resp) {
    struct broker *b = ctx;
    if (strcmp(req->path, "/metrics") == 0) {
        resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
        render_metrics(b, &resp->body);
    } else if (strcmp(req->path, "/health/live") == 0) {
        obuf_printf(&resp->body, "ok\n");
    } else if (strcmp(req->path, "/health/ready") == 0) {
        resp->status = b->ready ? 200 : 503;
        obuf_printf(&resp->body, b->ready ? "ready\n" : "not ready\n");
    } else if (strcmp(req->path, "/v1/status") == 0) {
        resp->content_type = "application/json";
        render_status(b, &resp->body);
    } else {
        resp->status = 404;
    }
}

int admin_start(struct broker *b) {
    if (b->cfg.admin_listener[0] == '\0') {
        log_info("admin", "admin listener off (admin.listener is empty)");
        return 0;
    }
    b->admin = http_server_create(b->loop, b->cfg.admin_host, b->cfg.admin_port, on_http, b);
    if (!b->admin) {
        log_error("admin", "admin endpoints unavailable, the broker runs without them admin.listener=%s",
                  b->cfg.admin_listener);
        return -1;
    }
    return 0;
}

void admin_stop(struct broker *b) {
    http_server_destroy(b->admin);
    b->admin = NULL;
}
