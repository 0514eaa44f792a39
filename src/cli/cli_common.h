/*
 * What every client-side `gregor` subcommand shares: the command table
 * and its help text, the common options (-b/--brokers, GREGOR_BROKERS,
 * --format, --timeout), the librdkafka handle set-up, error reporting
 * with the Kafka error name and a hint, and the exit codes.
 *
 * Exit codes are an interface: scripts test them, so they never change
 * meaning (docs/CLI.md lists them).
 */
#ifndef GREGOR_CLI_COMMON_H
#define GREGOR_CLI_COMMON_H

#include <getopt.h>
#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <stdio.h>

enum cli_exit {
    CLI_EXIT_OK = 0,
    CLI_EXIT_KAFKA = 1,       /* the broker answered with an error, or a record failed */
    CLI_EXIT_USAGE = 2,       /* bad arguments: nothing was sent */
    CLI_EXIT_UNREACHABLE = 3, /* no broker answered within --timeout */
};

#define CLI_DEFAULT_BROKERS "localhost:9092"
#define CLI_DEFAULT_TIMEOUT_MS 30000
/* Bounds of repeatable options: a command line is typed by a person. */
#define CLI_LIST_MAX 256

enum cli_format { CLI_FORMAT_TABLE, CLI_FORMAT_JSON };

struct cli_command;

struct cli_ctx {
    const struct cli_command *cmd;
    const char *command;  /* "topic create", for messages */
    const char *brokers;
    enum cli_format format;
    int timeout_ms;
    int verbose;          /* librdkafka's own log lines on stderr */
    int nprops;
    const char *props[CLI_LIST_MAX]; /* --prop key=value for the client */
};

struct cli_command {
    const char *name;     /* "topic create" */
    const char *args;     /* positional part of the synopsis */
    const char *summary;  /* one line */
    const char *help;     /* paragraphs and options, without the common options */
    int (*run)(struct cli_ctx *ctx, int argc, char **argv);
};

/* Each family file defines its commands, ended by a zeroed entry. */
extern const struct cli_command cli_topic_commands[];
extern const struct cli_command cli_group_commands[];
extern const struct cli_command cli_produce_commands[];
extern const struct cli_command cli_consume_commands[];
extern const struct cli_command cli_cluster_commands[];

/* Entry from main(): argv[0] is the family ("topic", "help", ...).
 * Returns -1 when argv[0] is not a client command. */
int cli_main(int argc, char **argv);

/* Common options, appended to each command's getopt_long table. */
enum { CLI_OPT_BROKERS = 1000, CLI_OPT_FORMAT, CLI_OPT_TIMEOUT, CLI_OPT_HELP, CLI_OPT_VERBOSE,
       CLI_OPT_PROP };
#define CLI_COMMON_OPTIONS                                              \
    {"brokers", required_argument, 0, CLI_OPT_BROKERS},                 \
    {"format", required_argument, 0, CLI_OPT_FORMAT},                   \
    {"timeout", required_argument, 0, CLI_OPT_TIMEOUT},                 \
    {"verbose", no_argument, 0, CLI_OPT_VERBOSE},                       \
    {"prop", required_argument, 0, CLI_OPT_PROP},                       \
    {"help", no_argument, 0, CLI_OPT_HELP}, {0, 0, 0, 0}
/* Short options every command accepts, to put before its own. */
#define CLI_COMMON_SHORT "b:hv"

/* Handles a common option (also 'b', 'h', 'v', '?').
 * Returns 1 when handled, 0 when the option is the command's own, or
 * CLI_EXIT_* + 0x100 when the command must exit with that code (help
 * printed, or a usage error reported). */
int cli_common_option(struct cli_ctx *ctx, int opt, const char *arg);
#define CLI_STOP 0x100

/* Usage error: prints it and the hint to --help; returns CLI_EXIT_USAGE. */
int cli_usage_error(const struct cli_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Broker or client error with its Kafka name and a hint; returns the exit
 * code that fits it (CLI_EXIT_UNREACHABLE for transport failures). */
int cli_kafka_error(const struct cli_ctx *ctx, rd_kafka_resp_err_t err, const char *what,
                    const char *detail);
int cli_exit_for(rd_kafka_resp_err_t err);
void cli_print_help(FILE *out, const struct cli_command *cmd);

/* SIGINT, SIGTERM and SIGPIPE (`| head`) stop a command gently: it
 * finishes what it holds (deliveries, commits) and exits. Installed
 * without SA_RESTART so a blocked read returns. */
void cli_catch_interrupts(void);
int cli_interrupted(void);
/* CLOCK_MONOTONIC in milliseconds, for timeouts and rates. */
int64_t cli_now_ms(void);
/* Strict number parsing: the whole string, within [min, max]. */
int cli_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);
/* ISO 8601 date-time ("2026-11-25T17:00:00Z", "...+01:00", "...T17:00:00.250",
 * local time when no zone) or milliseconds since the epoch. */
int cli_parse_time_ms(const char *s, int64_t *ms);
/* "key=value" split, key copied into key[keylen]. */
int cli_split_kv(const char *kv, char *key, size_t keylen, const char **value);

/* Configuration with the brokers, --prop and a quiet logger applied. */
rd_kafka_conf_t *cli_conf_new(const struct cli_ctx *ctx);
int cli_conf_set(const struct cli_ctx *ctx, rd_kafka_conf_t *conf, const char *key,
                 const char *value);
/* A handle of `type` made from conf (taken, even on failure), checked to
 * reach a broker. On failure *exit_code is set and NULL returned (the
 * error printed). */
rd_kafka_t *cli_connect(const struct cli_ctx *ctx, rd_kafka_type_t type, rd_kafka_conf_t *conf,
                        int *exit_code);
/* A handle for admin calls and metadata (cli_connect with cli_conf_new). */
rd_kafka_t *cli_admin_connect(const struct cli_ctx *ctx, int *exit_code);
/* Waits for the admin result of `type` on `queue`. A timeout or a
 * request-level error is printed (naming `what`), *rc set to its exit
 * code and NULL returned; otherwise *rc is CLI_EXIT_OK. Per-resource
 * errors inside the result are the caller's to check. */
rd_kafka_event_t *cli_admin_wait(const struct cli_ctx *ctx, rd_kafka_queue_t *queue,
                                 rd_kafka_event_type_t type, const char *what, int *rc);
rd_kafka_AdminOptions_t *cli_admin_options(const struct cli_ctx *ctx, rd_kafka_t *rk,
                                           rd_kafka_admin_op_t op);
/* Metadata of all topics, or only of `topic` when may_create is set: a
 * request naming a missing topic makes the broker auto-create it (when
 * auto.create.topics.enable), which only `produce` wants. Prints errors. */
int cli_metadata(const struct cli_ctx *ctx, rd_kafka_t *rk, const char *topic, int may_create,
                 const struct rd_kafka_metadata **md);
/* The log start (which = RD_KAFKA_OFFSET_BEGINNING) or end offset
 * (RD_KAFKA_OFFSET_END: the high watermark) of every partition of list, in
 * one ListOffsets request per broker rather than one per partition (which
 * would cost a round trip each): a copy of list with each element's offset
 * or err set; NULL when the request failed (error printed, *rc set). */
rd_kafka_topic_partition_list_t *cli_log_offsets(const struct cli_ctx *ctx, rd_kafka_t *rk,
                                                 const rd_kafka_topic_partition_list_t *list, int64_t which,
                                                 int *rc);
/* The offset found for (topic, partition) in a cli_log_offsets result, or
 * -1 when missing or failed. */
int64_t cli_offset_of(const rd_kafka_topic_partition_list_t *offsets, const char *topic, int32_t partition);
/* The topic's partition count; an error (printed) when it does not exist
 * (and may_create did not make the broker create it). */
int cli_topic_partition_count(const struct cli_ctx *ctx, rd_kafka_t *rk, const char *topic, int may_create,
                              int *count);
const struct rd_kafka_metadata_topic *cli_find_topic(const struct rd_kafka_metadata *md,
                                                     const char *topic);

#endif
