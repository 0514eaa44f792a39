/*
 * The network layer: epoll event loops, one per core, each with its own
 * thread and connections; non-blocking sockets, size-prefixed Kafka
 * frames, requests pipelined and answered strictly in order per
 * connection, responses sent as memory plus sendfile ranges (see
 * core/obuf.h), timers for long polls and housekeeping.
 *
 * Threading. net_loop_create makes a group of cfg->loops loops; the
 * returned one (the home loop) accepts connections and hands them out
 * round-robin, and net_loop_run runs it on the calling thread and the
 * others on threads of their own. Socket I/O (reading frames, writev,
 * sendfile) runs in parallel on the loops. Every callback into the caller
 * (request, abort, timer and watch callbacks) runs with the group's
 * handler lock held, so callbacks never run concurrently, whichever loop
 * they are on, and the state they share needs no locks of its own. From a
 * callback, net_respond may answer a request of any loop's connection (it
 * reaches that loop through its inbox) and net_timer_add arms the timer on
 * the calling loop. The only calls allowed outside callbacks while the
 * loops run are net_loop_stop and net_loop_wake.
 *
 * Ownership of a request: the loop reads a whole frame, wraps it in a
 * struct net_request and hands it to the handler given at net_loop_create.
 * The handler answers now or later with net_respond() exactly once (with
 * NULL for acks=0 produce, meaning "no response"); until then the request
 * is pending and later responses on that connection wait behind it. If the
 * connection dies first, the loop calls the abort callback for each pending
 * request; the handler must drop its references and still call
 * net_respond() (which then just frees), either inside the abort callback or later.
 */
#ifndef GREGOR_NET_H
#define GREGOR_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/obuf.h"

struct net_loop;
struct net_conn;

struct net_request {
    struct net_conn *conn;       /* do not touch after net_respond */
    uint8_t *frame;              /* the request bytes, without the size prefix; owned by the request */
    uint32_t frame_len;
    struct arena arena;          /* per-request scratch, freed with the request */
    uint64_t received_us;        /* monotonic time the frame was complete */
    void *handler_state;         /* for the handler's use (e.g. a delayed-operation record) */
    bool aborted;                /* the connection is gone; the response will be dropped */
    /* private to net: */
    struct net_request *next;
    struct net_request *inbox_next;  /* answered from another loop, waiting in the owner's inbox */
    uint8_t remote;                  /* NET_REMOTE_* while in that inbox */
    struct obuf response;
    bool responded;
    bool no_response;
};

struct net_config {
    const char *host;            /* IPv4 listen address or name, e.g. "0.0.0.0", "127.0.0.1",
                                    "localhost"; NULL or "" means all interfaces */
    int port;                    /* 0 picks a free port (see net_loop_port) */
    uint32_t max_request_bytes;  /* socket.request.max.bytes: larger frames close the connection
                                    (0, or above LIMIT_FRAME_BYTES_MAX, means that limit) */
    uint32_t max_connections;    /* max.connections: further accepts are closed at once (0: no limit) */
    int64_t idle_timeout_ms;     /* connections.max.idle.ms: connections that neither completed a
                                    request nor had a response byte written for this long, and
                                    have no request waiting on a handler, are closed (<= 0: never) */
    uint32_t loops;              /* event loops, one thread each (0 means 1; at most LIMIT_NET_LOOPS_MAX) */
};

typedef void (*net_request_fn)(void *ctx, struct net_request *req);
typedef void (*net_abort_fn)(void *ctx, struct net_request *req);
typedef void (*net_timer_fn)(void *ctx);

/* Returns the home loop of a new group, or NULL and logs why on failure
 * (e.g. the port is taken). Sets
 * SIGPIPE to ignored if it still has its default action: a peer that
 * resets mid-sendfile must give EPIPE, not kill the broker. */
struct net_loop *net_loop_create(const struct net_config *cfg, net_request_fn on_request,
                                 net_abort_fn on_abort, void *ctx);
int net_loop_port(const struct net_loop *loop);
uint32_t net_loop_count(const struct net_loop *loop);
/* Runs every loop of the group until net_loop_stop (the home loop on this
 * thread); returns 0, or -1 on a fatal poller error in any loop. */
int net_loop_run(struct net_loop *loop);
/* Safe from signal handlers and other threads. */
void net_loop_stop(struct net_loop *loop);
/* Safe from other threads: wakes the home loop (only), which then runs
 * what is due. */
void net_loop_wake(struct net_loop *loop);
/* Closes every connection of every loop (aborting pending requests) and
 * frees the group; not while it runs. */
void net_loop_destroy(struct net_loop *loop);

/* Queue the response for req; resp's contents are moved into the request
 * (resp is left empty). resp == NULL means no response bytes are sent
 * (acks=0), but ordering is still kept. The payload must NOT include the
 * 4-byte size prefix; the net layer writes it. Frees req once sent. */
void net_respond(struct net_request *req, struct obuf *resp);
/* Close the connection after the responses before this request are sent,
 * without answering it (used for unparseable requests). */
void net_respond_close(struct net_request *req);

/* Monotonic clock in microseconds / wall clock in milliseconds. */
/* A non-blocking listening IPv4 socket on host:port. host: empty for every
 * interface, an IPv4 literal, or a name (its first IPv4 address). Port 0
 * picks a free port; the bound port goes to *port_out. Returns the
 * descriptor, or -1 (logged). Used by every listener, so they agree on
 * what a host means. */
int net_listen_socket(const char *host, int port, int backlog, int *port_out);

uint64_t net_now_us(void);
int64_t net_wall_ms(void);

/* One-shot timer; returns an id > 0, or 0 if the timer table is full.
 * From a callback it runs on the calling loop (whatever loop is passed:
 * a long poll times out where its connection lives); elsewhere on `loop`. */
uint64_t net_timer_add(struct net_loop *loop, uint64_t delay_ms, net_timer_fn fn, void *ctx);
void net_timer_cancel(struct net_loop *loop, uint64_t id);

/* Generic descriptor watches, for the few non-Kafka sockets that share the
 * loop (the HTTP admin listener and its connections). The callback gets
 * NET_WATCH_* bits; errors and hang-ups arrive as NET_WATCH_READ (so the
 * owner's read sees them) plus NET_WATCH_ERROR (so an owner waiting to
 * write can give up). The loop never closes a watched descriptor. */
enum { NET_WATCH_READ = 1, NET_WATCH_WRITE = 2, NET_WATCH_ERROR = 4 };
typedef void (*net_watch_fn)(void *ctx, uint32_t events);
/* Returns a watch id >= 0, or -1 when the watch table is full or epoll fails (logged). */
int net_watch_add(struct net_loop *loop, int fd, uint32_t events, net_watch_fn fn, void *ctx);
int net_watch_modify(struct net_loop *loop, int id, uint32_t events);
void net_watch_remove(struct net_loop *loop, int id);

/* Connection facts for logging and metrics. */
const char *net_conn_peer(const struct net_conn *conn);
/* File ranges in this connection's answered-but-unsent responses (from a
 * callback: answers still in an inbox count too). */
uint32_t net_conn_file_ranges_queued(const struct net_conn *conn);
uint32_t net_loop_connection_count(const struct net_loop *loop);

/* Counters since net_loop_create, for metrics, summed over the group's
 * loops (each loop writes its own with relaxed atomic stores, so they may
 * be read from any thread at any time). */
struct net_stats {
    uint64_t connections_accepted;   /* sockets accepted and kept */
    uint64_t connections_rejected;   /* closed at once: over max_connections */
    uint64_t connections_closed;     /* for any reason, after being accepted */
    uint64_t connections_idle_closed;
    uint64_t connections_peer_closed;   /* the client closed or reset */
    uint64_t connections_handler_closed;/* net_respond_close: a request the broker refused */
    uint64_t frames_rejected;        /* bad size prefix: connection closed */
    uint64_t requests;               /* frames handed to the request handler */
    uint64_t requests_aborted;       /* pending when their connection died */
    uint64_t responses;              /* responses fully written */
    uint64_t bytes_in;
    uint64_t bytes_out;              /* including sendfile bytes */
    uint64_t read_pauses;            /* times a connection hit a bound and stopped being read */
    uint32_t connections;            /* open now */
    uint32_t timers;                 /* armed now */
    uint64_t output_bytes_queued;    /* response memory waiting to be written, all connections */
    uint64_t output_bytes_queued_max;/* the most ever waiting on one connection */
};
void net_loop_stats(const struct net_loop *loop, struct net_stats *out);
/* The same for loop i of the group only (0 is the home loop). */
void net_loop_stats_one(const struct net_loop *loop, uint32_t i, struct net_stats *out);

#endif
