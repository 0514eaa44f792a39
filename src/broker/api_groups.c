/*
 * Consumer-group APIs: decode, call the coordinator (src/group), encode.
 * FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
 * OffsetCommit, OffsetFetch, OffsetDelete, ListGroups, DescribeGroups,
 * DeleteGroups.
 *
 * JoinGroup and SyncGroup may be held past the handler's return: the
 * request lends the coordinator a waiter (in its arena) and sets on_abort
 * so that a dying connection withdraws it. The coordinator may answer
 * before group_join/group_sync return, after which the request (and its
 * arena) is gone: the handlers do nothing after that call.
 */
#include "broker/internal.h"

#include <stdio.h>
#include <string.h>

#include "group/group.h"

/* "/1.2.3.4" from the peer text "1.2.3.4:port": Kafka shows the client
 * host as Java prints an InetAddress without a host name. */
static const char *client_host(struct request_ctx *ctx) {
    const char *peer = ctx->req->conn ? net_conn_peer(ctx->req->conn) : "";
    const char *colon = strrchr(peer, ':');
    size_t n = colon ? (size_t)(colon - peer) : strlen(peer);
    char *out = arena_alloc(ctx->arena, n + 2);
    if (!out) return "/";
    out[0] = '/';
    memcpy(out + 1, peer, n);
    out[n + 1] = 0;
    return out;
}

/* The connection died while the coordinator held the request. */
static void group_request_abort(struct request_ctx *ctx) {
    struct group_waiter *w = ctx->group_waiter;
    ctx->group_waiter = NULL;
    ctx->on_abort = NULL;
    if (w) group_waiter_abandon(w);
    net_respond(ctx->req, NULL);
}

static struct group_waiter *lend_waiter(struct request_ctx *ctx) {
    struct group_waiter *w = arena_alloc(ctx->arena, sizeof(*w));
    if (!w) return NULL;
    w->owner = ctx;
    ctx->group_waiter = w;
    ctx->on_abort = group_request_abort;
    return w;
}

/* ------------------------------------------------------------ FindCoordinator */

void handle_find_coordinator(struct request_ctx *ctx) {
    struct kafka_find_coordinator_request req;
    if (!DECODE(ctx, kafka_find_coordinator_request, &req)) return;
    struct kafka_find_coordinator_response resp;
    if (group_find_coordinator(ctx->b->groups, &req, ctx->api_version, ctx->arena, &resp) != 0)
        return request_reject(ctx, "out of request memory");
    RESPOND(ctx, kafka_find_coordinator_response, &resp);
}

/* ------------------------------------------------------------------ JoinGroup */

static void join_done(struct group_waiter *w, const struct group_join_reply *r) {
    struct request_ctx *ctx = w->owner;
    ctx->group_waiter = NULL;
    ctx->on_abort = NULL;
    struct kafka_join_group_response resp;
    kafka_join_group_response_init(&resp);
    resp.error_code = r->error;
    request_count_error(ctx, r->error);
    resp.generation_id = r->generation;
    resp.protocol_type = r->protocol_type;
    /* Before v7 the protocol name is not nullable. */
    resp.protocol_name = r->protocol_name.len < 0 && ctx->api_version < 7 ? kstr_c("") : r->protocol_name;
    resp.leader = r->leader;
    resp.member_id = r->member_id;
    resp.skip_assignment = r->skip_assignment;
    if (r->members_of) {
        uint32_t n = group_member_count(r->members_of);
        resp.members = ARENA_NEW_ARRAY(ctx, struct kafka_join_group_response_join_group_response_member, n);
        if (!resp.members) return request_reject(ctx, "out of request memory");
        int32_t i = 0;
        for (const struct group_member *m = group_first_member(r->members_of); m; m = group_next_member(m), i++) {
            struct kafka_join_group_response_join_group_response_member *rm = &resp.members[i];
            kafka_join_group_response_join_group_response_member_init(rm);
            rm->member_id = group_member_id(m);
            rm->group_instance_id = group_member_instance_id(m);
            rm->metadata = group_member_metadata(m);
        }
        resp.members_count = i;
    }
    RESPOND(ctx, kafka_join_group_response, &resp);
}

void handle_join_group(struct request_ctx *ctx) {
    struct kafka_join_group_request req;
    if (!DECODE(ctx, kafka_join_group_request, &req)) return;
    struct group_client client = {ctx->client_id, client_host(ctx)};
    struct group_waiter *w = lend_waiter(ctx);
    if (!w) return request_reject(ctx, "out of request memory");
    w->join_done = join_done;
    group_join(ctx->b->groups, &req, ctx->api_version, &client, w);
    /* ctx may be answered and freed by now. */
}

/* ------------------------------------------------------------------ SyncGroup */

static void sync_done(struct group_waiter *w, const struct group_sync_reply *r) {
    struct request_ctx *ctx = w->owner;
    ctx->group_waiter = NULL;
    ctx->on_abort = NULL;
    struct kafka_sync_group_response resp;
    kafka_sync_group_response_init(&resp);
    resp.error_code = r->error;
    request_count_error(ctx, r->error);
    resp.protocol_type = r->protocol_type;
    resp.protocol_name = r->protocol_name;
    resp.assignment = r->assignment;
    RESPOND(ctx, kafka_sync_group_response, &resp);
}

void handle_sync_group(struct request_ctx *ctx) {
    struct kafka_sync_group_request req;
    if (!DECODE(ctx, kafka_sync_group_request, &req)) return;
    struct group_waiter *w = lend_waiter(ctx);
    if (!w) return request_reject(ctx, "out of request memory");
    w->sync_done = sync_done;
    group_sync(ctx->b->groups, &req, ctx->api_version, w);
    /* ctx may be answered and freed by now. */
}

/* ------------------------------------------------------- Heartbeat, LeaveGroup */

void handle_heartbeat(struct request_ctx *ctx) {
    struct kafka_heartbeat_request req;
    if (!DECODE(ctx, kafka_heartbeat_request, &req)) return;
    struct kafka_heartbeat_response resp;
    kafka_heartbeat_response_init(&resp);
    resp.error_code = group_heartbeat(ctx->b->groups, &req);
    request_count_error(ctx, resp.error_code);
    RESPOND(ctx, kafka_heartbeat_response, &resp);
}

void handle_leave_group(struct request_ctx *ctx) {
    struct kafka_leave_group_request req;
    if (!DECODE(ctx, kafka_leave_group_request, &req)) return;
    struct kafka_leave_group_response resp;
    if (group_leave(ctx->b->groups, &req, ctx->api_version, ctx->arena, &resp) != 0)
        return request_reject(ctx, "out of request memory");
    RESPOND(ctx, kafka_leave_group_response, &resp);
}

/* ----------------------------------------------------------------- offsets */

void handle_offset_commit(struct request_ctx *ctx) {
    struct kafka_offset_commit_request req;
    if (!DECODE(ctx, kafka_offset_commit_request, &req)) return;
    struct kafka_offset_commit_response resp;
    if (group_offset_commit(ctx->b->groups, &req, ctx->api_version, ctx->arena, &resp) != 0)
        return request_reject(ctx, "out of request memory");
    for (int32_t i = 0; i < resp.topics_count; i++)
        for (int32_t j = 0; j < resp.topics[i].partitions_count; j++)
            request_count_error(ctx, resp.topics[i].partitions[j].error_code);
    RESPOND(ctx, kafka_offset_commit_response, &resp);
}

void handle_offset_fetch(struct request_ctx *ctx) {
    struct kafka_offset_fetch_request req;
    if (!DECODE(ctx, kafka_offset_fetch_request, &req)) return;
    struct kafka_offset_fetch_response resp;
    if (group_offset_fetch(ctx->b->groups, &req, ctx->api_version, ctx->arena, &resp) != 0)
        return request_reject(ctx, "out of request memory");
    RESPOND(ctx, kafka_offset_fetch_response, &resp);
}

void handle_offset_delete(struct request_ctx *ctx) {
    struct kafka_offset_delete_request req;
    if (!DECODE(ctx, kafka_offset_delete_request, &req)) return;
    struct kafka_offset_delete_response resp;
    if (group_offset_delete(ctx->b->groups, &req, ctx->arena, &resp) != 0)
        return request_reject(ctx, "out of request memory");
    RESPOND(ctx, kafka_offset_delete_response, &resp);
}

/* -------------------------------------------------------------- admin view */

void handle_list_groups(struct request_ctx *ctx) {
    struct kafka_list_groups_request req;
    if (!DECODE(ctx, kafka_list_groups_request, &req)) return;
    struct kafka_list_groups_response resp;
    if (group_list(ctx->b->groups, &req, ctx->arena, &resp) != 0) return request_reject(ctx, "out of request memory");
    RESPOND(ctx, kafka_list_groups_response, &resp);
}

void handle_describe_groups(struct request_ctx *ctx) {
    struct kafka_describe_groups_request req;
    if (!DECODE(ctx, kafka_describe_groups_request, &req)) return;
    struct kafka_describe_groups_response resp;
    if (group_describe(ctx->b->groups, &req, ctx->arena, &resp) != 0)
        return request_reject(ctx, "out of request memory");
    RESPOND(ctx, kafka_describe_groups_response, &resp);
}

void handle_delete_groups(struct request_ctx *ctx) {
    struct kafka_delete_groups_request req;
    if (!DECODE(ctx, kafka_delete_groups_request, &req)) return;
    struct kafka_delete_groups_response resp;
    if (group_delete_groups(ctx->b->groups, &req, ctx->arena, &resp) != 0)
        return request_reject(ctx, "out of request memory");
    RESPOND(ctx, kafka_delete_groups_response, &resp);
}
