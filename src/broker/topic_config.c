/*
 * Topic-level configuration: the keys a topic may override, how each is
 * checked, and how overrides combine with the broker's defaults into the
 * settings the partition logs run with.
 */
#include "broker/internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

static int parse_long(const char *v, int64_t min, int64_t max, int64_t *out) {
    if (!v || !*v) return -1;
    errno = 0;
    char *end;
    long long x = strtoll(v, &end, 10);
    if (errno || *end || x < min || x > max) return -1;
    *out = x;
    return 0;
}

static int check_long_min(const char *v, int64_t min, const char **why, const char *msg) {
    int64_t x;
    if (parse_long(v, min, INT64_MAX, &x) != 0) {
        *why = msg;
        return -1;
    }
    return 0;
}

static int check_int_min(const char *v, int64_t min, const char **why, const char *msg) {
    int64_t x;
    if (parse_long(v, min, INT32_MAX, &x) != 0) {
        *why = msg;
        return -1;
    }
    return 0;
}

static int v_cleanup_policy(const char *v, const char **why) {
    static const char *const ok[] = {"delete", "compact", "compact,delete", "delete,compact"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (strcmp(v, ok[i]) == 0) return 0;
    *why = "cleanup.policy must be delete, compact or compact,delete";
    return -1;
}
static int v_retention_ms(const char *v, const char **why) {
    return check_long_min(v, -1, why, "retention.ms must be an integer >= -1");
}
static int v_retention_bytes(const char *v, const char **why) {
    return check_long_min(v, -1, why, "retention.bytes must be an integer >= -1");
}
static int v_segment_bytes(const char *v, const char **why) {
    return check_int_min(v, 14, why, "segment.bytes must be an integer between 14 and 2147483647");
}
static int v_segment_ms(const char *v, const char **why) {
    return check_long_min(v, 1, why, "segment.ms must be an integer >= 1");
}
static int v_max_message_bytes(const char *v, const char **why) {
    return check_int_min(v, 0, why, "max.message.bytes must be an integer between 0 and 2147483647");
}
static int v_timestamp_type(const char *v, const char **why) {
    if (strcmp(v, "CreateTime") == 0 || strcmp(v, "LogAppendTime") == 0) return 0;
    *why = "message.timestamp.type must be CreateTime or LogAppendTime";
    return -1;
}
static int v_min_insync(const char *v, const char **why) {
    return check_int_min(v, 1, why, "min.insync.replicas must be an integer >= 1");
}
static int v_compression(const char *v, const char **why) {
    static const char *const ok[] = {"uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (strcmp(v, ok[i]) == 0) return 0;
    *why = "compression.type must be uncompressed, zstd, lz4, snappy, gzip or producer";
    return -1;
}
static int v_flush_messages(const char *v, const char **why) {
    return check_long_min(v, 1, why, "flush.messages must be an integer >= 1");
}
static int v_flush_ms(const char *v, const char **why) {
    return check_long_min(v, 0, why, "flush.ms must be an integer >= 0");
}
static int v_index_interval(const char *v, const char **why) {
    return check_int_min(v, 0, why, "index.interval.bytes must be an integer >= 0");
}

static int v_dirty_ratio(const char *v, const char **why) {
    char *end;
    errno = 0;
    double x = v && *v ? strtod(v, &end) : -1;
    if (!v || !*v || errno || *end || !(x >= 0 && x <= 1)) {
        *why = "min.cleanable.dirty.ratio must be a number between 0 and 1";
        return -1;
    }
    return 0;
}
static int v_min_lag(const char *v, const char **why) {
    return check_long_min(v, 0, why, "min.compaction.lag.ms must be an integer >= 0");
}
static int v_max_lag(const char *v, const char **why) {
    return check_long_min(v, 1, why, "max.compaction.lag.ms must be an integer >= 1");
}
static int v_delete_retention(const char *v, const char **why) {
    return check_long_min(v, 0, why, "delete.retention.ms must be an integer >= 0");
}

const struct topic_config_key topic_config_keys[] = {
    {"cleanup.policy", "log.cleanup.policy", v_cleanup_policy},
    {"compression.type", "compression.type", v_compression},
    {"delete.retention.ms", "log.cleaner.delete.retention.ms", v_delete_retention},
    {"flush.messages", "log.flush.interval.messages", v_flush_messages},
    {"flush.ms", "log.flush.interval.ms", v_flush_ms},
    {"index.interval.bytes", "log.index.interval.bytes", v_index_interval},
    {"max.compaction.lag.ms", "log.cleaner.max.compaction.lag.ms", v_max_lag},
    {"max.message.bytes", "message.max.bytes", v_max_message_bytes},
    {"message.timestamp.type", "log.message.timestamp.type", v_timestamp_type},
    {"min.cleanable.dirty.ratio", "log.cleaner.min.cleanable.ratio", v_dirty_ratio},
    {"min.compaction.lag.ms", "log.cleaner.min.compaction.lag.ms", v_min_lag},
    {"min.insync.replicas", "min.insync.replicas", v_min_insync},
    {"retention.bytes", "log.retention.bytes", v_retention_bytes},
    {"retention.ms", "log.retention.ms", v_retention_ms},
    {"segment.bytes", "log.segment.bytes", v_segment_bytes},
    {"segment.ms", "log.roll.ms", v_segment_ms},
};
const size_t topic_config_key_count = sizeof(topic_config_keys) / sizeof(topic_config_keys[0]);
_Static_assert(sizeof(topic_config_keys) / sizeof(topic_config_keys[0]) <= TOPIC_CONFIG_KEYS_MAX,
               "struct topic_config.overrides must hold every key");

int topic_config_index(const char *name) {
    for (size_t i = 0; i < topic_config_key_count; i++)
        if (strcmp(topic_config_keys[i].name, name) == 0) return (int)i;
    return -1;
}

const char *broker_config_default_text(const struct broker *b, const char *key, char *buf, size_t len) {
    const struct broker_config *c = &b->cfg;
    if (strcmp(key, "log.cleanup.policy") == 0) snprintf(buf, len, "%s", c->cleanup_policy);
    else if (strcmp(key, "compression.type") == 0) snprintf(buf, len, "%s", c->compression_type);
    else if (strcmp(key, "log.flush.interval.messages") == 0) snprintf(buf, len, "%" PRId64, c->log.flush_interval_messages);
    else if (strcmp(key, "log.flush.interval.ms") == 0) snprintf(buf, len, "%" PRId64, c->log.flush_interval_ms);
    else if (strcmp(key, "log.index.interval.bytes") == 0) snprintf(buf, len, "%u", c->log.index_interval_bytes);
    else if (strcmp(key, "message.max.bytes") == 0) snprintf(buf, len, "%d", c->message_max_bytes);
    else if (strcmp(key, "log.message.timestamp.type") == 0)
        snprintf(buf, len, "%s", c->log.log_append_time ? "LogAppendTime" : "CreateTime");
    else if (strcmp(key, "min.insync.replicas") == 0) snprintf(buf, len, "%d", c->min_insync_replicas);
    else if (strcmp(key, "log.retention.bytes") == 0) snprintf(buf, len, "%" PRId64, c->log.retention_bytes);
    else if (strcmp(key, "log.retention.ms") == 0) snprintf(buf, len, "%" PRId64, c->log.retention_ms);
    else if (strcmp(key, "log.segment.bytes") == 0) snprintf(buf, len, "%" PRIu64, c->log.segment_bytes);
    else if (strcmp(key, "log.roll.ms") == 0) snprintf(buf, len, "%" PRId64, c->log.segment_ms);
    else if (strcmp(key, "log.cleaner.delete.retention.ms") == 0) snprintf(buf, len, "%" PRId64, c->log.delete_retention_ms);
    else if (strcmp(key, "log.cleaner.max.compaction.lag.ms") == 0) snprintf(buf, len, "%" PRId64, c->log.max_compaction_lag_ms);
    else if (strcmp(key, "log.cleaner.min.compaction.lag.ms") == 0) snprintf(buf, len, "%" PRId64, c->log.min_compaction_lag_ms);
    else if (strcmp(key, "log.cleaner.min.cleanable.ratio") == 0) snprintf(buf, len, "%g", c->log.min_cleanable_ratio);
    else return NULL;
    return buf;
}

void topic_config_value(const struct broker *b, const struct topic *t, size_t i, char *buf, size_t len) {
    if (t->config.overrides[i]) snprintf(buf, len, "%s", t->config.overrides[i]);
    else if (!broker_config_default_text(b, topic_config_keys[i].broker_key, buf, len)) buf[0] = 0;
}

void topic_config_apply(struct broker *b, struct topic *t) {
    struct topic_config *tc = &t->config;
    tc->log = b->cfg.log;
    snprintf(tc->cleanup_policy, sizeof(tc->cleanup_policy), "%s", b->cfg.cleanup_policy);
    snprintf(tc->compression_type, sizeof(tc->compression_type), "%s", b->cfg.compression_type);
    tc->max_message_bytes = b->cfg.message_max_bytes;
    tc->min_insync_replicas = b->cfg.min_insync_replicas;
    for (size_t i = 0; i < topic_config_key_count; i++) {
        const char *v = tc->overrides[i];
        if (!v) continue;
        const char *k = topic_config_keys[i].name;
        int64_t x = 0;
        parse_long(v, INT64_MIN, INT64_MAX, &x);
        if (strcmp(k, "cleanup.policy") == 0) snprintf(tc->cleanup_policy, sizeof(tc->cleanup_policy), "%s", v);
        else if (strcmp(k, "compression.type") == 0) snprintf(tc->compression_type, sizeof(tc->compression_type), "%s", v);
        else if (strcmp(k, "flush.messages") == 0) tc->log.flush_interval_messages = x;
        else if (strcmp(k, "flush.ms") == 0) tc->log.flush_interval_ms = x;
        else if (strcmp(k, "index.interval.bytes") == 0) tc->log.index_interval_bytes = (uint32_t)x;
        else if (strcmp(k, "max.message.bytes") == 0) tc->max_message_bytes = (int32_t)x;
        else if (strcmp(k, "message.timestamp.type") == 0) tc->log.log_append_time = strcmp(v, "LogAppendTime") == 0;
        else if (strcmp(k, "min.insync.replicas") == 0) tc->min_insync_replicas = (int32_t)x;
        else if (strcmp(k, "retention.bytes") == 0) tc->log.retention_bytes = x;
        else if (strcmp(k, "retention.ms") == 0) tc->log.retention_ms = x;
        else if (strcmp(k, "segment.bytes") == 0) tc->log.segment_bytes = (uint64_t)x;
        else if (strcmp(k, "segment.ms") == 0) tc->log.segment_ms = x;
        else if (strcmp(k, "delete.retention.ms") == 0) tc->log.delete_retention_ms = x;
        else if (strcmp(k, "max.compaction.lag.ms") == 0) tc->log.max_compaction_lag_ms = x;
        else if (strcmp(k, "min.compaction.lag.ms") == 0) tc->log.min_compaction_lag_ms = x;
        else if (strcmp(k, "min.cleanable.dirty.ratio") == 0) tc->log.min_cleanable_ratio = strtod(v, NULL);
    }
    tc->log.compact = strstr(tc->cleanup_policy, "compact") != NULL;
    /* Retention deletes only where the policy says "delete": a compacted
     * topic (such as __consumer_offsets) keeps every key's latest value. */
    if (!strstr(tc->cleanup_policy, "delete")) {
        tc->log.retention_ms = LOG_UNLIMITED;
        tc->log.retention_bytes = LOG_UNLIMITED;
    }
    for (int32_t i = 0; i < t->partition_count; i++)
        if (t->partitions[i] && t->partitions[i]->log) plog_set_config(t->partitions[i]->log, &tc->log);
}

int16_t topic_config_set(struct broker *b, struct topic *t, const char *key, const char *value,
                         bool validate_only, bool persist, const char **why) {
    int idx = topic_config_index(key);
    if (idx < 0) {
        *why = "Unknown topic config name";
        return KAFKA_ERR_INVALID_CONFIG;
    }
    if (value && topic_config_keys[idx].validate(value, why) != 0) return KAFKA_ERR_INVALID_CONFIG;
    if (validate_only) return KAFKA_ERR_NONE;
    if (persist && mlog_append_config(b, t, key, value) != 0) {
        *why = "Cannot write the metadata log";
        return KAFKA_ERR_KAFKA_STORAGE_ERROR;
    }
    char *copy = NULL;
    if (value && !(copy = strdup(value))) return KAFKA_ERR_UNKNOWN_SERVER_ERROR;
    free(t->config.overrides[idx]);
    t->config.overrides[idx] = copy;
    topic_config_apply(b, t);
    return KAFKA_ERR_NONE;
}
