/*
 * Shared by the client commands: common options, errors with hints,
 * librdkafka handle set-up, and the parsing of numbers and times.
 */
#include "cli/cli_common.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli_output.h"

_Static_assert(RD_KAFKA_OFFSET_BEGINNING == -2 && RD_KAFKA_OFFSET_END == -1,
               "ListOffsets' earliest and latest timestamps");

int cli_usage_error(const struct cli_ctx *ctx, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "gregor %s: ", ctx->command);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n  hint: see 'gregor %s --help'\n", ctx->command);
    return CLI_EXIT_USAGE;
}

int cli_common_option(struct cli_ctx *ctx, int opt, const char *arg) {
    int64_t v;
    switch (opt) {
    case 'b':
    case CLI_OPT_BROKERS:
        if (!*arg) return CLI_STOP + cli_usage_error(ctx, "--brokers takes HOST:PORT[,HOST:PORT...]");
        ctx->brokers = arg;
        return 1;
    case CLI_OPT_FORMAT:
        if (strcmp(arg, "json") == 0)
            ctx->format = CLI_FORMAT_JSON;
        else if (strcmp(arg, "table") == 0)
            ctx->format = CLI_FORMAT_TABLE;
        else
            return CLI_STOP + cli_usage_error(ctx, "--format must be table or json, not \"%s\"", arg);
        return 1;
    case CLI_OPT_TIMEOUT:
        if (cli_parse_i64(arg, 1, 3600000, &v) != 0)
            return CLI_STOP + cli_usage_error(ctx, "--timeout takes milliseconds (1..3600000)");
        ctx->timeout_ms = (int)v;
        return 1;
    case 'v':
    case CLI_OPT_VERBOSE:
        ctx->verbose = 1;
        return 1;
    case CLI_OPT_PROP:
        if (!strchr(arg, '=') || arg[0] == '=')
            return CLI_STOP + cli_usage_error(ctx, "--prop expects key=value, got \"%s\"", arg);
        if (ctx->nprops == CLI_LIST_MAX)
            return CLI_STOP + cli_usage_error(ctx, "at most %d --prop options", CLI_LIST_MAX);
        ctx->props[ctx->nprops++] = arg;
        return 1;
    case 'h':
    case CLI_OPT_HELP:
        cli_print_help(stdout, ctx->cmd);
        return CLI_STOP + CLI_EXIT_OK;
    case '?':
    case ':':
        /* getopt_long already named the option. */
        fprintf(stderr, "  hint: see 'gregor %s --help'\n", ctx->command);
        return CLI_STOP + CLI_EXIT_USAGE;
    default:
        return 0;
    }
}

static const char *hint_for(rd_kafka_resp_err_t err) {
    switch (err) {
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__RESOLVE:
        return "is a broker running there? Set the address with -b HOST:PORT or GREGOR_BROKERS";
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
        return "check the name with 'gregor topic list'";
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
        return "see the topic's partitions with 'gregor topic describe TOPIC'";
    case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS:
        return "pick another name, or pass --if-not-exists";
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
        return "topic names use letters, digits, '.', '_' and '-', at most 249 characters";
    case RD_KAFKA_RESP_ERR_INVALID_PARTITIONS:
        return "the partition count can only grow, and must be at least 1";
    case RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR:
        return "a single-node cluster takes --replication-factor 1";
    case RD_KAFKA_RESP_ERR_INVALID_CONFIG:
        return "see the topic-level keys in Kafka's documentation (docs/CLI.md)";
    case RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND:
        return "list the groups with 'gregor group list'";
    case RD_KAFKA_RESP_ERR_NON_EMPTY_GROUP:
        return "stop the group's consumers first";
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
        return "the broker's message.max.bytes (or the topic's max.message.bytes) is smaller";
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
        return "the broker's configuration forbids this change";
    case RD_KAFKA_RESP_ERR_TOPIC_DELETION_DISABLED:
        return "the broker runs with delete.topic.enable=false";
    default:
        return NULL;
    }
}

/* Set once cli_connect saw a broker answer. After that a timeout or a
 * lost connection is a failure of a request (exit 1), not an unreachable
 * cluster (exit 3), and the "is a broker running" hint would mislead. */
static int cluster_reached;

static int is_transport_error(rd_kafka_resp_err_t err) {
    return err == RD_KAFKA_RESP_ERR__TRANSPORT || err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN ||
           err == RD_KAFKA_RESP_ERR__TIMED_OUT || err == RD_KAFKA_RESP_ERR__RESOLVE;
}

int cli_exit_for(rd_kafka_resp_err_t err) {
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return CLI_EXIT_OK;
    if (is_transport_error(err) && !cluster_reached) return CLI_EXIT_UNREACHABLE;
    return CLI_EXIT_KAFKA;
}

int cli_kafka_error(const struct cli_ctx *ctx, rd_kafka_resp_err_t err, const char *what,
                    const char *detail) {
    const char *name = rd_kafka_err2name(err);
    /* librdkafka's local errors start with '_'; the Kafka name is what
     * users search for, so print it without librdkafka's prefix. */
    if (name && name[0] == '_') name++;
    fprintf(stderr, "gregor %s: %s: %s: %s\n", ctx->command, what, name ? name : "UNKNOWN",
            detail && *detail ? detail : rd_kafka_err2str(err));
    const char *hint = is_transport_error(err) && cluster_reached
                           ? "the cluster answered earlier; it may be busy or restarting: retry, or raise --timeout"
                           : hint_for(err);
    if (hint && cli_exit_for(err) == CLI_EXIT_UNREACHABLE)
        fprintf(stderr, "  hint: no answer from %s; %s\n", ctx->brokers, hint);
    else if (hint)
        fprintf(stderr, "  hint: %s\n", hint);
    return cli_exit_for(err);
}

void cli_print_help(FILE *out, const struct cli_command *cmd) {
    fprintf(out, "usage: gregor %s %s\n\n%s\n\n%s", cmd->name, cmd->args, cmd->summary, cmd->help);
    fputs("\nCommon options:\n"
          "  -b, --brokers HOST:PORT[,..]  bootstrap servers (default: $GREGOR_BROKERS,\n"
          "                         else " CLI_DEFAULT_BROKERS ")\n"
          "  --format table|json    output for people (default) or for scripts\n"
          "  --timeout MS           how long to wait for the cluster (default 30000)\n"
          "  --prop KEY=VALUE       a librdkafka client property (repeatable)\n"
          "  -v, --verbose          show librdkafka's log lines\n"
          "  -h, --help             this text\n",
          out);
}

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig) {
    (void)sig;
    interrupted = 1;
}

void cli_catch_interrupts(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_interrupt;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGPIPE, &sa, NULL);
}

int cli_interrupted(void) {
    return interrupted != 0;
}

int64_t cli_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int cli_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) return -1;
    *out = v;
    return 0;
}

/* "+HH:MM", "+HHMM", "-HH" or "Z" at s: the offset in seconds east of UTC. */
static int parse_zone(const char *s, long *east_s) {
    if (strcmp(s, "Z") == 0 || strcmp(s, "z") == 0) {
        *east_s = 0;
        return 0;
    }
    int hh = 0, mm = 0;
    if ((s[0] != '+' && s[0] != '-') ||
        !(sscanf(s + 1, "%2d:%2d", &hh, &mm) == 2 || sscanf(s + 1, "%2d%2d", &hh, &mm) == 2 ||
          (strlen(s) == 3 && sscanf(s + 1, "%2d", &hh) == 1)))
        return -1;
    if (hh > 23 || mm > 59) return -1;
    *east_s = (s[0] == '-' ? -1 : 1) * (hh * 3600L + mm * 60L);
    return 0;
}

int cli_parse_time_ms(const char *s, int64_t *ms) {
    if (cli_parse_i64(s, 0, INT64_MAX, ms) == 0) return 0;
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest) rest = strptime(s, "%Y-%m-%d %H:%M:%S", &tm);
    if (!rest) {
        memset(&tm, 0, sizeof(tm));
        rest = strptime(s, "%Y-%m-%d", &tm);
        if (!rest || *rest) return -1;
    }
    int64_t frac_ms = 0;
    if (*rest == '.') {
        int digits = 0;
        for (rest++; *rest >= '0' && *rest <= '9'; rest++, digits++)
            if (digits < 3) frac_ms = frac_ms * 10 + (*rest - '0');
        if (digits == 0) return -1;
        for (; digits < 3; digits++) frac_ms *= 10;
    }
    time_t secs;
    if (*rest == '\0') {
        tm.tm_isdst = -1;
        secs = mktime(&tm);
    } else {
        long east;
        if (parse_zone(rest, &east) != 0) return -1;
        secs = timegm(&tm) - east;
    }
    if (secs == (time_t)-1) return -1;
    *ms = (int64_t)secs * 1000 + frac_ms;
    return 0;
}

int cli_split_kv(const char *kv, char *key, size_t keylen, const char **value) {
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv || (size_t)(eq - kv) >= keylen) return -1;
    memcpy(key, kv, (size_t)(eq - kv));
    key[eq - kv] = '\0';
    *value = eq + 1;
    return 0;
}

/* librdkafka logs connection failures on its own; the commands report
 * errors through their results, so its lines only show with --verbose. */
static void quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    (void)rk, (void)level, (void)fac, (void)buf;
}

int cli_conf_set(const struct cli_ctx *ctx, rd_kafka_conf_t *conf, const char *key,
                 const char *value) {
    char err[256];
    if (rd_kafka_conf_set(conf, key, value, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
        cli_usage_error(ctx, "client property %s=%s: %s", key, value, err);
        return -1;
    }
    return 0;
}

rd_kafka_conf_t *cli_conf_new(const struct cli_ctx *ctx) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char timeout[32];
    /* librdkafka refuses socket timeouts under 10 ms. */
    snprintf(timeout, sizeof(timeout), "%d", ctx->timeout_ms < 10 ? 10 : ctx->timeout_ms);
    if (cli_conf_set(ctx, conf, "bootstrap.servers", ctx->brokers) != 0 ||
        cli_conf_set(ctx, conf, "client.id", "gregor-cli") != 0 ||
        cli_conf_set(ctx, conf, "socket.timeout.ms", timeout) != 0)
        goto fail;
    if (!ctx->verbose) rd_kafka_conf_set_log_cb(conf, quiet_log);
    for (int i = 0; i < ctx->nprops; i++) {
        char key[256];
        const char *value;
        if (cli_split_kv(ctx->props[i], key, sizeof(key), &value) != 0 ||
            cli_conf_set(ctx, conf, key, value) != 0)
            goto fail;
    }
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

int cli_metadata(const struct cli_ctx *ctx, rd_kafka_t *rk, const char *topic, int may_create,
                 const struct rd_kafka_metadata **md) {
    rd_kafka_topic_t *rkt = topic && may_create ? rd_kafka_topic_new(rk, topic, NULL) : NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, rkt == NULL, rkt, md, ctx->timeout_ms);
    if (rkt) rd_kafka_topic_destroy(rkt);
    if (err) return cli_kafka_error(ctx, err, "metadata", NULL);
    return CLI_EXIT_OK;
}

const struct rd_kafka_metadata_topic *cli_find_topic(const struct rd_kafka_metadata *md,
                                                     const char *topic) {
    for (int i = 0; i < md->topic_cnt; i++)
        if (strcmp(md->topics[i].topic, topic) == 0) return &md->topics[i];
    return NULL;
}

rd_kafka_t *cli_admin_connect(const struct cli_ctx *ctx, int *exit_code) {
    rd_kafka_conf_t *conf = cli_conf_new(ctx);
    if (!conf) {
        *exit_code = CLI_EXIT_USAGE;
        return NULL;
    }
    return cli_connect(ctx, RD_KAFKA_PRODUCER, conf, exit_code);
}

rd_kafka_t *cli_connect(const struct cli_ctx *ctx, rd_kafka_type_t type, rd_kafka_conf_t *conf,
                        int *exit_code) {
    char err[512];
    rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof(err));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        *exit_code = cli_usage_error(ctx, "%s", err);
        return NULL;
    }
    /* A metadata request for no topic: proves a broker answers, so an
     * unreachable cluster gets its own exit code before anything else. */
    const struct rd_kafka_metadata *md;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, NULL, &md, ctx->timeout_ms);
    if (e) {
        const char *name = rd_kafka_err2name(e);
        fprintf(stderr, "gregor %s: cannot reach the cluster at %s: %s\n", ctx->command, ctx->brokers,
                name[0] == '_' ? name + 1 : name);
        fprintf(stderr, "  hint: %s\n", hint_for(RD_KAFKA_RESP_ERR__TRANSPORT));
        rd_kafka_destroy(rk);
        *exit_code = CLI_EXIT_UNREACHABLE;
        return NULL;
    }
    rd_kafka_metadata_destroy(md);
    cluster_reached = 1;
    *exit_code = CLI_EXIT_OK;
    return rk;
}

rd_kafka_AdminOptions_t *cli_admin_options(const struct cli_ctx *ctx, rd_kafka_t *rk,
                                           rd_kafka_admin_op_t op) {
    char err[256];
    rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(rk, op);
    rd_kafka_AdminOptions_set_request_timeout(o, ctx->timeout_ms, err, sizeof(err));
    return o;
}

static rd_kafka_event_t *wait_event(const struct cli_ctx *ctx, rd_kafka_queue_t *queue,
                                    rd_kafka_event_type_t type) {
    /* The admin request has its own timeout; a little more here lets
     * its answer (an error) arrive rather than be cut off. */
    int64_t deadline = cli_now_ms() + ctx->timeout_ms + 5000;
    for (;;) {
        int64_t left = deadline - cli_now_ms();
        if (left <= 0) return NULL;
        rd_kafka_event_t *ev = rd_kafka_queue_poll(queue, (int)left);
        if (!ev) return NULL;
        if (rd_kafka_event_type(ev) == type) return ev;
        rd_kafka_event_destroy(ev);
    }
}

int cli_topic_partition_count(const struct cli_ctx *ctx, rd_kafka_t *rk, const char *topic, int may_create,
                              int *count) {
    const struct rd_kafka_metadata *md;
    int rc = cli_metadata(ctx, rk, topic, may_create, &md);
    if (rc != CLI_EXIT_OK) return rc;
    const struct rd_kafka_metadata_topic *mt = cli_find_topic(md, topic);
    if (!mt || mt->err || mt->partition_cnt == 0)
        rc = cli_kafka_error(ctx, mt && mt->err ? mt->err : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, topic, NULL);
    else
        *count = mt->partition_cnt;
    rd_kafka_metadata_destroy(md);
    return rc;
}

rd_kafka_event_t *cli_admin_wait(const struct cli_ctx *ctx, rd_kafka_queue_t *queue,
                                 rd_kafka_event_type_t type, const char *what, int *rc) {
    rd_kafka_event_t *ev = wait_event(ctx, queue, type);
    if (!ev) {
        *rc = cli_kafka_error(ctx, RD_KAFKA_RESP_ERR__TIMED_OUT, what, NULL);
        return NULL;
    }
    if (rd_kafka_event_error(ev)) {
        *rc = cli_kafka_error(ctx, rd_kafka_event_error(ev), what, rd_kafka_event_error_string(ev));
        rd_kafka_event_destroy(ev);
        return NULL;
    }
    *rc = CLI_EXIT_OK;
    return ev;
}

rd_kafka_topic_partition_list_t *cli_log_offsets(const struct cli_ctx *ctx, rd_kafka_t *rk,
                                                 const rd_kafka_topic_partition_list_t *list, int64_t which,
                                                 int *rc) {
    rd_kafka_topic_partition_list_t *out = rd_kafka_topic_partition_list_copy(list);
    /* ListOffsets takes -2 (earliest) and -1 (latest) as timestamps; the
     * OFFSET_BEGINNING/END constants have those values. */
    for (int i = 0; i < out->cnt; i++) out->elems[i].offset = which;
    rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(rk, out, ctx->timeout_ms);
    if (err) {
        *rc = cli_kafka_error(ctx, err, "list offsets", NULL);
        rd_kafka_topic_partition_list_destroy(out);
        return NULL;
    }
    *rc = CLI_EXIT_OK;
    return out;
}

int64_t cli_offset_of(const rd_kafka_topic_partition_list_t *offsets, const char *topic, int32_t partition) {
    const rd_kafka_topic_partition_t *p =
        offsets ? rd_kafka_topic_partition_list_find(offsets, topic, partition) : NULL;
    return p && !p->err && p->offset >= 0 ? p->offset : -1;
}
