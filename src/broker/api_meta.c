/*
 * ApiVersions, Metadata and DescribeCluster: what a client asks before
 * anything else, to learn our versions, our brokers and our topics.
 */
#include "broker/internal.h"

#include <string.h>

#define ENDPOINT_TYPE_BROKERS 1
#define ENDPOINT_TYPE_CONTROLLERS 2

/* With no authorizer every client may do everything a resource supports;
 * the bit for AclOperation code n is 1 << n (READ 3 ... DESCRIBE_TOKENS 14). */
#define ACL_OP(n) (1 << (n))
#define TOPIC_OPERATIONS (ACL_OP(3) | ACL_OP(4) | ACL_OP(5) | ACL_OP(6) | ACL_OP(7) | ACL_OP(8) | ACL_OP(10) | ACL_OP(11))
#define CLUSTER_OPERATIONS                                                                              \
    (ACL_OP(5) | ACL_OP(7) | ACL_OP(8) | ACL_OP(9) | ACL_OP(10) | ACL_OP(11) | ACL_OP(12) | ACL_OP(13) | \
     ACL_OP(14))

static int32_t advertised_port(const struct broker *b) {
    return b->cfg.advertised_port ? b->cfg.advertised_port : net_loop_port(b->loop);
}

void handle_api_versions(struct request_ctx *ctx) {
    struct kafka_api_versions_request req;
    if (!DECODE(ctx, kafka_api_versions_request, &req)) return;
    struct kafka_api_versions_response resp;
    kafka_api_versions_response_init(&resp);
    resp.api_keys = ARENA_NEW_ARRAY(ctx, struct kafka_api_versions_response_api_version, api_handler_count);
    if (!resp.api_keys) return request_reject(ctx, "out of request memory");
    for (size_t i = 0; i < api_handler_count; i++) {
        struct kafka_api_versions_response_api_version *v = &resp.api_keys[i];
        kafka_api_versions_response_api_version_init(v);
        v->api_key = api_handlers[i].api_key;
        v->min_version = api_handlers[i].min_version;
        v->max_version = api_handlers[i].max_version;
    }
    resp.api_keys_count = (int32_t)api_handler_count;
    RESPOND(ctx, kafka_api_versions_response, &resp);
}

static int fill_topic(struct request_ctx *ctx, struct kafka_metadata_response_metadata_response_topic *out, struct topic *t,
                      bool with_operations) {
    out->error_code = KAFKA_ERR_NONE;
    if (with_operations) out->topic_authorized_operations = TOPIC_OPERATIONS;
    out->name = kstr_c(t->name);
    out->topic_id = t->id;
    out->is_internal = t->internal;
    out->partitions = ARENA_NEW_ARRAY(ctx, struct kafka_metadata_response_metadata_response_partition, t->partition_count);
    int32_t *node = ARENA_NEW_ARRAY(ctx, int32_t, 1);
    if (!out->partitions || !node) return -1;
    *node = ctx->b->cfg.node_id;
    for (int32_t i = 0; i < t->partition_count; i++) {
        struct kafka_metadata_response_metadata_response_partition *p = &out->partitions[i];
        kafka_metadata_response_metadata_response_partition_init(p);
        p->partition_index = i;
        p->leader_id = *node;
        p->leader_epoch = t->partitions[i]->leader_epoch;
        p->replica_nodes = node;
        p->replica_nodes_count = 1;
        p->isr_nodes = node;
        p->isr_nodes_count = 1;
        p->offline_replicas_count = 0;
    }
    out->partitions_count = t->partition_count;
    return 0;
}

struct topic_list {
    struct topic **items;
    uint32_t len;
    uint32_t cap;
};

static void collect_topic(void *opaque, struct topic *t) {
    struct topic_list *l = opaque;
    if (l->len < l->cap) l->items[l->len++] = t;
}

void handle_metadata(struct request_ctx *ctx) {
    struct broker *b = ctx->b;
    struct kafka_metadata_request req;
    if (!DECODE(ctx, kafka_metadata_request, &req)) return;
    struct kafka_metadata_response resp;
    kafka_metadata_response_init(&resp);

    struct kafka_metadata_response_metadata_response_broker *me = ARENA_NEW_ARRAY(ctx, struct kafka_metadata_response_metadata_response_broker, 1);
    if (!me) return request_reject(ctx, "out of request memory");
    kafka_metadata_response_metadata_response_broker_init(me);
    me->node_id = b->cfg.node_id;
    me->host = kstr_c(b->cfg.advertised_host);
    me->port = advertised_port(b);
    resp.brokers = me;
    resp.brokers_count = 1;
    resp.cluster_id = kstr_c(b->cluster_id);
    resp.controller_id = b->cfg.node_id;
    if (req.include_cluster_authorized_operations) resp.cluster_authorized_operations = CLUSTER_OPERATIONS;

    /* v0 asks for all topics with an empty list; later versions with null. */
    bool all = req.topics_count < 0 || (ctx->api_version == 0 && req.topics_count == 0);
    if (all) {
        struct topic_list list = {ARENA_NEW_ARRAY(ctx, struct topic *, b->topic_count), 0, b->topic_count};
        resp.topics = ARENA_NEW_ARRAY(ctx, struct kafka_metadata_response_metadata_response_topic, b->topic_count);
        if (!list.items || !resp.topics) return request_reject(ctx, "out of request memory");
        topic_each(b, collect_topic, &list);
        for (uint32_t i = 0; i < list.len; i++) {
            kafka_metadata_response_metadata_response_topic_init(&resp.topics[i]);
            if (fill_topic(ctx, &resp.topics[i], list.items[i], req.include_topic_authorized_operations) != 0)
                return request_reject(ctx, "out of request memory");
        }
        resp.topics_count = (int32_t)list.len;
        RESPOND(ctx, kafka_metadata_response, &resp);
        return;
    }

    bool auto_create = ctx->api_version < 4 || req.allow_auto_topic_creation;
    resp.topics = ARENA_NEW_ARRAY(ctx, struct kafka_metadata_response_metadata_response_topic, req.topics_count);
    if (!resp.topics) return request_reject(ctx, "out of request memory");
    for (int32_t i = 0; i < req.topics_count; i++) {
        struct kafka_metadata_request_metadata_request_topic *rt = &req.topics[i];
        struct kafka_metadata_response_metadata_response_topic *out = &resp.topics[i];
        kafka_metadata_response_metadata_response_topic_init(out);
        out->name = rt->name;
        out->topic_id = rt->topic_id;
        struct topic *t = NULL;
        if (rt->name.len >= 0) {
            t = topic_find(b, rt->name);
            if (!t) {
                int16_t err = KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION;
                if (topic_name_invalid(rt->name)) err = KAFKA_ERR_INVALID_TOPIC_EXCEPTION;
                else if (auto_create) t = topic_auto_create(b, rt->name, &err);
                /* A topic being created reports LEADER_NOT_AVAILABLE to
                 * Kafka's clients; ours exists at once, so report it. */
                if (!t) out->error_code = err;
            }
        } else {
            t = topic_find_id(b, &rt->topic_id);
            if (!t) out->error_code = KAFKA_ERR_UNKNOWN_TOPIC_ID;
        }
        if (t && fill_topic(ctx, out, t, req.include_topic_authorized_operations) != 0) return request_reject(ctx, "out of request memory");
    }
    resp.topics_count = req.topics_count;
    RESPOND(ctx, kafka_metadata_response, &resp);
}

void handle_describe_cluster(struct request_ctx *ctx) {
    struct broker *b = ctx->b;
    struct kafka_describe_cluster_request req;
    if (!DECODE(ctx, kafka_describe_cluster_request, &req)) return;
    struct kafka_describe_cluster_response resp;
    kafka_describe_cluster_response_init(&resp);
    resp.endpoint_type = req.endpoint_type;
    /* v1 asks for brokers (1) or controllers (2); a broker answers only the first. */
    if (req.endpoint_type != ENDPOINT_TYPE_BROKERS) {
        resp.error_code = req.endpoint_type == ENDPOINT_TYPE_CONTROLLERS ? KAFKA_ERR_MISMATCHED_ENDPOINT_TYPE
                                                                         : KAFKA_ERR_UNSUPPORTED_ENDPOINT_TYPE;
        resp.error_message = kstr_c(resp.error_code == KAFKA_ERR_MISMATCHED_ENDPOINT_TYPE
                                        ? "The request was sent to a broker, not a controller"
                                        : "Unknown endpoint type");
        resp.cluster_id = kstr_c(b->cluster_id);
        RESPOND(ctx, kafka_describe_cluster_response, &resp);
        return;
    }
    resp.cluster_id = kstr_c(b->cluster_id);
    resp.controller_id = b->cfg.node_id;
    if (req.include_cluster_authorized_operations) resp.cluster_authorized_operations = CLUSTER_OPERATIONS;
    struct kafka_describe_cluster_response_describe_cluster_broker *me =
        ARENA_NEW_ARRAY(ctx, struct kafka_describe_cluster_response_describe_cluster_broker, 1);
    if (!me) return request_reject(ctx, "out of request memory");
    kafka_describe_cluster_response_describe_cluster_broker_init(me);
    me->broker_id = b->cfg.node_id;
    me->host = kstr_c(b->cfg.advertised_host);
    me->port = advertised_port(b);
    resp.brokers = me;
    resp.brokers_count = 1;
    RESPOND(ctx, kafka_describe_cluster_response, &resp);
}
