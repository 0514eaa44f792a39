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
 * Snapshots (see below) bound the replay at start.
 */
#include "broker/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "protocol/batch_builder.h"
#include "protocol/record_batch.h"
#include "protocol/records.h"
#include "storage/fileio.h"

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
    char dir[PATH_MAX];
    int64_t snapshot_offset;          /* log end offset of the newest snapshot */
    uint32_t appends_since_snapshot;
    bool in_txn;                      /* records collect in txn until mlog_commit */
    struct batch_builder txn;
};

/* A change made of many records (a topic with its partitions and configs)
 * goes to the log as one batch: one fsync, and all or nothing after a crash. */
#define METADATA_TXN_BYTES_MAX (64 * 1024 * 1024)

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
        if (rc == 0) b->mlog->appends_since_snapshot++;
        if (rc != 0) log_error("metadata", "cannot append to the metadata log error=%s", strerror(-rc));
    }
    batch_builder_free(&bb);
    return rc;
}

/*
 * Records go to a sink: the log (appended and fsynced one by one) or a
 * snapshot being written (batched into a file).
 */
struct mlog_sink {
    struct broker *b;
    struct snapshot_writer *snapshot;   /* NULL: append to the log */
};

static int snapshot_put(struct snapshot_writer *w, const uint8_t *value, size_t len);

static int sink_put(struct mlog_sink *s, struct obuf *frame) {
    if (obuf_failed(frame)) return -EINVAL;
    if (s->snapshot) return snapshot_put(s->snapshot, frame->data, frame->len);
    if (s->b->mlog->in_txn)
        return batch_builder_add(&s->b->mlog->txn, NULL, -1, frame->data, (int32_t)frame->len) == 0 ? 0 : -EMSGSIZE;
    return mlog_append_value(s->b, frame->data, frame->len);
}

/* Encodes a record with its frame and hands it to the sink. */
#define MLOG_EMIT(sink, type, api_key, version, rec)                                 \
    ({                                                                               \
        struct obuf mlog_ob_;                                                        \
        obuf_init(&mlog_ob_, METADATA_RECORD_BYTES_MAX);                             \
        kw_uvarint(&mlog_ob_, METADATA_FRAME_VERSION);                               \
        kw_uvarint(&mlog_ob_, (api_key));                                            \
        kw_uvarint(&mlog_ob_, (version));                                            \
        int mlog_rc_ = type##_encode((rec), &mlog_ob_, (version));                   \
        mlog_rc_ = mlog_rc_ == 0 ? sink_put((sink), &mlog_ob_) : -EINVAL;            \
        obuf_free(&mlog_ob_);                                                        \
        mlog_rc_;                                                                    \
    })

static int emit_topic(struct mlog_sink *sink, const struct topic *t) {
    struct kafka_topic_record rec;
    kafka_topic_record_init(&rec);
    rec.name = kstr_c(t->name);
    rec.topic_id = t->id;
    return MLOG_EMIT(sink, kafka_topic_record, MREC_TOPIC, 0, &rec);
}

static int emit_partitions(struct mlog_sink *sink, const struct topic *t, int32_t from, int32_t to) {
    int32_t node = sink->b->cfg.node_id;
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
        rec.leader_epoch = i < t->partition_count && t->partitions[i] ? t->partitions[i]->leader_epoch : 0;
        rec.partition_epoch = 0;
        int rc = MLOG_EMIT(sink, kafka_partition_record, MREC_PARTITION, 0, &rec);
        if (rc != 0) return rc;
    }
    return 0;
}

static int emit_config(struct mlog_sink *sink, const struct topic *t, const char *key, const char *value) {
    struct kafka_config_record rec;
    kafka_config_record_init(&rec);
    rec.resource_type = CONFIG_RESOURCE_TOPIC;
    rec.resource_name = kstr_c(t->name);
    rec.name = kstr_c(key);
    rec.value = value ? kstr_c(value) : (struct kstr){NULL, -1};
    return MLOG_EMIT(sink, kafka_config_record, MREC_CONFIG, 0, &rec);
}

static int emit_producer_ids(struct mlog_sink *sink, int64_t next_block_start) {
    struct kafka_producer_ids_record rec;
    kafka_producer_ids_record_init(&rec);
    rec.broker_id = sink->b->cfg.node_id;
    rec.broker_epoch = 0;
    rec.next_producer_id = next_block_start;
    return MLOG_EMIT(sink, kafka_producer_ids_record, MREC_PRODUCER_IDS, 0, &rec);
}

static void maybe_snapshot(struct broker *b);

int mlog_append_topic(struct broker *b, const struct topic *t) {
    struct mlog_sink sink = {b, NULL};
    return emit_topic(&sink, t);
}

int mlog_append_partitions(struct broker *b, const struct topic *t, int32_t from, int32_t to) {
    struct mlog_sink sink = {b, NULL};
    int rc = emit_partitions(&sink, t, from, to);
    maybe_snapshot(b);
    return rc;
}

int mlog_append_config(struct broker *b, const struct topic *t, const char *key, const char *value) {
    struct mlog_sink sink = {b, NULL};
    int rc = emit_config(&sink, t, key, value);
    maybe_snapshot(b);
    return rc;
}

int mlog_append_remove_topic(struct broker *b, const struct topic *t) {
    struct kafka_remove_topic_record rec;
    kafka_remove_topic_record_init(&rec);
    rec.topic_id = t->id;
    struct mlog_sink sink = {b, NULL};
    int rc = MLOG_EMIT(&sink, kafka_remove_topic_record, MREC_REMOVE_TOPIC, 0, &rec);
    maybe_snapshot(b);
    return rc;
}

int mlog_append_producer_ids(struct broker *b, int64_t next_block_start) {
    struct mlog_sink sink = {b, NULL};
    return emit_producer_ids(&sink, next_block_start);
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

/* ---------------------------------------------------------------- snapshots */
/*
 * A snapshot is the state the log describes up to one offset, written so
 * that a start need not replay the whole log, and so that old segments can
 * go. Like KRaft's, it is named "<20-digit end offset>-<10-digit epoch>.checkpoint"
 * in the log's directory and holds record batches:
 *   a control batch whose one record has key {int16 version 0, int16 type 3}
 *     and value SnapshotHeaderRecord {Version 0, LastContainedLogTimestamp};
 *   data batches of metadata records framed as in the log (TopicRecord,
 *     PartitionRecord, ConfigRecord, ProducerIdsRecord), base offsets
 *     counting records from 0;
 *   a control batch {version 0, type 4} with SnapshotFooterRecord {Version 0}.
 * A snapshot is valid only whole: every batch passes its CRC, the header
 * comes first and the footer last. It is written to a .tmp file, fsynced,
 * renamed and the directory fsynced. The two newest are kept; once the
 * log has more than one segment its start moves up to the older of them,
 * so a damaged newest one still has a fallback with the log after it.
 */
#define METADATA_SNAPSHOT_SUFFIX ".checkpoint"
#define METADATA_SNAPSHOTS_KEPT 2
/* A snapshot every this many appended changes bounds the replay at start. */
#define METADATA_SNAPSHOT_INTERVAL_APPENDS 4096
/* Data batches of a snapshot are cut at about this size. */
#define METADATA_SNAPSHOT_BATCH_BYTES (1024 * 1024)
/* A snapshot larger than this is refused at load (about 10 million records). */
#define METADATA_SNAPSHOT_BYTES_MAX (512L * 1024 * 1024)
#define CONTROL_TYPE_SNAPSHOT_HEADER 3
#define CONTROL_TYPE_SNAPSHOT_FOOTER 4

struct snapshot_writer {
    int fd;
    off_t written;
    int64_t records;
    struct batch_builder bb;
    bool failed;
};

/* Finishes the current batch (as a control batch if asked) and writes it. */
static int snapshot_flush(struct snapshot_writer *w, bool control) {
    if (w->bb.count == 0) return 0;
    if (batch_builder_finish(&w->bb) != 0) return -EINVAL;
    uint8_t *batch = w->bb.ob.data;
    uint32_t len = (uint32_t)w->bb.ob.len;
    rb_set_base_offset(batch, w->records);
    if (control) {
        rb_put_be16(batch + RB_OFF_ATTRIBUTES, RB_ATTR_CONTROL);
        rb_put_be32(batch + RB_OFF_CRC, rb_compute_crc(batch, len));
    }
    w->records += w->bb.count;
    int rc = fio_pwrite_full(w->fd, batch, len, w->written);
    w->written += len;
    int64_t ts = w->bb.timestamp_ms;
    batch_builder_free(&w->bb);
    batch_builder_init(&w->bb, METADATA_SNAPSHOT_BATCH_BYTES * 2, ts);
    return rc;
}

static int snapshot_put(struct snapshot_writer *w, const uint8_t *value, size_t len) {
    if (batch_builder_add(&w->bb, NULL, -1, value, (int32_t)len) != 0) return -EINVAL;
    if (w->bb.ob.len >= METADATA_SNAPSHOT_BATCH_BYTES) return snapshot_flush(w, false);
    return 0;
}

static int snapshot_control(struct snapshot_writer *w, int16_t type, int64_t timestamp) {
    uint8_t key[4];
    rb_put_be16(key, 0);
    rb_put_be16(key + 2, (uint16_t)type);
    struct obuf ob;
    obuf_init(&ob, METADATA_RECORD_BYTES_MAX);
    int rc;
    if (type == CONTROL_TYPE_SNAPSHOT_HEADER) {
        struct kafka_snapshot_header_record h;
        kafka_snapshot_header_record_init(&h);
        h.last_contained_log_timestamp = timestamp;
        rc = kafka_snapshot_header_record_encode(&h, &ob, 0);
    } else {
        struct kafka_snapshot_footer_record f;
        kafka_snapshot_footer_record_init(&f);
        rc = kafka_snapshot_footer_record_encode(&f, &ob, 0);
    }
    if (rc == 0 && !obuf_failed(&ob) && batch_builder_add(&w->bb, key, 4, ob.data, (int32_t)ob.len) == 0)
        rc = snapshot_flush(w, true);
    else
        rc = -EINVAL;
    obuf_free(&ob);
    return rc;
}

struct snapshot_emit {
    struct mlog_sink *sink;
    int rc;
};

static void snapshot_emit_topic(void *opaque, struct topic *t) {
    struct snapshot_emit *e = opaque;
    if (e->rc) return;
    e->rc = emit_topic(e->sink, t);
    if (!e->rc) e->rc = emit_partitions(e->sink, t, 0, t->partition_count);
    for (size_t i = 0; i < topic_config_key_count && !e->rc; i++)
        if (t->config.overrides[i]) e->rc = emit_config(e->sink, t, topic_config_keys[i].name, t->config.overrides[i]);
}

static int snapshot_path(const struct metadata_log *m, int64_t offset, const char *suffix, char *buf, size_t len) {
    int n = snprintf(buf, len, "%s/%020lld-%010d%s%s", m->dir, (long long)offset, 0, METADATA_SNAPSHOT_SUFFIX, suffix);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Offsets of the snapshots in the directory, newest first; returns how many (at most max). */
static int snapshot_list(const struct metadata_log *m, int64_t *offsets, int max) {
    DIR *d = opendir(m->dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        size_t suffix = strlen(METADATA_SNAPSHOT_SUFFIX);
        if (len != 20 + 1 + 10 + suffix || strcmp(e->d_name + len - suffix, METADATA_SNAPSHOT_SUFFIX) != 0) continue;
        char *end;
        long long off = strtoll(e->d_name, &end, 10);
        if (end != e->d_name + 20 || off < 0) continue;
        if (n < max) offsets[n++] = off;
        else if (off > offsets[n - 1]) offsets[n - 1] = off;
        for (int i = n - 1; i > 0 && offsets[i] > offsets[i - 1]; i--) {
            int64_t t = offsets[i];
            offsets[i] = offsets[i - 1];
            offsets[i - 1] = t;
        }
    }
    closedir(d);
    return n;
}

/* Writes a snapshot at the log end; keeps the newest ones and lets the log go below the oldest kept. */
static int mlog_snapshot(struct broker *b) {
    struct metadata_log *m = b->mlog;
    int64_t offset = plog_end_offset(m->log);
    if (offset == m->snapshot_offset) return 0;
    char path[PATH_MAX + 64], tmp[PATH_MAX + 64];
    if (snapshot_path(m, offset, "", path, sizeof(path)) != 0 || snapshot_path(m, offset, ".tmp", tmp, sizeof(tmp)) != 0)
        return -ENAMETOOLONG;
    struct snapshot_writer w = {.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)};
    if (w.fd < 0) return -errno;
    int64_t now = net_wall_ms();
    batch_builder_init(&w.bb, METADATA_SNAPSHOT_BATCH_BYTES * 2, now);
    struct mlog_sink sink = {b, &w};
    struct snapshot_emit e = {&sink, 0};
    e.rc = snapshot_control(&w, CONTROL_TYPE_SNAPSHOT_HEADER, now);
    if (!e.rc) topic_each(b, snapshot_emit_topic, &e);
    if (!e.rc && b->producer_id_block_end > 0) e.rc = emit_producer_ids(&sink, b->producer_id_block_end);
    if (!e.rc) e.rc = snapshot_flush(&w, false);
    if (!e.rc) e.rc = snapshot_control(&w, CONTROL_TYPE_SNAPSHOT_FOOTER, now);
    if (!e.rc) e.rc = fio_fsync(w.fd);
    batch_builder_free(&w.bb);
    close(w.fd);
    if (!e.rc && rename(tmp, path) != 0) e.rc = -errno;
    if (e.rc) {
        unlink(tmp);
        log_error("metadata", "cannot write a metadata snapshot offset=%lld error=%s", (long long)offset, strerror(-e.rc));
        return e.rc;
    }
    fio_fsync_parent(path);
    m->snapshot_offset = offset;
    m->appends_since_snapshot = 0;
    int64_t offsets[METADATA_SNAPSHOTS_KEPT + 8];
    int n = snapshot_list(m, offsets, (int)(sizeof(offsets) / sizeof(offsets[0])));
    for (int i = METADATA_SNAPSHOTS_KEPT; i < n; i++) {
        char old[PATH_MAX + 64];
        if (snapshot_path(m, offsets[i], "", old, sizeof(old)) == 0) unlink(old);
    }
    /* Moving the start frees space only once a whole segment lies below it;
     * until then keep the log whole, the last fallback if snapshots are damaged. */
    if (n >= METADATA_SNAPSHOTS_KEPT && plog_segment_count(m->log) > 1)
        plog_advance_start(m->log, offsets[METADATA_SNAPSHOTS_KEPT - 1]);
    log_info("metadata", "metadata snapshot written offset=%lld records=%lld", (long long)offset, (long long)w.records);
    return 0;
}

static void maybe_snapshot(struct broker *b) {
    if (!b->mlog->in_txn && b->mlog->appends_since_snapshot >= METADATA_SNAPSHOT_INTERVAL_APPENDS) mlog_snapshot(b);
}

void mlog_begin(struct broker *b) {
    struct metadata_log *m = b->mlog;
    batch_builder_init(&m->txn, METADATA_TXN_BYTES_MAX, net_wall_ms());
    m->in_txn = true;
}

void mlog_abort(struct broker *b) {
    struct metadata_log *m = b->mlog;
    if (!m->in_txn) return;
    batch_builder_free(&m->txn);
    m->in_txn = false;
}

int mlog_commit(struct broker *b) {
    struct metadata_log *m = b->mlog;
    if (!m->in_txn) return -EINVAL;
    m->in_txn = false;
    int rc = -EINVAL;
    if (m->txn.count == 0) {
        rc = 0;
    } else if (batch_builder_finish(&m->txn) == 0) {
        int64_t first = 0, append_time = 0;
        rc = plog_append(m->log, m->txn.ob.data, (uint32_t)m->txn.ob.len, 1, m->txn.timestamp_ms, &first,
                         &append_time);
        if (rc == 0) m->appends_since_snapshot++;
        else log_error("metadata", "cannot append to the metadata log error=%s", strerror(-rc));
    }
    batch_builder_free(&m->txn);
    if (rc == 0) maybe_snapshot(b);
    return rc;
}

/* Walks every batch of a snapshot image; with apply, applies its data
 * records. Returns 0 if the image is whole and valid. */
static int snapshot_walk(struct broker *b, const uint8_t *data, size_t len, bool apply) {
    size_t pos = 0;
    int batches = 0;
    bool footer = false;
    while (pos < len) {
        if (footer) return -1;  /* bytes after the footer */
        uint32_t n = 0;
        if (rb_validate(data + pos, len - pos, &n) != RB_OK) return -1;
        struct rb_header h;
        rb_parse_header(data + pos, n, &h);
        if ((h.attributes & RB_ATTR_CODEC_MASK) != 0) return -1;
        struct records_iter it;
        records_iter_init(&it, data + pos + RB_HEADER_BYTES, n - RB_HEADER_BYTES, h.record_count);
        struct record_view rec;
        int r;
        while ((r = records_next(&it, &rec)) == 1) {
            if (h.attributes & RB_ATTR_CONTROL) {
                if (rec.key_len < 4) return -1;
                uint16_t type = rb_be16(rec.key + 2);
                if (type == CONTROL_TYPE_SNAPSHOT_HEADER && batches != 0) return -1;
                if (type == CONTROL_TYPE_SNAPSHOT_FOOTER) footer = true;
            } else {
                if (batches == 0) return -1;  /* no header first */
                if (apply && rec.value && rec.value_len > 0) apply_value(b, rec.value, rec.value_len);
            }
        }
        if (r < 0) return -1;
        batches++;
        pos += n;
    }
    return footer ? 0 : -1;
}

static int snapshot_load(struct broker *b, int64_t offset) {
    char path[PATH_MAX + 64];
    if (snapshot_path(b->mlog, offset, "", path, sizeof(path)) != 0) return -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    struct stat st;
    uint8_t *data = NULL;
    int rc = -1;
    if (fstat(fd, &st) == 0 && st.st_size > 0 && st.st_size <= METADATA_SNAPSHOT_BYTES_MAX &&
        (data = malloc((size_t)st.st_size)) != NULL) {
        size_t size = (size_t)st.st_size;
        /* Validate the whole image before changing any state. */
        if (fio_pread_full(fd, data, size, 0) == 0 && snapshot_walk(b, data, size, false) == 0) {
            snapshot_walk(b, data, size, true);
            rc = 0;
        }
    }
    free(data);
    close(fd);
    if (rc != 0) log_warn("metadata", "ignoring a damaged metadata snapshot path=%s", path);
    return rc;
}

/* ------------------------------------------------------------- open/close */

int mlog_open(struct broker *b) {
    b->mlog = calloc(1, sizeof(*b->mlog));
    if (!b->mlog) return -1;
    struct metadata_log *m = b->mlog;
    int n = snprintf(m->dir, sizeof(m->dir), "%s/" METADATA_TOPIC_NAME "-0", b->data_dir);
    if (n < 0 || (size_t)n >= sizeof(m->dir)) return -1;
    struct log_config cfg = b->cfg.log;
    cfg.segment_bytes = METADATA_SEGMENT_BYTES;
    cfg.segment_ms = INT64_MAX;
    cfg.retention_ms = LOG_UNLIMITED;
    cfg.retention_bytes = LOG_UNLIMITED;
    cfg.flush_interval_messages = 1;   /* every change is durable before it is acknowledged */
    cfg.flush_interval_ms = INT64_MAX;
    cfg.log_append_time = false;
    struct log_recovery_report report = {0};
    int rc = plog_open(m->dir, &cfg, &m->log, &report);
    if (rc != 0) {
        log_error("metadata", "cannot open the metadata log dir=%s error=%s", m->dir, strerror(-rc));
        return -1;
    }
    int64_t offsets[METADATA_SNAPSHOTS_KEPT + 8];
    int count = snapshot_list(m, offsets, (int)(sizeof(offsets) / sizeof(offsets[0])));
    int64_t from = 0;
    for (int i = 0; i < count; i++) {
        if (offsets[i] > plog_end_offset(m->log) || offsets[i] < plog_start_offset(m->log)) continue;
        if (snapshot_load(b, offsets[i]) == 0) {
            from = m->snapshot_offset = offsets[i];
            break;
        }
    }
    if (from == 0 && plog_start_offset(m->log) > 0) {
        log_error("metadata", "no valid snapshot covers the metadata log start log_start_offset=%lld dir=%s",
                  (long long)plog_start_offset(m->log), m->dir);
        return -1;
    }
    rc = plog_scan(m->log, from, replay_batch, b);
    if (rc < 0) {
        log_error("metadata", "cannot replay the metadata log error=%s", strerror(-rc));
        return -1;
    }
    log_info("metadata", "metadata loaded snapshot_offset=%lld log_end_offset=%lld topics=%u", (long long)from,
             (long long)plog_end_offset(m->log), b->topic_count);
    return 0;
}

void mlog_checkpoint(struct broker *b) {
    if (b->mlog && b->mlog->log) mlog_snapshot(b);
}

void mlog_close(struct broker *b) {
    if (!b->mlog) return;
    if (b->mlog->log) plog_close(b->mlog->log);
    free(b->mlog);
    b->mlog = NULL;
}
