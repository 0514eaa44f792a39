/*
 * Consumer threads. They use librdkafka's group-less ("simple") consumer:
 * each consumer is given its partitions and start offsets directly, so a
 * run needs no group coordinator and several runs can read one topic at
 * once, independently, as separate consumer groups would.
 *
 * Consume mode reads from the low watermark up to the high watermark taken
 * before the start (or a count or a deadline). e2e mode starts at the high
 * watermark and reads what the producers send, measuring for each record
 * the time since the stamp the producer wrote into its first bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/bench_internal.h"

int consumer_init(struct bench_consumer *c, struct bench_run *run, int id, int nparts,
                  const int32_t *parts, const int64_t *start, const int64_t *end, char *err,
                  size_t errlen) {
    memset(c, 0, sizeof(*c));
    hist_init(&c->lat);
    c->run = run;
    c->id = id;
    c->nparts = nparts;
    c->parts = calloc((size_t)nparts + 1, sizeof(*c->parts));
    c->start = calloc((size_t)nparts + 1, sizeof(*c->start));
    c->end = calloc((size_t)nparts + 1, sizeof(*c->end));
    c->done = calloc((size_t)nparts + 1, 1);
    if (!c->parts || !c->start || !c->end || !c->done) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int i = 0; i < nparts; i++) {
        c->parts[i] = parts[i];
        c->start[i] = start[i];
        c->end[i] = end[i];
    }
    rd_kafka_conf_t *conf = bench_conf_new(run->o, err, errlen);
    if (!conf) return -1;
    char cid[64];
    snprintf(cid, sizeof(cid), "gregor-bench-consumer-%d", id);
    /* No group: offsets are never committed, partition EOF is not needed
     * (the end is known from the watermarks). */
    if (bench_conf_set(conf, "client.id", cid, err, errlen) ||
        bench_conf_set(conf, "enable.partition.eof", "false", err, errlen)) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, errlen);
    if (!c->rk) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    c->rkt = rd_kafka_topic_new(c->rk, run->o->topic, NULL);
    c->queue = rd_kafka_queue_new(c->rk);
    if (!c->rkt || !c->queue) {
        snprintf(err, errlen, "topic handle or queue: %s",
                 rd_kafka_err2str(rd_kafka_last_error()));
        return -1;
    }
    return 0;
}

static int start_fetching(struct bench_consumer *c) {
    for (int i = 0; i < c->nparts; i++) {
        if (c->run->o->mode == MODE_CONSUME && c->start[i] >= c->end[i]) {
            c->done[i] = 1;  /* nothing to read there */
            c->ndone++;
            continue;
        }
        if (rd_kafka_consume_start_queue(c->rkt, c->parts[i], c->start[i], c->queue) != 0) {
            fprintf(stderr, "gregor bench: consume start partition %d: %s\n", (int)c->parts[i],
                    rd_kafka_err2str(rd_kafka_last_error()));
            return -1;
        }
    }
    return 0;
}

static int part_index(const struct bench_consumer *c, int32_t part) {
    for (int i = 0; i < c->nparts; i++)
        if (c->parts[i] == part) return i;
    return -1;
}

/* Accounts one message; returns 1 if it was a record. */
static int take(struct bench_consumer *c, rd_kafka_message_t *m, int64_t now) {
    const struct bench_opts *o = c->run->o;
    if (m->err) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            c->errors++;
            fprintf(stderr, "gregor bench: consumer %d: %s\n", c->id, rd_kafka_message_errstr(m));
        }
        return 0;
    }
    c->records++;
    c->bytes += m->len;
    if (o->mode == MODE_E2E && m->len >= BENCH_STAMP_BYTES) {
        int64_t stamp;
        memcpy(&stamp, m->payload, BENCH_STAMP_BYTES);
        /* Only stamps from this run's window count: anything else is not
         * a record this run sent. */
        if (stamp >= atomic_load(&c->run->start_ns) && stamp <= now)
            hist_record(&c->lat, (uint64_t)(now - stamp));
    }
    if (o->mode == MODE_CONSUME) {
        int i = part_index(c, m->partition);
        if (i >= 0 && !c->done[i] && m->offset + 1 >= c->end[i]) {
            c->done[i] = 1;
            c->ndone++;
        }
    }
    return 1;
}

static int finished_reading(struct bench_consumer *c, int64_t deadline) {
    const struct bench_opts *o = c->run->o;
    if (bench_should_stop(c->run)) return 1;
    if (deadline && bench_now_ns() >= deadline) return 1;
    uint64_t total = atomic_load(&c->run->consumed);
    if (o->mode == MODE_CONSUME) {
        if (c->ndone == c->nparts) return 1;
        if (o->count && total >= o->count) return 1;
    } else if (total >= atomic_load(&c->run->expected)) {
        return 1;
    }
    return 0;
}

static void *consumer_main(void *arg) {
    struct bench_consumer *c = arg;
    const struct bench_opts *o = c->run->o;
    if (o->mode == MODE_CONSUME) pthread_barrier_wait(&c->run->go);
    int64_t deadline = 0;
    if (o->mode == MODE_CONSUME && o->duration_s > 0)
        deadline = c->run->start_ns + (int64_t)(o->duration_s * 1e9);
    rd_kafka_message_t *msgs[BENCH_CONSUME_BATCH];
    if (start_fetching(c) != 0) {
        c->errors++;
        atomic_store(&c->finished, 1);
        return NULL;
    }
    while (!finished_reading(c, deadline)) {
        /* Drain what is already queued without waiting (a batch call with
         * a timeout would wait for the batch to fill, adding latency); if
         * nothing is there, block for a single message. */
        ssize_t n = rd_kafka_consume_batch_queue(c->queue, 0, msgs, BENCH_CONSUME_BATCH);
        if (n <= 0) {
            rd_kafka_message_t *m = rd_kafka_consume_queue(c->queue, BENCH_CONSUME_WAIT_MS);
            if (!m) continue;
            msgs[0] = m;
            n = 1;
        }
        int64_t now = bench_now_ns();
        uint64_t got = 0;
        /* With --count, records past it are dropped uncounted, so the run
         * reads exactly that many (give or take a race between consumers). */
        uint64_t room = UINT64_MAX;
        if (o->mode == MODE_CONSUME && o->count) {
            uint64_t seen = atomic_load(&c->run->consumed);
            room = seen < o->count ? o->count - seen : 0;
        }
        for (ssize_t i = 0; i < n; i++) {
            if (got < room) got += (uint64_t)take(c, msgs[i], now);
            rd_kafka_message_destroy(msgs[i]);
        }
        if (got) {
            c->last_ns = now;
            atomic_fetch_add(&c->run->consumed, got);
        }
    }
    for (int i = 0; i < c->nparts; i++)
        if (o->mode != MODE_CONSUME || c->start[i] < c->end[i])
            rd_kafka_consume_stop(c->rkt, c->parts[i]);
    atomic_store(&c->finished, 1);
    return NULL;
}

int consumer_start(struct bench_consumer *c) {
    return pthread_create(&c->thread, NULL, consumer_main, c) == 0 ? 0 : -1;
}

void consumer_join(struct bench_consumer *c) {
    pthread_join(c->thread, NULL);
}

void consumer_destroy(struct bench_consumer *c) {
    if (c->queue) rd_kafka_queue_destroy(c->queue);
    if (c->rkt) rd_kafka_topic_destroy(c->rkt);
    if (c->rk) rd_kafka_destroy(c->rk);
    free(c->parts);
    free(c->start);
    free(c->end);
    free(c->done);
    memset(c, 0, sizeof(*c));
}
