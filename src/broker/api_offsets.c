/*
 * ListOffsets (earliest, latest, by timestamp, max timestamp) and
 * DeleteRecords (moving the log start offset up).
 */
#include "broker/internal.h"

#include <errno.h>

#define LIST_LATEST (-1)
#define LIST_EARLIEST (-2)
#define LIST_MAX_TIMESTAMP (-3)
#define LIST_EARLIEST_LOCAL (-4)
#define LIST_LATEST_TIERED (-5)

static int16_t check_leader_epoch(const struct partition *p, int32_t current) {
    if (current < 0 || current == p->leader_epoch) return KAFKA_ERR_NONE;
    return current > p->leader_epoch ? KAFKA_ERR_UNKNOWN_LEADER_EPOCH : KAFKA_ERR_FENCED_LEADER_EPOCH;
}

static void list_partition(struct request_ctx *ctx, struct topic *t,
                           const struct kafka_list_offsets_request_list_offsets_partition *rp,
                           struct kafka_list_offsets_response_list_offsets_partition_response *out) {
    out->partition_index = rp->partition_index;
    struct partition *p = partition_find(t, rp->partition_index);
    if (!p || !p->log) {
        out->error_code = KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION;
        return;
    }
    out->error_code = check_leader_epoch(p, rp->current_leader_epoch);
    if (out->error_code) return;
    out->leader_epoch = p->leader_epoch;
    int64_t offset = -1, timestamp = -1;
    switch (rp->timestamp) {
    case LIST_LATEST: offset = p->high_watermark; break;
    case LIST_EARLIEST:
    case LIST_EARLIEST_LOCAL: offset = plog_start_offset(p->log); break;
    case LIST_MAX_TIMESTAMP: plog_max_timestamp(p->log, &timestamp, &offset); break;
    case LIST_LATEST_TIERED: break;  /* nothing is tiered: no such offset */
    default:
        if (rp->timestamp < 0) {
            out->error_code = KAFKA_ERR_INVALID_REQUEST;
            return;
        }
        if (plog_offset_for_time(p->log, rp->timestamp, &offset, &timestamp) != 0) {
            out->error_code = KAFKA_ERR_KAFKA_STORAGE_ERROR;
            return;
        }
        if (offset >= p->high_watermark) offset = timestamp = -1;
    }
    if (ctx->api_version == 0) {
        out->old_style_offsets = ARENA_NEW_ARRAY(ctx, int64_t, 1);
        if (!out->old_style_offsets) return;
        out->old_style_offsets[0] = offset;
        out->old_style_offsets_count = offset >= 0 ? 1 : 0;
    }
    out->offset = offset;
    out->timestamp = timestamp;
}

void handle_list_offsets(struct request_ctx *ctx) {
    struct kafka_list_offsets_request req;
    if (!DECODE(ctx, kafka_list_offsets_request, &req)) return;
    struct kafka_list_offsets_response resp;
    kafka_list_offsets_response_init(&resp);
    int32_t n = req.topics_count < 0 ? 0 : req.topics_count;
    resp.topics = ARENA_NEW_ARRAY(ctx, struct kafka_list_offsets_response_list_offsets_topic_response, n);
    if (!resp.topics) return request_reject(ctx, "out of request memory");
    resp.topics_count = n;
    for (int32_t i = 0; i < n; i++) {
        struct kafka_list_offsets_request_list_offsets_topic *rt = &req.topics[i];
        struct kafka_list_offsets_response_list_offsets_topic_response *tr = &resp.topics[i];
        kafka_list_offsets_response_list_offsets_topic_response_init(tr);
        tr->name = rt->name;
        struct topic *t = topic_find(ctx->b, rt->name);
        int32_t m = rt->partitions_count < 0 ? 0 : rt->partitions_count;
        tr->partitions = ARENA_NEW_ARRAY(ctx, struct kafka_list_offsets_response_list_offsets_partition_response, m);
        if (!tr->partitions) return request_reject(ctx, "out of request memory");
        tr->partitions_count = m;
        for (int32_t j = 0; j < m; j++) {
            kafka_list_offsets_response_list_offsets_partition_response_init(&tr->partitions[j]);
            list_partition(ctx, t, &rt->partitions[j], &tr->partitions[j]);
            request_count_error(ctx, tr->partitions[j].error_code);
        }
    }
    RESPOND(ctx, kafka_list_offsets_response, &resp);
}

void handle_delete_records(struct request_ctx *ctx) {
    struct kafka_delete_records_request req;
    if (!DECODE(ctx, kafka_delete_records_request, &req)) return;
    struct kafka_delete_records_response resp;
    kafka_delete_records_response_init(&resp);
    int32_t n = req.topics_count < 0 ? 0 : req.topics_count;
    resp.topics = ARENA_NEW_ARRAY(ctx, struct kafka_delete_records_response_delete_records_topic_result, n);
    if (!resp.topics) return request_reject(ctx, "out of request memory");
    resp.topics_count = n;
    for (int32_t i = 0; i < n; i++) {
        struct kafka_delete_records_request_delete_records_topic *rt = &req.topics[i];
        struct kafka_delete_records_response_delete_records_topic_result *tr = &resp.topics[i];
        kafka_delete_records_response_delete_records_topic_result_init(tr);
        tr->name = rt->name;
        struct topic *t = topic_find(ctx->b, rt->name);
        int32_t m = rt->partitions_count < 0 ? 0 : rt->partitions_count;
        tr->partitions = ARENA_NEW_ARRAY(ctx, struct kafka_delete_records_response_delete_records_partition_result, m);
        if (!tr->partitions) return request_reject(ctx, "out of request memory");
        tr->partitions_count = m;
        for (int32_t j = 0; j < m; j++) {
            struct kafka_delete_records_response_delete_records_partition_result *out = &tr->partitions[j];
            kafka_delete_records_response_delete_records_partition_result_init(out);
            out->partition_index = rt->partitions[j].partition_index;
            out->low_watermark = -1;
            struct partition *p = partition_find(t, out->partition_index);
            if (!p || !p->log) {
                out->error_code = KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION;
                continue;
            }
            if (t->internal) {  /* the broker's own state lives there */
                out->error_code = KAFKA_ERR_INVALID_TOPIC_EXCEPTION;
                continue;
            }
            /* -1 means "up to the high watermark", as in Kafka's tool. */
            int64_t offset = rt->partitions[j].offset == -1 ? p->high_watermark : rt->partitions[j].offset;
            if (offset < 0 || offset > p->high_watermark) {
                out->error_code = KAFKA_ERR_OFFSET_OUT_OF_RANGE;
            } else if (offset > plog_start_offset(p->log)) {
                int rc = plog_advance_start(p->log, offset);
                if (rc != 0) out->error_code = kafka_error_from_errno(rc);
            }
            out->low_watermark = plog_start_offset(p->log);
        }
    }
    RESPOND(ctx, kafka_delete_records_response, &resp);
}

/* OffsetForLeaderEpoch (KIP-101/KIP-320): where an epoch's data ends, so a
 * client can tell whether its position survived a leader change. */
void handle_offset_for_leader_epoch(struct request_ctx *ctx) {
    struct kafka_offset_for_leader_epoch_request req;
    if (!DECODE(ctx, kafka_offset_for_leader_epoch_request, &req)) return;
    struct kafka_offset_for_leader_epoch_response resp;
    kafka_offset_for_leader_epoch_response_init(&resp);
    int32_t n = req.topics_count < 0 ? 0 : req.topics_count;
    resp.topics = ARENA_NEW_ARRAY(ctx, struct kafka_offset_for_leader_epoch_response_offset_for_leader_topic_result, n);
    if (!resp.topics) return request_reject(ctx, "out of request memory");
    resp.topics_count = n;
    for (int32_t i = 0; i < n; i++) {
        struct kafka_offset_for_leader_epoch_request_offset_for_leader_topic *rt = &req.topics[i];
        struct kafka_offset_for_leader_epoch_response_offset_for_leader_topic_result *tr = &resp.topics[i];
        kafka_offset_for_leader_epoch_response_offset_for_leader_topic_result_init(tr);
        tr->topic = rt->topic;
        struct topic *t = topic_find(ctx->b, rt->topic);
        int32_t m = rt->partitions_count < 0 ? 0 : rt->partitions_count;
        tr->partitions = ARENA_NEW_ARRAY(ctx, struct kafka_offset_for_leader_epoch_response_epoch_end_offset, m);
        if (!tr->partitions) return request_reject(ctx, "out of request memory");
        tr->partitions_count = m;
        for (int32_t j = 0; j < m; j++) {
            struct kafka_offset_for_leader_epoch_request_offset_for_leader_partition *rp = &rt->partitions[j];
            struct kafka_offset_for_leader_epoch_response_epoch_end_offset *out = &tr->partitions[j];
            kafka_offset_for_leader_epoch_response_epoch_end_offset_init(out);
            out->partition = rp->partition;
            struct partition *p = partition_find(t, rp->partition);
            if (!p || !p->log) {
                out->error_code = KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION;
                continue;
            }
            out->error_code = check_leader_epoch(p, rp->current_leader_epoch);
            if (out->error_code) continue;
            plog_epoch_end_offset(p->log, rp->leader_epoch, &out->leader_epoch, &out->end_offset);
        }
    }
    RESPOND(ctx, kafka_offset_for_leader_epoch_response, &resp);
}
