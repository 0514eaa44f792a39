/*
 * The classic group protocol's rebalance state machine, as Kafka's group
 * coordinator runs it:
 *
 *   Empty --join--> PreparingRebalance --all joined / rebalance timeout-->
 *   CompletingRebalance --leader's SyncGroup--> Stable
 *
 * and back to PreparingRebalance when a member joins, leaves, changes its
 * metadata, misses its session timeout, or owes a SyncGroup past the
 * rebalance timeout. A join phase that ends with no member left makes the
 * group Empty (a new generation with no protocol). Dead is where a group
 * goes when it is deleted; such groups leave the registry at once.
 *
 * JoinGroup requests wait (held waiters) until the join phase completes;
 * the leader's response lists every member's metadata so that the client
 * computes the assignment; SyncGroup requests wait until the leader sends
 * it. Every held request is answered: with its result, or with the error
 * that explains why not (UNKNOWN_MEMBER_ID when its member went away,
 * REBALANCE_IN_PROGRESS when a new rebalance started or a newer request
 * replaced it, FENCED_INSTANCE_ID when a static member was replaced).
 *
 * Member pointers: removing members can complete a join phase, which
 * removes every dynamic member that did not rejoin; code that removes a
 * member therefore looks members up again rather than keep pointers.
 */
#include "group/group_internal.h"

#include <stdio.h>
#include <stdlib.h>

#include "broker/internal.h"
#include "core/limits.h"
#include "core/log.h"

/* ------------------------------------------------------------- rebalance */

/* The group's rebalance timeout: the longest any member asked for. */
static int32_t rebalance_timeout_ms(const struct group *g) {
    int32_t t = 0;
    for (const struct group_member *m = g->head; m; m = m->next)
        if (m->rebalance_timeout_ms > t) t = m->rebalance_timeout_ms;
    return t;
}

static void complete_join(struct group_coordinator *c, struct group *g, uint64_t now_us);

static bool all_joined(const struct group *g) {
    return g->awaiting_join_count == g->member_count && g->pending.count == 0;
}

static void try_complete_join(struct group_coordinator *c, struct group *g, uint64_t now_us) {
    if (g->state == GROUP_PREPARING_REBALANCE && !g->initial_join && all_joined(g)) complete_join(c, g, now_us);
}

/* Answers every held SyncGroup with err and forgets the assignments. */
static void reset_assignments(struct group_coordinator *c, struct group *g, int16_t err) {
    for (struct group_member *m = g->head; m; m = m->next) {
        group_member_set_assignment(c, m, NULL, 0);
        group_answer_sync_error(c, m, err);
    }
}

static void prepare_rebalance(struct group_coordinator *c, struct group *g, const char *reason, uint64_t now_us) {
    if (g->state == GROUP_COMPLETING_REBALANCE) reset_assignments(c, g, KAFKA_ERR_REBALANCE_IN_PROGRESS);
    for (struct group_member *m = g->head; m; m = m->next) m->pending_sync = false;
    g->sync_deadline_us = 0;
    int32_t rt = rebalance_timeout_ms(g);
    if (g->state == GROUP_EMPTY) {
        /* Kafka's initial delay: the first rebalance of an empty group waits
         * for more members to arrive, extending while they keep coming, up
         * to the rebalance timeout. */
        int32_t delay = c->initial_delay_ms;
        g->initial_join = true;
        g->initial_remaining_ms = rt > delay ? rt - delay : 0;
        g->join_deadline_us = group_after_ms(now_us, delay);
    } else {
        g->initial_join = false;
        g->join_deadline_us = group_after_ms(now_us, rt);
    }
    log_info("group", "preparing to rebalance group=%s generation=%d reason=\"%s\" members=%u", g->id.ptr,
             g->generation, reason, g->member_count);
    group_set_state(g, GROUP_PREPARING_REBALANCE);
    group_schedule(c, g, g->join_deadline_us);
    try_complete_join(c, g, now_us);
}

static void maybe_prepare_rebalance(struct group_coordinator *c, struct group *g, const char *reason,
                                    uint64_t now_us) {
    if (g->state == GROUP_STABLE || g->state == GROUP_COMPLETING_REBALANCE || g->state == GROUP_EMPTY)
        prepare_rebalance(c, g, reason, now_us);
}

/* Removes a member and moves the group on (a rebalance, or the end of the
 * join phase it was holding up). */
static void remove_member_and_update(struct group_coordinator *c, struct group *g, struct group_member *m,
                                     const char *reason, uint64_t now_us) {
    log_info("group", "member removed group=%s member=%s reason=\"%s\"", g->id.ptr, m->id.ptr, reason);
    group_member_drop(c, g, m);
    switch (g->state) {
    case GROUP_STABLE:
    case GROUP_COMPLETING_REBALANCE: maybe_prepare_rebalance(c, g, reason, now_us); break;
    case GROUP_PREPARING_REBALANCE: try_complete_join(c, g, now_us); break;
    case GROUP_EMPTY:
    case GROUP_DEAD: break;
    }
}

static void store_group_or_warn(struct group_coordinator *c, struct group *g) {
    int16_t err = group_store(c, g);
    /* An empty generation that is not written costs nothing: a restart
     * brings back the previous one, whose members then time out. */
    if (err) log_warn("group", "cannot write group metadata group=%s error=%d", g->id.ptr, err);
}

static void init_next_generation(struct group *g) {
    g->generation++;
    if (g->member_count) {
        struct gstr p = group_select_protocol(g);
        if (gstr_set(&g->protocol_name, gstr_k(p)) != 0) gstr_clear(&g->protocol_name);
        group_set_state(g, GROUP_COMPLETING_REBALANCE);
    } else {
        gstr_clear(&g->protocol_name);
        group_set_state(g, GROUP_EMPTY);
    }
    g->new_member_added = false;
}

static void complete_join(struct group_coordinator *c, struct group *g, uint64_t now_us) {
    /* Dynamic members that did not rejoin are gone; static ones keep their
     * place until their session ends (Kafka's rule). */
    for (struct group_member *m = g->head, *next; m; m = next) {
        next = m->next;
        if (!m->awaiting_join && !m->instance_id.ptr) {
            log_info("group", "member removed group=%s member=%s reason=\"did not rejoin in time\"", g->id.ptr,
                     m->id.ptr);
            group_member_drop(c, g, m);
        }
    }
    if (g->leader && !g->leader->awaiting_join) {
        struct group_member *joined = NULL;
        for (struct group_member *m = g->head; m && !joined; m = m->next)
            if (m->awaiting_join) joined = m;
        if (!joined) {
            /* Only static members that are not there: wait another round
             * for their sessions to end. */
            g->initial_join = false;
            g->join_deadline_us = group_after_ms(now_us, rebalance_timeout_ms(g));
            group_schedule(c, g, g->join_deadline_us);
            log_warn("group", "no member rejoined group=%s members=%u", g->id.ptr, g->member_count);
            return;
        }
        g->leader = joined;
    }
    g->initial_join = false;
    g->join_deadline_us = 0;
    init_next_generation(g);
    if (g->state == GROUP_EMPTY) {
        log_info("group", "group is empty group=%s generation=%d", g->id.ptr, g->generation);
        store_group_or_warn(c, g);
        return;
    }
    log_info("group", "rebalance completed group=%s generation=%d protocol=%s members=%u leader=%s", g->id.ptr,
             g->generation, g->protocol_name.ptr ? g->protocol_name.ptr : "", g->member_count, g->leader->id.ptr);
    /* SyncGroup is owed by every member, by the rebalance timeout. */
    g->sync_deadline_us = group_after_ms(now_us, rebalance_timeout_ms(g));
    group_schedule(c, g, g->sync_deadline_us);
    for (struct group_member *m = g->head; m; m = m->next) {
        struct group_join_reply r = {
            .error = KAFKA_ERR_NONE,
            .generation = g->generation,
            .protocol_type = gstr_k(g->protocol_type),
            .protocol_name = gstr_k(g->protocol_name),
            .leader = gstr_k(g->leader->id),
            .member_id = gstr_k(m->id),
            .members_of = m == g->leader ? g : NULL,
        };
        if (m->awaiting_join) g->awaiting_join_count--;
        m->awaiting_join = false;
        m->is_new = false;
        m->pending_sync = true;
        group_member_touch(c, m, now_us);
        struct group_waiter *w = group_take_join(c, m);
        if (w) group_join_answer(w, &r);
    }
}

/* ------------------------------------------------------------------ join */

struct join_args {
    const struct kafka_join_group_request *req;
    int16_t version;
    const struct group_client *client;
    int32_t rebalance_timeout_ms;
    uint64_t now_us;
};

/* Sets a member's protocols, timeouts and held join request. */
static int16_t update_member(struct group_coordinator *c, struct group_member *m, const struct join_args *a,
                             struct group_waiter *w) {
    int16_t err = group_member_set_protocols(c, m, a->req->protocols, a->req->protocols_count);
    if (err) return err;
    m->session_timeout_ms = a->req->session_timeout_ms;
    m->rebalance_timeout_ms = a->rebalance_timeout_ms;
    if (!m->awaiting_join) m->group->awaiting_join_count++;
    m->awaiting_join = true;
    group_hold_join(c, m, w);
    return KAFKA_ERR_NONE;
}

/* A member joins for the first time (with a fresh id): it waits in the
 * join phase, which it starts if none is running. */
static void add_member_and_rebalance(struct group_coordinator *c, struct group *g, struct gstr *id,
                                     const struct join_args *a, struct group_waiter *w) {
    const struct kafka_join_group_request *req = a->req;
    struct group_member *m = group_member_alloc(c, g);
    if (!m) return group_join_error(w, gstr_k(*id), KAFKA_ERR_COORDINATOR_NOT_AVAILABLE);
    m->id = *id;  /* taken over */
    *id = (struct gstr){NULL, -1};
    int16_t err = group_member_set_protocols(c, m, req->protocols, req->protocols_count);
    if (!err && (gstr_set(&m->instance_id, req->group_instance_id) != 0 ||
                 gstr_set(&m->client_id, a->client->client_id) != 0 ||
                 gstr_set(&m->client_host, kstr_c(a->client->client_host)) != 0))
        err = KAFKA_ERR_COORDINATOR_NOT_AVAILABLE;
    if (!err && g->member_count == 0 && gstr_set(&g->protocol_type, req->protocol_type) != 0)
        err = KAFKA_ERR_COORDINATOR_NOT_AVAILABLE;
    if (!err && group_member_link(g, m) != 0) err = KAFKA_ERR_COORDINATOR_NOT_AVAILABLE;
    if (err) {
        group_join_error(w, gstr_k(m->id), err);
        group_member_free(c, m);
        return;
    }
    m->session_timeout_ms = req->session_timeout_ms;
    m->rebalance_timeout_ms = a->rebalance_timeout_ms;
    m->awaiting_join = true;
    g->awaiting_join_count++;
    group_hold_join(c, m, w);
    /* A member without its id yet cannot heartbeat: it gets the longer
     * new-member timeout instead of its session. */
    m->is_new = true;
    m->deadline_us = group_after_ms(a->now_us, GROUP_NEW_MEMBER_JOIN_TIMEOUT_MS);
    group_schedule(c, g, m->deadline_us);
    g->new_member_added = true;
    log_info("group", "member joined group=%s member=%s instance=%s client=%s", g->id.ptr, m->id.ptr,
             m->instance_id.ptr ? m->instance_id.ptr : "-", m->client_id.ptr ? m->client_id.ptr : "");
    if (g->state != GROUP_PREPARING_REBALANCE) maybe_prepare_rebalance(c, g, "a new member joined", a->now_us);
}

/* The join answer for a member of a group that is not rebalancing. */
static void answer_current_generation(struct group *g, struct kstr member_id, struct kstr leader, bool skip,
                                      bool with_members, struct group_waiter *w) {
    struct group_join_reply r = {
        .error = KAFKA_ERR_NONE,
        .generation = g->generation,
        .protocol_type = gstr_k(g->protocol_type),
        .protocol_name = gstr_k(g->protocol_name),
        .leader = leader,
        .member_id = member_id,
        .skip_assignment = skip,
        .members_of = with_members ? g : NULL,
    };
    group_join_answer(w, &r);
}

/* A static member came back with a new process (no member id): it takes
 * over the old member's place and, if nothing else changed, the group
 * carries on without a rebalance (KIP-345). */
static void replace_static_member(struct group_coordinator *c, struct group *g, struct group_member *m,
                                  struct gstr *new_id, const struct join_args *a, struct group_waiter *w) {
    /* Whoever held the old id is fenced now. */
    group_answer_join_error(c, m, KAFKA_ERR_FENCED_INSTANCE_ID);
    group_answer_sync_error(c, m, KAFKA_ERR_FENCED_INSTANCE_ID);
    /* The answer names the leader as it was, so that a rejoining leader
     * does not compute an assignment (Kafka does the same). */
    struct gstr old_leader = {NULL, -1};
    if (g->leader && gstr_set(&old_leader, gstr_k(g->leader->id)) != 0)
        return group_join_error(w, gstr_k(*new_id), KAFKA_ERR_COORDINATOR_NOT_AVAILABLE);
    if (strmap_put(&g->members, new_id->ptr, (size_t)new_id->len, m) != 0) {
        gstr_clear(&old_leader);
        return group_join_error(w, gstr_k(*new_id), KAFKA_ERR_COORDINATOR_NOT_AVAILABLE);
    }
    strmap_del(&g->members, m->id.ptr, (size_t)m->id.len);
    log_info("group", "static member replaced group=%s instance=%s old_member=%s new_member=%s", g->id.ptr,
             m->instance_id.ptr, m->id.ptr, new_id->ptr);
    gstr_clear(&m->id);
    m->id = *new_id;
    *new_id = (struct gstr){NULL, -1};
    /* On failure the old values stay: only DescribeGroups shows them. */
    if (gstr_set(&m->client_id, a->client->client_id) == 0) gstr_set(&m->client_host, kstr_c(a->client->client_host));
    int16_t err = update_member(c, m, a, w);
    if (err) {
        gstr_clear(&old_leader);
        group_join_error(w, gstr_k(m->id), err);
        remove_member_and_update(c, g, m, "static member rejoined beyond the metadata budget", a->now_us);
        return;
    }
    group_member_touch(c, m, a->now_us);
    switch (g->state) {
    case GROUP_STABLE: {
        struct gstr next = group_select_protocol(g);
        if (!gstr_eq(g->protocol_name, gstr_k(next))) {
            prepare_rebalance(c, g, "static member rejoined with a protocol change", a->now_us);
            break;
        }
        /* Persist the new member id, then answer with the current generation. */
        struct group_waiter *held = group_take_join(c, m);
        g->awaiting_join_count--;
        m->awaiting_join = false;
        int16_t werr = group_store(c, g);
        if (werr) {
            /* As Kafka: a record too large is a server error. */
            if (werr == KAFKA_ERR_MESSAGE_TOO_LARGE) werr = KAFKA_ERR_UNKNOWN_SERVER_ERROR;
            if (held) group_join_error(held, gstr_k(m->id), werr);
            prepare_rebalance(c, g, "cannot store a static member's new id", a->now_us);
            break;
        }
        bool leader = g->leader == m, skip = leader && a->version >= 9;
        if (held) answer_current_generation(g, gstr_k(m->id), gstr_k(old_leader), skip, skip, held);
        break;
    }
    case GROUP_COMPLETING_REBALANCE:
        /* The leader may be assigning to the old id: start over. */
        prepare_rebalance(c, g, "static member rejoined during the sync phase", a->now_us);
        break;
    case GROUP_PREPARING_REBALANCE:
    case GROUP_EMPTY:
    case GROUP_DEAD:
        break;  /* it waits for the join phase like everyone */
    }
    gstr_clear(&old_leader);
}

static void new_member_join(struct group_coordinator *c, struct group *g, const struct join_args *a,
                            struct group_waiter *w) {
    const struct kafka_join_group_request *req = a->req;
    if (!group_supports_protocols(g, req->protocol_type, req->protocols, req->protocols_count))
        return group_join_error(w, req->member_id, KAFKA_ERR_INCONSISTENT_GROUP_PROTOCOL);
    bool is_static = !kstr_is_null(req->group_instance_id);
    struct gstr id = {NULL, -1};
    if (group_new_member_id(&id, is_static ? req->group_instance_id : a->client->client_id) != 0)
        return group_join_error(w, req->member_id, KAFKA_ERR_COORDINATOR_NOT_AVAILABLE);
    if (is_static) {
        struct group_member *old = strmap_get(&g->static_members, req->group_instance_id.ptr,
                                              (size_t)req->group_instance_id.len);
        if (old) replace_static_member(c, g, old, &id, a, w);
        else add_member_and_rebalance(c, g, &id, a, w);
    } else if (a->version >= 4) {
        /* KIP-394: the member must come back with the id we give it, so a
         * client that never does leaves no member behind. */
        struct group_pending *p = calloc(1, sizeof(*p));
        if (!p || strmap_put(&g->pending, id.ptr, (size_t)id.len, p) != 0) {
            free(p);
            group_join_error(w, req->member_id, KAFKA_ERR_COORDINATOR_NOT_AVAILABLE);
        } else {
            c->member_count++;
            p->id = id;
            id = (struct gstr){NULL, -1};
            p->deadline_us = group_after_ms(a->now_us, req->session_timeout_ms);
            group_schedule(c, g, p->deadline_us);
            group_join_error(w, gstr_k(p->id), KAFKA_ERR_MEMBER_ID_REQUIRED);
        }
    } else {
        add_member_and_rebalance(c, g, &id, a, w);
    }
    gstr_clear(&id);
}

/* A known member joins again: its new metadata, then a rebalance unless
 * one is running already. */
static void update_member_and_rebalance(struct group_coordinator *c, struct group *g, struct group_member *m,
                                        const struct join_args *a, struct group_waiter *w, const char *reason) {
    int16_t err = update_member(c, m, a, w);
    if (err) return group_join_error(w, a->req->member_id, err);
    group_member_touch(c, m, a->now_us);
    maybe_prepare_rebalance(c, g, reason, a->now_us);
}

static void current_member_join(struct group_coordinator *c, struct group *g, const struct join_args *a,
                                struct group_waiter *w) {
    const struct kafka_join_group_request *req = a->req;
    if (!group_supports_protocols(g, req->protocol_type, req->protocols, req->protocols_count))
        return group_join_error(w, req->member_id, KAFKA_ERR_INCONSISTENT_GROUP_PROTOCOL);
    if (kstr_is_null(req->group_instance_id)) {
        struct group_pending *p = strmap_get(&g->pending, req->member_id.ptr, (size_t)req->member_id.len);
        if (p) {
            /* The second step of KIP-394: the id we gave is now a member. */
            strmap_del(&g->pending, p->id.ptr, (size_t)p->id.len);
            struct gstr id = p->id;
            p->id = (struct gstr){NULL, -1};
            group_pending_free(c, p);
            add_member_and_rebalance(c, g, &id, a, w);
            gstr_clear(&id);
            return;
        }
    }
    struct group_member *m;
    int16_t err = group_validate_member(g, req->member_id, req->group_instance_id, &m);
    if (err) return group_join_error(w, req->member_id, err);
    bool leader = g->leader == m;
    switch (g->state) {
    case GROUP_PREPARING_REBALANCE:
        update_member_and_rebalance(c, g, m, a, w, "member rejoined");
        break;
    case GROUP_COMPLETING_REBALANCE:
        /* The same join again (its answer was lost): answer it again. */
        if (group_member_matches(m, req->protocols, req->protocols_count))
            answer_current_generation(g, gstr_k(m->id), gstr_k(g->leader->id), false, leader, w);
        else
            update_member_and_rebalance(c, g, m, a, w, "member changed its metadata during the sync phase");
        break;
    case GROUP_STABLE:
        /* A follower with unchanged metadata just learns the generation;
         * the leader rejoining means it wants a new assignment. */
        if (!leader && group_member_matches(m, req->protocols, req->protocols_count)) {
            group_member_touch(c, m, a->now_us);
            answer_current_generation(g, gstr_k(m->id), gstr_k(g->leader->id), false, false, w);
        } else {
            update_member_and_rebalance(c, g, m, a, w,
                                        leader ? "leader rejoined" : "member changed its metadata");
        }
        break;
    case GROUP_EMPTY:
    case GROUP_DEAD:
        group_join_error(w, req->member_id, KAFKA_ERR_UNKNOWN_MEMBER_ID);
        break;
    }
}

/* Kafka's group.max.size check: members already waiting (or, outside a
 * join phase, already in the group) are let through; new ones up to the size. */
static bool accept_joining_member(const struct group_coordinator *c, const struct group *g, struct kstr member_id) {
    const struct group_member *m =
        kstr_is_null(member_id) ? NULL : strmap_get(&g->members, member_id.ptr, (size_t)member_id.len);
    bool known_pending =
        !kstr_is_null(member_id) && strmap_get(&g->pending, member_id.ptr, (size_t)member_id.len) != NULL;
    uint32_t max = (uint32_t)c->max_size;
    switch (g->state) {
    case GROUP_EMPTY:
    case GROUP_DEAD:
        return g->pending.count < max || known_pending;
    case GROUP_PREPARING_REBALANCE:
        /* Those waiting count; so do pending ids, unless this is one. */
        if (m && m->awaiting_join) return true;
        if (m || known_pending) return g->awaiting_join_count < max;
        return g->awaiting_join_count + g->pending.count < max;
    case GROUP_COMPLETING_REBALANCE:
    case GROUP_STABLE:
        if (m) return true;
        return g->member_count + (known_pending ? 0 : g->pending.count) < max;
    }
    return false;
}

static int16_t validate_join(const struct group_coordinator *c, const struct kafka_join_group_request *req) {
    if (req->group_id.len <= 0) return KAFKA_ERR_INVALID_GROUP_ID;
    if (req->session_timeout_ms < c->min_session_ms || req->session_timeout_ms > c->max_session_ms)
        return KAFKA_ERR_INVALID_SESSION_TIMEOUT;
    if (req->protocol_type.len < 0 || req->protocols_count < 0) return KAFKA_ERR_INCONSISTENT_GROUP_PROTOCOL;
    if (req->protocols_count > LIMIT_GROUP_PROTOCOLS_PER_MEMBER_MAX) return KAFKA_ERR_INVALID_REQUEST;
    uint64_t bytes = 0;
    for (int32_t i = 0; i < req->protocols_count; i++)
        bytes += req->protocols[i].metadata.len > 0 ? (uint64_t)req->protocols[i].metadata.len : 0;
    if (bytes > LIMIT_GROUP_MEMBER_METADATA_BYTES_MAX) return KAFKA_ERR_MESSAGE_TOO_LARGE;
    if (c->held_requests >= LIMIT_GROUP_HELD_REQUESTS_MAX) return KAFKA_ERR_COORDINATOR_NOT_AVAILABLE;
    bool unknown = req->member_id.len <= 0;
    if (unknown && c->member_count >= LIMIT_GROUP_MEMBERS_TOTAL_MAX) {
        log_warn("group", "member limit reached, refusing a join limit=%d", LIMIT_GROUP_MEMBERS_TOTAL_MAX);
        return KAFKA_ERR_COORDINATOR_NOT_AVAILABLE;
    }
    return KAFKA_ERR_NONE;
}

void group_join(struct group_coordinator *c, const struct kafka_join_group_request *req, int16_t version,
                const struct group_client *client, struct group_waiter *w) {
    w->coord = c;
    w->member = NULL;
    int16_t err = validate_join(c, req);
    if (err) return group_join_error(w, req->member_id, err);
    struct join_args a = {
        .req = req,
        .version = version,
        .client = client,
        /* v0 has no rebalance timeout: the session timeout stands in. */
        .rebalance_timeout_ms = version == 0 || req->rebalance_timeout_ms <= 0 ? req->session_timeout_ms
                                                                                  : req->rebalance_timeout_ms,
        .now_us = group_now_us(),
    };
    bool unknown = req->member_id.len <= 0;
    struct group *g = group_find(c, req->group_id);
    if (!g) {
        /* A member id for a group we do not know is stale. */
        if (!unknown) return group_join_error(w, req->member_id, KAFKA_ERR_UNKNOWN_MEMBER_ID);
        g = group_get_or_create(c, req->group_id, &err);
        if (!g) return group_join_error(w, req->member_id, err);
    }
    if (!accept_joining_member(c, g, req->member_id)) {
        struct group_member *m =
            unknown ? NULL : strmap_get(&g->members, req->member_id.ptr, (size_t)req->member_id.len);
        if (m) remove_member_and_update(c, g, m, "the group is at its maximum size", a.now_us);
        group_join_error(w, kstr_c(""), KAFKA_ERR_GROUP_MAX_SIZE_REACHED);
    } else if (unknown) {
        new_member_join(c, g, &a, w);
    } else {
        current_member_join(c, g, &a, w);
    }
    try_complete_join(c, g, a.now_us);
    group_drop_if_unused(c, g);
}

/* ------------------------------------------------------------------ sync */

/* Copies the leader's assignments into the members. Returns a Kafka error
 * for the leader alone when they do not fit our bounds. */
static int16_t apply_assignments(struct group_coordinator *c, struct group *g,
                                 const struct kafka_sync_group_request *req) {
    uint64_t total = 0;
    for (int32_t i = 0; i < req->assignments_count; i++) {
        int32_t len = req->assignments[i].assignment.len;
        if (len > LIMIT_GROUP_MEMBER_ASSIGNMENT_BYTES_MAX) return KAFKA_ERR_MESSAGE_TOO_LARGE;
        total += len > 0 ? (uint64_t)len : 0;
    }
    uint64_t old = 0;
    for (const struct group_member *m = g->head; m; m = m->next) old += group_member_assignment_bytes(m);
    if (g->member_bytes - old + total > (uint64_t)LIMIT_GROUP_BYTES_MAX) return KAFKA_ERR_MESSAGE_TOO_LARGE;
    if (c->member_bytes - old + total > (uint64_t)LIMIT_GROUP_MEMBER_BYTES_TOTAL_MAX) {
        log_warn("group", "member metadata budget reached, refusing an assignment group=%s", g->id.ptr);
        return KAFKA_ERR_COORDINATOR_NOT_AVAILABLE;
    }
    /* Members the leader left out get an empty assignment; ids that are
     * not members are ignored; a repeated id: the last one counts. */
    for (struct group_member *m = g->head; m; m = m->next) group_member_set_assignment(c, m, NULL, 0);
    for (int32_t i = 0; i < req->assignments_count; i++) {
        const struct kafka_sync_group_request_sync_group_request_assignment *as = &req->assignments[i];
        struct group_member *m = kstr_is_null(as->member_id)
                                     ? NULL
                                     : strmap_get(&g->members, as->member_id.ptr, (size_t)as->member_id.len);
        if (!m) continue;
        int32_t len = as->assignment.len > 0 ? as->assignment.len : 0;
        uint8_t *copy = malloc((size_t)(len ? len : 1));
        if (!copy) return KAFKA_ERR_COORDINATOR_NOT_AVAILABLE;
        if (len) memcpy(copy, as->assignment.ptr, (size_t)len);
        group_member_set_assignment(c, m, copy, len);
    }
    return KAFKA_ERR_NONE;
}

static void sync_answer_assignment(struct group *g, struct group_member *m, struct group_waiter *w) {
    struct group_sync_reply r = {
        .error = KAFKA_ERR_NONE,
        .protocol_type = gstr_k(g->protocol_type),
        .protocol_name = gstr_k(g->protocol_name),
        .assignment = {m->assignment ? m->assignment : group_empty_bytes, m->assignment_len},
    };
    w->sync_done(w, &r);
}

/* The leader's SyncGroup: store the assignment, hand it out, Stable. */
static void complete_sync(struct group_coordinator *c, struct group *g, const struct kafka_sync_group_request *req,
                          uint64_t now_us) {
    int16_t err = apply_assignments(c, g, req);
    if (err) {
        /* Only the leader's request is at fault; it may retry, and if it
         * does not by the rebalance timeout it is removed like any member
         * that owes a SyncGroup. */
        g->leader->pending_sync = true;
        group_answer_sync_error(c, g->leader, err);
        return;
    }
    err = group_store(c, g);
    if (err) {
        /* As Kafka: a record too large is a server error, everyone rejoins. */
        if (err == KAFKA_ERR_MESSAGE_TOO_LARGE) err = KAFKA_ERR_UNKNOWN_SERVER_ERROR;
        log_warn("group", "cannot store the group assignment group=%s error=%d", g->id.ptr, err);
        reset_assignments(c, g, err);
        maybe_prepare_rebalance(c, g, "cannot store the assignment", now_us);
        return;
    }
    group_set_state(g, GROUP_STABLE);
    log_info("group", "group stable group=%s generation=%d members=%u", g->id.ptr, g->generation, g->member_count);
    for (struct group_member *m = g->head; m; m = m->next) {
        struct group_waiter *sw = group_take_sync(c, m);
        if (sw) {
            group_member_touch(c, m, now_us);
            sync_answer_assignment(g, m, sw);
        }
    }
}

void group_sync(struct group_coordinator *c, const struct kafka_sync_group_request *req, int16_t version,
                struct group_waiter *w) {
    (void)version;
    w->coord = c;
    w->member = NULL;
    if (req->group_id.len <= 0) return group_sync_error(w, KAFKA_ERR_INVALID_GROUP_ID);
    struct group *g = group_find(c, req->group_id);
    if (!g) return group_sync_error(w, KAFKA_ERR_UNKNOWN_MEMBER_ID);
    if (g->state == GROUP_DEAD) return group_sync_error(w, KAFKA_ERR_COORDINATOR_NOT_AVAILABLE);
    struct group_member *m;
    int16_t err = group_validate_member(g, req->member_id, req->group_instance_id, &m);
    if (err) return group_sync_error(w, err);
    if (req->generation_id != g->generation) return group_sync_error(w, KAFKA_ERR_ILLEGAL_GENERATION);
    if ((!kstr_is_null(req->protocol_type) && !gstr_eq(g->protocol_type, req->protocol_type)) ||
        (!kstr_is_null(req->protocol_name) && !gstr_eq(g->protocol_name, req->protocol_name)))
        return group_sync_error(w, KAFKA_ERR_INCONSISTENT_GROUP_PROTOCOL);
    uint64_t now = group_now_us();
    switch (g->state) {
    case GROUP_EMPTY: return group_sync_error(w, KAFKA_ERR_UNKNOWN_MEMBER_ID);
    case GROUP_PREPARING_REBALANCE: return group_sync_error(w, KAFKA_ERR_REBALANCE_IN_PROGRESS);
    case GROUP_DEAD: return group_sync_error(w, KAFKA_ERR_COORDINATOR_NOT_AVAILABLE);
    case GROUP_COMPLETING_REBALANCE:
        if (c->held_requests >= LIMIT_GROUP_HELD_REQUESTS_MAX && !m->sync_waiter)
            return group_sync_error(w, KAFKA_ERR_COORDINATOR_NOT_AVAILABLE);
        m->pending_sync = false;
        group_hold_sync(c, m, w);
        if (m == g->leader) complete_sync(c, g, req, now);
        return;
    case GROUP_STABLE:
        m->pending_sync = false;
        group_member_touch(c, m, now);
        return sync_answer_assignment(g, m, w);
    }
}

/* -------------------------------------------------------- heartbeat, leave */

int16_t group_heartbeat(struct group_coordinator *c, const struct kafka_heartbeat_request *req) {
    if (req->group_id.len <= 0) return KAFKA_ERR_INVALID_GROUP_ID;
    struct group *g = group_find(c, req->group_id);
    if (!g) return KAFKA_ERR_UNKNOWN_MEMBER_ID;
    if (g->state == GROUP_DEAD) return KAFKA_ERR_COORDINATOR_NOT_AVAILABLE;
    struct group_member *m;
    int16_t err = group_validate_member(g, req->member_id, req->group_instance_id, &m);
    if (err) return err;
    switch (g->state) {
    case GROUP_EMPTY: return KAFKA_ERR_UNKNOWN_MEMBER_ID;
    case GROUP_PREPARING_REBALANCE:
        group_member_touch(c, m, group_now_us());
        return KAFKA_ERR_REBALANCE_IN_PROGRESS;
    case GROUP_COMPLETING_REBALANCE:
    case GROUP_STABLE:
        if (req->generation_id != g->generation) return KAFKA_ERR_ILLEGAL_GENERATION;
        group_member_touch(c, m, group_now_us());
        return KAFKA_ERR_NONE;
    case GROUP_DEAD: break;
    }
    return KAFKA_ERR_COORDINATOR_NOT_AVAILABLE;
}

static int16_t leave_one(struct group_coordinator *c, struct group *g, struct kstr member_id,
                         struct kstr instance_id, struct kstr reason, uint64_t now_us) {
    struct group_member *m = NULL;
    int16_t err;
    if (member_id.len <= 0 && !kstr_is_null(instance_id)) {
        /* Removal by instance id alone (an admin removing static members). */
        m = strmap_get(&g->static_members, instance_id.ptr, (size_t)instance_id.len);
        err = m ? KAFKA_ERR_NONE : KAFKA_ERR_UNKNOWN_MEMBER_ID;
    } else {
        struct group_pending *p = kstr_is_null(instance_id) && member_id.len > 0
                                      ? strmap_get(&g->pending, member_id.ptr, (size_t)member_id.len)
                                      : NULL;
        if (p) {
            strmap_del(&g->pending, p->id.ptr, (size_t)p->id.len);
            group_pending_free(c, p);
            try_complete_join(c, g, now_us);
            return KAFKA_ERR_NONE;
        }
        err = group_validate_member(g, member_id, instance_id, &m);
    }
    if (err) return err;
    char why[160];
    snprintf(why, sizeof(why), "left the group%s%.*s", reason.len > 0 ? ": " : "",
             reason.len > 0 ? (reason.len > 120 ? 120 : (int)reason.len) : 0, reason.len > 0 ? reason.ptr : "");
    remove_member_and_update(c, g, m, why, now_us);
    return KAFKA_ERR_NONE;
}

int group_leave(struct group_coordinator *c, const struct kafka_leave_group_request *req, int16_t version,
                struct arena *a, struct kafka_leave_group_response *resp) {
    kafka_leave_group_response_init(resp);
    /* v0-2 name one member; v3+ a list (KIP-345). */
    struct kafka_leave_group_request_member_identity single;
    const struct kafka_leave_group_request_member_identity *ids = req->members;
    int32_t n = req->members_count > 0 ? req->members_count : 0;
    if (version < 3) {
        kafka_leave_group_request_member_identity_init(&single);
        single.member_id = req->member_id;
        ids = &single;
        n = 1;
    }
    resp->members = arena_alloc(a, sizeof(*resp->members) * (size_t)(n ? n : 1));
    if (!resp->members) return -1;
    resp->members_count = n;
    if (req->group_id.len <= 0) {
        resp->error_code = KAFKA_ERR_INVALID_GROUP_ID;
        resp->members_count = 0;
        return 0;
    }
    struct group *g = group_find(c, req->group_id);
    if (g && g->state == GROUP_DEAD) {
        resp->error_code = KAFKA_ERR_COORDINATOR_NOT_AVAILABLE;
        resp->members_count = 0;
        return 0;
    }
    uint64_t now = group_now_us();
    for (int32_t i = 0; i < n; i++) {
        struct kafka_leave_group_response_member_response *mr = &resp->members[i];
        kafka_leave_group_response_member_response_init(mr);
        mr->member_id = ids[i].member_id;
        mr->group_instance_id = ids[i].group_instance_id;
        /* Each removal may reshape the group, so look it up each time. */
        g = group_find(c, req->group_id);
        mr->error_code = g ? leave_one(c, g, ids[i].member_id, ids[i].group_instance_id, ids[i].reason, now)
                           : KAFKA_ERR_UNKNOWN_MEMBER_ID;
    }
    /* Before v3 the one member's error is the response's. */
    if (version < 3) resp->error_code = resp->members[0].error_code;
    return 0;
}

/* ------------------------------------------------------------ deadlines */

static struct group_member *first_expired(struct group *g, uint64_t now_us) {
    for (struct group_member *m = g->head; m; m = m->next) {
        if (!m->deadline_us || now_us < m->deadline_us) continue;
        if (!m->is_new && (m->awaiting_join || m->sync_waiter)) {
            /* Members waiting on us are alive by definition; their session
             * restarts when their request is answered. */
            m->deadline_us = group_after_ms(now_us, m->session_timeout_ms);
            continue;
        }
        return m;
    }
    return NULL;
}

static struct group_pending *first_expired_pending(struct group *g, uint64_t now_us) {
    uint32_t pos = 0;
    void *v;
    while (strmap_next(&g->pending, &pos, &v)) {
        struct group_pending *p = v;
        if (now_us >= p->deadline_us) return p;
    }
    return NULL;
}

static void expire_pending_sync(struct group_coordinator *c, struct group *g, uint64_t now_us) {
    bool removed = false;
    for (struct group_member *m = g->head, *next; m; m = next) {
        next = m->next;
        if (!m->pending_sync) continue;
        log_info("group", "member removed group=%s member=%s reason=\"no SyncGroup within the rebalance timeout\"",
                 g->id.ptr, m->id.ptr);
        group_member_drop(c, g, m);
        removed = true;
    }
    g->sync_deadline_us = 0;
    if (removed) prepare_rebalance(c, g, "members did not sync in time", now_us);
}

uint64_t group_membership_tick(struct group_coordinator *c, struct group *g, uint64_t now_us) {
    struct group_pending *p;
    while ((p = first_expired_pending(g, now_us))) {
        log_info("group", "pending member expired group=%s member=%s", g->id.ptr, p->id.ptr);
        strmap_del(&g->pending, p->id.ptr, (size_t)p->id.len);
        group_pending_free(c, p);
        try_complete_join(c, g, now_us);
    }
    struct group_member *m;
    while ((m = first_expired(g, now_us)))
        remove_member_and_update(c, g, m, m->is_new ? "new member did not complete its join" : "session timeout",
                                 now_us);
    if (g->state == GROUP_PREPARING_REBALANCE && g->join_deadline_us && now_us >= g->join_deadline_us) {
        if (g->initial_join && g->new_member_added && g->initial_remaining_ms > 0) {
            /* More members arrived during the delay: wait once more. */
            int32_t d = c->initial_delay_ms < g->initial_remaining_ms ? c->initial_delay_ms : g->initial_remaining_ms;
            g->new_member_added = false;
            g->initial_remaining_ms -= d;
            g->join_deadline_us = group_after_ms(now_us, d);
        } else {
            complete_join(c, g, now_us);
        }
    }
    if ((g->state == GROUP_COMPLETING_REBALANCE || g->state == GROUP_STABLE) && g->sync_deadline_us &&
        now_us >= g->sync_deadline_us)
        expire_pending_sync(c, g, now_us);
    /* The next deadline of anything in the group. */
    uint64_t next = 0;
#define CONSIDER(t) \
    do { if ((t) && (!next || (t) < next)) next = (t); } while (0)
    for (m = g->head; m; m = m->next) CONSIDER(m->deadline_us);
    uint32_t pos = 0;
    void *v;
    while (strmap_next(&g->pending, &pos, &v)) CONSIDER(((struct group_pending *)v)->deadline_us);
    if (g->state == GROUP_PREPARING_REBALANCE) CONSIDER(g->join_deadline_us);
    if (g->state == GROUP_COMPLETING_REBALANCE || g->state == GROUP_STABLE) CONSIDER(g->sync_deadline_us);
#undef CONSIDER
    return next;
}
