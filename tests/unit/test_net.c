/*
 * Network layer tests: a real loop on a loopback port, driven by client
 * sockets from the test thread while the loop runs in its own thread.
 *
 * The test handler reads a command from the first byte of each frame:
 *   'E' echo now            'D' echo after the u32 delay (ms) in bytes 1..4
 *   'N' no response (acks=0) 'C' net_respond_close
 *   'F' memory + file ranges 'G' u32 n: one n-byte file range
 *   'S' a file range past EOF 'B' u32 n: n bytes of memory
 *   'H' hold until aborted   'X' a failed obuf
 *   'P' park until a 'W'     'W' answer every parked request, then itself
 * ASan's leak check at exit proves aborted and dropped requests are freed.
 * The whole suite runs with one loop and again with several, where
 * connections alternate between loops and 'W' answers across them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "net/net_internal.h"

/* Client sockets give up on a silent server after this long. */
#define TEST_RECV_TIMEOUT_MS 5000
/* Waiting for the loop thread to notice something, polled. */
#define TEST_WAIT_MS 3000
#define TEST_FILE_BYTES (64 * 1024)
#define TEST_BIG_FILE_BYTES (8 * 1024 * 1024)

struct server {
    struct net_loop *loop;
    pthread_t thread;
    atomic_int requests;
    atomic_int aborts;
    atomic_int late_responses;  /* net_respond on an already aborted request */
    atomic_bool peer_ok;
    bool destroying;            /* set before net_loop_destroy, loop thread stopped */
    char file_path[64];
    char big_path[64];
};

/* Event loops of the servers the tests start. */
static uint32_t test_loops = 1;

/* Parked requests ('P'); touched only by callbacks, which the handler
 * lock serializes whatever loop they run on. */
#define TEST_PARKED_MAX 16
static struct net_request *parked[TEST_PARKED_MAX];
static int parked_len;

struct delayed {
    struct server *s;
    struct net_request *req;
    uint64_t timer;
};

static uint32_t get_be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void set_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- the test handler ---- */

static void respond_echo(struct net_request *req) {
    struct obuf ob;
    obuf_init(&ob, LIMIT_RESPONSE_MEM_BYTES_MAX);
    obuf_put(&ob, req->frame, req->frame_len);
    net_respond(req, &ob);
    CHECK(ob.data == NULL && ob.len == 0);
    obuf_free(&ob);
}

static void delayed_fire(void *ctx) {
    struct delayed *d = ctx;
    if (d->req->aborted) {
        atomic_fetch_add(&d->s->late_responses, 1);
        net_respond(d->req, NULL);
    } else {
        respond_echo(d->req);
    }
    free(d);
}

static void add_file(struct obuf *ob, const char *path, int64_t pos, uint32_t len) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    obuf_add_file(ob, fd, pos, len);
}

static void on_request(void *ctx, struct net_request *req) {
    struct server *s = ctx;
    atomic_fetch_add(&s->requests, 1);
    if (strncmp(net_conn_peer(req->conn), "127.0.0.1:", 10) != 0) atomic_store(&s->peer_ok, false);
    uint8_t cmd = req->frame[0];
    uint32_t arg = req->frame_len >= 5 ? get_be32(req->frame + 1) : 0;
    struct obuf ob;
    obuf_init(&ob, LIMIT_RESPONSE_MEM_BYTES_MAX);
    switch (cmd) {
    case 'D': {
        struct delayed *d = malloc(sizeof(*d));
        *d = (struct delayed){s, req, 0};
        req->handler_state = d;
        d->timer = net_timer_add(s->loop, arg, delayed_fire, d);
        CHECK(d->timer != 0);
        return;
    }
    case 'N':
        net_respond(req, NULL);
        return;
    case 'C':
        net_respond_close(req);
        return;
    case 'H':
        return;
    case 'P':
        CHECK(parked_len < TEST_PARKED_MAX);
        parked[parked_len++] = req;
        return;
    case 'W':
        for (int i = 0; i < parked_len; i++) respond_echo(parked[i]);
        parked_len = 0;
        obuf_put(&ob, req->frame, req->frame_len);
        break;
    case 'F':
        obuf_put(&ob, "HEAD", 4);
        add_file(&ob, s->file_path, 10, 1000);
        obuf_put(&ob, "MID", 3);
        add_file(&ob, s->file_path, 0, 5);
        add_file(&ob, s->file_path, 100, 50);  /* two ranges back to back */
        add_file(&ob, s->file_path, 7, 0);     /* an empty range */
        obuf_put(&ob, "TAIL", 4);
        add_file(&ob, s->file_path, TEST_FILE_BYTES - 3, 3);  /* ends with a range */
        break;
    case 'G':
        add_file(&ob, s->big_path, 0, arg);
        break;
    case 'S':
        obuf_put(&ob, "x", 1);
        add_file(&ob, s->file_path, TEST_FILE_BYTES - 10, 100);
        break;
    case 'B':
        memset(obuf_extend(&ob, arg), 'b', arg);
        break;
    case 'X':
        obuf_init(&ob, 4);
        obuf_put(&ob, "too long for the limit", 22);
        break;
    default:
        obuf_put(&ob, req->frame, req->frame_len);
        break;
    }
    net_respond(req, &ob);
    obuf_free(&ob);
}

static void on_abort(void *ctx, struct net_request *req) {
    struct server *s = ctx;
    CHECK(req->aborted);
    atomic_fetch_add(&s->aborts, 1);
    if (req->frame[0] == 'H') {
        net_respond(req, NULL);
    } else if (req->frame[0] == 'P') {
        for (int i = 0; i < parked_len; i++) {
            if (parked[i] != req) continue;
            parked[i] = parked[--parked_len];
            net_respond(req, NULL);
            break;
        }
    } else if (req->frame[0] == 'D' && s->destroying) {
        struct delayed *d = req->handler_state;
        net_timer_cancel(s->loop, d->timer);
        free(d);
        net_respond(req, NULL);
    }
    /* Other delayed requests are answered later by their timer. */
}

/* ---- server and client helpers ---- */

static void *server_main(void *arg) {
    struct server *s = arg;
    int rc = net_loop_run(s->loop);
    CHECK_EQ_INT(rc, 0);
    return NULL;
}

static void write_file(char *path, size_t size) {
    snprintf(path, 64, "/tmp/test_net_XXXXXX");
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    uint8_t buf[4096];
    for (size_t off = 0; off < size; off += sizeof(buf)) {
        for (size_t i = 0; i < sizeof(buf); i++) buf[i] = (uint8_t)((off + i) % 251);
        CHECK(write(fd, buf, sizeof(buf)) == (ssize_t)sizeof(buf));
    }
    close(fd);
}

static struct server *server_start_cfg(uint32_t max_request_bytes, uint32_t max_connections, int64_t idle_ms) {
    struct server *s = calloc(1, sizeof(*s));
    atomic_store(&s->peer_ok, true);
    write_file(s->file_path, TEST_FILE_BYTES);
    write_file(s->big_path, TEST_BIG_FILE_BYTES);
    struct net_config cfg = {"127.0.0.1", 0, max_request_bytes, max_connections, idle_ms, test_loops};
    s->loop = net_loop_create(&cfg, on_request, on_abort, s);
    CHECK(s->loop && net_loop_count(s->loop) == test_loops);
    CHECK(s->loop != NULL);
    CHECK(net_loop_port(s->loop) > 0);
    pthread_create(&s->thread, NULL, server_main, s);
    return s;
}

static struct server *server_start(void) { return server_start_cfg(100 * 1024 * 1024, 0, 0); }

/* Stops the loop thread; afterwards the loop may be inspected safely. */
static void server_pause(struct server *s) {
    net_loop_stop(s->loop);
    pthread_join(s->thread, NULL);
}

static void server_resume(struct server *s) { pthread_create(&s->thread, NULL, server_main, s); }

static void server_stop(struct server *s) {
    server_pause(s);
    s->destroying = true;
    net_loop_destroy(s->loop);
    unlink(s->file_path);
    unlink(s->big_path);
    CHECK(atomic_load(&s->peer_ok));
    free(s);
}

static int client_connect(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    struct timeval tv = {TEST_RECV_TIMEOUT_MS / 1000, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static bool write_all(int fd, const void *p, size_t n) {
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        b += w;
        n -= (size_t)w;
    }
    return true;
}

/* Returns 1 when all n bytes arrived, 0 on EOF, -1 on error or timeout. */
static int read_all(int fd, void *p, size_t n) {
    uint8_t *b = p;
    while (n > 0) {
        ssize_t r = recv(fd, b, n, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r == 0) return 0;
        if (r < 0) return -1;
        b += r;
        n -= (size_t)r;
    }
    return 1;
}

static void send_frame(int fd, const void *body, uint32_t len) {
    uint8_t hdr[4];
    set_be32(hdr, len);
    CHECK(write_all(fd, hdr, 4));
    CHECK(write_all(fd, body, len));
}

static void send_cmd(int fd, char cmd, uint32_t arg) {
    uint8_t b[5] = {(uint8_t)cmd};
    set_be32(b + 1, arg);
    send_frame(fd, b, 5);
}

/* Reads one response; returns its malloc'd body (caller frees) or NULL. */
static uint8_t *recv_frame(int fd, uint32_t *len) {
    uint8_t hdr[4];
    if (read_all(fd, hdr, 4) != 1) return NULL;
    *len = get_be32(hdr);
    uint8_t *body = malloc(*len ? *len : 1);
    if (read_all(fd, body, *len) != 1) {
        free(body);
        return NULL;
    }
    return body;
}

static bool recv_expect(int fd, const void *want, uint32_t want_len) {
    uint32_t len;
    uint8_t *got = recv_frame(fd, &len);
    bool ok = got && len == want_len && memcmp(got, want, len) == 0;
    free(got);
    return ok;
}

static bool recv_eof(int fd) {
    uint8_t b;
    for (;;) {
        ssize_t r = recv(fd, &b, 1, 0);
        if (r == 0) return true;
        if (r < 0 && errno == ECONNRESET) return true;
        if (r < 0) return false;
    }
}

/* True if nothing (data or EOF) arrives within ms. */
static bool quiet_for(int fd, int ms) {
    struct pollfd p = {fd, POLLIN, 0};
    return poll(&p, 1, ms) == 0;
}

static bool wait_atomic(atomic_int *v, int want) {
    for (int i = 0; i < TEST_WAIT_MS / 10; i++) {
        if (atomic_load(v) >= want) return atomic_load(v) == want;
        sleep_ms(10);
    }
    return false;
}

static void echo_roundtrip(int fd, const char *text) {
    send_frame(fd, text, (uint32_t)strlen(text));
    CHECK(recv_expect(fd, text, (uint32_t)strlen(text)));
}

/* ---- timers alone ---- */

struct timer_log {
    struct net_loop *loop;
    int order[8];
    int n;
    uint64_t started_us;
    uint64_t stop_us;
};

struct timer_arg {
    struct timer_log *log;
    int id;
};

static void timer_record(void *ctx) {
    struct timer_arg *a = ctx;
    a->log->order[a->log->n++] = a->id;
}

static void timer_stop(void *ctx) {
    struct timer_log *log = ctx;
    log->stop_us = net_now_us();
    net_loop_stop(log->loop);
}

static void nop_request(void *ctx, struct net_request *req) { net_respond(req, NULL); }
static void nop_abort(void *ctx, struct net_request *req) {}
static void nop_timer(void *ctx) {}

static void test_timers(void) {
    struct net_config cfg = {"localhost", 0, 1024, 0, 0, 1};
    struct net_loop *loop = net_loop_create(&cfg, nop_request, nop_abort, NULL);
    CHECK(loop != NULL);
    if (!loop) return;
    struct timer_log log = {.loop = loop, .started_us = net_now_us()};
    struct timer_arg a[5] = {{&log, 30}, {&log, 10}, {&log, 20}, {&log, 11}, {&log, 99}};
    CHECK(net_timer_add(loop, 30, timer_record, &a[0]) != 0);
    CHECK(net_timer_add(loop, 10, timer_record, &a[1]) != 0);
    CHECK(net_timer_add(loop, 20, timer_record, &a[2]) != 0);
    CHECK(net_timer_add(loop, 10, timer_record, &a[3]) != 0);  /* same deadline: after a[1] */
    uint64_t cancelled = net_timer_add(loop, 15, timer_record, &a[4]);
    net_timer_cancel(loop, cancelled);
    net_timer_cancel(loop, cancelled);  /* twice: harmless */
    net_timer_cancel(loop, 0);
    net_timer_cancel(loop, 12345678901234ULL);
    CHECK(net_timer_add(loop, 50, timer_stop, &log) != 0);
    CHECK_EQ_INT(net_loop_run(loop), 0);
    CHECK_EQ_INT(log.n, 4);
    CHECK_EQ_INT(log.order[0], 10);
    CHECK_EQ_INT(log.order[1], 11);
    CHECK_EQ_INT(log.order[2], 20);
    CHECK_EQ_INT(log.order[3], 30);
    CHECK(log.stop_us - log.started_us >= 50 * 1000);

    /* Fill the table: the next add reports 0; cancelling makes room. */
    static uint64_t ids[LIMIT_NET_TIMERS_MAX];
    uint32_t n = 0;
    while (n < LIMIT_NET_TIMERS_MAX && (ids[n] = net_timer_add(loop, 1000 + n % 977, nop_timer, NULL)) != 0) n++;
    CHECK_EQ_INT(n, LIMIT_NET_TIMERS_MAX);
    CHECK(net_timer_add(loop, 1, nop_timer, NULL) == 0);
    for (uint32_t i = 0; i < n; i += 2) net_timer_cancel(loop, ids[i]);
    struct net_stats st;
    net_loop_stats(loop, &st);
    CHECK_EQ_INT(st.timers, LIMIT_NET_TIMERS_MAX / 2);
    uint64_t again = net_timer_add(loop, 1, nop_timer, NULL);
    CHECK(again != 0);
    for (uint32_t i = 0; i < n; i += 2) CHECK(again != ids[i]);  /* reused slot, new id */
    net_loop_destroy(loop);
}

/* ---- request/response ---- */

static void test_echo(void) {
    struct server *s = server_start();
    int fd = client_connect(net_loop_port(s->loop));
    echo_roundtrip(fd, "E");
    echo_roundtrip(fd, "Ehello");
    /* Larger than the scratch buffer: read straight into the frame. */
    uint32_t big = 3 * 1024 * 1024 + 17;
    uint8_t *body = malloc(big);
    for (uint32_t i = 0; i < big; i++) body[i] = (uint8_t)(i * 7);
    body[0] = 'E';
    send_frame(fd, body, big);
    CHECK(recv_expect(fd, body, big));
    free(body);
    close(fd);
    server_stop(s);
}

static void test_out_of_order(void) {
    struct server *s = server_start();
    int fd = client_connect(net_loop_port(s->loop));
    uint32_t delays[] = {300, 100, 0, 200, 50};
    uint8_t frames[5][6];
    for (int i = 0; i < 5; i++) {
        frames[i][0] = 'D';
        set_be32(frames[i] + 1, delays[i]);
        frames[i][5] = (uint8_t)i;
        send_frame(fd, frames[i], 6);
    }
    for (int i = 0; i < 5; i++) CHECK(recv_expect(fd, frames[i], 6));
    close(fd);
    server_stop(s);
}

struct pipeline_writer {
    int fd;
    int count;
};

static void *pipeline_write(void *arg) {
    struct pipeline_writer *w = arg;
    uint8_t buf[3000];
    for (int i = 0; i < w->count; i++) {
        uint32_t len = 5 + (uint32_t)(i * 37) % 2990;
        buf[0] = 'E';
        set_be32(buf + 1, (uint32_t)i);
        memset(buf + 5, (uint8_t)i, len - 5);
        send_frame(w->fd, buf, len);
    }
    return NULL;
}

static void test_pipeline_1000(void) {
    struct server *s = server_start();
    int fd = client_connect(net_loop_port(s->loop));
    struct pipeline_writer w = {fd, 1000};
    pthread_t t;
    pthread_create(&t, NULL, pipeline_write, &w);
    int ok = 0;
    for (int i = 0; i < w.count; i++) {
        uint32_t len;
        uint8_t *got = recv_frame(fd, &len);
        if (!got) break;
        uint32_t want_len = 5 + (uint32_t)(i * 37) % 2990;
        if (len == want_len && got[0] == 'E' && get_be32(got + 1) == (uint32_t)i && (len == 5 || got[len - 1] == (uint8_t)i))
            ok++;
        free(got);
    }
    pthread_join(t, NULL);
    CHECK_EQ_INT(ok, 1000);
    close(fd);
    server_pause(s);
    struct net_stats st;
    net_loop_stats(s->loop, &st);
    CHECK(st.requests >= 1000);
    CHECK(st.responses >= 1000);
    server_stop(s);
}

static void file_bytes(uint8_t *out, int64_t pos, uint32_t len) {
    for (uint32_t i = 0; i < len; i++) out[i] = (uint8_t)((pos + i) % 251);
}

static void test_file_ranges(void) {
    struct server *s = server_start();
    int fd = client_connect(net_loop_port(s->loop));
    uint8_t want[4 + 1000 + 3 + 5 + 50 + 4 + 3], *p = want;
    memcpy(p, "HEAD", 4), p += 4;
    file_bytes(p, 10, 1000), p += 1000;
    memcpy(p, "MID", 3), p += 3;
    file_bytes(p, 0, 5), p += 5;
    file_bytes(p, 100, 50), p += 50;
    memcpy(p, "TAIL", 4), p += 4;
    file_bytes(p, TEST_FILE_BYTES - 3, 3);
    /* Twice in one pipeline, with echoes around: order across kinds. */
    send_frame(fd, "Ea", 2);
    send_frame(fd, "F", 1);
    send_frame(fd, "F", 1);
    send_frame(fd, "Eb", 2);
    CHECK(recv_expect(fd, "Ea", 2));
    CHECK(recv_expect(fd, want, sizeof(want)));
    CHECK(recv_expect(fd, want, sizeof(want)));
    CHECK(recv_expect(fd, "Eb", 2));

    /* 8 MiB by sendfile to a slow reader: partial sends and EPOLLOUT. */
    uint32_t big = TEST_BIG_FILE_BYTES;
    send_cmd(fd, 'G', big);
    send_frame(fd, "Ec", 2);
    sleep_ms(100);
    uint8_t hdr[4];
    CHECK(read_all(fd, hdr, 4) == 1);
    CHECK_EQ_INT(get_be32(hdr), big);
    uint8_t *got = malloc(big), *exp = malloc(big);
    CHECK(read_all(fd, got, big) == 1);
    file_bytes(exp, 0, big);
    CHECK(memcmp(got, exp, big) == 0);
    free(got);
    free(exp);
    CHECK(recv_expect(fd, "Ec", 2));
    close(fd);

    /* A range past the end of its file: the connection is closed. */
    fd = client_connect(net_loop_port(s->loop));
    send_frame(fd, "Ed", 2);
    send_frame(fd, "S", 1);
    CHECK(recv_expect(fd, "Ed", 2));
    CHECK(recv_eof(fd));
    close(fd);
    server_stop(s);
}

static void test_null_response(void) {
    struct server *s = server_start();
    int fd = client_connect(net_loop_port(s->loop));
    send_frame(fd, "Ea", 2);
    send_frame(fd, "N", 1);
    send_frame(fd, "Eb", 2);
    send_cmd(fd, 'D', 50);  /* a slow one, then null behind it */
    send_frame(fd, "N", 1);
    send_frame(fd, "Ec", 2);
    CHECK(recv_expect(fd, "Ea", 2));
    CHECK(recv_expect(fd, "Eb", 2));
    uint8_t d[5] = {'D'};
    set_be32(d + 1, 50);
    CHECK(recv_expect(fd, d, 5));
    CHECK(recv_expect(fd, "Ec", 2));
    CHECK(quiet_for(fd, 200));
    close(fd);
    server_stop(s);
}

static void test_respond_close(void) {
    struct server *s = server_start();
    int fd = client_connect(net_loop_port(s->loop));
    send_cmd(fd, 'D', 100);
    send_frame(fd, "C", 1);
    send_frame(fd, "Eb", 2);
    uint8_t d[5] = {'D'};
    set_be32(d + 1, 100);
    CHECK(recv_expect(fd, d, 5));
    CHECK(recv_eof(fd));
    close(fd);

    /* A response the encoder failed on closes the same way. */
    fd = client_connect(net_loop_port(s->loop));
    send_frame(fd, "Ea", 2);
    send_frame(fd, "X", 1);
    CHECK(recv_expect(fd, "Ea", 2));
    CHECK(recv_eof(fd));
    close(fd);
    server_stop(s);
}

static void test_oversize_frame(void) {
    struct server *s = server_start_cfg(1024, 0, 0);
    int bad = client_connect(net_loop_port(s->loop));
    int good = client_connect(net_loop_port(s->loop));
    echo_roundtrip(good, "Ebefore");
    uint8_t hdr[4];
    set_be32(hdr, 1025);
    CHECK(write_all(bad, hdr, 4));
    CHECK(recv_eof(bad));
    close(bad);
    echo_roundtrip(good, "Eafter");
    uint8_t *body = calloc(1, 1024);
    body[0] = 'E';
    send_frame(good, body, 1024);  /* exactly the limit is fine */
    CHECK(recv_expect(good, body, 1024));
    free(body);
    close(good);
    server_stop(s);
}

static void test_bad_sizes(void) {
    struct server *s = server_start_cfg(1024 * 1024, 0, 0);
    const uint32_t sizes[] = {0, 0xffffffffu, 0x80000000u};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        int fd = client_connect(net_loop_port(s->loop));
        uint8_t hdr[4];
        set_be32(hdr, sizes[i]);
        CHECK(write_all(fd, hdr, 4));
        CHECK(recv_eof(fd));
        close(fd);
    }
    int fd = client_connect(net_loop_port(s->loop));
    const char *http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    CHECK(write_all(fd, http, strlen(http)));
    CHECK(recv_eof(fd));
    close(fd);
    server_pause(s);
    struct net_stats st;
    net_loop_stats(s->loop, &st);
    CHECK_EQ_INT(st.frames_rejected, 4);
    CHECK_EQ_INT(st.connections, 0);
    server_stop(s);
}

static void test_abort_on_disconnect(void) {
    struct server *s = server_start();
    int fd = client_connect(net_loop_port(s->loop));
    send_frame(fd, "H", 1);
    send_frame(fd, "Ea", 2);  /* answered but stuck behind the held one */
    send_frame(fd, "H", 1);
    CHECK(wait_atomic(&s->requests, 3));
    close(fd);
    CHECK(wait_atomic(&s->aborts, 2));

    /* Aborted requests answered later, from their timers. */
    fd = client_connect(net_loop_port(s->loop));
    send_cmd(fd, 'D', 200);
    send_cmd(fd, 'D', 100);
    CHECK(wait_atomic(&s->requests, 5));
    close(fd);
    CHECK(wait_atomic(&s->aborts, 4));
    CHECK(wait_atomic(&s->late_responses, 2));

    /* The bound on requests in flight: only LIMIT_INFLIGHT_PER_CONN are read. */
    fd = client_connect(net_loop_port(s->loop));
    for (int i = 0; i < 3 * LIMIT_INFLIGHT_PER_CONN; i++) send_frame(fd, "H", 1);
    CHECK(wait_atomic(&s->requests, 5 + LIMIT_INFLIGHT_PER_CONN));
    sleep_ms(100);
    CHECK_EQ_INT(atomic_load(&s->requests), 5 + LIMIT_INFLIGHT_PER_CONN);
    close(fd);
    CHECK(wait_atomic(&s->aborts, 4 + LIMIT_INFLIGHT_PER_CONN));

    /* Pending at shutdown: aborted by net_loop_destroy. */
    fd = client_connect(net_loop_port(s->loop));
    send_frame(fd, "H", 1);
    send_cmd(fd, 'D', 100000);
    CHECK(wait_atomic(&s->requests, 7 + LIMIT_INFLIGHT_PER_CONN));
    server_stop(s);
    close(fd);
}

static void test_max_connections(void) {
    struct server *s = server_start_cfg(1024, 2, 0);
    int port = net_loop_port(s->loop);
    int a = client_connect(port), b = client_connect(port);
    echo_roundtrip(a, "Ea");
    echo_roundtrip(b, "Eb");
    int c = client_connect(port);  /* the kernel accepts; the loop closes it */
    CHECK(recv_eof(c));
    close(c);
    close(a);
    bool ok = false;
    for (int i = 0; i < 100 && !ok; i++) {
        int d = client_connect(port);
        send_frame(d, "Ed", 2);
        ok = recv_expect(d, "Ed", 2);
        close(d);
        if (!ok) sleep_ms(20);
    }
    CHECK(ok);
    echo_roundtrip(b, "Eb2");
    close(b);
    server_pause(s);
    struct net_stats st;
    net_loop_stats(s->loop, &st);
    CHECK(st.connections_rejected >= 1);
    server_stop(s);
}

static void test_idle_timeout(void) {
    struct server *s = server_start_cfg(1024, 0, 400);
    int port = net_loop_port(s->loop);
    int idle = client_connect(port);
    int busy = client_connect(port);
    int pending = client_connect(port);
    send_frame(pending, "H", 1);
    uint64_t t0 = net_now_us();
    for (int i = 0; i < 20; i++) {
        sleep_ms(50);
        echo_roundtrip(busy, "Ebusy");
    }
    CHECK(recv_eof(idle));
    uint64_t waited_ms = (net_now_us() - t0) / 1000;
    CHECK(waited_ms >= 350 && waited_ms < 3000);
    CHECK(quiet_for(pending, 100));  /* a pending request keeps it open */
    echo_roundtrip(busy, "Ebusy");
    close(idle);
    close(busy);
    close(pending);
    CHECK(wait_atomic(&s->aborts, 1));
    server_pause(s);
    struct net_stats st;
    net_loop_stats(s->loop, &st);
    CHECK_EQ_INT(st.connections_idle_closed, 1);
    server_stop(s);
}

/* A frame dribbled a byte at a time never completes a request, so the
 * bytes do not count as activity: closed at the idle timeout. */
static void test_idle_dribbled_frame(void) {
    struct server *s = server_start_cfg(1024, 0, 400);
    int port = net_loop_port(s->loop);
    int slow = client_connect(port);
    int busy = client_connect(port);
    uint8_t frame[4 + 64];
    set_be32(frame, 64);
    memset(frame + 4, 'E', 64);
    bool closed = false;
    uint32_t echoes = 0;
    for (size_t i = 0; i < sizeof(frame) && !closed; i++) {
        if (!write_all(slow, frame + i, 1)) {
            closed = true;
            break;
        }
        echo_roundtrip(busy, "Ebusy");
        echoes++;
        sleep_ms(40);
        if (!quiet_for(slow, 0)) closed = recv_eof(slow);  /* nothing but EOF may arrive */
    }
    CHECK(closed);
    echo_roundtrip(busy, "Ebusy");
    close(slow);
    close(busy);
    server_pause(s);
    struct net_stats st;
    net_loop_stats(s->loop, &st);
    CHECK_EQ_INT(st.connections_idle_closed, 1);
    CHECK_EQ_INT(st.requests, echoes + 1);  /* the busy client's echoes, never the dribbled frame */
    server_stop(s);
}

/* Answered responses the peer never reads do not keep a connection: once
 * nothing was written for the idle timeout it is closed, freeing them. */
static void test_idle_unread_responses(void) {
    struct server *s = server_start_cfg(1024, 0, 400);
    int fd = client_connect(net_loop_port(s->loop));
    for (uint32_t i = 0; i < 16; i++) send_cmd(fd, 'B', 1024 * 1024);
    sleep_ms(2000);
    server_pause(s);
    struct net_stats st;
    net_loop_stats(s->loop, &st);
    CHECK_EQ_INT(st.connections_idle_closed, 1);
    CHECK_EQ_INT(st.output_bytes_queued, 0);
    server_resume(s);
    close(fd);
    server_stop(s);
}

static void test_never_reads(void) {
    struct server *s = server_start();
    int fd = client_connect(net_loop_port(s->loop));
    /* Default socket buffers: a few MiB at most, far below the 50 MiB
     * of responses asked for. (Shrinking SO_RCVBUF after connect makes
     * loopback TCP crawl, which tests the kernel, not us.) */
    const uint32_t resp = 512 * 1024, count = 100;
    for (uint32_t i = 0; i < count; i++) send_cmd(fd, 'B', resp);
    sleep_ms(300);
    server_pause(s);
    struct net_stats st;
    net_loop_stats(s->loop, &st);
    CHECK(st.requests < count);
    CHECK(st.read_pauses >= 1);
    CHECK(st.output_bytes_queued_max <= LIMIT_CONN_OUTPUT_BYTES_MAX + resp);
    CHECK(st.output_bytes_queued <= LIMIT_CONN_OUTPUT_BYTES_MAX + resp);
    /* Reading again drains everything, in order, and reading resumes. */
    server_resume(s);
    uint8_t *want = malloc(resp);
    memset(want, 'b', resp);
    uint32_t ok = 0;
    for (uint32_t i = 0; i < count; i++) ok += recv_expect(fd, want, resp);
    CHECK_EQ_INT(ok, count);
    free(want);
    close(fd);
    server_stop(s);
}

/* Many clients at once, each pipelining a random mix and then either
 * checking every answer or hanging up early: lifetimes under ASan. */
#define STRESS_THREADS 4
#define STRESS_ROUNDS 60
#define STRESS_REQUESTS_MAX 24

struct stress {
    int port;
    unsigned seed;
    int verified;
};

static void *stress_client(void *arg) {
    struct stress *st = arg;
    for (int round = 0; round < STRESS_ROUNDS; round++) {
        int fd = client_connect(st->port);
        int n = 1 + (int)(rand_r(&st->seed) % STRESS_REQUESTS_MAX);
        uint8_t frames[STRESS_REQUESTS_MAX][16];
        uint32_t lens[STRESS_REQUESTS_MAX];
        bool answered[STRESS_REQUESTS_MAX];
        for (int i = 0; i < n; i++) {
            unsigned r = rand_r(&st->seed) % 10;
            uint8_t *f = frames[i];
            f[0] = r < 5 ? 'E' : r < 8 ? 'D' : 'N';
            set_be32(f + 1, rand_r(&st->seed) % 20);
            memset(f + 5, (uint8_t)i, 11);
            lens[i] = 5 + (uint32_t)(rand_r(&st->seed) % 12);
            answered[i] = f[0] != 'N';
            send_frame(fd, f, lens[i]);
        }
        bool hang_up = rand_r(&st->seed) % 4 == 0;
        for (int i = 0; i < n && !hang_up; i++) {
            if (!answered[i]) continue;
            bool ok = recv_expect(fd, frames[i], lens[i]);
            CHECK(ok);
            st->verified += ok;
        }
        close(fd);
    }
    return NULL;
}

static void test_stress(void) {
    struct server *s = server_start();
    pthread_t t[STRESS_THREADS];
    struct stress st[STRESS_THREADS];
    for (int i = 0; i < STRESS_THREADS; i++) {
        st[i] = (struct stress){net_loop_port(s->loop), (unsigned)i * 7919u + 1, 0};
        pthread_create(&t[i], NULL, stress_client, &st[i]);
    }
    int verified = 0;
    for (int i = 0; i < STRESS_THREADS; i++) {
        pthread_join(t[i], NULL);
        verified += st[i].verified;
    }
    CHECK(verified > 0);
    sleep_ms(100);  /* let the delayed answers to hung-up clients fire */
    server_pause(s);
    struct net_stats ns;
    net_loop_stats(s->loop, &ns);
    CHECK_EQ_INT(ns.connections_accepted, STRESS_THREADS * STRESS_ROUNDS);
    server_stop(s);
}

/* Requests parked on several connections (on different loops when there
 * are several) are answered by a request on another connection; each
 * connection still gets its answers in request order. */
static void test_cross_loop_answers(void) {
    struct server *s = server_start();
    int port = net_loop_port(s->loop);
    enum { CONNS = 5 };
    int fds[CONNS];
    for (int i = 0; i < CONNS; i++) {
        fds[i] = client_connect(port);
        echo_roundtrip(fds[i], "hello");  /* adopted by its loop and answered */
    }
    for (int i = 1; i < CONNS; i++) {
        send_cmd(fds[i], 'P', (uint32_t)i);
        send_frame(fds[i], "after", 5);
    }
    CHECK(wait_atomic(&s->requests, CONNS + 2 * (CONNS - 1)));
    CHECK(quiet_for(fds[1], 50));  /* "after" waits behind the parked request */
    send_cmd(fds[0], 'W', 0);
    uint8_t w[5] = {'W', 0, 0, 0, 0};
    CHECK(recv_expect(fds[0], w, 5));
    for (int i = 1; i < CONNS; i++) {
        uint8_t p[5] = {'P'};
        set_be32(p + 1, (uint32_t)i);
        CHECK(recv_expect(fds[i], p, 5));
        CHECK(recv_expect(fds[i], "after", 5));
    }
    if (test_loops > 1) {
        /* Round-robin: every loop got its share of the connections. */
        for (uint32_t l = 0; l < test_loops; l++) {
            struct net_stats ns;
            net_loop_stats_one(s->loop, l, &ns);
            CHECK(ns.connections_accepted >= CONNS / test_loops);
        }
    }
    /* A parked request whose connection closes is aborted, not leaked. */
    send_cmd(fds[1], 'P', 9);
    CHECK(wait_atomic(&s->requests, CONNS + 2 * (CONNS - 1) + 2));
    close(fds[1]);
    CHECK(wait_atomic(&s->aborts, 1));
    for (int i = 0; i < CONNS; i++)
        if (i != 1) close(fds[i]);
    server_stop(s);
}

static struct net_loop *signal_loop;
static void on_sigusr1(int sig) { net_loop_stop(signal_loop); }

static void *send_signal(void *arg) {
    sleep_ms(50);
    net_loop_wake(signal_loop);
    sleep_ms(50);
    kill(getpid(), SIGUSR1);
    return NULL;
}

static void test_stop_from_signal(void) {
    struct net_config cfg = {"0.0.0.0", 0, 1024, 0, 0, test_loops};
    signal_loop = net_loop_create(&cfg, nop_request, nop_abort, NULL);
    CHECK(signal_loop != NULL);
    struct sigaction sa = {.sa_handler = on_sigusr1};
    sigaction(SIGUSR1, &sa, NULL);
    pthread_t t;
    pthread_create(&t, NULL, send_signal, NULL);
    CHECK_EQ_INT(net_loop_run(signal_loop), 0);
    pthread_join(t, NULL);
    signal(SIGUSR1, SIG_DFL);
    net_loop_destroy(signal_loop);

    /* A taken port fails cleanly. */
    struct net_config a = {"127.0.0.1", 0, 1024, 0, 0, test_loops};
    struct net_loop *first = net_loop_create(&a, nop_request, nop_abort, NULL);
    struct net_config b = {"127.0.0.1", net_loop_port(first), 1024, 0, 0, test_loops};
    CHECK(net_loop_create(&b, nop_request, nop_abort, NULL) == NULL);
    struct net_config c = {"no-such-host.invalid", 0, 1024, 0, 0, test_loops};
    CHECK(net_loop_create(&c, nop_request, nop_abort, NULL) == NULL);
    net_loop_destroy(first);
}

/* An argument runs only the tests whose names contain it. */
static const char *test_filter;
#define TEST_MAYBE(fn) \
    do { if (!test_filter || strstr(#fn, test_filter)) TEST_RUN(fn); } while (0)

/* The suite, run once per loop count (names get a suffix past one loop). */
static void run_suite(uint32_t loops) {
    test_loops = loops;
    const char *suffix = loops == 1 ? "" : "_loops";
#define TEST_ONE(fn)                                                                               \
    do {                                                                                           \
        if (test_filter && !strstr(#fn, test_filter)) break;                                      \
        check_failures_current = 0;                                                                \
        fn();                                                                                      \
        printf("%s %s%s\n", check_failures_current ? "FAIL" : "PASS", #fn, suffix);                \
        fflush(stdout);                                                                            \
        check_failures_total += check_failures_current;                                            \
    } while (0)
    TEST_ONE(test_echo);
    TEST_ONE(test_out_of_order);
    TEST_ONE(test_pipeline_1000);
    TEST_ONE(test_file_ranges);
    TEST_ONE(test_null_response);
    TEST_ONE(test_respond_close);
    TEST_ONE(test_oversize_frame);
    TEST_ONE(test_bad_sizes);
    TEST_ONE(test_abort_on_disconnect);
    TEST_ONE(test_max_connections);
    TEST_ONE(test_idle_timeout);
    TEST_ONE(test_idle_dribbled_frame);
    TEST_ONE(test_idle_unread_responses);
    TEST_ONE(test_never_reads);
    TEST_ONE(test_cross_loop_answers);
    TEST_ONE(test_stress);
    TEST_ONE(test_stop_from_signal);
#undef TEST_ONE
}

int main(int argc, char **argv) {
    test_filter = argc > 1 ? argv[1] : NULL;
    log_set_level(LOG_LEVEL_WARN);
    printf("sizeof(struct net_conn)=%zu bytes per idle connection\n", sizeof(struct net_conn));
    TEST_MAYBE(test_timers);
    run_suite(1);
    run_suite(3);  /* more loops than cores here: the interleavings vary more */
    TEST_EXIT();
}
