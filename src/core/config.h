/*
 * Broker configuration: a Kafka-style properties file plus --override
 * key=value pairs, using Kafka's key names wherever Kafka has the setting.
 * Unknown keys are warned about; a bad value refuses start-up with a
 * message naming the key.
 */
#ifndef GREGOR_CONFIG_H
#define GREGOR_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "core/log.h"
#include "storage/cleaner.h"
#include "storage/log.h"

#define CONFIG_STRING_BYTES_MAX 1024

struct broker_config {
    int32_t node_id;                                  /* node.id */
    char listeners[CONFIG_STRING_BYTES_MAX];          /* listeners, e.g. PLAINTEXT://0.0.0.0:9092 */
    char listen_host[256];                            /* parsed from listeners */
    int listen_port;
    char advertised_listeners[CONFIG_STRING_BYTES_MAX]; /* advertised.listeners; empty = from listeners */
    char advertised_host[256];                        /* parsed; "localhost" when listening on 0.0.0.0 */
    int advertised_port;
    char log_dirs[CONFIG_STRING_BYTES_MAX];           /* log.dirs (first directory used) */
    int32_t num_partitions;                           /* num.partitions */
    int16_t default_replication_factor;               /* default.replication.factor */
    bool auto_create_topics_enable;                   /* auto.create.topics.enable */
    struct log_config log;                            /* log.segment.bytes, log.roll.ms, log.retention.ms,
                                                         log.retention.bytes, log.index.interval.bytes,
                                                         log.flush.interval.messages, log.flush.interval.ms,
                                                         log.message.timestamp.type */
    int64_t log_retention_check_interval_ms;          /* log.retention.check.interval.ms */
    int32_t log_open_files_max;                       /* log.open.files.max (gregor): segment descriptors kept open */
    int32_t recovery_threads;                         /* num.recovery.threads.per.data.dir: start-up read-ahead and summary-check threads */
    int32_t network_threads;                          /* num.network.threads: event loops; 0 = one per CPU */
    int32_t message_max_bytes;                        /* message.max.bytes */
    int32_t socket_request_max_bytes;                 /* socket.request.max.bytes */
    int32_t max_connections;                          /* max.connections */
    int64_t connections_max_idle_ms;                  /* connections.max.idle.ms */
    char cleanup_policy[64];                          /* log.cleanup.policy */
    struct cleaner_config cleaner;                    /* log.cleaner.enable, .threads, .dedupe.buffer.size,
                                                         .io.max.bytes.per.second, .backoff.ms; the per-log
                                                         ones are in log (min.cleanable.ratio...) */
    char compression_type[32];                        /* compression.type */
    int32_t min_insync_replicas;                      /* min.insync.replicas */
    int32_t offsets_topic_num_partitions;             /* offsets.topic.num.partitions */
    int32_t offsets_topic_segment_bytes;              /* offsets.topic.segment.bytes */
    int64_t offsets_retention_ms;                     /* offsets.retention.minutes, in ms */
    int64_t offsets_retention_check_interval_ms;      /* offsets.retention.check.interval.ms */
    int32_t offset_metadata_max_bytes;                /* offset.metadata.max.bytes */
    int32_t group_min_session_timeout_ms;             /* group.min.session.timeout.ms */
    int32_t group_max_session_timeout_ms;             /* group.max.session.timeout.ms */
    int32_t group_initial_rebalance_delay_ms;         /* group.initial.rebalance.delay.ms */
    int32_t group_max_size;                           /* group.max.size (capped by LIMIT_GROUP_MEMBERS_MAX) */
    char log_level[16];                               /* log.level (gregor): debug|info|warn|error */
    char admin_listener[CONFIG_STRING_BYTES_MAX];     /* admin.listener (gregor): host:port of the HTTP
                                                         admin endpoints; empty disables them */
    char admin_host[256];                             /* parsed from admin.listener */
    int admin_port;
    int64_t log_slow_request_ms;                      /* log.slow.request.ms (gregor): -1 off, 0 every request */
    int32_t metrics_partition_series_max;             /* metrics.partition.series.max (gregor) */
    /* Private to config.c: for settings with several spellings (log.retention.ms
     * over .minutes over .hours, log.dirs over log.dir, node.id over broker.id),
     * the rank of the spelling that set the value, so that precedence follows
     * Kafka's rule rather than the order of the lines. */
    uint8_t alias_rank_[4];
};

/* Kafka's defaults (with log.dirs=./data and listeners on 9092). */
void config_defaults(struct broker_config *cfg);
/* Applies one key=value; returns 0, 1 for an unknown key (warned by the
 * caller), or -1 for a bad value with a message in err. */
int config_set(struct broker_config *cfg, const char *key, const char *value, char *err, int err_len);
/* Loads a properties file (# and ! comments, key=value or key: value,
 * backslash line continuation). Returns 0 or -1 with a message in err. */
int config_load_file(struct broker_config *cfg, const char *path, char *err, int err_len);
/* Checks cross-key rules and derives parsed fields (listen host/port...). */
int config_finish(struct broker_config *cfg, char *err, int err_len);
/* Prints the effective configuration, one key=value per line, via the log. */
void config_log(const struct broker_config *cfg);
/* log.level as the logger's enum, for log_set_level() after config_finish. */
enum log_level config_log_level(const struct broker_config *cfg);

#endif
