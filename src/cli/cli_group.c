/*
 * `gregor group list|describe|delete|reset-offsets`, on librdkafka's
 * consumer-group admin calls. `describe` computes the same numbers as
 * Kafka's kafka-consumer-groups --describe: lag = log end offset minus
 * the committed offset, "-" where the group has committed nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "cli/cli_common.h"
#include "cli/cli_output.h"

/* DescribeConsumerGroups of one group; the event owns *desc. */
static rd_kafka_event_t *describe_group(const struct cli_ctx *ctx, rd_kafka_t *rk, const char *group,
                                        const rd_kafka_ConsumerGroupDescription_t **desc, int *rc) {
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o = cli_admin_options(ctx, rk, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
    const char *groups[1] = {group};
    rd_kafka_DescribeConsumerGroups(rk, groups, 1, o, q);
    rd_kafka_event_t *ev = cli_admin_wait(ctx, q, RD_KAFKA_EVENT_DESCRIBECONSUMERGROUPS_RESULT,
                                           "describe group", rc);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    if (!ev) return NULL;
    size_t n;
    const rd_kafka_ConsumerGroupDescription_t **descs =
        rd_kafka_DescribeConsumerGroups_result_groups(rd_kafka_event_DescribeConsumerGroups_result(ev), &n);
    const rd_kafka_error_t *err = n == 1 ? rd_kafka_ConsumerGroupDescription_error(descs[0]) : NULL;
    if (n != 1 || err) {
        *rc = cli_kafka_error(ctx, err ? rd_kafka_error_code(err) : RD_KAFKA_RESP_ERR__BAD_MSG, group,
                              err ? rd_kafka_error_string(err) : "no description");
        rd_kafka_event_destroy(ev);
        return NULL;
    }
    *desc = descs[0];
    return ev;
}

/* The group's committed offsets, all partitions (a copy the caller frees). */
static rd_kafka_topic_partition_list_t *committed_offsets(const struct cli_ctx *ctx, rd_kafka_t *rk,
                                                          const char *group, int *rc) {
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o = cli_admin_options(ctx, rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS);
    rd_kafka_ListConsumerGroupOffsets_t *req = rd_kafka_ListConsumerGroupOffsets_new(group, NULL);
    rd_kafka_ListConsumerGroupOffsets(rk, &req, 1, o, q);
    rd_kafka_event_t *ev = cli_admin_wait(ctx, q, RD_KAFKA_EVENT_LISTCONSUMERGROUPOFFSETS_RESULT,
                                           "list group offsets", rc);
    rd_kafka_ListConsumerGroupOffsets_destroy(req);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    if (!ev) return NULL;
    size_t n;
    const rd_kafka_group_result_t **res =
        rd_kafka_ListConsumerGroupOffsets_result_groups(rd_kafka_event_ListConsumerGroupOffsets_result(ev), &n);
    rd_kafka_topic_partition_list_t *out = NULL;
    const rd_kafka_error_t *err = n == 1 ? rd_kafka_group_result_error(res[0]) : NULL;
    if (n != 1 || err) {
        *rc = cli_kafka_error(ctx, err ? rd_kafka_error_code(err) : RD_KAFKA_RESP_ERR__BAD_MSG, group,
                              err ? rd_kafka_error_string(err) : "no result");
    } else {
        const rd_kafka_topic_partition_list_t *parts = rd_kafka_group_result_partitions(res[0]);
        out = parts ? rd_kafka_topic_partition_list_copy(parts) : rd_kafka_topic_partition_list_new(0);
    }
    rd_kafka_event_destroy(ev);
    return out;
}

static int group_is_active(const rd_kafka_ConsumerGroupDescription_t *d) {
    rd_kafka_consumer_group_state_t s = rd_kafka_ConsumerGroupDescription_state(d);
    return rd_kafka_ConsumerGroupDescription_member_count(d) > 0 ||
           (s != RD_KAFKA_CONSUMER_GROUP_STATE_EMPTY && s != RD_KAFKA_CONSUMER_GROUP_STATE_DEAD);
}

static const char *state_name(const rd_kafka_ConsumerGroupDescription_t *d) {
    return rd_kafka_consumer_group_state_name(rd_kafka_ConsumerGroupDescription_state(d));
}

/* ---- list ---- */

static int group_list(struct cli_ctx *ctx, int argc, char **argv) {
    static const struct option opts[] = {CLI_COMMON_OPTIONS};
    int c;
    while ((c = getopt_long(argc, argv, CLI_COMMON_SHORT, opts, NULL)) != -1) {
        int r = cli_common_option(ctx, c, optarg);
        if (r >= CLI_STOP) return r - CLI_STOP;
    }
    if (optind < argc) return cli_usage_error(ctx, "unexpected argument \"%s\"", argv[optind]);
    int rc;
    rd_kafka_t *rk = cli_admin_connect(ctx, &rc);
    if (!rk) return rc;
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o = cli_admin_options(ctx, rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS);
    rd_kafka_ListConsumerGroups(rk, o, q);
    rd_kafka_event_t *ev = cli_admin_wait(ctx, q, RD_KAFKA_EVENT_LISTCONSUMERGROUPS_RESULT, "list groups", &rc);
    if (ev) {
        const rd_kafka_ListConsumerGroups_result_t *res = rd_kafka_event_ListConsumerGroups_result(ev);
        size_t n, nerr;
        const rd_kafka_ConsumerGroupListing_t **groups = rd_kafka_ListConsumerGroups_result_valid(res, &n);
        const rd_kafka_error_t **errs = rd_kafka_ListConsumerGroups_result_errors(res, &nerr);
        for (size_t i = 0; i < nerr; i++)
            rc = cli_kafka_error(ctx, rd_kafka_error_code(errs[i]), "list groups", rd_kafka_error_string(errs[i]));
        static const char *const headers[] = {"GROUP", "STATE", "TYPE"};
        struct cli_table t;
        cli_table_init(&t, 3, headers);
        for (size_t i = 0; i < n; i++) {
            cli_table_cell(&t, rd_kafka_ConsumerGroupListing_group_id(groups[i]));
            cli_table_cell(&t, rd_kafka_consumer_group_state_name(rd_kafka_ConsumerGroupListing_state(groups[i])));
            cli_table_cell(&t, rd_kafka_ConsumerGroupListing_is_simple_consumer_group(groups[i]) ? "simple"
                                                                                                  : "consumer");
        }
        cli_table_sort(&t, 1);
        if (ctx->format == CLI_FORMAT_JSON) {
            cli_table_json(&t, stdout);
            putchar('\n');
        } else {
            cli_table_print(&t, stdout);
        }
        cli_table_free(&t);
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return rc;
}

/* ---- describe ---- */

/* Committed offsets plus every assigned partition; each element's opaque
 * points at the member that holds it (NULL: unassigned). */
static rd_kafka_topic_partition_list_t *group_partitions(const rd_kafka_ConsumerGroupDescription_t *d,
                                                         const rd_kafka_topic_partition_list_t *committed) {
    rd_kafka_topic_partition_list_t *all = rd_kafka_topic_partition_list_copy(committed);
    for (int i = 0; i < all->cnt; i++) all->elems[i].opaque = NULL;
    size_t members = rd_kafka_ConsumerGroupDescription_member_count(d);
    for (size_t m = 0; m < members; m++) {
        const rd_kafka_MemberDescription_t *md = rd_kafka_ConsumerGroupDescription_member(d, m);
        const rd_kafka_topic_partition_list_t *assigned =
            rd_kafka_MemberAssignment_partitions(rd_kafka_MemberDescription_assignment(md));
        for (int i = 0; assigned && i < assigned->cnt; i++) {
            const rd_kafka_topic_partition_t *a = &assigned->elems[i];
            rd_kafka_topic_partition_t *p = rd_kafka_topic_partition_list_find(all, a->topic, a->partition);
            if (!p) {
                p = rd_kafka_topic_partition_list_add(all, a->topic, a->partition);
                p->offset = RD_KAFKA_OFFSET_INVALID;
            }
            p->opaque = (void *)md;
        }
    }
    rd_kafka_topic_partition_list_sort(all, NULL, NULL);
    return all;
}

static void describe_rows(const char *group, const rd_kafka_topic_partition_list_t *parts,
                          const rd_kafka_topic_partition_list_t *ends, struct cli_table *t) {
    for (int i = 0; i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &parts->elems[i];
        const rd_kafka_MemberDescription_t *m = p->opaque;
        int64_t hi = cli_offset_of(ends, p->topic, p->partition);
        int have_end = hi >= 0;
        int committed = p->offset >= 0;
        cli_table_cell(t, group);
        cli_table_cell(t, p->topic);
        cli_table_cellf(t, "%d", p->partition);
        if (committed) cli_table_cellf(t, "%lld", (long long)p->offset);
        else cli_table_cell(t, NULL);
        if (have_end) cli_table_cellf(t, "%lld", (long long)hi);
        else cli_table_cell(t, NULL);
        /* Not clamped: an offset committed past the end shows as negative
         * lag, as in Kafka's tool. */
        if (committed && have_end) cli_table_cellf(t, "%lld", (long long)(hi - p->offset));
        else cli_table_cell(t, NULL);
        cli_table_cell(t, m ? rd_kafka_MemberDescription_consumer_id(m) : NULL);
        cli_table_cell(t, m ? rd_kafka_MemberDescription_host(m) : NULL);
        cli_table_cell(t, m ? rd_kafka_MemberDescription_client_id(m) : NULL);
    }
}

/* "topic:0,1;other:3" */
static void format_assignment(char *buf, size_t len, const rd_kafka_topic_partition_list_t *a) {
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; a && i < a->cnt && used < len; i++) {
        int same_topic = i > 0 && strcmp(a->elems[i - 1].topic, a->elems[i].topic) == 0;
        if (same_topic)
            used += (size_t)snprintf(buf + used, len - used, ",%d", a->elems[i].partition);
        else
            used += (size_t)snprintf(buf + used, len - used, "%s%s:%d", i ? ";" : "", a->elems[i].topic,
                                     a->elems[i].partition);
    }
}

static void members_table(const char *group, const rd_kafka_ConsumerGroupDescription_t *d, struct cli_table *t) {
    size_t members = rd_kafka_ConsumerGroupDescription_member_count(d);
    for (size_t i = 0; i < members; i++) {
        const rd_kafka_MemberDescription_t *m = rd_kafka_ConsumerGroupDescription_member(d, i);
        const rd_kafka_topic_partition_list_t *assigned =
            rd_kafka_MemberAssignment_partitions(rd_kafka_MemberDescription_assignment(m));
        rd_kafka_topic_partition_list_t *sorted =
            assigned ? rd_kafka_topic_partition_list_copy(assigned) : rd_kafka_topic_partition_list_new(0);
        rd_kafka_topic_partition_list_sort(sorted, NULL, NULL);
        char text[4096];
        format_assignment(text, sizeof(text), sorted);
        cli_table_cell(t, group);
        cli_table_cell(t, rd_kafka_MemberDescription_consumer_id(m));
        cli_table_cell(t, rd_kafka_MemberDescription_group_instance_id(m));
        cli_table_cell(t, rd_kafka_MemberDescription_host(m));
        cli_table_cell(t, rd_kafka_MemberDescription_client_id(m));
        cli_table_cellf(t, "%d", sorted->cnt);
        cli_table_cell(t, sorted->cnt ? text : NULL);
        rd_kafka_topic_partition_list_destroy(sorted);
    }
    cli_table_sort(t, 2);
}

static int describe_one(const struct cli_ctx *ctx, rd_kafka_t *rk, const char *group, int show_members,
                        int first) {
    const rd_kafka_ConsumerGroupDescription_t *d;
    int rc;
    rd_kafka_event_t *ev = describe_group(ctx, rk, group, &d, &rc);
    if (!ev) return rc;
    rd_kafka_topic_partition_list_t *committed = committed_offsets(ctx, rk, group, &rc);
    if (!committed) {
        rd_kafka_event_destroy(ev);
        return rc;
    }
    if (rd_kafka_ConsumerGroupDescription_state(d) == RD_KAFKA_CONSUMER_GROUP_STATE_DEAD &&
        committed->cnt == 0) {
        rc = cli_kafka_error(ctx, RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND, group, "the group does not exist");
        rd_kafka_topic_partition_list_destroy(committed);
        rd_kafka_event_destroy(ev);
        return rc;
    }
    rd_kafka_topic_partition_list_t *parts = group_partitions(d, committed);
    static const char *const headers[] = {"GROUP", "TOPIC", "#PARTITION", "#CURRENT-OFFSET", "#LOG-END-OFFSET",
                                          "#LAG", "CONSUMER-ID", "HOST", "CLIENT-ID"};
    struct cli_table t;
    cli_table_init(&t, 9, headers);
    rd_kafka_topic_partition_list_t *ends = cli_log_offsets(ctx, rk, parts, RD_KAFKA_OFFSET_END, &rc);
    describe_rows(group, parts, ends, &t);  /* without ends: "-" (the error is printed) */
    if (ends) rd_kafka_topic_partition_list_destroy(ends);
    static const char *const mheaders[] = {"GROUP", "CONSUMER-ID", "GROUP-INSTANCE-ID", "HOST", "CLIENT-ID",
                                           "#PARTITIONS", "ASSIGNMENT"};
    struct cli_table mt;
    cli_table_init(&mt, 7, mheaders);
    members_table(group, d, &mt);
    size_t members = rd_kafka_ConsumerGroupDescription_member_count(d);
    const char *assignor = rd_kafka_ConsumerGroupDescription_partition_assignor(d);
    if (ctx->format == CLI_FORMAT_JSON) {
        printf("%s{\"group\":", first ? "" : ",");
        cli_json_str(stdout, group);
        printf(",\"state\":");
        cli_json_str(stdout, state_name(d));
        printf(",\"members\":%zu,\"partition_assignor\":", members);
        cli_json_str(stdout, assignor && *assignor ? assignor : NULL);
        printf(",\"partitions\":");
        cli_table_json(&t, stdout);
        printf(",\"member_list\":");
        cli_table_json(&mt, stdout);
        putchar('}');
    } else {
        if (!first) putchar('\n');
        printf("group %s: state %s, %zu member%s%s%s\n\n", group, state_name(d), members, members == 1 ? "" : "s",
               assignor && *assignor ? ", assignor " : "", assignor && *assignor ? assignor : "");
        if (show_members && cli_table_rows(&mt)) cli_table_print(&mt, stdout);
        else if (show_members) printf("(no active members)\n");
        else if (cli_table_rows(&t)) cli_table_print(&t, stdout);
        else printf("(no committed offsets and no assigned partitions)\n");
    }
    cli_table_free(&t);
    cli_table_free(&mt);
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_topic_partition_list_destroy(committed);
    rd_kafka_event_destroy(ev);
    return rc;
}

static int group_describe(struct cli_ctx *ctx, int argc, char **argv) {
    static const struct option opts[] = {{"members", no_argument, 0, 'm'}, CLI_COMMON_OPTIONS};
    int c, show_members = 0;
    while ((c = getopt_long(argc, argv, CLI_COMMON_SHORT, opts, NULL)) != -1) {
        int r = cli_common_option(ctx, c, optarg);
        if (r >= CLI_STOP) return r - CLI_STOP;
        if (c == 'm') show_members = 1;
    }
    if (optind >= argc) return cli_usage_error(ctx, "name the group(s) to describe");
    int rc;
    rd_kafka_t *rk = cli_admin_connect(ctx, &rc);
    if (!rk) return rc;
    if (ctx->format == CLI_FORMAT_JSON) putchar('[');
    for (int i = optind; i < argc; i++) {
        int r = describe_one(ctx, rk, argv[i], show_members, i == optind);
        if (r > rc) rc = r;
    }
    if (ctx->format == CLI_FORMAT_JSON) printf("]\n");
    rd_kafka_destroy(rk);
    return rc;
}

/* ---- delete ---- */

static int group_delete(struct cli_ctx *ctx, int argc, char **argv) {
    static const struct option opts[] = {CLI_COMMON_OPTIONS};
    int c;
    while ((c = getopt_long(argc, argv, CLI_COMMON_SHORT, opts, NULL)) != -1) {
        int r = cli_common_option(ctx, c, optarg);
        if (r >= CLI_STOP) return r - CLI_STOP;
    }
    int ngroups = argc - optind;
    if (ngroups < 1) return cli_usage_error(ctx, "name the group(s) to delete");
    if (ngroups > CLI_LIST_MAX) return cli_usage_error(ctx, "at most %d groups", CLI_LIST_MAX);
    int rc;
    rd_kafka_t *rk = cli_admin_connect(ctx, &rc);
    if (!rk) return rc;
    rd_kafka_DeleteGroup_t *del[CLI_LIST_MAX];
    for (int i = 0; i < ngroups; i++) del[i] = rd_kafka_DeleteGroup_new(argv[optind + i]);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o = cli_admin_options(ctx, rk, RD_KAFKA_ADMIN_OP_DELETEGROUPS);
    rd_kafka_DeleteGroups(rk, del, (size_t)ngroups, o, q);
    rd_kafka_event_t *ev = cli_admin_wait(ctx, q, RD_KAFKA_EVENT_DELETEGROUPS_RESULT, "delete groups", &rc);
    if (ev) {
        size_t n;
        const rd_kafka_group_result_t **res =
            rd_kafka_DeleteGroups_result_groups(rd_kafka_event_DeleteGroups_result(ev), &n);
        int printed = 0;
        if (ctx->format == CLI_FORMAT_JSON) printf("{\"deleted\":[");
        for (size_t i = 0; i < n; i++) {
            const rd_kafka_error_t *err = rd_kafka_group_result_error(res[i]);
            const char *name = rd_kafka_group_result_name(res[i]);
            if (err) {
                int r = cli_kafka_error(ctx, rd_kafka_error_code(err), name, rd_kafka_error_string(err));
                if (r > rc) rc = r;
            } else if (ctx->format == CLI_FORMAT_JSON) {
                printf(printed++ ? "," : "");
                cli_json_str(stdout, name);
            } else {
                printf("deleted group %s\n", name);
            }
        }
        if (ctx->format == CLI_FORMAT_JSON) printf("]}\n");
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_DeleteGroup_destroy_array(del, (size_t)ngroups);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return rc;
}

/* ---- reset-offsets ---- */

enum reset_to { RESET_NONE, RESET_EARLIEST, RESET_LATEST, RESET_OFFSET, RESET_DATETIME, RESET_SHIFT };

struct reset_opts {
    const char *group;
    int all_topics;
    int ntopics;
    char *topics[CLI_LIST_MAX];  /* "topic" or "topic:0,2" */
    enum reset_to to;
    int64_t value;  /* offset, shift or time in ms */
    int execute;
};

/* Adds the partitions named by "topic[:p,p]" (all of them without a list). */
static int add_topic_spec(const struct cli_ctx *ctx, rd_kafka_t *rk, const char *spec,
                          rd_kafka_topic_partition_list_t *out) {
    char topic[256];
    const char *colon = strchr(spec, ':');
    size_t len = colon ? (size_t)(colon - spec) : strlen(spec);
    if (len == 0 || len >= sizeof(topic)) return cli_usage_error(ctx, "bad --topic \"%s\"", spec);
    memcpy(topic, spec, len);
    topic[len] = '\0';
    const struct rd_kafka_metadata *md;
    int rc = cli_metadata(ctx, rk, topic, 0, &md);
    if (rc != CLI_EXIT_OK) return rc;
    const struct rd_kafka_metadata_topic *mt = cli_find_topic(md, topic);
    if (!mt || mt->err) {
        rc = cli_kafka_error(ctx, mt ? mt->err : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, topic, NULL);
    } else if (!colon) {
        for (int i = 0; i < mt->partition_cnt; i++)
            rd_kafka_topic_partition_list_add(out, topic, mt->partitions[i].id)->offset = RD_KAFKA_OFFSET_INVALID;
    } else {
        int before = out->cnt;
        char *list = cli_xstrdup(colon + 1), *save = NULL;
        for (char *tok = strtok_r(list, ",", &save); tok && rc == CLI_EXIT_OK; tok = strtok_r(NULL, ",", &save)) {
            int64_t p;
            if (cli_parse_i64(tok, 0, INT32_MAX, &p) != 0)
                rc = cli_usage_error(ctx, "bad partition \"%s\" in --topic %s", tok, spec);
            else if (p >= mt->partition_cnt)
                rc = cli_kafka_error(ctx, RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION, spec, "no such partition");
            else
                rd_kafka_topic_partition_list_add(out, topic, (int32_t)p)->offset = RD_KAFKA_OFFSET_INVALID;
        }
        free(list);
        if (rc == CLI_EXIT_OK && out->cnt == before) rc = cli_usage_error(ctx, "no partition in --topic %s", spec);
    }
    rd_kafka_metadata_destroy(md);
    return rc;
}

static int64_t clamp(int64_t v, int64_t lo, int64_t hi) {
    return v < lo ? lo : v > hi ? hi : v;
}

/* Fills each element's offset with the new offset, as Kafka's tool
 * computes it: targets outside the log are moved to its nearest end. */
static int plan_reset(const struct cli_ctx *ctx, rd_kafka_t *rk, const struct reset_opts *ro,
                      rd_kafka_topic_partition_list_t *plan, const rd_kafka_topic_partition_list_t *committed) {
    rd_kafka_topic_partition_list_t *times = NULL;
    if (ro->to == RESET_DATETIME) {
        times = rd_kafka_topic_partition_list_copy(plan);
        for (int i = 0; i < times->cnt; i++) times->elems[i].offset = ro->value;
        rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(rk, times, ctx->timeout_ms);
        if (err) {
            rd_kafka_topic_partition_list_destroy(times);
            return cli_kafka_error(ctx, err, "offsets for time", NULL);
        }
    }
    int rc;
    rd_kafka_topic_partition_list_t *starts = cli_log_offsets(ctx, rk, plan, RD_KAFKA_OFFSET_BEGINNING, &rc);
    rd_kafka_topic_partition_list_t *ends = starts ? cli_log_offsets(ctx, rk, plan, RD_KAFKA_OFFSET_END, &rc) : NULL;
    for (int i = 0; i < plan->cnt && rc == CLI_EXIT_OK; i++) {
        rd_kafka_topic_partition_t *p = &plan->elems[i];
        int64_t lo = cli_offset_of(starts, p->topic, p->partition);
        int64_t hi = cli_offset_of(ends, p->topic, p->partition);
        if (lo < 0 || hi < 0) {
            rc = cli_kafka_error(ctx, RD_KAFKA_RESP_ERR__PARTIAL, p->topic, "cannot read the partition's offsets");
            break;
        }
        const rd_kafka_topic_partition_t *cur = rd_kafka_topic_partition_list_find(committed, p->topic, p->partition);
        int64_t current = cur && cur->offset >= 0 ? cur->offset : -1;
        switch (ro->to) {
        case RESET_EARLIEST: p->offset = lo; break;
        case RESET_LATEST: p->offset = hi; break;
        case RESET_OFFSET: p->offset = clamp(ro->value, lo, hi); break;
        case RESET_SHIFT: p->offset = clamp((current >= 0 ? current : lo) + ro->value, lo, hi); break;
        case RESET_DATETIME: {
            const rd_kafka_topic_partition_t *t = rd_kafka_topic_partition_list_find(times, p->topic, p->partition);
            /* No record at or after the time: the end, as Kafka does. */
            p->offset = t && !t->err && t->offset >= 0 ? clamp(t->offset, lo, hi) : hi;
            break;
        }
        case RESET_NONE: break;
        }
    }
    if (times) rd_kafka_topic_partition_list_destroy(times);
    if (starts) rd_kafka_topic_partition_list_destroy(starts);
    if (ends) rd_kafka_topic_partition_list_destroy(ends);
    return rc;
}

static int apply_reset(const struct cli_ctx *ctx, rd_kafka_t *rk, const char *group,
                       const rd_kafka_topic_partition_list_t *plan) {
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o = cli_admin_options(ctx, rk, RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS);
    rd_kafka_AlterConsumerGroupOffsets_t *req = rd_kafka_AlterConsumerGroupOffsets_new(group, plan);
    rd_kafka_AlterConsumerGroupOffsets(rk, &req, 1, o, q);
    int rc;
    rd_kafka_event_t *ev = cli_admin_wait(ctx, q, RD_KAFKA_EVENT_ALTERCONSUMERGROUPOFFSETS_RESULT,
                                           "alter group offsets", &rc);
    if (ev) {
        size_t n;
        const rd_kafka_group_result_t **res =
            rd_kafka_AlterConsumerGroupOffsets_result_groups(rd_kafka_event_AlterConsumerGroupOffsets_result(ev), &n);
        for (size_t g = 0; g < n; g++) {
            const rd_kafka_error_t *err = rd_kafka_group_result_error(res[g]);
            if (err) rc = cli_kafka_error(ctx, rd_kafka_error_code(err), group, rd_kafka_error_string(err));
            const rd_kafka_topic_partition_list_t *parts = rd_kafka_group_result_partitions(res[g]);
            for (int i = 0; parts && i < parts->cnt; i++)
                if (parts->elems[i].err) {
                    char label[300];
                    snprintf(label, sizeof(label), "%s-%d", parts->elems[i].topic, parts->elems[i].partition);
                    rc = cli_kafka_error(ctx, parts->elems[i].err, label, NULL);
                }
        }
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_AlterConsumerGroupOffsets_destroy(req);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    return rc;
}

static void print_plan(const struct cli_ctx *ctx, const struct reset_opts *ro,
                       const rd_kafka_topic_partition_list_t *plan,
                       const rd_kafka_topic_partition_list_t *committed) {
    static const char *const headers[] = {"GROUP", "TOPIC", "#PARTITION", "#CURRENT-OFFSET", "#NEW-OFFSET"};
    struct cli_table t;
    cli_table_init(&t, 5, headers);
    for (int i = 0; i < plan->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &plan->elems[i];
        const rd_kafka_topic_partition_t *cur = rd_kafka_topic_partition_list_find(committed, p->topic, p->partition);
        cli_table_cell(&t, ro->group);
        cli_table_cell(&t, p->topic);
        cli_table_cellf(&t, "%d", p->partition);
        if (cur && cur->offset >= 0) cli_table_cellf(&t, "%lld", (long long)cur->offset);
        else cli_table_cell(&t, NULL);
        cli_table_cellf(&t, "%lld", (long long)p->offset);
    }
    if (ctx->format == CLI_FORMAT_JSON) {
        printf("{\"group\":");
        cli_json_str(stdout, ro->group);
        printf(",\"executed\":%s,\"partitions\":", ro->execute ? "true" : "false");
        cli_table_json(&t, stdout);
        printf("}\n");
    } else {
        cli_table_print(&t, stdout);
    }
    cli_table_free(&t);
    if (!ro->execute)
        fprintf(stderr, "dry run: nothing changed; add --execute to commit these offsets\n");
}

static int parse_reset_opts(struct cli_ctx *ctx, int argc, char **argv, struct reset_opts *ro) {
    static const struct option opts[] = {
        {"group", required_argument, 0, 'g'},      {"topic", required_argument, 0, 't'},
        {"all-topics", no_argument, 0, 'A'},       {"to-earliest", no_argument, 0, 'E'},
        {"to-latest", no_argument, 0, 'L'},        {"to-offset", required_argument, 0, 'O'},
        {"to-datetime", required_argument, 0, 'D'}, {"shift-by", required_argument, 0, 'S'},
        {"execute", no_argument, 0, 'X'},          {"dry-run", no_argument, 0, 'N'},
        CLI_COMMON_OPTIONS};
    int c, nto = 0;
    while ((c = getopt_long(argc, argv, CLI_COMMON_SHORT "g:t:", opts, NULL)) != -1) {
        int r = cli_common_option(ctx, c, optarg);
        if (r >= CLI_STOP) return r;
        if (r) continue;
        switch (c) {
        case 'g': ro->group = optarg; break;
        case 't':
            if (ro->ntopics == CLI_LIST_MAX) return CLI_STOP + cli_usage_error(ctx, "too many --topic");
            ro->topics[ro->ntopics++] = optarg;
            break;
        case 'A': ro->all_topics = 1; break;
        case 'E': ro->to = RESET_EARLIEST, nto++; break;
        case 'L': ro->to = RESET_LATEST, nto++; break;
        case 'O':
            ro->to = RESET_OFFSET, nto++;
            if (cli_parse_i64(optarg, 0, INT64_MAX, &ro->value) != 0)
                return CLI_STOP + cli_usage_error(ctx, "--to-offset takes an offset >= 0");
            break;
        case 'S':
            ro->to = RESET_SHIFT, nto++;
            if (cli_parse_i64(optarg, INT64_MIN / 2, INT64_MAX / 2, &ro->value) != 0)
                return CLI_STOP + cli_usage_error(ctx, "--shift-by takes a whole number (may be negative)");
            break;
        case 'D':
            ro->to = RESET_DATETIME, nto++;
            if (cli_parse_time_ms(optarg, &ro->value) != 0)
                return CLI_STOP + cli_usage_error(ctx, "--to-datetime takes ISO 8601 (2026-11-25T17:00:00Z) "
                                                       "or milliseconds since the epoch");
            break;
        case 'X': ro->execute = 1; break;
        case 'N': ro->execute = 0; break;
        }
    }
    if (optind < argc) return CLI_STOP + cli_usage_error(ctx, "unexpected argument \"%s\"", argv[optind]);
    if (!ro->group) return CLI_STOP + cli_usage_error(ctx, "--group is required");
    if (nto != 1)
        return CLI_STOP + cli_usage_error(ctx, "give exactly one of --to-earliest, --to-latest, --to-offset, "
                                               "--to-datetime, --shift-by");
    if (!ro->all_topics == !ro->ntopics)
        return CLI_STOP + cli_usage_error(ctx, "give --topic TOPIC[:PARTITIONS] (repeatable) or --all-topics");
    return 0;
}

static int group_reset_offsets(struct cli_ctx *ctx, int argc, char **argv) {
    struct reset_opts ro;
    memset(&ro, 0, sizeof(ro));
    int r = parse_reset_opts(ctx, argc, argv, &ro);
    if (r >= CLI_STOP) return r - CLI_STOP;
    int rc;
    rd_kafka_t *rk = cli_admin_connect(ctx, &rc);
    if (!rk) return rc;
    const rd_kafka_ConsumerGroupDescription_t *d;
    rd_kafka_event_t *ev = describe_group(ctx, rk, ro.group, &d, &rc);
    rd_kafka_topic_partition_list_t *committed = NULL, *plan = NULL;
    if (!ev) goto out;
    if (group_is_active(d)) {
        fprintf(stderr, "gregor %s: group %s is %s with %zu active member(s): offsets can only be reset "
                        "while the group is inactive\n  hint: stop the group's consumers first\n",
                ctx->command, ro.group, state_name(d), rd_kafka_ConsumerGroupDescription_member_count(d));
        rc = CLI_EXIT_KAFKA;
        goto out;
    }
    committed = committed_offsets(ctx, rk, ro.group, &rc);
    if (!committed) goto out;
    plan = rd_kafka_topic_partition_list_new(16);
    if (ro.all_topics) {
        for (int i = 0; i < committed->cnt; i++)
            rd_kafka_topic_partition_list_add(plan, committed->elems[i].topic, committed->elems[i].partition);
    }
    for (int i = 0; i < ro.ntopics && rc == CLI_EXIT_OK; i++) rc = add_topic_spec(ctx, rk, ro.topics[i], plan);
    if (rc != CLI_EXIT_OK) goto out;
    rd_kafka_topic_partition_list_sort(plan, NULL, NULL);
    rc = plan_reset(ctx, rk, &ro, plan, committed);
    if (rc == CLI_EXIT_OK && ro.execute && plan->cnt) rc = apply_reset(ctx, rk, ro.group, plan);
    if (rc == CLI_EXIT_OK) print_plan(ctx, &ro, plan, committed);
out:
    if (plan) rd_kafka_topic_partition_list_destroy(plan);
    if (committed) rd_kafka_topic_partition_list_destroy(committed);
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_destroy(rk);
    return rc;
}

const struct cli_command cli_group_commands[] = {
    {"group list", "[options]", "list consumer groups with their state", "", group_list},
    {"group describe", "GROUP... [options]",
     "show a group's state, and offsets, lag and member per partition",
     "Columns as in Kafka's kafka-consumer-groups --describe: CURRENT-OFFSET is the\n"
     "committed offset, LOG-END-OFFSET the partition's high watermark, LAG their\n"
     "difference; \"-\" (null in JSON) where the group has committed nothing.\n"
     "A group that does not exist is an error (GROUP_ID_NOT_FOUND, exit 1).\n"
     "JSON output carries both the partitions and the member list.\n\n"
     "Options:\n"
     "  --members              list the members (id, instance id, host, client id,\n"
     "                         assigned partitions) instead of the partitions\n",
     group_describe},
    {"group delete", "GROUP... [options]", "delete inactive groups and their committed offsets",
     "A group with active members is refused (NON_EMPTY_GROUP).\n", group_delete},
    {"group reset-offsets", "--group GROUP (--topic TOPIC[:P,..] | --all-topics) TARGET [--execute]",
     "move a group's committed offsets; a dry run unless --execute",
     "Prints the plan (current and new offset per partition); with --execute it\n"
     "also commits the new offsets. Only an inactive group (no members) can be\n"
     "reset, as with Kafka's tool. Targets outside a partition's log are moved\n"
     "to its nearest end.\n\n"
     "Options:\n"
     "  -g, --group GROUP      the group (required)\n"
     "  -t, --topic TOPIC[:P,..]  a topic, optionally only the listed partitions (repeatable)\n"
     "  --all-topics           every partition the group has committed offsets for\n"
     "  --to-earliest          the log start offset\n"
     "  --to-latest            the log end offset\n"
     "  --to-offset N          offset N\n"
     "  --to-datetime TIME     the first offset with a timestamp at or after TIME (ISO 8601,\n"
     "                         e.g. 2026-11-25T17:00:00Z or 2026-11-25T18:00:00+01:00; local\n"
     "                         time without a zone; or milliseconds since the epoch)\n"
     "  --shift-by N           the committed offset plus N (negative: back); from the log\n"
     "                         start where nothing is committed\n"
     "  --execute              commit the new offsets (default: dry run)\n"
     "  --dry-run              only print the plan (the default)\n",
     group_reset_offsets},
    {0, 0, 0, 0, 0},
};
