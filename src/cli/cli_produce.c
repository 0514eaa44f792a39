/*
 * `gregor produce TOPIC`: one record per input line, from stdin or a file,
 * with an optional key (before --key-separator) and headers on every
 * record. Lines are bounded (CLI_PRODUCE_LINE_MAX) and librdkafka's queue
 * is bounded (queue.buffering.max.*): when it is full, reading waits for
 * deliveries, so memory stays flat whatever the input size.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli_common.h"
#include "cli/cli_output.h"

/* Longest input line: Kafka's largest default record (message.max.bytes
 * is 1 MiB) with room to spare; a longer line is an error, not a grown
 * buffer. */
#define CLI_PRODUCE_LINE_MAX (16 * 1024 * 1024)
/* The progress bar shows for inputs of at least this many bytes (or, when
 * the size is unknown, after this long), and redraws at most this often. */
#define CLI_PROGRESS_MIN_BYTES (4 * 1024 * 1024)
#define CLI_PROGRESS_DELAY_MS 1000
#define CLI_PROGRESS_REDRAW_MS 200
#define CLI_PROGRESS_WIDTH 30
/* librdkafka's send queue, in KiB: its default (1 GiB) would let a fast
 * reader of large lines hold that much; 64 MiB keeps a broker busy. */
#define CLI_PRODUCE_QUEUE_KBYTES "65536"
/* Poll step while waiting for room in librdkafka's queue. */
#define CLI_PRODUCE_QUEUE_WAIT_MS 50

struct produce_state {
    uint64_t delivered, failed, bytes_in;
    uint64_t rejected;  /* lines refused before sending (no headers delimiter) */
    rd_kafka_resp_err_t first_err;
    char first_err_text[256];
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    struct produce_state *st = opaque;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        st->delivered++;
        return;
    }
    if (st->failed++ == 0) {
        st->first_err = m->err;
        /* Not rd_kafka_message_errstr: for a delivery report that is the
         * record's payload. */
        snprintf(st->first_err_text, sizeof(st->first_err_text), "%s", rd_kafka_err2str(m->err));
    }
}

struct progress {
    int enabled;
    int64_t total_bytes;  /* 0: unknown (a pipe) */
    int64_t start_ms, last_ms;
    int drawn;
};

static void progress_init(struct progress *p, FILE *in, int mode) {
    struct stat sb;
    memset(p, 0, sizeof(*p));
    p->start_ms = cli_now_ms();
    if (mode == 0 || !isatty(STDERR_FILENO)) return;  /* bars are for people */
    if (fstat(fileno(in), &sb) == 0 && S_ISREG(sb.st_mode)) {
        p->total_bytes = sb.st_size;
        p->enabled = mode == 2 || sb.st_size >= CLI_PROGRESS_MIN_BYTES;
    } else {
        p->enabled = 1;
    }
}

static void progress_draw(struct progress *p, const struct produce_state *st, uint64_t sent, int force) {
    if (!p->enabled) return;
    int64_t now = cli_now_ms();
    if (!force && (now - p->last_ms < CLI_PROGRESS_REDRAW_MS ||
                   (p->total_bytes == 0 && now - p->start_ms < CLI_PROGRESS_DELAY_MS)))
        return;
    p->last_ms = now;
    double secs = (double)(now - p->start_ms) / 1000.0;
    double mbs = secs > 0 ? (double)st->bytes_in / 1e6 / secs : 0;
    if (p->total_bytes > 0) {
        double frac = (double)st->bytes_in / (double)p->total_bytes;
        if (frac > 1) frac = 1;
        int fill = (int)(frac * CLI_PROGRESS_WIDTH);
        char bar[CLI_PROGRESS_WIDTH + 1];
        for (int i = 0; i < CLI_PROGRESS_WIDTH; i++) bar[i] = i < fill ? '#' : '.';
        bar[CLI_PROGRESS_WIDTH] = '\0';
        fprintf(stderr, "\r[%s] %3.0f%%  %llu records  %.1f MB/s", bar, frac * 100, (unsigned long long)sent, mbs);
    } else {
        fprintf(stderr, "\r%llu records  %.1f MB  %.1f MB/s", (unsigned long long)sent,
                (double)st->bytes_in / 1e6, mbs);
    }
    p->drawn = 1;
}

static void progress_clear(struct progress *p) {
    if (p->drawn) fputs("\r\033[K", stderr);
}

/* Reads one line without its '\n' into buf (bounded). Returns its length,
 * -1 at the end of input, -2 when the line is longer than max. */
static long read_line(FILE *in, char *buf, long max) {
    long n = 0;
    int c;
    while ((c = getc_unlocked(in)) != EOF && c != '\n') {
        if (n == max) {
            while ((c = getc_unlocked(in)) != EOF && c != '\n') {}
            return -2;
        }
        buf[n++] = (char)c;
    }
    if (c == EOF && n == 0) return -1;
    if (n > 0 && buf[n - 1] == '\r') n--;  /* CRLF input */
    return n;
}

struct produce_opts {
    const char *topic;
    const char *file;
    const char *key_sep;
    const char *headers_delim; /* --parse-headers: ends a line's headers */
    int32_t partition;
    int nheaders;
    const char *headers[CLI_LIST_MAX];
    const char *compression;
    const char *acks;
    int progress;  /* 0 never, 1 auto, 2 always on a tty */
};

/* Headers written as Kafka's console producer reads them with
 * parse.headers: "name:value,name:value" (a name without ':' has a null
 * value). */
static void parse_line_headers(rd_kafka_headers_t *h, const char *s, size_t n) {
    while (n > 0) {
        const char *comma = memchr(s, ',', n);
        size_t item = comma ? (size_t)(comma - s) : n;
        const char *colon = memchr(s, ':', item);
        if (colon)
            rd_kafka_header_add(h, s, colon - s, colon + 1, (ssize_t)(item - (size_t)(colon - s) - 1));
        else if (item)
            rd_kafka_header_add(h, s, (ssize_t)item, NULL, 0);
        if (!comma) break;
        n -= item + 1;
        s = comma + 1;
    }
}

/* The line's headers delimiter with --parse-headers, NULL without the
 * option; *missing is set when the option is on and the line lacks it. */
static const char *find_headers_delim(const struct produce_opts *po, const char *line, long len, int *missing) {
    size_t delim_len = po->headers_delim ? strlen(po->headers_delim) : 0;
    const char *delim = delim_len ? memmem(line, (size_t)len, po->headers_delim, delim_len) : NULL;
    *missing = delim_len && !delim;
    return delim;
}

static int send_line(rd_kafka_t *rk, const struct produce_opts *po, const rd_kafka_headers_t *hdrs,
                     const char *line, long len) {
    rd_kafka_headers_t *line_hdrs = NULL;
    int missing;
    const char *delim = find_headers_delim(po, line, len, &missing);
    size_t delim_len = delim ? strlen(po->headers_delim) : 0;
    if (delim) {
        line_hdrs = hdrs ? rd_kafka_headers_copy(hdrs) : rd_kafka_headers_new(8);
        parse_line_headers(line_hdrs, line, (size_t)(delim - line));
        len -= (long)(delim - line + (long)delim_len);
        line = delim + delim_len;
        hdrs = line_hdrs;
    }
    const char *key = NULL, *value = line;
    size_t key_len = 0, value_len = (size_t)len;
    size_t sep_len = po->key_sep ? strlen(po->key_sep) : 0;
    if (sep_len) {
        const char *sep = memmem(line, (size_t)len, po->key_sep, sep_len);
        if (sep) {
            key = line;
            key_len = (size_t)(sep - line);
            value = sep + sep_len;
            value_len = (size_t)len - key_len - sep_len;
        }
    }
    for (;;) {
        rd_kafka_headers_t *h = hdrs ? rd_kafka_headers_copy(hdrs) : NULL;
        rd_kafka_resp_err_t err = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(po->topic), RD_KAFKA_V_PARTITION(po->partition),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_VALUE((void *)value, value_len),
            RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err != RD_KAFKA_RESP_ERR__QUEUE_FULL || cli_interrupted()) {
            if (err && h) rd_kafka_headers_destroy(h);
            if (line_hdrs) rd_kafka_headers_destroy(line_hdrs);
            return err;
        }
        if (h) rd_kafka_headers_destroy(h);
        rd_kafka_poll(rk, CLI_PRODUCE_QUEUE_WAIT_MS);
    }
}

static int produce_loop(const struct cli_ctx *ctx, rd_kafka_t *rk, const struct produce_opts *po, FILE *in,
                        struct produce_state *st, uint64_t *sent) {
    rd_kafka_headers_t *hdrs = NULL;
    if (po->nheaders) {
        hdrs = rd_kafka_headers_new((size_t)po->nheaders);
        for (int i = 0; i < po->nheaders; i++) {
            const char *eq = strchr(po->headers[i], '=');
            rd_kafka_header_add(hdrs, po->headers[i], eq - po->headers[i], eq + 1, -1);
        }
    }
    char *line = cli_xalloc(CLI_PRODUCE_LINE_MAX);
    struct progress prog;
    progress_init(&prog, in, po->progress);
    int rc = CLI_EXIT_OK;
    long len;
    uint64_t lineno = 0;
    while (!cli_interrupted() && (len = read_line(in, line, CLI_PRODUCE_LINE_MAX)) != -1) {
        lineno++;
        if (len == -2) {
            progress_clear(&prog);
            fprintf(stderr, "gregor %s: line %llu is longer than %d bytes; stopped there\n", ctx->command,
                    (unsigned long long)lineno, CLI_PRODUCE_LINE_MAX);
            /* Once records went out it is a partial failure, not bad usage. */
            rc = *sent || st->rejected ? CLI_EXIT_KAFKA : CLI_EXIT_USAGE;
            break;
        }
        st->bytes_in += (uint64_t)len + 1;
        int missing;
        find_headers_delim(po, line, len, &missing);
        if (missing) {
            /* As Kafka's console producer with parse.headers: a line without
             * the delimiter is an error, not a record without headers. */
            progress_clear(&prog);
            if (st->rejected++ == 0)
                fprintf(stderr, "gregor %s: line %llu has no headers delimiter; not sent\n", ctx->command,
                        (unsigned long long)lineno);
            continue;
        }
        rd_kafka_resp_err_t err = send_line(rk, po, hdrs, line, len);
        if (err) {
            progress_clear(&prog);
            if (!cli_interrupted()) rc = cli_kafka_error(ctx, err, "produce", NULL);
            break;
        }
        (*sent)++;
        rd_kafka_poll(rk, 0);
        progress_draw(&prog, st, *sent, 0);
    }
    if (ferror(in) && !cli_interrupted()) {
        fprintf(stderr, "gregor %s: reading input: %s\n", ctx->command, strerror(errno));
        rc = *sent || st->rejected ? CLI_EXIT_KAFKA : CLI_EXIT_USAGE;
    }
    if (st->rejected > 1)
        fprintf(stderr, "gregor %s: %llu lines had no headers delimiter; not sent\n", ctx->command,
                (unsigned long long)st->rejected);
    if (st->rejected && rc == CLI_EXIT_OK) rc = CLI_EXIT_KAFKA;
    progress_draw(&prog, st, *sent, 1);
    progress_clear(&prog);
    free(line);
    if (hdrs) rd_kafka_headers_destroy(hdrs);
    return rc;
}

static int parse_produce_opts(struct cli_ctx *ctx, int argc, char **argv, struct produce_opts *po) {
    static const struct option opts[] = {
        {"file", required_argument, 0, 'f'},        {"key-separator", required_argument, 0, 'k'},
        {"header", required_argument, 0, 'H'},      {"partition", required_argument, 0, 'p'},
        {"compression", required_argument, 0, 'z'}, {"acks", required_argument, 0, 'a'},
        {"progress", no_argument, 0, 'P'},          {"no-progress", no_argument, 0, 'Q'},
        {"parse-headers", no_argument, 0, 'R'},     {"headers-delimiter", required_argument, 0, 'D'},
        CLI_COMMON_OPTIONS};
    int c;
    int64_t v;
    while ((c = getopt_long(argc, argv, CLI_COMMON_SHORT "f:k:H:p:z:", opts, NULL)) != -1) {
        int r = cli_common_option(ctx, c, optarg);
        if (r >= CLI_STOP) return r;
        if (r) continue;
        switch (c) {
        case 'f': po->file = optarg; break;
        case 'k':
            if (!*optarg) return CLI_STOP + cli_usage_error(ctx, "--key-separator cannot be empty");
            po->key_sep = optarg;
            break;
        case 'H':
            if (!strchr(optarg, '=') || optarg[0] == '=' || po->nheaders == CLI_LIST_MAX)
                return CLI_STOP + cli_usage_error(ctx, "--header expects name=value, got \"%s\"", optarg);
            po->headers[po->nheaders++] = optarg;
            break;
        case 'p':
            if (cli_parse_i64(optarg, 0, INT32_MAX, &v) != 0)
                return CLI_STOP + cli_usage_error(ctx, "--partition takes a partition number");
            po->partition = (int32_t)v;
            break;
        case 'z': po->compression = optarg; break;
        case 'a': po->acks = optarg; break;
        case 'R':
            if (!po->headers_delim) po->headers_delim = "\t";
            break;
        case 'D':
            if (!*optarg) return CLI_STOP + cli_usage_error(ctx, "--headers-delimiter cannot be empty");
            po->headers_delim = optarg;
            break;
        case 'P': po->progress = 2; break;
        case 'Q': po->progress = 0; break;
        }
    }
    if (argc - optind != 1) return CLI_STOP + cli_usage_error(ctx, "name one topic");
    po->topic = argv[optind];
    return 0;
}

static void print_summary(const struct cli_ctx *ctx, const struct produce_opts *po, const struct produce_state *st,
                          uint64_t sent, double secs) {
    if (ctx->format == CLI_FORMAT_JSON) {
        printf("{\"topic\":");
        cli_json_str(stdout, po->topic);
        printf(",\"records\":%llu,\"failed\":%llu,\"bytes\":%llu,\"seconds\":%.3f}\n",
               (unsigned long long)st->delivered, (unsigned long long)(sent - st->delivered + st->rejected),
               (unsigned long long)st->bytes_in, secs);
    } else {
        printf("produced %llu records to %s", (unsigned long long)st->delivered, po->topic);
        if (sent + st->rejected != st->delivered)
            printf(", %llu failed", (unsigned long long)(sent - st->delivered + st->rejected));
        printf(" (%.1f MB in %.2f s)\n", (double)st->bytes_in / 1e6, secs);
    }
}

static int produce(struct cli_ctx *ctx, int argc, char **argv) {
    struct produce_opts po;
    memset(&po, 0, sizeof(po));
    po.partition = RD_KAFKA_PARTITION_UA;
    po.progress = 1;
    po.acks = "all";
    int r = parse_produce_opts(ctx, argc, argv, &po);
    if (r >= CLI_STOP) return r - CLI_STOP;
    FILE *in = stdin;
    if (po.file && strcmp(po.file, "-") != 0 && !(in = fopen(po.file, "rb"))) {
        fprintf(stderr, "gregor %s: cannot open %s: %s\n", ctx->command, po.file, strerror(errno));
        return CLI_EXIT_USAGE;
    }
    struct produce_state st;
    memset(&st, 0, sizeof(st));
    char timeout[32];
    snprintf(timeout, sizeof(timeout), "%d", ctx->timeout_ms);
    int rc = CLI_EXIT_USAGE;
    rd_kafka_conf_t *conf = cli_conf_new(ctx);
    rd_kafka_t *rk = NULL;
    if (!conf) goto out;
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, &st);
    /* A record the broker cannot take within --timeout fails, so the
     * command ends instead of retrying for librdkafka's default 5 min. */
    if (cli_conf_set(ctx, conf, "message.timeout.ms", timeout) != 0 ||
        cli_conf_set(ctx, conf, "acks", po.acks) != 0 ||
        cli_conf_set(ctx, conf, "queue.buffering.max.kbytes", CLI_PRODUCE_QUEUE_KBYTES) != 0 ||
        (po.compression && cli_conf_set(ctx, conf, "compression.codec", po.compression) != 0)) {
        rd_kafka_conf_destroy(conf);
        goto out;
    }
    rk = cli_connect(ctx, RD_KAFKA_PRODUCER, conf, &rc);
    if (!rk) goto out;
    int partitions;
    rc = cli_topic_partition_count(ctx, rk, po.topic, 1, &partitions);
    if (rc != CLI_EXIT_OK) goto out;
    if (po.partition != RD_KAFKA_PARTITION_UA && po.partition >= partitions) {
        rc = cli_kafka_error(ctx, RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION, po.topic, "no such partition");
        goto out;
    }
    cli_catch_interrupts();
    int64_t start = cli_now_ms();
    uint64_t sent = 0;
    rc = produce_loop(ctx, rk, &po, in, &st, &sent);
    rd_kafka_flush(rk, ctx->timeout_ms + 5000);
    rd_kafka_poll(rk, 0);
    if (st.failed) {
        char what[64];
        snprintf(what, sizeof(what), "%llu record(s) failed, the first", (unsigned long long)st.failed);
        int e = cli_kafka_error(ctx, st.first_err, what, st.first_err_text);
        if (rc == CLI_EXIT_OK) rc = e;
    } else if (st.delivered != sent && rc == CLI_EXIT_OK) {
        rc = cli_kafka_error(ctx, RD_KAFKA_RESP_ERR__TIMED_OUT, "flush", "records still unacknowledged");
    }
    print_summary(ctx, &po, &st, sent, (double)(cli_now_ms() - start) / 1000.0);
out:
    if (rk) rd_kafka_destroy(rk);
    if (in != stdin) fclose(in);
    return rc;
}

const struct cli_command cli_produce_commands[] = {
    {"produce", "TOPIC [options]", "send records, one per input line, from stdin or a file",
     "Each line (without its newline, or CR LF) is a record's value. With --key-separator,\n"
     "the text before the first separator is the key and the rest the value; a\n"
     "line without the separator has no key. Records are acknowledged by the\n"
     "broker (acks=all) before the command ends; the count is printed at the end.\n"
     "A progress bar shows on stderr when it is a terminal and the input is large.\n"
     "Ctrl-C stops reading; what was read is still delivered. A line longer than\n"
     "16 MiB stops the command: exit 2 if nothing was sent yet, else 1.\n\n"
     "Options:\n"
     "  -f, --file FILE        read FILE instead of stdin\n"
     "  -k, --key-separator S  split each line into key S value\n"
     "  -H, --header NAME=VALUE  a header on every record (repeatable)\n"
     "  --parse-headers        each line starts with its own headers, as with Kafka's\n"
     "                         console producer: name:value,name:value<TAB>key:value\n"
     "                         (a line without the tab is an error: reported,\n"
     "                         counted as failed, not sent; exit 1)\n"
     "  --headers-delimiter S  end the line's headers with S instead of a tab\n"
     "                         (implies --parse-headers)\n"
     "  -p, --partition N      send to partition N (default: by key, else sticky)\n"
     "  -z, --compression CODEC  none|gzip|snappy|lz4|zstd (default none)\n"
     "  --acks 0|1|all         acknowledgement level (default all)\n"
     "  --progress             show the progress bar even for small inputs (on a tty)\n"
     "  --no-progress          never show it\n",
     produce},
    {0, 0, 0, 0, 0},
};
