/*
 * `gregor topic create|list|describe|delete|add-partitions|alter-config`,
 * on librdkafka's admin API and metadata.
 */
#include <stdlib.h>
#include <string.h>

#include "cli/cli_common.h"
#include "cli/cli_output.h"

/* Prints each failed topic of an admin result; returns the exit code.
 * `tolerated` is an error that counts as success (--if-exists ...). */
static int check_topic_results(const struct cli_ctx *ctx, const rd_kafka_topic_result_t **res,
                               size_t n, const char *what, rd_kafka_resp_err_t tolerated) {
    int rc = CLI_EXIT_OK;
    for (size_t i = 0; i < n; i++) {
        rd_kafka_resp_err_t err = rd_kafka_topic_result_error(res[i]);
        if (!err || err == tolerated) continue;
        char label[300];
        snprintf(label, sizeof(label), "%s %s", what, rd_kafka_topic_result_name(res[i]));
        int code = cli_kafka_error(ctx, err, label, rd_kafka_topic_result_error_string(res[i]));
        if (code > rc) rc = code;
    }
    return rc;
}

static void print_done(const struct cli_ctx *ctx, const char *verb, char **topics, int n) {
    if (ctx->format == CLI_FORMAT_JSON) {
        printf("{\"%s\":[", verb);
        for (int i = 0; i < n; i++) {
            if (i) putchar(',');
            cli_json_str(stdout, topics[i]);
        }
        printf("]}\n");
    } else {
        for (int i = 0; i < n; i++) printf("%s topic %s\n", verb, topics[i]);
    }
}

/* ---- create ---- */

static int topic_create(struct cli_ctx *ctx, int argc, char **argv) {
    static const struct option opts[] = {
        {"partitions", required_argument, 0, 'p'}, {"replication-factor", required_argument, 0, 'r'},
        {"config", required_argument, 0, 'c'},     {"if-not-exists", no_argument, 0, 'n'},
        {"validate-only", no_argument, 0, 'V'},    CLI_COMMON_OPTIONS};
    int64_t partitions = -1, replication = -1;
    int if_not_exists = 0, validate_only = 0, nconfigs = 0;
    const char *configs[CLI_LIST_MAX];
    int c;
    while ((c = getopt_long(argc, argv, CLI_COMMON_SHORT "p:r:c:", opts, NULL)) != -1) {
        int r = cli_common_option(ctx, c, optarg);
        if (r >= CLI_STOP) return r - CLI_STOP;
        if (r) continue;
        if (c == 'p' && cli_parse_i64(optarg, 1, 1000000, &partitions) != 0)
            return cli_usage_error(ctx, "--partitions takes a count of at least 1");
        if (c == 'r' && cli_parse_i64(optarg, 1, 32767, &replication) != 0)
            return cli_usage_error(ctx, "--replication-factor takes a count of at least 1");
        if (c == 'c') {
            if (!strchr(optarg, '=') || nconfigs == CLI_LIST_MAX)
                return cli_usage_error(ctx, "--config expects key=value, got \"%s\"", optarg);
            configs[nconfigs++] = optarg;
        }
        if (c == 'n') if_not_exists = 1;
        if (c == 'V') validate_only = 1;
    }
    int ntopics = argc - optind;
    if (ntopics < 1) return cli_usage_error(ctx, "name the topic to create");
    if (ntopics > CLI_LIST_MAX) return cli_usage_error(ctx, "at most %d topics", CLI_LIST_MAX);
    char **names = argv + optind;
    rd_kafka_NewTopic_t *topics[CLI_LIST_MAX];
    for (int i = 0; i < ntopics; i++) {
        char err[256];
        topics[i] = rd_kafka_NewTopic_new(names[i], (int)partitions, (int)replication, err, sizeof(err));
        if (!topics[i]) {
            rd_kafka_NewTopic_destroy_array(topics, (size_t)i);
            return cli_usage_error(ctx, "topic %s: %s", names[i], err);
        }
        for (int k = 0; k < nconfigs; k++) {
            char key[256];
            const char *value;
            if (cli_split_kv(configs[k], key, sizeof(key), &value) != 0 ||
                rd_kafka_NewTopic_set_config(topics[i], key, value) != 0) {
                rd_kafka_NewTopic_destroy_array(topics, (size_t)i + 1);
                return cli_usage_error(ctx, "bad --config \"%s\"", configs[k]);
            }
        }
    }
    int rc;
    rd_kafka_t *rk = cli_admin_connect(ctx, &rc);
    if (!rk) {
        rd_kafka_NewTopic_destroy_array(topics, (size_t)ntopics);
        return rc;
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o = cli_admin_options(ctx, rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    char err[256];
    rd_kafka_AdminOptions_set_operation_timeout(o, ctx->timeout_ms, err, sizeof(err));
    if (validate_only) rd_kafka_AdminOptions_set_validate_only(o, 1, err, sizeof(err));
    rd_kafka_CreateTopics(rk, topics, (size_t)ntopics, o, q);
    rd_kafka_event_t *ev = cli_admin_wait(ctx, q, RD_KAFKA_EVENT_CREATETOPICS_RESULT, "create", &rc);
    if (ev) {
        size_t n;
        const rd_kafka_topic_result_t **res =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
        rc = check_topic_results(ctx, res, n, "create",
                                 if_not_exists ? RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS : 0);
        if (rc == CLI_EXIT_OK) print_done(ctx, validate_only ? "validated" : "created", names, ntopics);
    }
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_NewTopic_destroy_array(topics, (size_t)ntopics);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return rc;
}

/* ---- list ---- */

static int compare_topics(const void *a, const void *b) {
    const struct rd_kafka_metadata_topic *const *x = a, *const *y = b;
    return strcmp((*x)->topic, (*y)->topic);
}

static int topic_list(struct cli_ctx *ctx, int argc, char **argv) {
    static const struct option opts[] = {{"exclude-internal", no_argument, 0, 'x'}, CLI_COMMON_OPTIONS};
    int exclude_internal = 0, c;
    while ((c = getopt_long(argc, argv, CLI_COMMON_SHORT, opts, NULL)) != -1) {
        int r = cli_common_option(ctx, c, optarg);
        if (r >= CLI_STOP) return r - CLI_STOP;
        if (c == 'x') exclude_internal = 1;
    }
    if (optind < argc) return cli_usage_error(ctx, "unexpected argument \"%s\"", argv[optind]);
    int rc;
    rd_kafka_t *rk = cli_admin_connect(ctx, &rc);
    if (!rk) return rc;
    const struct rd_kafka_metadata *md;
    rc = cli_metadata(ctx, rk, NULL, 0, &md);
    if (rc == CLI_EXIT_OK) {
        const struct rd_kafka_metadata_topic **sorted =
            cli_xalloc(sizeof(*sorted) * (size_t)(md->topic_cnt + 1));
        for (int i = 0; i < md->topic_cnt; i++) sorted[i] = &md->topics[i];
        qsort(sorted, (size_t)md->topic_cnt, sizeof(*sorted), compare_topics);
        static const char *const headers[] = {"TOPIC", "#PARTITIONS", "#REPLICATION-FACTOR"};
        struct cli_table t;
        cli_table_init(&t, 3, headers);
        for (int i = 0; i < md->topic_cnt; i++) {
            const struct rd_kafka_metadata_topic *mt = sorted[i];
            if (mt->err || (exclude_internal && strncmp(mt->topic, "__", 2) == 0)) continue;
            cli_table_cell(&t, mt->topic);
            cli_table_cellf(&t, "%d", mt->partition_cnt);
            cli_table_cellf(&t, "%d", mt->partition_cnt ? mt->partitions[0].replica_cnt : 0);
        }
        if (ctx->format == CLI_FORMAT_JSON) {
            cli_table_json(&t, stdout);
            putchar('\n');
        } else {
            cli_table_print(&t, stdout);
        }
        cli_table_free(&t);
        free(sorted);
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_destroy(rk);
    return rc;
}

/* ---- describe ---- */

static void join_ids(char *buf, size_t len, const int32_t *ids, int n) {
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, i ? ",%d" : "%d", ids[i]);
}

/* DescribeConfigs of one topic; the event owns the result. */
static int describe_topic_configs(const struct cli_ctx *ctx, rd_kafka_t *rk, const char *topic,
                                  rd_kafka_event_t **evp, const rd_kafka_ConfigResource_t **resp) {
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_ConfigResource_t *res = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
    rd_kafka_AdminOptions_t *o = cli_admin_options(ctx, rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
    rd_kafka_DescribeConfigs(rk, &res, 1, o, q);
    int rc;
    rd_kafka_event_t *ev = cli_admin_wait(ctx, q, RD_KAFKA_EVENT_DESCRIBECONFIGS_RESULT, "describe configs", &rc);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_ConfigResource_destroy(res);
    rd_kafka_queue_destroy(q);
    if (!ev) return rc;
    size_t n;
    const rd_kafka_ConfigResource_t **rs =
        rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev), &n);
    if (n != 1)
        rc = cli_kafka_error(ctx, RD_KAFKA_RESP_ERR__BAD_MSG, "describe configs", "no resource");
    else if (rd_kafka_ConfigResource_error(rs[0]))
        rc = cli_kafka_error(ctx, rd_kafka_ConfigResource_error(rs[0]), topic,
                             rd_kafka_ConfigResource_error_string(rs[0]));
    else
        *resp = rs[0];
    if (rc != CLI_EXIT_OK) {
        rd_kafka_event_destroy(ev);
        return rc;
    }
    *evp = ev;
    return CLI_EXIT_OK;
}

static int is_topic_override(const rd_kafka_ConfigEntry_t *e) {
    return rd_kafka_ConfigEntry_source(e) == RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG;
}

static int describe_one(const struct cli_ctx *ctx, rd_kafka_t *rk, const char *topic, int all_configs,
                        int first) {
    const struct rd_kafka_metadata *md;
    int rc = cli_metadata(ctx, rk, topic, 0, &md);
    if (rc != CLI_EXIT_OK) return rc;
    const struct rd_kafka_metadata_topic *mt = cli_find_topic(md, topic);
    if (!mt || mt->err) {
        rc = cli_kafka_error(ctx, mt ? mt->err : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, topic, NULL);
        rd_kafka_metadata_destroy(md);
        return rc;
    }
    static const char *const pheaders[] = {"TOPIC", "#PARTITION", "#LEADER", "REPLICAS", "ISR",
                                           "#LOG-START-OFFSET", "#LOG-END-OFFSET"};
    struct cli_table parts;
    cli_table_init(&parts, 7, pheaders);
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(mt->partition_cnt);
    for (int i = 0; i < mt->partition_cnt; i++) rd_kafka_topic_partition_list_add(list, topic, mt->partitions[i].id);
    /* Offsets missing (an error printed) show as "-"; the rest still prints. */
    int rc_starts, rc_ends;
    rd_kafka_topic_partition_list_t *starts = cli_log_offsets(ctx, rk, list, RD_KAFKA_OFFSET_BEGINNING, &rc_starts);
    rd_kafka_topic_partition_list_t *ends = cli_log_offsets(ctx, rk, list, RD_KAFKA_OFFSET_END, &rc_ends);
    for (int i = 0; i < mt->partition_cnt; i++) {
        const struct rd_kafka_metadata_partition *p = &mt->partitions[i];
        char ids[256];
        int64_t lo = cli_offset_of(starts, topic, p->id), hi = cli_offset_of(ends, topic, p->id);
        cli_table_cell(&parts, topic);
        cli_table_cellf(&parts, "%d", p->id);
        cli_table_cellf(&parts, "%d", p->leader);
        join_ids(ids, sizeof(ids), p->replicas, p->replica_cnt);
        cli_table_cell(&parts, ids);
        join_ids(ids, sizeof(ids), p->isrs, p->isr_cnt);
        cli_table_cell(&parts, ids);
        if (lo >= 0) cli_table_cellf(&parts, "%lld", (long long)lo);
        else cli_table_cell(&parts, NULL);
        if (hi >= 0) cli_table_cellf(&parts, "%lld", (long long)hi);
        else cli_table_cell(&parts, NULL);
    }
    cli_table_sort(&parts, 2);
    if (starts) rd_kafka_topic_partition_list_destroy(starts);
    if (ends) rd_kafka_topic_partition_list_destroy(ends);
    rd_kafka_topic_partition_list_destroy(list);
    rd_kafka_metadata_destroy(md);

    static const char *const cheaders[] = {"CONFIG", "VALUE", "SOURCE"};
    struct cli_table cfg;
    cli_table_init(&cfg, 3, cheaders);
    rd_kafka_event_t *ev = NULL;
    const rd_kafka_ConfigResource_t *res = NULL;
    rc = describe_topic_configs(ctx, rk, topic, &ev, &res);
    if (rc == CLI_EXIT_OK) {
        size_t n;
        const rd_kafka_ConfigEntry_t **entries = rd_kafka_ConfigResource_configs(res, &n);
        for (size_t i = 0; i < n; i++) {
            if (!all_configs && !is_topic_override(entries[i])) continue;
            const char *v = rd_kafka_ConfigEntry_value(entries[i]);
            cli_table_cell(&cfg, rd_kafka_ConfigEntry_name(entries[i]));
            cli_table_cell(&cfg, rd_kafka_ConfigEntry_is_sensitive(entries[i]) ? "(sensitive)" : v ? v : "");
            cli_table_cell(&cfg, rd_kafka_ConfigSource_name(rd_kafka_ConfigEntry_source(entries[i])));
        }
        cli_table_sort(&cfg, 1);
        rd_kafka_event_destroy(ev);
    }
    if (ctx->format == CLI_FORMAT_JSON) {
        printf("%s{\"topic\":", first ? "" : ",");
        cli_json_str(stdout, topic);
        printf(",\"partitions\":");
        cli_table_json(&parts, stdout);
        printf(",\"configs\":");
        cli_table_json(&cfg, stdout);
        putchar('}');
    } else {
        if (!first) putchar('\n');
        cli_table_print(&parts, stdout);
        if (cli_table_rows(&cfg)) {
            putchar('\n');
            cli_table_print(&cfg, stdout);
        }
    }
    cli_table_free(&parts);
    cli_table_free(&cfg);
    if (rc_starts > rc) rc = rc_starts;
    if (rc_ends > rc) rc = rc_ends;
    return rc;
}

static int topic_describe(struct cli_ctx *ctx, int argc, char **argv) {
    static const struct option opts[] = {{"all-configs", no_argument, 0, 'a'}, CLI_COMMON_OPTIONS};
    int all_configs = 0, c;
    while ((c = getopt_long(argc, argv, CLI_COMMON_SHORT, opts, NULL)) != -1) {
        int r = cli_common_option(ctx, c, optarg);
        if (r >= CLI_STOP) return r - CLI_STOP;
        if (c == 'a') all_configs = 1;
    }
    if (optind >= argc) return cli_usage_error(ctx, "name the topic(s) to describe");
    int rc;
    rd_kafka_t *rk = cli_admin_connect(ctx, &rc);
    if (!rk) return rc;
    if (ctx->format == CLI_FORMAT_JSON) putchar('[');
    for (int i = optind; i < argc; i++) {
        int r = describe_one(ctx, rk, argv[i], all_configs, i == optind);
        if (r > rc) rc = r;
    }
    if (ctx->format == CLI_FORMAT_JSON) printf("]\n");
    rd_kafka_destroy(rk);
    return rc;
}

/* ---- delete ---- */

static int topic_delete(struct cli_ctx *ctx, int argc, char **argv) {
    static const struct option opts[] = {{"if-exists", no_argument, 0, 'e'}, CLI_COMMON_OPTIONS};
    int if_exists = 0, c;
    while ((c = getopt_long(argc, argv, CLI_COMMON_SHORT, opts, NULL)) != -1) {
        int r = cli_common_option(ctx, c, optarg);
        if (r >= CLI_STOP) return r - CLI_STOP;
        if (c == 'e') if_exists = 1;
    }
    int ntopics = argc - optind;
    if (ntopics < 1) return cli_usage_error(ctx, "name the topic(s) to delete");
    if (ntopics > CLI_LIST_MAX) return cli_usage_error(ctx, "at most %d topics", CLI_LIST_MAX);
    int rc;
    rd_kafka_t *rk = cli_admin_connect(ctx, &rc);
    if (!rk) return rc;
    rd_kafka_DeleteTopic_t *del[CLI_LIST_MAX];
    for (int i = 0; i < ntopics; i++) del[i] = rd_kafka_DeleteTopic_new(argv[optind + i]);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o = cli_admin_options(ctx, rk, RD_KAFKA_ADMIN_OP_DELETETOPICS);
    char err[256];
    rd_kafka_AdminOptions_set_operation_timeout(o, ctx->timeout_ms, err, sizeof(err));
    rd_kafka_DeleteTopics(rk, del, (size_t)ntopics, o, q);
    rd_kafka_event_t *ev = cli_admin_wait(ctx, q, RD_KAFKA_EVENT_DELETETOPICS_RESULT, "delete", &rc);
    if (ev) {
        size_t n;
        const rd_kafka_topic_result_t **res =
            rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &n);
        rc = check_topic_results(ctx, res, n, "delete",
                                 if_exists ? RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART : 0);
        if (rc == CLI_EXIT_OK) print_done(ctx, "deleted", argv + optind, ntopics);
    }
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_DeleteTopic_destroy_array(del, (size_t)ntopics);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return rc;
}

/* ---- add-partitions ---- */

static int topic_add_partitions(struct cli_ctx *ctx, int argc, char **argv) {
    static const struct option opts[] = {{"partitions", required_argument, 0, 'p'}, CLI_COMMON_OPTIONS};
    int64_t total = 0;
    int c;
    while ((c = getopt_long(argc, argv, CLI_COMMON_SHORT "p:", opts, NULL)) != -1) {
        int r = cli_common_option(ctx, c, optarg);
        if (r >= CLI_STOP) return r - CLI_STOP;
        if (c == 'p' && cli_parse_i64(optarg, 1, 1000000, &total) != 0)
            return cli_usage_error(ctx, "--partitions takes the new total count");
    }
    if (argc - optind != 1) return cli_usage_error(ctx, "name one topic");
    if (total == 0) return cli_usage_error(ctx, "--partitions N (the new total) is required");
    const char *topic = argv[optind];
    char err[256];
    rd_kafka_NewPartitions_t *np = rd_kafka_NewPartitions_new(topic, (size_t)total, err, sizeof(err));
    if (!np) return cli_usage_error(ctx, "%s", err);
    int rc;
    rd_kafka_t *rk = cli_admin_connect(ctx, &rc);
    if (!rk) {
        rd_kafka_NewPartitions_destroy(np);
        return rc;
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o = cli_admin_options(ctx, rk, RD_KAFKA_ADMIN_OP_CREATEPARTITIONS);
    rd_kafka_AdminOptions_set_operation_timeout(o, ctx->timeout_ms, err, sizeof(err));
    rd_kafka_CreatePartitions(rk, &np, 1, o, q);
    rd_kafka_event_t *ev = cli_admin_wait(ctx, q, RD_KAFKA_EVENT_CREATEPARTITIONS_RESULT, "add-partitions", &rc);
    if (ev) {
        size_t n;
        const rd_kafka_topic_result_t **res =
            rd_kafka_CreatePartitions_result_topics(rd_kafka_event_CreatePartitions_result(ev), &n);
        rc = check_topic_results(ctx, res, n, "add-partitions", 0);
        if (rc == CLI_EXIT_OK && ctx->format == CLI_FORMAT_JSON) {
            printf("{\"topic\":");
            cli_json_str(stdout, topic);
            printf(",\"partitions\":%lld}\n", (long long)total);
        } else if (rc == CLI_EXIT_OK) {
            printf("topic %s now has %lld partitions\n", topic, (long long)total);
        }
    }
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_NewPartitions_destroy(np);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return rc;
}

/* ---- alter-config ---- */

/* AlterConfigs replaces the whole set of a topic's overrides, so the
 * current overrides are read first and sent back with the changes:
 * otherwise changing one key would reset all the others (librdkafka 2.0
 * has no IncrementalAlterConfigs). A key changed between the read and
 * the write by someone else is lost, as with Kafka's old tool. */
static int alter_config_send(const struct cli_ctx *ctx, rd_kafka_t *rk, const char *topic,
                             const rd_kafka_ConfigResource_t *current, char **sets, int nsets,
                             char **deletes, int ndeletes, int validate_only) {
    rd_kafka_ConfigResource_t *res = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
    size_t n;
    const rd_kafka_ConfigEntry_t **entries = rd_kafka_ConfigResource_configs(current, &n);
    for (size_t i = 0; i < n; i++) {
        const char *name = rd_kafka_ConfigEntry_name(entries[i]);
        int dropped = 0;
        for (int d = 0; d < ndeletes; d++) dropped |= strcmp(deletes[d], name) == 0;
        for (int s = 0; s < nsets; s++) {
            const char *eq = strchr(sets[s], '=');
            dropped |= strlen(name) == (size_t)(eq - sets[s]) && strncmp(sets[s], name, (size_t)(eq - sets[s])) == 0;
        }
        if (!dropped && is_topic_override(entries[i]))
            rd_kafka_ConfigResource_set_config(res, name, rd_kafka_ConfigEntry_value(entries[i]));
    }
    for (int s = 0; s < nsets; s++) {
        char key[256];
        const char *value;
        /* Checked when parsed; never sends an unset key. */
        if (cli_split_kv(sets[s], key, sizeof(key), &value) != 0) continue;
        rd_kafka_ConfigResource_set_config(res, key, value);
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o = cli_admin_options(ctx, rk, RD_KAFKA_ADMIN_OP_ALTERCONFIGS);
    char err[256];
    if (validate_only) rd_kafka_AdminOptions_set_validate_only(o, 1, err, sizeof(err));
    rd_kafka_AlterConfigs(rk, &res, 1, o, q);
    int rc;
    rd_kafka_event_t *ev = cli_admin_wait(ctx, q, RD_KAFKA_EVENT_ALTERCONFIGS_RESULT, "alter-config", &rc);
    if (ev) {
        const rd_kafka_ConfigResource_t **rs =
            rd_kafka_AlterConfigs_result_resources(rd_kafka_event_AlterConfigs_result(ev), &n);
        for (size_t i = 0; i < n; i++)
            if (rd_kafka_ConfigResource_error(rs[i]))
                rc = cli_kafka_error(ctx, rd_kafka_ConfigResource_error(rs[i]), topic,
                                     rd_kafka_ConfigResource_error_string(rs[i]));
    }
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_ConfigResource_destroy(res);
    rd_kafka_queue_destroy(q);
    return rc;
}

static int topic_alter_config(struct cli_ctx *ctx, int argc, char **argv) {
    static const struct option opts[] = {{"set", required_argument, 0, 's'},
                                         {"delete", required_argument, 0, 'd'},
                                         {"validate-only", no_argument, 0, 'V'},
                                         CLI_COMMON_OPTIONS};
    char *sets[CLI_LIST_MAX], *deletes[CLI_LIST_MAX];
    int nsets = 0, ndeletes = 0, validate_only = 0, c;
    while ((c = getopt_long(argc, argv, CLI_COMMON_SHORT, opts, NULL)) != -1) {
        int r = cli_common_option(ctx, c, optarg);
        if (r >= CLI_STOP) return r - CLI_STOP;
        if (c == 's') {
            char key[256];
            const char *value;
            if (nsets == CLI_LIST_MAX) return cli_usage_error(ctx, "too many --set");
            if (cli_split_kv(optarg, key, sizeof(key), &value) != 0)
                return cli_usage_error(ctx, "--set expects key=value with a key of at most %zu bytes, got \"%.64s%s\"",
                                       sizeof(key) - 1, optarg, strlen(optarg) > 64 ? "..." : "");
            sets[nsets++] = optarg;
        }
        if (c == 'd') {
            if (!*optarg) return cli_usage_error(ctx, "--delete takes a config name");
            if (ndeletes == CLI_LIST_MAX) return cli_usage_error(ctx, "too many --delete");
            deletes[ndeletes++] = optarg;
        }
        if (c == 'V') validate_only = 1;
    }
    if (argc - optind != 1) return cli_usage_error(ctx, "name one topic");
    if (nsets + ndeletes == 0) return cli_usage_error(ctx, "nothing to change: give --set or --delete");
    const char *topic = argv[optind];
    int rc;
    rd_kafka_t *rk = cli_admin_connect(ctx, &rc);
    if (!rk) return rc;
    rd_kafka_event_t *ev = NULL;
    const rd_kafka_ConfigResource_t *current = NULL;
    rc = describe_topic_configs(ctx, rk, topic, &ev, &current);
    if (rc == CLI_EXIT_OK) {
        rc = alter_config_send(ctx, rk, topic, current, sets, nsets, deletes, ndeletes, validate_only);
        rd_kafka_event_destroy(ev);
    }
    if (rc == CLI_EXIT_OK && ctx->format == CLI_FORMAT_JSON) {
        printf("{\"topic\":");
        cli_json_str(stdout, topic);
        printf(",\"set\":{");
        for (int i = 0; i < nsets; i++) {
            char key[256];
            const char *value;
            if (cli_split_kv(sets[i], key, sizeof(key), &value) != 0) continue;
            printf(i ? "," : "");
            cli_json_str(stdout, key);
            putchar(':');
            cli_json_str(stdout, value);
        }
        printf("},\"deleted\":[");
        for (int i = 0; i < ndeletes; i++) {
            printf(i ? "," : "");
            cli_json_str(stdout, deletes[i]);
        }
        printf("],\"validate_only\":%s}\n", validate_only ? "true" : "false");
    } else if (rc == CLI_EXIT_OK) {
        const char *verb = validate_only ? "would set" : "set";
        for (int i = 0; i < nsets; i++) printf("topic %s: %s %s\n", topic, verb, sets[i]);
        for (int i = 0; i < ndeletes; i++)
            printf("topic %s: %s %s (back to the default)\n", topic, validate_only ? "would delete" : "deleted",
                   deletes[i]);
        if (validate_only) printf("validated by the broker; nothing changed\n");
    }
    rd_kafka_destroy(rk);
    return rc;
}

const struct cli_command cli_topic_commands[] = {
    {"topic create", "TOPIC... [options]", "create topics",
     "Options:\n"
     "  -p, --partitions N     partition count (default: the broker's num.partitions)\n"
     "  -r, --replication-factor N  replicas per partition (default: the broker's)\n"
     "  -c, --config KEY=VALUE topic-level config, Kafka's names (repeatable)\n"
     "  --if-not-exists        an existing topic is not an error\n"
     "  --validate-only        ask the broker to check the request, create nothing\n",
     topic_create},
    {"topic list", "[options]", "list topics with their partition counts",
     "Options:\n"
     "  --exclude-internal     leave out internal topics (names starting with __)\n",
     topic_list},
    {"topic describe", "TOPIC... [options]",
     "show partitions, leaders, log start/end offsets and config overrides",
     "Options:\n"
     "  --all-configs          list every config with its source, not only overrides\n",
     topic_describe},
    {"topic delete", "TOPIC... [options]", "delete topics and their data",
     "Options:\n"
     "  --if-exists            a missing topic is not an error\n",
     topic_delete},
    {"topic add-partitions", "TOPIC --partitions N [options]", "grow a topic to N partitions in total",
     "Existing records stay where they are; keyed records produced from now on\n"
     "may map to other partitions than before.\n\n"
     "Options:\n"
     "  -p, --partitions N     the new total partition count (required)\n",
     topic_add_partitions},
    {"topic alter-config", "TOPIC (--set KEY=VALUE | --delete KEY)... [options]",
     "change a topic's config overrides, keeping the others",
     "Reads the topic's current overrides and sends them back with the changes\n"
     "(AlterConfigs replaces the whole set).\n\n"
     "Options:\n"
     "  --set KEY=VALUE        set an override (repeatable)\n"
     "  --delete KEY           remove an override: back to the broker default (repeatable)\n"
     "  --validate-only        ask the broker to check the change, apply nothing\n",
     topic_alter_config},
    {0, 0, 0, 0, 0},
};
