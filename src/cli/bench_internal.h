/*
 * Shared between the bench tool's files: bench.c (options, topic set-up,
 * orchestration, report), bench_produce.c (producer threads) and
 * bench_consume.c (consumer threads). Every producer and consumer is its
 * own librdkafka handle on its own thread, as separate client processes
 * would be; each keeps its own histogram and counters, merged at the end.
 */
#ifndef GREGOR_CLI_BENCH_INTERNAL_H
#define GREGOR_CLI_BENCH_INTERNAL_H

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "cli/histogram.h"

/* Bounds of the options: enough for any run on one machine, small enough
 * that a typo cannot start ten thousand threads. */
#define BENCH_THREADS_MAX 64
#define BENCH_PARTITIONS_MAX 10000
#define BENCH_RECORD_SIZE_MAX (16 * 1024 * 1024)
#define BENCH_PROPS_MAX 32
/* Payload bytes are taken from a pool of random letters at varying offsets,
 * so records differ without generating fresh bytes per record. */
#define BENCH_POOL_BYTES (1024 * 1024)
/* Messages drained from a consumer queue per call. */
#define BENCH_CONSUME_BATCH 1024
/* How long a consumer blocks waiting for one message before rechecking
 * its stop conditions. */
#define BENCH_CONSUME_WAIT_MS 100
/* Timeout of the set-up calls (metadata, topic creation, watermarks). */
#define BENCH_SETUP_TIMEOUT_MS 15000
/* Longest wait for the last records to be delivered at the end of a run. */
#define BENCH_FLUSH_TIMEOUT_MS 120000
/* e2e: time the consumers get to connect and issue their first fetch
 * before the producers start, so the first records do not carry set-up
 * time; and how long they may lag behind once the producers are done. */
#define BENCH_E2E_SETTLE_MS 1000
#define BENCH_E2E_GRACE_MS 10000
/* Longest sleep of an open-loop producer between sends, so delivery
 * reports are served even at very low rates. */
#define BENCH_OPEN_LOOP_SLEEP_MAX_NS 1000000
/* e2e records carry the send time (CLOCK_MONOTONIC ns) in their first bytes. */
#define BENCH_STAMP_BYTES 8

enum bench_mode { MODE_PRODUCE, MODE_CONSUME, MODE_E2E, MODE_OPEN_LOOP };

struct bench_opts {
    enum bench_mode mode;
    const char *brokers;
    const char *topic;
    int record_size;
    int partitions;
    int producers;
    int consumers;
    const char *acks;
    const char *compression;
    int linger_ms;       /* -1: librdkafka's default */
    long batch_size;     /* -1: librdkafka's default */
    uint64_t count;      /* 0: no count limit */
    double duration_s;   /* 0: no time limit */
    double rate;         /* records/s over all producers; 0: as fast as possible */
    int broker_pid;      /* 0: not measured */
    int json;
    int nprops;
    const char *props[BENCH_PROPS_MAX];  /* "key=value" for every handle */
};

/* State of one run shared by all threads. */
struct bench_run {
    const struct bench_opts *o;
    int partitions;             /* as the broker has them */
    atomic_int stop;            /* set by main or by a signal: finish now */
    uint8_t *pool;              /* BENCH_POOL_BYTES + record_size letters */
    _Atomic int64_t start_ns;   /* when the measured window opened */
    pthread_barrier_t go;       /* releases the measured threads together */
    atomic_uint_fast64_t consumed;  /* over all consumers */
    atomic_uint_fast64_t expected;  /* e2e: records to wait for; UINT64_MAX until known */
};

struct bench_producer {
    struct bench_run *run;
    int id;
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    pthread_t thread;
    uint64_t quota;       /* records to send, 0: until the deadline */
    double rate;          /* this producer's share, 0: closed loop */
    int measuring;        /* delivery reports count only once set */
    uint64_t sent, delivered, failed, bytes;
    int64_t end_ns;       /* when its last record was acknowledged */
    struct histogram lat; /* nanoseconds from (intended) send to acknowledgement */
};

struct bench_consumer {
    struct bench_run *run;
    int id;
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    rd_kafka_queue_t *queue;
    pthread_t thread;
    int nparts;
    int32_t *parts;
    int64_t *start;       /* offset to start from */
    int64_t *end;         /* consume: stop after reaching this (high watermark) */
    uint8_t *done;
    int ndone;
    uint64_t records, bytes, errors;
    int64_t last_ns;      /* when its last record arrived */
    atomic_int finished;
    struct histogram lat; /* e2e: nanoseconds from the stamp in the record */
};

int64_t bench_now_ns(void);
int bench_should_stop(struct bench_run *run);
/* A configuration with the brokers and every --prop applied. */
rd_kafka_conf_t *bench_conf_new(const struct bench_opts *o, char *err, size_t errlen);
int bench_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, char *err,
                   size_t errlen);

int producer_init(struct bench_producer *p, struct bench_run *run, int id, char *err, size_t errlen);
/* Connects and has one record per partition acknowledged, outside the
 * measured window, so the window does not include connection set-up. */
int producer_warm_up(struct bench_producer *p, char *err, size_t errlen);
int producer_start(struct bench_producer *p);
void producer_join(struct bench_producer *p);
void producer_destroy(struct bench_producer *p);

/* Partitions are given in `parts`; start[i] and end[i] are copied. */
int consumer_init(struct bench_consumer *c, struct bench_run *run, int id, int nparts,
                  const int32_t *parts, const int64_t *start, const int64_t *end, char *err,
                  size_t errlen);
/* e2e consumers run free; consume-mode ones wait on run->go. */
int consumer_start(struct bench_consumer *c);
void consumer_join(struct bench_consumer *c);
void consumer_destroy(struct bench_consumer *c);

#endif
