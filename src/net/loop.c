/*
 * The event loops: epoll, the listening socket, the wake-up eventfd,
 * timers, the idle sweep, the to-do list, and the group that ties one
 * loop per core together.
 *
 * One loop per core, connections spread round-robin. The home loop owns
 * the listening socket and hands each accepted connection to the next loop
 * in turn (its adoption list, then a wake); a connection then lives on that
 * loop for good, and all its socket I/O happens there, in parallel with the
 * other loops. Round-robin rather than SO_REUSEPORT (which would let a
 * second broker silently share the port) or one listening socket watched by
 * every loop (epoll wakes the most recently waiting loop first, so one loop
 * ends up with most connections).
 *
 * Request handling is serialized by one handler lock, held around every
 * callback; that keeps broker state single-threaded (no locks, no races in
 * storage, groups or metadata) while reading, parsing frames, and writing
 * and sendfile-ing responses - most of the CPU of a fetch - run in
 * parallel. A callback that answers a request of another loop's connection
 * puts it in that loop's inbox and wakes it; only the owner writes to its
 * sockets and connection state.
 *
 * Level-triggered epoll, on purpose. Backpressure is "stop asking for
 * EPOLLIN", and fairness is "read at most a budget, then move on"; with
 * level triggering both are just interest changes, and a connection with
 * bytes left is reported again by the next epoll_wait. Edge triggering
 * would force us to remember every socket that still has unread data and
 * to reschedule it ourselves, which is exactly the bookkeeping the kernel
 * already does. The extra epoll_ctl calls are rare: interest changes only
 * when a connection hits or leaves a bound, or its socket buffer fills.
 *
 * One iteration: wait (timeout from the nearest timer, or 0 while the
 * to-do list has work) -> socket events -> due timers -> to-do list.
 * net_respond never writes by itself: it puts the connection on the to-do
 * list, so responses given by a handler during a read, by a timer or by
 * another connection's handler all go out at the end of the iteration,
 * several per writev, and no socket work ever happens inside a handler.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "net/net_internal.h"

_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "net_loop_stop needs a lock-free atomic to be signal-safe");
_Static_assert(LIMIT_NET_LOOPS_MAX <= 256, "a timer id carries its loop in 8 bits");

static _Thread_local struct net_loop *current_loop;
static _Thread_local struct net_group *lock_group;
static _Thread_local uint32_t lock_depth;

void net_lock(struct net_loop *loop) {
    struct net_group *g = loop->group;
    if (lock_depth > 0) {
        NET_ASSERT(lock_group == g);
        lock_depth++;
        return;
    }
    pthread_mutex_lock(&g->lock);
    lock_group = g;
    lock_depth = 1;
}

void net_unlock(struct net_loop *loop) {
    NET_ASSERT(lock_depth > 0 && lock_group == loop->group);
    if (--lock_depth > 0) return;
    lock_group = NULL;
    pthread_mutex_unlock(&loop->group->lock);
}

bool net_lock_held(void) { return lock_depth > 0; }

struct net_loop *net_loop_current(void) { return current_loop; }

uint64_t net_now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int64_t net_wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- lists ---- */

static void conns_append(struct net_loop *loop, struct net_conn *conn) {
    conn->next = NULL;
    conn->prev = loop->conns_tail;
    if (loop->conns_tail) loop->conns_tail->next = conn;
    else loop->conns_head = conn;
    loop->conns_tail = conn;
}

void net_loop_conn_unlink(struct net_loop *loop, struct net_conn *conn) {
    if (conn->prev) conn->prev->next = conn->next;
    else loop->conns_head = conn->next;
    if (conn->next) conn->next->prev = conn->prev;
    else loop->conns_tail = conn->prev;
    conn->prev = conn->next = NULL;
}

/* Keeps the open list ordered by last activity, so the idle sweep stops at
 * the first connection that is recent enough. */
void net_loop_touch(struct net_loop *loop, struct net_conn *conn, uint64_t now_us) {
    conn->active_us = now_us;
    if (loop->conns_tail == conn) return;
    net_loop_conn_unlink(loop, conn);
    conns_append(loop, conn);
}

void net_loop_todo_add(struct net_loop *loop, struct net_conn *conn, uint8_t todo) {
    if (conn->todo == 0) {
        conn->todo_next = NULL;
        conn->todo_prev = loop->todo_tail;
        if (loop->todo_tail) loop->todo_tail->todo_next = conn;
        else loop->todo_head = conn;
        loop->todo_tail = conn;
        loop->todo_len++;
    }
    conn->todo |= todo;
}

void net_loop_todo_remove(struct net_loop *loop, struct net_conn *conn) {
    if (conn->todo == 0) return;
    if (conn->todo_prev) conn->todo_prev->todo_next = conn->todo_next;
    else loop->todo_head = conn->todo_next;
    if (conn->todo_next) conn->todo_next->todo_prev = conn->todo_prev;
    else loop->todo_tail = conn->todo_prev;
    conn->todo_prev = conn->todo_next = NULL;
    conn->todo = 0;
    loop->todo_len--;
}

/* Runs only the entries present on entry: work they create (a flush that
 * lets stashed requests in, whose answers need a flush...) waits for the
 * next iteration, after other sockets had their turn. Only the entry being
 * run can be closed meanwhile, and it has already left the list. */
static void todo_run(struct net_loop *loop) {
    uint32_t n = loop->todo_len;
    while (n-- > 0 && loop->todo_head) {
        struct net_conn *conn = loop->todo_head;
        uint8_t todo = conn->todo;
        net_loop_todo_remove(loop, conn);
        net_conn_todo(conn, todo);
    }
}

/* ---- listening socket ---- */

static void listen_set_paused(struct net_loop *loop, bool paused) {
    if (loop->listen_paused == paused || loop->listen_fd < 0) return;
    struct epoll_event ev = {.events = paused ? 0 : EPOLLIN, .data.ptr = loop};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, loop->listen_fd, &ev) != 0)
        log_error("net", "epoll_ctl listener failed error=\"%s\"", strerror(errno));
    loop->listen_paused = paused;
}

static void listen_resume(void *ctx) { listen_set_paused(ctx, false); }

static void peer_text(const struct sockaddr_in *sa, char *out, size_t cap) {
    char ip[INET_ADDRSTRLEN];
    if (!inet_ntop(AF_INET, &sa->sin_addr, ip, sizeof(ip))) snprintf(ip, sizeof(ip), "?");
    snprintf(out, cap, "%s:%u", ip, (unsigned)ntohs(sa->sin_port));
}

static void reject(struct net_loop *loop, int fd, const char *peer) {
    close(fd);
    NET_STAT_ADD(loop, connections_rejected, 1);
    uint64_t now = net_now_us();
    if (now - loop->last_reject_log_us >= NET_REJECT_LOG_INTERVAL_US || loop->last_reject_log_us == 0) {
        log_warn("net", "too many connections, closing new ones peer=%s max_connections=%u rejected_total=%llu",
                 peer, loop->max_connections, (unsigned long long)loop->stats.connections_rejected);
        loop->last_reject_log_us = now;
    }
}

/* On the loop's own thread: the connection joins its epoll and lists. */
static void adopt(struct net_loop *loop, int fd, const char *peer) {
    struct net_conn *conn = net_conn_open(loop, fd, peer);
    if (!conn) {
        atomic_fetch_sub_explicit(&loop->group->connections, 1, memory_order_relaxed);
        return;
    }
    conns_append(loop, conn);
    NET_STAT_ADD(loop, connections, 1);
    NET_STAT_ADD(loop, connections_accepted, 1);
}

/* Hands an accepted socket to another loop; its thread registers it. */
static void hand_over(struct net_loop *to, int fd, const char *peer) {
    struct net_adopt *a = malloc(sizeof(*a));
    if (!a) {
        log_error("net", "out of memory handing over connection peer=%s", peer);
        close(fd);
        atomic_fetch_sub_explicit(&to->group->connections, 1, memory_order_relaxed);
        return;
    }
    a->next = NULL;
    a->fd = fd;
    snprintf(a->peer, sizeof(a->peer), "%s", peer);
    pthread_mutex_lock(&to->adopt_lock);
    if (to->adopt_tail) to->adopt_tail->next = a;
    else to->adopt_head = a;
    to->adopt_tail = a;
    pthread_mutex_unlock(&to->adopt_lock);
    if (!atomic_exchange_explicit(&to->adopt_pending, true, memory_order_acq_rel)) net_loop_wake(to);
}

/* On the loop's own thread: registers the connections handed over. The
 * flag is cleared before the list is taken, so a hand-over racing with
 * this either lands in the list taken now or sets the flag (and wakes). */
static void adopt_pending_conns(struct net_loop *loop) {
    if (!atomic_exchange_explicit(&loop->adopt_pending, false, memory_order_acq_rel)) return;
    pthread_mutex_lock(&loop->adopt_lock);
    struct net_adopt *a = loop->adopt_head;
    loop->adopt_head = loop->adopt_tail = NULL;
    pthread_mutex_unlock(&loop->adopt_lock);
    while (a) {
        struct net_adopt *next = a->next;
        adopt(loop, a->fd, a->peer);
        free(a);
        a = next;
    }
}

static void accept_some(struct net_loop *loop) {
    for (int i = 0; i < NET_ACCEPT_BUDGET; i++) {
        struct sockaddr_in sa;
        socklen_t len = sizeof(sa);
        int fd = accept4(loop->listen_fd, (struct sockaddr *)&sa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                log_error("net", "accept failed, pausing listener error=\"%s\" pause_ms=%d", strerror(errno),
                          NET_ACCEPT_PAUSE_MS);
                net_lock(loop);
                bool armed = net_timer_add(loop, NET_ACCEPT_PAUSE_MS, listen_resume, loop) != 0;
                net_unlock(loop);
                if (armed) listen_set_paused(loop, true);
                return;
            }
            log_error("net", "accept failed error=\"%s\"", strerror(errno));
            return;
        }
        char peer[NET_PEER_TEXT_BYTES];
        peer_text(&sa, peer, sizeof(peer));
        struct net_group *g = loop->group;
        if (loop->max_connections &&
            atomic_load_explicit(&g->connections, memory_order_relaxed) >= loop->max_connections) {
            reject(loop, fd, peer);
            continue;
        }
        atomic_fetch_add_explicit(&g->connections, 1, memory_order_relaxed);
        struct net_loop *to = g->loops[g->next_loop++ % g->count];
        if (to == loop) adopt(loop, fd, peer);
        else hand_over(to, fd, peer);
    }
}

/* ---- idle sweep ---- */

static int64_t sweep_interval_ms(const struct net_loop *loop) {
    int64_t ms = loop->idle_timeout_ms / 2;
    if (ms > NET_SWEEP_INTERVAL_MS) ms = NET_SWEEP_INTERVAL_MS;
    if (ms < NET_SWEEP_INTERVAL_MS_MIN) ms = NET_SWEEP_INTERVAL_MS_MIN;
    return ms;
}

/* Walks only the connections quiet for longer than the timeout: the list
 * is in activity order, so the first recent one ends the walk. Those kept
 * because a request is pending are walked again next time; they are few,
 * as a pending request normally ends long before the idle timeout. */
static void sweep(void *ctx) {
    struct net_loop *loop = ctx;
    uint64_t now = net_now_us();
    uint64_t timeout_us = (uint64_t)loop->idle_timeout_ms * 1000;
    if (now > timeout_us) {
        uint64_t cutoff = now - timeout_us;
        struct net_conn *conn = loop->conns_head;
        while (conn && conn->active_us < cutoff) {
            struct net_conn *next = conn->next;
            if (net_conn_close_if_idle(conn, cutoff)) NET_STAT_ADD(loop, connections_idle_closed, 1);
            conn = next;
        }
    }
    loop->sweep_timer = net_timer_add(loop, (uint64_t)sweep_interval_ms(loop), sweep, loop);
}

/* ---- the loops ---- */

static int epoll_add(struct net_loop *loop, int fd, uint32_t events, void *ptr) {
    struct epoll_event ev = {.events = events, .data.ptr = ptr};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        log_error("net", "epoll_ctl add failed error=\"%s\"", strerror(errno));
        return -1;
    }
    return 0;
}

static struct net_loop *loop_create(struct net_group *g, uint32_t index, const struct net_config *cfg,
                                    net_request_fn on_request, net_abort_fn on_abort, void *ctx) {
    struct net_loop *loop = calloc(1, sizeof(*loop));
    if (!loop) return NULL;
    loop->group = g;
    loop->index = index;
    loop->epfd = loop->listen_fd = loop->wake_fd = -1;
    for (int i = 0; i < NET_WATCHES_MAX; i++) loop->watches[i].fd = -1;
    loop->max_request_bytes = cfg->max_request_bytes;
    if (loop->max_request_bytes == 0 || loop->max_request_bytes > LIMIT_FRAME_BYTES_MAX)
        loop->max_request_bytes = LIMIT_FRAME_BYTES_MAX;
    loop->max_connections = cfg->max_connections;
    loop->idle_timeout_ms = cfg->idle_timeout_ms;
    loop->on_request = on_request;
    loop->on_abort = on_abort;
    loop->ctx = ctx;
    atomic_init(&loop->inbox_pending, false);
    atomic_init(&loop->adopt_pending, false);
    pthread_mutex_init(&loop->adopt_lock, NULL);
    net_timers_init(&loop->timers);
    g->loops[index] = loop;
    g->count = index + 1;  /* so destroy finds it even if the rest fails */
    loop->scratch = malloc(NET_READ_SCRATCH_BYTES);
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    loop->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (!loop->scratch || loop->epfd < 0 || loop->wake_fd < 0) {
        log_error("net", "loop setup failed error=\"%s\"", strerror(errno));
        return NULL;
    }
    if (epoll_add(loop, loop->wake_fd, EPOLLIN, &loop->wake_fd) != 0) return NULL;
    if (loop->idle_timeout_ms > 0) {
        loop->sweep_timer = net_timer_add(loop, (uint64_t)sweep_interval_ms(loop), sweep, loop);
        if (!loop->sweep_timer) return NULL;
    }
    return loop;
}

struct net_loop *net_loop_create(const struct net_config *cfg, net_request_fn on_request,
                                 net_abort_fn on_abort, void *ctx) {
    NET_ASSERT(cfg && on_request && on_abort);
    /* Writes to a socket the peer has reset must fail with EPIPE, not kill
     * the process; sendfile has no MSG_NOSIGNAL. Left alone if someone
     * already installed a handler. */
    struct sigaction old;
    if (sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL) signal(SIGPIPE, SIG_IGN);

    uint32_t count = cfg->loops == 0 ? 1 : cfg->loops;
    if (count > LIMIT_NET_LOOPS_MAX) count = LIMIT_NET_LOOPS_MAX;
    struct net_group *g = calloc(1, sizeof(*g));
    if (!g) return NULL;
    pthread_mutex_init(&g->lock, NULL);
    atomic_init(&g->connections, 0);
    atomic_init(&g->running, false);
    for (uint32_t i = 0; i < count; i++) {
        if (!loop_create(g, i, cfg, on_request, on_abort, ctx)) goto fail;
    }
    struct net_loop *home = g->loops[0];
    home->listen_fd = net_listen_socket(cfg->host, cfg->port, NET_LISTEN_BACKLOG, &g->port);
    if (home->listen_fd < 0) goto fail;
    if (epoll_add(home, home->listen_fd, EPOLLIN, home) != 0) goto fail;
    log_info("net", "listening host=%s port=%d loops=%u max_request_bytes=%u max_connections=%u idle_timeout_ms=%lld",
             cfg->host ? cfg->host : "0.0.0.0", g->port, count, home->max_request_bytes, home->max_connections,
             (long long)home->idle_timeout_ms);
    return home;
fail:
    if (g->loops[0]) net_loop_destroy(g->loops[0]);
    else {
        pthread_mutex_destroy(&g->lock);
        free(g);
    }
    return NULL;
}

int net_loop_port(const struct net_loop *loop) { return loop->group->port; }

uint32_t net_loop_count(const struct net_loop *loop) { return loop->group->count; }

static void wake_drain(struct net_loop *loop) {
    uint64_t v;
    while (read(loop->wake_fd, &v, sizeof(v)) == (ssize_t)sizeof(v)) {
    }
}

/* ---- generic watches ---- */

static uint32_t watch_epoll_events(uint32_t events) {
    return (events & NET_WATCH_READ ? EPOLLIN : 0u) | (events & NET_WATCH_WRITE ? EPOLLOUT : 0u);
}

int net_watch_add(struct net_loop *loop, int fd, uint32_t events, net_watch_fn fn, void *ctx) {
    NET_ASSERT(fd >= 0 && fn);
    NET_ASSERT_MAY_TOUCH_TABLES(loop);
    for (int i = 0; i < NET_WATCHES_MAX; i++) {
        struct net_watch *w = &loop->watches[i];
        if (w->fd >= 0) continue;
        if (epoll_add(loop, fd, watch_epoll_events(events), w) != 0) return -1;
        *w = (struct net_watch){.fd = fd, .fn = fn, .ctx = ctx};
        return i;
    }
    log_warn("net", "watch table full fd=%d max=%d", fd, NET_WATCHES_MAX);
    return -1;
}

int net_watch_modify(struct net_loop *loop, int id, uint32_t events) {
    NET_ASSERT_MAY_TOUCH_TABLES(loop);
    NET_ASSERT(id >= 0 && id < NET_WATCHES_MAX && loop->watches[id].fd >= 0);
    struct epoll_event ev = {.events = watch_epoll_events(events), .data.ptr = &loop->watches[id]};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, loop->watches[id].fd, &ev) != 0) {
        log_error("net", "epoll_ctl watch failed error=\"%s\"", strerror(errno));
        return -1;
    }
    return 0;
}

/* An event already fetched for this slot in the current batch finds it
 * free (or reused: a spurious, harmless readiness for a non-blocking fd). */
void net_watch_remove(struct net_loop *loop, int id) {
    NET_ASSERT_MAY_TOUCH_TABLES(loop);
    if (id < 0 || id >= NET_WATCHES_MAX || loop->watches[id].fd < 0) return;
    epoll_ctl(loop->epfd, EPOLL_CTL_DEL, loop->watches[id].fd, NULL);
    loop->watches[id] = (struct net_watch){.fd = -1};
}

static bool is_watch(const struct net_loop *loop, const void *ptr) {
    const char *p = ptr, *lo = (const char *)loop->watches, *hi = (const char *)(loop->watches + NET_WATCHES_MAX);
    return p >= lo && p < hi;
}


static void dispatch(struct net_loop *loop, const struct epoll_event *ev) {
    void *ptr = ev->data.ptr;
    if (ptr == loop) accept_some(loop);
    else if (ptr == &loop->wake_fd) wake_drain(loop);
    else if (is_watch(loop, ptr)) {
        struct net_watch *w = ptr;
        uint32_t events = 0;
        if (ev->events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) events |= NET_WATCH_READ;
        if (ev->events & EPOLLOUT) events |= NET_WATCH_WRITE;
        if (ev->events & (EPOLLERR | EPOLLHUP)) events |= NET_WATCH_ERROR;
        net_lock(loop);
        if (w->fd >= 0) w->fn(w->ctx, events);
        net_unlock(loop);
    } else net_conn_event(ptr, ev->events);
}

/* ---- the inbox ---- */

void net_inbox_apply(struct net_loop *loop) {
    net_lock(loop);
    struct net_request *req = loop->inbox_head;
    loop->inbox_head = loop->inbox_tail = NULL;
    atomic_store_explicit(&loop->inbox_pending, false, memory_order_relaxed);
    /* Applied with the lock held: a remote answer to a request whose
     * connection closes meanwhile would otherwise race with the aborts. */
    while (req) {
        struct net_request *next = req->inbox_next;
        uint8_t remote = req->remote;
        req->inbox_next = NULL;
        req->remote = NET_REMOTE_NONE_YET;
        req->conn->inbox_files -= req->response.files_len;
        if (remote == NET_REMOTE_CLOSE) {
            net_respond_close_local(req);
        } else if (remote == NET_REMOTE_NO_RESPONSE) {
            net_respond_local(req, NULL);
        } else {
            struct obuf resp = req->response;
            obuf_init(&req->response, resp.limit);
            net_respond_local(req, &resp);
        }
        req = next;
    }
    net_unlock(loop);
}

/* ---- running ---- */

static void group_stop(struct net_group *g) {
    for (uint32_t i = 0; i < g->count; i++) {
        atomic_store_explicit(&g->loops[i]->stop_requested, 1, memory_order_release);
        net_loop_wake(g->loops[i]);
    }
}

/* The lock is taken only for work that needs it (due timers, answers from
 * other loops, callbacks): a loop with only socket I/O to do never waits
 * for a slow handler elsewhere. */
static int loop_run_one(struct net_loop *loop) {
    struct epoll_event events[NET_EPOLL_EVENTS_MAX];
    int rc = 0;
    current_loop = loop;
    while (!atomic_load_explicit(&loop->stop_requested, memory_order_acquire)) {
        bool posted = atomic_load_explicit(&loop->inbox_pending, memory_order_relaxed) ||
                      atomic_load_explicit(&loop->adopt_pending, memory_order_relaxed);
        int timeout = loop->todo_len || posted ? 0 : net_timers_wait_ms(&loop->timers, net_now_us());
        int n = epoll_wait(loop->epfd, events, NET_EPOLL_EVENTS_MAX, timeout);
        if (n < 0) {
            if (errno == EINTR) continue;
            log_error("net", "epoll_wait failed loop=%u error=\"%s\"", loop->index, strerror(errno));
            rc = -1;
            group_stop(loop->group);
            break;
        }
        for (int i = 0; i < n; i++) dispatch(loop, &events[i]);
        adopt_pending_conns(loop);
        if (atomic_load_explicit(&loop->inbox_pending, memory_order_relaxed)) net_inbox_apply(loop);
        uint64_t now = net_now_us();
        if (net_timers_due(&loop->timers, now)) {
            net_lock(loop);
            net_timers_run(&loop->timers, now);
            net_unlock(loop);
        }
        todo_run(loop);
    }
    current_loop = NULL;
    return rc;
}

static void *loop_thread(void *arg) {
    struct net_loop *loop = arg;
    return loop_run_one(loop) == 0 ? NULL : loop;
}

int net_loop_run(struct net_loop *loop) {
    struct net_group *g = loop->group;
    NET_ASSERT(loop == g->loops[0]);
    int rc = 0;
    /* Stop requests (SIGINT, SIGTERM...) go to the thread that started the
     * broker; the loops inherit the mask from here, so no signal reaches
     * them before they could block it. Fault signals stay unblocked, so a
     * crash on a loop still gets its sanitizer report. */
    sigset_t stops, saved;
    sigemptyset(&stops);
    sigaddset(&stops, SIGINT);
    sigaddset(&stops, SIGTERM);
    sigaddset(&stops, SIGHUP);
    sigaddset(&stops, SIGQUIT);
    pthread_sigmask(SIG_BLOCK, &stops, &saved);
    atomic_store_explicit(&g->running, true, memory_order_relaxed);
    for (uint32_t i = 1; i < g->count; i++) {
        struct net_loop *l = g->loops[i];
        int err = pthread_create(&l->thread, NULL, loop_thread, l);
        if (err != 0) {
            log_error("net", "cannot start loop thread loop=%u error=\"%s\"", i, strerror(err));
            group_stop(g);
            rc = -1;
            break;
        }
        l->thread_started = true;
    }
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    if (rc == 0) rc = loop_run_one(loop);
    group_stop(g);
    for (uint32_t i = 1; i < g->count; i++) {
        struct net_loop *l = g->loops[i];
        if (!l->thread_started) continue;
        void *failed = NULL;
        pthread_join(l->thread, &failed);
        l->thread_started = false;
        if (failed) rc = -1;
    }
    for (uint32_t i = 0; i < g->count; i++)
        atomic_store_explicit(&g->loops[i]->stop_requested, 0, memory_order_relaxed);
    atomic_store_explicit(&g->running, false, memory_order_relaxed);
    return rc;
}

/* Signal-safe: group_stop is atomic stores and net_loop_wake, which
 * keeps errno for the code the signal interrupted. */
void net_loop_stop(struct net_loop *loop) { group_stop(loop->group); }

void net_loop_wake(struct net_loop *loop) {
    int saved = errno;
    uint64_t one = 1;
    ssize_t ignored = write(loop->wake_fd, &one, sizeof(one));
    (void)ignored;
    errno = saved;
}

static void loop_free(struct net_loop *loop) {
    pthread_mutex_destroy(&loop->adopt_lock);
    if (loop->wake_fd >= 0) close(loop->wake_fd);
    if (loop->epfd >= 0) close(loop->epfd);
    net_timers_free(&loop->timers);
    free(loop->scratch);
    free(loop);
}

void net_loop_destroy(struct net_loop *loop) {
    if (!loop) return;
    struct net_group *g = loop->group;
    /* Closing aborts pending requests; their handlers may still answer
     * requests of other loops (through the inbox) or cancel timers, so the
     * inboxes are applied until quiet and the timer tables go last. */
    bool closed_any = true;
    while (closed_any) {
        closed_any = false;
        for (uint32_t i = 0; i < g->count; i++) {
            struct net_loop *l = g->loops[i];
            current_loop = l;
            adopt_pending_conns(l);
            net_inbox_apply(l);
            while (l->conns_head) {
                net_conn_close(l->conns_head, LOG_LEVEL_DEBUG, "shutdown");
                closed_any = true;
            }
            current_loop = NULL;
        }
    }
    /* Handed-over connections were adopted (and closed) above. */
    for (uint32_t i = 0; i < g->count; i++) NET_ASSERT(g->loops[i]->todo_len == 0 && !g->loops[i]->adopt_head);
    if (g->loops[0]->listen_fd >= 0) close(g->loops[0]->listen_fd);
    for (uint32_t i = 0; i < g->count; i++) loop_free(g->loops[i]);
    pthread_mutex_destroy(&g->lock);
    free(g);
}

uint32_t net_loop_connection_count(const struct net_loop *loop) {
    return atomic_load_explicit(&loop->group->connections, memory_order_relaxed);
}

#define LOAD(field) __atomic_load_n(&field, __ATOMIC_RELAXED)

static void stats_add(struct net_stats *out, const struct net_loop *l) {
    const struct net_stats *s = &l->stats;
    out->connections_accepted += LOAD(s->connections_accepted);
    out->connections_rejected += LOAD(s->connections_rejected);
    out->connections_closed += LOAD(s->connections_closed);
    out->connections_idle_closed += LOAD(s->connections_idle_closed);
    out->connections_peer_closed += LOAD(s->connections_peer_closed);
    out->connections_handler_closed += LOAD(s->connections_handler_closed);
    out->frames_rejected += LOAD(s->frames_rejected);
    out->requests += LOAD(s->requests);
    out->requests_aborted += LOAD(s->requests_aborted);
    out->responses += LOAD(s->responses);
    out->bytes_in += LOAD(s->bytes_in);
    out->bytes_out += LOAD(s->bytes_out);
    out->read_pauses += LOAD(s->read_pauses);
    out->connections += LOAD(s->connections);
    out->timers += LOAD(l->timers.armed);
    out->output_bytes_queued += LOAD(l->out_bytes_total);
    uint64_t max = LOAD(s->output_bytes_queued_max);
    if (max > out->output_bytes_queued_max) out->output_bytes_queued_max = max;
}

void net_loop_stats(const struct net_loop *loop, struct net_stats *out) {
    memset(out, 0, sizeof(*out));
    const struct net_group *g = loop->group;
    for (uint32_t i = 0; i < g->count; i++) stats_add(out, g->loops[i]);
}

void net_loop_stats_one(const struct net_loop *loop, uint32_t i, struct net_stats *out) {
    memset(out, 0, sizeof(*out));
    const struct net_group *g = loop->group;
    if (i < g->count) stats_add(out, g->loops[i]);
}
