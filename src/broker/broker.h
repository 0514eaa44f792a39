/*
 * The broker: topic and partition state, the metadata log that persists
 * it, and one handler per Kafka API. Everything here runs on the event
 * loop thread (see net/net.h), so no locks are taken.
 */
#ifndef GREGOR_BROKER_H
#define GREGOR_BROKER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include "net/net.h"
#include "protocol/wire.h"
#include "storage/log.h"

struct producer_state;
struct fetch_waiter_link;

/* Offsets of different meaning get different types so they cannot be
 * mixed by accident (a single-member struct costs nothing). */
struct partition {
    struct topic *topic;
    int32_t index;
    struct plog *log;
    struct producer_state *producers;
    int64_t high_watermark;         /* equal to the log end on one node */
    int32_t leader_epoch;
    int64_t last_snapshot_offset;   /* newest producer-state snapshot on disk, or -1 */
    bool producers_expired;         /* producers expired since that snapshot: it is stale even at the log end */
    uint64_t bytes_since_snapshot;
    struct fetch_waiter_link *waiters; /* long-polling fetches watching this partition */
};

/* A topic-level setting that overrides the broker default; NULL value
 * means "not set". Stored as text, validated on the way in. */
#define TOPIC_CONFIG_KEYS_MAX 16

struct topic_config {
    struct log_config log;          /* effective values used by the partition logs */
    char cleanup_policy[64];
    int32_t max_message_bytes;
    int32_t min_insync_replicas;
    char compression_type[32];
    char *overrides[TOPIC_CONFIG_KEYS_MAX];  /* indexed like topic_config_keys[]; malloc'd text or NULL */
};

/* Traffic counters for /metrics; bytes are whole record batches as
 * stored and as sent (fetch bytes leave by sendfile, uncounted in records). */
struct topic_traffic {
    uint64_t bytes_in;
    uint64_t records_in;
    uint64_t bytes_out;
};

struct topic {
    char *name;
    struct kuuid id;
    int32_t partition_count;
    struct partition **partitions;
    struct topic_config config;
    bool internal;
    struct topic_traffic traffic;
    struct topic *next_in_bucket;     /* by name */
    struct topic *next_in_id_bucket;  /* by topic id */
};

struct broker;

struct broker *broker_create(const struct broker_config *cfg);
int broker_run(struct broker *b);
void broker_stop(struct broker *b);       /* async-signal-safe */
void broker_destroy(struct broker *b);
int broker_port(const struct broker *b);

#endif
