/*
 * Redis Streams driver for bench/run, through hiredis with pipelining.
 *
 * produce: each producer connection keeps up to --window XADD commands in
 *   flight, written in two halves: while the server answers one half the
 *   next is already on the wire, so the connection never waits a full round
 *   trip. Latency is from the write of a record's half to its reply.
 * consume: one connection reads the stream from its start with
 *   XREAD COUNT <window>, each call continuing after the last id seen (the
 *   next call depends on the previous answer, so reads cannot be pipelined).
 *
 * Records are single-field entries (field "d"); MB counts the payload only,
 * as for Gregor.
 */
#include <hiredis/hiredis.h>
#include <pthread.h>

#include "peer_common.h"

struct producer {
    const struct peer_opts *o;
    const uint8_t *pool;
    int id;
    uint64_t quota;
    int64_t start_ns, deadline_ns, end_ns;
    uint64_t sent, ok, failed, bytes;
    struct histogram lat;
    char err[256];
};

static redisContext *connect_or_say(const struct peer_opts *o, char *err, size_t errlen) {
    redisContext *c = redisConnect(o->host, o->port);
    if (!c || c->err) {
        snprintf(err, errlen, "connect %s:%d: %s", o->host, o->port, c ? c->errstr : "no memory");
        if (c) redisFree(c);
        return NULL;
    }
    return c;
}

/* Appends n XADDs to the output buffer and writes them out. */
static int send_half(struct producer *p, redisContext *c, int n) {
    const struct peer_opts *o = p->o;
    const char *argv[5] = {"XADD", o->stream, "*", "d", NULL};
    size_t lens[5] = {4, strlen(o->stream), 1, 1, (size_t)o->record_size};
    for (int i = 0; i < n; i++) {
        argv[4] = (const char *)p->pool + peer_pool_offset(p->sent + (uint64_t)i, p->id);
        if (redisAppendCommandArgv(c, 5, argv, lens) != REDIS_OK) return -1;
    }
    int done = 0;
    while (!done)
        if (redisBufferWrite(c, &done) != REDIS_OK) return -1;
    p->sent += (uint64_t)n;
    return 0;
}

static int read_half(struct producer *p, redisContext *c, int n, int64_t sent_at) {
    for (int i = 0; i < n; i++) {
        redisReply *r = NULL;
        if (redisGetReply(c, (void **)&r) != REDIS_OK || !r) return -1;
        int64_t now = peer_now_ns();
        if (r->type == REDIS_REPLY_ERROR) {
            if (p->failed == 0) snprintf(p->err, sizeof(p->err), "XADD: %s", r->str);
            p->failed++;
        } else {
            p->ok++;
            p->bytes += (uint64_t)p->o->record_size;
            p->end_ns = now;
            hist_record(&p->lat, (uint64_t)(now - sent_at));
        }
        freeReplyObject(r);
    }
    return 0;
}

static void *producer_main(void *arg) {
    struct producer *p = arg;
    redisContext *c = connect_or_say(p->o, p->err, sizeof(p->err));
    if (!c) return NULL;
    int half = p->o->window / 2;
    int pending_n[2] = {0, 0};
    int64_t pending_at[2] = {0, 0};
    int head = 0, queued = 0;
    for (;;) {
        int n = half;
        if (p->quota && p->sent + (uint64_t)n > p->quota) n = (int)(p->quota - p->sent);
        if (p->deadline_ns && peer_now_ns() >= p->deadline_ns) n = 0;
        if (n > 0) {
            int slot = (head + queued) % 2;
            pending_at[slot] = peer_now_ns();
            pending_n[slot] = n;
            if (send_half(p, c, n) != 0) break;
            queued++;
        }
        if (queued == 2 || (n == 0 && queued > 0)) {
            if (read_half(p, c, pending_n[head], pending_at[head]) != 0) break;
            head = (head + 1) % 2;
            queued--;
        }
        if (n == 0 && queued == 0) break;
    }
    if (c->err && !p->err[0]) snprintf(p->err, sizeof(p->err), "%s", c->errstr);
    redisFree(c);
    return NULL;
}

static int run_produce(const struct peer_opts *o, struct bench_report *r, struct histogram *lat) {
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
        ps[i].start_ns = start;
        ps[i].deadline_ns = o->duration_s > 0 ? start + (int64_t)(o->duration_s * 1e9) : 0;
        pthread_create(&th[i], NULL, producer_main, &ps[i]);
    }
    int64_t end = start;
    int rc = 0;
    for (int i = 0; i < o->producers; i++) {
        pthread_join(th[i], NULL);
        r->records += ps[i].ok;
        r->bytes += ps[i].bytes;
        r->errors += ps[i].failed;
        if (ps[i].end_ns > end) end = ps[i].end_ns;
        hist_merge(lat, &ps[i].lat);
        if (ps[i].err[0]) {
            fprintf(stderr, "redis_bench: producer %d: %s\n", i, ps[i].err);
            if (ps[i].ok == 0) rc = -1;
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
    redisContext *c = connect_or_say(o, err, sizeof(err));
    if (!c) {
        fprintf(stderr, "redis_bench: %s\n", err);
        return -1;
    }
    redisReply *x = redisCommand(c, "XLEN %s", o->stream);
    uint64_t target = x && x->type == REDIS_REPLY_INTEGER ? (uint64_t)x->integer : 0;
    if (x) freeReplyObject(x);
    if (o->count && o->count < target) target = o->count;
    char last[64] = "0-0";
    char count[32];
    snprintf(count, sizeof(count), "%d", o->window);
    int ok = 1, rc = 0;
    peer_sample(o, &r->server_before, &ok);
    double cpu0 = proc_self_cpu_s();
    int64_t start = peer_now_ns(), end = start;
    while (r->records < target) {
        const char *argv[6] = {"XREAD", "COUNT", count, "STREAMS", o->stream, last};
        redisReply *rep = redisCommandArgv(c, 6, argv, NULL);
        if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements == 0) {
            fprintf(stderr, "redis_bench: XREAD: %s\n",
                    rep && rep->type == REDIS_REPLY_ERROR ? rep->str : c->errstr);
            if (rep) freeReplyObject(rep);
            rc = -1;
            break;
        }
        /* [[stream, [[id, [field, value]], ...]]] */
        redisReply *entries = rep->element[0]->element[1];
        for (size_t i = 0; i < entries->elements; i++) {
            redisReply *e = entries->element[i];
            redisReply *fv = e->element[1];
            if (fv->elements >= 2) r->bytes += fv->element[1]->len;
            r->records++;
            if (i + 1 == entries->elements)
                snprintf(last, sizeof(last), "%.*s", (int)e->element[0]->len, e->element[0]->str);
        }
        end = peer_now_ns();
        freeReplyObject(rep);
    }
    peer_sample(o, &r->server_after, &ok);
    r->server_pid = ok ? o->server_pid : 0;
    r->client_cpu_s = proc_self_cpu_s() - cpu0;
    r->seconds = (double)(end - start) / 1e9;
    redisFree(c);
    return rc;
}

int main(int argc, char **argv) {
    struct peer_opts o;
    int pr = peer_parse(argc, argv, &o, 6379, "Redis Streams (hiredis, pipelined XADD, XREAD)");
    if (pr) return pr > 0 ? 0 : 2;
    static struct bench_report r;
    static struct histogram lat;
    hist_init(&lat);
    report_init(&r, "redis", o.mode);
    peer_report_params(&r, &o, "server as started by bench/run");
    int rc = strcmp(o.mode, "produce") == 0 ? run_produce(&o, &r, &lat) : run_consume(&o, &r);
    if (rc != 0) return 1;
    r.latency = &lat;
    r.latency_what = "pipelined XADD write to its reply, closed loop";
    peer_print(&r, &o);
    return r.errors ? 3 : 0;
}
