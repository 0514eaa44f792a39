/*
 * Committed offsets: OffsetCommit, OffsetFetch, OffsetDelete and offset
 * expiry, with Kafka's rules for who may commit:
 *   - a group that is not using group management (generation -1, no
 *     member id) may commit while it is Empty (a "simple" consumer or an
 *     admin tool resetting offsets);
 *   - otherwise the member and generation must be the group's current
 *     ones (UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID, ILLEGAL_GENERATION),
 *     and not while the group is completing a rebalance
 *     (REBALANCE_IN_PROGRESS).
 * A commit is acknowledged only once its records are appended to the
 * group's partition of __consumer_offsets; memory changes after that.
 *
 * Each group keeps its offsets per topic (a hash of topics), each topic a
 * sorted array of partitions.
 */
#include "group/group_internal.h"

#include <stdlib.h>

#include "broker/internal.h"
#include "core/limits.h"
#include "core/log.h"

#define CONSUMER_PROTOCOL_TYPE "consumer"

/* Growth of a topic's partition array: doubling from a small start. */
#define OFFSET_PARTS_INITIAL 4

/* ---------------------------------------------------------------- storage */

static struct group_offset_topic *topic_get(struct group *g, struct kstr topic) {
    if (kstr_is_null(topic)) return NULL;
    return strmap_get(&g->offset_topics, topic.ptr, (size_t)topic.len);
}

/* Index of partition in t, or where it would go (*found false). */
static uint32_t part_search(const struct group_offset_topic *t, int32_t partition, bool *found) {
    uint32_t lo = 0, hi = t->count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (t->parts[mid].partition < partition) lo = mid + 1;
        else hi = mid;
    }
    *found = lo < t->count && t->parts[lo].partition == partition;
    return lo;
}

struct group_offset *group_offset_find(struct group *g, struct kstr topic, int32_t partition) {
    struct group_offset_topic *t = topic_get(g, topic);
    if (!t) return NULL;
    bool found;
    uint32_t i = part_search(t, partition, &found);
    return found ? &t->parts[i] : NULL;
}

static void topic_free(struct group_offset_topic *t) {
    for (uint32_t i = 0; i < t->count; i++) free(t->parts[i].metadata);
    free(t->parts);
    gstr_clear(&t->name);
    free(t);
}

int group_offset_put(struct group_coordinator *c, struct group *g, struct kstr topic, const struct group_offset *o) {
    struct group_offset_topic *t = topic_get(g, topic);
    bool created = false;
    if (!t) {
        t = calloc(1, sizeof(*t));
        if (!t) return -1;
        t->name = (struct gstr){NULL, -1};
        if (gstr_set(&t->name, topic) != 0 || strmap_put(&g->offset_topics, t->name.ptr, (size_t)t->name.len, t) != 0) {
            gstr_clear(&t->name);
            free(t);
            return -1;
        }
        created = true;
    }
    int32_t mlen = o->metadata_len > 0 ? o->metadata_len : 0;
    char *meta = malloc((size_t)mlen + 1);
    if (!meta) goto fail;
    if (mlen) memcpy(meta, o->metadata, (size_t)mlen);
    meta[mlen] = 0;
    bool found;
    uint32_t i = part_search(t, o->partition, &found);
    if (!found) {
        if (t->count == t->cap) {
            uint32_t cap = t->cap ? t->cap * 2 : OFFSET_PARTS_INITIAL;
            struct group_offset *parts = realloc(t->parts, sizeof(*parts) * cap);
            if (!parts) {
                free(meta);
                goto fail;
            }
            t->parts = parts;
            t->cap = cap;
        }
        memmove(&t->parts[i + 1], &t->parts[i], sizeof(*t->parts) * (t->count - i));
        t->count++;
        g->offset_count++;
        c->offset_count++;
    } else {
        free(t->parts[i].metadata);
    }
    t->parts[i] = *o;
    t->parts[i].metadata = meta;
    t->parts[i].metadata_len = mlen;
    return 0;
fail:
    if (created) {
        strmap_del(&g->offset_topics, t->name.ptr, (size_t)t->name.len);
        topic_free(t);
    }
    return -1;
}

void group_offset_remove(struct group_coordinator *c, struct group *g, struct kstr topic, int32_t partition) {
    struct group_offset_topic *t = topic_get(g, topic);
    if (!t) return;
    bool found;
    uint32_t i = part_search(t, partition, &found);
    if (!found) return;
    free(t->parts[i].metadata);
    memmove(&t->parts[i], &t->parts[i + 1], sizeof(*t->parts) * (t->count - i - 1));
    t->count--;
    g->offset_count--;
    c->offset_count--;
    if (t->count == 0) {
        strmap_del(&g->offset_topics, t->name.ptr, (size_t)t->name.len);
        topic_free(t);
    }
}

void group_offsets_clear(struct group_coordinator *c, struct group *g) {
    uint32_t pos = 0;
    void *v;
    while (strmap_next(&g->offset_topics, &pos, &v)) {
        struct group_offset_topic *t = v;
        c->offset_count -= t->count;
        topic_free(t);
    }
    strmap_free(&g->offset_topics);
    g->offset_count = 0;
}

/* ----------------------------------------------------------- OffsetCommit */

static bool partition_exists(struct group_coordinator *c, struct kstr topic, int32_t index) {
    struct topic *t = topic_find(c->b, topic);
    struct partition *p = t ? partition_find(t, index) : NULL;
    return p && p->log;
}

/* Who may commit now; a Kafka error for the whole request. */
static int16_t commit_allowed(struct group_coordinator *c, struct group *g, int32_t generation, struct kstr member_id,
                              struct kstr instance_id) {
    if (g->state == GROUP_DEAD) return KAFKA_ERR_COORDINATOR_NOT_AVAILABLE;
    if (generation >= 0 || member_id.len > 0 || !kstr_is_null(instance_id)) {
        struct group_member *m;
        int16_t err = group_validate_member(g, member_id, instance_id, &m);
        if (err) return err;
        if (generation != g->generation) return KAFKA_ERR_ILLEGAL_GENERATION;
        if (g->state == GROUP_COMPLETING_REBALANCE) return KAFKA_ERR_REBALANCE_IN_PROGRESS;
        /* A commit is a sign of life, as a heartbeat is. */
        group_member_touch(c, m, group_now_us());
        return KAFKA_ERR_NONE;
    }
    /* Without group management only an empty group takes commits. */
    return g->state == GROUP_EMPTY ? KAFKA_ERR_NONE : KAFKA_ERR_UNKNOWN_MEMBER_ID;
}

/* Storage errors as Kafka reports them for commits. */
static int16_t commit_write_error(int16_t err) {
    return err == KAFKA_ERR_MESSAGE_TOO_LARGE ? KAFKA_ERR_INVALID_COMMIT_OFFSET_SIZE : err;
}

/* A committed partition as stored (metadata still points into the request). */
static struct group_offset offset_of(const struct kafka_offset_commit_request *req,
                                     const struct kafka_offset_commit_request_offset_commit_request_partition *p,
                                     int16_t version, int64_t now_ms) {
    int32_t mlen = p->committed_metadata.len > 0 ? p->committed_metadata.len : 0;
    return (struct group_offset){
        .partition = p->partition_index,
        .offset = p->committed_offset,
        .leader_epoch = version >= 6 ? p->committed_leader_epoch : -1,
        .metadata = mlen ? (char *)p->committed_metadata.ptr : (char *)"",
        .metadata_len = mlen,
        /* Only v1 carries a commit time; v2-4 may carry a retention. */
        .commit_ms = version == 1 && p->commit_timestamp != -1 ? p->commit_timestamp : now_ms,
        .expire_ms = version >= 2 && version <= 4 && req->retention_time_ms != -1
                         ? (req->retention_time_ms > INT64_MAX - now_ms ? INT64_MAX : now_ms + req->retention_time_ms)
                         : -1,
    };
}

int group_offset_commit(struct group_coordinator *c, const struct kafka_offset_commit_request *req,
                        int16_t version, struct arena *a, struct kafka_offset_commit_response *resp) {
    kafka_offset_commit_response_init(resp);
    int32_t nt = req->topics_count > 0 ? req->topics_count : 0;
    resp->topics = arena_alloc(a, sizeof(*resp->topics) * (size_t)(nt ? nt : 1));
    if (!resp->topics) return -1;
    resp->topics_count = nt;
    for (int32_t i = 0; i < nt; i++) {
        struct kafka_offset_commit_response_offset_commit_response_topic *rt = &resp->topics[i];
        kafka_offset_commit_response_offset_commit_response_topic_init(rt);
        rt->name = req->topics[i].name;
        int32_t np = req->topics[i].partitions_count > 0 ? req->topics[i].partitions_count : 0;
        rt->partitions = arena_alloc(a, sizeof(*rt->partitions) * (size_t)(np ? np : 1));
        if (!rt->partitions) return -1;
        rt->partitions_count = np;
        for (int32_t j = 0; j < np; j++) {
            kafka_offset_commit_response_offset_commit_response_partition_init(&rt->partitions[j]);
            rt->partitions[j].partition_index = req->topics[i].partitions[j].partition_index;
        }
    }
    int32_t generation = version >= 1 ? req->generation_id_or_member_epoch : -1;
    struct kstr member_id = version >= 1 ? req->member_id : kstr_c("");
    int16_t err = KAFKA_ERR_NONE;
    struct group *g = group_find(c, req->group_id);
    if (!g) {
        /* A generation for a group we do not know is stale; without one,
         * this is a simple consumer and the group comes into being. */
        if (generation >= 0) err = KAFKA_ERR_ILLEGAL_GENERATION;
        else g = group_get_or_create(c, req->group_id, &err);
    }
    if (g && !err) err = commit_allowed(c, g, generation, member_id, req->group_instance_id);
    struct group_write *w = NULL;
    if (!err) {
        w = group_write_begin(c, g);
        if (!w) err = KAFKA_ERR_COORDINATOR_NOT_AVAILABLE;
    }
    int64_t now_ms = group_wall_ms();
    uint32_t new_partitions = 0;
    /* Pass 1: per-partition checks; the rest go into one batch. */
    for (int32_t i = 0; i < nt; i++) {
        const struct kafka_offset_commit_request_offset_commit_request_topic *t = &req->topics[i];
        for (int32_t j = 0; j < resp->topics[i].partitions_count; j++) {
            const struct kafka_offset_commit_request_offset_commit_request_partition *p = &t->partitions[j];
            int16_t *perr = &resp->topics[i].partitions[j].error_code;
            if (err) {
                *perr = err;
                continue;
            }
            if (!partition_exists(c, t->name, p->partition_index)) {
                *perr = KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION;
                continue;
            }
            int32_t mlen = p->committed_metadata.len > 0 ? p->committed_metadata.len : 0;
            if (mlen > c->metadata_max_bytes) {
                *perr = KAFKA_ERR_OFFSET_METADATA_TOO_LARGE;
                continue;
            }
            if (!group_offset_find(g, t->name, p->partition_index)) {
                if (g->offset_count + new_partitions >= LIMIT_GROUP_OFFSETS_PER_GROUP_MAX ||
                    c->offset_count + new_partitions >= LIMIT_GROUP_OFFSETS_TOTAL_MAX) {
                    *perr = KAFKA_ERR_INVALID_COMMIT_OFFSET_SIZE;
                    continue;
                }
                new_partitions++;
            }
            struct group_offset o = offset_of(req, p, version, now_ms);
            if (group_write_offset(w, t->name, p->partition_index, &o) != 0)
                *perr = KAFKA_ERR_INVALID_COMMIT_OFFSET_SIZE;
        }
    }
    int16_t werr = w ? commit_write_error(group_write_commit(w)) : KAFKA_ERR_NONE;
    /* Pass 2: what is on disk goes into memory. */
    for (int32_t i = 0; i < nt && w; i++) {
        const struct kafka_offset_commit_request_offset_commit_request_topic *t = &req->topics[i];
        for (int32_t j = 0; j < resp->topics[i].partitions_count; j++) {
            const struct kafka_offset_commit_request_offset_commit_request_partition *p = &t->partitions[j];
            int16_t *perr = &resp->topics[i].partitions[j].error_code;
            if (*perr) continue;
            if (werr) {
                *perr = werr;
                continue;
            }
            struct group_offset o = offset_of(req, p, version, now_ms);
            if (group_offset_put(c, g, t->name, &o) != 0) {
                /* On disk but not in memory: a restart would show it. */
                log_error("group", "out of memory keeping a committed offset group=%s", g->id.ptr);
                *perr = KAFKA_ERR_UNKNOWN_SERVER_ERROR;
            }
        }
    }
    if (werr) log_warn("group", "offset commit not stored group=%s error=%d", g->id.ptr, werr);
    if (g) group_drop_if_unused(c, g);
    return 0;
}

/* ------------------------------------------------------------ OffsetFetch */

/* One partition's answer, independent of the response version. */
struct fetched {
    int32_t partition;
    int64_t offset;
    int32_t leader_epoch;
    struct kstr metadata;
};

static struct fetched fetch_one(struct group *g, struct kstr topic, int32_t partition) {
    struct group_offset *o = g ? group_offset_find(g, topic, partition) : NULL;
    if (!o) return (struct fetched){partition, -1, -1, kstr_c("")};
    return (struct fetched){partition, o->offset, o->leader_epoch, (struct kstr){o->metadata, o->metadata_len}};
}

/* The topics and partitions to answer for one group: those asked, or, for
 * a null list, every one the group has. Filled in an arena-neutral form. */
struct fetched_topic {
    struct kstr name;
    struct fetched *parts;
    int32_t count;
};

static int fetch_all(struct group *g, struct arena *a, struct fetched_topic **out, int32_t *count) {
    uint32_t n = g ? g->offset_topics.count : 0;
    *out = arena_alloc(a, sizeof(**out) * (n ? n : 1));
    if (!*out) return -1;
    *count = 0;
    if (!g) return 0;
    uint32_t pos = 0;
    void *v;
    while (strmap_next(&g->offset_topics, &pos, &v) && (uint32_t)*count < n) {
        const struct group_offset_topic *t = v;
        struct fetched_topic *ft = &(*out)[(*count)++];
        ft->name = gstr_k(t->name);
        ft->parts = arena_alloc(a, sizeof(*ft->parts) * (t->count ? t->count : 1));
        if (!ft->parts) return -1;
        ft->count = (int32_t)t->count;
        for (uint32_t i = 0; i < t->count; i++) {
            const struct group_offset *o = &t->parts[i];
            ft->parts[i] = (struct fetched){o->partition, o->offset, o->leader_epoch,
                                            (struct kstr){o->metadata, o->metadata_len}};
        }
    }
    return 0;
}

static int fetch_listed(struct group *g, struct arena *a, const struct kstr *names, const int32_t *const *parts,
                        const int32_t *part_counts, int32_t n, struct fetched_topic **out) {
    *out = arena_alloc(a, sizeof(**out) * (size_t)(n > 0 ? n : 1));
    if (!*out) return -1;
    for (int32_t i = 0; i < n; i++) {
        struct fetched_topic *ft = &(*out)[i];
        ft->name = names[i];
        int32_t np = part_counts[i] > 0 ? part_counts[i] : 0;
        ft->parts = arena_alloc(a, sizeof(*ft->parts) * (size_t)(np ? np : 1));
        if (!ft->parts) return -1;
        ft->count = np;
        for (int32_t j = 0; j < np; j++) ft->parts[j] = fetch_one(g, names[i], parts[i][j]);
    }
    return 0;
}

/* v8+: one group of a multi-group request. */
static int fetch_group_v8(struct group_coordinator *c,
                          const struct kafka_offset_fetch_request_offset_fetch_request_group *rg, struct arena *a,
                          struct kafka_offset_fetch_response_offset_fetch_response_group *out) {
    kafka_offset_fetch_response_offset_fetch_response_group_init(out);
    out->group_id = rg->group_id;
    struct group *g = group_find(c, rg->group_id);
    struct fetched_topic *ft;
    int32_t n;
    if (rg->topics_count < 0) {
        if (fetch_all(g, a, &ft, &n) != 0) return -1;
    } else {
        n = rg->topics_count;
        struct kstr *names = arena_alloc(a, sizeof(*names) * (size_t)(n ? n : 1));
        const int32_t **parts = arena_alloc(a, sizeof(*parts) * (size_t)(n ? n : 1));
        int32_t *counts = arena_alloc(a, sizeof(*counts) * (size_t)(n ? n : 1));
        if (!names || !parts || !counts) return -1;
        for (int32_t i = 0; i < n; i++) {
            names[i] = rg->topics[i].name;
            parts[i] = rg->topics[i].partition_indexes;
            counts[i] = rg->topics[i].partition_indexes_count;
        }
        if (fetch_listed(g, a, names, parts, counts, n, &ft) != 0) return -1;
    }
    out->topics = arena_alloc(a, sizeof(*out->topics) * (size_t)(n ? n : 1));
    if (!out->topics) return -1;
    out->topics_count = n;
    for (int32_t i = 0; i < n; i++) {
        struct kafka_offset_fetch_response_offset_fetch_response_topics *t = &out->topics[i];
        kafka_offset_fetch_response_offset_fetch_response_topics_init(t);
        t->name = ft[i].name;
        t->partitions = arena_alloc(a, sizeof(*t->partitions) * (size_t)(ft[i].count ? ft[i].count : 1));
        if (!t->partitions) return -1;
        t->partitions_count = ft[i].count;
        for (int32_t j = 0; j < ft[i].count; j++) {
            struct kafka_offset_fetch_response_offset_fetch_response_partitions *p = &t->partitions[j];
            kafka_offset_fetch_response_offset_fetch_response_partitions_init(p);
            p->partition_index = ft[i].parts[j].partition;
            p->committed_offset = ft[i].parts[j].offset;
            p->committed_leader_epoch = ft[i].parts[j].leader_epoch;
            p->metadata = ft[i].parts[j].metadata;
        }
    }
    return 0;
}

int group_offset_fetch(struct group_coordinator *c, const struct kafka_offset_fetch_request *req, int16_t version,
                       struct arena *a, struct kafka_offset_fetch_response *resp) {
    kafka_offset_fetch_response_init(resp);
    if (version >= 8) {
        int32_t n = req->groups_count > 0 ? req->groups_count : 0;
        resp->groups = arena_alloc(a, sizeof(*resp->groups) * (size_t)(n ? n : 1));
        if (!resp->groups) return -1;
        resp->groups_count = n;
        for (int32_t i = 0; i < n; i++)
            if (fetch_group_v8(c, &req->groups[i], a, &resp->groups[i]) != 0) return -1;
        return 0;
    }
    struct group *g = group_find(c, req->group_id);
    struct fetched_topic *ft;
    int32_t n;
    if (req->topics_count < 0) {
        if (fetch_all(g, a, &ft, &n) != 0) return -1;
    } else {
        n = req->topics_count;
        struct kstr *names = arena_alloc(a, sizeof(*names) * (size_t)(n ? n : 1));
        const int32_t **parts = arena_alloc(a, sizeof(*parts) * (size_t)(n ? n : 1));
        int32_t *counts = arena_alloc(a, sizeof(*counts) * (size_t)(n ? n : 1));
        if (!names || !parts || !counts) return -1;
        for (int32_t i = 0; i < n; i++) {
            names[i] = req->topics[i].name;
            parts[i] = req->topics[i].partition_indexes;
            counts[i] = req->topics[i].partition_indexes_count;
        }
        if (fetch_listed(g, a, names, parts, counts, n, &ft) != 0) return -1;
    }
    resp->topics = arena_alloc(a, sizeof(*resp->topics) * (size_t)(n ? n : 1));
    if (!resp->topics) return -1;
    resp->topics_count = n;
    for (int32_t i = 0; i < n; i++) {
        struct kafka_offset_fetch_response_offset_fetch_response_topic *t = &resp->topics[i];
        kafka_offset_fetch_response_offset_fetch_response_topic_init(t);
        t->name = ft[i].name;
        t->partitions = arena_alloc(a, sizeof(*t->partitions) * (size_t)(ft[i].count ? ft[i].count : 1));
        if (!t->partitions) return -1;
        t->partitions_count = ft[i].count;
        for (int32_t j = 0; j < ft[i].count; j++) {
            struct kafka_offset_fetch_response_offset_fetch_response_partition *p = &t->partitions[j];
            kafka_offset_fetch_response_offset_fetch_response_partition_init(p);
            p->partition_index = ft[i].parts[j].partition;
            p->committed_offset = ft[i].parts[j].offset;
            p->committed_leader_epoch = ft[i].parts[j].leader_epoch;
            p->metadata = ft[i].parts[j].metadata;
        }
    }
    return 0;
}

/* ----------------------------------------------------------- OffsetDelete */

int group_offset_delete(struct group_coordinator *c, const struct kafka_offset_delete_request *req,
                        struct arena *a, struct kafka_offset_delete_response *resp) {
    kafka_offset_delete_response_init(resp);
    if (req->group_id.len <= 0) {
        resp->error_code = KAFKA_ERR_INVALID_GROUP_ID;
        return 0;
    }
    struct group *g = group_find(c, req->group_id);
    if (!g || g->state == GROUP_DEAD) {
        resp->error_code = KAFKA_ERR_GROUP_ID_NOT_FOUND;
        return 0;
    }
    bool empty = g->state == GROUP_EMPTY;
    if (!empty && !gstr_eq(g->protocol_type, kstr_c(CONSUMER_PROTOCOL_TYPE))) {
        resp->error_code = KAFKA_ERR_NON_EMPTY_GROUP;
        return 0;
    }
    int32_t nt = req->topics_count > 0 ? req->topics_count : 0;
    resp->topics = arena_alloc(a, sizeof(*resp->topics) * (size_t)(nt ? nt : 1));
    if (!resp->topics) return -1;
    resp->topics_count = nt;
    struct group_write *w = group_write_begin(c, g);
    for (int32_t i = 0; i < nt; i++) {
        const struct kafka_offset_delete_request_offset_delete_request_topic *t = &req->topics[i];
        struct kafka_offset_delete_response_offset_delete_response_topic *rt = &resp->topics[i];
        kafka_offset_delete_response_offset_delete_response_topic_init(rt);
        rt->name = t->name;
        int32_t np = t->partitions_count > 0 ? t->partitions_count : 0;
        rt->partitions = arena_alloc(a, sizeof(*rt->partitions) * (size_t)(np ? np : 1));
        if (!rt->partitions) {
            if (w) group_write_abort(w);
            return -1;
        }
        rt->partitions_count = np;
        /* Offsets of topics a live consumer group reads stay. */
        bool subscribed = !empty && group_subscribes(g, t->name);
        for (int32_t j = 0; j < np; j++) {
            struct kafka_offset_delete_response_offset_delete_response_partition *rp = &rt->partitions[j];
            kafka_offset_delete_response_offset_delete_response_partition_init(rp);
            int32_t idx = t->partitions[j].partition_index;
            rp->partition_index = idx;
            if (!partition_exists(c, t->name, idx)) rp->error_code = KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION;
            else if (subscribed) rp->error_code = KAFKA_ERR_GROUP_SUBSCRIBED_TO_TOPIC;
            else if (!w) rp->error_code = KAFKA_ERR_COORDINATOR_NOT_AVAILABLE;
            else if (group_offset_find(g, t->name, idx) && group_write_offset_tombstone(w, t->name, idx) != 0)
                rp->error_code = KAFKA_ERR_UNKNOWN_SERVER_ERROR;
        }
    }
    int16_t werr = w ? group_write_commit(w) : KAFKA_ERR_NONE;
    for (int32_t i = 0; i < nt; i++) {
        for (int32_t j = 0; j < resp->topics[i].partitions_count; j++) {
            struct kafka_offset_delete_response_offset_delete_response_partition *rp = &resp->topics[i].partitions[j];
            if (rp->error_code) continue;
            if (werr) rp->error_code = werr;
            else group_offset_remove(c, g, req->topics[i].name, rp->partition_index);
        }
    }
    if (!werr) log_info("group", "offsets deleted group=%s offsets_left=%u", g->id.ptr, g->offset_count);
    return 0;
}

/* ------------------------------------------------------------ expiry */

/* Kafka's retention rules (KIP-211): an Empty group's offsets expire a
 * retention period after the group became Empty; a group that never used
 * group management expires each offset a retention period after its
 * commit; a Stable consumer group expires, by commit time, only offsets of
 * topics it no longer subscribes to. Offsets committed with an explicit
 * retention (OffsetCommit v2-4) expire at their own time. */
static bool offset_expired(const struct group_coordinator *c, const struct group_offset *o, int64_t base_ms,
                           int64_t now_ms) {
    if (o->expire_ms != -1) return now_ms >= o->expire_ms;
    return now_ms - base_ms >= c->retention_ms;
}

/* Offsets of a topic (or partition) deleted since: Kafka drops them when
 * the topic goes; we do at the next expiry check (commits for unknown
 * topics are refused, so such an offset can only be left over). */
static bool partition_gone(struct group_coordinator *c, const struct topic *t, int32_t partition) {
    (void)c;
    return !t || partition >= t->partition_count;
}

/* Expires one group's offsets; returns true if the group was removed. */
static bool expire_group(struct group_coordinator *c, struct group *g, int64_t now_ms) {
    bool has_type = g->protocol_type.ptr != NULL;
    bool by_state = has_type && g->state == GROUP_EMPTY;
    bool stable_consumer = gstr_eq(g->protocol_type, kstr_c(CONSUMER_PROTOCOL_TYPE)) && g->state == GROUP_STABLE;
    bool by_time = !has_type || by_state || stable_consumer;
    /* Collect (topic, partition) pairs first: the tables must not change
     * while walked, and memory changes only after the tombstones are written. */
    uint32_t cap = g->offset_count, n = 0;
    struct expired { struct kstr topic; int32_t partition; } *list = cap ? malloc(sizeof(*list) * cap) : NULL;
    if (cap && !list) return false;
    uint32_t pos = 0;
    void *v;
    while (strmap_next(&g->offset_topics, &pos, &v)) {
        const struct group_offset_topic *t = v;
        const struct topic *live = topic_find(c->b, gstr_k(t->name));
        bool timed = by_time && !(stable_consumer && group_subscribes(g, gstr_k(t->name)));
        for (uint32_t i = 0; i < t->count && n < cap; i++) {
            const struct group_offset *o = &t->parts[i];
            if (partition_gone(c, live, o->partition) ||
                (timed && offset_expired(c, o, by_state ? g->state_ms : o->commit_ms, now_ms)))
                list[n++] = (struct expired){gstr_k(t->name), o->partition};
        }
    }
    bool dead = g->state == GROUP_EMPTY && n == g->offset_count && g->member_count == 0 && g->pending.count == 0;
    if (n == 0 && !dead) {
        free(list);
        return false;
    }
    /* One batch: the offsets' tombstones and, for a group that goes, its own. */
    struct group_write *w = group_write_begin(c, g);
    int16_t err = KAFKA_ERR_COORDINATOR_NOT_AVAILABLE;
    if (w) {
        for (uint32_t i = 0; i < n; i++) group_write_offset_tombstone(w, list[i].topic, list[i].partition);
        if (dead && has_type) group_write_metadata_tombstone(w);
        err = group_write_commit(w);
    }
    if (err) {
        log_warn("group", "cannot write expired offsets group=%s error=%d", g->id.ptr, err);
        free(list);
        return false;
    }
    if (n) log_info("group", "offsets expired group=%s count=%u", g->id.ptr, n);
    /* The names in the list point into the topics being changed. A topic
     * is freed when its last partition goes, and its entries are adjacent
     * in the list, so walking the list backwards frees each name only
     * after its last use. */
    for (uint32_t i = n; i-- > 0;) group_offset_remove(c, g, list[i].topic, list[i].partition);
    free(list);
    if (dead) {
        log_info("group", "group removed: empty with no offsets group=%s", g->id.ptr);
        group_remove(c, g);
        return true;
    }
    return false;
}

void group_offsets_expire(struct group_coordinator *c, int64_t now_ms) {
    uint32_t n = c->group_count, k = 0;
    if (!n) return;
    struct group **all = malloc(sizeof(*all) * n);
    if (!all) return;
    uint32_t pos = 0;
    void *v;
    while (strmap_next(&c->groups, &pos, &v) && k < n) all[k++] = v;
    for (uint32_t i = 0; i < k; i++) expire_group(c, all[i], now_ms);
    free(all);
}

void group_walk(const struct group_coordinator *c, bool (*group_fn)(void *ctx, const struct group_view *g),
                bool (*offset_fn)(void *ctx, const struct group_offset_view *o), void *ctx) {
    uint32_t pos = 0;
    void *v;
    while (strmap_next(&c->groups, &pos, &v)) {
        const struct group *g = v;
        struct group_view gv = {g->id.ptr ? g->id.ptr : "", g->state, g->member_count};
        if (group_fn && !group_fn(ctx, &gv)) return;
        if (!offset_fn) continue;
        uint32_t tpos = 0;
        void *tv;
        while (strmap_next(&g->offset_topics, &tpos, &tv)) {
            const struct group_offset_topic *t = tv;
            for (uint32_t i = 0; i < t->count; i++) {
                struct group_offset_view ov = {&gv, t->name.ptr ? t->name.ptr : "", t->parts[i].partition,
                                               t->parts[i].offset};
                if (!offset_fn(ctx, &ov)) return;
            }
        }
    }
}

uint32_t group_held_request_count(const struct group_coordinator *c) { return c->held_requests; }
