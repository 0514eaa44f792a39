/*
 * DescribeConfigs, AlterConfigs and IncrementalAlterConfigs for topic
 * configs; the broker's own configs are described (read-only: they come
 * from the properties file and change with a restart).
 */
#include "broker/internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define RESOURCE_TOPIC 2
#define RESOURCE_BROKER 4

#define CONFIG_SOURCE_DYNAMIC_TOPIC 1
#define CONFIG_SOURCE_STATIC_BROKER 4
#define CONFIG_SOURCE_DEFAULT 5

enum config_type { CONFIG_TYPE_STRING = 2, CONFIG_TYPE_INT = 3, CONFIG_TYPE_LONG = 5, CONFIG_TYPE_LIST = 7 };

enum alter_op { OP_SET = 0, OP_DELETE = 1, OP_APPEND = 2, OP_SUBTRACT = 3 };

/* Values fit in this; the longest is a cleanup policy or a 64-bit number. */
#define CONFIG_VALUE_BYTES_MAX 64

static int8_t topic_config_type(const char *name) {
    if (strcmp(name, "cleanup.policy") == 0) return CONFIG_TYPE_LIST;
    if (strcmp(name, "compression.type") == 0 || strcmp(name, "message.timestamp.type") == 0) return CONFIG_TYPE_STRING;
    if (strcmp(name, "max.message.bytes") == 0 || strcmp(name, "min.insync.replicas") == 0 ||
        strcmp(name, "segment.bytes") == 0 || strcmp(name, "index.interval.bytes") == 0)
        return CONFIG_TYPE_INT;
    return CONFIG_TYPE_LONG;
}

static bool key_requested(const struct kafka_describe_configs_request_describe_configs_resource *r, const char *key) {
    if (r->configuration_keys_count < 0) return true;
    for (int32_t i = 0; i < r->configuration_keys_count; i++)
        if (kstr_eq(r->configuration_keys[i], key)) return true;
    return false;
}

static struct kstr arena_text(struct request_ctx *ctx, const char *s) {
    return kstr_c(arena_strndup(ctx->arena, s, strlen(s)));
}

static int describe_topic(struct request_ctx *ctx, const struct kafka_describe_configs_request *req,
                          const struct kafka_describe_configs_request_describe_configs_resource *r,
                          struct kafka_describe_configs_response_describe_configs_result *out, struct topic *t) {
    out->configs = ARENA_NEW_ARRAY(ctx, struct kafka_describe_configs_response_describe_configs_resource_result,
                                   topic_config_key_count);
    if (!out->configs) return -1;
    int32_t n = 0;
    for (size_t i = 0; i < topic_config_key_count; i++) {
        const char *name = topic_config_keys[i].name;
        if (!key_requested(r, name)) continue;
        struct kafka_describe_configs_response_describe_configs_resource_result *c = &out->configs[n++];
        kafka_describe_configs_response_describe_configs_resource_result_init(c);
        char value[CONFIG_VALUE_BYTES_MAX], dflt[CONFIG_VALUE_BYTES_MAX];
        topic_config_value(ctx->b, t, i, value, sizeof(value));
        c->name = kstr_c(name);
        c->value = arena_text(ctx, value);
        bool overridden = t->config.overrides[i] != NULL;
        c->is_default = !overridden;
        c->config_source = overridden ? CONFIG_SOURCE_DYNAMIC_TOPIC : CONFIG_SOURCE_DEFAULT;
        c->config_type = topic_config_type(name);
        if (req->include_synonyms) {
            c->synonyms = ARENA_NEW_ARRAY(ctx, struct kafka_describe_configs_response_describe_configs_synonym, 2);
            if (!c->synonyms) return -1;
            int32_t s = 0;
            if (overridden) {
                kafka_describe_configs_response_describe_configs_synonym_init(&c->synonyms[s]);
                c->synonyms[s].name = kstr_c(name);
                c->synonyms[s].value = c->value;
                c->synonyms[s++].source = CONFIG_SOURCE_DYNAMIC_TOPIC;
            }
            if (broker_config_default_text(ctx->b, topic_config_keys[i].broker_key, dflt, sizeof(dflt))) {
                kafka_describe_configs_response_describe_configs_synonym_init(&c->synonyms[s]);
                c->synonyms[s].name = kstr_c(topic_config_keys[i].broker_key);
                c->synonyms[s].value = arena_text(ctx, dflt);
                c->synonyms[s++].source = CONFIG_SOURCE_DEFAULT;
            }
            c->synonyms_count = s;
        }
    }
    out->configs_count = n;
    return 0;
}

static int describe_broker(struct request_ctx *ctx,
                           const struct kafka_describe_configs_request_describe_configs_resource *r,
                           struct kafka_describe_configs_response_describe_configs_result *out) {
    out->configs = ARENA_NEW_ARRAY(ctx, struct kafka_describe_configs_response_describe_configs_resource_result,
                                   topic_config_key_count + 4);
    if (!out->configs) return -1;
    int32_t n = 0;
    char buf[CONFIG_VALUE_BYTES_MAX];
    const struct broker_config *cfg = &ctx->b->cfg;
    struct named_value {
        const char *name;
        const char *value;
    } extra[4];
    size_t extras = 0;
    char node[16], parts[16];
    snprintf(node, sizeof(node), "%d", cfg->node_id);
    snprintf(parts, sizeof(parts), "%d", cfg->num_partitions);
    extra[extras++] = (struct named_value){"node.id", node};
    extra[extras++] = (struct named_value){"num.partitions", parts};
    extra[extras++] = (struct named_value){"auto.create.topics.enable", cfg->auto_create_topics_enable ? "true" : "false"};
    extra[extras++] = (struct named_value){"log.dirs", cfg->log_dirs};
    for (size_t i = 0; i < extras + topic_config_key_count; i++) {
        const char *name, *value;
        if (i < extras) {
            name = extra[i].name;
            value = extra[i].value;
        } else {
            name = topic_config_keys[i - extras].broker_key;
            value = broker_config_default_text(ctx->b, name, buf, sizeof(buf));
            if (!value) continue;
        }
        if (!key_requested(r, name)) continue;
        struct kafka_describe_configs_response_describe_configs_resource_result *c = &out->configs[n++];
        kafka_describe_configs_response_describe_configs_resource_result_init(c);
        c->name = kstr_c(name);
        c->value = arena_text(ctx, value);
        c->read_only = true;
        c->config_source = CONFIG_SOURCE_STATIC_BROKER;
    }
    out->configs_count = n;
    return 0;
}

static bool is_this_broker(const struct broker *b, struct kstr name) {
    if (name.len == 0) return true;  /* the cluster-wide default resource */
    char buf[16];
    snprintf(buf, sizeof(buf), "%d", b->cfg.node_id);
    return kstr_eq(name, buf);
}

void handle_describe_configs(struct request_ctx *ctx) {
    struct kafka_describe_configs_request req;
    if (!DECODE(ctx, kafka_describe_configs_request, &req)) return;
    struct kafka_describe_configs_response resp;
    kafka_describe_configs_response_init(&resp);
    int32_t n = req.resources_count < 0 ? 0 : req.resources_count;
    resp.results = ARENA_NEW_ARRAY(ctx, struct kafka_describe_configs_response_describe_configs_result, n);
    if (!resp.results) return request_reject(ctx, "out of request memory");
    resp.results_count = n;
    for (int32_t i = 0; i < n; i++) {
        const struct kafka_describe_configs_request_describe_configs_resource *r = &req.resources[i];
        struct kafka_describe_configs_response_describe_configs_result *out = &resp.results[i];
        kafka_describe_configs_response_describe_configs_result_init(out);
        out->resource_type = r->resource_type;
        out->resource_name = r->resource_name;
        int rc = 0;
        if (r->resource_type == RESOURCE_TOPIC) {
            struct topic *t = topic_find(ctx->b, r->resource_name);
            if (!t) {
                out->error_code = KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION;
                out->error_message = kstr_c("Topic does not exist");
                continue;
            }
            rc = describe_topic(ctx, &req, r, out, t);
        } else if (r->resource_type == RESOURCE_BROKER && is_this_broker(ctx->b, r->resource_name)) {
            rc = describe_broker(ctx, r, out);
        } else {
            out->error_code = KAFKA_ERR_INVALID_REQUEST;
            out->error_message = kstr_c("Unsupported resource type or unknown broker");
        }
        if (rc != 0) return request_reject(ctx, "out of request memory");
    }
    RESPOND(ctx, kafka_describe_configs_response, &resp);
}

/* ------------------------------------------------------------------ alter */

struct config_change {
    const char *key;
    const char *value;   /* NULL: remove the override */
};

/* Applies a checked set of changes to one topic; all or nothing. */
static int16_t apply_changes(struct request_ctx *ctx, struct topic *t, struct config_change *changes, int32_t n,
                             bool validate_only, const char **why) {
    for (int32_t i = 0; i < n; i++) {
        int16_t err = topic_config_set(ctx->b, t, changes[i].key, changes[i].value, true, false, why);
        if (err) return err;
    }
    if (validate_only) return KAFKA_ERR_NONE;
    for (int32_t i = 0; i < n; i++) {
        int16_t err = topic_config_set(ctx->b, t, changes[i].key, changes[i].value, false, true, why);
        if (err) return err;
    }
    return KAFKA_ERR_NONE;
}

static struct topic *alter_target(struct request_ctx *ctx, int8_t type, struct kstr name, int16_t *err,
                                  const char **why) {
    if (type == RESOURCE_BROKER) {
        *err = KAFKA_ERR_INVALID_CONFIG;
        *why = "Broker configs are static in this version: edit the properties file and restart";
        return NULL;
    }
    if (type != RESOURCE_TOPIC) {
        *err = KAFKA_ERR_INVALID_REQUEST;
        *why = "Unsupported resource type";
        return NULL;
    }
    struct topic *t = topic_find(ctx->b, name);
    if (!t) {
        *err = KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION;
        *why = "Topic does not exist";
    }
    return t;
}

/* Items a list config can hold; cleanup.policy has two possible values. */
#define CONFIG_LIST_ITEMS_MAX 16

/* Splits a comma list into its items (in place); returns how many. */
static int list_split(char *text, char **items) {
    int n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(text, ",", &save); tok && n < CONFIG_LIST_ITEMS_MAX; tok = strtok_r(NULL, ",", &save))
        items[n++] = tok;
    return n;
}

static bool list_has(char **items, int n, const char *item) {
    for (int i = 0; i < n; i++)
        if (strcmp(items[i], item) == 0) return true;
    return false;
}

/* APPEND/SUBTRACT on a list-valued config (cleanup.policy): each item of
 * `change` (itself a comma list, as in Kafka) is added if absent, or removed. */
static const char *list_edit(struct request_ctx *ctx, const char *current, const char *change, bool append) {
    char cur_text[CONFIG_VALUE_BYTES_MAX], change_text[CONFIG_VALUE_BYTES_MAX];
    snprintf(cur_text, sizeof(cur_text), "%s", current);
    snprintf(change_text, sizeof(change_text), "%s", change);
    char *cur[CONFIG_LIST_ITEMS_MAX * 2], *chg[CONFIG_LIST_ITEMS_MAX];
    int ncur = list_split(cur_text, cur), nchg = list_split(change_text, chg);
    int nout = 0;
    char *out[CONFIG_LIST_ITEMS_MAX * 2];
    for (int i = 0; i < ncur; i++)
        if (append || !list_has(chg, nchg, cur[i])) out[nout++] = cur[i];
    for (int i = 0; append && i < nchg; i++)
        if (!list_has(out, nout, chg[i])) out[nout++] = chg[i];
    char text[CONFIG_VALUE_BYTES_MAX * 2] = "";
    for (int i = 0; i < nout; i++) {
        size_t len = strlen(text);
        snprintf(text + len, sizeof(text) - len, "%s%s", i ? "," : "", out[i]);
    }
    return arena_strndup(ctx->arena, text, strlen(text));
}

/* Turns one resource's requested configs into changes for topic t. */
typedef int16_t (*changes_fn)(struct request_ctx *ctx, struct topic *t, const void *resource,
                              struct config_change **changes, int32_t *count, const char **why);

/* AlterConfigs replaces the whole set: keys not named go back to the default. */
static int16_t full_changes(struct request_ctx *ctx, struct topic *t, const void *resource,
                            struct config_change **changes, int32_t *count, const char **why) {
    const struct kafka_alter_configs_request_alter_configs_resource *r = resource;
    int32_t given = r->configs_count < 0 ? 0 : r->configs_count;
    struct config_change *c = ARENA_NEW_ARRAY(ctx, struct config_change, given + (int32_t)topic_config_key_count);
    if (!c) return KAFKA_ERR_UNKNOWN_SERVER_ERROR;
    int32_t m = 0;
    for (int32_t i = 0; i < given; i++) {
        c[m].key = kstr_dup(ctx->arena, r->configs[i].name);
        c[m].value = kstr_dup(ctx->arena, r->configs[i].value);
        if (!c[m].key) return KAFKA_ERR_UNKNOWN_SERVER_ERROR;
        m++;
    }
    for (size_t k = 0; k < topic_config_key_count; k++) {
        bool named = false;
        for (int32_t i = 0; i < given; i++) named |= strcmp(c[i].key, topic_config_keys[k].name) == 0;
        if (!named && t->config.overrides[k]) c[m++] = (struct config_change){topic_config_keys[k].name, NULL};
    }
    *changes = c;
    *count = m;
    return KAFKA_ERR_NONE;
}

static int16_t incremental_changes(struct request_ctx *ctx, struct topic *t, const void *resource,
                                   struct config_change **changes, int32_t *count, const char **why) {
    const struct kafka_incremental_alter_configs_request_alter_configs_resource *r = resource;
    int32_t given = r->configs_count < 0 ? 0 : r->configs_count;
    struct config_change *c = ARENA_NEW_ARRAY(ctx, struct config_change, given);
    if (!c) return KAFKA_ERR_UNKNOWN_SERVER_ERROR;
    for (int32_t i = 0; i < given; i++) {
        const struct kafka_incremental_alter_configs_request_alterable_config *ac = &r->configs[i];
        char *key = kstr_dup(ctx->arena, ac->name);
        char *value = kstr_dup(ctx->arena, ac->value);
        int idx = key ? topic_config_index(key) : -1;
        if (idx < 0) {
            *why = "Unknown topic config name";
            return KAFKA_ERR_INVALID_CONFIG;
        }
        /* Kafka refuses a request that names a key twice or gives no value to set. */
        for (int32_t j = 0; j < i; j++)
            if (strcmp(c[j].key, key) == 0) {
                *why = "A config key appears twice for one resource";
                return KAFKA_ERR_INVALID_REQUEST;
            }
        if (!value && ac->config_operation != OP_DELETE) {
            *why = "A null value is allowed only with DELETE";
            return KAFKA_ERR_INVALID_REQUEST;
        }
        c[i].key = key;
        switch (ac->config_operation) {
        case OP_SET: c[i].value = value; break;
        case OP_DELETE: c[i].value = NULL; break;
        case OP_APPEND:
        case OP_SUBTRACT: {
            if (topic_config_type(key) != CONFIG_TYPE_LIST) {
                *why = "APPEND and SUBTRACT apply to list configs only";
                return KAFKA_ERR_INVALID_CONFIG;
            }
            char current[CONFIG_VALUE_BYTES_MAX];
            topic_config_value(ctx->b, t, (size_t)idx, current, sizeof(current));
            c[i].value = list_edit(ctx, current, value, ac->config_operation == OP_APPEND);
            break;
        }
        default:
            *why = "Unknown config operation";
            return KAFKA_ERR_INVALID_REQUEST;
        }
    }
    *changes = c;
    *count = given;
    return KAFKA_ERR_NONE;
}

static int16_t alter_resource(struct request_ctx *ctx, int8_t type, struct kstr name, bool validate_only,
                              changes_fn fn, const void *resource, struct kstr *message) {
    const char *why = NULL;
    int16_t err = KAFKA_ERR_NONE;
    struct topic *t = alter_target(ctx, type, name, &err, &why);
    struct config_change *changes = NULL;
    int32_t count = 0;
    if (t) err = fn(ctx, t, resource, &changes, &count, &why);
    if (t && !err) err = apply_changes(ctx, t, changes, count, validate_only, &why);
    if (err && why) *message = kstr_c(why);
    return err;
}

void handle_alter_configs(struct request_ctx *ctx) {
    struct kafka_alter_configs_request req;
    if (!DECODE(ctx, kafka_alter_configs_request, &req)) return;
    struct kafka_alter_configs_response resp;
    kafka_alter_configs_response_init(&resp);
    int32_t n = req.resources_count < 0 ? 0 : req.resources_count;
    resp.responses = ARENA_NEW_ARRAY(ctx, struct kafka_alter_configs_response_alter_configs_resource_response, n);
    if (!resp.responses) return request_reject(ctx, "out of request memory");
    resp.responses_count = n;
    for (int32_t i = 0; i < n; i++) {
        struct kafka_alter_configs_response_alter_configs_resource_response *out = &resp.responses[i];
        kafka_alter_configs_response_alter_configs_resource_response_init(out);
        out->resource_type = req.resources[i].resource_type;
        out->resource_name = req.resources[i].resource_name;
        out->error_code = alter_resource(ctx, out->resource_type, out->resource_name, req.validate_only,
                                         full_changes, &req.resources[i], &out->error_message);
    }
    RESPOND(ctx, kafka_alter_configs_response, &resp);
}

void handle_incremental_alter_configs(struct request_ctx *ctx) {
    struct kafka_incremental_alter_configs_request req;
    if (!DECODE(ctx, kafka_incremental_alter_configs_request, &req)) return;
    struct kafka_incremental_alter_configs_response resp;
    kafka_incremental_alter_configs_response_init(&resp);
    int32_t n = req.resources_count < 0 ? 0 : req.resources_count;
    resp.responses =
        ARENA_NEW_ARRAY(ctx, struct kafka_incremental_alter_configs_response_alter_configs_resource_response, n);
    if (!resp.responses) return request_reject(ctx, "out of request memory");
    resp.responses_count = n;
    struct named_entry *names = ARENA_NEW_ARRAY(ctx, struct named_entry, n);
    if (!names) return request_reject(ctx, "out of request memory");
    for (int32_t i = 0; i < n; i++)
        names[i] = (struct named_entry){req.resources[i].resource_type, req.resources[i].resource_name, i};
    bool *duplicated = mark_duplicates(ctx, names, n);
    if (!duplicated) return request_reject(ctx, "out of request memory");
    for (int32_t i = 0; i < n; i++) {
        struct kafka_incremental_alter_configs_response_alter_configs_resource_response *out = &resp.responses[i];
        kafka_incremental_alter_configs_response_alter_configs_resource_response_init(out);
        out->resource_type = req.resources[i].resource_type;
        out->resource_name = req.resources[i].resource_name;
        if (duplicated[i]) {
            out->error_code = KAFKA_ERR_INVALID_REQUEST;
            out->error_message = kstr_c("The same resource appears twice in the request");
            continue;
        }
        out->error_code = alter_resource(ctx, out->resource_type, out->resource_name, req.validate_only,
                                         incremental_changes, &req.resources[i], &out->error_message);
    }
    RESPOND(ctx, kafka_incremental_alter_configs_response, &resp);
}
