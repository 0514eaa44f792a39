/*
 * Private to src/net: the loop and connection structs shared by loop.c,
 * conn.c and timer.c. Nothing outside src/net includes this, except the
 * network unit test, which checks sizes and invariants.
 *
 * Threading: every field of a loop and its connections is owned by the
 * loop's thread, except
 *   - stop_requested and wake_fd (signal handlers and other threads);
 *   - the timer table, the inbox and the adoption list, which any thread
 *     touches only with the group's handler lock held (net_lock);
 *   - stats, written by the owner with relaxed atomic stores and read
 *     from anywhere (NET_STAT_ADD);
 *   - a connection's fd, loop, closing flag and request queue once it is
 *     closed: net_conn_close changes them with the lock held, and from then
 *     on only net_respond (always called with the lock held) touches them.
 */
#ifndef GREGOR_NET_INTERNAL_H
#define GREGOR_NET_INTERNAL_H

#include "core/assert.h"
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/limits.h"
#include "core/log.h"
#include "net/net.h"

/* Bytes read from a socket in one read(2): big enough to take many small
 * pipelined requests per system call, small enough to keep per loop. */
#define NET_READ_SCRATCH_BYTES (64 * 1024)

/* A frame with at least this much still to come is read straight into its
 * own buffer instead of through the scratch buffer, saving a copy. */
#define NET_DIRECT_READ_BYTES_MIN (16 * 1024)

/* Bytes one connection may read or write per readiness event before the
 * loop moves on to the others; level-triggered epoll brings it back. */
#define NET_READ_BUDGET_BYTES (1024 * 1024)
#define NET_WRITE_BUDGET_BYTES (4 * 1024 * 1024)

/* iovecs gathered into one writev: several small pipelined responses go
 * out in one system call (each takes up to three: prefix, memory, and a
 * split at a file range ends the batch). Well under IOV_MAX (1024). */
#define NET_WRITE_IOV_MAX 64

/* Bytes handed to one sendfile(2) call; the kernel caps a call at
 * 0x7ffff000 anyway, and smaller calls let other connections in. */
#define NET_SENDFILE_CHUNK_BYTES (1024 * 1024)

/* Events taken from one epoll_wait. */
#define NET_EPOLL_EVENTS_MAX 256

/* Connections accepted per readiness of the listening socket before other
 * events get a turn (the home loop accepts for the whole group). */
#define NET_ACCEPT_BUDGET 64

/* listen(2) backlog; the kernel clamps it to net.core.somaxconn. */
#define NET_LISTEN_BACKLOG 1024

/* Idle-connection sweep period; shorter when the idle timeout itself is
 * short (tests), so a connection is closed within ~1.5x its timeout. */
#define NET_SWEEP_INTERVAL_MS 1000
#define NET_SWEEP_INTERVAL_MS_MIN 10

/* After accept fails for lack of file descriptors, the listening socket is
 * ignored this long: with level-triggered epoll it would otherwise wake
 * the loop in a busy spin. */
#define NET_ACCEPT_PAUSE_MS 100

/* "Too many connections" is logged at most once per this period. */
#define NET_REJECT_LOG_INTERVAL_US (1000 * 1000)

/* The longest delay a timer accepts; longer requests are clamped (a month
 * is beyond any Kafka timeout and keeps deadline arithmetic far from overflow). */
#define NET_TIMER_DELAY_MS_MAX (31ULL * 24 * 3600 * 1000)

/* First allocation of the timer table; it doubles up to LIMIT_NET_TIMERS_MAX. */
#define NET_TIMERS_INITIAL 256

/* Generic descriptor watches (net_watch_add): the admin listener and its
 * connections, bounded by LIMIT_ADMIN_CONNECTIONS_MAX, plus headroom. */
#define NET_WATCHES_MAX 64
_Static_assert(NET_WATCHES_MAX > LIMIT_ADMIN_CONNECTIONS_MAX, "the admin listener and its connections must fit");

/* "255.255.255.255:65535" plus NUL. */
#define NET_PEER_TEXT_BYTES 24

#define NET_ASSERT(cond) ASSERT_ALWAYS("net", cond)

/* Counters are written only by their own loop and summed by readers on
 * other threads: a relaxed atomic store (a plain mov on x86, no locked
 * instruction) keeps that free of data races. */
#define NET_STAT_ADD(loop, field, n) \
    __atomic_store_n(&(loop)->stats.field, (loop)->stats.field + (n), __ATOMIC_RELAXED)
#define NET_STAT_SUB(loop, field, n) \
    __atomic_store_n(&(loop)->stats.field, (loop)->stats.field - (n), __ATOMIC_RELAXED)

/* Why a request sits in a loop's inbox: answered by a callback running on
 * another loop, to be applied by its own loop. */
enum { NET_REMOTE_NONE_YET = 0, NET_REMOTE_RESPONSE, NET_REMOTE_NO_RESPONSE, NET_REMOTE_CLOSE };

/* ---- timers (timer.c) ---- */

struct net_timer_slot {
    uint64_t deadline_us;
    uint64_t seq;        /* ties on deadline fire in the order they were added */
    net_timer_fn fn;
    void *ctx;
    uint32_t heap_pos;   /* NET_TIMER_FREE when the slot is unused */
    uint32_t gen;        /* bumped on every release, so stale ids do nothing */
};

#define NET_TIMER_FREE UINT32_MAX

/* A binary min-heap of slot numbers ordered by (deadline, seq); the slots
 * stay put so an id (generation << 32 | slot + 1) finds its timer in O(1)
 * and cancel is O(log n). */
struct net_timers {
    struct net_timer_slot *slots;
    uint32_t *heap;
    uint32_t *free_slots;   /* stack of unused slot numbers */
    uint32_t cap;
    uint32_t len;           /* armed timers = heap entries */
    uint32_t free_len;
    uint64_t next_seq;
    uint64_t next_deadline_us;  /* published for lock-free reads: UINT64_MAX when none */
    uint32_t armed;             /* len, published for the counters */
};

void net_timers_init(struct net_timers *t);
void net_timers_free(struct net_timers *t);
/* Milliseconds until the next deadline, rounded up, for epoll_wait; -1 if
 * none. This and net_timers_due read the published deadline: no lock. */
int net_timers_wait_ms(const struct net_timers *t, uint64_t now_us);
bool net_timers_due(const struct net_timers *t, uint64_t now_us);
/* Runs the timers due at now_us; a timer added meanwhile waits for the next
 * call even when already due, so a callback re-arming itself cannot spin. */
void net_timers_run(struct net_timers *t, uint64_t now_us);

/* ---- connections (conn.c) ---- */

/* Why a connection is on the loop's to-do list. */
enum {
    NET_TODO_FLUSH = 1,  /* a response became sendable */
    NET_TODO_READ = 2,   /* reading may resume and bytes are stashed */
};

/* Position inside one response: the 4-byte size prefix, then memory and
 * file ranges interleaved as the obuf's mem_pos values say. */
struct net_out_cursor {
    size_t mem;          /* memory bytes sent */
    uint32_t file;       /* file ranges completely sent */
    uint32_t file_off;   /* bytes sent of range `file` */
    uint8_t prefix;      /* size-prefix bytes sent, 0..4 */
};

struct net_conn {
    struct net_loop *loop;        /* NULL once closed */
    int fd;                       /* -1 once closed */
    uint32_t ev_mask;             /* epoll interest as registered */
    struct net_conn *prev, *next; /* loop's open connections, least recently active first */
    struct net_conn *todo_prev, *todo_next;
    uint8_t todo;                 /* NET_TODO_* bits; non-zero iff on the to-do list */
    bool want_write;              /* the socket was full: wait for EPOLLOUT */
    bool closing;                 /* inside conn_close, running abort callbacks */
    uint64_t active_us;           /* last request received or response byte written */

    /* input: a size prefix in progress, then a frame in progress */
    uint8_t hdr[4];
    uint8_t hdr_len;
    struct net_request *cur;      /* allocated once the size is known */
    uint32_t cur_len;             /* frame bytes received so far */
    uint8_t *stash;               /* bytes read past a bound, replayed first; NULL normally */
    uint32_t stash_len, stash_off;

    /* requests in arrival order; only the head may be written */
    struct net_request *head, *tail;
    uint32_t queue_len;
    struct net_request *close_at;  /* first request answered by net_respond_close */
    uint64_t out_bytes;           /* response memory bytes queued */
    uint32_t out_files;           /* file ranges (each holding a descriptor) queued */
    uint32_t inbox_files;         /* file ranges of answers waiting in the inbox (handler lock) */

    struct net_out_cursor out;    /* how far the head response has been written */

    char peer[NET_PEER_TEXT_BYTES];
};

struct net_watch {
    int fd;              /* -1 when the slot is free */
    net_watch_fn fn;
    void *ctx;
};

/* A connection accepted by the home loop for another loop, waiting for
 * that loop to register it. Bounded by max.connections (counted at accept). */
struct net_adopt {
    struct net_adopt *next;
    int fd;
    char peer[NET_PEER_TEXT_BYTES];
};

/* The loops of one broker and what they share. */
struct net_group {
    pthread_mutex_t lock;         /* the handler lock: held around every callback (net_lock) */
    uint32_t count;
    struct net_loop *loops[LIMIT_NET_LOOPS_MAX];  /* [0] is the home loop */
    atomic_uint connections;      /* open in all loops, for max_connections */
    atomic_bool running;          /* between net_loop_run's start and its last join */
    uint32_t next_loop;           /* round-robin for accepted connections (home loop only) */
    int port;
};

struct net_loop {
    struct net_group *group;
    uint32_t index;               /* in group->loops, and in the timer ids it hands out */
    int epfd;
    int listen_fd;                /* the group's, on the home loop only; -1 elsewhere */
    int wake_fd;
    atomic_int stop_requested;    /* lock-free, so fine from both signal handlers and threads */
    bool listen_paused;

    uint32_t max_request_bytes;
    uint32_t max_connections;     /* 0: no limit */
    int64_t idle_timeout_ms;      /* <= 0: never */
    uint64_t sweep_timer;
    uint64_t last_reject_log_us;

    net_request_fn on_request;
    net_abort_fn on_abort;
    void *ctx;

    struct net_conn *conns_head, *conns_tail;  /* open, least recently active first */
    struct net_conn *todo_head, *todo_tail;
    uint32_t todo_len;

    struct net_timers timers;     /* under the handler lock: other loops cancel timers here */
    struct net_watch watches[NET_WATCHES_MAX];  /* epoll data points into this array */
    uint8_t *scratch;             /* NET_READ_SCRATCH_BYTES */
    struct net_stats stats;
    uint64_t out_bytes_total;     /* response memory queued on this loop's connections */

    /* Under the handler lock: answers given on other loops, applied by this
     * loop (net_inbox_apply). Under adopt_lock (never the handler lock, so
     * accepting does not wait for a slow handler): connections accepted for
     * this loop. Intrusive lists, so bounded without a limit of their own: a
     * request is in at most one inbox once (LIMIT_INFLIGHT_PER_CONN per
     * connection), an adoption is a connection counted against
     * max.connections. The flags are hints read without a lock; whoever
     * sets one from false writes the wake fd. */
    struct net_request *inbox_head, *inbox_tail;
    atomic_bool inbox_pending;
    pthread_mutex_t adopt_lock;
    struct net_adopt *adopt_head, *adopt_tail;
    atomic_bool adopt_pending;
    pthread_t thread;             /* loops other than the home loop, while running */
    bool thread_started;
};

/* The handler lock, recursive per thread (a callback may close a
 * connection, whose aborts take it again). */
void net_lock(struct net_loop *loop);
void net_unlock(struct net_loop *loop);
bool net_lock_held(void);
/* Timer and watch tables may be touched from callbacks, or by anyone while
 * the group does not run (setting up, tearing down). */
#define NET_ASSERT_MAY_TOUCH_TABLES(loop) \
    NET_ASSERT(net_lock_held() || !atomic_load_explicit(&(loop)->group->running, memory_order_relaxed))
/* The loop whose thread this is, NULL outside a running loop. */
struct net_loop *net_loop_current(void);
/* Applies answers from other loops (takes the handler lock). */
void net_inbox_apply(struct net_loop *loop);

/* Accepted socket -> connection registered with epoll; closes fd on failure.
 * On the loop's own thread. */
struct net_conn *net_conn_open(struct net_loop *loop, int fd, const char *peer);
/* Handles one epoll event for the connection. */
void net_conn_event(struct net_conn *conn, uint32_t events);
/* Runs the to-do work (flush, stashed reads) for one connection. */
/* Answers a request of this thread's loop (the inbox path ends here too). */
void net_respond_local(struct net_request *req, struct obuf *resp);
void net_respond_close_local(struct net_request *req);
void net_conn_todo(struct net_conn *conn, uint8_t todo);
/* Closes the socket, aborts pending requests, frees what can be freed;
 * logs the reason at the given level (routine closes at debug, so that a
 * storm of them cannot flood the log). */
void net_conn_close(struct net_conn *conn, enum log_level level, const char *reason);
/* Closes the connection if it has been quiet since before cutoff_us and
 * waits for nothing; returns true if it did. */
bool net_conn_close_if_idle(struct net_conn *conn, uint64_t cutoff_us);

/* Loop helpers used by conn.c. */
void net_loop_todo_add(struct net_loop *loop, struct net_conn *conn, uint8_t todo);
void net_loop_todo_remove(struct net_loop *loop, struct net_conn *conn);
void net_loop_touch(struct net_loop *loop, struct net_conn *conn, uint64_t now_us);
void net_loop_conn_unlink(struct net_loop *loop, struct net_conn *conn);

#endif
