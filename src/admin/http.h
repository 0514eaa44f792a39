/*
 * A small HTTP/1.1 server on the broker's event loop, for the admin
 * endpoints (/metrics, /health/..., /v1/status). It serves one GET or HEAD
 * per connection and closes it ("Connection: close"): scrapers and probes
 * open a connection per request anyway, and it keeps the server tiny.
 *
 * Hostile input is expected (the Kafka listener's rule): the request head
 * is bounded (LIMIT_ADMIN_REQUEST_HEAD_BYTES_MAX, else 431), must arrive
 * within ADMIN_REQUEST_TIMEOUT_MS of the connection (slow senders get 408
 * and are cut off), connections are capped (LIMIT_ADMIN_CONNECTIONS_MAX, further ones
 * get 503), and anything malformed gets 400/404/405/413/414/501/505 and a
 * closed connection. Bytes after the head (pipelined requests, bodies)
 * are never read.
 *
 * Threading: everything runs on the loop thread.
 */
#ifndef GREGOR_ADMIN_HTTP_H
#define GREGOR_ADMIN_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/obuf.h"
#include "net/net.h"

/* ---- the request parser (pure, fuzzed by fuzz/fuzz_http.c) ---- */

enum http_method { HTTP_GET, HTTP_HEAD };

struct http_request {
    enum http_method method;
    const char *path;      /* into the parsed buffer, NUL-terminated by the parser, without the query */
    size_t path_len;
};

/* Parses a request head in buf[0..len). Returns 0 when the head is
 * complete and acceptable (*req filled, buf modified: the path is
 * NUL-terminated in place), 1 when more bytes are needed, or an HTTP
 * status code (400, 405, 413, 414, 431, 501, 505) for a bad request.
 * len may exceed the head; only the head is looked at. */
int http_parse_request(char *buf, size_t len, struct http_request *req);

/* ---- the server ---- */

struct http_response {
    int status;
    const char *content_type;
    struct obuf body;            /* bounded by LIMIT_ADMIN_RESPONSE_BYTES_MAX */
};

/* Fills resp (status 200 and a body, or another status). Called on the loop thread. */
typedef void (*http_handler_fn)(void *ctx, const struct http_request *req, struct http_response *resp);

struct http_server;

/* Listens on host:port (port 0: any free port). NULL on failure (logged). */
struct http_server *http_server_create(struct net_loop *loop, const char *host, int port, http_handler_fn fn,
                                       void *ctx);
int http_server_port(const struct http_server *srv);
/* Closes the listener and every connection; before net_loop_destroy. */
void http_server_destroy(struct http_server *srv);

struct http_stats {
    uint64_t requests;            /* heads parsed and answered */
    uint64_t bad_requests;        /* answered with a 4xx/5xx by the parser or the cap */
    uint64_t timeouts;            /* closed for not sending a head in time */
    uint32_t connections;         /* open now */
};
void http_server_stats(const struct http_server *srv, struct http_stats *out);

const char *http_status_text(int status);

#endif
