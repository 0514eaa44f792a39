/*
 * The metadata log: cluster state (topics, partitions, configs, producer-id
 * blocks) as a log of records in Kafka's KRaft metadata format, stored as
 * an ordinary partition log in <data>/__cluster_metadata-0. Replayed at
 * start to rebuild the registry; the controller quorum will later
 * replicate this same log.
 *
 * Each record batch holds one record with a null key and a value of:
 *   uvarint frame_version (1) | uvarint api_key | uvarint record_version | record body
 * where the body is the record encoded by the generated codec
 * (TopicRecord = 2, PartitionRecord = 3, ConfigRecord = 4,
 * RemoveTopicRecord = 9, ProducerIdsRecord = 15), as Kafka writes them.
 *
 * Not yet: snapshots (<offset>-<epoch>.checkpoint). The log is small and
 * replayed whole; snapshots come with the controller quorum.
 */
#include "broker/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "protocol/batch_builder.h"
#include "protocol/record_batch.h"
#include "protocol/records.h"

#define METADATA_FRAME_VERSION 1
#define METADATA_SEGMENT_BYTES (64u * 1024 * 1024)

enum metadata_record_type {
    MREC_TOPIC = 2,
    MREC_PARTITION = 3,
    MREC_CONFIG = 4,
    MREC_REMOVE_TOPIC = 9,
    MREC_PRODUCER_IDS = 15,
};

/* Kafka's ConfigResource type for topics. */
#define CONFIG_RESOURCE_TOPIC 2

struct metadata_log {
    struct plog *log;
};

/* ------------------------------------------------------------------ writing */

/* Wraps one encoded metadata record (frame included) into a v2 batch and
 * appends it durably: the log's config fsyncs every append. */
static int mlog_append_value(struct broker *b, const uint8_t *value, size_t value_len) {
    struct batch_builder bb;
    int64_t now = net_wall_ms();
    batch_builder_init(&bb, METADATA_RECORD_BYTES_MAX * 2, now);
    int rc = batch_builder_add(&bb, NULL, -1, value, (int32_t)value_len) == 0 && batch_builder_finish(&bb) == 0
                 ? 0
                 : -EINVAL;
    if (rc == 0) {
        int64_t first = 0, append_time = 0;
        rc = plog_append(b->mlog->log, bb.ob.data, (uint32_t)bb.ob.len, 1, now, &first, &append_time);
        if (rc != 0) log_error("metadata", "cannot append to the metadata log error=%s", strerror(-rc));
    }
    batch_builder_free(&bb);
    return rc;
}

/* Encodes a record with its frame and appends it. */
#define MLOG_APPEND(b, type, api_key, version, rec)                                  \
    ({                                                                               \
        struct obuf mlog_ob_;                                                        \
        obuf_init(&mlog_ob_, METADATA_RECORD_BYTES_MAX);                             \
        kw_uvarint(&mlog_ob_, METADATA_FRAME_VERSION);                               \
        kw_uvarint(&mlog_ob_, (api_key));                                            \
        kw_uvarint(&mlog_ob_, (version));                                            \
        int mlog_rc_ = type##_encode((rec), &mlog_ob_, (version));                   \
        if (mlog_rc_ == 0 && !obuf_failed(&mlog_ob_))                                \
            mlog_rc_ = mlog_append_value((b), mlog_ob_.data, mlog_ob_.len);          \
        else                                                                         \
            mlog_rc_ = -EINVAL;                                                      \
        obuf_free(&mlog_ob_);                                                        \
        mlog_rc_;                                                                    \
    })

int mlog_append_topic(struct broker *b, const struct topic *t) {
    struct kafka_topic_record rec;
    kafka_topic_record_init(&rec);
    rec.name = kstr_c(t->name);
    rec.topic_id = t->id;
    return MLOG_APPEND(b, kafka_topic_record, MREC_TOPIC, 0, &rec);
}

int mlog_append_partitions(struct broker *b, const struct topic *t, int32_t from, int32_t to) {
    int32_t node = b->cfg.node_id;
    for (int32_t i = from; i < to; i++) {
        struct kafka_partition_record rec;
        kafka_partition_record_init(&rec);
        rec.partition_id = i;
        rec.topic_id = t->id;
        rec.replicas = &node;
        rec.replicas_count = 1;
        rec.isr = &node;
        rec.isr_count = 1;
        rec.leader = node;
        rec.leader_epoch = 0;
        rec.partition_epoch = 0;
        int rc = MLOG_APPEND(b, kafka_partition_record, MREC_PARTITION, 0, &rec);
        if (rc != 0) return rc;
    }
    return 0;
}

int mlog_append_config(struct broker *b, const struct topic *t, const char *key, const char *value) {
    struct kafka_config_record rec;
    kafka_config_record_init(&rec);
    rec.resource_type = CONFIG_RESOURCE_TOPIC;
    rec.resource_name = kstr_c(t->name);
    rec.name = kstr_c(key);
    rec.value = value ? kstr_c(value) : (struct kstr){NULL, -1};
    return MLOG_APPEND(b, kafka_config_record, MREC_CONFIG, 0, &rec);
}

int mlog_append_remove_topic(struct broker *b, const struct topic *t) {
    struct kafka_remove_topic_record rec;
    kafka_remove_topic_record_init(&rec);
    rec.topic_id = t->id;
    return MLOG_APPEND(b, kafka_remove_topic_record, MREC_REMOVE_TOPIC, 0, &rec);
}

int mlog_append_producer_ids(struct broker *b, int64_t next_block_start) {
    struct kafka_producer_ids_record rec;
    kafka_producer_ids_record_init(&rec);
    rec.broker_id = b->cfg.node_id;
    rec.broker_epoch = 0;
    rec.next_producer_id = next_block_start;
    return MLOG_APPEND(b, kafka_producer_ids_record, MREC_PRODUCER_IDS, 0, &rec);
}

/* ------------------------------------------------------------------ replay */

static void apply_value(struct broker *b, const uint8_t *value, int32_t len) {
    struct arena arena;
    arena_init(&arena, METADATA_RECORD_BYTES_MAX * 4);
    struct kreader r = {value, value + len, false};
    uint32_t frame = kr_uvarint(&r), api_key = kr_uvarint(&r), version = kr_uvarint(&r);
    if (r.err || frame != METADATA_FRAME_VERSION) {
        log_warn("metadata", "skipping record with unknown frame frame_version=%u", frame);
        arena_free(&arena);
        return;
    }
    int16_t v = (int16_t)version;
    switch (api_key) {
    case MREC_TOPIC: {
        struct kafka_topic_record rec;
        if (kafka_topic_record_decode(&rec, &r, v, &arena) != 0) break;
        char *name = kstr_dup(&arena, rec.name);
        if (name) topic_apply_record(b, name, &rec.topic_id);
        break;
    }
    case MREC_PARTITION: {
        struct kafka_partition_record rec;
        if (kafka_partition_record_decode(&rec, &r, v, &arena) != 0) break;
        topic_apply_partition(b, &rec.topic_id, rec.partition_id, rec.leader_epoch);
        break;
    }
    case MREC_CONFIG: {
        struct kafka_config_record rec;
        if (kafka_config_record_decode(&rec, &r, v, &arena) != 0) break;
        if (rec.resource_type != CONFIG_RESOURCE_TOPIC) break;
        struct topic *t = topic_find(b, rec.resource_name);
        char *key = kstr_dup(&arena, rec.name), *val = kstr_dup(&arena, rec.value);
        const char *why = NULL;
        if (t && key) topic_config_set(b, t, key, val, false, false, &why);
        break;
    }
    case MREC_REMOVE_TOPIC: {
        struct kafka_remove_topic_record rec;
        if (kafka_remove_topic_record_decode(&rec, &r, v, &arena) != 0) break;
        topic_apply_remove(b, &rec.topic_id);
        break;
    }
    case MREC_PRODUCER_IDS: {
        struct kafka_producer_ids_record rec;
        if (kafka_producer_ids_record_decode(&rec, &r, v, &arena) != 0) break;
        /* The reserved block is spent as far as a restart is concerned. */
        if (rec.next_producer_id > b->producer_id_block_end) {
            b->producer_id_block_end = rec.next_producer_id;
            b->next_producer_id = rec.next_producer_id;
        }
        break;
    }
    default:
        log_warn("metadata", "skipping unknown metadata record api_key=%u", api_key);
    }
    arena_free(&arena);
}

static int replay_batch(void *opaque, const uint8_t *batch, uint32_t len) {
    struct broker *b = opaque;
    struct rb_header h;
    if (rb_parse_header(batch, len, &h) != 0) return 0;
    if ((h.attributes & RB_ATTR_CODEC_MASK) != 0) {
        log_warn("metadata", "skipping compressed metadata batch offset=%lld", (long long)h.base_offset);
        return 0;
    }
    struct records_iter it;
    records_iter_init(&it, batch + RB_HEADER_BYTES, len - RB_HEADER_BYTES, h.record_count);
    struct record_view rec;
    while (records_next(&it, &rec) == 1)
        if (rec.value && rec.value_len > 0) apply_value(b, rec.value, rec.value_len);
    return 0;
}

int mlog_open(struct broker *b) {
    b->mlog = calloc(1, sizeof(*b->mlog));
    if (!b->mlog) return -1;
    char dir[PATH_MAX];
    int n = snprintf(dir, sizeof(dir), "%s/" METADATA_TOPIC_NAME "-0", b->data_dir);
    if (n < 0 || (size_t)n >= sizeof(dir)) return -1;
    struct log_config cfg = b->cfg.log;
    cfg.segment_bytes = METADATA_SEGMENT_BYTES;
    cfg.retention_ms = LOG_UNLIMITED;
    cfg.retention_bytes = LOG_UNLIMITED;
    cfg.flush_interval_messages = 1;   /* every change is durable before it is acknowledged */
    cfg.log_append_time = false;
    struct log_recovery_report report = {0};
    int rc = plog_open(dir, &cfg, &b->mlog->log, &report);
    if (rc != 0) {
        log_error("metadata", "cannot open the metadata log dir=%s error=%s", dir, strerror(-rc));
        return -1;
    }
    rc = plog_scan(b->mlog->log, 0, replay_batch, b);
    if (rc < 0) {
        log_error("metadata", "cannot replay the metadata log error=%s", strerror(-rc));
        return -1;
    }
    log_info("metadata", "metadata log replayed records_end_offset=%lld topics=%u",
             (long long)plog_end_offset(b->mlog->log), b->topic_count);
    return 0;
}

void mlog_close(struct broker *b) {
    if (!b->mlog) return;
    if (b->mlog->log) plog_close(b->mlog->log);
    free(b->mlog);
    b->mlog = NULL;
}
