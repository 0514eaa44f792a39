/*
 * InitProducerId for idempotent producers. Ids come from blocks reserved
 * in the metadata log, so no id is handed out twice across restarts.
 * Transactional ids need the transaction coordinator, which is not served
 * yet; such requests are refused.
 */
#include "broker/internal.h"

#include "core/log.h"

#define PRODUCER_EPOCH_MAX INT16_MAX

static int16_t allocate_producer_id(struct broker *b, int64_t *id) {
    if (b->next_producer_id >= b->producer_id_block_end) {
        int64_t end = b->producer_id_block_end + PRODUCER_ID_BLOCK_SIZE;
        if (mlog_append_producer_ids(b, end) != 0) return KAFKA_ERR_KAFKA_STORAGE_ERROR;
        b->next_producer_id = b->producer_id_block_end;
        b->producer_id_block_end = end;
    }
    *id = b->next_producer_id++;
    return KAFKA_ERR_NONE;
}

void handle_init_producer_id(struct request_ctx *ctx) {
    struct broker *b = ctx->b;
    struct kafka_init_producer_id_request req;
    if (!DECODE(ctx, kafka_init_producer_id_request, &req)) return;
    struct kafka_init_producer_id_response resp;
    kafka_init_producer_id_response_init(&resp);
    resp.producer_id = -1;
    resp.producer_epoch = -1;
    if (req.transactional_id.len >= 0) {
        resp.error_code = KAFKA_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
        log_warn("broker", "transactional producer refused: transactions are not served yet client_id=%.*s",
                 ctx->client_id.len > 0 ? ctx->client_id.len : 0, ctx->client_id.ptr ? ctx->client_id.ptr : "");
    } else if (req.producer_id >= 0) {
        /* KIP-360: a known idempotent producer bumps its epoch to reset
         * its sequences; past the last epoch it gets a new id. */
        if (req.producer_id >= b->next_producer_id) {
            resp.error_code = KAFKA_ERR_INVALID_PRODUCER_EPOCH;
        } else if (req.producer_epoch < PRODUCER_EPOCH_MAX - 1) {
            resp.producer_id = req.producer_id;
            resp.producer_epoch = (int16_t)(req.producer_epoch + 1);
        } else {
            resp.error_code = allocate_producer_id(b, &resp.producer_id);
            resp.producer_epoch = resp.error_code ? -1 : 0;
        }
    } else {
        resp.error_code = allocate_producer_id(b, &resp.producer_id);
        resp.producer_epoch = resp.error_code ? -1 : 0;
    }
    if (resp.error_code) resp.producer_id = -1;
    request_count_error(ctx, resp.error_code);
    RESPOND(ctx, kafka_init_producer_id_response, &resp);
}
