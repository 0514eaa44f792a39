/*
 * Configuration: Kafka defaults, the properties file syntax (comments,
 * continuations, separators, escapes), precedence between spellings of
 * one setting, and refusal of every kind of bad value with the key named.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "core/config.h"

static char err[512];

/* Writes text to a fresh temporary file; the caller unlinks it. */
static void write_temp(char path[64], const char *text) {
    snprintf(path, 64, "/tmp/gregor-test-config-XXXXXX");
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0) return;
    size_t len = strlen(text);
    CHECK(write(fd, text, len) == (ssize_t)len);
    close(fd);
}

/* Loads text as a file over the defaults; returns config_load_file's result. */
static int load_text(struct broker_config *cfg, const char *text) {
    char path[64];
    config_defaults(cfg);
    write_temp(path, text);
    err[0] = '\0';
    int rc = config_load_file(cfg, path, err, sizeof(err));
    unlink(path);
    return rc;
}

static int set(struct broker_config *cfg, const char *key, const char *value) {
    err[0] = '\0';
    return config_set(cfg, key, value, err, sizeof(err));
}

static void test_defaults(void) {
    struct broker_config c;
    config_defaults(&c);
    CHECK_EQ_INT(config_finish(&c, err, sizeof(err)), 0);
    CHECK_EQ_INT(c.node_id, 1);
    CHECK(strcmp(c.listeners, "PLAINTEXT://0.0.0.0:9092") == 0);
    CHECK(strcmp(c.listen_host, "0.0.0.0") == 0);
    CHECK_EQ_INT(c.listen_port, 9092);
    CHECK(strcmp(c.advertised_host, "localhost") == 0);
    CHECK_EQ_INT(c.advertised_port, 9092);
    CHECK(strcmp(c.advertised_listeners, "PLAINTEXT://localhost:9092") == 0);
    CHECK(strcmp(c.log_dirs, "./data") == 0);
    CHECK_EQ_INT(c.num_partitions, 1);
    CHECK_EQ_INT(c.default_replication_factor, 1);
    CHECK(c.auto_create_topics_enable);
    CHECK_EQ_INT(c.log.segment_bytes, 1073741824);
    CHECK_EQ_INT(c.log.segment_ms, 7LL * 24 * 3600 * 1000);
    CHECK_EQ_INT(c.log.retention_ms, 168LL * 3600 * 1000);
    CHECK_EQ_INT(c.log.retention_bytes, -1);
    CHECK_EQ_INT(c.log_retention_check_interval_ms, 300000);
    CHECK_EQ_INT(c.log.flush_interval_messages, INT64_MAX);
    CHECK_EQ_INT(c.log.flush_interval_ms, INT64_MAX);
    CHECK_EQ_INT(c.log.index_interval_bytes, 4096);
    CHECK(!c.log.log_append_time);
    CHECK_EQ_INT(c.message_max_bytes, 1048588);
    CHECK_EQ_INT(c.socket_request_max_bytes, 104857600);
    CHECK_EQ_INT(c.max_connections, 2147483647);
    CHECK_EQ_INT(c.connections_max_idle_ms, 600000);
    CHECK(strcmp(c.cleanup_policy, "delete") == 0);
    CHECK(strcmp(c.compression_type, "producer") == 0);
    CHECK_EQ_INT(c.min_insync_replicas, 1);
    CHECK_EQ_INT(c.offsets_topic_num_partitions, 50);
    CHECK(strcmp(c.log_level, "info") == 0);
    CHECK_EQ_INT(config_log_level(&c), LOG_LEVEL_INFO);
}

static void test_overrides(void) {
    struct broker_config c;
    config_defaults(&c);
    CHECK_EQ_INT(set(&c, "node.id", "7"), 0);
    CHECK_EQ_INT(set(&c, "num.partitions", "12"), 0);
    CHECK_EQ_INT(set(&c, "auto.create.topics.enable", "FALSE"), 0);
    CHECK_EQ_INT(set(&c, "log.segment.bytes", "1024"), 0);
    CHECK_EQ_INT(set(&c, "log.retention.bytes", "-1"), 0);
    CHECK_EQ_INT(set(&c, "log.retention.ms", "-1"), 0);
    CHECK_EQ_INT(set(&c, "log.flush.interval.messages", "1"), 0);
    CHECK_EQ_INT(set(&c, "log.flush.interval.ms", "0"), 0);
    CHECK_EQ_INT(set(&c, "log.message.timestamp.type", "LogAppendTime"), 0);
    CHECK_EQ_INT(set(&c, "compression.type", "zstd"), 0);
    CHECK_EQ_INT(set(&c, "log.cleanup.policy", "delete, compact"), 0);
    CHECK_EQ_INT(set(&c, "log.level", "DEBUG"), 0);
    CHECK_EQ_INT(set(&c, "  max.connections ", " 100 "), 0);
    CHECK_EQ_INT(c.node_id, 7);
    CHECK_EQ_INT(c.num_partitions, 12);
    CHECK(!c.auto_create_topics_enable);
    CHECK_EQ_INT(c.log.segment_bytes, 1024);
    CHECK_EQ_INT(c.log.retention_bytes, -1);
    CHECK_EQ_INT(c.log.retention_ms, -1);
    CHECK_EQ_INT(c.log.flush_interval_messages, 1);
    CHECK_EQ_INT(c.log.flush_interval_ms, 0);
    CHECK(c.log.log_append_time);
    CHECK(strcmp(c.compression_type, "zstd") == 0);
    CHECK(strcmp(c.cleanup_policy, "compact,delete") == 0);
    CHECK(strcmp(c.log_level, "debug") == 0);
    CHECK_EQ_INT(config_log_level(&c), LOG_LEVEL_DEBUG);
    CHECK_EQ_INT(c.max_connections, 100);
    CHECK_EQ_INT(set(&c, "log.message.timestamp.type", "CreateTime"), 0);
    CHECK(!c.log.log_append_time);
}

/* The most precise spelling wins whatever the order, as in Kafka. */
static void test_alias_precedence(void) {
    struct broker_config c;
    config_defaults(&c);
    CHECK_EQ_INT(set(&c, "log.retention.ms", "5000"), 0);
    CHECK_EQ_INT(set(&c, "log.retention.hours", "1"), 0);
    CHECK_EQ_INT(set(&c, "log.retention.minutes", "1"), 0);
    CHECK_EQ_INT(c.log.retention_ms, 5000);

    config_defaults(&c);
    CHECK_EQ_INT(set(&c, "log.retention.hours", "2"), 0);
    CHECK_EQ_INT(c.log.retention_ms, 2LL * 3600 * 1000);
    CHECK_EQ_INT(set(&c, "log.retention.minutes", "3"), 0);
    CHECK_EQ_INT(c.log.retention_ms, 3LL * 60 * 1000);
    CHECK_EQ_INT(set(&c, "log.retention.hours", "-1"), 0);
    CHECK_EQ_INT(c.log.retention_ms, 3LL * 60 * 1000);
    /* A lower-ranked spelling is still checked. */
    CHECK_EQ_INT(set(&c, "log.retention.hours", "x"), -1);

    config_defaults(&c);
    CHECK_EQ_INT(set(&c, "log.roll.ms", "60000"), 0);
    CHECK_EQ_INT(set(&c, "log.roll.hours", "5"), 0);
    CHECK_EQ_INT(c.log.segment_ms, 60000);
    config_defaults(&c);
    CHECK_EQ_INT(set(&c, "log.roll.hours", "5"), 0);
    CHECK_EQ_INT(c.log.segment_ms, 5LL * 3600 * 1000);

    config_defaults(&c);
    CHECK_EQ_INT(set(&c, "log.dirs", "/a"), 0);
    CHECK_EQ_INT(set(&c, "log.dir", "/b"), 0);
    CHECK(strcmp(c.log_dirs, "/a") == 0);
    config_defaults(&c);
    CHECK_EQ_INT(set(&c, "log.dir", "/b"), 0);
    CHECK(strcmp(c.log_dirs, "/b") == 0);
    CHECK_EQ_INT(set(&c, "log.dirs", "/c, /d"), 0);
    CHECK(strcmp(c.log_dirs, "/c") == 0);
    CHECK_EQ_INT(set(&c, "log.dir", ""), -1);

    config_defaults(&c);
    CHECK_EQ_INT(set(&c, "node.id", "3"), 0);
    CHECK_EQ_INT(set(&c, "broker.id", "4"), 0);
    CHECK_EQ_INT(c.node_id, 3);
}

static void test_bad_values(void) {
    struct broker_config c;
    config_defaults(&c);
    CHECK_EQ_INT(set(&c, "log.segment.bytes", "abc"), -1);
    CHECK(strcmp(err, "log.segment.bytes: expected an integer between 1024 and 2147483647, got \"abc\"") == 0);
    CHECK_EQ_INT(set(&c, "log.segment.bytes", "1023"), -1);
    CHECK_EQ_INT(set(&c, "log.segment.bytes", "2147483648"), -1);
    CHECK_EQ_INT(set(&c, "log.segment.bytes", "10k"), -1);
    CHECK_EQ_INT(set(&c, "log.segment.bytes", "0x1000"), -1);
    CHECK_EQ_INT(set(&c, "log.segment.bytes", ""), -1);
    CHECK_EQ_INT(set(&c, "log.segment.bytes", "1 024"), -1);
    CHECK_EQ_INT(c.log.segment_bytes, 1073741824); /* untouched by refusals */
    CHECK_EQ_INT(set(&c, "log.retention.ms", "99999999999999999999"), -1);
    CHECK(strstr(err, "log.retention.ms: expected -1 (unlimited)") == err);
    CHECK_EQ_INT(set(&c, "log.retention.ms", "-2"), -1);
    CHECK_EQ_INT(set(&c, "num.partitions", "0"), -1);
    CHECK(strstr(err, "num.partitions:") == err);
    CHECK_EQ_INT(set(&c, "default.replication.factor", "40000"), -1);
    CHECK_EQ_INT(set(&c, "node.id", "-1"), -1);
    CHECK_EQ_INT(set(&c, "message.max.bytes", "1.5"), -1);
    CHECK_EQ_INT(set(&c, "socket.request.max.bytes", "2000000000"), -1);
    CHECK_EQ_INT(set(&c, "log.flush.interval.messages", "0"), -1);

    CHECK_EQ_INT(set(&c, "auto.create.topics.enable", "yes"), -1);
    CHECK(strcmp(err, "auto.create.topics.enable: expected one of true|false, got \"yes\"") == 0);
    CHECK_EQ_INT(set(&c, "log.message.timestamp.type", "Now"), -1);
    CHECK(strstr(err, "log.message.timestamp.type: expected one of CreateTime|LogAppendTime") == err);
    CHECK_EQ_INT(set(&c, "compression.type", "brotli"), -1);
    CHECK(strstr(err, "compression.type:") == err);
    CHECK_EQ_INT(set(&c, "log.level", "trace"), -1);
    CHECK(strstr(err, "log.level:") == err);
    CHECK_EQ_INT(set(&c, "log.cleanup.policy", "delete,shred"), -1);
    CHECK(strstr(err, "log.cleanup.policy:") == err);

    CHECK_EQ_INT(set(&c, "listeners", "localhost:9092"), -1);
    CHECK(strstr(err, "listeners:") == err);
    CHECK_EQ_INT(set(&c, "listeners", "PLAINTEXT://host:99999"), -1);
    CHECK_EQ_INT(set(&c, "listeners", "PLAINTEXT://host"), -1);
    CHECK_EQ_INT(set(&c, "listeners", "PLAINTEXT://::1:9092"), -1);
    CHECK_EQ_INT(set(&c, "listeners", "SSL://host:9093"), -1);
    CHECK(strstr(err, "only PLAINTEXT") != NULL);
    CHECK_EQ_INT(set(&c, "advertised.listeners", "PLAINTEXT://0.0.0.0:9092"), -1);
    CHECK(strstr(err, "advertised.listeners:") == err);
    CHECK_EQ_INT(set(&c, "advertised.listeners", "PLAINTEXT://:9092"), -1);
    CHECK(strcmp(c.listeners, "PLAINTEXT://0.0.0.0:9092") == 0);

    char long_value[CONFIG_STRING_BYTES_MAX + 10];
    memset(long_value, 'a', sizeof(long_value) - 1);
    long_value[sizeof(long_value) - 1] = '\0';
    CHECK_EQ_INT(set(&c, "log.dirs", long_value), -1);
    CHECK(strstr(err, "log.dirs:") == err);
}

static void test_unknown_and_ignored(void) {
    struct broker_config c;
    config_defaults(&c);
    CHECK_EQ_INT(set(&c, "no.such.key", "1"), 1);
    CHECK_EQ_INT(set(&c, "log.segment.byte", "1"), 1);
    CHECK_EQ_INT(set(&c, "", "1"), 1);
    CHECK_EQ_INT(set(&c, "zookeeper.connect", "localhost:2181"), 0);
    CHECK_EQ_INT(set(&c, "process.roles", "broker,controller"), 0);
    CHECK_EQ_INT(set(&c, "num.io.threads", "8"), 0);
}

/* num.network.threads sets the event loops; 0 (the default) means one per CPU. */
static void test_network_threads(void) {
    struct broker_config c;
    config_defaults(&c);
    CHECK_EQ_INT(c.network_threads, 0);
    CHECK_EQ_INT(set(&c, "num.network.threads", "3"), 0);
    CHECK_EQ_INT(c.network_threads, 3);
    CHECK_EQ_INT(set(&c, "num.network.threads", "-1"), -1);
    CHECK_EQ_INT(set(&c, "num.network.threads", "65"), -1);
    CHECK(strstr(err, "num.network.threads") != NULL);
}

/* Log compaction keys (Kafka's names and defaults; doubles for the ratio and the I/O rate). */
static void test_cleaner_keys(void) {
    struct broker_config c;
    config_defaults(&c);
    CHECK(c.cleaner.enable);
    CHECK_EQ_INT(c.cleaner.threads, 1);
    CHECK_EQ_INT(c.cleaner.dedupe_buffer_bytes, 134217728);
    CHECK_EQ_INT(c.cleaner.backoff_ms, 15000);
    CHECK(c.log.min_cleanable_ratio == 0.5);
    CHECK_EQ_INT(c.log.delete_retention_ms, 86400000);
    CHECK_EQ_INT(c.offsets_topic_segment_bytes, 104857600);
    CHECK_EQ_INT(set(&c, "log.cleaner.min.cleanable.ratio", "0.25"), 0);
    CHECK(c.log.min_cleanable_ratio == 0.25);
    CHECK_EQ_INT(set(&c, "log.cleaner.min.cleanable.ratio", "1.5"), -1);
    CHECK(strstr(err, "log.cleaner.min.cleanable.ratio") == err);
    CHECK_EQ_INT(set(&c, "log.cleaner.io.max.bytes.per.second", "1048576.5"), 0);
    CHECK(c.cleaner.io_max_bytes_per_second == 1048576.5);
    CHECK_EQ_INT(set(&c, "log.cleaner.io.max.bytes.per.second", "fast"), -1);
    CHECK_EQ_INT(set(&c, "log.cleaner.threads", "4"), 0);
    CHECK_EQ_INT(c.cleaner.threads, 4);
    CHECK_EQ_INT(set(&c, "log.cleaner.threads", "0"), -1);
    CHECK_EQ_INT(set(&c, "log.cleaner.enable", "false"), 0);
    CHECK(!c.cleaner.enable);
    CHECK_EQ_INT(set(&c, "log.cleaner.delete.retention.ms", "1000"), 0);
    CHECK_EQ_INT(c.log.delete_retention_ms, 1000);
    CHECK_EQ_INT(set(&c, "log.cleaner.max.compaction.lag.ms", "0"), -1);
}

static void test_listeners(void) {
    struct broker_config c;
    config_defaults(&c);
    CHECK_EQ_INT(set(&c, "listeners", "PLAINTEXT://:19092,CONTROLLER://:9093"), 0);
    CHECK_EQ_INT(config_finish(&c, err, sizeof(err)), 0);
    CHECK(strcmp(c.listen_host, "0.0.0.0") == 0);
    CHECK_EQ_INT(c.listen_port, 19092);
    CHECK(strcmp(c.advertised_host, "localhost") == 0);
    CHECK_EQ_INT(c.advertised_port, 19092);

    config_defaults(&c);
    CHECK_EQ_INT(set(&c, "listeners", "PLAINTEXT://127.0.0.1:0"), 0);
    CHECK_EQ_INT(config_finish(&c, err, sizeof(err)), 0);
    CHECK(strcmp(c.listen_host, "127.0.0.1") == 0);
    CHECK(strcmp(c.advertised_host, "127.0.0.1") == 0);
    CHECK_EQ_INT(c.listen_port, 0);

    config_defaults(&c);
    CHECK_EQ_INT(set(&c, "listeners", "INTERNAL://[::1]:9094"), 0);
    CHECK_EQ_INT(set(&c, "advertised.listeners", "INTERNAL://broker.example.com:19094"), 0);
    CHECK_EQ_INT(config_finish(&c, err, sizeof(err)), 0);
    CHECK(strcmp(c.listen_host, "::1") == 0);
    CHECK_EQ_INT(c.listen_port, 9094);
    CHECK(strcmp(c.advertised_host, "broker.example.com") == 0);
    CHECK_EQ_INT(c.advertised_port, 19094);

    config_defaults(&c);
    CHECK_EQ_INT(set(&c, "listeners", "PLAINTEXT://[::]:9092"), 0);
    CHECK_EQ_INT(config_finish(&c, err, sizeof(err)), 0);
    CHECK(strcmp(c.advertised_host, "localhost") == 0);
    /* Calling finish again leaves the same result. */
    CHECK_EQ_INT(config_finish(&c, err, sizeof(err)), 0);
    CHECK(strcmp(c.advertised_host, "localhost") == 0);
}

static void test_file_syntax(void) {
    struct broker_config c;
    const char *text =
        "# a comment\n"
        "! another comment\n"
        "   # indented comment\n"
        "\n"
        "   \t\n"
        "node.id=5\n"
        "num.partitions : 6\n"
        "min.insync.replicas 1\n"
        "  log.dirs  =  /var/lib/gregor   \n"
        "message.max.bytes=\\\n"
        "    2000\\\n"
        "    000\n"
        "# comment ending in a backslash is not continued \\\n"
        "offsets.topic.num.partitions=7\r\n"
        "log.roll.ms:123\r"
        "log.cleanup.policy=\\u0064elete\n"
        "compression.type=gzip";
    CHECK_EQ_INT(load_text(&c, text), 0);
    CHECK_EQ_INT(c.node_id, 5);
    CHECK_EQ_INT(c.num_partitions, 6);
    CHECK_EQ_INT(c.min_insync_replicas, 1);
    CHECK(strcmp(c.log_dirs, "/var/lib/gregor") == 0);
    CHECK_EQ_INT(c.message_max_bytes, 2000000);
    CHECK_EQ_INT(c.offsets_topic_num_partitions, 7);
    CHECK_EQ_INT(c.log.segment_ms, 123);
    CHECK(strcmp(c.cleanup_policy, "delete") == 0);
    CHECK(strcmp(c.compression_type, "gzip") == 0);

    /* Escaped separators belong to the key; later lines win. */
    CHECK_EQ_INT(load_text(&c, "weird\\=key=1\nnode.id=1\nnode.id=2\n"), 0);
    CHECK_EQ_INT(c.node_id, 2);
    /* A key with no value is an empty value, refused for an integer. */
    CHECK_EQ_INT(load_text(&c, "node.id\n"), -1);
    CHECK(strstr(err, "node.id: expected an integer") != NULL);
    /* A continuation at end of file simply ends the line. */
    CHECK_EQ_INT(load_text(&c, "node.id=9\\"), 0);
    CHECK_EQ_INT(c.node_id, 9);
    CHECK_EQ_INT(load_text(&c, ""), 0);
}

static void test_file_errors(void) {
    struct broker_config c;
    CHECK_EQ_INT(load_text(&c, "node.id=1\n\nlog.segment.bytes=abc\n"), -1);
    CHECK(strstr(err, ":3: log.segment.bytes: expected an integer between 1024 and 2147483647, got \"abc\"") != NULL);
    /* The line reported for a continued line is the one it starts on. */
    CHECK_EQ_INT(load_text(&c, "node.id=1\nnum.partitions=\\\n  x\n"), -1);
    CHECK(strstr(err, ":2: num.partitions:") != NULL);
    /* Unknown keys in a file are warned about, not fatal. */
    CHECK_EQ_INT(load_text(&c, "no.such.key=1\nnode.id=4\n"), 0);
    CHECK_EQ_INT(c.node_id, 4);
    CHECK_EQ_INT(load_text(&c, "log.dirs=\\u12\n"), -1);
    CHECK(strstr(err, "log.dirs") != NULL);
    CHECK_EQ_INT(load_text(&c, "log.dirs=\\u0000\n"), -1);

    config_defaults(&c);
    CHECK_EQ_INT(config_load_file(&c, "/nonexistent/gregor.properties", err, sizeof(err)), -1);
    CHECK(strstr(err, "/nonexistent/gregor.properties") == err);
    CHECK_EQ_INT(config_load_file(&c, "/tmp", err, sizeof(err)), -1);
}

static void test_admin_settings(void) {
    struct broker_config c;
    config_defaults(&c);
    CHECK(strcmp(c.admin_host, "127.0.0.1") == 0);
    CHECK_EQ_INT(c.admin_port, 9644);
    CHECK_EQ_INT(set(&c, "admin.listener", "0.0.0.0:0"), 0);
    CHECK(strcmp(c.admin_host, "0.0.0.0") == 0);
    CHECK_EQ_INT(c.admin_port, 0);
    CHECK_EQ_INT(set(&c, "admin.listener", ":9700"), 0);
    CHECK(strcmp(c.admin_host, "0.0.0.0") == 0);
    CHECK_EQ_INT(c.admin_port, 9700);
    CHECK_EQ_INT(set(&c, "admin.listener", ""), 0);
    CHECK(c.admin_listener[0] == '\0');
    const char *bad[] = {"9644", "localhost", "host:99999", "host:-1", "a b:1", "[::1]:9644", "h:1x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_EQ_INT(set(&c, "admin.listener", bad[i]), -1);
        CHECK(strstr(err, "admin.listener") != NULL);
    }
    CHECK_EQ_INT(set(&c, "log.slow.request.ms", "-1"), 0);
    CHECK_EQ_INT(c.log_slow_request_ms, -1);
    CHECK_EQ_INT(set(&c, "log.slow.request.ms", "-2"), -1);
    CHECK_EQ_INT(set(&c, "metrics.partition.series.max", "0"), 0);
    CHECK_EQ_INT(set(&c, "metrics.partition.series.max", "-1"), -1);
}

static void test_shipped_file(void) {
    struct broker_config c;
    config_defaults(&c);
    const char *path = "config/server.properties";
    if (access(path, R_OK) != 0) return; /* run from elsewhere than the repository root */
    CHECK_EQ_INT(config_load_file(&c, path, err, sizeof(err)), 0);
    CHECK_EQ_INT(config_finish(&c, err, sizeof(err)), 0);
    struct broker_config d;
    config_defaults(&d);
    CHECK_EQ_INT(config_finish(&d, err, sizeof(err)), 0);
    /* The shipped file states the defaults. */
    memset(c.alias_rank_, 0, sizeof(c.alias_rank_));
    CHECK(memcmp(&c, &d, sizeof(c)) == 0);
    config_log(&c);
}

int main(void) {
    log_set_level(LOG_LEVEL_ERROR); /* keep the expected warnings out of the test output */
    TEST_RUN(test_defaults);
    TEST_RUN(test_overrides);
    TEST_RUN(test_alias_precedence);
    TEST_RUN(test_bad_values);
    TEST_RUN(test_unknown_and_ignored);
    TEST_RUN(test_network_threads);
    TEST_RUN(test_cleaner_keys);
    TEST_RUN(test_listeners);
    TEST_RUN(test_file_syntax);
    TEST_RUN(test_file_errors);
    TEST_RUN(test_admin_settings);
    TEST_RUN(test_shipped_file);
    TEST_EXIT();
}
