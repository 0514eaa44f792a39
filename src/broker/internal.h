/*
 * Broker internals shared by the API handlers: the broker struct, the
 * per-request context, response helpers, the topic registry and the
 * metadata log. Not for use outside src/broker.
 */
#ifndef GREGOR_BROKER_INTERNAL_H
#define GREGOR_BROKER_INTERNAL_H

#include <limits.h>
#include <signal.h>

#include "broker/broker.h"
#include "core/arena.h"
#include "core/metrics.h"
#include "core/ratelimit.h"
#include "core/obuf.h"
#include "protocol/gen/kafka_errors.h"
#include "protocol/gen/kafka_msgs.h"
#include "protocol/wire.h"

/* Hash buckets of the topic registry: a power of two; chains grow past it
 * gracefully, so this only trades memory against chain length. */
#define TOPIC_BUCKETS 4096

/* The metadata log lives in <data>/__cluster_metadata-0, like KRaft's. */
#define METADATA_TOPIC_NAME "__cluster_metadata"

/* Long-polling fetches parked at once; past it a fetch is answered at
 * once with what it has (as if max_wait_ms were 0). */
#define FETCH_WAITERS_MAX 65536

/* Descriptors that queued fetch responses may hold at once: a quarter of
 * RLIMIT_NOFILE (the segment cache takes half, sockets the rest), at most
 * this. A client that never reads cannot exhaust the process's files. */
#define FETCH_OPEN_FILES_MAX 65536
/* One connection may hold at most this fraction of that budget. */
#define FETCH_FD_SHARE_DIVISOR 8

/* Producer ids are reserved from the metadata log in blocks, so a restart
 * never hands out an id twice and we write one record per block. */
#define PRODUCER_ID_BLOCK_SIZE 1000

/* Metadata-log records are tiny; one above this is corrupt. */
#define METADATA_RECORD_BYTES_MAX (1024 * 1024)

/* Producer-state snapshots are written when a partition has taken this
 * many bytes since its last one, bounding the replay after a crash. */
#define PRODUCER_SNAPSHOT_INTERVAL_BYTES (64 * 1024 * 1024)

/* Kafka error codes counted per API: -1 (UNKNOWN_SERVER_ERROR) up to
 * this; larger codes are counted as UNKNOWN_SERVER_ERROR. */
#define API_ERROR_CODE_MAX 128
#define API_ERROR_SLOTS (API_ERROR_CODE_MAX + 2)

/* Per-API counters, indexed by api key: a fixed array so that counting a
 * request is an index and an addition. */
struct api_stats {
    uint64_t requests;                 /* answered, or acks=0 accepted */
    uint64_t rejected;                 /* malformed or unservable: connection closed */
    uint64_t errors[API_ERROR_SLOTS];  /* by error code + 1; [1] (NONE) stays 0 */
    struct metrics_histogram latency;  /* receipt to response queued */
};

struct broker_stats {
    struct api_stats api[KAFKA_API_KEY_END];
    uint64_t requests_unknown_api;     /* api key we do not serve: closed */
    uint64_t requests_inflight;        /* received, not yet answered */
    uint64_t slow_requests;            /* logged under log.slow.request.ms */
    uint64_t started_us;               /* monotonic, for uptime */
    int64_t started_wall_ms;
};

struct metadata_log;
struct fetch_waiter;
struct http_server;
struct group_coordinator;
struct group_waiter;

struct broker {
    struct broker_config cfg;
    struct net_loop *loop;
    char data_dir[PATH_MAX];
    int data_dir_fd;                /* open from start to stop: its syncfs at shutdown reports every writeback error since */
    struct log_summary *summary;    /* start-up summary (storage/log_summary.h), until topics_open_all */
    char cluster_id[32];
    struct topic *topic_buckets[TOPIC_BUCKETS];     /* by name */
    struct topic *topic_id_buckets[TOPIC_BUCKETS];  /* by id */
    uint32_t topic_count;
    struct metadata_log *mlog;
    int64_t next_producer_id;
    int64_t producer_id_block_end;   /* exclusive end of the reserved block */
    uint32_t fetch_waiter_count;
    uint64_t fetch_fd_budget;        /* descriptors queued fetch responses may hold */
    uint64_t housekeeping_timer;
    int64_t last_retention_check_ms;
    struct cleaner *cleaner;          /* log compaction threads; NULL if they could not start */
    struct group_coordinator *groups;   /* consumer groups (src/group) */
    struct http_server *admin;          /* admin.listener, NULL when off */
    bool ready;                         /* storage and groups loaded, serving */
    const struct request_ctx *dispatching; /* the request whose handler is running, if any */
    struct broker_stats stats;
    struct rate_limit slow_log_limit;      /* slow-request log lines */
};

struct request_ctx {
    struct broker *b;
    struct net_request *req;
    struct arena *arena;
    int16_t api_key;
    int16_t api_version;
    int32_t correlation_id;
    struct kstr client_id;
    struct kreader body;
    struct fetch_waiter *waiter;   /* set while a fetch is parked */
    struct group_waiter *group_waiter; /* set while a JoinGroup/SyncGroup is held */
    /* Set by a handler that holds the request past its return (long poll,
     * group join): called if the connection dies first. It must drop its
     * references and call net_respond(req, NULL). */
    void (*on_abort)(struct request_ctx *ctx);
    const struct api_handler *handler; /* NULL until the API and version are known to be served */
    bool finished;                 /* counted as answered or aborted (metrics) */
};

typedef void (*api_handler_fn)(struct request_ctx *ctx);

struct api_handler {
    int16_t api_key;
    int16_t min_version;
    int16_t max_version;
    api_handler_fn handle;
};

/* The APIs this broker serves; ApiVersions advertises exactly these. */
extern const struct api_handler api_handlers[];
extern const size_t api_handler_count;
const struct api_handler *api_handler_find(int16_t api_key);

/* ---- responses ---- */
void response_begin(const struct request_ctx *ctx, struct obuf *ob);
void response_finish(struct request_ctx *ctx, struct obuf *ob, int encode_rc);
void response_none(struct request_ctx *ctx);        /* acks=0 */
void request_reject(struct request_ctx *ctx, const char *why); /* close the connection */

#define RESPOND(ctx, type, msg)                                                  \
    do {                                                                         \
        struct obuf respond_ob_;                                                 \
        response_begin((ctx), &respond_ob_);                                     \
        int respond_rc_ = type##_encode((msg), &respond_ob_, (ctx)->api_version); \
        response_finish((ctx), &respond_ob_, respond_rc_);                       \
    } while (0)

/* Decodes the body into *msg; on malformed input closes the connection and
 * evaluates to false. */
#define DECODE(ctx, type, msg)                                                   \
    (type##_decode((msg), &(ctx)->body, (ctx)->api_version, (ctx)->arena) == 0 && \
             !(ctx)->body.err                                                    \
         ? true                                                                  \
         : (request_reject((ctx), "malformed " #type), false))

#define ARENA_NEW_ARRAY(ctx, type, n) ((type *)arena_alloc((ctx)->arena, sizeof(type) * (size_t)((n) > 0 ? (n) : 1)))

/* Counts a Kafka error code in a response of ctx's API (/metrics). */
static inline void request_count_error(struct request_ctx *ctx, int16_t code) {
    if (code == 0) return;
    int slot = code < -1 || code > API_ERROR_CODE_MAX ? 0 : code + 1;
    ctx->b->stats.api[ctx->api_key].errors[slot]++;
}

/* ---- the admin endpoints (admin.c) ---- */
int admin_start(struct broker *b);   /* 0, or -1 if it cannot listen (logged; the broker goes on) */
void admin_stop(struct broker *b);

/* ---- request helpers ---- */
struct named_entry {
    int32_t tag;         /* e.g. a resource type; entries match only with equal tags */
    struct kstr name;
    int32_t index;       /* position in the request */
};
/* dup[i] is true when entry i's (tag, name) appears more than once; reorders
 * entries. NULL when out of request memory. */
bool *mark_duplicates(struct request_ctx *ctx, struct named_entry *entries, int32_t n);

/* ---- topics ---- */
struct topic *topic_find(struct broker *b, struct kstr name);
struct topic *topic_find_id(struct broker *b, const struct kuuid *id);
struct partition *partition_find(struct topic *t, int32_t index);
/* Kafka's topic-name rule; returns NULL or a reason. */
const char *topic_name_invalid(struct kstr name);
struct topic_create_spec {
    const char *name;
    int32_t partitions;
    int32_t config_count;
    const char **config_keys;
    const char **config_values;
};
/* Checks and creates (persisting it in the metadata log unless
 * validate_only). Returns a Kafka error code; *msg may get a reason. */
int16_t topic_create(struct broker *b, const struct topic_create_spec *spec, bool validate_only,
                     struct topic **out, const char **msg);
int16_t topic_delete(struct broker *b, struct topic *t);
int16_t topic_add_partitions(struct broker *b, struct topic *t, int32_t new_total, bool validate_only,
                             const char **msg);
/* Auto-creation for Metadata and Produce when enabled. */
struct topic *topic_auto_create(struct broker *b, struct kstr name, int16_t *err);
typedef void (*topic_visit_fn)(void *ctx, struct topic *t);
void topic_each(struct broker *b, topic_visit_fn fn, void *ctx);
int topics_open_all(struct broker *b);
void topics_close_all(struct broker *b);
int partition_open(struct broker *b, struct partition *p);
/* <data>/<topic>-<index>; -ENAMETOOLONG if it does not fit. */
int partition_dir(const struct broker *b, const struct partition *p, char *buf, size_t len);
/* Replaying the metadata log (no persistence, no partition logs opened). */
int topic_apply_record(struct broker *b, const char *name, const struct kuuid *id);
int topic_apply_partition(struct broker *b, const struct kuuid *id, int32_t index, int32_t leader_epoch);
int topic_apply_remove(struct broker *b, const struct kuuid *id);

/* ---- topic configs ---- */
struct topic_config_key {
    const char *name;
    const char *broker_key;    /* the broker-wide default's key */
    int (*validate)(const char *value, const char **why);
};
extern const struct topic_config_key topic_config_keys[];
extern const size_t topic_config_key_count;
int topic_config_index(const char *name);
/* Recomputes t->config from the broker defaults and t's overrides. */
void topic_config_apply(struct broker *b, struct topic *t);
/* The effective value of key i as text into buf. */
void topic_config_value(const struct broker *b, const struct topic *t, size_t i, char *buf, size_t len);
int16_t topic_config_set(struct broker *b, struct topic *t, const char *key, const char *value,
                         bool validate_only, bool persist, const char **why);
const char *broker_config_default_text(const struct broker *b, const char *broker_key, char *buf, size_t len);

/* ---- the metadata log ---- */
int mlog_open(struct broker *b);
void mlog_close(struct broker *b);
/* Writes a snapshot of the current state (at a clean shutdown). */
void mlog_checkpoint(struct broker *b);
/* Groups the appends between begin and commit into one durable batch. */
void mlog_begin(struct broker *b);
int mlog_commit(struct broker *b);
void mlog_abort(struct broker *b);
int mlog_append_topic(struct broker *b, const struct topic *t);
int mlog_append_partitions(struct broker *b, const struct topic *t, int32_t from, int32_t to);
int mlog_append_config(struct broker *b, const struct topic *t, const char *key, const char *value);
int mlog_append_remove_topic(struct broker *b, const struct topic *t);
int mlog_append_producer_ids(struct broker *b, int64_t next_block_start);

/* ---- long-poll fetches ---- */
void fetch_notify(struct broker *b, struct partition *p, uint32_t bytes_appended);
void fetch_drop_partition(struct broker *b, struct partition *p);

/* ---- handlers ---- */
void handle_api_versions(struct request_ctx *ctx);
void handle_metadata(struct request_ctx *ctx);
void handle_produce(struct request_ctx *ctx);
void handle_fetch(struct request_ctx *ctx);
void handle_list_offsets(struct request_ctx *ctx);
void handle_create_topics(struct request_ctx *ctx);
void handle_delete_topics(struct request_ctx *ctx);
void handle_create_partitions(struct request_ctx *ctx);
void handle_describe_configs(struct request_ctx *ctx);
void handle_alter_configs(struct request_ctx *ctx);
void handle_incremental_alter_configs(struct request_ctx *ctx);
void handle_describe_cluster(struct request_ctx *ctx);
void handle_delete_records(struct request_ctx *ctx);
void handle_offset_for_leader_epoch(struct request_ctx *ctx);
void handle_init_producer_id(struct request_ctx *ctx);
/* consumer groups (api_groups.c) */
void handle_find_coordinator(struct request_ctx *ctx);
void handle_join_group(struct request_ctx *ctx);
void handle_sync_group(struct request_ctx *ctx);
void handle_heartbeat(struct request_ctx *ctx);
void handle_leave_group(struct request_ctx *ctx);
void handle_offset_commit(struct request_ctx *ctx);
void handle_offset_fetch(struct request_ctx *ctx);
void handle_offset_delete(struct request_ctx *ctx);
void handle_list_groups(struct request_ctx *ctx);
void handle_describe_groups(struct request_ctx *ctx);
void handle_delete_groups(struct request_ctx *ctx);

/* Storage errnos to Kafka codes. */
int16_t kafka_error_from_errno(int err);
void uuid_random(struct kuuid *id);
bool uuid_is_zero(const struct kuuid *id);

#endif
