/*
 * Group state on disk: the internal topic __consumer_offsets, in Kafka's
 * own record format, so any tool that reads Kafka's offsets topic reads
 * ours. A group's records all go to partition
 *   abs(Java String.hashCode(group id)) % (partitions of the topic)
 * (Kafka's Utils.abs: Integer.MIN_VALUE maps to 0).
 *
 * Every record has a key and a value, each starting with a big-endian
 * int16 schema version, then the fields of that version of the schema in
 * kafka-reference/internal-records (classic encoding: int16-length
 * strings, int32-length bytes, int32 array counts; version 4 values are
 * the flexible encoding):
 *
 *   key version 0 or 1: OffsetCommitKey
 *       group string | topic string | partition int32
 *     value: OffsetCommitValue; we write version 3
 *       offset int64 | leaderEpoch int32 | metadata string | commitTimestamp int64
 *     or version 1 when the commit carried a retention time (v2-4 commits)
 *       offset int64 | metadata string | commitTimestamp int64 | expireTimestamp int64
 *   key version 2: GroupMetadataKey
 *       group string
 *     value: GroupMetadataValue; we write version 3
 *       protocolType string | generation int32 | protocol nullable string |
 *       leader nullable string | currentStateTimestamp int64 |
 *       members int32 count, each:
 *         memberId string | groupInstanceId nullable string | clientId string |
 *         clientHost string | rebalanceTimeout int32 | sessionTimeout int32 |
 *         subscription bytes | assignment bytes
 *   key version 3 and up: KIP-848 consumer-group records (skipped when read)
 *
 * A null value (tombstone) deletes the key: an offset (OffsetDelete,
 * expiry, DeleteGroups) or a group (DeleteGroups, expiry of an Empty
 * group). Records are appended in uncompressed v2 batches, one batch per
 * operation, so the records of one commit land (or not) together.
 *
 * Loading replays each partition from its start, in order; later records
 * win. The topic is compacted (src/storage/cleaner.c): superseded
 * commits and tombstoned keys go, so replay is bounded by the live keys
 * plus the dirty tail, and offsets may have gaps.
 */
#include "group/group_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "broker/internal.h"
#include "core/limits.h"
#include "core/log.h"
#include "protocol/batch_builder.h"
#include "protocol/record_batch.h"
#include "protocol/records.h"

/* Schema versions: keys as Kafka defines them, values as we write them. */
#define KEY_VERSION_OFFSET_V0 0
#define KEY_VERSION_OFFSET 1
#define KEY_VERSION_GROUP 2
#define VALUE_VERSION_OFFSET 3
#define VALUE_VERSION_OFFSET_EXPIRING 1
#define VALUE_VERSION_GROUP 3
/* Newest value versions we decode; newer ones only add tagged fields. */
#define VALUE_VERSION_OFFSET_MAX 4
#define VALUE_VERSION_GROUP_MAX 4


/* Scratch for decoding one record while loading (a group record may list
 * a thousand members with their metadata). */
#define LOAD_ARENA_BYTES (64 * 1024 * 1024)

/* Skipped records are counted; only the first few are logged one by one. */
#define LOAD_SKIPS_LOGGED_MAX 10

struct group_write {
    struct group_coordinator *c;
    struct group *g;
    struct partition *p;
    struct batch_builder bb;
    struct obuf key;
    struct obuf value;
    size_t limit;
    bool failed;
    bool out_of_memory;
};

/* ------------------------------------------------------------- the topic */

int16_t group_offsets_topic_ensure(struct group_coordinator *c) {
    struct broker *b = c->b;
    if (topic_find(b, kstr_c(GROUP_OFFSETS_TOPIC))) return KAFKA_ERR_NONE;
    /* Kafka's settings for the offsets topic: compacted, segments of
     * offsets.topic.segment.bytes (100 MiB by default). */
    char segment_bytes[16];
    snprintf(segment_bytes, sizeof(segment_bytes), "%d", b->cfg.offsets_topic_segment_bytes);
    const char *keys[] = {"cleanup.policy", "segment.bytes"};
    const char *values[] = {"compact", segment_bytes};
    struct topic_create_spec spec = {
        .name = GROUP_OFFSETS_TOPIC,
        .partitions = b->cfg.offsets_topic_num_partitions,
        .config_count = 2,
        .config_keys = keys,
        .config_values = values,
    };
    struct topic *t = NULL;
    const char *msg = NULL;
    int16_t err = topic_create(b, &spec, false, &t, &msg);
    if (err) {
        log_error("group", "cannot create " GROUP_OFFSETS_TOPIC " error=%d reason=\"%s\"", err, msg ? msg : "");
        return KAFKA_ERR_COORDINATOR_NOT_AVAILABLE;
    }
    return KAFKA_ERR_NONE;
}

static struct partition *group_partition(struct group_coordinator *c, struct kstr group_id, size_t *limit) {
    struct topic *t = topic_find(c->b, kstr_c(GROUP_OFFSETS_TOPIC));
    if (!t || t->partition_count <= 0) return NULL;
    struct partition *p = partition_find(t, group_partition_for(group_id, t->partition_count));
    if (!p || !p->log) return NULL;
    int32_t max = t->config.max_message_bytes > 0 ? t->config.max_message_bytes : c->b->cfg.message_max_bytes;
    *limit = (size_t)(max > RB_HEADER_BYTES ? max : RB_HEADER_BYTES);
    return p;
}

/* ---------------------------------------------------------------- writing */

struct group_write *group_write_begin(struct group_coordinator *c, struct group *g) {
    if (group_offsets_topic_ensure(c) != KAFKA_ERR_NONE) return NULL;
    size_t limit = 0;
    struct partition *p = group_partition(c, gstr_k(g->id), &limit);
    if (!p) {
        log_error("group", GROUP_OFFSETS_TOPIC " partition unavailable group=%s", g->id.ptr);
        return NULL;
    }
    struct group_write *w = calloc(1, sizeof(*w));
    if (!w) return NULL;
    w->c = c;
    w->g = g;
    w->p = p;
    w->limit = limit;
    batch_builder_init(&w->bb, limit, group_wall_ms());
    obuf_init(&w->key, limit);
    obuf_init(&w->value, limit);
    return w;
}

static void buf_reset(struct obuf *ob) {
    size_t limit = ob->limit;
    obuf_free(ob);
    obuf_init(ob, limit);
}

/* Adds the record held in w->key and w->value (or a tombstone). */
static int add_record(struct group_write *w, bool tombstone) {
    int rc = -1;
    if (!obuf_failed(&w->key) && !obuf_failed(&w->value) && w->key.len <= INT32_MAX && w->value.len <= INT32_MAX)
        rc = batch_builder_add(&w->bb, w->key.data, (int32_t)w->key.len, tombstone ? NULL : w->value.data,
                               tombstone ? -1 : (int32_t)w->value.len);
    buf_reset(&w->key);
    buf_reset(&w->value);
    if (rc != 0) w->failed = true;
    return rc;
}

static void put_offset_key(struct group_write *w, struct kstr topic, int32_t partition) {
    struct kafka_offset_commit_key k;
    kafka_offset_commit_key_init(&k);
    k.group = gstr_k(w->g->id);
    k.topic = topic;
    k.partition = partition;
    kw_i16(&w->key, KEY_VERSION_OFFSET);
    if (kafka_offset_commit_key_encode(&k, &w->key, KEY_VERSION_OFFSET) != 0) w->key.failed = true;
}

int group_write_offset(struct group_write *w, struct kstr topic, int32_t partition, const struct group_offset *o) {
    put_offset_key(w, topic, partition);
    struct kafka_offset_commit_value v;
    kafka_offset_commit_value_init(&v);
    v.offset = o->offset;
    v.leader_epoch = o->leader_epoch;
    v.metadata = (struct kstr){o->metadata ? o->metadata : "", o->metadata ? o->metadata_len : 0};
    v.commit_timestamp = o->commit_ms;
    v.expire_timestamp = o->expire_ms;
    int16_t version = o->expire_ms != -1 ? VALUE_VERSION_OFFSET_EXPIRING : VALUE_VERSION_OFFSET;
    kw_i16(&w->value, version);
    if (kafka_offset_commit_value_encode(&v, &w->value, version) != 0) w->value.failed = true;
    return add_record(w, false);
}

int group_write_offset_tombstone(struct group_write *w, struct kstr topic, int32_t partition) {
    put_offset_key(w, topic, partition);
    return add_record(w, true);
}

static void put_group_key(struct group_write *w) {
    struct kafka_group_metadata_key k;
    kafka_group_metadata_key_init(&k);
    k.group = gstr_k(w->g->id);
    kw_i16(&w->key, KEY_VERSION_GROUP);
    if (kafka_group_metadata_key_encode(&k, &w->key, KEY_VERSION_GROUP) != 0) w->key.failed = true;
}

int group_write_metadata(struct group_write *w) {
    const struct group *g = w->g;
    put_group_key(w);
    struct kafka_group_metadata_value v;
    kafka_group_metadata_value_init(&v);
    v.protocol_type = g->protocol_type.ptr ? gstr_k(g->protocol_type) : kstr_c("");
    v.generation = g->generation;
    v.protocol = gstr_k(g->protocol_name);
    v.leader = g->leader && g->member_count ? gstr_k(g->leader->id) : (struct kstr){NULL, -1};
    v.current_state_timestamp = g->state_ms;
    struct kafka_group_metadata_value_member_metadata *mm =
        calloc(g->member_count ? g->member_count : 1, sizeof(*mm));
    if (!mm) {
        buf_reset(&w->key);
        w->failed = true;
        w->out_of_memory = true;
        return -1;
    }
    int32_t i = 0;
    for (const struct group_member *m = g->head; m; m = m->next, i++) {
        kafka_group_metadata_value_member_metadata_init(&mm[i]);
        mm[i].member_id = gstr_k(m->id);
        mm[i].group_instance_id = gstr_k(m->instance_id);
        mm[i].client_id = m->client_id.ptr ? gstr_k(m->client_id) : kstr_c("");
        mm[i].client_host = m->client_host.ptr ? gstr_k(m->client_host) : kstr_c("");
        mm[i].rebalance_timeout = m->rebalance_timeout_ms;
        mm[i].session_timeout = m->session_timeout_ms;
        mm[i].subscription = group_member_metadata(m);
        mm[i].assignment = (struct kbytes){m->assignment ? m->assignment : (const uint8_t *)"", m->assignment_len};
    }
    v.members = mm;
    v.members_count = i;
    kw_i16(&w->value, VALUE_VERSION_GROUP);
    if (kafka_group_metadata_value_encode(&v, &w->value, VALUE_VERSION_GROUP) != 0) w->value.failed = true;
    free(mm);
    return add_record(w, false);
}

int16_t group_store(struct group_coordinator *c, struct group *g) {
    struct group_write *w = group_write_begin(c, g);
    if (!w) return KAFKA_ERR_COORDINATOR_NOT_AVAILABLE;
    group_write_metadata(w);  /* a failure is remembered in w and reported by commit */
    return group_write_commit(w);
}

int group_write_metadata_tombstone(struct group_write *w) {
    put_group_key(w);
    return add_record(w, true);
}

void group_write_abort(struct group_write *w) {
    if (!w) return;
    batch_builder_free(&w->bb);
    obuf_free(&w->key);
    obuf_free(&w->value);
    free(w);
}

int16_t group_write_commit(struct group_write *w) {
    int16_t err = KAFKA_ERR_NONE;
    if (w->failed) {
        /* A record that does not fit the topic's max.message.bytes (or
         * could not be encoded at all). */
        err = w->out_of_memory ? KAFKA_ERR_COORDINATOR_NOT_AVAILABLE : KAFKA_ERR_MESSAGE_TOO_LARGE;
    } else if (w->bb.count > 0) {
        if (batch_builder_finish(&w->bb) != 0) {
            err = KAFKA_ERR_MESSAGE_TOO_LARGE;
        } else {
            struct partition *p = w->p;
            int64_t first = 0, append_time = 0;
            uint32_t len = (uint32_t)w->bb.ob.len;
            int rc = plog_append(p->log, w->bb.ob.data, len, 1, group_wall_ms(), &first, &append_time);
            if (rc != 0) {
                log_error("group", "append to " GROUP_OFFSETS_TOPIC " failed partition=%d group=%s error=%s",
                          p->index, w->g->id.ptr, strerror(-rc));
                /* Kafka's answer when the log cannot take the write. */
                err = KAFKA_ERR_NOT_COORDINATOR;
            } else {
                p->high_watermark = plog_end_offset(p->log);
                fetch_notify(w->c->b, p, len);
            }
        }
    }
    group_write_abort(w);
    return err;
}

/* ---------------------------------------------------------------- loading */

struct load_stats {
    uint64_t records;
    uint64_t offsets;
    uint64_t group_records;
    uint64_t skipped;
};

struct load_ctx {
    struct group_coordinator *c;
    struct arena arena;
    struct load_stats stats;
    int32_t partition;
};

static void skip(struct load_ctx *lc, const char *why) {
    if (lc->stats.skipped++ < LOAD_SKIPS_LOGGED_MAX)
        log_warn("group", "skipping a record of " GROUP_OFFSETS_TOPIC " partition=%d reason=\"%s\"", lc->partition,
                 why);
}

static void load_offset(struct load_ctx *lc, struct kreader *key, int16_t key_version, const struct record_view *rec,
                        int64_t batch_ms) {
    struct group_coordinator *c = lc->c;
    struct kafka_offset_commit_key k;
    if (kafka_offset_commit_key_decode(&k, key, key_version, &lc->arena) != 0 || key->err)
        return skip(lc, "malformed offset key");
    struct group *g = group_find(c, k.group);
    if (!rec->value) {
        if (g) {
            group_offset_remove(c, g, k.topic, k.partition);
            if (!g->loaded_metadata && g->offset_count == 0) group_remove(c, g);
        }
        return;
    }
    struct kreader r;
    kreader_init(&r, rec->value, (size_t)rec->value_len);
    int16_t vv = kr_i16(&r);
    struct kafka_offset_commit_value v;
    if (r.err || vv < 0 ||
        kafka_offset_commit_value_decode(&v, &r, vv > VALUE_VERSION_OFFSET_MAX ? VALUE_VERSION_OFFSET_MAX : vv,
                                         &lc->arena) != 0 || r.err)
        return skip(lc, "malformed offset value");
    int16_t err;
    if (!g && !(g = group_get_or_create(c, k.group, &err))) return skip(lc, "group limit reached");
    if (!group_offset_find(g, k.topic, k.partition) &&
        (g->offset_count >= LIMIT_GROUP_OFFSETS_PER_GROUP_MAX || c->offset_count >= LIMIT_GROUP_OFFSETS_TOTAL_MAX))
        return skip(lc, "offset limit reached");
    int32_t mlen = v.metadata.len > 0 ? v.metadata.len : 0;
    struct group_offset o = {
        .partition = k.partition,
        .offset = v.offset,
        .leader_epoch = vv >= 3 ? v.leader_epoch : -1,
        .metadata = mlen ? (char *)v.metadata.ptr : (char *)"",
        .metadata_len = mlen,
        .commit_ms = v.commit_timestamp >= 0 ? v.commit_timestamp : batch_ms,
        .expire_ms = vv == VALUE_VERSION_OFFSET_EXPIRING ? v.expire_timestamp : -1,
    };
    if (group_offset_put(c, g, k.topic, &o) != 0) return skip(lc, "out of memory");
    lc->stats.offsets++;
}

static void forget_metadata(struct group_coordinator *c, struct group *g) {
    group_clear_members(c, g);
    gstr_clear(&g->protocol_type);
    gstr_clear(&g->protocol_name);
    g->generation = 0;
    g->loaded_metadata = false;
    g->state = GROUP_EMPTY;
}

static void load_group(struct load_ctx *lc, struct kreader *key, const struct record_view *rec, int64_t batch_ms) {
    struct group_coordinator *c = lc->c;
    struct kafka_group_metadata_key k;
    if (kafka_group_metadata_key_decode(&k, key, KEY_VERSION_GROUP, &lc->arena) != 0 || key->err)
        return skip(lc, "malformed group key");
    struct group *g = group_find(c, k.group);
    if (!rec->value) {
        if (g) {
            forget_metadata(c, g);
            if (g->offset_count == 0) group_remove(c, g);
        }
        return;
    }
    struct kreader r;
    kreader_init(&r, rec->value, (size_t)rec->value_len);
    int16_t vv = kr_i16(&r);
    struct kafka_group_metadata_value v;
    if (r.err || vv < 0 ||
        kafka_group_metadata_value_decode(&v, &r, vv > VALUE_VERSION_GROUP_MAX ? VALUE_VERSION_GROUP_MAX : vv,
                                          &lc->arena) != 0 || r.err)
        return skip(lc, "malformed group value");
    int16_t err;
    if (!g && !(g = group_get_or_create(c, k.group, &err))) return skip(lc, "group limit reached");
    forget_metadata(c, g);
    g->loaded_metadata = true;
    if (gstr_set(&g->protocol_type, v.protocol_type.len > 0 ? v.protocol_type : (struct kstr){NULL, -1}) != 0 ||
        gstr_set(&g->protocol_name, v.protocol) != 0)
        return skip(lc, "out of memory");
    g->generation = v.generation;
    for (int32_t i = 0; i < v.members_count; i++)
        if (group_member_restore(c, g, &v.members[i], v.protocol) != 0) skip(lc, "member not restored");
    if (g->member_count && !kstr_is_null(v.leader)) {
        struct group_member *leader = strmap_get(&g->members, v.leader.ptr, (size_t)v.leader.len);
        if (leader) g->leader = leader;
    }
    /* A stored generation with members was Stable when written (SyncGroup
     * stores it); without a protocol it cannot be, so it starts Empty. */
    if (g->member_count && g->protocol_name.ptr) {
        g->state = GROUP_STABLE;
    } else {
        group_clear_members(c, g);
        gstr_clear(&g->protocol_name);
        g->state = GROUP_EMPTY;
    }
    g->state_ms = vv >= 2 && v.current_state_timestamp >= 0 ? v.current_state_timestamp : batch_ms;
    lc->stats.group_records++;
}

static void load_record(struct load_ctx *lc, const struct record_view *rec, int64_t batch_ms) {
    lc->stats.records++;
    if (!rec->key || rec->key_len < 2) return skip(lc, "record without a readable key");
    struct kreader key;
    kreader_init(&key, rec->key, (size_t)rec->key_len);
    int16_t kv = kr_i16(&key);
    arena_reset(&lc->arena);
    if (kv == KEY_VERSION_OFFSET_V0 || kv == KEY_VERSION_OFFSET) load_offset(lc, &key, kv, rec, batch_ms);
    else if (kv == KEY_VERSION_GROUP) load_group(lc, &key, rec, batch_ms);
    /* Newer key versions belong to KIP-848 groups, which we do not serve. */
}

static int load_batch(void *opaque, const uint8_t *batch, uint32_t len) {
    struct load_ctx *lc = opaque;
    struct rb_header h;
    if (rb_parse_header(batch, len, &h) != 0) {
        skip(lc, "unreadable batch header");
        return 0;
    }
    if (h.attributes & RB_ATTR_CONTROL) return 0;          /* transaction markers */
    if (h.attributes & RB_ATTR_TRANSACTIONAL) {
        skip(lc, "transactional offset commit (not served yet)");
        return 0;
    }
    if ((h.attributes & RB_ATTR_CODEC_MASK) != RB_CODEC_NONE) {
        skip(lc, "compressed batch");
        return 0;
    }
    struct records_iter it;
    records_iter_init(&it, batch + RB_HEADER_BYTES, len - RB_HEADER_BYTES, h.record_count);
    struct record_view rec;
    int rc;
    while ((rc = records_next(&it, &rec)) == 1) load_record(lc, &rec, h.base_timestamp + rec.timestamp_delta);
    if (rc < 0) skip(lc, "malformed records in a batch");
    return 0;
}

int group_load_batch(struct group_coordinator *c, int32_t partition, const uint8_t *batch, uint32_t len) {
    struct load_ctx lc = {.c = c, .partition = partition};
    arena_init(&lc.arena, LOAD_ARENA_BYTES);
    c->loading = true;
    int rc = load_batch(&lc, batch, len);
    c->loading = false;
    arena_free(&lc.arena);
    return rc;
}

int group_load(struct group_coordinator *c) {
    struct topic *t = topic_find(c->b, kstr_c(GROUP_OFFSETS_TOPIC));
    if (!t) return 0;
    struct load_ctx lc = {.c = c};
    arena_init(&lc.arena, LOAD_ARENA_BYTES);
    for (int32_t i = 0; i < t->partition_count; i++) {
        struct partition *p = t->partitions[i];
        if (!p || !p->log) continue;
        lc.partition = i;
        int rc = plog_scan(p->log, plog_start_offset(p->log), load_batch, &lc);
        if (rc < 0) {
            log_error("group", "cannot read " GROUP_OFFSETS_TOPIC " partition=%d error=%s", i, strerror(-rc));
            arena_free(&lc.arena);
            return -1;
        }
    }
    arena_free(&lc.arena);
    /* Groups that a tombstone emptied and nothing refilled (collected
     * first: the registry must not change while walked). */
    uint32_t n = c->group_count, k = 0;
    struct group **drop = n ? malloc(sizeof(*drop) * n) : NULL;
    uint32_t pos = 0;
    void *v;
    while (drop && k < n && strmap_next(&c->groups, &pos, &v)) {
        struct group *g = v;
        if (g->member_count == 0 && g->offset_count == 0 && !g->protocol_type.ptr) drop[k++] = g;
    }
    for (uint32_t i = 0; i < k; i++) group_remove(c, drop[i]);
    free(drop);
    log_info("group", "groups loaded from " GROUP_OFFSETS_TOPIC " groups=%u offsets=%llu records=%llu skipped=%llu",
             c->group_count, (unsigned long long)c->offset_count, (unsigned long long)lc.stats.records,
             (unsigned long long)lc.stats.skipped);
    return 0;
}
