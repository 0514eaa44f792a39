/*
 * The admin HTTP server: request-head parsing and the connection life
 * cycle on the broker's loop (see http.h for the rules it enforces).
 *
 * A connection goes READING (collecting the head) -> WRITING (status line,
 * headers, body) -> LINGERING (our side shut down; the rest of what the
 * client sent is read and dropped until it closes) -> closed. Lingering
 * matters: closing a socket with unread input makes the kernel send a
 * reset, which can destroy the response before the client has read it
 * (pipelined junk after a bad request would otherwise hide the 400).
 */
#include "admin/http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/assert.h"
#include "core/limits.h"
#include "core/log.h"

/* The longest request path served; our paths are short. */
#define ADMIN_PATH_BYTES_MAX 1024
/* Header lines per request. */
#define ADMIN_REQUEST_HEADERS_MAX 64
/* A client must send its whole head within this time of connecting. */
#define ADMIN_REQUEST_TIMEOUT_MS 5000
/* A response the client does not read for this long is abandoned. */
#define ADMIN_WRITE_STALL_MS 10000
/* The whole response must be delivered within this time of starting to
 * write it: otherwise clients reading one byte now and then (each read
 * restarting the stall clock) could hold every admin slot forever. The
 * largest response (LIMIT_ADMIN_RESPONSE_BYTES_MAX) takes well under a
 * second on any real link. */
#define ADMIN_WRITE_TOTAL_MS 30000
/* After the response: how long and how much input is drained before closing. */
#define ADMIN_LINGER_MS 2000
#define ADMIN_LINGER_BYTES_MAX (256 * 1024)
/* Timeout checks run this often. */
#define ADMIN_SWEEP_INTERVAL_MS 250
/* Connections accepted per listener readiness. */
#define ADMIN_ACCEPT_BUDGET 16
#define ADMIN_LISTEN_BACKLOG 64
/* Kernel send buffer of an admin connection. The response is already
 * held whole in memory (the obuf); letting the kernel copy megabytes more
 * per slow reader only doubles it, and hides from the write deadlines a
 * reader that is not reading. */
#define ADMIN_SOCKET_SNDBUF_BYTES (64 * 1024)
/* Status line and headers of a response. */
#define ADMIN_RESPONSE_HEAD_BYTES_MAX 512

#define HTTP_ASSERT(cond) ASSERT_ALWAYS("admin", cond)

/* ------------------------------------------------------------------ parser */

static bool is_tchar(unsigned char c) {
    if (c >= 'a' && c <= 'z') return true;
    if (c >= 'A' && c <= 'Z') return true;
    if (c >= '0' && c <= '9') return true;
    return strchr("!#$%&'*+-.^_`|~", c) != NULL && c != 0;
}

/* The next line in [p, end): returns its end (the LF), NULL if none yet. A
 * NUL, or a CR not followed by LF, is an error (*bad set); a CR that is the
 * last byte received so far may still get its LF. */
static char *line_end(char *p, char *end, bool *bad) {
    for (char *q = p; q < end; q++) {
        if (*q == '\n') return q;
        bool lone_cr = *q == '\r' && q + 1 < end && q[1] != '\n';
        if (*q == '\0' || lone_cr) {
            *bad = true;
            return NULL;
        }
    }
    return NULL;
}

/* Length of the line without its CR LF (or bare LF). */
static size_t line_len(const char *start, const char *lf) {
    size_t n = (size_t)(lf - start);
    if (n > 0 && start[n - 1] == '\r') n--;
    return n;
}

static bool header_is(const char *line, size_t name_len, const char *name) {
    return strlen(name) == name_len && strncasecmp(line, name, name_len) == 0;
}

static int parse_request_line(char *line, size_t n, struct http_request *req) {
    size_t m = 0;
    while (m < n && is_tchar((unsigned char)line[m])) m++;
    if (m == 0 || m >= n || line[m] != ' ') return 400;
    bool get = m == 3 && memcmp(line, "GET", 3) == 0;
    bool head = m == 4 && memcmp(line, "HEAD", 4) == 0;
    char *target = line + m + 1;
    char *sp = memchr(target, ' ', n - m - 1);
    if (!sp) return 400;
    size_t target_len = (size_t)(sp - target);
    const char *version = sp + 1;
    size_t version_len = n - (size_t)(version - line);
    if (version_len != 8 || memcmp(version, "HTTP/", 5) != 0 || version[6] != '.' ||
        version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9')
        return 400;
    if (version[5] != '1') return 505;
    if (target_len == 0 || target[0] != '/') return 400;
    if (target_len > ADMIN_PATH_BYTES_MAX) return 414;
    for (size_t i = 0; i < target_len; i++)
        if ((unsigned char)target[i] <= 0x20 || (unsigned char)target[i] >= 0x7f) return 400;
    if (!get && !head) return 405;
    char *query = memchr(target, '?', target_len);
    if (query) target_len = (size_t)(query - target);
    req->method = get ? HTTP_GET : HTTP_HEAD;
    req->path = target;
    req->path_len = target_len;
    return 0;
}

static int parse_header(const char *line, size_t n) {
    if (n > 0 && (line[0] == ' ' || line[0] == '\t')) return 400;  /* obsolete line folding */
    size_t m = 0;
    while (m < n && is_tchar((unsigned char)line[m])) m++;
    if (m == 0 || m >= n || line[m] != ':') return 400;
    const char *value = line + m + 1;
    size_t value_len = n - m - 1;
    while (value_len > 0 && (*value == ' ' || *value == '\t')) {
        value++;
        value_len--;
    }
    /* We take no request bodies: announcing one is refused rather than
     * leaving its bytes to be mistaken for a next request. */
    if (header_is(line, m, "Transfer-Encoding")) return 501;
    if (header_is(line, m, "Content-Length")) {
        for (size_t i = 0; i < value_len; i++)
            if (value[i] != '0' && value[i] != ' ' && value[i] != '\t') return value[i] >= '0' && value[i] <= '9' ? 413 : 400;
    }
    return 0;
}

int http_parse_request(char *buf, size_t len, struct http_request *req) {
    if (len > LIMIT_ADMIN_REQUEST_HEAD_BYTES_MAX) len = LIMIT_ADMIN_REQUEST_HEAD_BYTES_MAX;
    char *end = buf + len;
    bool bad = false;
    char *lf = line_end(buf, end, &bad);
    if (bad) return 400;
    if (!lf) return len >= LIMIT_ADMIN_REQUEST_HEAD_BYTES_MAX ? 431 : 1;
    /* The request line is judged as soon as it is complete, so garbage is
     * refused without waiting for a head that may never end. */
    struct http_request parsed;
    int rc = parse_request_line(buf, line_len(buf, lf), &parsed);
    if (rc != 0) return rc;
    int headers = 0;
    for (char *p = lf + 1;;) {
        char *next = line_end(p, end, &bad);
        if (bad) return 400;
        if (!next) return len >= LIMIT_ADMIN_REQUEST_HEAD_BYTES_MAX ? 431 : 1;
        size_t n = line_len(p, next);
        if (n == 0) break;  /* the blank line ending the head */
        if (++headers > ADMIN_REQUEST_HEADERS_MAX) return 431;
        if ((rc = parse_header(p, n)) != 0) return rc;
        p = next + 1;
    }
    /* Only now: an incomplete head is parsed again from the start and
     * must still look as received. The byte is the space or '?' after the path. */
    ((char *)parsed.path)[parsed.path_len] = '\0';
    *req = parsed;
    return 0;
}

const char *http_status_text(int status) {
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
    }
}

/* ------------------------------------------------------------------ server */

enum conn_phase { PHASE_READING, PHASE_WRITING, PHASE_LINGERING };

struct http_conn {
    struct http_server *srv;
    int fd;                    /* -1: slot free */
    int watch;
    enum conn_phase phase;
    char *head;                /* LIMIT_ADMIN_REQUEST_HEAD_BYTES_MAX + 1, while reading */
    size_t head_len;
    char resp_head[ADMIN_RESPONSE_HEAD_BYTES_MAX];
    size_t resp_head_len;
    struct obuf body;
    size_t sent;               /* of resp_head then body */
    size_t drained;
    uint64_t opened_us;
    uint64_t phase_us;         /* when the current phase began; while writing, the last progress */
    uint64_t writing_since_us; /* when writing the response began */
};

struct http_server {
    struct net_loop *loop;
    int listen_fd;
    int listen_watch;
    int port;
    http_handler_fn fn;
    void *ctx;
    uint64_t sweep_timer;
    struct http_conn conns[LIMIT_ADMIN_CONNECTIONS_MAX];
    struct http_stats stats;
};

static void conn_close(struct http_conn *c) {
    if (c->fd < 0) return;
    net_watch_remove(c->srv->loop, c->watch);
    close(c->fd);
    free(c->head);
    obuf_free(&c->body);
    c->head = NULL;
    c->fd = -1;
    c->srv->stats.connections--;
}

static void conn_linger(struct http_conn *c) {
    shutdown(c->fd, SHUT_WR);
    c->phase = PHASE_LINGERING;
    c->phase_us = net_now_us();
    if (net_watch_modify(c->srv->loop, c->watch, NET_WATCH_READ) != 0) conn_close(c);
}

static void conn_write(struct http_conn *c) {
    for (;;) {
        struct iovec iov[2];
        int n = 0;
        if (c->sent < c->resp_head_len)
            iov[n++] = (struct iovec){c->resp_head + c->sent, c->resp_head_len - c->sent};
        size_t body_sent = c->sent > c->resp_head_len ? c->sent - c->resp_head_len : 0;
        if (body_sent < c->body.len) iov[n++] = (struct iovec){c->body.data + body_sent, c->body.len - body_sent};
        if (n == 0) return conn_linger(c);
        ssize_t w = writev(c->fd, iov, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                if (net_watch_modify(c->srv->loop, c->watch, NET_WATCH_WRITE) != 0) conn_close(c);
                return;
            }
            return conn_close(c);
        }
        c->sent += (size_t)w;
        c->phase_us = net_now_us();
    }
}

/* Starts sending resp (its body moves into the connection). */
static void conn_respond(struct http_conn *c, struct http_response *resp, bool head_only) {
    free(c->head);
    c->head = NULL;
    bool body_ok = !obuf_failed(&resp->body);
    if (!body_ok) {
        log_error("admin", "response too large, answering 500 limit_bytes=%d", LIMIT_ADMIN_RESPONSE_BYTES_MAX);
        obuf_free(&resp->body);
        obuf_init(&resp->body, LIMIT_ADMIN_RESPONSE_BYTES_MAX);
        resp->status = 500;
        resp->content_type = NULL;
    }
    if (resp->status != 200 && resp->body.len == 0) {
        const char *text = http_status_text(resp->status);
        obuf_put(&resp->body, text, strlen(text));
        obuf_put(&resp->body, "\n", 1);
    }
    int n = snprintf(c->resp_head, sizeof(c->resp_head),
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
                     "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
                     resp->status, http_status_text(resp->status),
                     resp->content_type ? resp->content_type : "text/plain; charset=utf-8", resp->body.len,
                     resp->status == 405 ? "Allow: GET, HEAD\r\n" : "");
    HTTP_ASSERT(n > 0 && (size_t)n < sizeof(c->resp_head));
    c->resp_head_len = (size_t)n;
    c->body = resp->body;
    if (head_only) c->body.len = 0;  /* the memory is still freed with the obuf */
    obuf_init(&resp->body, 0);
    c->sent = 0;
    c->phase = PHASE_WRITING;
    c->phase_us = c->writing_since_us = net_now_us();
    conn_write(c);
}

static void conn_respond_status(struct http_conn *c, int status) {
    struct http_response resp = {.status = status};
    obuf_init(&resp.body, LIMIT_ADMIN_RESPONSE_BYTES_MAX);
    c->srv->stats.bad_requests++;
    conn_respond(c, &resp, false);
    obuf_free(&resp.body);
}

static void conn_serve(struct http_conn *c, const struct http_request *req) {
    struct http_response resp = {.status = 200};
    obuf_init(&resp.body, LIMIT_ADMIN_RESPONSE_BYTES_MAX);
    c->srv->stats.requests++;
    c->srv->fn(c->srv->ctx, req, &resp);
    conn_respond(c, &resp, req->method == HTTP_HEAD);
    obuf_free(&resp.body);
}

static void conn_read(struct http_conn *c) {
    for (;;) {
        size_t room = LIMIT_ADMIN_REQUEST_HEAD_BYTES_MAX - c->head_len;
        if (room == 0) return conn_respond_status(c, 431);
        ssize_t r = read(c->fd, c->head + c->head_len, room);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (r <= 0) return conn_close(c);
        c->head_len += (size_t)r;
        c->head[c->head_len] = '\0';
        struct http_request req;
        int rc = http_parse_request(c->head, c->head_len, &req);
        if (rc == 1) continue;
        if (rc != 0) return conn_respond_status(c, rc);
        return conn_serve(c, &req);
    }
}

static void conn_drain(struct http_conn *c) {
    char sink[4096];
    for (;;) {
        ssize_t r = read(c->fd, sink, sizeof(sink));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (r <= 0) return conn_close(c);
        c->drained += (size_t)r;
        if (c->drained > ADMIN_LINGER_BYTES_MAX) return conn_close(c);
    }
}

static void conn_event(void *ctx, uint32_t events) {
    struct http_conn *c = ctx;
    if (c->fd < 0) return;
    switch (c->phase) {
    case PHASE_READING:
        if (events & NET_WATCH_READ) conn_read(c);
        break;
    case PHASE_WRITING:
        /* Input past the head stays unread until lingering; an error or
         * hang-up means the answer can no longer be delivered. */
        if (events & NET_WATCH_ERROR) conn_close(c);
        else if (events & NET_WATCH_WRITE) conn_write(c);
        break;
    case PHASE_LINGERING: conn_drain(c); break;
    }
}

static void refuse_busy(struct http_server *srv, int fd) {
    static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    ssize_t ignored = send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)ignored;
    close(fd);
    srv->stats.bad_requests++;
}

static void accept_some(void *ctx, uint32_t events) {
    struct http_server *srv = ctx;
    (void)events;
    for (int i = 0; i < ADMIN_ACCEPT_BUDGET; i++) {
        int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) log_warn("admin", "accept failed error=\"%s\"", strerror(errno));
            return;
        }
        struct http_conn *c = NULL;
        for (int k = 0; k < LIMIT_ADMIN_CONNECTIONS_MAX && !c; k++)
            if (srv->conns[k].fd < 0) c = &srv->conns[k];
        char *head = c ? malloc(LIMIT_ADMIN_REQUEST_HEAD_BYTES_MAX + 1) : NULL;
        if (!head) {
            refuse_busy(srv, fd);
            continue;
        }
        int sndbuf = ADMIN_SOCKET_SNDBUF_BYTES;
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
        *c = (struct http_conn){.srv = srv, .fd = fd, .phase = PHASE_READING, .head = head};
        obuf_init(&c->body, 0);
        c->opened_us = c->phase_us = net_now_us();
        c->watch = net_watch_add(srv->loop, fd, NET_WATCH_READ, conn_event, c);
        srv->stats.connections++;
        if (c->watch < 0) {
            c->watch = -1;
            conn_close(c);
        }
    }
}

static void sweep(void *ctx) {
    struct http_server *srv = ctx;
    uint64_t now = net_now_us();
    for (int i = 0; i < LIMIT_ADMIN_CONNECTIONS_MAX; i++) {
        struct http_conn *c = &srv->conns[i];
        if (c->fd < 0) continue;
        uint64_t age_ms = (now - c->phase_us) / 1000;
        if (c->phase == PHASE_READING && age_ms >= ADMIN_REQUEST_TIMEOUT_MS) {
            srv->stats.timeouts++;
            conn_respond_status(c, 408);
        } else if (c->phase == PHASE_WRITING &&
                   (age_ms >= ADMIN_WRITE_STALL_MS || (now - c->writing_since_us) / 1000 >= ADMIN_WRITE_TOTAL_MS)) {
            conn_close(c);
        } else if (c->phase == PHASE_LINGERING && age_ms >= ADMIN_LINGER_MS) {
            conn_close(c);
        }
    }
    srv->sweep_timer = net_timer_add(srv->loop, ADMIN_SWEEP_INTERVAL_MS, sweep, srv);
}

struct http_server *http_server_create(struct net_loop *loop, const char *host, int port, http_handler_fn fn,
                                       void *ctx) {
    struct http_server *srv = calloc(1, sizeof(*srv));
    if (!srv) return NULL;
    srv->loop = loop;
    srv->fn = fn;
    srv->ctx = ctx;
    srv->listen_watch = -1;
    for (int i = 0; i < LIMIT_ADMIN_CONNECTIONS_MAX; i++) srv->conns[i].fd = -1;
    srv->listen_fd = net_listen_socket(host, port, ADMIN_LISTEN_BACKLOG, &srv->port);
    if (srv->listen_fd < 0) {
        free(srv);
        return NULL;
    }
    srv->listen_watch = net_watch_add(loop, srv->listen_fd, NET_WATCH_READ, accept_some, srv);
    srv->sweep_timer = net_timer_add(loop, ADMIN_SWEEP_INTERVAL_MS, sweep, srv);
    if (srv->listen_watch < 0 || !srv->sweep_timer) {
        http_server_destroy(srv);
        return NULL;
    }
    log_info("admin", "listening host=%s port=%d", host, srv->port);
    return srv;
}

int http_server_port(const struct http_server *srv) { return srv->port; }

void http_server_destroy(struct http_server *srv) {
    if (!srv) return;
    for (int i = 0; i < LIMIT_ADMIN_CONNECTIONS_MAX; i++) conn_close(&srv->conns[i]);
    if (srv->sweep_timer) net_timer_cancel(srv->loop, srv->sweep_timer);
    net_watch_remove(srv->loop, srv->listen_watch);
    if (srv->listen_fd >= 0) close(srv->listen_fd);
    free(srv);
}

void http_server_stats(const struct http_server *srv, struct http_stats *out) { *out = srv->stats; }
