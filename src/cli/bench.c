/*
 * `gregor bench MODE [options]`: options, topic set-up, the run of each
 * mode, and the report. The producer and consumer threads are in
 * bench_produce.c and bench_consume.c.
 */
#include "cli/bench.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include "cli/bench_internal.h"
#include "cli/bench_report.h"
#include "cli/procstat.h"

/* Without a count or a duration, a producing run lasts this long. */
#define BENCH_DEFAULT_DURATION_S 10.0
/* Sleep granularity asked of the kernel for open-loop sends (the default
 * timer slack of 50 us would blur a 100 us send interval). */
#define BENCH_TIMER_SLACK_NS 1000
/* Step of the wait for a created topic's partitions to get leaders. */
#define BENCH_TOPIC_POLL_MS 100

static struct bench_run *volatile signalled_run;

static void on_signal(int sig) {
    (void)sig;
    struct bench_run *run = signalled_run;
    if (run) atomic_store(&run->stop, 1);
}

int64_t bench_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int bench_should_stop(struct bench_run *run) {
    return atomic_load(&run->stop) != 0;
}

int bench_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, char *err,
                   size_t errlen) {
    char e[256];
    if (rd_kafka_conf_set(conf, key, value, e, sizeof(e)) != RD_KAFKA_CONF_OK) {
        snprintf(err, errlen, "%s=%s: %s", key, value, e);
        return -1;
    }
    return 0;
}

rd_kafka_conf_t *bench_conf_new(const struct bench_opts *o, char *err, size_t errlen) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (bench_conf_set(conf, "bootstrap.servers", o->brokers, err, errlen) != 0) goto fail;
    for (int i = 0; i < o->nprops; i++) {
        char key[256];
        const char *eq = strchr(o->props[i], '=');
        snprintf(key, sizeof(key), "%.*s", (int)(eq - o->props[i]), o->props[i]);
        if (bench_conf_set(conf, key, eq + 1, err, errlen) != 0) goto fail;
    }
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

void bench_usage(FILE *out) {
    fprintf(out,
        "usage: gregor bench MODE [options]\n"
        "\n"
        "A Kafka client benchmark (librdkafka) for Gregor or any Kafka broker.\n"
        "\n"
        "Modes:\n"
        "  produce     producers send as fast as they can; reports throughput and the\n"
        "              time from send to acknowledgement (closed loop: mostly queueing)\n"
        "  consume     consumers read the topic from its start to the end it had when\n"
        "              the run began (or --count / --duration); reports throughput\n"
        "  e2e         consumers start at the end of the topic, producers send (at\n"
        "              --rate if given); latency is measured at the consumer from a\n"
        "              send-time stamp in the record's first 8 bytes\n"
        "  open-loop   producers send at a fixed --rate; latency is measured from each\n"
        "              record's intended send time, so a stall shows as latency\n"
        "              instead of a lower rate (no coordinated omission)\n"
        "\n"
        "Options:\n"
        "  --brokers HOST:PORT[,..]  bootstrap servers (default localhost:9092)\n"
        "  --topic NAME           topic (default gregor-bench); created with\n"
        "                         --partitions if missing (replication factor 1)\n"
        "  --record-size BYTES    record value size (default 1024; e2e needs >= 8)\n"
        "  --partitions N         partitions of a created topic (default 1)\n"
        "  --producers N          producer clients, one thread each (default 1)\n"
        "  --consumers N          consumer clients, one thread each (default 1);\n"
        "                         partitions are dealt round-robin among them\n"
        "  --acks 0|1|all         producer acks (default 1)\n"
        "  --compression CODEC    none|gzip|snappy|lz4|zstd (default none)\n"
        "  --linger-ms MS         producer linger.ms (default: librdkafka's, 5)\n"
        "  --batch-size BYTES     producer batch.size (default: librdkafka's, 1000000)\n"
        "  --count N              records in total over all producers (consume: at most)\n"
        "  --duration SECONDS     length of the run (default 10 when no --count;\n"
        "                         consume: none, it reads to the end)\n"
        "  --rate N               records/s over all producers (open-loop: required;\n"
        "                         e2e: optional, closed loop without it)\n"
        "  --prop KEY=VALUE       any librdkafka property, for every client (repeatable)\n"
        "  --broker-pid PID       also report that process's CPU seconds per GB moved\n"
        "                         (utime+stime from /proc/PID/stat over the run) and its\n"
        "                         peak RSS (VmHWM from /proc/PID/status)\n"
        "  --json                 print one JSON object instead of the table\n"
        "  -h, --help             this text\n"
        "\n"
        "Payloads are random capital letters. MB is 10^6 bytes of record values,\n"
        "GB 10^9. Latencies come from an HDR-style histogram (< 0.8%% error).\n");
}

enum {
    OPT_BROKERS = 256, OPT_TOPIC, OPT_RECORD_SIZE, OPT_PARTITIONS, OPT_PRODUCERS,
    OPT_CONSUMERS, OPT_ACKS, OPT_COMPRESSION, OPT_LINGER, OPT_BATCH, OPT_COUNT,
    OPT_DURATION, OPT_RATE, OPT_PROP, OPT_PID, OPT_JSON
};

static int parse_long(const char *name, const char *s, long lo, long hi, long *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "gregor bench: %s expects an integer in [%ld, %ld], got \"%s\"\n", name,
                lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_double(const char *name, const char *s, double *out) {
    char *end;
    double v = strtod(s, &end);
    if (*s == '\0' || *end != '\0' || !(v >= 0)) {
        fprintf(stderr, "gregor bench: %s expects a number >= 0, got \"%s\"\n", name, s);
        return -1;
    }
    *out = v;
    return 0;
}

/* 0: parsed, 1: help printed, -1: bad usage. */
static int parse_args(int argc, char **argv, struct bench_opts *o) {
    static const struct option longopts[] = {
        {"brokers", required_argument, NULL, OPT_BROKERS},
        {"topic", required_argument, NULL, OPT_TOPIC},
        {"record-size", required_argument, NULL, OPT_RECORD_SIZE},
        {"partitions", required_argument, NULL, OPT_PARTITIONS},
        {"producers", required_argument, NULL, OPT_PRODUCERS},
        {"consumers", required_argument, NULL, OPT_CONSUMERS},
        {"acks", required_argument, NULL, OPT_ACKS},
        {"compression", required_argument, NULL, OPT_COMPRESSION},
        {"linger-ms", required_argument, NULL, OPT_LINGER},
        {"batch-size", required_argument, NULL, OPT_BATCH},
        {"count", required_argument, NULL, OPT_COUNT},
        {"duration", required_argument, NULL, OPT_DURATION},
        {"rate", required_argument, NULL, OPT_RATE},
        {"prop", required_argument, NULL, OPT_PROP},
        {"broker-pid", required_argument, NULL, OPT_PID},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof(*o));
    o->brokers = "localhost:9092";
    o->topic = "gregor-bench";
    o->record_size = 1024;
    o->partitions = 1;
    o->producers = 1;
    o->consumers = 1;
    o->acks = "1";
    o->compression = "none";
    o->linger_ms = -1;
    o->batch_size = -1;
    optind = 1;
    opterr = 1;
    int c;
    long v;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_BROKERS: o->brokers = optarg; break;
        case OPT_TOPIC: o->topic = optarg; break;
        case OPT_RECORD_SIZE:
            if (parse_long("--record-size", optarg, 1, BENCH_RECORD_SIZE_MAX, &v)) return -1;
            o->record_size = (int)v;
            break;
        case OPT_PARTITIONS:
            if (parse_long("--partitions", optarg, 1, BENCH_PARTITIONS_MAX, &v)) return -1;
            o->partitions = (int)v;
            break;
        case OPT_PRODUCERS:
            if (parse_long("--producers", optarg, 1, BENCH_THREADS_MAX, &v)) return -1;
            o->producers = (int)v;
            break;
        case OPT_CONSUMERS:
            if (parse_long("--consumers", optarg, 1, BENCH_THREADS_MAX, &v)) return -1;
            o->consumers = (int)v;
            break;
        case OPT_ACKS:
            if (strcmp(optarg, "0") && strcmp(optarg, "1") && strcmp(optarg, "all") &&
                strcmp(optarg, "-1")) {
                fprintf(stderr, "gregor bench: --acks expects 0, 1 or all\n");
                return -1;
            }
            o->acks = optarg;
            break;
        case OPT_COMPRESSION: o->compression = optarg; break;
        case OPT_LINGER:
            if (parse_long("--linger-ms", optarg, 0, 900000, &v)) return -1;
            o->linger_ms = (int)v;
            break;
        case OPT_BATCH:
            if (parse_long("--batch-size", optarg, 1, 2147483647L, &v)) return -1;
            o->batch_size = v;
            break;
        case OPT_COUNT:
            if (parse_long("--count", optarg, 1, 0x7fffffffffffffffL, &v)) return -1;
            o->count = (uint64_t)v;
            break;
        case OPT_DURATION:
            if (parse_double("--duration", optarg, &o->duration_s)) return -1;
            break;
        case OPT_RATE:
            if (parse_double("--rate", optarg, &o->rate)) return -1;
            break;
        case OPT_PROP:
            if (!strchr(optarg, '=') || optarg[0] == '=') {
                fprintf(stderr, "gregor bench: --prop expects KEY=VALUE\n");
                return -1;
            }
            if (o->nprops >= BENCH_PROPS_MAX) {
                fprintf(stderr, "gregor bench: at most %d --prop\n", BENCH_PROPS_MAX);
                return -1;
            }
            o->props[o->nprops++] = optarg;
            break;
        case OPT_PID:
            if (parse_long("--broker-pid", optarg, 1, 0x7fffffff, &v)) return -1;
            o->broker_pid = (int)v;
            break;
        case OPT_JSON: o->json = 1; break;
        case 'h': bench_usage(stdout); return 1;
        default: return -1;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "gregor bench: expected one MODE (produce, consume, e2e, open-loop)\n");
        return -1;
    }
    const char *m = argv[optind];
    if (strcmp(m, "produce") == 0) o->mode = MODE_PRODUCE;
    else if (strcmp(m, "consume") == 0) o->mode = MODE_CONSUME;
    else if (strcmp(m, "e2e") == 0) o->mode = MODE_E2E;
    else if (strcmp(m, "open-loop") == 0) o->mode = MODE_OPEN_LOOP;
    else {
        fprintf(stderr, "gregor bench: unknown mode \"%s\"\n", m);
        return -1;
    }
    if (o->mode == MODE_OPEN_LOOP && o->rate <= 0) {
        fprintf(stderr, "gregor bench: open-loop needs --rate\n");
        return -1;
    }
    if (o->mode == MODE_E2E && o->record_size < BENCH_STAMP_BYTES) {
        fprintf(stderr, "gregor bench: e2e needs --record-size >= %d for the stamp\n",
                BENCH_STAMP_BYTES);
        return -1;
    }
    if (o->mode != MODE_CONSUME && o->count == 0 && o->duration_s == 0)
        o->duration_s = BENCH_DEFAULT_DURATION_S;
    return 0;
}

static const char *mode_name(enum bench_mode m) {
    switch (m) {
    case MODE_PRODUCE: return "produce";
    case MODE_CONSUME: return "consume";
    case MODE_E2E: return "e2e";
    case MODE_OPEN_LOOP: return "open-loop";
    }
    return "?";
}

/* A handle for metadata, topic creation and watermarks. */
static rd_kafka_t *admin_client(const struct bench_opts *o, char *err, size_t errlen) {
    rd_kafka_conf_t *conf = bench_conf_new(o, err, errlen);
    if (!conf) return NULL;
    if (bench_conf_set(conf, "client.id", "gregor-bench-admin", err, errlen) != 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen);
    if (!rk) rd_kafka_conf_destroy(conf);
    return rk;
}

/* 1: the topic exists with *nparts partitions (*leaders: all have a leader);
 * 0: it does not exist; -1: metadata failed. Asks for every topic, so that
 * asking does not auto-create it. */
static int topic_state(rd_kafka_t *rk, const char *topic, int *nparts, int *leaders, char *err,
                       size_t errlen) {
    const struct rd_kafka_metadata *md;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, BENCH_SETUP_TIMEOUT_MS);
    if (e) {
        snprintf(err, errlen, "metadata: %s", rd_kafka_err2str(e));
        return -1;
    }
    int found = 0;
    for (int i = 0; i < md->topic_cnt; i++) {
        const struct rd_kafka_metadata_topic *t = &md->topics[i];
        if (strcmp(t->topic, topic) != 0 || t->err) continue;
        found = 1;
        *nparts = t->partition_cnt;
        *leaders = 1;
        for (int p = 0; p < t->partition_cnt; p++)
            if (t->partitions[p].leader < 0) *leaders = 0;
    }
    rd_kafka_metadata_destroy(md);
    return found;
}

static int create_topic(rd_kafka_t *rk, const char *topic, int partitions, char *err,
                        size_t errlen) {
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, 1, err, errlen);
    if (!nt) return -1;
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *ao = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(ao, BENCH_SETUP_TIMEOUT_MS, NULL, 0);
    rd_kafka_CreateTopics(rk, &nt, 1, ao, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, BENCH_SETUP_TIMEOUT_MS + 5000);
    int rc = 0;
    if (!ev) {
        snprintf(err, errlen, "CreateTopics: no answer");
        rc = -1;
    } else if (rd_kafka_event_error(ev)) {
        snprintf(err, errlen, "CreateTopics: %s", rd_kafka_event_error_string(ev));
        rc = -1;
    } else {
        size_t n = 0;
        const rd_kafka_topic_result_t **tr =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
        for (size_t i = 0; i < n; i++) {
            rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);
            /* Someone else (a concurrent run) created it first: fine. */
            if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                const char *s = rd_kafka_topic_result_error_string(tr[i]);
                snprintf(err, errlen, "CreateTopics %s: %s", topic, s ? s : rd_kafka_err2str(e));
                rc = -1;
            }
        }
    }
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    return rc;
}

/* Makes sure the topic exists and every partition has a leader; returns
 * its partition count, which may differ from --partitions if it existed. */
static int ensure_topic(rd_kafka_t *rk, const struct bench_opts *o, char *err, size_t errlen) {
    int nparts = 0, leaders = 0;
    int st = topic_state(rk, o->topic, &nparts, &leaders, err, errlen);
    if (st < 0) return -1;
    if (st == 0 && create_topic(rk, o->topic, o->partitions, err, errlen) != 0) return -1;
    int64_t give_up = bench_now_ns() + (int64_t)BENCH_SETUP_TIMEOUT_MS * 1000000;
    while (st == 0 || !leaders) {
        if (bench_now_ns() > give_up) {
            snprintf(err, errlen, "topic %s has no leader for every partition yet", o->topic);
            return -1;
        }
        struct timespec ts = {0, BENCH_TOPIC_POLL_MS * 1000000L};
        nanosleep(&ts, NULL);
        st = topic_state(rk, o->topic, &nparts, &leaders, err, errlen);
        if (st < 0) return -1;
    }
    if (nparts != o->partitions && !o->json)
        fprintf(stderr, "gregor bench: topic %s exists with %d partitions (asked %d); using %d\n",
                o->topic, nparts, o->partitions, nparts);
    return nparts;
}

static int watermarks(rd_kafka_t *rk, const char *topic, int nparts, int64_t *low, int64_t *high,
                      char *err, size_t errlen) {
    for (int p = 0; p < nparts; p++) {
        rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(rk, topic, p, &low[p], &high[p],
                                                                 BENCH_SETUP_TIMEOUT_MS);
        if (e) {
            snprintf(err, errlen, "watermarks of partition %d: %s", p, rd_kafka_err2str(e));
            return -1;
        }
    }
    return 0;
}

static void sample_server(const struct bench_opts *o, struct proc_sample *s, int *ok) {
    if (o->broker_pid <= 0) return;
    if (proc_sample_read(o->broker_pid, s) != 0) {
        fprintf(stderr, "gregor bench: cannot read /proc/%d; broker not measured\n", o->broker_pid);
        *ok = 0;
    }
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

struct consumer_set {
    int n;
    struct bench_consumer *c;
};

/* Deals the partitions round-robin over at most --consumers consumers. */
static int consumers_create(struct bench_run *run, const int64_t *start, const int64_t *end,
                            struct consumer_set *cs, char *err, size_t errlen) {
    int n = run->o->consumers < run->partitions ? run->o->consumers : run->partitions;
    cs->c = calloc((size_t)n, sizeof(*cs->c));
    int32_t *parts = calloc((size_t)run->partitions, sizeof(*parts));
    int64_t *s = calloc((size_t)run->partitions, sizeof(*s));
    int64_t *e = calloc((size_t)run->partitions, sizeof(*e));
    int rc = 0;
    if (!cs->c || !parts || !s || !e) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
    }
    for (int i = 0; rc == 0 && i < n; i++) {
        int k = 0;
        for (int p = i; p < run->partitions; p += n) {
            parts[k] = p;
            s[k] = start[p];
            e[k] = end[p];
            k++;
        }
        cs->n = i + 1;
        rc = consumer_init(&cs->c[i], run, i, k, parts, s, e, err, errlen);
    }
    free(parts);
    free(s);
    free(e);
    return rc;
}

static void consumers_destroy(struct consumer_set *cs) {
    for (int i = 0; i < cs->n; i++) consumer_destroy(&cs->c[i]);
    free(cs->c);
    cs->c = NULL;
    cs->n = 0;
}

/* produce, open-loop and e2e: producers in the measured window; e2e adds
 * consumers that were reading before it opened. */
static int run_producing(struct bench_run *run, rd_kafka_t *admin, struct bench_report *r,
                         struct histogram *lat, char *err, size_t errlen) {
    const struct bench_opts *o = run->o;
    int np = o->producers;
    struct bench_producer *ps = calloc((size_t)np, sizeof(*ps));
    struct consumer_set cs = {0};
    int64_t *low = calloc((size_t)run->partitions, sizeof(int64_t));
    int64_t *high = calloc((size_t)run->partitions, sizeof(int64_t));
    int rc = -1;
    if (!ps || !low || !high) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (int i = 0; i < np; i++) {
        if (producer_init(&ps[i], run, i, err, errlen) != 0) goto out;
        ps[i].rate = o->rate > 0 ? o->rate / np : 0;
        if (o->count) ps[i].quota = o->count / (uint64_t)np + ((uint64_t)i < o->count % (uint64_t)np);
        if (producer_warm_up(&ps[i], err, errlen) != 0) goto out;
    }
    if (o->mode == MODE_E2E) {
        /* Start exactly at the current end, so every record the producers
         * send is seen and nothing older is. */
        if (watermarks(admin, o->topic, run->partitions, low, high, err, errlen) != 0) goto out;
        if (consumers_create(run, high, high, &cs, err, errlen) != 0) goto out;
        for (int i = 0; i < cs.n; i++) consumer_start(&cs.c[i]);
        sleep_ms(BENCH_E2E_SETTLE_MS);
    }
    pthread_barrier_init(&run->go, NULL, (unsigned)np + 1);
    int server_ok = 1;
    sample_server(o, &r->server_before, &server_ok);
    double cpu0 = proc_self_cpu_s();
    for (int i = 0; i < np; i++) {
        if (producer_start(&ps[i]) != 0) {
            /* Cannot release the barrier with a thread missing. */
            fprintf(stderr, "gregor bench: cannot start a producer thread\n");
            abort();
        }
    }
    atomic_store(&run->start_ns, bench_now_ns());
    pthread_barrier_wait(&run->go);
    int64_t end = atomic_load(&run->start_ns);
    for (int i = 0; i < np; i++) {
        producer_join(&ps[i]);
        r->records += ps[i].delivered;
        r->bytes += ps[i].bytes;
        r->errors += ps[i].failed;
        if (ps[i].end_ns > end) end = ps[i].end_ns;
        if (o->mode != MODE_E2E) hist_merge(lat, &ps[i].lat);
    }
    pthread_barrier_destroy(&run->go);
    if (o->mode == MODE_E2E) {
        atomic_store(&run->expected, r->records);
        int64_t give_up = bench_now_ns() + (int64_t)BENCH_E2E_GRACE_MS * 1000000;
        for (;;) {
            int all = 1;
            for (int i = 0; i < cs.n; i++) all &= atomic_load(&cs.c[i].finished);
            if (all || bench_now_ns() > give_up || bench_should_stop(run)) break;
            sleep_ms(10);
        }
        atomic_store(&run->stop, 1);
        r->consumed = 0;
        for (int i = 0; i < cs.n; i++) {
            consumer_join(&cs.c[i]);
            r->consumed += (int64_t)cs.c[i].records;
            r->errors += cs.c[i].errors;
            hist_merge(lat, &cs.c[i].lat);
        }
    }
    sample_server(o, &r->server_after, &server_ok);
    r->server_pid = server_ok ? o->broker_pid : 0;
    r->client_cpu_s = proc_self_cpu_s() - cpu0;
    r->seconds = (double)(end - atomic_load(&run->start_ns)) / 1e9;
    rc = 0;
out:
    if (rc != 0 && cs.n) {
        atomic_store(&run->stop, 1);
        for (int i = 0; i < cs.n; i++) consumer_join(&cs.c[i]);
    }
    consumers_destroy(&cs);
    for (int i = 0; ps && i < np; i++) producer_destroy(&ps[i]);
    free(ps);
    free(low);
    free(high);
    return rc;
}

static int run_consuming(struct bench_run *run, rd_kafka_t *admin, struct bench_report *r,
                         char *err, size_t errlen) {
    const struct bench_opts *o = run->o;
    struct consumer_set cs = {0};
    int64_t *low = calloc((size_t)run->partitions, sizeof(int64_t));
    int64_t *high = calloc((size_t)run->partitions, sizeof(int64_t));
    int rc = -1;
    if (!low || !high) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (watermarks(admin, o->topic, run->partitions, low, high, err, errlen) != 0) goto out;
    if (consumers_create(run, low, high, &cs, err, errlen) != 0) goto out;
    pthread_barrier_init(&run->go, NULL, (unsigned)cs.n + 1);
    int server_ok = 1;
    sample_server(o, &r->server_before, &server_ok);
    double cpu0 = proc_self_cpu_s();
    for (int i = 0; i < cs.n; i++) {
        if (consumer_start(&cs.c[i]) != 0) {
            fprintf(stderr, "gregor bench: cannot start a consumer thread\n");
            abort();
        }
    }
    atomic_store(&run->start_ns, bench_now_ns());
    pthread_barrier_wait(&run->go);
    int64_t end = atomic_load(&run->start_ns);
    for (int i = 0; i < cs.n; i++) {
        consumer_join(&cs.c[i]);
        r->records += cs.c[i].records;
        r->bytes += cs.c[i].bytes;
        r->errors += cs.c[i].errors;
        if (cs.c[i].last_ns > end) end = cs.c[i].last_ns;
    }
    pthread_barrier_destroy(&run->go);
    sample_server(o, &r->server_after, &server_ok);
    r->server_pid = server_ok ? o->broker_pid : 0;
    r->client_cpu_s = proc_self_cpu_s() - cpu0;
    r->seconds = (double)(end - atomic_load(&run->start_ns)) / 1e9;
    rc = 0;
out:
    consumers_destroy(&cs);
    free(low);
    free(high);
    return rc;
}

static const char *latency_what(enum bench_mode m) {
    switch (m) {
    case MODE_PRODUCE: return "send to acknowledgement, closed loop (includes client queueing)";
    case MODE_OPEN_LOOP: return "intended send time to acknowledgement, open loop";
    case MODE_E2E: return "send stamp in the record to arrival at the consumer";
    case MODE_CONSUME: return "";
    }
    return "";
}

static void describe(struct bench_report *r, const struct bench_opts *o, int partitions) {
    report_param(r, "brokers", "%s", o->brokers);
    report_param(r, "topic", "%s", o->topic);
    report_param(r, "partitions", "%d", partitions);
    report_param(r, "record_size", "%d", o->record_size);
    if (o->mode != MODE_CONSUME) {
        report_param(r, "producers", "%d", o->producers);
        report_param(r, "acks", "%s", o->acks);
        report_param(r, "compression", "%s", o->compression);
        if (o->linger_ms >= 0)
            report_param(r, "linger_ms", "%d", o->linger_ms);
        else
            report_param(r, "linger_ms", "default");
        if (o->batch_size >= 0)
            report_param(r, "batch_size", "%ld", o->batch_size);
        else
            report_param(r, "batch_size", "default");
    }
    if (o->mode == MODE_CONSUME || o->mode == MODE_E2E)
        report_param(r, "consumers", "%d", o->consumers < partitions ? o->consumers : partitions);
    if (o->count) report_param(r, "count", "%llu", (unsigned long long)o->count);
    if (o->duration_s > 0) report_param(r, "duration_s", "%g", o->duration_s);
    if (o->rate > 0) report_param(r, "rate", "%g", o->rate);
    for (int i = 0; i < o->nprops; i++) report_param(r, "prop", "%s", o->props[i]);
}

int bench_main(int argc, char **argv) {
    struct bench_opts o;
    int pr = parse_args(argc, argv, &o);
    if (pr != 0) {
        if (pr < 0) fprintf(stderr, "run `gregor bench --help` for the options\n");
        return pr > 0 ? 0 : 2;
    }
    char err[512] = "";
    struct bench_run *run = calloc(1, sizeof(*run));
    struct histogram *lat = malloc(sizeof(*lat));
    struct bench_report *r = malloc(sizeof(*r));
    rd_kafka_t *admin = NULL;
    int rc = 1;
    if (!run || !lat || !r) {
        fprintf(stderr, "gregor bench: out of memory\n");
        goto out;
    }
    hist_init(lat);
    run->o = &o;
    atomic_store(&run->expected, UINT64_MAX);
    run->pool = malloc(BENCH_POOL_BYTES + (size_t)o.record_size);
    if (!run->pool) {
        fprintf(stderr, "gregor bench: out of memory for the payload pool\n");
        goto out;
    }
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < BENCH_POOL_BYTES + (size_t)o.record_size; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        run->pool[i] = (uint8_t)('A' + x % 26);
    }
    prctl(PR_SET_TIMERSLACK, BENCH_TIMER_SLACK_NS, 0, 0, 0);
    signalled_run = run;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    admin = admin_client(&o, err, sizeof(err));
    if (!admin) goto fail;
    run->partitions = ensure_topic(admin, &o, err, sizeof(err));
    if (run->partitions <= 0) goto fail;
    report_init(r, "gregor", mode_name(o.mode));
    describe(r, &o, run->partitions);
    int ran = o.mode == MODE_CONSUME ? run_consuming(run, admin, r, err, sizeof(err))
                                     : run_producing(run, admin, r, lat, err, sizeof(err));
    if (ran != 0) goto fail;
    r->latency = lat;
    r->latency_what = latency_what(o.mode);
    if (o.json)
        report_print_json(r, stdout);
    else
        report_print_table(r, stdout);
    fflush(stdout);
    rc = r->errors || (r->consumed >= 0 && (uint64_t)r->consumed < r->records) ? 3 : 0;
    goto out;
fail:
    fprintf(stderr, "gregor bench: %s\n", err);
out:
    signalled_run = NULL;
    if (admin) rd_kafka_destroy(admin);
    if (run) free(run->pool);
    free(run);
    free(lat);
    free(r);
    return rc;
}
