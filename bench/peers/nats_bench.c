/*
 * NATS JetStream driver for bench/run, through libnats (the C client).
 *
 * produce: each producer connection publishes asynchronously to a file-store
 *   stream with at most --window publishes awaiting their JetStream ack; the
 *   ack handler records the latency from the send stamp in the payload's
 *   first 8 bytes. The stream is created if missing (one subject, named
 *   after the stream, file storage, one replica).
 * consume: one pull consumer (no acks, from the first message) fetches
 *   batches of --window until it has read what the stream held at the start.
 */
#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "peer_common.h"

/* How long the last acks may take to arrive once publishing is done. */
#define NATS_DRAIN_TIMEOUT_MS 60000
/* One fetch waits at most this long for its batch to fill. */
#define NATS_FETCH_TIMEOUT_MS 1000

struct producer {
    const struct peer_opts *o;
    const uint8_t *pool;
    int id;
    uint64_t quota;
    int64_t deadline_ns;
    uint64_t sent;
    /* Written by libnats' ack thread, read by the producer thread. */
    atomic_uint_fast64_t acked, failed;
    atomic_int_fast64_t end_ns;
    uint64_t bytes;  /* ack thread only until the acks are all in */
    struct histogram lat;
    char err[256];
};

static void on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure) {
    (void)js;
    struct producer *p = closure;
    int64_t now = peer_now_ns();
    if (pa && !pae) {
        int64_t stamp;
        memcpy(&stamp, natsMsg_GetData(msg), sizeof(stamp));
        hist_record(&p->lat, now > stamp ? (uint64_t)(now - stamp) : 0);
        p->bytes += (uint64_t)natsMsg_GetDataLength(msg);
        atomic_store(&p->end_ns, now);
        atomic_fetch_add(&p->acked, 1);
    } else {
        atomic_fetch_add(&p->failed, 1);
    }
    natsMsg_Destroy(msg);
}

static int connect_js(const struct peer_opts *o, natsConnection **nc, jsCtx **js, jsOptions *jo,
                      char *err, size_t errlen) {
    char url[256];
    snprintf(url, sizeof(url), "nats://%s:%d", o->host, o->port);
    natsStatus s = natsConnection_ConnectTo(nc, url);
    if (s == NATS_OK) s = natsConnection_JetStream(js, *nc, jo);
    if (s != NATS_OK) {
        snprintf(err, errlen, "connect %.200s: %s", url, natsStatus_GetText(s));
        return -1;
    }
    return 0;
}

static int ensure_stream(jsCtx *js, const char *name, char *err, size_t errlen) {
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    if (js_GetStreamInfo(&si, js, name, NULL, &jerr) == NATS_OK) {
        jsStreamInfo_Destroy(si);
        return 0;
    }
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    const char *subjects[1] = {name};
    cfg.Name = name;
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    cfg.Replicas = 1;
    natsStatus s = js_AddStream(&si, js, &cfg, NULL, &jerr);
    if (s != NATS_OK) {
        snprintf(err, errlen, "add stream %s: %s (%d)", name, natsStatus_GetText(s), (int)jerr);
        return -1;
    }
    jsStreamInfo_Destroy(si);
    return 0;
}

static void *producer_main(void *arg) {
    struct producer *p = arg;
    const struct peer_opts *o = p->o;
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = o->window;
    jo.PublishAsync.AckHandler = on_ack;
    jo.PublishAsync.AckHandlerClosure = p;
    uint8_t *scratch = malloc((size_t)o->record_size);
    if (!scratch || connect_js(o, &nc, &js, &jo, p->err, sizeof(p->err)) != 0) goto out;
    for (;;) {
        if (p->quota && p->sent >= p->quota) break;
        if ((p->sent & 63) == 0 && p->deadline_ns && peer_now_ns() >= p->deadline_ns) break;
        memcpy(scratch, p->pool + peer_pool_offset(p->sent, p->id), (size_t)o->record_size);
        int64_t now = peer_now_ns();
        memcpy(scratch, &now, sizeof(now));
        /* Blocks (StallWait) while --window acks are outstanding. */
        natsStatus s = js_PublishAsync(js, o->stream, scratch, o->record_size, NULL);
        if (s == NATS_TIMEOUT) continue;  /* stalled: the ack window is full */
        if (s != NATS_OK) {
            snprintf(p->err, sizeof(p->err), "publish: %s", natsStatus_GetText(s));
            break;
        }
        p->sent++;
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = NATS_DRAIN_TIMEOUT_MS;
    js_PublishAsyncComplete(js, &po);
    /* The handler of the last ack may still be running when the pending
     * count reaches zero: wait for the counters themselves. */
    int64_t give_up = peer_now_ns() + (int64_t)NATS_DRAIN_TIMEOUT_MS * 1000000;
    while (atomic_load(&p->acked) + atomic_load(&p->failed) < p->sent && peer_now_ns() < give_up) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
out:
    free(scratch);
    if (js) jsCtx_Destroy(js);
    if (nc) natsConnection_Destroy(nc);
    return NULL;
}

static int run_produce(const struct peer_opts *o, struct bench_report *r, struct histogram *lat) {
    char err[256];
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    if (connect_js(o, &nc, &js, NULL, err, sizeof(err)) != 0 ||
        ensure_stream(js, o->stream, err, sizeof(err)) != 0) {
        fprintf(stderr, "nats_bench: %s\n", err);
        if (js) jsCtx_Destroy(js);
        if (nc) natsConnection_Destroy(nc);
        return -1;
    }
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    uint8_t *pool = peer_pool_new(o->record_size);
    struct producer *ps = calloc((size_t)o->producers, sizeof(*ps));
    pthread_t th[PEER_THREADS_MAX];
    if (!pool || !ps) return -1;
    int ok = 1;
    peer_sample(o, &r->server_before, &ok);
    double cpu0 = proc_self_cpu_s();
    int64_t start = peer_now_ns();
    for (int i = 0; i < o->producers; i++) {
        ps[i].o = o;
        ps[i].pool = pool;
        ps[i].id = i;
        hist_init(&ps[i].lat);
        if (o->count)
            ps[i].quota = o->count / (uint64_t)o->producers + ((uint64_t)i < o->count % (uint64_t)o->producers);
        ps[i].deadline_ns = o->duration_s > 0 ? start + (int64_t)(o->duration_s * 1e9) : 0;
        pthread_create(&th[i], NULL, producer_main, &ps[i]);
    }
    int64_t end = start;
    int rc = 0;
    for (int i = 0; i < o->producers; i++) {
        pthread_join(th[i], NULL);
        r->records += atomic_load(&ps[i].acked);
        r->errors += atomic_load(&ps[i].failed);
        r->bytes += ps[i].bytes;
        if (atomic_load(&ps[i].end_ns) > end) end = atomic_load(&ps[i].end_ns);
        hist_merge(lat, &ps[i].lat);
        if (ps[i].err[0]) {
            fprintf(stderr, "nats_bench: producer %d: %s\n", i, ps[i].err);
            if (atomic_load(&ps[i].acked) == 0) rc = -1;
        }
    }
    peer_sample(o, &r->server_after, &ok);
    r->server_pid = ok ? o->server_pid : 0;
    r->client_cpu_s = proc_self_cpu_s() - cpu0;
    r->seconds = (double)(end - start) / 1e9;
    free(ps);
    free(pool);
    return rc;
}

static int run_consume(const struct peer_opts *o, struct bench_report *r) {
    char err[256];
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    natsSubscription *sub = NULL;
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    int rc = -1;
    if (connect_js(o, &nc, &js, NULL, err, sizeof(err)) != 0) {
        fprintf(stderr, "nats_bench: %s\n", err);
        goto out;
    }
    if (js_GetStreamInfo(&si, js, o->stream, NULL, &jerr) != NATS_OK) {
        fprintf(stderr, "nats_bench: no stream %s\n", o->stream);
        goto out;
    }
    uint64_t target = si->State.Msgs;
    jsStreamInfo_Destroy(si);
    if (o->count && o->count < target) target = o->count;
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = o->stream;
    so.Config.AckPolicy = js_AckNone;
    so.Config.DeliverPolicy = js_DeliverAll;
    char durable[64];
    snprintf(durable, sizeof(durable), "bench-reader-%d", (int)getpid());
    natsStatus s = js_PullSubscribe(&sub, js, o->stream, durable, NULL, &so, &jerr);
    if (s != NATS_OK) {
        fprintf(stderr, "nats_bench: pull subscribe: %s (%d)\n", natsStatus_GetText(s), (int)jerr);
        goto out;
    }
    int ok = 1;
    peer_sample(o, &r->server_before, &ok);
    double cpu0 = proc_self_cpu_s();
    int64_t start = peer_now_ns(), end = start;
    while (r->records < target) {
        natsMsgList list = {0};
        uint64_t want = target - r->records;
        int batch = want < (uint64_t)o->window ? (int)want : o->window;
        s = natsSubscription_Fetch(&list, sub, batch, NATS_FETCH_TIMEOUT_MS, &jerr);
        if (s == NATS_TIMEOUT && list.Count == 0) continue;
        if (s != NATS_OK && s != NATS_TIMEOUT) {
            fprintf(stderr, "nats_bench: fetch: %s\n", natsStatus_GetText(s));
            natsMsgList_Destroy(&list);
            break;
        }
        for (int i = 0; i < list.Count; i++) {
            r->records++;
            r->bytes += (uint64_t)natsMsg_GetDataLength(list.Msgs[i]);
        }
        natsMsgList_Destroy(&list);
        end = peer_now_ns();
    }
    peer_sample(o, &r->server_after, &ok);
    r->server_pid = ok ? o->server_pid : 0;
    r->client_cpu_s = proc_self_cpu_s() - cpu0;
    r->seconds = (double)(end - start) / 1e9;
    rc = 0;
    natsSubscription_Unsubscribe(sub);
    js_DeleteConsumer(js, o->stream, durable, NULL, &jerr);
out:
    if (sub) natsSubscription_Destroy(sub);
    if (js) jsCtx_Destroy(js);
    if (nc) natsConnection_Destroy(nc);
    return rc;
}

int main(int argc, char **argv) {
    struct peer_opts o;
    int pr = peer_parse(argc, argv, &o, 4222, "NATS JetStream (libnats, async publish, pull)");
    if (pr) return pr > 0 ? 0 : 2;
    static struct bench_report r;
    static struct histogram lat;
    hist_init(&lat);
    report_init(&r, "nats", o.mode);
    peer_report_params(&r, &o, "file store, as started by bench/run");
    int rc = strcmp(o.mode, "produce") == 0 ? run_produce(&o, &r, &lat) : run_consume(&o, &r);
    if (rc != 0) return 1;
    r.latency = &lat;
    r.latency_what = "async publish to its JetStream ack, closed loop";
    peer_print(&r, &o);
    nats_Close();
    return r.errors ? 3 : 0;
}
