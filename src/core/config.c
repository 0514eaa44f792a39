/*
 * Broker configuration: Kafka's key names and defaults, read from a Java
 * properties file and then from --override pairs.
 *
 * Every key the broker understands is one row of `keys[]` below: its kind,
 * where it is stored, its range. Kafka has a few settings with more than
 * one spelling (log.retention.ms / .minutes / .hours); the rows carry an
 * alias group and rank so the most precise spelling wins whatever the
 * order of the lines, as in Kafka.
 */
#include "core/config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/limits.h"
#include "core/log.h"
#include "storage/prefetch.h"
#include "storage/storage_limits.h"

/* A broker properties file is a few kilobytes; a megabyte means the wrong
 * file was given, and bounding it keeps the parse a single allocation. */
#define CONFIG_FILE_BYTES_MAX (1024 * 1024)
/* Kafka's key names are short; anything longer is not one of ours. */
#define CONFIG_KEY_BYTES_MAX 256

#define MS_PER_MINUTE INT64_C(60000)
#define MS_PER_HOUR INT64_C(3600000)

enum key_kind {
    KIND_INT,     /* integer in [min, max], optionally -1 as "unlimited" */
    KIND_BOOL,    /* true | false */
    KIND_CHOICE,  /* one of `choices`, stored as the canonical spelling */
    KIND_TEXT,    /* free text, bounded by the field size */
    KIND_SPECIAL, /* parsed by its own function */
    KIND_IGNORED, /* a Kafka key that has no meaning for a single-node broker */
};

enum field_type { FIELD_NONE, FIELD_I16, FIELD_I32, FIELD_I64, FIELD_U32, FIELD_U64, FIELD_BOOL, FIELD_TEXT };

/* Settings that several keys write; index into broker_config.alias_rank_. */
enum alias_group { ALIAS_NONE = -1, ALIAS_RETENTION = 0, ALIAS_ROLL = 1, ALIAS_LOG_DIRS = 2, ALIAS_NODE_ID = 3 };
_Static_assert(ALIAS_NODE_ID < (int)sizeof(((struct broker_config *)0)->alias_rank_),
               "alias_rank_ must have a slot per alias group");

struct key_spec;
typedef int (*special_fn)(struct broker_config *cfg, const struct key_spec *spec, const char *value,
                          char *err, int err_len);

struct key_spec {
    const char *key;
    enum key_kind kind;
    enum field_type field;
    size_t offset;
    size_t size;                /* bytes of a text field */
    int64_t min, max;
    bool minus_one;             /* -1 accepted besides [min, max] */
    int64_t scale;              /* stored = value * scale (hours to ms...); -1 is never scaled */
    int alias;                  /* enum alias_group */
    uint8_t rank;               /* higher rank wins within an alias group */
    const char *const *choices; /* NULL-terminated */
    special_fn special;
};

static const char *const bool_choices[] = {"true", "false", NULL};
static const char *const timestamp_choices[] = {"CreateTime", "LogAppendTime", NULL};
static const char *const compression_choices[] = {"producer", "uncompressed", "gzip", "snappy", "lz4", "zstd", NULL};
static const char *const level_choices[] = {"debug", "info", "warn", "error", NULL};

static int set_listeners(struct broker_config *cfg, const struct key_spec *spec, const char *value,
                         char *err, int err_len);
static int set_advertised(struct broker_config *cfg, const struct key_spec *spec, const char *value,
                          char *err, int err_len);
static int set_log_dirs(struct broker_config *cfg, const struct key_spec *spec, const char *value,
                        char *err, int err_len);
static int set_timestamp_type(struct broker_config *cfg, const struct key_spec *spec, const char *value,
                              char *err, int err_len);
static int set_cleanup_policy(struct broker_config *cfg, const struct key_spec *spec, const char *value,
                              char *err, int err_len);
static int set_admin_listener(struct broker_config *cfg, const struct key_spec *spec, const char *value,
                              char *err, int err_len);
static int set_cleaner_ratio(struct broker_config *cfg, const struct key_spec *spec, const char *value,
                             char *err, int err_len);
static int set_cleaner_io_rate(struct broker_config *cfg, const struct key_spec *spec, const char *value,
                               char *err, int err_len);

#define F(member) offsetof(struct broker_config, member)
#define INT_KEY(k, member, type, lo, hi) \
    {.key = k, .kind = KIND_INT, .field = type, .offset = F(member), .min = lo, .max = hi, .scale = 1, .alias = ALIAS_NONE}
/* An integer where -1 means "no limit"; scaled into milliseconds where the key counts larger units. */
#define UNLIMITED_KEY(k, member, type, lo, hi, mult, group, r)                                                \
    {.key = k, .kind = KIND_INT, .field = type, .offset = F(member), .min = lo, .max = hi, .minus_one = true, \
     .scale = mult, .alias = group, .rank = r}
#define ALIAS_INT_KEY(k, member, type, lo, hi, mult, group, r)                                             \
    {.key = k, .kind = KIND_INT, .field = type, .offset = F(member), .min = lo, .max = hi, .scale = mult, \
     .alias = group, .rank = r}
#define BOOL_KEY(k, member) \
    {.key = k, .kind = KIND_BOOL, .field = FIELD_BOOL, .offset = F(member), .choices = bool_choices, .alias = ALIAS_NONE}
#define CHOICE_KEY(k, member, list) \
    {.key = k, .kind = KIND_CHOICE, .field = FIELD_TEXT, .offset = F(member), \
     .size = sizeof(((struct broker_config *)0)->member), .choices = list, .alias = ALIAS_NONE}
#define SPECIAL_KEY(k, fn, group, r) {.key = k, .kind = KIND_SPECIAL, .special = fn, .alias = group, .rank = r}
#define SPECIAL_CHOICE_KEY(k, fn, list) \
    {.key = k, .kind = KIND_SPECIAL, .special = fn, .alias = ALIAS_NONE, .choices = list}
#define IGNORED_KEY(k) {.key = k, .kind = KIND_IGNORED, .alias = ALIAS_NONE}

static const struct key_spec keys[] = {
    ALIAS_INT_KEY("broker.id", node_id, FIELD_I32, 0, INT32_MAX, 1, ALIAS_NODE_ID, 1),
    ALIAS_INT_KEY("node.id", node_id, FIELD_I32, 0, INT32_MAX, 1, ALIAS_NODE_ID, 2),
    SPECIAL_KEY("listeners", set_listeners, ALIAS_NONE, 0),
    SPECIAL_KEY("advertised.listeners", set_advertised, ALIAS_NONE, 0),
    SPECIAL_KEY("log.dir", set_log_dirs, ALIAS_LOG_DIRS, 1),
    SPECIAL_KEY("log.dirs", set_log_dirs, ALIAS_LOG_DIRS, 2),
    INT_KEY("num.partitions", num_partitions, FIELD_I32, 1, LIMIT_PARTITIONS_PER_TOPIC_MAX),
    INT_KEY("default.replication.factor", default_replication_factor, FIELD_I16, 1, INT16_MAX),
    BOOL_KEY("auto.create.topics.enable", auto_create_topics_enable),
    INT_KEY("log.segment.bytes", log.segment_bytes, FIELD_U64, 1024, INT32_MAX),
    ALIAS_INT_KEY("log.roll.hours", log.segment_ms, FIELD_I64, 1, INT32_MAX, MS_PER_HOUR, ALIAS_ROLL, 1),
    ALIAS_INT_KEY("log.roll.ms", log.segment_ms, FIELD_I64, 1, INT64_MAX, 1, ALIAS_ROLL, 2),
    UNLIMITED_KEY("log.retention.hours", log.retention_ms, FIELD_I64, 0, INT32_MAX, MS_PER_HOUR, ALIAS_RETENTION, 1),
    UNLIMITED_KEY("log.retention.minutes", log.retention_ms, FIELD_I64, 0, INT32_MAX, MS_PER_MINUTE, ALIAS_RETENTION, 2),
    UNLIMITED_KEY("log.retention.ms", log.retention_ms, FIELD_I64, 0, INT64_MAX, 1, ALIAS_RETENTION, 3),
    UNLIMITED_KEY("log.retention.bytes", log.retention_bytes, FIELD_I64, 0, INT64_MAX, 1, ALIAS_NONE, 0),
    INT_KEY("log.retention.check.interval.ms", log_retention_check_interval_ms, FIELD_I64, 1, INT64_MAX),
    INT_KEY("log.open.files.max", log_open_files_max, FIELD_I32, LOG_OPEN_FILES_MAX_MIN, INT32_MAX),
    /* Kafka's recovery threads; here they read partition files ahead of the
     * (single-threaded) opener, see storage/prefetch.h, and check the
     * start-up summary's directories (storage/log_summary.h). */
    INT_KEY("num.recovery.threads.per.data.dir", recovery_threads, FIELD_I32, 0, PREFETCH_THREADS_MAX),
    /* Kafka's network threads; here each is a whole event loop (I/O and
     * request handling), 0 means one per CPU the process may run on. */
    INT_KEY("num.network.threads", network_threads, FIELD_I32, 0, LIMIT_NET_LOOPS_MAX),
    INT_KEY("log.flush.interval.messages", log.flush_interval_messages, FIELD_I64, 1, INT64_MAX),
    INT_KEY("log.flush.interval.ms", log.flush_interval_ms, FIELD_I64, 0, INT64_MAX),
    INT_KEY("log.index.interval.bytes", log.index_interval_bytes, FIELD_U32, 0, INT32_MAX),
    SPECIAL_CHOICE_KEY("log.message.timestamp.type", set_timestamp_type, timestamp_choices),
    INT_KEY("message.max.bytes", message_max_bytes, FIELD_I32, 0, INT32_MAX),
    INT_KEY("socket.request.max.bytes", socket_request_max_bytes, FIELD_I32, 1, LIMIT_FRAME_BYTES_MAX),
    INT_KEY("max.connections", max_connections, FIELD_I32, 0, INT32_MAX),
    /* Kafka's Selector turns idle expiry off for a negative value. */
    UNLIMITED_KEY("connections.max.idle.ms", connections_max_idle_ms, FIELD_I64, 1, INT64_MAX, 1, ALIAS_NONE, 0),
    SPECIAL_KEY("log.cleanup.policy", set_cleanup_policy, ALIAS_NONE, 0),
    /* Compaction (src/storage/cleaner.c). */
    BOOL_KEY("log.cleaner.enable", cleaner.enable),
    INT_KEY("log.cleaner.threads", cleaner.threads, FIELD_I32, 1, CLEANER_THREADS_MAX),
    INT_KEY("log.cleaner.dedupe.buffer.size", cleaner.dedupe_buffer_bytes, FIELD_I64, 1, INT64_MAX),
    SPECIAL_KEY("log.cleaner.io.max.bytes.per.second", set_cleaner_io_rate, ALIAS_NONE, 0),
    INT_KEY("log.cleaner.backoff.ms", cleaner.backoff_ms, FIELD_I64, 0, INT64_MAX),
    SPECIAL_KEY("log.cleaner.min.cleanable.ratio", set_cleaner_ratio, ALIAS_NONE, 0),
    INT_KEY("log.cleaner.min.compaction.lag.ms", log.min_compaction_lag_ms, FIELD_I64, 0, INT64_MAX),
    INT_KEY("log.cleaner.max.compaction.lag.ms", log.max_compaction_lag_ms, FIELD_I64, 1, INT64_MAX),
    INT_KEY("log.cleaner.delete.retention.ms", log.delete_retention_ms, FIELD_I64, 0, INT64_MAX),
    CHOICE_KEY("compression.type", compression_type, compression_choices),
    INT_KEY("min.insync.replicas", min_insync_replicas, FIELD_I32, 1, INT32_MAX),
    INT_KEY("offsets.topic.num.partitions", offsets_topic_num_partitions, FIELD_I32, 1, LIMIT_PARTITIONS_PER_TOPIC_MAX),
    INT_KEY("offsets.topic.segment.bytes", offsets_topic_segment_bytes, FIELD_I32, 1, INT32_MAX),
    /* Consumer groups (src/group). */
    ALIAS_INT_KEY("offsets.retention.minutes", offsets_retention_ms, FIELD_I64, 1, INT32_MAX, MS_PER_MINUTE, ALIAS_NONE, 0),
    INT_KEY("offsets.retention.check.interval.ms", offsets_retention_check_interval_ms, FIELD_I64, 1, INT64_MAX),
    INT_KEY("offset.metadata.max.bytes", offset_metadata_max_bytes, FIELD_I32, 0, LIMIT_GROUP_OFFSET_METADATA_BYTES_MAX),
    INT_KEY("group.min.session.timeout.ms", group_min_session_timeout_ms, FIELD_I32, 0, INT32_MAX),
    INT_KEY("group.max.session.timeout.ms", group_max_session_timeout_ms, FIELD_I32, 0, INT32_MAX),
    INT_KEY("group.initial.rebalance.delay.ms", group_initial_rebalance_delay_ms, FIELD_I32, 0, INT32_MAX),
    INT_KEY("group.max.size", group_max_size, FIELD_I32, 1, LIMIT_GROUP_MEMBERS_MAX),
    CHOICE_KEY("log.level", log_level, level_choices),
    /* Observability (src/admin, src/broker/admin.c; docs/OPERATIONS.md). */
    SPECIAL_KEY("admin.listener", set_admin_listener, ALIAS_NONE, 0),
    UNLIMITED_KEY("log.slow.request.ms", log_slow_request_ms, FIELD_I64, 0, INT64_MAX, 1, ALIAS_NONE, 0),
    INT_KEY("metrics.partition.series.max", metrics_partition_series_max, FIELD_I32, 0, INT32_MAX),
    /* Accepted without effect so that a stock Kafka server.properties starts
     * the broker: they concern clustering, thread pools or ZooKeeper, none
     * of which a single-node broker of event loops has. */
    IGNORED_KEY("process.roles"),
    IGNORED_KEY("controller.quorum.voters"),
    IGNORED_KEY("controller.quorum.bootstrap.servers"),
    IGNORED_KEY("controller.listener.names"),
    IGNORED_KEY("inter.broker.listener.name"),
    IGNORED_KEY("listener.security.protocol.map"),
    IGNORED_KEY("num.io.threads"),
    IGNORED_KEY("num.replica.fetchers"),
    IGNORED_KEY("socket.send.buffer.bytes"),
    IGNORED_KEY("socket.receive.buffer.bytes"),
    IGNORED_KEY("offsets.topic.replication.factor"),
    IGNORED_KEY("transaction.state.log.replication.factor"),
    IGNORED_KEY("transaction.state.log.min.isr"),
    IGNORED_KEY("zookeeper.connect"),
    IGNORED_KEY("zookeeper.connection.timeout.ms"),
    IGNORED_KEY("metadata.log.dir"),
    IGNORED_KEY("replica.lag.time.max.ms"),
    IGNORED_KEY("auto.leader.rebalance.enable"),
    IGNORED_KEY("unclean.leader.election.enable"),
};

static void set_err(char *err, int err_len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void set_err(char *err, int err_len, const char *fmt, ...) {
    if (!err || err_len <= 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, (size_t)err_len, fmt, ap);
    va_end(ap);
}

/* Copies src into a field of `size` bytes; false when it would not fit, so
 * no setting is ever silently cut. */
static bool copy_text(char *dst, size_t size, const char *src) {
    size_t n = strlen(src);
    if (n >= size) return false;
    memcpy(dst, src, n + 1);
    return true;
}

void config_defaults(struct broker_config *cfg) {
    memset(cfg, 0, sizeof(*cfg));
    cfg->node_id = 1;
    copy_text(cfg->listeners, sizeof(cfg->listeners), "PLAINTEXT://0.0.0.0:9092");
    copy_text(cfg->listen_host, sizeof(cfg->listen_host), "0.0.0.0");
    cfg->listen_port = 9092;
    copy_text(cfg->advertised_host, sizeof(cfg->advertised_host), "localhost");
    cfg->advertised_port = 9092;
    copy_text(cfg->log_dirs, sizeof(cfg->log_dirs), "./data");
    cfg->num_partitions = 1;
    cfg->default_replication_factor = 1;
    cfg->auto_create_topics_enable = true;
    cfg->log.segment_bytes = UINT64_C(1) << 30;
    cfg->log.segment_ms = 168 * MS_PER_HOUR;
    cfg->log.retention_ms = 168 * MS_PER_HOUR;
    cfg->log.retention_bytes = LOG_UNLIMITED;
    cfg->log.index_interval_bytes = 4096;
    cfg->log.flush_interval_messages = INT64_MAX;
    cfg->log.flush_interval_ms = INT64_MAX;
    cfg->log.log_append_time = false;
    cfg->log_retention_check_interval_ms = 300000;
    cfg->log_open_files_max = LOG_OPEN_FILES_MAX_DEFAULT;
    /* Kafka defaults to 1; reads ahead are cheap threads and a cold start
     * of many partitions wants many reads in flight. */
    cfg->recovery_threads = 32;
    cfg->message_max_bytes = 1048588;
    cfg->socket_request_max_bytes = 104857600;
    cfg->max_connections = INT32_MAX;
    cfg->connections_max_idle_ms = 600000;
    copy_text(cfg->cleanup_policy, sizeof(cfg->cleanup_policy), "delete");
    cfg->cleaner = (struct cleaner_config){.enable = true, .threads = 1, .dedupe_buffer_bytes = 128 * 1024 * 1024,
                                           .io_max_bytes_per_second = 1.7976931348623157e308, .backoff_ms = 15000};
    cfg->log.min_cleanable_ratio = 0.5;
    cfg->log.min_compaction_lag_ms = 0;
    cfg->log.max_compaction_lag_ms = INT64_MAX;
    cfg->log.delete_retention_ms = 86400000; /* one day, as Kafka */
    copy_text(cfg->compression_type, sizeof(cfg->compression_type), "producer");
    cfg->min_insync_replicas = 1;
    cfg->offsets_topic_num_partitions = 50;
    cfg->offsets_topic_segment_bytes = 104857600;
    cfg->offsets_retention_ms = 10080 * MS_PER_MINUTE;  /* seven days, as Kafka */
    cfg->offsets_retention_check_interval_ms = 600000;
    cfg->offset_metadata_max_bytes = 4096;
    cfg->group_min_session_timeout_ms = 6000;
    cfg->group_max_session_timeout_ms = 1800000;
    cfg->group_initial_rebalance_delay_ms = 3000;
    cfg->group_max_size = LIMIT_GROUP_MEMBERS_MAX;
    copy_text(cfg->log_level, sizeof(cfg->log_level), "info");
    copy_text(cfg->admin_listener, sizeof(cfg->admin_listener), "127.0.0.1:9644");
    copy_text(cfg->admin_host, sizeof(cfg->admin_host), "127.0.0.1");
    cfg->admin_port = 9644;
    cfg->log_slow_request_ms = 1000;
    cfg->metrics_partition_series_max = 10000;
}

/* Strict base-10 parse: the whole string must be the number. */
static bool parse_int64(const char *s, int64_t *out) {
    if (*s == '\0' || isspace((unsigned char)*s)) return false;
    errno = 0;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0') return false;
    *out = (int64_t)v;
    return true;
}

static void store_int(struct broker_config *cfg, const struct key_spec *spec, int64_t v) {
    char *p = (char *)cfg + spec->offset;
    switch (spec->field) {
    case FIELD_I16: { int16_t x = (int16_t)v; memcpy(p, &x, sizeof(x)); break; }
    case FIELD_I32: { int32_t x = (int32_t)v; memcpy(p, &x, sizeof(x)); break; }
    case FIELD_I64: { memcpy(p, &v, sizeof(v)); break; }
    case FIELD_U32: { uint32_t x = (uint32_t)v; memcpy(p, &x, sizeof(x)); break; }
    case FIELD_U64: { uint64_t x = (uint64_t)v; memcpy(p, &x, sizeof(x)); break; }
    default: break;
    }
}

/* Returns the index of value in choices (case-insensitive), or -1. */
static int find_choice(const char *const *choices, const char *value) {
    for (int i = 0; choices[i]; i++)
        if (strcasecmp(choices[i], value) == 0) return i;
    return -1;
}

static void choices_text(const char *const *choices, char *buf, size_t size) {
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; choices[i] && used < size; i++) {
        int n = snprintf(buf + used, size - used, "%s%s", i ? "|" : "", choices[i]);
        if (n < 0) break;
        used += (size_t)n;
    }
}

static int refuse_choice(const struct key_spec *spec, const char *value, char *err, int err_len) {
    char list[256];
    choices_text(spec->choices, list, sizeof(list));
    set_err(err, err_len, "%s: expected one of %s, got \"%s\"", spec->key, list, value);
    return -1;
}

static int apply_int(struct broker_config *cfg, const struct key_spec *spec, const char *value, bool store,
                     char *err, int err_len) {
    int64_t v;
    bool ok = parse_int64(value, &v);
    if (ok && !(spec->minus_one && v == -1)) ok = v >= spec->min && v <= spec->max;
    if (!ok) {
        if (spec->minus_one)
            set_err(err, err_len, "%s: expected -1 (unlimited) or an integer between %" PRId64 " and %" PRId64
                    ", got \"%s\"", spec->key, spec->min, spec->max, value);
        else
            set_err(err, err_len, "%s: expected an integer between %" PRId64 " and %" PRId64 ", got \"%s\"",
                    spec->key, spec->min, spec->max, value);
        return -1;
    }
    /* Ranges are chosen so that the scaled value cannot overflow. */
    if (v != -1) v *= spec->scale;
    if (store) store_int(cfg, spec, v);
    return 0;
}

static int apply_spec(struct broker_config *cfg, const struct key_spec *spec, const char *value, bool store,
                      char *err, int err_len) {
    switch (spec->kind) {
    case KIND_INT:
        return apply_int(cfg, spec, value, store, err, err_len);
    case KIND_BOOL: {
        int i = find_choice(spec->choices, value);
        if (i < 0) return refuse_choice(spec, value, err, err_len);
        if (store) *(bool *)((char *)cfg + spec->offset) = (i == 0);
        return 0;
    }
    case KIND_CHOICE: {
        int i = find_choice(spec->choices, value);
        if (i < 0) return refuse_choice(spec, value, err, err_len);
        if (store) copy_text((char *)cfg + spec->offset, spec->size, spec->choices[i]);
        return 0;
    }
    case KIND_TEXT:
        if (strlen(value) >= spec->size) {
            set_err(err, err_len, "%s: value longer than %zu bytes", spec->key, spec->size - 1);
            return -1;
        }
        if (store) copy_text((char *)cfg + spec->offset, spec->size, value);
        return 0;
    case KIND_SPECIAL: {
        /* Specials validate into a scratch copy so a lower-ranked alias is still checked. */
        if (store) return spec->special(cfg, spec, value, err, err_len);
        struct broker_config *scratch = malloc(sizeof(*scratch));
        if (!scratch) {
            set_err(err, err_len, "%s: out of memory", spec->key);
            return -1;
        }
        *scratch = *cfg;
        int rc = spec->special(scratch, spec, value, err, err_len);
        free(scratch);
        return rc;
    }
    case KIND_IGNORED:
        return 0;
    }
    return 0;
}

/* Whitespace as Java's Properties and Kafka's parsers see it. */
static bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\f' || c == '\r' || c == '\n'; }

/* Copies s without surrounding whitespace into buf; false if it does not fit. */
static bool trim_into(const char *s, char *buf, size_t size) {
    while (is_blank(*s)) s++;
    size_t n = strlen(s);
    while (n > 0 && is_blank(s[n - 1])) n--;
    if (n >= size) return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return true;
}

int config_set(struct broker_config *cfg, const char *key_in, const char *value_in, char *err, int err_len) {
    char key[CONFIG_KEY_BYTES_MAX];
    char value[CONFIG_STRING_BYTES_MAX];
    if (!key_in || !trim_into(key_in, key, sizeof(key))) return 1;
    if (!value_in) value_in = "";
    if (!trim_into(value_in, value, sizeof(value))) {
        set_err(err, err_len, "%s: value longer than %d bytes", key, CONFIG_STRING_BYTES_MAX - 1);
        return -1;
    }
    const struct key_spec *spec = NULL;
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (strcmp(keys[i].key, key) == 0) {
            spec = &keys[i];
            break;
        }
    }
    if (!spec) return 1;
    if (spec->kind == KIND_IGNORED) {
        log_debug("config", "Kafka setting accepted but has no effect in gregor key=%s", key);
        return 0;
    }
    bool store = true;
    if (spec->alias != ALIAS_NONE) {
        uint8_t *rank = &cfg->alias_rank_[spec->alias];
        /* A less precise spelling never overrides a more precise one, but is still checked. */
        store = spec->rank >= *rank;
        if (!store) log_debug("config", "setting overridden by a more specific key key=%s", key);
    }
    if (apply_spec(cfg, spec, value, store, err, err_len) != 0) return -1;
    if (store && spec->alias != ALIAS_NONE) cfg->alias_rank_[spec->alias] = spec->rank;
    return 0;
}

/* ---- listeners ---- */

struct listener {
    char name[64];
    char host[256];
    int port;
};

static bool host_char_ok(char c) {
    return isalnum((unsigned char)c) || c == '.' || c == '-' || c == '_' || c == ':' || c == '%';
}

/* Parses the first entry of a listener list, "NAME://host:port[,...]".
 * IPv6 hosts are bracketed, as in Kafka: PLAINTEXT://[::1]:9092. */
static int parse_listener(const char *key, const char *list, struct listener *out, char *err, int err_len) {
    size_t len = strcspn(list, ",");
    char entry[CONFIG_STRING_BYTES_MAX];
    if (len >= sizeof(entry)) len = sizeof(entry) - 1;
    memcpy(entry, list, len);
    entry[len] = '\0';
    char trimmed[CONFIG_STRING_BYTES_MAX];
    trim_into(entry, trimmed, sizeof(trimmed));

    const char *sep = strstr(trimmed, "://");
    size_t name_len = sep ? (size_t)(sep - trimmed) : 0;
    if (!sep || name_len == 0 || name_len >= sizeof(out->name)) goto bad;
    for (size_t i = 0; i < name_len; i++)
        if (!isalnum((unsigned char)trimmed[i]) && trimmed[i] != '_') goto bad;
    memcpy(out->name, trimmed, name_len);
    out->name[name_len] = '\0';

    const char *hp = sep + 3;
    const char *host_start = hp, *host_end;
    const char *colon;
    if (*hp == '[') {
        host_start = hp + 1;
        host_end = strchr(host_start, ']');
        if (!host_end || host_end[1] != ':') goto bad;
        colon = host_end + 1;
    } else {
        colon = strrchr(hp, ':');
        if (!colon) goto bad;
        host_end = colon;
        for (const char *c = hp; c < colon; c++)
            if (*c == ':') goto bad; /* an unbracketed IPv6 address is ambiguous */
    }
    size_t host_len = (size_t)(host_end - host_start);
    if (host_len >= sizeof(out->host)) goto bad;
    for (size_t i = 0; i < host_len; i++)
        if (!host_char_ok(host_start[i])) goto bad;
    memcpy(out->host, host_start, host_len);
    out->host[host_len] = '\0';
    if (host_len == 0) copy_text(out->host, sizeof(out->host), "0.0.0.0");

    int64_t port;
    if (!parse_int64(colon + 1, &port) || port < 0 || port > 65535) goto bad;
    out->port = (int)port;

    /* The listener name only says which security protocol to use when it
     * is one of Kafka's protocol names; those other than PLAINTEXT need TLS
     * or SASL, which gregor does not speak. */
    if (strcasecmp(out->name, "SSL") == 0 || strncasecmp(out->name, "SASL_", 5) == 0) {
        set_err(err, err_len, "%s: only PLAINTEXT listeners are supported, got \"%s\"", key, trimmed);
        return -1;
    }
    return 0;
bad:
    set_err(err, err_len, "%s: expected NAME://host:port (e.g. PLAINTEXT://0.0.0.0:9092), got \"%s\"", key,
            trimmed);
    return -1;
}

static bool is_wildcard(const char *host) {
    return host[0] == '\0' || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0;
}

static int set_listeners(struct broker_config *cfg, const struct key_spec *spec, const char *value,
                         char *err, int err_len) {
    struct listener l;
    if (parse_listener(spec->key, value, &l, err, err_len) != 0) return -1;
    if (!copy_text(cfg->listeners, sizeof(cfg->listeners), value)) {
        set_err(err, err_len, "%s: value too long", spec->key);
        return -1;
    }
    return 0;
}

static int set_advertised(struct broker_config *cfg, const struct key_spec *spec, const char *value,
                          char *err, int err_len) {
    if (value[0] != '\0') {
        struct listener l;
        if (parse_listener(spec->key, value, &l, err, err_len) != 0) return -1;
        /* Clients would try to connect to the wildcard address; Kafka refuses it too. */
        if (is_wildcard(l.host)) {
            set_err(err, err_len, "%s: cannot advertise the wildcard address, got \"%s\"", spec->key, value);
            return -1;
        }
    }
    if (!copy_text(cfg->advertised_listeners, sizeof(cfg->advertised_listeners), value)) {
        set_err(err, err_len, "%s: value too long", spec->key);
        return -1;
    }
    return 0;
}

/* "host:port" (an IPv4 address or a host name, resolved by
 * net_listen_socket as for listeners; port 0 picks a free one), or empty
 * to turn the admin endpoints off. */
static int set_admin_listener(struct broker_config *cfg, const struct key_spec *spec, const char *value,
                              char *err, int err_len) {
    char text[CONFIG_STRING_BYTES_MAX];
    trim_into(value, text, sizeof(text));
    char host[256] = "";
    int64_t port = -1;
    if (text[0] != '\0') {
        const char *colon = strrchr(text, ':');
        size_t host_len = colon ? (size_t)(colon - text) : 0;
        bool ok = colon && host_len < sizeof(host) && parse_int64(colon + 1, &port) && port >= 0 && port <= 65535;
        for (size_t i = 0; ok && i < host_len; i++) ok = host_char_ok(text[i]) && text[i] != ':';
        if (!ok) {
            set_err(err, err_len, "%s: expected host:port (e.g. 127.0.0.1:9644) or empty, got \"%s\"", spec->key, value);
            return -1;
        }
        memcpy(host, text, host_len);
        host[host_len] = '\0';
        if (host_len == 0) copy_text(host, sizeof(host), "0.0.0.0");
    }
    copy_text(cfg->admin_listener, sizeof(cfg->admin_listener), text);
    copy_text(cfg->admin_host, sizeof(cfg->admin_host), host);
    cfg->admin_port = (int)port;
    return 0;
}

/* Only the first directory is used; the rest are reported, not silently dropped. */
static int set_log_dirs(struct broker_config *cfg, const struct key_spec *spec, const char *value,
                        char *err, int err_len) {
    size_t len = strcspn(value, ",");
    char first[CONFIG_STRING_BYTES_MAX];
    memcpy(first, value, len); /* value is shorter than CONFIG_STRING_BYTES_MAX */
    first[len] = '\0';
    char dir[CONFIG_STRING_BYTES_MAX];
    trim_into(first, dir, sizeof(dir));
    if (dir[0] == '\0') {
        set_err(err, err_len, "%s: expected a directory path, got \"%s\"", spec->key, value);
        return -1;
    }
    if (value[len] == ',')
        log_warn("config", "only the first log directory is used key=%s dir=%s ignored=%s", spec->key, dir,
                 value + len + 1);
    copy_text(cfg->log_dirs, sizeof(cfg->log_dirs), dir);
    return 0;
}

static int set_timestamp_type(struct broker_config *cfg, const struct key_spec *spec, const char *value,
                              char *err, int err_len) {
    int i = find_choice(spec->choices, value);
    if (i < 0) return refuse_choice(spec, value, err, err_len);
    cfg->log.log_append_time = (i == 1);
    return 0;
}

/* Kafka's list form: "delete", "compact" or both, comma separated. */
static int set_cleanup_policy(struct broker_config *cfg, const struct key_spec *spec, const char *value,
                              char *err, int err_len) {
    bool del = false, compact = false;
    const char *p = value;
    while (true) {
        size_t len = strcspn(p, ",");
        char item[CONFIG_STRING_BYTES_MAX], word[CONFIG_STRING_BYTES_MAX];
        memcpy(item, p, len);
        item[len] = '\0';
        trim_into(item, word, sizeof(word));
        if (strcasecmp(word, "delete") == 0) del = true;
        else if (strcasecmp(word, "compact") == 0) compact = true;
        else {
            set_err(err, err_len, "%s: expected delete, compact or delete,compact, got \"%s\"", spec->key, value);
            return -1;
        }
        if (p[len] != ',') break;
        p += len + 1;
    }
    const char *canon = del && compact ? "compact,delete" : del ? "delete" : "compact";
    copy_text(cfg->cleanup_policy, sizeof(cfg->cleanup_policy), canon);
    return 0;
}

/* Kafka's double settings: a finite decimal within [min, max]. */
static int parse_double_key(const struct key_spec *spec, const char *value, double min, double max, double *out,
                            char *err, int err_len) {
    errno = 0;
    char *end = NULL;
    double v = strtod(value, &end);
    if (errno || end == value || *end || !(v >= min && v <= max)) {
        set_err(err, err_len, "%s: expected a number between %g and %g, got \"%s\"", spec->key, min, max, value);
        return -1;
    }
    *out = v;
    return 0;
}

static int set_cleaner_ratio(struct broker_config *cfg, const struct key_spec *spec, const char *value,
                             char *err, int err_len) {
    return parse_double_key(spec, value, 0, 1, &cfg->log.min_cleanable_ratio, err, err_len);
}

static int set_cleaner_io_rate(struct broker_config *cfg, const struct key_spec *spec, const char *value,
                               char *err, int err_len) {
    return parse_double_key(spec, value, 1, 1.7976931348623157e308, &cfg->cleaner.io_max_bytes_per_second, err,
                            err_len);
}

/* ---- properties file ---- */

static bool is_line_blank(char c) { return c == ' ' || c == '\t' || c == '\f'; }

/* Encodes a \uXXXX code point; surrogate halves come out as three bytes
 * each, as Java's modified UTF-8 would write them. */
static size_t utf8_encode(uint32_t cp, unsigned char enc[3]) {
    if (cp < 0x80) {
        enc[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        enc[0] = (unsigned char)(0xC0 | (cp >> 6));
        enc[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    enc[0] = (unsigned char)(0xE0 | (cp >> 12));
    enc[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    enc[2] = (unsigned char)(0x80 | (cp & 0x3F));
    return 3;
}

/* Decodes Java properties escapes of raw[0..len) into out (size bytes).
 * Returns the decoded length, -1 when too long, -2 on a bad \uXXXX. */
static long unescape(const char *raw, size_t len, char *out, size_t size) {
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char enc[3] = {(unsigned char)raw[i], 0, 0};
        size_t n = 1;
        if (raw[i] == '\\') {
            if (++i >= len) break; /* a lone trailing backslash stands for nothing */
            char c = raw[i];
            enc[0] = c == 't' ? '\t' : c == 'n' ? '\n' : c == 'r' ? '\r' : c == 'f' ? '\f' : (unsigned char)c;
            if (c == 'u') {
                if (len - i - 1 < 4) return -2;
                uint32_t cp = 0;
                for (size_t k = 1; k <= 4; k++) {
                    char h = raw[i + k];
                    int d = isdigit((unsigned char)h) ? h - '0'
                            : (h >= 'a' && h <= 'f') ? h - 'a' + 10
                            : (h >= 'A' && h <= 'F') ? h - 'A' + 10 : -1;
                    if (d < 0) return -2;
                    cp = cp * 16 + (uint32_t)d;
                }
                i += 4;
                if (cp == 0) return -2; /* would cut the C string short */
                n = utf8_encode(cp, enc);
            }
        }
        if (o + n >= size) return -1;
        memcpy(out + o, enc, n);
        o += n;
    }
    out[o] = '\0';
    return (long)o;
}

/* True when the n bytes before `end` finish with an odd run of backslashes,
 * i.e. the character at `end` is escaped. */
static bool escaped_at(const char *start, const char *end) {
    size_t run = 0;
    while (end > start && end[-1] == '\\') {
        run++;
        end--;
    }
    return run % 2 == 1;
}

struct file_ctx {
    struct broker_config *cfg;
    const char *path;
    char *err;
    int err_len;
};

/* Splits one logical line into key and value the way java.util.Properties
 * does (the key ends at the first unescaped '=', ':' or blank), then applies it. */
static int apply_line(struct file_ctx *fc, const char *line, size_t len, int lineno) {
    size_t i = 0;
    while (i < len) {
        char c = line[i];
        if (c == '\\') { i += 2; continue; }
        if (c == '=' || c == ':' || is_line_blank(c)) break;
        i++;
    }
    if (i > len) i = len;
    size_t key_len = i;
    while (i < len && is_line_blank(line[i])) i++;
    if (i < len && (line[i] == '=' || line[i] == ':')) i++;
    while (i < len && is_line_blank(line[i])) i++;
    size_t vstart = i, vend = len;
    while (vend > vstart && is_line_blank(line[vend - 1]) && !escaped_at(line + vstart, line + vend - 1)) vend--;

    char key[CONFIG_KEY_BYTES_MAX];
    char value[CONFIG_STRING_BYTES_MAX];
    long kn = unescape(line, key_len, key, sizeof(key));
    if (kn == -2) {
        set_err(fc->err, fc->err_len, "%s:%d: malformed \\uXXXX escape in key", fc->path, lineno);
        return -1;
    }
    if (kn == -1) {
        log_warn("config", "unknown config key ignored key=(%zu bytes) file=%s line=%d", key_len, fc->path, lineno);
        return 0;
    }
    long vn = unescape(line + vstart, vend - vstart, value, sizeof(value));
    if (vn < 0) {
        set_err(fc->err, fc->err_len, "%s:%d: %s: %s", fc->path, lineno, key,
                vn == -2 ? "malformed \\uXXXX escape" : "value too long");
        return -1;
    }
    char msg[512];
    msg[0] = '\0';
    int rc = config_set(fc->cfg, key, value, msg, sizeof(msg));
    if (rc == 1) {
        log_warn("config", "unknown config key ignored key=%s file=%s line=%d", key, fc->path, lineno);
        return 0;
    }
    if (rc < 0) {
        set_err(fc->err, fc->err_len, "%s:%d: %s", fc->path, lineno, msg);
        return -1;
    }
    return 0;
}

/* Reads the whole file (bounded) into a NUL-terminated buffer sized from
 * fstat; a file that grows while read is cut at its size when opened. */
static char *read_file(const char *path, size_t *len_out, char *err, int err_len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        set_err(err, err_len, "%s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        set_err(err, err_len, "%s: not a regular file", path);
        fclose(f);
        return NULL;
    }
    if (st.st_size > CONFIG_FILE_BYTES_MAX) {
        set_err(err, err_len, "%s: larger than %d bytes, not a properties file?", path, CONFIG_FILE_BYTES_MAX);
        fclose(f);
        return NULL;
    }
    size_t size = (size_t)st.st_size;
    char *buf = malloc(size + 1);
    if (!buf) {
        fclose(f);
        set_err(err, err_len, "%s: out of memory", path);
        return NULL;
    }
    size_t n = fread(buf, 1, size, f);
    int read_errno = ferror(f) ? errno : 0;
    fclose(f);
    if (read_errno) {
        set_err(err, err_len, "%s: %s", path, strerror(read_errno));
        free(buf);
        return NULL;
    }
    if (memchr(buf, '\0', n)) {
        set_err(err, err_len, "%s: contains a NUL byte, not a properties file?", path);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len_out = n;
    return buf;
}

/* Gives the next natural line of [*pos, len): its start and length without
 * the terminator (\n, \r or \r\n). */
static bool next_line(const char *buf, size_t len, size_t *pos, const char **start, size_t *line_len) {
    if (*pos >= len) return false;
    size_t i = *pos;
    while (i < len && buf[i] != '\n' && buf[i] != '\r') i++;
    *start = buf + *pos;
    *line_len = i - *pos;
    if (i < len && buf[i] == '\r' && i + 1 < len && buf[i + 1] == '\n') i++;
    *pos = i + 1;
    return true;
}

int config_load_file(struct broker_config *cfg, const char *path, char *err, int err_len) {
    size_t len = 0;
    char *buf = read_file(path, &len, err, err_len);
    if (!buf) return -1;
    /* A logical line is never longer than the file. */
    char *logical = malloc(len + 1);
    if (!logical) {
        free(buf);
        set_err(err, err_len, "%s: out of memory", path);
        return -1;
    }
    struct file_ctx fc = {.cfg = cfg, .path = path, .err = err, .err_len = err_len};
    size_t pos = 0;
    int lineno = 0, rc = 0;
    const char *line;
    size_t line_len;
    while (rc == 0 && next_line(buf, len, &pos, &line, &line_len)) {
        lineno++;
        int first_line = lineno;
        size_t skip = 0;
        while (skip < line_len && is_line_blank(line[skip])) skip++;
        if (skip == line_len || line[skip] == '#' || line[skip] == '!') continue;
        size_t used = 0;
        line += skip;
        line_len -= skip;
        while (true) {
            bool more = escaped_at(line, line + line_len);
            size_t take = more ? line_len - 1 : line_len;
            memcpy(logical + used, line, take);
            used += take;
            if (!more || !next_line(buf, len, &pos, &line, &line_len)) break;
            lineno++;
            /* Continuation lines lose their leading blanks, as in Java. */
            while (line_len > 0 && is_line_blank(*line)) {
                line++;
                line_len--;
            }
        }
        rc = apply_line(&fc, logical, used, first_line);
    }
    free(logical);
    free(buf);
    return rc;
}

/* ---- finishing and reporting ---- */

int config_finish(struct broker_config *cfg, char *err, int err_len) {
    struct listener l;
    if (parse_listener("listeners", cfg->listeners, &l, err, err_len) != 0) return -1;
    copy_text(cfg->listen_host, sizeof(cfg->listen_host), l.host);
    cfg->listen_port = l.port;

    struct listener adv;
    if (cfg->advertised_listeners[0] != '\0') {
        if (parse_listener("advertised.listeners", cfg->advertised_listeners, &adv, err, err_len) != 0) return -1;
    } else {
        adv = l;
        /* Clients cannot connect to the wildcard address; localhost is right
         * for the common single-machine case, and advertised.listeners is
         * there for the rest. */
        if (is_wildcard(adv.host)) copy_text(adv.host, sizeof(adv.host), "localhost");
        bool v6 = strchr(adv.host, ':') != NULL;
        snprintf(cfg->advertised_listeners, sizeof(cfg->advertised_listeners), "%s://%s%s%s:%d", adv.name,
                 v6 ? "[" : "", adv.host, v6 ? "]" : "", adv.port);
    }
    copy_text(cfg->advertised_host, sizeof(cfg->advertised_host), adv.host);
    cfg->advertised_port = adv.port;

    if (cfg->log_dirs[0] == '\0') {
        set_err(err, err_len, "log.dirs: must not be empty");
        return -1;
    }
    /* Kafka accepts these combinations too, but they make every produce
     * fail, which is worth saying at start-up. */
    if (cfg->message_max_bytes > cfg->socket_request_max_bytes)
        log_warn("config", "message.max.bytes exceeds socket.request.max.bytes; the smaller bounds produce "
                 "message_max_bytes=%" PRId32 " socket_request_max_bytes=%" PRId32,
                 cfg->message_max_bytes, cfg->socket_request_max_bytes);
    if (cfg->min_insync_replicas > 1)
        log_warn("config", "min.insync.replicas above 1 on a single broker fails acks=all produce "
                 "min_insync_replicas=%" PRId32, cfg->min_insync_replicas);
    /* No session timeout could be valid: every JoinGroup would fail. */
    if (cfg->group_min_session_timeout_ms > cfg->group_max_session_timeout_ms) {
        set_err(err, err_len, "group.min.session.timeout.ms (%" PRId32 ") exceeds group.max.session.timeout.ms (%" PRId32 ")",
                cfg->group_min_session_timeout_ms, cfg->group_max_session_timeout_ms);
        return -1;
    }
    return 0;
}

enum log_level config_log_level(const struct broker_config *cfg) {
    int i = find_choice(level_choices, cfg->log_level);
    return i < 0 ? LOG_LEVEL_INFO : (enum log_level)i;
}

void config_log(const struct broker_config *cfg) {
    const struct log_config *lc = &cfg->log;
    log_info("config", "node.id=%" PRId32, cfg->node_id);
    log_info("config", "listeners=%s", cfg->listeners);
    log_info("config", "advertised.listeners=%s", cfg->advertised_listeners);
    log_info("config", "log.dirs=%s", cfg->log_dirs);
    log_info("config", "num.partitions=%" PRId32, cfg->num_partitions);
    log_info("config", "default.replication.factor=%d", (int)cfg->default_replication_factor);
    log_info("config", "auto.create.topics.enable=%s", cfg->auto_create_topics_enable ? "true" : "false");
    log_info("config", "log.segment.bytes=%" PRIu64, lc->segment_bytes);
    log_info("config", "log.roll.ms=%" PRId64, lc->segment_ms);
    log_info("config", "log.retention.ms=%" PRId64, lc->retention_ms);
    log_info("config", "log.retention.bytes=%" PRId64, lc->retention_bytes);
    log_info("config", "log.retention.check.interval.ms=%" PRId64, cfg->log_retention_check_interval_ms);
    log_info("config", "log.open.files.max=%" PRId32, cfg->log_open_files_max);
    log_info("config", "num.recovery.threads.per.data.dir=%" PRId32, cfg->recovery_threads);
    log_info("config", "num.network.threads=%" PRId32 "%s", cfg->network_threads,
             cfg->network_threads == 0 ? " (one per CPU)" : "");
    log_info("config", "log.flush.interval.messages=%" PRId64, lc->flush_interval_messages);
    log_info("config", "log.flush.interval.ms=%" PRId64, lc->flush_interval_ms);
    log_info("config", "log.index.interval.bytes=%" PRIu32, lc->index_interval_bytes);
    log_info("config", "log.message.timestamp.type=%s", lc->log_append_time ? "LogAppendTime" : "CreateTime");
    log_info("config", "message.max.bytes=%" PRId32, cfg->message_max_bytes);
    log_info("config", "socket.request.max.bytes=%" PRId32, cfg->socket_request_max_bytes);
    log_info("config", "max.connections=%" PRId32, cfg->max_connections);
    log_info("config", "connections.max.idle.ms=%" PRId64, cfg->connections_max_idle_ms);
    log_info("config", "log.cleanup.policy=%s", cfg->cleanup_policy);
    log_info("config", "log.cleaner.enable=%s threads=%d dedupe.buffer.size=%" PRId64 " io.max.bytes.per.second=%g "
             "backoff.ms=%" PRId64 " min.cleanable.ratio=%g delete.retention.ms=%" PRId64,
             cfg->cleaner.enable ? "true" : "false", cfg->cleaner.threads, cfg->cleaner.dedupe_buffer_bytes,
             cfg->cleaner.io_max_bytes_per_second, cfg->cleaner.backoff_ms, cfg->log.min_cleanable_ratio,
             cfg->log.delete_retention_ms);
    log_info("config", "compression.type=%s", cfg->compression_type);
    log_info("config", "min.insync.replicas=%" PRId32, cfg->min_insync_replicas);
    log_info("config", "offsets.topic.num.partitions=%" PRId32, cfg->offsets_topic_num_partitions);
    log_info("config", "offsets.retention.minutes=%" PRId64, cfg->offsets_retention_ms / MS_PER_MINUTE);
    log_info("config", "offsets.retention.check.interval.ms=%" PRId64, cfg->offsets_retention_check_interval_ms);
    log_info("config", "offset.metadata.max.bytes=%" PRId32, cfg->offset_metadata_max_bytes);
    log_info("config", "group.min.session.timeout.ms=%" PRId32, cfg->group_min_session_timeout_ms);
    log_info("config", "group.max.session.timeout.ms=%" PRId32, cfg->group_max_session_timeout_ms);
    log_info("config", "group.initial.rebalance.delay.ms=%" PRId32, cfg->group_initial_rebalance_delay_ms);
    log_info("config", "group.max.size=%" PRId32, cfg->group_max_size);
    log_info("config", "log.level=%s", cfg->log_level);
    log_info("config", "admin.listener=%s", cfg->admin_listener);
    log_info("config", "log.slow.request.ms=%" PRId64, cfg->log_slow_request_ms);
    log_info("config", "metrics.partition.series.max=%" PRId32, cfg->metrics_partition_series_max);
}
