/*
 * CreateTopics, DeleteTopics and CreatePartitions.
 */
#include "broker/internal.h"

#include <string.h>

#include "core/limits.h"

/* Config sources as DescribeConfigs and CreateTopics report them. */
#define CONFIG_SOURCE_DYNAMIC_TOPIC 1
#define CONFIG_SOURCE_DEFAULT 5

/* One node holds one replica: any other factor (but -1, "the default")
 * cannot be met. */
static int16_t check_replication(const struct broker *b, const struct kafka_create_topics_request_creatable_topic *ct,
                                 const char **msg) {
    if (ct->assignments_count > 0) {
        if (ct->num_partitions != -1 || ct->replication_factor != -1) {
            *msg = "Both numPartitions or replicationFactor and replicasAssignments were set";
            return KAFKA_ERR_INVALID_REQUEST;
        }
        for (int32_t i = 0; i < ct->assignments_count; i++) {
            const struct kafka_create_topics_request_creatable_replica_assignment *a = &ct->assignments[i];
            if (a->broker_ids_count != 1 || a->broker_ids[0] != b->cfg.node_id || a->partition_index != i) {
                *msg = "Replica assignment must name this broker once per partition, in order";
                return KAFKA_ERR_INVALID_REPLICA_ASSIGNMENT;
            }
        }
        return KAFKA_ERR_NONE;
    }
    if (ct->replication_factor == -1 || ct->replication_factor == 1) return KAFKA_ERR_NONE;
    *msg = ct->replication_factor <= 0 ? "Replication factor must be larger than 0"
                                       : "Replication factor is larger than the number of brokers (1)";
    return KAFKA_ERR_INVALID_REPLICATION_FACTOR;
}

static void describe_created(struct request_ctx *ctx, struct topic *t,
                             struct kafka_create_topics_response_creatable_topic_result *out) {
    out->num_partitions = t->partition_count;
    out->replication_factor = 1;
    out->configs = ARENA_NEW_ARRAY(ctx, struct kafka_create_topics_response_creatable_topic_configs,
                                   topic_config_key_count);
    if (!out->configs) {
        out->configs_count = -1;
        return;
    }
    for (size_t i = 0; i < topic_config_key_count; i++) {
        struct kafka_create_topics_response_creatable_topic_configs *c = &out->configs[i];
        kafka_create_topics_response_creatable_topic_configs_init(c);
        char buf[64];
        topic_config_value(ctx->b, t, i, buf, sizeof(buf));
        c->name = kstr_c(topic_config_keys[i].name);
        c->value = kstr_c(arena_strndup(ctx->arena, buf, strlen(buf)));
        c->config_source = t->config.overrides[i] ? CONFIG_SOURCE_DYNAMIC_TOPIC : CONFIG_SOURCE_DEFAULT;
    }
    out->configs_count = (int32_t)topic_config_key_count;
}

void handle_create_topics(struct request_ctx *ctx) {
    struct kafka_create_topics_request req;
    if (!DECODE(ctx, kafka_create_topics_request, &req)) return;
    struct kafka_create_topics_response resp;
    kafka_create_topics_response_init(&resp);
    int32_t n = req.topics_count < 0 ? 0 : req.topics_count;
    resp.topics = ARENA_NEW_ARRAY(ctx, struct kafka_create_topics_response_creatable_topic_result, n);
    if (!resp.topics) return request_reject(ctx, "out of request memory");
    resp.topics_count = n;
    struct named_entry *names = ARENA_NEW_ARRAY(ctx, struct named_entry, n);
    if (!names) return request_reject(ctx, "out of request memory");
    for (int32_t i = 0; i < n; i++) names[i] = (struct named_entry){0, req.topics[i].name, i};
    bool *duplicated = mark_duplicates(ctx, names, n);
    if (!duplicated) return request_reject(ctx, "out of request memory");
    for (int32_t i = 0; i < n; i++) {
        struct kafka_create_topics_request_creatable_topic *ct = &req.topics[i];
        struct kafka_create_topics_response_creatable_topic_result *out = &resp.topics[i];
        kafka_create_topics_response_creatable_topic_result_init(out);
        out->name = ct->name;
        const char *msg = NULL;
        /* The same name twice in one request is refused for both, as Kafka does. */
        if (duplicated[i]) {
            out->error_code = KAFKA_ERR_INVALID_REQUEST;
            out->error_message = kstr_c("Duplicate topic name in the request");
            continue;
        }
        int16_t err = check_replication(ctx->b, ct, &msg);
        int32_t nconf = ct->configs_count < 0 ? 0 : ct->configs_count;
        const char **keys = ARENA_NEW_ARRAY(ctx, const char *, nconf);
        const char **values = ARENA_NEW_ARRAY(ctx, const char *, nconf);
        char *name = kstr_dup(ctx->arena, ct->name);
        if (!keys || !values || (!name && ct->name.len >= 0)) return request_reject(ctx, "out of request memory");
        int32_t kept = 0;
        for (int32_t c = 0; c < nconf; c++) {
            if (ct->configs[c].value.len < 0) continue;  /* null means "use the default" */
            keys[kept] = kstr_dup(ctx->arena, ct->configs[c].name);
            values[kept] = kstr_dup(ctx->arena, ct->configs[c].value);
            if (!keys[kept] || !values[kept]) return request_reject(ctx, "out of request memory");
            kept++;
        }
        if (err == KAFKA_ERR_NONE) {
            int32_t partitions = ct->assignments_count > 0 ? ct->assignments_count : ct->num_partitions;
            struct topic_create_spec spec = {name ? name : "", partitions, kept, keys, values};
            struct topic *t = NULL;
            err = topic_create(ctx->b, &spec, ctx->api_version >= 1 && req.validate_only, &t, &msg);
            if (err == KAFKA_ERR_NONE && t) {
                out->topic_id = t->id;
                if (ctx->api_version >= 5) describe_created(ctx, t, out);
            } else if (err == KAFKA_ERR_NONE) {
                out->num_partitions = partitions == -1 ? ctx->b->cfg.num_partitions : partitions;
                out->replication_factor = 1;
            }
        }
        out->error_code = err;
        request_count_error(ctx, err);
        if (err != KAFKA_ERR_NONE && msg) out->error_message = kstr_c(msg);
    }
    RESPOND(ctx, kafka_create_topics_response, &resp);
}

void handle_delete_topics(struct request_ctx *ctx) {
    struct kafka_delete_topics_request req;
    if (!DECODE(ctx, kafka_delete_topics_request, &req)) return;
    struct kafka_delete_topics_response resp;
    kafka_delete_topics_response_init(&resp);
    bool by_state = ctx->api_version >= 6;
    int32_t n = by_state ? req.topics_count : req.topic_names_count;
    if (n < 0) n = 0;
    resp.responses = ARENA_NEW_ARRAY(ctx, struct kafka_delete_topics_response_deletable_topic_result, n);
    if (!resp.responses) return request_reject(ctx, "out of request memory");
    resp.responses_count = n;
    for (int32_t i = 0; i < n; i++) {
        struct kafka_delete_topics_response_deletable_topic_result *out = &resp.responses[i];
        kafka_delete_topics_response_deletable_topic_result_init(out);
        struct topic *t = NULL;
        if (by_state && req.topics[i].name.len < 0) {
            out->topic_id = req.topics[i].topic_id;
            out->name = (struct kstr){NULL, -1};
            t = topic_find_id(ctx->b, &req.topics[i].topic_id);
            if (!t) {
                out->error_code = KAFKA_ERR_UNKNOWN_TOPIC_ID;
                continue;
            }
        } else {
            struct kstr name = by_state ? req.topics[i].name : req.topic_names[i];
            out->name = name;
            t = topic_find(ctx->b, name);
            if (!t) {
                out->error_code = KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION;
                continue;
            }
        }
        out->topic_id = t->id;
        if (t->internal) {
            out->error_code = KAFKA_ERR_INVALID_REQUEST;
            out->error_message = kstr_c("Internal topics cannot be deleted");
            continue;
        }
        if (!out->name.ptr || out->name.len < 0) {
            char *copy = arena_strndup(ctx->arena, t->name, strlen(t->name));
            out->name = kstr_c(copy);
        }
        out->error_code = topic_delete(ctx->b, t);
        request_count_error(ctx, out->error_code);
    }
    RESPOND(ctx, kafka_delete_topics_response, &resp);
}

void handle_create_partitions(struct request_ctx *ctx) {
    struct kafka_create_partitions_request req;
    if (!DECODE(ctx, kafka_create_partitions_request, &req)) return;
    struct kafka_create_partitions_response resp;
    kafka_create_partitions_response_init(&resp);
    int32_t n = req.topics_count < 0 ? 0 : req.topics_count;
    resp.results = ARENA_NEW_ARRAY(ctx, struct kafka_create_partitions_response_create_partitions_topic_result, n);
    if (!resp.results) return request_reject(ctx, "out of request memory");
    resp.results_count = n;
    for (int32_t i = 0; i < n; i++) {
        struct kafka_create_partitions_request_create_partitions_topic *rt = &req.topics[i];
        struct kafka_create_partitions_response_create_partitions_topic_result *out = &resp.results[i];
        kafka_create_partitions_response_create_partitions_topic_result_init(out);
        out->name = rt->name;
        struct topic *t = topic_find(ctx->b, rt->name);
        if (!t) {
            out->error_code = KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION;
            continue;
        }
        const char *msg = NULL;
        if (t->internal) {
            /* Group placement hashes over __consumer_offsets' partition count. */
            out->error_code = KAFKA_ERR_INVALID_REQUEST;
            out->error_message = kstr_c("Partitions cannot be added to internal topics");
            continue;
        }
        if (rt->assignments_count > 0) {
            for (int32_t a = 0; a < rt->assignments_count; a++)
                if (rt->assignments[a].broker_ids_count != 1 || rt->assignments[a].broker_ids[0] != ctx->b->cfg.node_id) {
                    out->error_code = KAFKA_ERR_INVALID_REPLICA_ASSIGNMENT;
                    out->error_message = kstr_c("Replica assignment must name this broker once per partition");
                }
            if (out->error_code) continue;
        }
        out->error_code = topic_add_partitions(ctx->b, t, rt->count, req.validate_only, &msg);
        if (out->error_code && msg) out->error_message = kstr_c(msg);
        request_count_error(ctx, out->error_code);
    }
    RESPOND(ctx, kafka_create_partitions_response, &resp);
}
