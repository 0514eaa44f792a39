/*
 * librdkafka's C admin API (and the lookups next to it) against a running
 * gregor, started by test_rdkafka_admin.sh:
 *
 *   test_rdkafka_admin BOOTSTRAP PREFIX
 *
 * CreateTopics (configs, validate_only, refusals), DescribeConfigs (topic
 * and broker resources), AlterConfigs, CreatePartitions, DeleteRecords (the
 * low watermark moves; consuming below it is OFFSET_OUT_OF_RANGE, handled
 * per auto.offset.reset), offsets_for_times, a LogAppendTime topic, and
 * DeleteTopics. Topic names start with PREFIX. One PASS/FAIL line per test;
 * the reasons for a FAIL go to stderr.
 */
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TIMEOUT_MS 20000

static const char *bootstrap;
static const char *prefix;
static rd_kafka_t *admin; /* one client for all admin requests */
static bool test_ok;      /* cleared by CHECK in the running test */
static int failures;

#define CHECK(cond, ...)                                                                 \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "%s:%d: %s: ", __func__, __LINE__, #cond);                   \
            fprintf(stderr, __VA_ARGS__);                                                \
            fputc('\n', stderr);                                                         \
            test_ok = false;                                                             \
        }                                                                                \
    } while (0)

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *topic_name(const char *suffix) {
    static char names[16][256];
    static int next;
    char *n = names[next++ % 16];
    snprintf(n, sizeof(names[0]), "%s-%s", prefix, suffix);
    return n;
}

static void conf_set(rd_kafka_conf_t *conf, const char *k, const char *v) {
    char errstr[512];
    if (rd_kafka_conf_set(conf, k, v, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "conf %s=%s: %s\n", k, v, errstr);
        exit(2);
    }
}

static rd_kafka_conf_t *base_conf(void) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    conf_set(conf, "bootstrap.servers", bootstrap);
    conf_set(conf, "log_level", "3");
    return conf;
}

static rd_kafka_t *new_client(rd_kafka_type_t type, rd_kafka_conf_t *conf) {
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "rd_kafka_new: %s\n", errstr);
        exit(2);
    }
    return rk;
}

/* ---- admin plumbing ---- */

static rd_kafka_AdminOptions_t *options(rd_kafka_admin_op_t op, bool validate_only) {
    char errstr[512];
    rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(admin, op);
    rd_kafka_AdminOptions_set_request_timeout(o, TIMEOUT_MS, errstr, sizeof(errstr));
    if (op == RD_KAFKA_ADMIN_OP_CREATETOPICS || op == RD_KAFKA_ADMIN_OP_DELETETOPICS ||
        op == RD_KAFKA_ADMIN_OP_CREATEPARTITIONS || op == RD_KAFKA_ADMIN_OP_DELETERECORDS)
        rd_kafka_AdminOptions_set_operation_timeout(o, TIMEOUT_MS / 2, errstr, sizeof(errstr));
    if (validate_only && rd_kafka_AdminOptions_set_validate_only(o, 1, errstr, sizeof(errstr))) {
        fprintf(stderr, "validate_only: %s\n", errstr);
        exit(2);
    }
    return o;
}

/* Waits for the result event of the request just issued on q (NULL on timeout
 * or on a request-level error, which is printed). */
static rd_kafka_event_t *wait_result(rd_kafka_queue_t *q, rd_kafka_event_type_t type, const char *what) {
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, TIMEOUT_MS + 5000);
    if (!ev) {
        fprintf(stderr, "%s: no result in time\n", what);
        return NULL;
    }
    if (rd_kafka_event_type(ev) != type) {
        fprintf(stderr, "%s: event type %d, expected %d\n", what, rd_kafka_event_type(ev), type);
        rd_kafka_event_destroy(ev);
        return NULL;
    }
    if (rd_kafka_event_error(ev)) {
        fprintf(stderr, "%s: %s: %s\n", what, rd_kafka_err2name(rd_kafka_event_error(ev)),
                rd_kafka_event_error_string(ev));
        rd_kafka_event_destroy(ev);
        return NULL;
    }
    return ev;
}

#define REQUEST_FAILED ((rd_kafka_resp_err_t)-12345)

/* Creates one topic; configs is a NULL-terminated name, value, ... list.
 * Returns the topic's error code (REQUEST_FAILED if no per-topic result). */
static rd_kafka_resp_err_t create_topic(const char *name, int partitions, int replication, const char **configs,
                                        bool validate_only) {
    char errstr[512];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(name, partitions, replication, errstr, sizeof(errstr));
    if (!nt) {
        fprintf(stderr, "NewTopic %s: %s\n", name, errstr);
        return REQUEST_FAILED;
    }
    for (int i = 0; configs && configs[i]; i += 2) rd_kafka_NewTopic_set_config(nt, configs[i], configs[i + 1]);
    rd_kafka_queue_t *q = rd_kafka_queue_new(admin);
    rd_kafka_AdminOptions_t *o = options(RD_KAFKA_ADMIN_OP_CREATETOPICS, validate_only);
    rd_kafka_CreateTopics(admin, &nt, 1, o, q);
    rd_kafka_event_t *ev = wait_result(q, RD_KAFKA_EVENT_CREATETOPICS_RESULT, "CreateTopics");
    rd_kafka_resp_err_t err = REQUEST_FAILED;
    if (ev) {
        size_t n = 0;
        const rd_kafka_topic_result_t **res =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
        if (n == 1 && strcmp(rd_kafka_topic_result_name(res[0]), name) == 0) {
            err = rd_kafka_topic_result_error(res[0]);
            if (err)
                fprintf(stderr, "(CreateTopics %s: %s: %s)\n", name, rd_kafka_err2name(err),
                        rd_kafka_topic_result_error_string(res[0]) ? rd_kafka_topic_result_error_string(res[0]) : "");
        }
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    return err;
}

static rd_kafka_resp_err_t delete_topic(const char *name) {
    rd_kafka_DeleteTopic_t *dt = rd_kafka_DeleteTopic_new(name);
    rd_kafka_queue_t *q = rd_kafka_queue_new(admin);
    rd_kafka_AdminOptions_t *o = options(RD_KAFKA_ADMIN_OP_DELETETOPICS, false);
    rd_kafka_DeleteTopics(admin, &dt, 1, o, q);
    rd_kafka_event_t *ev = wait_result(q, RD_KAFKA_EVENT_DELETETOPICS_RESULT, "DeleteTopics");
    rd_kafka_resp_err_t err = REQUEST_FAILED;
    if (ev) {
        size_t n = 0;
        const rd_kafka_topic_result_t **res =
            rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &n);
        if (n == 1) err = rd_kafka_topic_result_error(res[0]);
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    rd_kafka_DeleteTopic_destroy(dt);
    return err;
}

static rd_kafka_resp_err_t create_partitions(const char *name, int total, bool validate_only) {
    char errstr[512];
    rd_kafka_NewPartitions_t *np = rd_kafka_NewPartitions_new(name, (size_t)total, errstr, sizeof(errstr));
    rd_kafka_queue_t *q = rd_kafka_queue_new(admin);
    rd_kafka_AdminOptions_t *o = options(RD_KAFKA_ADMIN_OP_CREATEPARTITIONS, validate_only);
    rd_kafka_CreatePartitions(admin, &np, 1, o, q);
    rd_kafka_event_t *ev = wait_result(q, RD_KAFKA_EVENT_CREATEPARTITIONS_RESULT, "CreatePartitions");
    rd_kafka_resp_err_t err = REQUEST_FAILED;
    if (ev) {
        size_t n = 0;
        const rd_kafka_topic_result_t **res =
            rd_kafka_CreatePartitions_result_topics(rd_kafka_event_CreatePartitions_result(ev), &n);
        if (n == 1) err = rd_kafka_topic_result_error(res[0]);
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewPartitions_destroy(np);
    return err;
}

/* Partition count of a topic from a full metadata request (no auto-create);
 * -1 if the topic is not listed. */
static int partition_count(const char *name) {
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(admin, 1, NULL, &md, TIMEOUT_MS);
    if (err) {
        fprintf(stderr, "metadata: %s\n", rd_kafka_err2str(err));
        return -2;
    }
    int n = -1;
    for (int i = 0; i < md->topic_cnt; i++)
        if (strcmp(md->topics[i].topic, name) == 0) n = md->topics[i].err ? -1 : md->topics[i].partition_cnt;
    rd_kafka_metadata_destroy(md);
    return n;
}

/* ---- configs ---- */

struct config_view {
    rd_kafka_event_t *ev; /* owns everything below */
    rd_kafka_resp_err_t err;
    const rd_kafka_ConfigEntry_t **entries;
    size_t count;
};

static void describe(rd_kafka_ResourceType_t type, const char *name, struct config_view *v) {
    memset(v, 0, sizeof(*v));
    v->err = REQUEST_FAILED;
    rd_kafka_ConfigResource_t *r = rd_kafka_ConfigResource_new(type, name);
    rd_kafka_queue_t *q = rd_kafka_queue_new(admin);
    rd_kafka_AdminOptions_t *o = options(RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, false);
    rd_kafka_DescribeConfigs(admin, &r, 1, o, q);
    v->ev = wait_result(q, RD_KAFKA_EVENT_DESCRIBECONFIGS_RESULT, "DescribeConfigs");
    if (v->ev) {
        size_t n = 0;
        const rd_kafka_ConfigResource_t **res =
            rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(v->ev), &n);
        if (n == 1) {
            v->err = rd_kafka_ConfigResource_error(res[0]);
            v->entries = rd_kafka_ConfigResource_configs(res[0], &v->count);
        }
    }
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    rd_kafka_ConfigResource_destroy(r);
}

static void view_free(struct config_view *v) {
    if (v->ev) rd_kafka_event_destroy(v->ev);
    memset(v, 0, sizeof(*v));
}

static const rd_kafka_ConfigEntry_t *entry(const struct config_view *v, const char *name) {
    for (size_t i = 0; i < v->count; i++)
        if (strcmp(rd_kafka_ConfigEntry_name(v->entries[i]), name) == 0) return v->entries[i];
    return NULL;
}

static const char *value_of(const struct config_view *v, const char *name) {
    const rd_kafka_ConfigEntry_t *e = entry(v, name);
    const char *s = e ? rd_kafka_ConfigEntry_value(e) : NULL;
    return s ? s : "(none)";
}

/* AlterConfigs on one topic with a NULL-terminated name, value list;
 * returns the resource's error. */
static rd_kafka_resp_err_t alter_topic(const char *name, const char **configs, bool validate_only) {
    rd_kafka_ConfigResource_t *r = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, name);
    for (int i = 0; configs[i]; i += 2) rd_kafka_ConfigResource_set_config(r, configs[i], configs[i + 1]);
    rd_kafka_queue_t *q = rd_kafka_queue_new(admin);
    rd_kafka_AdminOptions_t *o = options(RD_KAFKA_ADMIN_OP_ALTERCONFIGS, validate_only);
    rd_kafka_AlterConfigs(admin, &r, 1, o, q);
    rd_kafka_event_t *ev = wait_result(q, RD_KAFKA_EVENT_ALTERCONFIGS_RESULT, "AlterConfigs");
    rd_kafka_resp_err_t err = REQUEST_FAILED;
    if (ev) {
        size_t n = 0;
        const rd_kafka_ConfigResource_t **res =
            rd_kafka_AlterConfigs_result_resources(rd_kafka_event_AlterConfigs_result(ev), &n);
        if (n == 1) err = rd_kafka_ConfigResource_error(res[0]);
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    rd_kafka_ConfigResource_destroy(r);
    return err;
}

/* ---- producing and consuming ---- */

static int deliveries_ok, deliveries_failed;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    if (m->err) {
        if (deliveries_failed++ < 3) fprintf(stderr, "delivery failed: %s\n", rd_kafka_err2str(m->err));
    } else {
        deliveries_ok++;
    }
}

/* Produces count messages "m-<first+i>" to one partition through an
 * idempotent acks=all producer; timestamps[i] (if given) set each record's
 * CreateTime. Returns true when all were delivered. */
static bool produce(const char *topic, int32_t partition, int first, int count, const int64_t *timestamps) {
    rd_kafka_conf_t *conf = base_conf();
    conf_set(conf, "enable.idempotence", "true");
    conf_set(conf, "acks", "all");
    conf_set(conf, "linger.ms", "5");
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_t *rk = new_client(RD_KAFKA_PRODUCER, conf);
    deliveries_ok = deliveries_failed = 0;
    for (int i = 0; i < count; i++) {
        char value[32];
        int len = snprintf(value, sizeof(value), "m-%d", first + i);
        rd_kafka_resp_err_t err = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition), RD_KAFKA_V_VALUE(value, (size_t)len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_TIMESTAMP(timestamps ? timestamps[i] : 0),
            RD_KAFKA_V_END);
        if (err) {
            fprintf(stderr, "produce: %s\n", rd_kafka_err2str(err));
            break;
        }
        rd_kafka_poll(rk, 0);
    }
    rd_kafka_flush(rk, TIMEOUT_MS);
    rd_kafka_destroy(rk);
    if (deliveries_ok != count) fprintf(stderr, "produce to %s: %d of %d delivered\n", topic, deliveries_ok, count);
    return deliveries_ok == count;
}

static rd_kafka_t *new_consumer(const char *reset) {
    rd_kafka_conf_t *conf = base_conf();
    conf_set(conf, "group.id", "gregor-rdkafka-admin"); /* unused: assign() only, no commits */
    conf_set(conf, "enable.auto.commit", "false");
    conf_set(conf, "enable.auto.offset.store", "false");
    conf_set(conf, "auto.offset.reset", reset);
    rd_kafka_t *rk = new_client(RD_KAFKA_CONSUMER, conf);
    rd_kafka_poll_set_consumer(rk);
    return rk;
}

static void assign_at(rd_kafka_t *rk, const char *topic, int32_t partition, int64_t offset) {
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition)->offset = offset;
    rd_kafka_resp_err_t err = rd_kafka_assign(rk, l);
    if (err) fprintf(stderr, "assign: %s\n", rd_kafka_err2str(err));
    rd_kafka_topic_partition_list_destroy(l);
}

/* Polls until a message or an error other than PARTITION_EOF arrives (the
 * caller destroys it), or NULL after timeout_ms. */
static rd_kafka_message_t *next_event(rd_kafka_t *rk, int timeout_ms) {
    int64_t deadline = now_ms() + timeout_ms;
    while (now_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m) continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            rd_kafka_message_destroy(m);
            continue;
        }
        return m;
    }
    return NULL;
}

static void close_consumer(rd_kafka_t *rk) {
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

/* ---- tests ---- */

static void test_create_topics(void) {
    const char *t = topic_name("create");
    const char *cfg[] = {"retention.ms", "3600000", "cleanup.policy", "delete", "max.message.bytes", "300000", NULL};

    /* validate_only: accepted, nothing created. */
    rd_kafka_resp_err_t err = create_topic(t, 3, 1, cfg, true);
    CHECK(err == RD_KAFKA_RESP_ERR_NO_ERROR, "validate_only create: %s", rd_kafka_err2name(err));
    CHECK(partition_count(t) == -1, "validate_only created the topic");

    err = create_topic(t, 3, 1, cfg, false);
    CHECK(err == RD_KAFKA_RESP_ERR_NO_ERROR, "create: %s", rd_kafka_err2name(err));
    CHECK(partition_count(t) == 3, "partitions: %d", partition_count(t));

    err = create_topic(t, 3, 1, NULL, false);
    CHECK(err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS, "create again: %s", rd_kafka_err2name(err));
    err = create_topic(t, 3, 1, NULL, true);
    CHECK(err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS, "validate_only create of an existing topic: %s",
          rd_kafka_err2name(err));

    /* Refusals, with and without validate_only. */
    for (int vo = 0; vo < 2; vo++) {
        const char *bad_key[] = {"no.such.config", "1", NULL};
        const char *bad_value[] = {"cleanup.policy", "shred", NULL};
        const char *bad_number[] = {"retention.ms", "soon", NULL};
        err = create_topic(topic_name("badkey"), 1, 1, bad_key, vo);
        CHECK(err == RD_KAFKA_RESP_ERR_INVALID_CONFIG, "unknown config (vo=%d): %s", vo, rd_kafka_err2name(err));
        err = create_topic(topic_name("badval"), 1, 1, bad_value, vo);
        CHECK(err == RD_KAFKA_RESP_ERR_INVALID_CONFIG, "bad cleanup.policy (vo=%d): %s", vo, rd_kafka_err2name(err));
        err = create_topic(topic_name("badnum"), 1, 1, bad_number, vo);
        CHECK(err == RD_KAFKA_RESP_ERR_INVALID_CONFIG, "bad retention.ms (vo=%d): %s", vo, rd_kafka_err2name(err));
        err = create_topic("bad name!", 1, 1, NULL, vo);
        CHECK(err == RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION, "bad name (vo=%d): %s", vo, rd_kafka_err2name(err));
        err = create_topic(topic_name("rf3"), 1, 3, NULL, vo);
        CHECK(err == RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR, "replication 3 (vo=%d): %s", vo,
              rd_kafka_err2name(err));
    }
    CHECK(partition_count(topic_name("badkey")) == -1, "a refused topic exists");
    /* -1 partitions / replicas: the broker defaults (num.partitions=1). */
    err = create_topic(topic_name("defaults"), -1, -1, NULL, false);
    CHECK(err == RD_KAFKA_RESP_ERR_NO_ERROR, "create with broker defaults: %s", rd_kafka_err2name(err));
    CHECK(partition_count(topic_name("defaults")) == 1, "default partitions: %d", partition_count(topic_name("defaults")));
}

static void test_describe_configs(void) {
    const char *t = topic_name("create"); /* made by test_create_topics */
    struct config_view v;
    describe(RD_KAFKA_RESOURCE_TOPIC, t, &v);
    CHECK(v.err == RD_KAFKA_RESP_ERR_NO_ERROR, "describe topic: %s", rd_kafka_err2name(v.err));
    const char *keys[] = {"cleanup.policy",    "retention.ms",           "retention.bytes",     "segment.bytes",
                          "segment.ms",        "max.message.bytes",      "message.timestamp.type",
                          "min.insync.replicas", "compression.type"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) CHECK(entry(&v, keys[i]), "no %s", keys[i]);
    const rd_kafka_ConfigEntry_t *e = entry(&v, "retention.ms");
    if (e) {
        CHECK(strcmp(value_of(&v, "retention.ms"), "3600000") == 0, "retention.ms=%s", value_of(&v, "retention.ms"));
        CHECK(rd_kafka_ConfigEntry_source(e) == RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG, "retention.ms source %s",
              rd_kafka_ConfigSource_name(rd_kafka_ConfigEntry_source(e)));
        CHECK(!rd_kafka_ConfigEntry_is_default(e), "retention.ms is_default");
        CHECK(!rd_kafka_ConfigEntry_is_read_only(e), "retention.ms read-only");
        size_t ns = 0;
        const rd_kafka_ConfigEntry_t **syn = rd_kafka_ConfigEntry_synonyms(e, &ns);
        /* librdkafka asks for synonyms (DescribeConfigs v1+): the topic
         * value first, then the broker's log.retention.ms default. */
        CHECK(ns >= 1 && strcmp(rd_kafka_ConfigEntry_value(syn[0]), "3600000") == 0 &&
                  rd_kafka_ConfigEntry_source(syn[0]) == RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG,
              "retention.ms synonyms: %zu", ns);
        bool broker_default = false;
        for (size_t i = 0; i < ns; i++) {
            fprintf(stderr, "  (retention.ms synonym %s=%s source %s)\n", rd_kafka_ConfigEntry_name(syn[i]),
                    rd_kafka_ConfigEntry_value(syn[i]) ? rd_kafka_ConfigEntry_value(syn[i]) : "null",
                    rd_kafka_ConfigSource_name(rd_kafka_ConfigEntry_source(syn[i])));
            if (strncmp(rd_kafka_ConfigEntry_name(syn[i]), "log.retention.", 14) == 0) broker_default = true;
        }
        CHECK(broker_default, "retention.ms synonyms lack the broker's log.retention.* default");
    }
    e = entry(&v, "cleanup.policy");
    if (e) {
        CHECK(strcmp(value_of(&v, "cleanup.policy"), "delete") == 0, "cleanup.policy=%s", value_of(&v, "cleanup.policy"));
        CHECK(rd_kafka_ConfigEntry_source(e) == RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG, "cleanup.policy source %s",
              rd_kafka_ConfigSource_name(rd_kafka_ConfigEntry_source(e)));
    }
    e = entry(&v, "segment.bytes");
    if (e) {
        CHECK(rd_kafka_ConfigEntry_source(e) != RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG,
              "segment.bytes (never set) has a topic-level source");
        CHECK(strcmp(value_of(&v, "segment.bytes"), "1073741824") == 0, "segment.bytes=%s",
              value_of(&v, "segment.bytes"));
    }
    CHECK(strcmp(value_of(&v, "max.message.bytes"), "300000") == 0, "max.message.bytes=%s",
          value_of(&v, "max.message.bytes"));
    view_free(&v);

    /* Broker resource, by node id. */
    const struct rd_kafka_metadata *md = NULL;
    char node[16] = "1";
    if (!rd_kafka_metadata(admin, 0, NULL, &md, TIMEOUT_MS)) {
        if (md->broker_cnt == 1) snprintf(node, sizeof(node), "%" PRId32, md->brokers[0].id);
        CHECK(md->broker_cnt == 1, "%d brokers in metadata", md->broker_cnt);
        rd_kafka_metadata_destroy(md);
    }
    describe(RD_KAFKA_RESOURCE_BROKER, node, &v);
    CHECK(v.err == RD_KAFKA_RESP_ERR_NO_ERROR, "describe broker %s: %s", node, rd_kafka_err2name(v.err));
    CHECK(v.count > 0, "broker %s: no configs", node);
    CHECK(strcmp(value_of(&v, "num.partitions"), "1") == 0, "broker num.partitions=%s", value_of(&v, "num.partitions"));
    CHECK(strcmp(value_of(&v, "log.retention.ms"), "604800000") == 0 || !entry(&v, "log.retention.ms"),
          "broker log.retention.ms=%s", value_of(&v, "log.retention.ms"));
    view_free(&v);

    /* A topic that does not exist. */
    describe(RD_KAFKA_RESOURCE_TOPIC, topic_name("absent"), &v);
    CHECK(v.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, "describe absent topic: %s", rd_kafka_err2name(v.err));
    view_free(&v);
}

static void test_alter_configs(void) {
    const char *t = topic_name("alter");
    const char *create_cfg[] = {"cleanup.policy", "compact", NULL};
    CHECK(create_topic(t, 1, 1, create_cfg, false) == 0, "create %s", t);
    struct config_view v;

    const char *set1[] = {"retention.ms", "7200000", "segment.ms", "600000", NULL};
    rd_kafka_resp_err_t err = alter_topic(t, set1, true);
    CHECK(err == 0, "validate_only alter: %s", rd_kafka_err2name(err));
    describe(RD_KAFKA_RESOURCE_TOPIC, t, &v);
    CHECK(strcmp(value_of(&v, "retention.ms"), "604800000") == 0, "validate_only changed retention.ms to %s",
          value_of(&v, "retention.ms"));
    CHECK(strcmp(value_of(&v, "cleanup.policy"), "compact") == 0, "cleanup.policy=%s", value_of(&v, "cleanup.policy"));
    view_free(&v);

    err = alter_topic(t, set1, false);
    CHECK(err == 0, "alter: %s", rd_kafka_err2name(err));
    describe(RD_KAFKA_RESOURCE_TOPIC, t, &v);
    CHECK(strcmp(value_of(&v, "retention.ms"), "7200000") == 0, "retention.ms=%s", value_of(&v, "retention.ms"));
    CHECK(strcmp(value_of(&v, "segment.ms"), "600000") == 0, "segment.ms=%s", value_of(&v, "segment.ms"));
    /* AlterConfigs replaces the whole set: the omitted cleanup.policy reverts. */
    CHECK(strcmp(value_of(&v, "cleanup.policy"), "delete") == 0, "cleanup.policy kept as %s",
          value_of(&v, "cleanup.policy"));
    const rd_kafka_ConfigEntry_t *e = entry(&v, "cleanup.policy");
    CHECK(e && rd_kafka_ConfigEntry_source(e) != RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG,
          "reverted cleanup.policy still a topic config");
    view_free(&v);

    const char *bad_key[] = {"no.such.config", "1", NULL};
    const char *bad_value[] = {"min.insync.replicas", "zero", NULL};
    const char *bad_ts[] = {"message.timestamp.type", "WallClock", NULL};
    err = alter_topic(t, bad_key, false);
    CHECK(err == RD_KAFKA_RESP_ERR_INVALID_CONFIG, "unknown key: %s", rd_kafka_err2name(err));
    err = alter_topic(t, bad_value, false);
    CHECK(err == RD_KAFKA_RESP_ERR_INVALID_CONFIG, "bad min.insync.replicas: %s", rd_kafka_err2name(err));
    err = alter_topic(t, bad_ts, true);
    CHECK(err == RD_KAFKA_RESP_ERR_INVALID_CONFIG, "bad message.timestamp.type (validate_only): %s",
          rd_kafka_err2name(err));
    err = alter_topic(topic_name("absent"), set1, false);
    CHECK(err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, "alter absent topic: %s", rd_kafka_err2name(err));
    describe(RD_KAFKA_RESOURCE_TOPIC, t, &v);
    CHECK(strcmp(value_of(&v, "retention.ms"), "7200000") == 0, "a refused alter changed retention.ms to %s",
          value_of(&v, "retention.ms"));
    view_free(&v);
}

static void test_create_partitions(void) {
    const char *t = topic_name("parts");
    CHECK(create_topic(t, 3, 1, NULL, false) == 0, "create %s", t);
    rd_kafka_resp_err_t err = create_partitions(t, 6, true);
    CHECK(err == 0, "validate_only: %s", rd_kafka_err2name(err));
    CHECK(partition_count(t) == 3, "validate_only: %d partitions", partition_count(t));
    err = create_partitions(t, 6, false);
    CHECK(err == 0, "3 -> 6: %s", rd_kafka_err2name(err));
    CHECK(partition_count(t) == 6, "after 3 -> 6: %d partitions", partition_count(t));
    err = create_partitions(t, 4, false);
    CHECK(err == RD_KAFKA_RESP_ERR_INVALID_PARTITIONS, "6 -> 4: %s", rd_kafka_err2name(err));
    err = create_partitions(t, 6, false);
    CHECK(err == RD_KAFKA_RESP_ERR_INVALID_PARTITIONS, "6 -> 6: %s", rd_kafka_err2name(err));
    err = create_partitions(topic_name("absent"), 2, false);
    CHECK(err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, "absent topic: %s", rd_kafka_err2name(err));
    CHECK(partition_count(t) == 6, "refusals changed the count: %d", partition_count(t));
    /* A new partition takes writes and reads. */
    CHECK(produce(t, 5, 0, 3, NULL), "produce to partition 5");
    int64_t lo = -1, hi = -1;
    err = rd_kafka_query_watermark_offsets(admin, t, 5, &lo, &hi, TIMEOUT_MS);
    CHECK(!err && lo == 0 && hi == 3, "partition 5 watermarks %s %" PRId64 "..%" PRId64, rd_kafka_err2name(err), lo, hi);
}

/* DeleteRecords for one partition; returns the per-partition error and
 * stores the low watermark it reports. */
static rd_kafka_resp_err_t delete_records(const char *t, int32_t partition, int64_t before, int64_t *low) {
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, t, partition)->offset = before;
    rd_kafka_DeleteRecords_t *dr = rd_kafka_DeleteRecords_new(l);
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_queue_t *q = rd_kafka_queue_new(admin);
    rd_kafka_AdminOptions_t *o = options(RD_KAFKA_ADMIN_OP_DELETERECORDS, false);
    rd_kafka_DeleteRecords(admin, &dr, 1, o, q);
    rd_kafka_resp_err_t err = REQUEST_FAILED;
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, TIMEOUT_MS + 5000);
    if (!ev) {
        fprintf(stderr, "DeleteRecords: no result\n");
    } else {
        /* librdkafka 2.0 reports a partition-level error both as the
         * event error and in the partition entry. */
        const rd_kafka_DeleteRecords_result_t *res = rd_kafka_event_DeleteRecords_result(ev);
        const rd_kafka_topic_partition_list_t *offs = res ? rd_kafka_DeleteRecords_result_offsets(res) : NULL;
        if (offs && offs->cnt == 1) {
            err = offs->elems[0].err;
            *low = offs->elems[0].offset;
        } else if (rd_kafka_event_error(ev)) {
            err = rd_kafka_event_error(ev);
            fprintf(stderr, "DeleteRecords: %s\n", rd_kafka_event_error_string(ev));
        }
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    rd_kafka_DeleteRecords_destroy(dr);
    return err;
}

static void test_delete_records(void) {
    const char *t = topic_name("delrec");
    CHECK(create_topic(t, 2, 1, NULL, false) == 0, "create %s", t);
    CHECK(produce(t, 0, 0, 100, NULL), "produce 100 to partition 0");
    CHECK(produce(t, 1, 0, 10, NULL), "produce 10 to partition 1");

    int64_t low = -1, lo = -1, hi = -1;
    rd_kafka_resp_err_t err = delete_records(t, 0, 40, &low);
    CHECK(err == 0 && low == 40, "delete before 40: %s, low watermark %" PRId64, rd_kafka_err2name(err), low);
    err = rd_kafka_query_watermark_offsets(admin, t, 0, &lo, &hi, TIMEOUT_MS);
    CHECK(!err && lo == 40 && hi == 100, "watermarks after delete: %s %" PRId64 "..%" PRId64, rd_kafka_err2name(err),
          lo, hi);
    /* Below the current start: nothing to do, the start stays. */
    err = delete_records(t, 0, 10, &low);
    CHECK(err == 0 && low == 40, "delete before 10 after 40: %s, low %" PRId64, rd_kafka_err2name(err), low);
    /* Past the high watermark: OFFSET_OUT_OF_RANGE. */
    err = delete_records(t, 0, 101, &low);
    CHECK(err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE, "delete before 101 of 100: %s", rd_kafka_err2name(err));
    /* OFFSET_END: everything up to the high watermark. */
    err = delete_records(t, 1, RD_KAFKA_OFFSET_END, &low);
    CHECK(err == 0 && low == 10, "delete partition 1 to the end: %s, low %" PRId64, rd_kafka_err2name(err), low);
    err = rd_kafka_query_watermark_offsets(admin, t, 1, &lo, &hi, TIMEOUT_MS);
    CHECK(!err && lo == 10 && hi == 10, "partition 1 watermarks: %" PRId64 "..%" PRId64, lo, hi);

    /* auto.offset.reset=error: fetching at 10 (< 40) surfaces the broker's
     * OFFSET_OUT_OF_RANGE as _AUTO_OFFSET_RESET. */
    rd_kafka_t *c = new_consumer("error");
    assign_at(c, t, 0, 10);
    rd_kafka_message_t *m = next_event(c, 15000);
    CHECK(m && m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET, "reset=error: %s (%s)",
          m ? rd_kafka_err2name(m->err) : "nothing", m && m->err ? rd_kafka_message_errstr(m) : "");
    if (m && m->err) CHECK(strstr(rd_kafka_message_errstr(m), "ut of range") != NULL, "errstr: %s",
                           rd_kafka_message_errstr(m));
    if (m) rd_kafka_message_destroy(m);
    close_consumer(c);

    /* earliest: resumes at the new start, 40. */
    c = new_consumer("earliest");
    assign_at(c, t, 0, 10);
    m = next_event(c, 15000);
    CHECK(m && !m->err && m->offset == 40 && m->len == 4 && memcmp(m->payload, "m-40", 4) == 0,
          "reset=earliest: %s offset %" PRId64, m ? rd_kafka_err2name(m->err) : "nothing", m ? m->offset : -1);
    if (m) rd_kafka_message_destroy(m);
    close_consumer(c);

    /* latest: resumes at the high watermark; the next record produced is the first seen. */
    c = new_consumer("latest");
    assign_at(c, t, 0, 10);
    m = next_event(c, 3000);
    CHECK(!m, "reset=latest delivered %s at %" PRId64 " before anything new", m ? rd_kafka_err2name(m->err) : "",
          m ? m->offset : -1);
    if (m) rd_kafka_message_destroy(m);
    CHECK(produce(t, 0, 100, 1, NULL), "produce one more");
    m = next_event(c, 15000);
    CHECK(m && !m->err && m->offset == 100, "reset=latest then new record: %s offset %" PRId64,
          m ? rd_kafka_err2name(m->err) : "nothing", m ? m->offset : -1);
    if (m) rd_kafka_message_destroy(m);
    close_consumer(c);
}

static void test_offsets_for_times(void) {
    const char *t = topic_name("times");
    CHECK(create_topic(t, 2, 1, NULL, false) == 0, "create %s", t);
    const int64_t t0 = 1700000000000;
    int64_t ts[20];
    for (int i = 0; i < 20; i++) ts[i] = t0 + i * 1000; /* offsets 0..19 */
    CHECK(produce(t, 0, 0, 20, ts), "produce with timestamps");
    int64_t old[1] = {t0 - 100000};
    CHECK(produce(t, 1, 0, 1, old), "produce one old record to partition 1");

    struct {
        int32_t partition;
        int64_t when, want;
    } cases[] = {
        {0, t0 - 1, 0},      {0, t0, 0},       {0, t0 + 1, 1},  {0, t0 + 7500, 8}, {0, t0 + 19000, 19},
        {0, t0 + 19001, -1}, {1, t0 - 200000, 0}, {1, t0, -1},
    };
    size_t n = sizeof(cases) / sizeof(cases[0]);
    for (size_t i = 0; i < n; i++) {
        /* offsets_for_times takes one entry per partition: one call per case. */
        rd_kafka_topic_partition_list_t *one = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(one, t, cases[i].partition)->offset = cases[i].when;
        rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(admin, one, TIMEOUT_MS);
        int64_t got = one->elems[0].offset;
        CHECK(!err && !one->elems[0].err && got == cases[i].want,
              "partition %" PRId32 " time t0%+" PRId64 ": %s/%s offset %" PRId64 ", want %" PRId64, cases[i].partition,
              cases[i].when - t0, rd_kafka_err2name(err), rd_kafka_err2name(one->elems[0].err), got, cases[i].want);
        rd_kafka_topic_partition_list_destroy(one);
    }

    /* Both partitions in one request. */
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(2);
    rd_kafka_topic_partition_list_add(l, t, 0)->offset = t0 + 3000;
    rd_kafka_topic_partition_list_add(l, t, 1)->offset = t0 - 100000;
    rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(admin, l, TIMEOUT_MS);
    CHECK(!err && l->elems[0].offset == 3 && l->elems[1].offset == 0, "two partitions: %s %" PRId64 " %" PRId64,
          rd_kafka_err2name(err), l->elems[0].offset, l->elems[1].offset);
    rd_kafka_topic_partition_list_destroy(l);
}

static void test_log_append_time(void) {
    const char *t = topic_name("lat");
    const char *cfg[] = {"message.timestamp.type", "LogAppendTime", NULL};
    CHECK(create_topic(t, 1, 1, cfg, false) == 0, "create %s", t);
    struct config_view v;
    describe(RD_KAFKA_RESOURCE_TOPIC, t, &v);
    CHECK(strcmp(value_of(&v, "message.timestamp.type"), "LogAppendTime") == 0, "message.timestamp.type=%s",
          value_of(&v, "message.timestamp.type"));
    view_free(&v);

    int64_t old[3] = {1000, 2000, 3000};
    int64_t before = now_ms();
    CHECK(produce(t, 0, 0, 3, old), "produce");
    int64_t after = now_ms();

    rd_kafka_t *c = new_consumer("earliest");
    assign_at(c, t, 0, RD_KAFKA_OFFSET_BEGINNING);
    int64_t append_ts = -1;
    for (int i = 0; i < 3; i++) {
        rd_kafka_message_t *m = next_event(c, 15000);
        CHECK(m && !m->err && m->offset == i, "message %d: %s", i, m ? rd_kafka_err2name(m->err) : "nothing");
        if (m && !m->err) {
            rd_kafka_timestamp_type_t tt;
            int64_t ts = rd_kafka_message_timestamp(m, &tt);
            CHECK(tt == RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME, "offset %" PRId64 ": timestamp type %d", m->offset, tt);
            CHECK(ts >= before - 1000 && ts <= after + 1000, "offset %" PRId64 ": timestamp %" PRId64
                  " outside [%" PRId64 ", %" PRId64 "]", m->offset, ts, before, after);
            append_ts = ts;
        }
        if (m) rd_kafka_message_destroy(m);
    }
    close_consumer(c);

    /* Time lookups use the append time, not the producer's 1000..3000. */
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, t, 0)->offset = 5000;
    rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(admin, l, TIMEOUT_MS);
    CHECK(!err && l->elems[0].offset == 0, "offsets_for_times(5000): %s %" PRId64, rd_kafka_err2name(err),
          l->elems[0].offset);
    l->elems[0].offset = append_ts + 1;
    err = rd_kafka_offsets_for_times(admin, l, TIMEOUT_MS);
    CHECK(!err && l->elems[0].offset == -1, "offsets_for_times(after append): %s %" PRId64, rd_kafka_err2name(err),
          l->elems[0].offset);
    rd_kafka_topic_partition_list_destroy(l);
}

static void test_delete_topics(void) {
    const char *t = topic_name("del");
    CHECK(create_topic(t, 2, 1, NULL, false) == 0, "create %s", t);
    CHECK(produce(t, 1, 0, 5, NULL), "produce");
    rd_kafka_resp_err_t err = delete_topic(t);
    CHECK(err == 0, "delete: %s", rd_kafka_err2name(err));
    CHECK(partition_count(t) == -1, "deleted topic still listed (%d partitions)", partition_count(t));
    err = delete_topic(t);
    CHECK(err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, "delete again: %s", rd_kafka_err2name(err));
    struct config_view v;
    describe(RD_KAFKA_RESOURCE_TOPIC, t, &v);
    CHECK(v.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, "describe deleted: %s", rd_kafka_err2name(v.err));
    view_free(&v);
    /* Recreated under the same name: empty, one partition. */
    CHECK(create_topic(t, 1, 1, NULL, false) == 0, "recreate %s", t);
    int64_t lo = -1, hi = -1;
    err = rd_kafka_query_watermark_offsets(admin, t, 0, &lo, &hi, TIMEOUT_MS);
    CHECK(!err && lo == 0 && hi == 0, "recreated watermarks %s %" PRId64 "..%" PRId64, rd_kafka_err2name(err), lo, hi);
    CHECK(partition_count(t) == 1, "recreated partitions %d", partition_count(t));
}

static void run(const char *name, void (*fn)(void)) {
    test_ok = true;
    int64_t t0 = now_ms();
    fn();
    printf("%s %s (%.1fs)\n", test_ok ? "PASS" : "FAIL", name, (double)(now_ms() - t0) / 1000.0);
    fflush(stdout);
    fflush(stderr);
    if (!test_ok) failures++;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s BOOTSTRAP PREFIX\n", argv[0]);
        return 2;
    }
    bootstrap = argv[1];
    prefix = argv[2];
    admin = new_client(RD_KAFKA_PRODUCER, base_conf());
    run("rdkafka_admin_create_topics", test_create_topics);
    run("rdkafka_admin_describe_configs", test_describe_configs);
    run("rdkafka_admin_alter_configs", test_alter_configs);
    run("rdkafka_admin_create_partitions", test_create_partitions);
    run("rdkafka_admin_delete_records", test_delete_records);
    run("rdkafka_offsets_for_times", test_offsets_for_times);
    run("rdkafka_log_append_time", test_log_append_time);
    run("rdkafka_admin_delete_topics", test_delete_topics);
    rd_kafka_destroy(admin);
    return failures ? 1 : 0;
}
