/*
 * librdkafka (C) against a running gregor, started by test_librdkafka.sh:
 *   test_librdkafka BOOTSTRAP TOPIC
 * creates TOPIC with 3 partitions, produces 10k keyed messages with headers
 * through an idempotent acks=all producer (key-hash partitioning), then
 * reads every partition back from the start and checks that each message
 * is there exactly once, at the offset its delivery report gave, in
 * production order per partition. Prints one PASS/FAIL line per phase.
 */
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MESSAGES 10000
#define PARTITIONS 3
#define TIMEOUT_MS 60000

struct delivery {
    int32_t partition; /* -1 until reported */
    int64_t offset;
    bool failed;
};

static struct delivery deliveries[MESSAGES];
static int delivery_errors;

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void verdict(bool ok, const char *name) {
    printf("%s %s\n", ok ? "PASS" : "FAIL", name);
    fflush(stdout);
}

static rd_kafka_conf_t *base_conf(const char *bootstrap) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char errstr[512];
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "conf: %s\n", errstr);
        exit(2);
    }
    return conf;
}

static void conf_set(rd_kafka_conf_t *conf, const char *k, const char *v) {
    char errstr[512];
    if (rd_kafka_conf_set(conf, k, v, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "conf %s=%s: %s\n", k, v, errstr);
        exit(2);
    }
}

static bool create_topic(const char *bootstrap, const char *topic) {
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, base_conf(bootstrap), errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "admin client: %s\n", errstr);
        return false;
    }
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, PARTITIONS, 1, errstr, sizeof(errstr));
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, TIMEOUT_MS);
    bool ok = false;
    if (!ev) {
        fprintf(stderr, "CreateTopics: no result in time\n");
    } else if (rd_kafka_event_error(ev)) {
        fprintf(stderr, "CreateTopics: %s\n", rd_kafka_event_error_string(ev));
    } else {
        size_t n = 0;
        const rd_kafka_topic_result_t **res =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
        rd_kafka_resp_err_t err = n == 1 ? rd_kafka_topic_result_error(res[0]) : RD_KAFKA_RESP_ERR__FAIL;
        ok = err == RD_KAFKA_RESP_ERR_NO_ERROR;
        if (!ok) fprintf(stderr, "CreateTopics %s: %s\n", topic, rd_kafka_err2str(err));
    }
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return ok;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    intptr_t i = (intptr_t)m->_private;
    if (i < 0 || i >= MESSAGES) return;
    if (m->err) {
        deliveries[i].failed = true;
        if (delivery_errors++ < 5) fprintf(stderr, "delivery of %" PRIdPTR " failed: %s\n", i, rd_kafka_err2str(m->err));
        return;
    }
    deliveries[i].partition = m->partition;
    deliveries[i].offset = m->offset;
}

static void make_value(int i, char *buf, size_t size) {
    snprintf(buf, size, "value-%d-%.*s", i, i % 40, "0123456789abcdefghijklmnopqrstuvwxyzABCD");
}

static bool produce_all(const char *bootstrap, const char *topic) {
    char errstr[512];
    rd_kafka_conf_t *conf = base_conf(bootstrap);
    conf_set(conf, "enable.idempotence", "true");
    conf_set(conf, "acks", "all");
    conf_set(conf, "linger.ms", "5");
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "producer: %s\n", errstr);
        return false;
    }
    for (int i = 0; i < MESSAGES; i++) deliveries[i].partition = -1;
    for (int i = 0; i < MESSAGES; i++) {
        char key[32], value[96], idx[16];
        snprintf(key, sizeof(key), "key-%d", i);
        make_value(i, value, sizeof(value));
        int idx_len = snprintf(idx, sizeof(idx), "%d", i);
        rd_kafka_resp_err_t err;
        do {
            err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
                                    RD_KAFKA_V_VALUE(value, strlen(value)), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                    RD_KAFKA_V_HEADER("idx", idx, idx_len), RD_KAFKA_V_HEADER("src", "c", 1),
                                    RD_KAFKA_V_OPAQUE((void *)(intptr_t)i), RD_KAFKA_V_END);
            if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) rd_kafka_poll(rk, 50);
        } while (err == RD_KAFKA_RESP_ERR__QUEUE_FULL);
        if (err) {
            fprintf(stderr, "produce %d: %s\n", i, rd_kafka_err2str(err));
            rd_kafka_destroy(rk);
            return false;
        }
        rd_kafka_poll(rk, 0);
    }
    rd_kafka_resp_err_t ferr = rd_kafka_flush(rk, TIMEOUT_MS);
    char fatal[512];
    rd_kafka_resp_err_t fatal_err = rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
    rd_kafka_destroy(rk);
    if (ferr) fprintf(stderr, "flush: %s\n", rd_kafka_err2str(ferr));
    if (fatal_err) fprintf(stderr, "fatal producer error: %s\n", fatal);

    bool ok = !ferr && !fatal_err && delivery_errors == 0;
    int64_t last_offset[PARTITIONS] = {-1, -1, -1};
    int per_part[PARTITIONS] = {0};
    for (int i = 0; i < MESSAGES && ok; i++) {
        struct delivery *d = &deliveries[i];
        if (d->partition < 0 || d->partition >= PARTITIONS) {
            fprintf(stderr, "message %d: no delivery report (partition %" PRId32 ")\n", i, d->partition);
            ok = false;
        } else if (d->offset <= last_offset[d->partition]) {
            fprintf(stderr, "message %d: offset %" PRId64 " not after %" PRId64 " in partition %" PRId32 "\n", i,
                    d->offset, last_offset[d->partition], d->partition);
            ok = false;
        } else {
            last_offset[d->partition] = d->offset;
            per_part[d->partition]++;
        }
    }
    for (int p = 0; p < PARTITIONS && ok; p++) {
        /* The key hash must spread 10k keys over all partitions. */
        if (per_part[p] == 0 || last_offset[p] != per_part[p] - 1) {
            fprintf(stderr, "partition %d: %d messages, last offset %" PRId64 "\n", p, per_part[p], last_offset[p]);
            ok = false;
        }
    }
    return ok;
}

/* Checks one consumed message against what was produced; seen[] catches duplicates. */
static bool check_message(const rd_kafka_message_t *m, unsigned char *seen, int *last_index) {
    char key[32], value[96];
    if (!m->key || m->key_len >= sizeof(key)) return false;
    memcpy(key, m->key, m->key_len);
    key[m->key_len] = '\0';
    char *end = NULL;
    long i = strncmp(key, "key-", 4) == 0 ? strtol(key + 4, &end, 10) : -1;
    if (i < 0 || i >= MESSAGES || !end || *end != '\0') {
        fprintf(stderr, "unexpected key \"%s\"\n", key);
        return false;
    }
    make_value((int)i, value, sizeof(value));
    if (m->len != strlen(value) || memcmp(m->payload, value, m->len) != 0) {
        fprintf(stderr, "message %ld: wrong value\n", i);
        return false;
    }
    rd_kafka_headers_t *hdrs = NULL;
    const void *hv = NULL;
    size_t hlen = 0;
    char idx[16];
    int idx_len = snprintf(idx, sizeof(idx), "%ld", i);
    if (rd_kafka_message_headers(m, &hdrs) || rd_kafka_header_get_last(hdrs, "idx", &hv, &hlen) ||
        hlen != (size_t)idx_len || memcmp(hv, idx, hlen) != 0 || rd_kafka_header_cnt(hdrs) != 2) {
        fprintf(stderr, "message %ld: wrong headers\n", i);
        return false;
    }
    if (seen[i]++) {
        fprintf(stderr, "message %ld consumed twice (offset %" PRId64 ")\n", i, m->offset);
        return false;
    }
    if (deliveries[i].partition != m->partition || deliveries[i].offset != m->offset) {
        fprintf(stderr, "message %ld at %" PRId32 "/%" PRId64 ", delivery report said %" PRId32 "/%" PRId64 "\n", i,
                m->partition, m->offset, deliveries[i].partition, deliveries[i].offset);
        return false;
    }
    if (i <= last_index[m->partition]) {
        fprintf(stderr, "partition %" PRId32 ": message %ld after %d\n", m->partition, i, last_index[m->partition]);
        return false;
    }
    last_index[m->partition] = (int)i;
    return true;
}

static bool consume_all(const char *bootstrap, const char *topic) {
    char errstr[512];
    rd_kafka_conf_t *conf = base_conf(bootstrap);
    conf_set(conf, "group.id", "test-librdkafka");
    conf_set(conf, "enable.auto.commit", "false");
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "consumer: %s\n", errstr);
        return false;
    }
    rd_kafka_poll_set_consumer(rk);
    int64_t high[PARTITIONS];
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(PARTITIONS);
    bool ok = true;
    for (int p = 0; p < PARTITIONS; p++) {
        int64_t low;
        rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(rk, topic, p, &low, &high[p], TIMEOUT_MS);
        if (err || low != 0) {
            fprintf(stderr, "watermarks of partition %d: %s low=%" PRId64 "\n", p, rd_kafka_err2str(err), low);
            ok = false;
        }
        rd_kafka_topic_partition_list_add(parts, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
    if (ok) rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);

    unsigned char *seen = calloc(MESSAGES, 1);
    int last_index[PARTITIONS] = {-1, -1, -1};
    int64_t next[PARTITIONS] = {0, 0, 0};
    int64_t deadline = now_ms() + TIMEOUT_MS;
    while (ok && (next[0] < high[0] || next[1] < high[1] || next[2] < high[2])) {
        if (now_ms() > deadline) {
            fprintf(stderr, "consume timed out at offsets %" PRId64 "/%" PRId64 "/%" PRId64 "\n", next[0], next[1],
                    next[2]);
            ok = false;
            break;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 1000);
        if (!m) continue;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                fprintf(stderr, "consume: %s\n", rd_kafka_message_errstr(m));
                ok = false;
            }
        } else if (m->partition < 0 || m->partition >= PARTITIONS || m->offset != next[m->partition]) {
            fprintf(stderr, "unexpected position %" PRId32 "/%" PRId64 "\n", m->partition, m->offset);
            ok = false;
        } else {
            next[m->partition] = m->offset + 1;
            ok = check_message(m, seen, last_index);
        }
        rd_kafka_message_destroy(m);
    }
    for (int i = 0; i < MESSAGES && ok; i++) {
        if (!seen[i]) {
            fprintf(stderr, "message %d missing\n", i);
            ok = false;
        }
    }
    free(seen);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return ok;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s BOOTSTRAP TOPIC\n", argv[0]);
        return 2;
    }
    bool ok = create_topic(argv[1], argv[2]);
    verdict(ok, "librdkafka_create_topic");
    if (ok) {
        ok = produce_all(argv[1], argv[2]);
        verdict(ok, "librdkafka_idempotent_produce_10k");
    }
    if (ok) {
        ok = consume_all(argv[1], argv[2]);
        verdict(ok, "librdkafka_consume_exactly_once_in_order");
    }
    return ok ? 0 : 1;
}
