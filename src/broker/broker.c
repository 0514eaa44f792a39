/*
 * Broker life cycle and request dispatch: reads the request header, finds
 * the handler for the API, and gives handlers the helpers to answer.
 */
#include "broker/internal.h"

#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/limits.h"
#include "core/log.h"
#include "storage/fileio.h"
#include "storage/log_summary.h"
#include "group/group.h"
#include "storage/producer_state.h"

/* How often housekeeping runs: time-based rolls, flush.ms, retention
 * checks (which have their own, longer interval). */
#define HOUSEKEEPING_INTERVAL_MS 1000

/* Kafka's request header starts with api key, api version and correlation
 * id whatever the header version; we read these before knowing more. */
#define REQUEST_HEADER_PREFIX_BYTES 8

/* meta.properties holds a few short lines. */
#define META_PROPERTIES_BYTES_MAX 4096

const struct api_handler api_handlers[] = {
    {KAFKA_API_PRODUCE, 0, 11, handle_produce},
    {KAFKA_API_FETCH, 0, 17, handle_fetch},
    {KAFKA_API_LIST_OFFSETS, 0, 10, handle_list_offsets},
    {KAFKA_API_METADATA, 0, 12, handle_metadata},
    {KAFKA_API_API_VERSIONS, 0, 4, handle_api_versions},
    {KAFKA_API_CREATE_TOPICS, 0, 7, handle_create_topics},
    {KAFKA_API_DELETE_TOPICS, 0, 6, handle_delete_topics},
    {KAFKA_API_DELETE_RECORDS, 0, 2, handle_delete_records},
    {KAFKA_API_INIT_PRODUCER_ID, 0, 5, handle_init_producer_id},
    {KAFKA_API_OFFSET_FOR_LEADER_EPOCH, 0, 4, handle_offset_for_leader_epoch},
    {KAFKA_API_DESCRIBE_CONFIGS, 0, 4, handle_describe_configs},
    {KAFKA_API_ALTER_CONFIGS, 0, 2, handle_alter_configs},
    {KAFKA_API_CREATE_PARTITIONS, 0, 3, handle_create_partitions},
    {KAFKA_API_INCREMENTAL_ALTER_CONFIGS, 0, 1, handle_incremental_alter_configs},
    {KAFKA_API_DESCRIBE_CLUSTER, 0, 1, handle_describe_cluster},
    /* consumer groups (api_groups.c) */
    {KAFKA_API_FIND_COORDINATOR, 0, 6, handle_find_coordinator},
    {KAFKA_API_JOIN_GROUP, 0, 9, handle_join_group},
    {KAFKA_API_SYNC_GROUP, 0, 5, handle_sync_group},
    {KAFKA_API_HEARTBEAT, 0, 4, handle_heartbeat},
    {KAFKA_API_LEAVE_GROUP, 0, 5, handle_leave_group},
    {KAFKA_API_OFFSET_COMMIT, 0, 9, handle_offset_commit},
    {KAFKA_API_OFFSET_FETCH, 0, 9, handle_offset_fetch},
    {KAFKA_API_OFFSET_DELETE, 0, 0, handle_offset_delete},
    {KAFKA_API_LIST_GROUPS, 0, 5, handle_list_groups},
    {KAFKA_API_DESCRIBE_GROUPS, 0, 5, handle_describe_groups},
    {KAFKA_API_DELETE_GROUPS, 0, 2, handle_delete_groups},
};
const size_t api_handler_count = sizeof(api_handlers) / sizeof(api_handlers[0]);

const struct api_handler *api_handler_find(int16_t api_key) {
    for (size_t i = 0; i < api_handler_count; i++)
        if (api_handlers[i].api_key == api_key) return &api_handlers[i];
    return NULL;
}

/* ------------------------------------------------------ request accounting */

/* Client ids go into log lines: printable ASCII only, bounded, so a hostile
 * id cannot split or flood a line. */
#define LOG_CLIENT_ID_BYTES_MAX 128
/* Slow-request lines per second: log writes are synchronous, so during a
 * disk stall (when every request is slow) one line per request would add
 * to the stall. The rest are counted in the next line's suppressed=N and
 * all of them in gregor_slow_requests_total. */
#define LOG_SLOW_REQUEST_LINES_PER_SEC 10

static void log_slow_request(struct request_ctx *ctx, uint64_t us) {
    uint64_t suppressed = 0;
    if (!rate_limit_take(&ctx->b->slow_log_limit, net_now_us(), LOG_SLOW_REQUEST_LINES_PER_SEC, &suppressed)) return;
    char client[LOG_CLIENT_ID_BYTES_MAX + 1];
    int32_t n = ctx->client_id.len < 0 ? 0 : ctx->client_id.len;
    if (n > LOG_CLIENT_ID_BYTES_MAX) n = LOG_CLIENT_ID_BYTES_MAX;
    for (int32_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)ctx->client_id.ptr[i];
        client[i] = c >= 0x20 && c < 0x7f && c != '"' && c != '\\' ? (char)c : '?';
    }
    client[n] = '\0';
    const struct kafka_api_info *info = kafka_api_lookup(ctx->api_key);
    char dropped[48] = "";
    if (suppressed) snprintf(dropped, sizeof(dropped), " suppressed=%" PRIu64, suppressed);
    log_warn("request",
             "slow request api=%s api_version=%d client_id=\"%s\" correlation_id=%d peer=%s duration_ms=%.3f%s",
             info ? info->name : "?", ctx->api_version, client, ctx->correlation_id,
             ctx->req->conn ? net_conn_peer(ctx->req->conn) : "?", (double)us / 1000.0, dropped);
}

/* Once per request, whichever way it ends: answered, rejected or aborted. */
static void request_finished(struct request_ctx *ctx, bool rejected) {
    if (ctx->finished) return;
    ctx->finished = true;
    struct broker_stats *st = &ctx->b->stats;
    st->requests_inflight--;
    if (!ctx->handler) {
        st->requests_unknown_api++;
        return;
    }
    struct api_stats *a = &st->api[ctx->api_key];
    if (rejected) {
        a->rejected++;
        return;
    }
    uint64_t us = net_now_us() - ctx->req->received_us;
    a->requests++;
    metrics_observe_us(&a->latency, us);
    /* Requests answered after their handler returned were held on purpose
     * (long-poll Fetch, JoinGroup/SyncGroup waiting for a rebalance): their
     * time is the client's choice, so it goes into the histogram only. */
    bool held = ctx->b->dispatching != ctx;
    int64_t slow_ms = ctx->b->cfg.log_slow_request_ms;
    if (!held && slow_ms >= 0 && us >= (uint64_t)slow_ms * 1000) {
        st->slow_requests++;
        log_slow_request(ctx, us);
    }
}

/* ---------------------------------------------------------------- responses */

void response_begin(const struct request_ctx *ctx, struct obuf *ob) {
    obuf_init(ob, LIMIT_RESPONSE_MEM_BYTES_MAX);
    kw_i32(ob, ctx->correlation_id);
    if (kafka_response_header_version(ctx->api_key, ctx->api_version) >= 1) kw_uvarint(ob, 0);
}

void response_finish(struct request_ctx *ctx, struct obuf *ob, int encode_rc) {
    request_finished(ctx, encode_rc != 0 || obuf_failed(ob));
    if (encode_rc != 0 || obuf_failed(ob)) {
        log_error("broker", "response encoding failed api_key=%d api_version=%d correlation_id=%d",
                  ctx->api_key, ctx->api_version, ctx->correlation_id);
        obuf_free(ob);
        net_respond_close(ctx->req);
        return;
    }
    net_respond(ctx->req, ob);
    obuf_free(ob);
}

void response_none(struct request_ctx *ctx) {
    request_finished(ctx, false);
    net_respond(ctx->req, NULL);
}

void request_reject(struct request_ctx *ctx, const char *why) {
    request_finished(ctx, true);
    log_warn("broker", "closing connection: %s peer=%s api_key=%d api_version=%d", why,
             ctx->req->conn ? net_conn_peer(ctx->req->conn) : "?", ctx->api_key, ctx->api_version);
    net_respond_close(ctx->req);
}

/* ------------------------------------------------------- request helpers */

static int named_entry_cmp(const void *pa, const void *pb) {
    const struct named_entry *a = pa, *b = pb;
    if (a->tag != b->tag) return a->tag < b->tag ? -1 : 1;
    int32_t la = a->name.len < 0 ? 0 : a->name.len, lb = b->name.len < 0 ? 0 : b->name.len;
    int c = memcmp(a->name.ptr ? a->name.ptr : "", b->name.ptr ? b->name.ptr : "", (size_t)(la < lb ? la : lb));
    if (c) return c;
    return la == lb ? (a->name.len > b->name.len) - (a->name.len < b->name.len) : (la < lb ? -1 : 1);
}

bool *mark_duplicates(struct request_ctx *ctx, struct named_entry *entries, int32_t n) {
    bool *dup = ARENA_NEW_ARRAY(ctx, bool, n);
    if (!dup) return NULL;
    /* Sorting keeps this O(n log n): a request may name a great many resources. */
    qsort(entries, (size_t)(n > 0 ? n : 0), sizeof(*entries), named_entry_cmp);
    for (int32_t i = 1; i < n; i++)
        if (named_entry_cmp(&entries[i - 1], &entries[i]) == 0) dup[entries[i - 1].index] = dup[entries[i].index] = true;
    return dup;
}

/* ------------------------------------------------------------------ dispatch */

static int16_t read_be16(const uint8_t *p) { return (int16_t)((p[0] << 8) | p[1]); }
static int32_t read_be32(const uint8_t *p) {
    return (int32_t)(((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3]);
}

/* KIP-511: a client newer than us sends ApiVersions at a version we do not
 * know; we answer in v0 with UNSUPPORTED_VERSION and our ranges so it can
 * retry at a version we speak. */
static void answer_unsupported_api_versions(struct request_ctx *ctx) {
    ctx->api_version = 0;
    struct kafka_api_versions_response resp;
    kafka_api_versions_response_init(&resp);
    resp.error_code = KAFKA_ERR_UNSUPPORTED_VERSION;
    const struct api_handler *h = api_handler_find(KAFKA_API_API_VERSIONS);
    resp.api_keys = ARENA_NEW_ARRAY(ctx, struct kafka_api_versions_response_api_version, 1);
    if (!resp.api_keys) return request_reject(ctx, "out of request memory");
    kafka_api_versions_response_api_version_init(&resp.api_keys[0]);
    resp.api_keys[0].api_key = h->api_key;
    resp.api_keys[0].min_version = h->min_version;
    resp.api_keys[0].max_version = h->max_version;
    resp.api_keys_count = 1;
    RESPOND(ctx, kafka_api_versions_response, &resp);
}

static void on_request(void *opaque, struct net_request *req) {
    struct broker *b = opaque;
    struct request_ctx *ctx = arena_alloc(&req->arena, sizeof(*ctx));
    if (!ctx) {
        net_respond_close(req);
        return;
    }
    ctx->b = b;
    ctx->req = req;
    ctx->arena = &req->arena;
    req->handler_state = ctx;
    b->stats.requests_inflight++;
    if (req->frame_len < REQUEST_HEADER_PREFIX_BYTES) return request_reject(ctx, "short request header");
    ctx->api_key = read_be16(req->frame);
    ctx->api_version = read_be16(req->frame + 2);
    ctx->correlation_id = read_be32(req->frame + 4);

    const struct api_handler *h = api_handler_find(ctx->api_key);
    if (!h) return request_reject(ctx, "unknown api key");
    if (ctx->api_version < h->min_version || ctx->api_version > h->max_version) {
        if (ctx->api_key == KAFKA_API_API_VERSIONS && ctx->api_version > h->max_version)
            return answer_unsupported_api_versions(ctx);
        return request_reject(ctx, "unsupported api version");
    }
    ctx->handler = h;  /* from here on, outcomes are counted under this API */
    struct kreader r = {req->frame, req->frame + req->frame_len, false};
    struct kafka_request_header hdr;
    int16_t hv = kafka_request_header_version(ctx->api_key, ctx->api_version);
    if (kafka_request_header_decode(&hdr, &r, hv, ctx->arena) != 0 || r.err)
        return request_reject(ctx, "malformed request header");
    ctx->client_id = hdr.client_id;
    ctx->body = r;
    b->dispatching = ctx;
    h->handle(ctx);
    b->dispatching = NULL;
}

static void on_abort(void *opaque, struct net_request *req) {
    (void)opaque;
    struct request_ctx *ctx = req->handler_state;
    if (!ctx) return;
    if (!ctx->finished) {
        /* Counted neither as answered nor as an error: the client left. */
        ctx->finished = true;
        ctx->b->stats.requests_inflight--;
    }
    if (ctx->on_abort) ctx->on_abort(ctx);
}

/* ------------------------------------------------------------- housekeeping */

struct housekeeping_pass {
    struct broker *b;
    int64_t now_ms;
    bool retention_due;
};

static void housekeep_topic(void *opaque, struct topic *t) {
    struct housekeeping_pass *pass = opaque;
    for (int32_t i = 0; i < t->partition_count; i++) {
        struct partition *p = t->partitions[i];
        if (!p || !p->log) continue;
        int rc = plog_tick(p->log, pass->now_ms);
        if (rc < 0)
            log_error("storage", "periodic roll/flush failed topic=%s partition=%d error=%s", t->name, i,
                      strerror(-rc));
        if (pass->retention_due) {
            /* Batch timestamps date producers, as in Kafka (producer.id.expiration.ms). */
            if (pstate_expire(p->producers, pass->now_ms, PSTATE_EXPIRATION_MS_DEFAULT) > 0) p->producers_expired = true;
            rc = plog_enforce_retention(p->log, pass->now_ms);
            if (rc > 0)
                log_info("storage", "retention deleted segments topic=%s partition=%d count=%d log_start_offset=%lld",
                         t->name, i, rc, (long long)plog_start_offset(p->log));
        }
        /* Every log, not only compacted ones: a clean finished after the
         * topic stopped being compacted must still be swapped or freed. */
        if (pass->b->cleaner) cleaner_consider(pass->b->cleaner, p->log, pass->now_ms);
    }
}

static void housekeeping(void *opaque) {
    struct broker *b = opaque;
    uint64_t t0_us = net_now_us();
    struct housekeeping_pass pass = {b, net_wall_ms(), false};
    if (pass.now_ms - b->last_retention_check_ms >= b->cfg.log_retention_check_interval_ms) {
        pass.retention_due = true;
        b->last_retention_check_ms = pass.now_ms;
    }
    if (b->cleaner) cleaner_tick_begin(b->cleaner);
    topic_each(b, housekeep_topic, &pass);
    if (b->cleaner) cleaner_tick_end(b->cleaner, pass.now_ms);
    /* The pass runs under the handler lock: every loop's requests wait for it. */
    log_debug("broker", "housekeeping held the handler lock us=%llu", (unsigned long long)(net_now_us() - t0_us));
    b->housekeeping_timer = net_timer_add(b->loop, HOUSEKEEPING_INTERVAL_MS, housekeeping, b);
}

/* --------------------------------------------------------------- life cycle */

void uuid_random(struct kuuid *id) {
    do {
        if (getrandom(id->bytes, sizeof(id->bytes), 0) != (ssize_t)sizeof(id->bytes)) {
            /* getrandom on Linux >= 3.17 does not fail for 16 bytes; keep a
             * deterministic-but-unique fallback rather than crash. */
            uint64_t t = net_now_us();
            memcpy(id->bytes, &t, sizeof(t));
            memcpy(id->bytes + 8, &id, sizeof(void *));
        }
        id->bytes[6] = (uint8_t)((id->bytes[6] & 0x0f) | 0x40);
        id->bytes[8] = (uint8_t)((id->bytes[8] & 0x3f) | 0x80);
    } while (uuid_is_zero(id));
}

bool uuid_is_zero(const struct kuuid *id) {
    for (size_t i = 0; i < sizeof(id->bytes); i++)
        if (id->bytes[i]) return false;
    return true;
}

/* Kafka prints cluster ids as unpadded URL-safe base64 of a uuid. */
static void uuid_base64(const struct kuuid *id, char out[23]) {
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint32_t acc = 0;
    int bits = 0, n = 0;
    for (int i = 0; i < 16; i++) {
        acc = (acc << 8) | id->bytes[i];
        bits += 8;
        while (bits >= 6) {
            out[n++] = alphabet[(acc >> (bits - 6)) & 63];
            bits -= 6;
        }
    }
    if (bits > 0) out[n++] = alphabet[(acc << (6 - bits)) & 63];
    out[n] = 0;
}

/* meta.properties ties a data directory to one node and one cluster, as
 * Kafka's does; a directory from another node is refused. */
static int load_or_create_meta(struct broker *b) {
    int dirfd = open(b->data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) {
        log_error("broker", "cannot open data directory path=%s error=%s", b->data_dir, strerror(errno));
        return -1;
    }
    char text[META_PROPERTIES_BYTES_MAX];
    size_t len = 0;
    int rc = fio_read_small(dirfd, "meta.properties", text, sizeof(text), &len);
    if (rc == 0) {
        close(dirfd);
        int32_t node = -1;
        char *save = NULL;
        for (char *line = strtok_r(text, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
            if (strncmp(line, "cluster.id=", 11) == 0) {
                size_t n = strlen(line + 11);
                if (n >= sizeof(b->cluster_id)) n = sizeof(b->cluster_id) - 1;
                memcpy(b->cluster_id, line + 11, n);
                b->cluster_id[n] = 0;
            }
            if (strncmp(line, "node.id=", 8) == 0) node = (int32_t)strtol(line + 8, NULL, 10);
        }
        if (!b->cluster_id[0]) {
            log_error("broker", "meta.properties has no cluster.id dir=%s", b->data_dir);
            return -1;
        }
        if (node != b->cfg.node_id) {
            log_error("broker", "data directory belongs to another node dir=%s node.id=%d configured=%d", b->data_dir,
                      node, b->cfg.node_id);
            return -1;
        }
        return 0;
    }
    if (rc != -ENOENT) {
        close(dirfd);
        log_error("broker", "cannot read meta.properties dir=%s error=%s", b->data_dir, strerror(-rc));
        return -1;
    }
    struct kuuid id;
    uuid_random(&id);
    char cid[23];
    uuid_base64(&id, cid);
    snprintf(b->cluster_id, sizeof(b->cluster_id), "%s", cid);
    int n = snprintf(text, sizeof(text), "#Written by gregor\nversion=1\ncluster.id=%s\nnode.id=%d\n", b->cluster_id,
                     b->cfg.node_id);
    rc = fio_write_atomic(dirfd, "meta.properties", text, (size_t)n);
    close(dirfd);
    if (rc != 0) {
        log_error("broker", "cannot write meta.properties dir=%s error=%s", b->data_dir, strerror(-rc));
        return -1;
    }
    log_info("broker", "new data directory cluster_id=%s node_id=%d", b->cluster_id, b->cfg.node_id);
    return 0;
}

/* One event loop per CPU this process may run on (taskset and cgroup
 * cpusets narrow it), unless num.network.threads says otherwise. */
static uint32_t event_loop_count(int32_t configured) {
    if (configured > 0) return (uint32_t)configured;
    cpu_set_t set;
    long n = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) n = 1;
    if (n > LIMIT_NET_LOOPS_MAX) n = LIMIT_NET_LOOPS_MAX;
    return (uint32_t)n;
}

static int make_dirs(const char *path) {
    char buf[PATH_MAX];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -1;
    return 0;
}

struct broker *broker_create(const struct broker_config *cfg) {
    struct broker *b = calloc(1, sizeof(*b));
    if (!b) return NULL;
    b->cfg = *cfg;
    b->data_dir_fd = -1;
    b->stats.started_us = net_now_us();
    b->stats.started_wall_ms = net_wall_ms();
    /* log.dirs may list several directories; one node uses the first. */
    size_t first = strcspn(cfg->log_dirs, ",");
    snprintf(b->data_dir, sizeof(b->data_dir), "%.*s", (int)first, cfg->log_dirs);
    if (make_dirs(b->data_dir) != 0) {
        log_error("broker", "cannot create data directory path=%s error=%s", b->data_dir, strerror(errno));
        free(b);
        return NULL;
    }
    /* Taken (and removed) before anything in the data directory is written. */
    if (log_summary_take(b->data_dir, (uint32_t)cfg->recovery_threads, &b->summary) != 0 ||
        load_or_create_meta(b) != 0) {
        log_summary_free(b->summary);
        free(b);
        return NULL;
    }
    struct net_config ncfg = {
        .host = cfg->listen_host,
        .port = cfg->listen_port,
        .max_request_bytes = (uint32_t)cfg->socket_request_max_bytes,
        .max_connections = (uint32_t)cfg->max_connections,
        .idle_timeout_ms = cfg->connections_max_idle_ms,
        .loops = event_loop_count(cfg->network_threads),
    };
    b->loop = net_loop_create(&ncfg, on_request, on_abort, b);
    if (!b->loop) {
        log_summary_free(b->summary);
        free(b);
        return NULL;
    }
    plog_set_open_files_max((uint32_t)cfg->log_open_files_max); /* before any log is opened */
    if (mlog_open(b) != 0 || topics_open_all(b) != 0) {
        topics_close_all(b);
        mlog_close(b);
        net_loop_destroy(b->loop);
        free(b);
        return NULL;
    }
    /* Consumer groups load from __consumer_offsets, opened just above. */
    b->groups = group_coordinator_create(b);
    if (!b->groups) {
        net_loop_destroy(b->loop);
        topics_close_all(b);
        mlog_close(b);
        free(b);
        return NULL;
    }
    struct rlimit nofile;
    b->fetch_fd_budget = FETCH_OPEN_FILES_MAX;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY &&
        nofile.rlim_cur / 4 < b->fetch_fd_budget)
        b->fetch_fd_budget = nofile.rlim_cur / 4;
    b->cleaner = cleaner_create(&cfg->cleaner);
    if (!b->cleaner) log_error("storage", "log compaction disabled: the cleaner could not start");
    b->last_retention_check_ms = net_wall_ms();
    b->housekeeping_timer = net_timer_add(b->loop, HOUSEKEEPING_INTERVAL_MS, housekeeping, b);
    /* Last, so that readiness means storage and groups are loaded. An
     * admin port already taken does not stop the broker (two brokers on
     * one machine are common in development); the error says so. */
    admin_start(b);
    b->ready = true;
    log_info("broker", "started node_id=%d cluster_id=%s listener=%s:%d advertised=%s:%d data=%s topics=%u",
             cfg->node_id, b->cluster_id, cfg->listen_host, net_loop_port(b->loop), cfg->advertised_host,
             cfg->advertised_port ? cfg->advertised_port : net_loop_port(b->loop), b->data_dir, b->topic_count);
    return b;
}

int broker_port(const struct broker *b) { return net_loop_port(b->loop); }

int broker_run(struct broker *b) { return net_loop_run(b->loop); }

void broker_stop(struct broker *b) { net_loop_stop(b->loop); }

void broker_destroy(struct broker *b) {
    if (!b) return;
    /* Connections go first so no parked fetch still points at a partition
     * (and no held JoinGroup/SyncGroup at a group member). */
    b->ready = false;
    admin_stop(b);
    net_loop_destroy(b->loop);
    group_coordinator_destroy(b->groups);
    mlog_checkpoint(b);
    topics_close_all(b);
    mlog_close(b);
    cleaner_destroy(b->cleaner); /* after the logs, which abandon their cleans */
    log_info("broker", "stopped cleanly");
    free(b);
}

int16_t kafka_error_from_errno(int err) {
    if (err < 0) err = -err;
    switch (err) {
    case 0: return KAFKA_ERR_NONE;
    case ERANGE: return KAFKA_ERR_OFFSET_OUT_OF_RANGE;
    case EMSGSIZE: return KAFKA_ERR_MESSAGE_TOO_LARGE;
    case EINVAL: return KAFKA_ERR_CORRUPT_MESSAGE;
    default: return KAFKA_ERR_KAFKA_STORAGE_ERROR;
    }
}
