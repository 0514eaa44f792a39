/*
 * `gregor consume TOPIC`: prints records through an output template or as
 * JSON lines. Without --group it assigns the partitions itself, starting
 * at --offset or --from-time; with --group it subscribes and commits what
 * it printed. Unless --follow, it stops when every partition it reads has
 * reached its end (librdkafka's partition EOF).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli_common.h"
#include "cli/cli_output.h"

/* Poll step, so Ctrl-C and the stop conditions are checked often. */
#define CLI_CONSUME_POLL_MS 100
/* Partitions one command reads: enough for any topic a person looks at,
 * bounding the per-partition end-of-log flags. */
#define CLI_CONSUME_PARTITIONS_MAX 100000
/* Records printed between flushes of stdout when records keep coming
 * (otherwise it is flushed whenever the consumer catches up): offsets are
 * stored for commit only after a flush succeeded, so this also bounds how
 * far commits trail a steady stream. */
#define CLI_CONSUME_FLUSH_EVERY_RECORDS 1000

enum start_at { START_EARLIEST, START_LATEST, START_OFFSET, START_TAIL, START_TIME };

struct consume_opts {
    const char *topic;
    const char *group;
    enum start_at start;
    int64_t start_value;  /* offset or time in ms */
    int nparts;
    int32_t parts[CLI_LIST_MAX];
    uint64_t num;  /* 0: no limit */
    int follow;
    int commit;
    const char *template;
};

struct consume_state {
    int partitions;
    uint8_t *at_end;    /* per partition: reached the end since its last record */
    int64_t *printed_at; /* per partition: last offset printed but not yet flushed, -1 none */
    uint64_t unflushed;  /* records printed since the last flush */
    uint64_t printed;
};

/* ---- output ---- */

static void put_escaped_headers(const rd_kafka_message_t *m) {
    rd_kafka_headers_t *hdrs;
    if (rd_kafka_message_headers(m, &hdrs) != 0) return;
    const char *name;
    const void *value;
    size_t len;
    for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &value, &len) == 0; i++) {
        if (i) putchar(',');
        fputs(name, stdout);
        putchar('=');
        if (value) fwrite(value, 1, len, stdout);
    }
}

static void print_template(const char *tpl, const rd_kafka_message_t *m) {
    for (const char *p = tpl; *p; p++) {
        if (*p == '\\' && p[1]) {
            p++;
            putchar(*p == 'n' ? '\n' : *p == 't' ? '\t' : *p);
            continue;
        }
        if (*p != '%' || !p[1]) {
            putchar(*p);
            continue;
        }
        rd_kafka_timestamp_type_t tstype;
        switch (*++p) {
        case 't': fputs(rd_kafka_topic_name(m->rkt), stdout); break;
        case 'p': printf("%d", m->partition); break;
        case 'o': printf("%lld", (long long)m->offset); break;
        case 'k': if (m->key) fwrite(m->key, 1, m->key_len, stdout); break;
        case 'v': if (m->payload) fwrite(m->payload, 1, m->len, stdout); break;
        case 'K': printf("%zd", m->key ? (ssize_t)m->key_len : (ssize_t)-1); break;
        case 'V': printf("%zd", m->payload ? (ssize_t)m->len : (ssize_t)-1); break;
        case 'T': printf("%lld", (long long)rd_kafka_message_timestamp(m, &tstype)); break;
        case 'h': put_escaped_headers(m); break;
        case '%': putchar('%'); break;
        default: putchar('%'); putchar(*p); break;
        }
    }
    putchar('\n');
}

static void print_json(const rd_kafka_message_t *m) {
    rd_kafka_timestamp_type_t tstype;
    printf("{\"topic\":");
    cli_json_str(stdout, rd_kafka_topic_name(m->rkt));
    printf(",\"partition\":%d,\"offset\":%lld,\"timestamp\":%lld,\"key\":", m->partition, (long long)m->offset,
           (long long)rd_kafka_message_timestamp(m, &tstype));
    if (m->key) cli_json_strn(stdout, m->key, m->key_len);
    else fputs("null", stdout);
    printf(",\"value\":");
    if (m->payload) cli_json_strn(stdout, m->payload, m->len);
    else fputs("null", stdout);
    printf(",\"headers\":[");
    rd_kafka_headers_t *hdrs;
    if (rd_kafka_message_headers(m, &hdrs) == 0) {
        const char *name;
        const void *value;
        size_t len;
        for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &value, &len) == 0; i++) {
            printf(i ? ",{\"key\":" : "{\"key\":");
            cli_json_str(stdout, name);
            printf(",\"value\":");
            if (value) cli_json_strn(stdout, value, len);
            else fputs("null", stdout);
            putchar('}');
        }
    }
    printf("]}\n");
}

/* ---- the loop ---- */

static int all_at_end(rd_kafka_t *rk, const struct consume_state *st) {
    rd_kafka_topic_partition_list_t *assigned = NULL;
    if (rd_kafka_assignment(rk, &assigned) != 0 || !assigned) return 0;
    int done = assigned->cnt > 0;
    for (int i = 0; i < assigned->cnt && done; i++) {
        int32_t p = assigned->elems[i].partition;
        done = p >= 0 && p < st->partitions && st->at_end[p];
    }
    rd_kafka_topic_partition_list_destroy(assigned);
    return done;
}

static int assigned_count(rd_kafka_t *rk) {
    rd_kafka_topic_partition_list_t *assigned = NULL;
    if (rd_kafka_assignment(rk, &assigned) != 0 || !assigned) return 0;
    int n = assigned->cnt;
    rd_kafka_topic_partition_list_destroy(assigned);
    return n;
}

/* Flushes stdout, then stores for commit the offsets of what it held: a
 * commit never covers records that did not reach the output (`| head`
 * closing the pipe, a full disk, --num, Ctrl-C). A failed write is
 * reported and returns CLI_EXIT_KAFKA; nothing more is stored. */
static int flush_and_store(const struct cli_ctx *ctx, rd_kafka_t *rk, const struct consume_opts *co,
                           struct consume_state *st) {
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "gregor %s: writing the output failed: %s\n", ctx->command, strerror(errno));
        return CLI_EXIT_KAFKA;
    }
    st->unflushed = 0;
    rd_kafka_topic_partition_list_t *list = NULL;
    for (int p = 0; p < st->partitions; p++) {
        if (st->printed_at[p] < 0) continue;
        if (co->group && co->commit) {
            if (!list) list = rd_kafka_topic_partition_list_new(8);
            /* The committed offset is the next one to read. */
            rd_kafka_topic_partition_list_add(list, co->topic, p)->offset = st->printed_at[p] + 1;
        }
        st->printed_at[p] = -1;
    }
    if (list) {
        /* A partition revoked meanwhile is refused: its new owner reads it again. */
        rd_kafka_offsets_store(rk, list);
        rd_kafka_topic_partition_list_destroy(list);
    }
    return CLI_EXIT_OK;
}

static int consume_loop(const struct cli_ctx *ctx, rd_kafka_t *rk, const struct consume_opts *co,
                        struct consume_state *st) {
    int64_t start_ms = cli_now_ms();
    int rc = CLI_EXIT_OK;
    while (!cli_interrupted() && (!co->num || st->printed < co->num)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, CLI_CONSUME_POLL_MS);
        if (!m || m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            /* Caught up: what was printed goes out now even into a pipe
             * (which stdio buffers fully), so --follow output is live. */
            if ((rc = flush_and_store(ctx, rk, co, st)) != CLI_EXIT_OK) {
                if (m) rd_kafka_message_destroy(m);
                return rc;
            }
        }
        if (!m) {
            if (co->follow) continue;
            if (all_at_end(rk, st)) break;
            int64_t waited_ms = cli_now_ms() - start_ms;
            if (st->printed == 0 && waited_ms > ctx->timeout_ms) {
                /* Without a single partition assigned (other members of
                 * the group hold them all) there is no end to wait for. */
                if (co->group && assigned_count(rk) == 0)
                    fprintf(stderr,
                            "gregor %s: no partition of %s was assigned to this consumer within --timeout: "
                            "other members of group %s hold them all\n"
                            "  hint: see them with 'gregor group describe %s', or read without --group\n",
                            ctx->command, co->topic, co->group, co->group);
                else
                    fprintf(stderr, "gregor %s: no partition of %s reached its end within --timeout\n",
                            ctx->command, co->topic);
                rc = CLI_EXIT_KAFKA;
                break;
            }
            continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (m->partition >= 0 && m->partition < st->partitions) st->at_end[m->partition] = 1;
            rd_kafka_message_destroy(m);
            if (!co->follow && all_at_end(rk, st)) break;
            continue;
        }
        if (m->err) {
            rc = cli_kafka_error(ctx, m->err, "consume", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            break;
        }
        if (m->partition >= 0 && m->partition < st->partitions) st->at_end[m->partition] = 0;
        if (ctx->format == CLI_FORMAT_JSON) print_json(m);
        else print_template(co->template, m);
        st->printed++;
        if (m->partition >= 0 && m->partition < st->partitions) st->printed_at[m->partition] = m->offset;
        rd_kafka_message_destroy(m);
        if (++st->unflushed >= CLI_CONSUME_FLUSH_EVERY_RECORDS && (rc = flush_and_store(ctx, rk, co, st)) != 0)
            return rc;
    }
    int flushed = flush_and_store(ctx, rk, co, st);
    return rc != CLI_EXIT_OK ? rc : flushed;
}

/* ---- start positions ---- */

static rd_kafka_topic_partition_list_t *start_positions(const struct cli_ctx *ctx, rd_kafka_t *rk,
                                                        const struct consume_opts *co, int partitions, int *rc) {
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(partitions);
    for (int i = 0; i < (co->nparts ? co->nparts : partitions); i++) {
        int32_t p = co->nparts ? co->parts[i] : i;
        if (p >= partitions) {
            *rc = cli_kafka_error(ctx, RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION, co->topic, "no such partition");
            rd_kafka_topic_partition_list_destroy(list);
            return NULL;
        }
        rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_add(list, co->topic, p);
        tp->offset = co->start == START_EARLIEST ? RD_KAFKA_OFFSET_BEGINNING
                     : co->start == START_LATEST ? RD_KAFKA_OFFSET_END
                     : co->start == START_TAIL   ? RD_KAFKA_OFFSET_TAIL(co->start_value)
                     : co->start_value;
    }
    *rc = CLI_EXIT_OK;
    if (co->start != START_TIME) return list;
    rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(rk, list, ctx->timeout_ms);
    if (err) {
        *rc = cli_kafka_error(ctx, err, "offsets for time", NULL);
        rd_kafka_topic_partition_list_destroy(list);
        return NULL;
    }
    /* No record at or after the time: start at the end. */
    for (int i = 0; i < list->cnt; i++)
        if (list->elems[i].err || list->elems[i].offset < 0) list->elems[i].offset = RD_KAFKA_OFFSET_END;
    return list;
}

/* ---- options ---- */

static int parse_start(struct cli_ctx *ctx, const char *arg, struct consume_opts *co) {
    if (strcmp(arg, "earliest") == 0 || strcmp(arg, "beginning") == 0) co->start = START_EARLIEST;
    else if (strcmp(arg, "latest") == 0 || strcmp(arg, "end") == 0) co->start = START_LATEST;
    else if (cli_parse_i64(arg, 0, INT64_MAX, &co->start_value) == 0) co->start = START_OFFSET;
    else if (arg[0] == '-' && cli_parse_i64(arg + 1, 1, INT32_MAX, &co->start_value) == 0) co->start = START_TAIL;
    else return CLI_STOP + cli_usage_error(ctx, "--offset takes earliest, latest, an offset or -N");
    return 0;
}

static int parse_consume_opts(struct cli_ctx *ctx, int argc, char **argv, struct consume_opts *co) {
    static const struct option opts[] = {
        {"group", required_argument, 0, 'g'},           {"offset", required_argument, 0, 'o'},
        {"from-time", required_argument, 0, 'T'},       {"partition", required_argument, 0, 'p'},
        {"num", required_argument, 0, 'n'},             {"follow", no_argument, 0, 'f'},
        {"format-template", required_argument, 0, 't'}, {"no-commit", no_argument, 0, 'N'},
        CLI_COMMON_OPTIONS};
    int c, r;
    int64_t v;
    while ((c = getopt_long(argc, argv, CLI_COMMON_SHORT "g:o:p:n:ft:", opts, NULL)) != -1) {
        if ((r = cli_common_option(ctx, c, optarg)) >= CLI_STOP) return r;
        if (r) continue;
        switch (c) {
        case 'g': co->group = optarg; break;
        case 'o':
            if ((r = parse_start(ctx, optarg, co)) != 0) return r;
            break;
        case 'T':
            if (cli_parse_time_ms(optarg, &co->start_value) != 0)
                return CLI_STOP + cli_usage_error(ctx, "--from-time takes ISO 8601 or milliseconds since the epoch");
            co->start = START_TIME;
            break;
        case 'p':
            if (cli_parse_i64(optarg, 0, CLI_CONSUME_PARTITIONS_MAX - 1, &v) != 0 || co->nparts == CLI_LIST_MAX)
                return CLI_STOP + cli_usage_error(ctx, "--partition takes a partition number");
            co->parts[co->nparts++] = (int32_t)v;
            break;
        case 'n':
            if (cli_parse_i64(optarg, 1, INT64_MAX, &v) != 0)
                return CLI_STOP + cli_usage_error(ctx, "--num takes a count of at least 1");
            co->num = (uint64_t)v;
            break;
        case 'f': co->follow = 1; break;
        case 't': co->template = optarg; break;
        case 'N': co->commit = 0; break;
        }
    }
    if (argc - optind != 1) return CLI_STOP + cli_usage_error(ctx, "name one topic");
    co->topic = argv[optind];
    if (co->group && (co->nparts || co->start == START_OFFSET || co->start == START_TAIL || co->start == START_TIME))
        return CLI_STOP + cli_usage_error(ctx, "with --group, the group's committed offsets decide where to "
                                               "start: --partition, --offset N and --from-time do not apply "
                                               "(--offset earliest|latest sets where a new group starts)");
    return 0;
}

static rd_kafka_conf_t *consumer_conf(const struct cli_ctx *ctx, const struct consume_opts *co) {
    rd_kafka_conf_t *conf = cli_conf_new(ctx);
    if (!conf) return NULL;
    const char *reset = co->start == START_LATEST ? "latest" : "earliest";
    if (cli_conf_set(ctx, conf, "enable.partition.eof", "true") != 0 ||
        cli_conf_set(ctx, conf, "enable.auto.offset.store", "false") != 0 ||
        cli_conf_set(ctx, conf, "auto.offset.reset", reset) != 0 ||
        cli_conf_set(ctx, conf, "enable.auto.commit", co->group && co->commit ? "true" : "false") != 0 ||
        /* librdkafka 2.0 wants a group.id even for assign(); without
         * --group it is never joined nor committed to. */
        cli_conf_set(ctx, conf, "group.id", co->group ? co->group : "gregor-cli-assign") != 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return conf;
}

static int start_reading(const struct cli_ctx *ctx, rd_kafka_t *rk, const struct consume_opts *co, int partitions) {
    rd_kafka_resp_err_t err;
    if (co->group) {
        rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(sub, co->topic, RD_KAFKA_PARTITION_UA);
        err = rd_kafka_subscribe(rk, sub);
        rd_kafka_topic_partition_list_destroy(sub);
        return err ? cli_kafka_error(ctx, err, "subscribe", NULL) : CLI_EXIT_OK;
    }
    int rc;
    rd_kafka_topic_partition_list_t *list = start_positions(ctx, rk, co, partitions, &rc);
    if (!list) return rc;
    err = rd_kafka_assign(rk, list);
    rd_kafka_topic_partition_list_destroy(list);
    return err ? cli_kafka_error(ctx, err, "assign", NULL) : CLI_EXIT_OK;
}

static int consume(struct cli_ctx *ctx, int argc, char **argv) {
    struct consume_opts co;
    memset(&co, 0, sizeof(co));
    co.template = "%v";
    co.commit = 1;
    int rc = parse_consume_opts(ctx, argc, argv, &co);
    if (rc >= CLI_STOP) return rc - CLI_STOP;
    rd_kafka_conf_t *conf = consumer_conf(ctx, &co);
    if (!conf) return CLI_EXIT_USAGE;
    rd_kafka_t *rk = cli_connect(ctx, RD_KAFKA_CONSUMER, conf, &rc);
    if (!rk) return rc;
    struct consume_state st;
    memset(&st, 0, sizeof(st));
    rc = cli_topic_partition_count(ctx, rk, co.topic, 0, &st.partitions);
    if (rc == CLI_EXIT_OK && st.partitions > CLI_CONSUME_PARTITIONS_MAX)
        rc = cli_usage_error(ctx, "topic has more than %d partitions; pick some with --partition",
                             CLI_CONSUME_PARTITIONS_MAX);
    if (rc == CLI_EXIT_OK) {
        st.at_end = cli_xalloc((size_t)st.partitions);
        st.printed_at = cli_xalloc((size_t)st.partitions * sizeof(*st.printed_at));
        for (int p = 0; p < st.partitions; p++) st.printed_at[p] = -1;
        rc = start_reading(ctx, rk, &co, st.partitions);
    }
    if (rc == CLI_EXIT_OK) {
        cli_catch_interrupts();
        rc = consume_loop(ctx, rk, &co, &st);
        /* A count for people at a terminal, as Kafka's console consumer
         * prints; scripts reading stdout never see it. */
        if (isatty(STDERR_FILENO)) fprintf(stderr, "consumed %llu records\n", (unsigned long long)st.printed);
        if (co.group && co.commit && st.printed) {
            rd_kafka_resp_err_t err = rd_kafka_commit(rk, NULL, 0);
            if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET && rc == CLI_EXIT_OK)
                rc = cli_kafka_error(ctx, err, "commit", NULL);
        }
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    free(st.at_end);
    free(st.printed_at);
    return rc;
}

const struct cli_command cli_consume_commands[] = {
    {"consume", "TOPIC [options]", "print records from a topic, by group or from an offset or a time",
     "Without --follow it stops when every partition read has reached its end.\n"
     "Without --group it reads all partitions (or those given) from --offset or\n"
     "--from-time and commits nothing. With --group it joins the group, starts\n"
     "at the group's committed offsets and commits the records it printed:\n"
     "only those whose output was written (flushed), so `| head` does not\n"
     "commit what it never showed. If writing the output fails (a closed\n"
     "pipe, a full disk) it stops with exit 1. Without --follow, if other\n"
     "members of the group hold every partition, it gives up after --timeout\n"
     "with exit 1.\n\n"
     "Options:\n"
     "  -g, --group GROUP      consume as a member of GROUP\n"
     "  -o, --offset WHERE     earliest (default), latest, an offset, or -N (the\n"
     "                         last N records of each partition); with --group\n"
     "                         only earliest|latest: where a group without\n"
     "                         committed offsets starts\n"
     "  --from-time TIME       the first record at or after TIME (ISO 8601 such as\n"
     "                         2026-11-25T17:00:00Z, or milliseconds since the epoch)\n"
     "  -p, --partition N      read only partition N (repeatable)\n"
     "  -n, --num N            stop after N records\n"
     "  -f, --follow           keep waiting for new records (stop with Ctrl-C)\n"
     "  --no-commit            with --group: do not commit offsets\n"
     "  -t, --format-template T  output per record (default \"%v\"), a newline\n"
     "                         after each: %t topic, %p partition, %o offset,\n"
     "                         %k key, %v value, %T timestamp (ms), %h headers\n"
     "                         (name=value,...), %K key length, %V value length\n"
     "                         (-1 for null), %% a percent sign, \\n \\t escapes\n"
     "  --format json          one JSON object per record: topic, partition,\n"
     "                         offset, timestamp, key, value, headers\n",
     consume},
    {0, 0, 0, 0, 0},
};
