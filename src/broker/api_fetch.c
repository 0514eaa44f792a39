/*
 * Fetch: for each partition, find the file range holding the requested
 * offset and hand it to the network layer, which sends it with sendfile;
 * the record bytes never enter user space. A fetch that finds fewer than
 * min_bytes waits (long poll) until enough is appended or max_wait_ms
 * passes: it is parked on each partition it watches, and produce wakes it.
 *
 * Fetch sessions (KIP-227): we never create one (the response's session
 * id is 0), which the protocol allows, so every fetch is a full fetch.
 */
#include "broker/internal.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

struct fetch_waiter_link {
    struct fetch_waiter *waiter;
    struct partition *partition;
    struct fetch_waiter_link *prev;
    struct fetch_waiter_link *next;
    bool linked;
};

struct fetch_waiter {
    struct request_ctx *ctx;
    struct kafka_fetch_request *req;
    uint64_t timer;
    uint64_t bytes_seen;
    int32_t min_bytes;
    uint32_t link_count;
    struct fetch_waiter_link *links;
};

/* -------------------------------------------------------------- response */

static void close_records(struct kafka_fetch_response *resp) {
    for (int32_t i = 0; i < resp->responses_count; i++)
        for (int32_t j = 0; j < resp->responses[i].partitions_count; j++) {
            struct krecords *r = &resp->responses[i].partitions[j].records;
            if (r->fd >= 0) close(r->fd);
            r->fd = -1;
        }
}

static struct topic *fetch_topic(struct request_ctx *ctx, const struct kafka_fetch_request_fetch_topic *ft) {
    if (ctx->api_version >= 13) return topic_find_id(ctx->b, &ft->topic_id);
    return topic_find(ctx->b, ft->topic);
}

/* Reads one partition into *out; returns the bytes it will send. */
static uint32_t fetch_partition(struct request_ctx *ctx, struct topic *t,
                                const struct kafka_fetch_request_fetch_partition *fp,
                                struct kafka_fetch_response_partition_data *out, uint32_t budget, bool first,
                                uint32_t *ranges) {
    out->partition_index = fp->partition;
    out->records = (struct krecords){NULL, 0, -1, 0};
    if (!t) {
        out->error_code = ctx->api_version >= 13 ? KAFKA_ERR_UNKNOWN_TOPIC_ID : KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION;
        return 0;
    }
    struct partition *p = partition_find(t, fp->partition);
    if (!p || !p->log) {
        out->error_code = KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION;
        return 0;
    }
    out->high_watermark = p->high_watermark;
    out->last_stable_offset = p->high_watermark;
    out->log_start_offset = plog_start_offset(p->log);
    if (ctx->api_version >= 4) out->aborted_transactions_count = 0;
    if (fp->current_leader_epoch >= 0 && fp->current_leader_epoch != p->leader_epoch) {
        out->error_code = fp->current_leader_epoch > p->leader_epoch ? KAFKA_ERR_UNKNOWN_LEADER_EPOCH
                                                                     : KAFKA_ERR_FENCED_LEADER_EPOCH;
        return 0;
    }
    int64_t offset = fp->fetch_offset;
    if (offset < plog_start_offset(p->log) || offset > p->high_watermark) {
        out->error_code = KAFKA_ERR_OFFSET_OUT_OF_RANGE;
        return 0;
    }
    if (offset == p->high_watermark) return 0;
    uint32_t limit = fp->partition_max_bytes < 0 ? 0 : (uint32_t)fp->partition_max_bytes;
    if (limit > budget) limit = budget;
    /* Each range holds a descriptor until sent; past the budget (the
     * broker's, or one connection's share of it, so a client that never
     * reads cannot starve the others) the partition answers empty, as when
     * max_bytes runs out. */
    uint64_t conn_ranges = net_conn_file_ranges_queued(ctx->req->conn) + *ranges;
    if (obuf_file_ranges_open() + *ranges >= ctx->b->fetch_fd_budget ||
        conn_ranges >= ctx->b->fetch_fd_budget / FETCH_FD_SHARE_DIVISOR)
        return 0;
    struct log_slice slice;
    int rc = plog_read(p->log, offset, p->high_watermark, limit, first, &slice);
    if (rc != 0) {
        out->error_code = kafka_error_from_errno(rc);
        if (rc != -ERANGE)
            log_error("storage", "read failed topic=%s partition=%d offset=%lld error=%s", t->name, p->index,
                      (long long)offset, strerror(-rc));
        return 0;
    }
    if (slice.len == 0) return 0;
    out->records = (struct krecords){NULL, (int32_t)slice.len, slice.fd, slice.file_pos};
    (*ranges)++;
    return slice.len;
}

/* Builds the whole response; returns the record bytes it holds. */
static uint64_t fetch_build(struct request_ctx *ctx, const struct kafka_fetch_request *req,
                            struct kafka_fetch_response *resp, bool *has_error) {
    kafka_fetch_response_init(resp);
    *has_error = false;
    int32_t ntopics = req->topics_count < 0 ? 0 : req->topics_count;
    resp->responses = ARENA_NEW_ARRAY(ctx, struct kafka_fetch_response_fetchable_topic_response, ntopics);
    if (!resp->responses) return 0;
    uint32_t budget = req->max_bytes < 0 ? 0 : (uint32_t)req->max_bytes;
    uint64_t total = 0;
    uint32_t ranges = 0;
    for (int32_t i = 0; i < ntopics; i++) {
        const struct kafka_fetch_request_fetch_topic *ft = &req->topics[i];
        struct kafka_fetch_response_fetchable_topic_response *tr = &resp->responses[i];
        kafka_fetch_response_fetchable_topic_response_init(tr);
        tr->topic = ft->topic;
        tr->topic_id = ft->topic_id;
        struct topic *t = fetch_topic(ctx, ft);
        int32_t nparts = ft->partitions_count < 0 ? 0 : ft->partitions_count;
        tr->partitions = ARENA_NEW_ARRAY(ctx, struct kafka_fetch_response_partition_data, nparts);
        if (!tr->partitions) {
            resp->responses_count = i;
            return total;
        }
        tr->partitions_count = nparts;
        resp->responses_count = i + 1;
        for (int32_t j = 0; j < nparts; j++) {
            struct kafka_fetch_response_partition_data *pd = &tr->partitions[j];
            kafka_fetch_response_partition_data_init(pd);
            uint32_t got = fetch_partition(ctx, t, &ft->partitions[j], pd, budget, total == 0, &ranges);
            if (pd->error_code != KAFKA_ERR_NONE) *has_error = true;
            budget = got >= budget ? 0 : budget - got;
            total += got;
        }
    }
    return total;
}

/* Counts what the final response carries: bytes out per topic, errors. */
static void fetch_account(struct request_ctx *ctx, const struct kafka_fetch_request *req,
                          const struct kafka_fetch_response *resp) {
    request_count_error(ctx, resp->error_code);
    for (int32_t i = 0; i < resp->responses_count; i++) {
        const struct kafka_fetch_response_fetchable_topic_response *tr = &resp->responses[i];
        uint64_t bytes = 0;
        for (int32_t j = 0; j < tr->partitions_count; j++) {
            request_count_error(ctx, tr->partitions[j].error_code);
            if (tr->partitions[j].records.fd >= 0) bytes += (uint64_t)tr->partitions[j].records.len;
        }
        struct topic *t = bytes ? fetch_topic(ctx, &req->topics[i]) : NULL;
        if (t) t->traffic.bytes_out += bytes;
    }
}

static void fetch_respond(struct request_ctx *ctx, const struct kafka_fetch_request *req) {
    struct kafka_fetch_response resp;
    bool has_error;
    fetch_build(ctx, req, &resp, &has_error);
    fetch_account(ctx, req, &resp);
    RESPOND(ctx, kafka_fetch_response, &resp);
}

/* ------------------------------------------------------------- long poll */

static void waiter_unlink(struct broker *b, struct fetch_waiter *w) {
    for (uint32_t i = 0; i < w->link_count; i++) {
        struct fetch_waiter_link *l = &w->links[i];
        if (!l->linked) continue;
        if (l->prev) l->prev->next = l->next;
        else l->partition->waiters = l->next;
        if (l->next) l->next->prev = l->prev;
        l->linked = false;
    }
    if (w->timer) net_timer_cancel(b->loop, w->timer);
    w->timer = 0;
    w->ctx->waiter = NULL;
    w->ctx->on_abort = NULL;
    b->fetch_waiter_count--;
}

static void waiter_complete(struct broker *b, struct fetch_waiter *w) {
    waiter_unlink(b, w);
    fetch_respond(w->ctx, w->req);
}

static void waiter_timeout(void *opaque) {
    struct fetch_waiter *w = opaque;
    w->timer = 0;
    waiter_complete(w->ctx->b, w);
}

static void fetch_abort(struct request_ctx *ctx);

static bool fetch_park(struct request_ctx *ctx, struct kafka_fetch_request *req, uint64_t bytes_ready) {
    struct broker *b = ctx->b;
    if (b->fetch_waiter_count >= FETCH_WAITERS_MAX) return false;
    struct fetch_waiter *w = arena_alloc(ctx->arena, sizeof(*w));
    if (!w) return false;
    uint32_t n = 0;
    for (int32_t i = 0; i < req->topics_count; i++) n += (uint32_t)(req->topics[i].partitions_count > 0 ? req->topics[i].partitions_count : 0);
    w->links = arena_alloc(ctx->arena, sizeof(*w->links) * (n ? n : 1));
    if (!w->links) return false;
    w->ctx = ctx;
    w->req = req;
    w->min_bytes = req->min_bytes;
    w->bytes_seen = bytes_ready;
    w->timer = net_timer_add(b->loop, (uint64_t)req->max_wait_ms, waiter_timeout, w);
    if (!w->timer) return false;
    for (int32_t i = 0; i < req->topics_count; i++) {
        struct topic *t = fetch_topic(ctx, &req->topics[i]);
        for (int32_t j = 0; j < req->topics[i].partitions_count; j++) {
            struct partition *p = partition_find(t, req->topics[i].partitions[j].partition);
            if (!p) continue;
            struct fetch_waiter_link *l = &w->links[w->link_count++];
            l->waiter = w;
            l->partition = p;
            l->prev = NULL;
            l->next = p->waiters;
            if (p->waiters) p->waiters->prev = l;
            p->waiters = l;
            l->linked = true;
        }
    }
    ctx->waiter = w;
    ctx->on_abort = fetch_abort;
    b->fetch_waiter_count++;
    return true;
}

void fetch_notify(struct broker *b, struct partition *p, uint32_t bytes_appended) {
    struct fetch_waiter_link *l = p->waiters;
    while (l) {
        struct fetch_waiter *w = l->waiter;
        w->bytes_seen += bytes_appended;
        if (w->bytes_seen >= (uint64_t)(w->min_bytes > 0 ? w->min_bytes : 1)) {
            waiter_complete(b, w);
            l = p->waiters;  /* the list changed under us; completed waiters are gone from it */
            continue;
        }
        l = l->next;
    }
    /* A second pass is not needed: a waiter left in the list has had this
     * append counted exactly once per link it holds on p. */
}

void fetch_drop_partition(struct broker *b, struct partition *p) {
    while (p->waiters) waiter_complete(b, p->waiters->waiter);
}

static void fetch_abort(struct request_ctx *ctx) {
    if (!ctx->waiter) return;
    waiter_unlink(ctx->b, ctx->waiter);
    ctx->on_abort = NULL;
    net_respond(ctx->req, NULL);
}

/* ------------------------------------------------------------- handler */

void handle_fetch(struct request_ctx *ctx) {
    struct kafka_fetch_request *req = arena_alloc(ctx->arena, sizeof(*req));
    if (!req) return request_reject(ctx, "out of request memory");
    if (!DECODE(ctx, kafka_fetch_request, req)) return;
    if (req->session_id != 0 || req->session_epoch > 0) {
        struct kafka_fetch_response resp;
        kafka_fetch_response_init(&resp);
        resp.error_code = KAFKA_ERR_FETCH_SESSION_ID_NOT_FOUND;
        request_count_error(ctx, resp.error_code);
        RESPOND(ctx, kafka_fetch_response, &resp);
        return;
    }
    if (ctx->api_version < 3) req->max_bytes = INT32_MAX;
    struct kafka_fetch_response resp;
    bool has_error;
    uint64_t got = fetch_build(ctx, req, &resp, &has_error);
    if (got >= (uint64_t)(req->min_bytes > 0 ? req->min_bytes : 1) || req->max_wait_ms <= 0 || has_error) {
        fetch_account(ctx, req, &resp);
        RESPOND(ctx, kafka_fetch_response, &resp);
        return;
    }
    close_records(&resp);
    if (!fetch_park(ctx, req, got)) {
        if (ctx->waiter) waiter_unlink(ctx->b, ctx->waiter);
        fetch_respond(ctx, req);
    }
}
