/*
 * Produce: validate each batch, check idempotent sequences, append the
 * client's bytes as they came (only the base offset and leader epoch are
 * rewritten), and answer with the offsets assigned.
 */
#include "broker/internal.h"
#include "storage/cleaner.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "protocol/record_batch.h"
#include "storage/producer_state.h"

#define ACKS_NONE 0
#define ACKS_LEADER 1
#define ACKS_ALL (-1)

struct produce_result {
    int16_t error;
    int64_t base_offset;
    int64_t append_time;
    const char *message;
};

static int16_t rb_check_to_kafka(int check) {
    switch (check) {
    case RB_OK: return KAFKA_ERR_NONE;
    case RB_ERR_MAGIC: return KAFKA_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT;
    case RB_ERR_CRC: return KAFKA_ERR_CORRUPT_MESSAGE;
    case RB_ERR_RECORDS: return KAFKA_ERR_INVALID_RECORD;
    default: return KAFKA_ERR_CORRUPT_MESSAGE;
    }
}

static void snapshot_producers_if_due(struct broker *b, struct partition *p, uint32_t appended) {
    p->bytes_since_snapshot += appended;
    if (p->bytes_since_snapshot < PRODUCER_SNAPSHOT_INTERVAL_BYTES || pstate_producer_count(p->producers) == 0)
        return;
    char dir[PATH_MAX];
    if (partition_dir(b, p, dir, sizeof(dir)) != 0) return;
    int64_t end = plog_end_offset(p->log);
    if (pstate_snapshot_write(p->producers, dir, end) == 0) {
        p->last_snapshot_offset = end;
        p->producers_expired = false;
    }
    p->bytes_since_snapshot = 0;
}

/* Validates and appends the record set for one partition. */
static struct produce_result produce_partition(struct request_ctx *ctx, struct partition *p, int16_t acks,
                                               const struct krecords *records) {
    struct produce_result res = {KAFKA_ERR_NONE, -1, -1, NULL};
    struct topic *t = p->topic;
    if (records->len <= 0 || !records->ptr) {
        res.error = KAFKA_ERR_INVALID_RECORD;
        return res;
    }
    if (acks == ACKS_ALL && t->config.min_insync_replicas > 1) {
        res.error = KAFKA_ERR_NOT_ENOUGH_REPLICAS;  /* one node is the whole ISR */
        return res;
    }
    uint8_t *data = (uint8_t *)records->ptr;  /* the frame is ours and writable */
    uint32_t len = (uint32_t)records->len;
    uint32_t batches = 0;
    uint64_t records_in = 0;
    uint32_t pos = 0;
    struct rb_header first_header;
    while (pos < len) {
        uint32_t batch_bytes = 0;
        int check = rb_validate_for_produce(data + pos, len - pos, &batch_bytes);
        if (check != RB_OK) {
            res.error = rb_check_to_kafka(check);
            return res;
        }
        if (batch_bytes > (uint32_t)t->config.max_message_bytes) {
            res.error = KAFKA_ERR_MESSAGE_TOO_LARGE;
            return res;
        }
        struct rb_header h;
        rb_parse_header(data + pos, batch_bytes, &h);
        if (h.attributes & RB_ATTR_TRANSACTIONAL) {
            res.error = KAFKA_ERR_TRANSACTIONAL_ID_NOT_FOUND;  /* transactions are not served yet */
            return res;
        }
        /* A compacted topic keeps the latest record per key: a record
         * without one could never be compacted (Kafka: INVALID_RECORD). */
        if (t->config.log.compact && cleaner_batch_has_null_key(data + pos, batch_bytes) != 0) {
            res.error = KAFKA_ERR_INVALID_RECORD;
            return res;
        }
        if (batches == 0) first_header = h;
        batches++;
        records_in += (uint64_t)(h.record_count > 0 ? h.record_count : 0);
        pos += batch_bytes;
    }
    /* Like Kafka, an idempotent producer sends one batch per partition; the
     * sequence check below is defined for that case. */
    if (first_header.producer_id >= 0) {
        if (batches != 1) {
            res.error = KAFKA_ERR_INVALID_RECORD;
            return res;
        }
        int64_t dup = -1;
        enum pstate_verdict v = pstate_check(p->producers, first_header.producer_id, first_header.producer_epoch,
                                             first_header.base_sequence, first_header.last_offset_delta + 1, &dup);
        switch (v) {
        case PSTATE_APPEND: break;
        case PSTATE_DUPLICATE:
            res.base_offset = dup;
            return res;
        case PSTATE_OUT_OF_ORDER: res.error = KAFKA_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER; return res;
        case PSTATE_FENCED: res.error = KAFKA_ERR_INVALID_PRODUCER_EPOCH; return res;
        case PSTATE_UNKNOWN_PRODUCER: res.error = KAFKA_ERR_UNKNOWN_PRODUCER_ID; return res;
        }
    }
    int64_t now = net_wall_ms();
    int rc = plog_append(p->log, data, len, batches, now, &res.base_offset, &res.append_time);
    if (rc != 0) {
        log_error("storage", "append failed topic=%s partition=%d error=%s", t->name, p->index, strerror(-rc));
        res.error = KAFKA_ERR_KAFKA_STORAGE_ERROR;
        res.base_offset = -1;
        return res;
    }
    if (first_header.producer_id >= 0)
        pstate_record(p->producers, first_header.producer_id, first_header.producer_epoch,
                      first_header.base_sequence, first_header.last_offset_delta + 1, res.base_offset,
                      first_header.max_timestamp);
    p->high_watermark = plog_end_offset(p->log);
    t->traffic.bytes_in += len;
    t->traffic.records_in += records_in;
    snapshot_producers_if_due(ctx->b, p, len);
    fetch_notify(ctx->b, p, len);
    return res;
}

void handle_produce(struct request_ctx *ctx) {
    struct broker *b = ctx->b;
    struct kafka_produce_request req;
    if (!DECODE(ctx, kafka_produce_request, &req)) return;
    bool acks_ok = req.acks == ACKS_NONE || req.acks == ACKS_LEADER || req.acks == ACKS_ALL;

    struct kafka_produce_response resp;
    kafka_produce_response_init(&resp);
    resp.responses = ARENA_NEW_ARRAY(ctx, struct kafka_produce_response_topic_produce_response, req.topic_data_count);
    if (!resp.responses) return request_reject(ctx, "out of request memory");
    resp.responses_count = req.topic_data_count < 0 ? 0 : req.topic_data_count;
    for (int32_t i = 0; i < resp.responses_count; i++) {
        struct kafka_produce_request_topic_produce_data *td = &req.topic_data[i];
        struct kafka_produce_response_topic_produce_response *tr = &resp.responses[i];
        kafka_produce_response_topic_produce_response_init(tr);
        tr->name = td->name;
        int32_t n = td->partition_data_count < 0 ? 0 : td->partition_data_count;
        tr->partition_responses =
            ARENA_NEW_ARRAY(ctx, struct kafka_produce_response_partition_produce_response, n);
        if (!tr->partition_responses) return request_reject(ctx, "out of request memory");
        tr->partition_responses_count = n;
        struct topic *t = topic_find(b, td->name);
        for (int32_t j = 0; j < n; j++) {
            struct kafka_produce_request_partition_produce_data *pd = &td->partition_data[j];
            struct kafka_produce_response_partition_produce_response *pr = &tr->partition_responses[j];
            kafka_produce_response_partition_produce_response_init(pr);
            pr->index = pd->index;
            pr->base_offset = -1;
            if (!acks_ok) {
                pr->error_code = KAFKA_ERR_INVALID_REQUIRED_ACKS;
                request_count_error(ctx, pr->error_code);
                continue;
            }
            struct partition *p = partition_find(t, pd->index);
            if (!p || !p->log) {
                pr->error_code = KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION;
                request_count_error(ctx, pr->error_code);
                continue;
            }
            /* Internal topics (__consumer_offsets...) are written by the broker only. */
            if (t->internal) {
                pr->error_code = KAFKA_ERR_INVALID_TOPIC_EXCEPTION;
                request_count_error(ctx, pr->error_code);
                continue;
            }
            struct produce_result res = produce_partition(ctx, p, req.acks, &pd->records);
            pr->error_code = res.error;
            request_count_error(ctx, res.error);
            pr->base_offset = res.base_offset;
            pr->log_append_time_ms = res.append_time;
            pr->log_start_offset = plog_start_offset(p->log);
        }
    }
    if (req.acks == ACKS_NONE) return response_none(ctx);
    RESPOND(ctx, kafka_produce_response, &resp);
}
