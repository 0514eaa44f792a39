/*
 * One-shot timers: a binary min-heap over a slot table.
 *
 * Why a heap and not a timing wheel: the loop needs the nearest deadline
 * for epoll_wait's timeout on every iteration, which a heap gives in O(1);
 * add and cancel are O(log n) with n at most LIMIT_NET_TIMERS_MAX (16
 * levels), cheaper than the syscalls around them. Slots never move, so a
 * timer id names its slot directly; the heap holds slot numbers and each
 * slot remembers its heap position for cancel.
 *
 * The table starts small and doubles up to the limit, so an idle broker
 * does not carry the largest table; reaching the limit returns 0.
 *
 * Each loop has its own table, touched with the handler lock held. An id
 * is generation << 32 | loop << 24 | (slot + 1), so a callback on any
 * loop can cancel a timer another loop armed. The nearest deadline is also
 * published in an atomic, so a loop computes its epoll timeout and sees
 * whether anything is due without the lock: a slow handler on one loop
 * must not stop the others' socket I/O. Timers are only added on the
 * calling loop, so the published value is never later than the truth; a
 * cancel from another loop can leave it early, which costs one wake-up.
 */
#include <limits.h>
#include <string.h>

#include "net/net_internal.h"

_Static_assert(LIMIT_NET_TIMERS_MAX < UINT32_MAX, "slot numbers and NET_TIMER_FREE must fit in 32 bits");
_Static_assert(NET_TIMERS_INITIAL <= LIMIT_NET_TIMERS_MAX, "the first table may not exceed the limit");
_Static_assert(LIMIT_NET_TIMERS_MAX < (1u << 24), "slot + 1 must fit below the loop bits of an id");

#define TIMER_ID_SLOT_MASK 0xffffffu
#define TIMER_ID_LOOP_SHIFT 24

static void publish_next(struct net_timers *t) {
    uint64_t next = t->len ? t->slots[t->heap[0]].deadline_us : UINT64_MAX;
    __atomic_store_n(&t->next_deadline_us, next, __ATOMIC_RELAXED);
    __atomic_store_n(&t->armed, t->len, __ATOMIC_RELAXED);
}

void net_timers_init(struct net_timers *t) {
    memset(t, 0, sizeof(*t));
    publish_next(t);
}

void net_timers_free(struct net_timers *t) {
    free(t->slots);
    free(t->heap);
    free(t->free_slots);
    memset(t, 0, sizeof(*t));
}

static bool timer_before(const struct net_timers *t, uint32_t a, uint32_t b) {
    const struct net_timer_slot *sa = &t->slots[a], *sb = &t->slots[b];
    if (sa->deadline_us != sb->deadline_us) return sa->deadline_us < sb->deadline_us;
    return sa->seq < sb->seq;
}

static void heap_set(struct net_timers *t, uint32_t pos, uint32_t slot) {
    t->heap[pos] = slot;
    t->slots[slot].heap_pos = pos;
}

static void heap_up(struct net_timers *t, uint32_t pos) {
    uint32_t slot = t->heap[pos];
    while (pos > 0) {
        uint32_t parent = (pos - 1) / 2;
        if (!timer_before(t, slot, t->heap[parent])) break;
        heap_set(t, pos, t->heap[parent]);
        pos = parent;
    }
    heap_set(t, pos, slot);
}

static void heap_down(struct net_timers *t, uint32_t pos) {
    uint32_t slot = t->heap[pos];
    for (;;) {
        uint32_t child = 2 * pos + 1;
        if (child >= t->len) break;
        if (child + 1 < t->len && timer_before(t, t->heap[child + 1], t->heap[child])) child++;
        if (!timer_before(t, t->heap[child], slot)) break;
        heap_set(t, pos, t->heap[child]);
        pos = child;
    }
    heap_set(t, pos, slot);
}

/* Takes the timer out of the heap and returns its slot to the free stack. */
static void timer_release(struct net_timers *t, uint32_t slot) {
    uint32_t pos = t->slots[slot].heap_pos;
    NET_ASSERT(pos < t->len && t->heap[pos] == slot);
    t->len--;
    if (pos < t->len) {
        /* The last entry fills the hole and may belong above or below it. */
        uint32_t moved = t->heap[t->len];
        heap_set(t, pos, moved);
        heap_down(t, pos);
        heap_up(t, t->slots[moved].heap_pos);
    }
    t->slots[slot].heap_pos = NET_TIMER_FREE;
    t->slots[slot].gen++;
    t->slots[slot].fn = NULL;
    t->slots[slot].ctx = NULL;
    t->free_slots[t->free_len++] = slot;
    publish_next(t);
}

static bool timers_grow(struct net_timers *t) {
    if (t->cap >= LIMIT_NET_TIMERS_MAX) return false;
    uint32_t cap = t->cap ? t->cap * 2 : NET_TIMERS_INITIAL;
    if (cap > LIMIT_NET_TIMERS_MAX) cap = LIMIT_NET_TIMERS_MAX;
    struct net_timer_slot *slots = realloc(t->slots, cap * sizeof(*slots));
    if (!slots) return false;
    t->slots = slots;
    uint32_t *heap = realloc(t->heap, cap * sizeof(*heap));
    if (!heap) return false;
    t->heap = heap;
    uint32_t *free_slots = realloc(t->free_slots, cap * sizeof(*free_slots));
    if (!free_slots) return false;
    t->free_slots = free_slots;
    /* Push new slots highest first so the lowest numbers are used first. */
    for (uint32_t s = cap; s > t->cap; s--) {
        t->slots[s - 1] = (struct net_timer_slot){.heap_pos = NET_TIMER_FREE, .gen = 1};
        t->free_slots[t->free_len++] = s - 1;
    }
    t->cap = cap;
    return true;
}

uint64_t net_timer_add(struct net_loop *loop, uint64_t delay_ms, net_timer_fn fn, void *ctx) {
    NET_ASSERT_MAY_TOUCH_TABLES(loop);
    struct net_loop *here = net_loop_current();
    if (here && here->group == loop->group) loop = here;
    struct net_timers *t = &loop->timers;
    NET_ASSERT(fn != NULL);
    if (t->free_len == 0 && !timers_grow(t)) {
        log_warn("net", "timer table full timers=%u limit=%u", t->len, (unsigned)LIMIT_NET_TIMERS_MAX);
        return 0;
    }
    if (delay_ms > NET_TIMER_DELAY_MS_MAX) delay_ms = NET_TIMER_DELAY_MS_MAX;
    uint32_t slot = t->free_slots[--t->free_len];
    struct net_timer_slot *s = &t->slots[slot];
    NET_ASSERT(s->heap_pos == NET_TIMER_FREE);
    s->deadline_us = net_now_us() + delay_ms * 1000;
    s->seq = t->next_seq++;
    s->fn = fn;
    s->ctx = ctx;
    t->heap[t->len] = slot;
    t->len++;
    heap_up(t, t->len - 1);
    publish_next(t);
    return ((uint64_t)s->gen << 32) | ((uint64_t)loop->index << TIMER_ID_LOOP_SHIFT) | ((uint64_t)slot + 1);
}

void net_timer_cancel(struct net_loop *loop, uint64_t id) {
    NET_ASSERT_MAY_TOUCH_TABLES(loop);
    uint32_t index = (uint32_t)(id >> TIMER_ID_LOOP_SHIFT) & 0xffu;
    if (index >= loop->group->count) return;
    struct net_timers *t = &loop->group->loops[index]->timers;
    uint64_t low = id & TIMER_ID_SLOT_MASK;
    if (low == 0 || low > t->cap) return;
    uint32_t slot = (uint32_t)(low - 1);
    const struct net_timer_slot *s = &t->slots[slot];
    if (s->heap_pos == NET_TIMER_FREE || s->gen != (uint32_t)(id >> 32)) return;
    timer_release(t, slot);
}

int net_timers_wait_ms(const struct net_timers *t, uint64_t now_us) {
    uint64_t deadline = __atomic_load_n(&t->next_deadline_us, __ATOMIC_RELAXED);
    if (deadline == UINT64_MAX) return -1;
    if (deadline <= now_us) return 0;
    /* Rounded up: waking a little early would find nothing due and spin. */
    uint64_t ms = (deadline - now_us + 999) / 1000;
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

bool net_timers_due(const struct net_timers *t, uint64_t now_us) {
    return __atomic_load_n(&t->next_deadline_us, __ATOMIC_RELAXED) <= now_us;
}

void net_timers_run(struct net_timers *t, uint64_t now_us) {
    /* Only timers armed before this call can fire in it: seq is monotonic. */
    uint64_t seq_end = t->next_seq;
    while (t->len > 0) {
        uint32_t slot = t->heap[0];
        struct net_timer_slot *s = &t->slots[slot];
        if (s->deadline_us > now_us || s->seq >= seq_end) break;
        net_timer_fn fn = s->fn;
        void *ctx = s->ctx;
        /* Released before the call: the callback may add timers (reusing
         * this slot) or cancel its own, now stale, id harmlessly. */
        timer_release(t, slot);
        fn(ctx);
    }
}
