/*
 * Producer threads. Closed loop (produce, e2e without a rate): send as fast
 * as librdkafka's queue accepts, waiting only when it is full; the latency
 * is then mostly time spent queued in the client and says little, the
 * throughput is the figure. Open loop (open-loop, e2e with a rate): record
 * i is due at start + i / rate whether or not earlier ones were answered;
 * a late send is stamped with its due time, so a stall in the broker (or
 * the client) shows as latency instead of silently lowering the rate.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/bench_internal.h"

/* Runs on the producer's own thread, inside rd_kafka_poll/flush. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    struct bench_producer *p = opaque;
    if (!p->measuring) return;
    if (m->err) {
        p->failed++;
        return;
    }
    int64_t sent_at = (int64_t)(intptr_t)m->_private;
    int64_t now = bench_now_ns();
    p->delivered++;
    p->bytes += m->len;
    p->end_ns = now;
    hist_record(&p->lat, now > sent_at ? (uint64_t)(now - sent_at) : 0);
}

int producer_init(struct bench_producer *p, struct bench_run *run, int id, char *err,
                  size_t errlen) {
    const struct bench_opts *o = run->o;
    memset(p, 0, sizeof(*p));
    hist_init(&p->lat);
    p->run = run;
    p->id = id;
    rd_kafka_conf_t *conf = bench_conf_new(o, err, errlen);
    if (!conf) return -1;
    char v[32];
    char cid[64];
    snprintf(cid, sizeof(cid), "gregor-bench-producer-%d", id);
    int bad = bench_conf_set(conf, "client.id", cid, err, errlen) ||
              bench_conf_set(conf, "acks", o->acks, err, errlen) ||
              bench_conf_set(conf, "compression.type", o->compression, err, errlen);
    if (!bad && o->linger_ms >= 0) {
        snprintf(v, sizeof(v), "%d", o->linger_ms);
        bad = bench_conf_set(conf, "linger.ms", v, err, errlen);
    }
    if (!bad && o->batch_size >= 0) {
        snprintf(v, sizeof(v), "%ld", o->batch_size);
        bad = bench_conf_set(conf, "batch.size", v, err, errlen);
    }
    if (bad) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, p);
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen);
    if (!p->rk) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    p->rkt = rd_kafka_topic_new(p->rk, o->topic, NULL);
    if (!p->rkt) {
        snprintf(err, errlen, "topic handle: %s", rd_kafka_err2str(rd_kafka_last_error()));
        return -1;
    }
    return 0;
}

int producer_warm_up(struct bench_producer *p, char *err, size_t errlen) {
    static const char warm[] = "gregor-bench warm-up";
    for (int32_t part = 0; part < p->run->partitions; part++) {
        if (rd_kafka_produce(p->rkt, part, RD_KAFKA_MSG_F_COPY, (void *)warm, sizeof(warm) - 1,
                             NULL, 0, NULL) != 0) {
            snprintf(err, errlen, "warm-up produce: %s", rd_kafka_err2str(rd_kafka_last_error()));
            return -1;
        }
    }
    rd_kafka_resp_err_t e = rd_kafka_flush(p->rk, BENCH_SETUP_TIMEOUT_MS);
    if (e) {
        snprintf(err, errlen, "warm-up flush: %s", rd_kafka_err2str(e));
        return -1;
    }
    return 0;
}

/* Sends one record stamped `stamp`; waits (serving delivery reports) while
 * the client's queue is full. 0 on success, -1 on a hard error or stop. */
static int send_one(struct bench_producer *p, int64_t stamp, uint8_t *scratch) {
    const struct bench_opts *o = p->run->o;
    /* A different window of the pool per record, stepped by a prime so
     * consecutive records do not repeat each other byte for byte. */
    size_t off = (size_t)((p->sent * 4099u + (uint64_t)p->id * 131u) % BENCH_POOL_BYTES);
    memcpy(scratch, p->run->pool + off, (size_t)o->record_size);
    if (o->record_size >= BENCH_STAMP_BYTES) memcpy(scratch, &stamp, BENCH_STAMP_BYTES);
    for (;;) {
        if (rd_kafka_produce(p->rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, scratch,
                             (size_t)o->record_size, NULL, 0, (void *)(intptr_t)stamp) == 0)
            break;
        rd_kafka_resp_err_t e = rd_kafka_last_error();
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            fprintf(stderr, "gregor bench: produce: %s\n", rd_kafka_err2str(e));
            return -1;
        }
        if (bench_should_stop(p->run)) return -1;
        rd_kafka_poll(p->rk, 1);
    }
    p->sent++;
    return 0;
}

static void run_closed_loop(struct bench_producer *p, uint8_t *scratch, int64_t deadline) {
    for (;;) {
        if (p->quota && p->sent >= p->quota) break;
        /* The clock and the stop flag are read every 64 records: cheap
         * enough, and 64 records are microseconds. */
        if ((p->sent & 63) == 0) {
            if (bench_should_stop(p->run)) break;
            if (deadline && bench_now_ns() >= deadline) break;
            rd_kafka_poll(p->rk, 0);
        }
        if (send_one(p, bench_now_ns(), scratch) != 0) break;
    }
}

static void sleep_until(int64_t t_ns) {
    struct timespec ts = {.tv_sec = t_ns / 1000000000, .tv_nsec = t_ns % 1000000000};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

static void run_open_loop(struct bench_producer *p, uint8_t *scratch, int64_t deadline) {
    double interval_ns = 1e9 / p->rate;
    /* Producers are staggered within one interval so that together they
     * send evenly rather than in step. */
    double phase = interval_ns * p->id / p->run->o->producers;
    int64_t start = p->run->start_ns;
    for (;;) {
        int64_t due = start + (int64_t)(phase + interval_ns * (double)p->sent);
        if (p->quota && p->sent >= p->quota) break;
        if (deadline && due >= deadline) break;
        if (bench_should_stop(p->run)) break;
        int64_t now = bench_now_ns();
        if (due > now) {
            rd_kafka_poll(p->rk, 0);
            now = bench_now_ns();
            if (due > now) {
                int64_t wake = due - now > BENCH_OPEN_LOOP_SLEEP_MAX_NS
                                   ? now + BENCH_OPEN_LOOP_SLEEP_MAX_NS
                                   : due;
                sleep_until(wake);
                continue;
            }
        }
        if (send_one(p, due, scratch) != 0) break;
    }
}

static void *producer_main(void *arg) {
    struct bench_producer *p = arg;
    const struct bench_opts *o = p->run->o;
    uint8_t *scratch = malloc((size_t)o->record_size + 1);
    pthread_barrier_wait(&p->run->go);
    if (!scratch) return NULL;
    int64_t deadline = o->duration_s > 0 ? p->run->start_ns + (int64_t)(o->duration_s * 1e9) : 0;
    if (p->rate > 0)
        run_open_loop(p, scratch, deadline);
    else
        run_closed_loop(p, scratch, deadline);
    /* Delivery reports for the tail are served by the flush. */
    rd_kafka_resp_err_t e = rd_kafka_flush(p->rk, BENCH_FLUSH_TIMEOUT_MS);
    if (e) fprintf(stderr, "gregor bench: producer %d flush: %s\n", p->id, rd_kafka_err2str(e));
    if (p->end_ns == 0) p->end_ns = bench_now_ns();
    free(scratch);
    return NULL;
}

int producer_start(struct bench_producer *p) {
    p->measuring = 1;
    return pthread_create(&p->thread, NULL, producer_main, p) == 0 ? 0 : -1;
}

void producer_join(struct bench_producer *p) {
    pthread_join(p->thread, NULL);
}

void producer_destroy(struct bench_producer *p) {
    if (p->rkt) rd_kafka_topic_destroy(p->rkt);
    if (p->rk) {
        /* Anything still queued after an interrupted run is dropped. */
        rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_flush(p->rk, 1000);
        rd_kafka_destroy(p->rk);
    }
    p->rkt = NULL;
    p->rk = NULL;
}
