/*
 * Group members as data: their storage (protocols, assignment, the byte
 * budget they count against), the group's member tables, the protocol
 * rules Kafka applies across members, member ids, and the held requests
 * (waiters) members may have. The rebalance state machine that moves
 * members around is membership.c.
 */
#include "group/group_internal.h"

#include <stdio.h>
#include <stdlib.h>

#include "broker/internal.h"
#include "core/limits.h"
#include "core/log.h"

/* Kafka's ConsumerProtocol type name: only such groups have subscriptions
 * we can read. */
#define CONSUMER_PROTOCOL_TYPE "consumer"
/* ConsumerProtocolSubscription versions we decode (newer ones are read as
 * the newest we know, as Kafka does: fields are only ever appended). */
#define CONSUMER_SUBSCRIPTION_VERSION_MAX 3
/* Scratch for decoding one subscription. */
#define SUBSCRIPTION_ARENA_BYTES (4 * 1024 * 1024)

/* Stands in for empty byte strings (a kbytes needs a non-NULL pointer). */
const uint8_t group_empty_bytes[1];

/* ------------------------------------------------------------- accessors */

const struct group_member *group_first_member(const struct group *g) { return g->head; }
const struct group_member *group_next_member(const struct group_member *m) { return m->next; }
struct kstr group_member_id(const struct group_member *m) { return gstr_k(m->id); }
struct kstr group_member_instance_id(const struct group_member *m) { return gstr_k(m->instance_id); }
uint32_t group_member_count(const struct group *g) { return g->member_count; }

struct group_protocol *group_member_protocol(const struct group_member *m, struct gstr name) {
    if (!name.ptr) return NULL;
    for (uint32_t i = 0; i < m->protocol_count; i++)
        if (gstr_eq(m->protocols[i].name, gstr_k(name))) return &m->protocols[i];
    return NULL;
}

struct kbytes group_member_metadata(const struct group_member *m) {
    const struct group_protocol *p = group_member_protocol(m, m->group->protocol_name);
    if (!p || !p->metadata) return (struct kbytes){group_empty_bytes, 0};
    return (struct kbytes){p->metadata, p->metadata_len};
}

/* ---------------------------------------------------------------- answers */

void group_join_answer(struct group_waiter *w, const struct group_join_reply *r) { w->join_done(w, r); }

void group_join_error(struct group_waiter *w, struct kstr member_id, int16_t err) {
    struct group_join_reply r = {
        .error = err,
        .generation = -1,
        .protocol_type = {NULL, -1},
        .protocol_name = {NULL, -1},
        .leader = kstr_c(""),
        .member_id = kstr_is_null(member_id) ? kstr_c("") : member_id,
    };
    group_join_answer(w, &r);
}

void group_sync_error(struct group_waiter *w, int16_t err) {
    struct group_sync_reply r = {err, {NULL, -1}, {NULL, -1}, {group_empty_bytes, 0}};
    w->sync_done(w, &r);
}

/* Takes the member's held join request, if any (its request may be gone). */
struct group_waiter *group_take_join(struct group_coordinator *c, struct group_member *m) {
    struct group_waiter *w = m->join_waiter;
    if (!w) return NULL;
    m->join_waiter = NULL;
    w->member = NULL;
    c->held_requests--;
    return w;
}

struct group_waiter *group_take_sync(struct group_coordinator *c, struct group_member *m) {
    struct group_waiter *w = m->sync_waiter;
    if (!w) return NULL;
    m->sync_waiter = NULL;
    w->member = NULL;
    c->held_requests--;
    return w;
}

/* While the coordinator is destroyed the network loop is already gone:
 * a waiter still held then (there should be none: the loop aborts every
 * pending request first) is only detached, never called. */
void group_answer_join_error(struct group_coordinator *c, struct group_member *m, int16_t err) {
    struct group_waiter *w = group_take_join(c, m);
    if (w && !c->destroying) group_join_error(w, gstr_k(m->id), err);
}

void group_answer_sync_error(struct group_coordinator *c, struct group_member *m, int16_t err) {
    struct group_waiter *w = group_take_sync(c, m);
    if (w && !c->destroying) group_sync_error(w, err);
}

void group_hold_join(struct group_coordinator *c, struct group_member *m, struct group_waiter *w) {
    /* A newer JoinGroup from the same member replaces the older one, which
     * still gets an answer. */
    group_answer_join_error(c, m, KAFKA_ERR_REBALANCE_IN_PROGRESS);
    m->join_waiter = w;
    w->member = m;
    w->coord = c;
    c->held_requests++;
}

void group_hold_sync(struct group_coordinator *c, struct group_member *m, struct group_waiter *w) {
    group_answer_sync_error(c, m, KAFKA_ERR_REBALANCE_IN_PROGRESS);
    m->sync_waiter = w;
    w->member = m;
    w->coord = c;
    c->held_requests++;
}

void group_waiter_abandon(struct group_waiter *w) {
    struct group_member *m = w->member;
    if (!m) return;
    /* The member stays: like Kafka, a lost connection is not a departure.
     * It still counts as having joined; its session timeout decides. */
    if (m->join_waiter == w) m->join_waiter = NULL;
    if (m->sync_waiter == w) m->sync_waiter = NULL;
    w->member = NULL;
    w->coord->held_requests--;
}

/* -------------------------------------------------------- member storage */

static void protocols_free(struct group_protocol *p, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) {
        gstr_clear(&p[i].name);
        free(p[i].metadata);
    }
    free(p);
}

/* Every member's metadata and assignment bytes count twice: in its
 * group (whose JoinGroup and DescribeGroups answers carry them all) and in
 * the coordinator's budget. */
static void member_account(struct group_coordinator *c, struct group_member *m, uint64_t bytes) {
    c->member_bytes = c->member_bytes - m->bytes + bytes;
    m->group->member_bytes = m->group->member_bytes - m->bytes + bytes;
    m->bytes = bytes;
}

uint64_t group_member_assignment_bytes(const struct group_member *m) {
    return m->assignment_len > 0 ? (uint64_t)m->assignment_len : 0;
}

int16_t group_member_set_protocols(struct group_coordinator *c, struct group_member *m,
                                   const struct kafka_join_group_request_join_group_request_protocol *in, int32_t n) {
    struct group_protocol *p = calloc((size_t)(n > 0 ? n : 1), sizeof(*p));
    if (!p) return KAFKA_ERR_COORDINATOR_NOT_AVAILABLE;
    uint32_t count = 0;
    uint64_t meta = 0;
    for (int32_t i = 0; i < n; i++) {
        bool dup = false;
        for (uint32_t j = 0; j < count && !dup; j++) dup = gstr_eq(p[j].name, in[i].name);
        if (dup) continue;
        struct group_protocol *out = &p[count];
        out->name = (struct gstr){NULL, -1};
        int32_t len = in[i].metadata.len > 0 ? in[i].metadata.len : 0;
        out->metadata = malloc((size_t)(len ? len : 1));
        if (!out->metadata || gstr_set(&out->name, in[i].name) != 0) {
            free(out->metadata);
            protocols_free(p, count);
            return KAFKA_ERR_COORDINATOR_NOT_AVAILABLE;
        }
        if (len) memcpy(out->metadata, in[i].metadata.ptr, (size_t)len);
        out->metadata_len = len;
        meta += (uint64_t)len;
        count++;
    }
    uint64_t bytes = meta + group_member_assignment_bytes(m);
    int16_t err = KAFKA_ERR_NONE;
    if (m->group->member_bytes - m->bytes + bytes > (uint64_t)LIMIT_GROUP_BYTES_MAX) {
        log_warn("group", "group metadata bound reached, refusing a join group=%s limit=%d", m->group->id.ptr,
                 LIMIT_GROUP_BYTES_MAX);
        err = KAFKA_ERR_GROUP_MAX_SIZE_REACHED;
    } else if (c->member_bytes - m->bytes + bytes > (uint64_t)LIMIT_GROUP_MEMBER_BYTES_TOTAL_MAX) {
        log_warn("group", "member metadata budget reached, refusing a join group=%s limit=%lld", m->group->id.ptr,
                 (long long)LIMIT_GROUP_MEMBER_BYTES_TOTAL_MAX);
        err = KAFKA_ERR_COORDINATOR_NOT_AVAILABLE;
    }
    if (err) {
        protocols_free(p, count);
        return err;
    }
    protocols_free(m->protocols, m->protocol_count);
    m->protocols = p;
    m->protocol_count = count;
    member_account(c, m, bytes);
    return KAFKA_ERR_NONE;
}

void group_member_set_assignment(struct group_coordinator *c, struct group_member *m, uint8_t *bytes, int32_t len) {
    free(m->assignment);
    m->assignment = bytes;
    m->assignment_len = bytes ? len : 0;
    uint64_t meta = 0;
    for (uint32_t i = 0; i < m->protocol_count; i++) meta += (uint64_t)m->protocols[i].metadata_len;
    member_account(c, m, meta + group_member_assignment_bytes(m));
}

void group_member_free(struct group_coordinator *c, struct group_member *m) {
    member_account(c, m, 0);
    protocols_free(m->protocols, m->protocol_count);
    free(m->assignment);
    gstr_clear(&m->id);
    gstr_clear(&m->instance_id);
    gstr_clear(&m->client_id);
    gstr_clear(&m->client_host);
    c->member_count--;
    free(m);
}

struct group_member *group_member_alloc(struct group_coordinator *c, struct group *g) {
    struct group_member *m = calloc(1, sizeof(*m));
    if (!m) return NULL;
    m->group = g;
    m->id = m->instance_id = m->client_id = m->client_host = (struct gstr){NULL, -1};
    c->member_count++;
    return m;
}

/* Links a member into the group's tables. 0, or -1 out of memory. */
int group_member_link(struct group *g, struct group_member *m) {
    if (strmap_put(&g->members, m->id.ptr, (size_t)m->id.len, m) != 0) return -1;
    if (m->instance_id.ptr &&
        strmap_put(&g->static_members, m->instance_id.ptr, (size_t)m->instance_id.len, m) != 0) {
        strmap_del(&g->members, m->id.ptr, (size_t)m->id.len);
        return -1;
    }
    m->prev = g->tail;
    m->next = NULL;
    if (g->tail) g->tail->next = m;
    else g->head = m;
    g->tail = m;
    g->member_count++;
    if (!g->leader) g->leader = m;
    return 0;
}

static void member_unlink(struct group *g, struct group_member *m) {
    strmap_del(&g->members, m->id.ptr, (size_t)m->id.len);
    if (m->instance_id.ptr &&
        strmap_get(&g->static_members, m->instance_id.ptr, (size_t)m->instance_id.len) == m)
        strmap_del(&g->static_members, m->instance_id.ptr, (size_t)m->instance_id.len);
    if (m->prev) m->prev->next = m->next;
    else g->head = m->next;
    if (m->next) m->next->prev = m->prev;
    else g->tail = m->prev;
    g->member_count--;
    if (m->awaiting_join) g->awaiting_join_count--;
    m->awaiting_join = false;
    if (g->leader == m) g->leader = g->head;  /* any member will do, as in Kafka */
}

/* Unlinks, answers what it holds, frees. No state transition. */
void group_member_drop(struct group_coordinator *c, struct group *g, struct group_member *m) {
    member_unlink(g, m);
    group_answer_join_error(c, m, KAFKA_ERR_UNKNOWN_MEMBER_ID);
    group_answer_sync_error(c, m, KAFKA_ERR_UNKNOWN_MEMBER_ID);
    group_member_free(c, m);
}

void group_pending_free(struct group_coordinator *c, struct group_pending *p) {
    gstr_clear(&p->id);
    free(p);
    c->member_count--;
}

void group_clear_members(struct group_coordinator *c, struct group *g) {
    while (g->head) group_member_drop(c, g, g->head);
    /* The walk only reads slots (never the freed keys), then the table goes. */
    uint32_t pos = 0;
    void *v;
    while (strmap_next(&g->pending, &pos, &v)) group_pending_free(c, v);
    strmap_free(&g->pending);
    g->leader = NULL;
    g->awaiting_join_count = 0;
}

/* ------------------------------------------------------------- protocols */

static bool member_offers(const struct group_member *m, struct kstr name) {
    for (uint32_t i = 0; i < m->protocol_count; i++)
        if (gstr_eq(m->protocols[i].name, name)) return true;
    return false;
}

static bool all_members_offer(const struct group *g, struct kstr name) {
    for (const struct group_member *m = g->head; m; m = m->next)
        if (!member_offers(m, name)) return false;
    return true;
}

/* Kafka's rule: an empty group takes any non-empty protocol list; a group
 * with members takes a member of the same protocol type offering at least
 * one protocol every member supports. */
bool group_supports_protocols(const struct group *g, struct kstr type,
                               const struct kafka_join_group_request_join_group_request_protocol *p, int32_t n) {
    if (g->member_count == 0) return type.len > 0 && n > 0;
    if (!gstr_eq(g->protocol_type, type)) return false;
    for (int32_t i = 0; i < n; i++)
        if (all_members_offer(g, p[i].name)) return true;
    return false;
}

/* Candidates are the protocols every member offers; each member votes for
 * the first candidate in its own order of preference and the most votes
 * win (ties: the earlier candidate in the leader's order). */
struct gstr group_select_protocol(const struct group *g) {
    const struct group_member *first = g->leader ? g->leader : g->head;
    struct gstr best = {NULL, -1};
    uint32_t best_votes = 0;
    if (!first) return best;
    for (uint32_t i = 0; i < first->protocol_count; i++) {
        struct kstr cand = gstr_k(first->protocols[i].name);
        if (!all_members_offer(g, cand)) continue;
        uint32_t votes = 0;
        for (const struct group_member *m = g->head; m; m = m->next) {
            for (uint32_t j = 0; j < m->protocol_count; j++) {
                struct kstr pj = gstr_k(m->protocols[j].name);
                if (!all_members_offer(g, pj)) continue;
                if (kstr_same(pj, cand)) votes++;
                break;
            }
        }
        if (!best.ptr || votes > best_votes) {
            best = first->protocols[i].name;
            best_votes = votes;
        }
    }
    return best;
}

bool group_member_matches(const struct group_member *m,
                           const struct kafka_join_group_request_join_group_request_protocol *p, int32_t n) {
    if ((int32_t)m->protocol_count != n) return false;
    for (int32_t i = 0; i < n; i++) {
        const struct group_protocol *mp = &m->protocols[i];
        int32_t len = p[i].metadata.len > 0 ? p[i].metadata.len : 0;
        if (!gstr_eq(mp->name, p[i].name) || mp->metadata_len != len) return false;
        if (len && memcmp(mp->metadata, p[i].metadata.ptr, (size_t)len) != 0) return false;
    }
    return true;
}

bool group_subscribes(const struct group *g, struct kstr topic) {
    if (!gstr_eq(g->protocol_type, kstr_c(CONSUMER_PROTOCOL_TYPE)) || !g->protocol_name.ptr) return true;
    struct arena a;
    arena_init(&a, SUBSCRIPTION_ARENA_BYTES);
    bool found = false;
    for (const struct group_member *m = g->head; m && !found; m = m->next) {
        struct kbytes md = group_member_metadata(m);
        struct kreader r;
        kreader_init(&r, md.ptr, (size_t)md.len);
        int16_t v = kr_i16(&r);
        struct kafka_consumer_protocol_subscription sub;
        if (r.err || v < 0 ||
            kafka_consumer_protocol_subscription_decode(&sub, &r, v > CONSUMER_SUBSCRIPTION_VERSION_MAX
                                                                     ? CONSUMER_SUBSCRIPTION_VERSION_MAX : v,
                                                        &a) != 0) {
            found = true;  /* unreadable: assume subscribed, as Kafka does */
            break;
        }
        for (int32_t i = 0; i < sub.topics_count && !found; i++) found = kstr_same(sub.topics[i], topic);
        arena_reset(&a);
    }
    arena_free(&a);
    return found;
}

/* ---------------------------------------------------------------- timing */

void group_member_touch(struct group_coordinator *c, struct group_member *m, uint64_t now_us) {
    m->deadline_us = group_after_ms(now_us, m->session_timeout_ms);
    group_schedule(c, m->group, m->deadline_us);
}

/* ------------------------------------------------------------ member ids */

/* The random part of generated member ids: a version-4 UUID as text. */
static void uuid_text(char out[37]) {
    struct kuuid u;
    uuid_random(&u);
    const uint8_t *b = u.bytes;
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
             b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

/* Kafka's member id: the instance id (static) or client id, "-", a UUID. */
int group_new_member_id(struct gstr *out, struct kstr prefix) {
    int32_t plen = prefix.len > 0 ? prefix.len : 0;
    if (plen > GROUP_MEMBER_ID_PREFIX_BYTES_MAX) {
        plen = GROUP_MEMBER_ID_PREFIX_BYTES_MAX;
        /* Do not cut a UTF-8 sequence in two. */
        while (plen > 0 && ((uint8_t)prefix.ptr[plen] & 0xC0) == 0x80) plen--;
    }
    char uuid[37];
    uuid_text(uuid);
    size_t len = (size_t)plen + strlen(GROUP_MEMBER_ID_DELIMITER) + 36;
    char *s = malloc(len + 1);
    if (!s) return -1;
    if (plen) memcpy(s, prefix.ptr, (size_t)plen);
    memcpy(s + plen, GROUP_MEMBER_ID_DELIMITER, strlen(GROUP_MEMBER_ID_DELIMITER));
    memcpy(s + plen + strlen(GROUP_MEMBER_ID_DELIMITER), uuid, 37);
    gstr_clear(out);
    out->ptr = s;
    out->len = (int32_t)len;
    return 0;
}

/* ---------------------------------------------------------------- fencing */

int16_t group_validate_member(struct group *g, struct kstr member_id, struct kstr instance_id,
                              struct group_member **out) {
    *out = NULL;
    if (!kstr_is_null(instance_id)) {
        struct group_member *m = strmap_get(&g->static_members, instance_id.ptr, (size_t)instance_id.len);
        if (!m) return KAFKA_ERR_UNKNOWN_MEMBER_ID;
        if (!gstr_eq(m->id, member_id)) return KAFKA_ERR_FENCED_INSTANCE_ID;
        *out = m;
        return KAFKA_ERR_NONE;
    }
    if (kstr_is_null(member_id)) return KAFKA_ERR_UNKNOWN_MEMBER_ID;
    *out = strmap_get(&g->members, member_id.ptr, (size_t)member_id.len);
    return *out ? KAFKA_ERR_NONE : KAFKA_ERR_UNKNOWN_MEMBER_ID;
}

/* --------------------------------------------------------------- loading */

int group_member_restore(struct group_coordinator *c, struct group *g,
                         const struct kafka_group_metadata_value_member_metadata *mm, struct kstr protocol) {
    if (kstr_is_null(mm->member_id) || strmap_get(&g->members, mm->member_id.ptr, (size_t)mm->member_id.len))
        return -1;
    if (c->member_count >= LIMIT_GROUP_MEMBERS_TOTAL_MAX || g->member_count >= (uint32_t)LIMIT_GROUP_MEMBERS_MAX)
        return -1;
    int32_t sub_len = mm->subscription.len > 0 ? mm->subscription.len : 0;
    int32_t as_len = mm->assignment.len > 0 ? mm->assignment.len : 0;
    uint64_t bytes = (uint64_t)sub_len + (uint64_t)as_len;
    if (sub_len > LIMIT_GROUP_MEMBER_METADATA_BYTES_MAX || as_len > LIMIT_GROUP_MEMBER_ASSIGNMENT_BYTES_MAX ||
        g->member_bytes + bytes > (uint64_t)LIMIT_GROUP_BYTES_MAX ||
        c->member_bytes + bytes > (uint64_t)LIMIT_GROUP_MEMBER_BYTES_TOTAL_MAX)
        return -1;
    struct group_member *m = group_member_alloc(c, g);
    if (!m) return -1;
    struct kafka_join_group_request_join_group_request_protocol p = {protocol, mm->subscription};
    uint8_t *assignment = malloc((size_t)(as_len ? as_len : 1));
    bool ok = assignment && gstr_set(&m->id, mm->member_id) == 0 &&
              gstr_set(&m->instance_id, mm->group_instance_id) == 0 &&
              gstr_set(&m->client_id, mm->client_id) == 0 && gstr_set(&m->client_host, mm->client_host) == 0 &&
              group_member_set_protocols(c, m, &p, kstr_is_null(protocol) ? 0 : 1) == KAFKA_ERR_NONE;
    if (ok && as_len) memcpy(assignment, mm->assignment.ptr, (size_t)as_len);
    if (ok) group_member_set_assignment(c, m, assignment, as_len);
    else free(assignment);
    if (!ok || group_member_link(g, m) != 0) {
        group_member_free(c, m);
        return -1;
    }
    m->session_timeout_ms = mm->session_timeout;
    m->rebalance_timeout_ms = mm->rebalance_timeout > 0 ? mm->rebalance_timeout : mm->session_timeout;
    /* Members must heartbeat within their session after a restart, like
     * after a join; those that do not are removed and the group rebalances. */
    group_member_touch(c, m, group_now_us());
    return 0;
}
