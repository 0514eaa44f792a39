/*
 * The coordinator's frame: the group registry, the deadline heap and the
 * one timer that drives every group's timeouts, FindCoordinator, and the
 * admin view of groups (ListGroups, DescribeGroups, DeleteGroups).
 *
 * Deadlines: each group that waits for something (a member's session, the
 * end of a join phase, members that owe a SyncGroup) sits in a binary
 * min-heap keyed by its earliest deadline. A heartbeat only ever moves a
 * deadline later, so it does not touch the heap: the group wakes at the
 * old, earlier key, finds nothing due and goes back with its real next
 * deadline. One net timer serves the heap, so the coordinator holds one
 * slot of the loop's bounded timer table however many groups it has; the
 * heap itself is allocated at start for LIMIT_GROUPS_MAX groups, so
 * scheduling never fails.
 */
#include "group/group_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "broker/internal.h"
#include "core/limits.h"
#include "core/log.h"

/* Kafka's ACL operations a group resource supports (READ, DELETE,
 * DESCRIBE), as the bit positions DescribeGroups reports; without an
 * authorizer every client may do all of them. */
#define ACL_OP_READ 3
#define ACL_OP_DELETE 6
#define ACL_OP_DESCRIBE 8
#define GROUP_AUTHORIZED_OPERATIONS ((1 << ACL_OP_READ) | (1 << ACL_OP_DELETE) | (1 << ACL_OP_DESCRIBE))
/* "Not requested", as Kafka encodes it. */
#define AUTHORIZED_OPERATIONS_OMITTED INT32_MIN

/* FindCoordinator key types (KIP-699, KIP-932). */
#define COORDINATOR_KEY_GROUP 0
#define COORDINATOR_KEY_TRANSACTION 1
#define COORDINATOR_KEY_SHARE 2

/* ListGroups v5 type name of every group here. */
#define GROUP_TYPE_CLASSIC "classic"

/* ------------------------------------------------------------------ strings */

int gstr_set(struct gstr *dst, struct kstr src) {
    struct gstr out = {NULL, -1};
    if (!kstr_is_null(src)) {
        out.ptr = malloc((size_t)src.len + 1);
        if (!out.ptr) return -1;
        if (src.len) memcpy(out.ptr, src.ptr, (size_t)src.len);
        out.ptr[src.len] = 0;
        out.len = src.len;
    }
    gstr_clear(dst);
    *dst = out;
    return 0;
}

void gstr_clear(struct gstr *s) {
    free(s->ptr);
    s->ptr = NULL;
    s->len = -1;
}

bool gstr_eq(struct gstr a, struct kstr b) { return kstr_same(gstr_k(a), b); }

uint64_t group_now_us(void) { return net_now_us(); }
int64_t group_wall_ms(void) { return net_wall_ms(); }

const char *group_state_name(enum group_state s) {
    switch (s) {
    case GROUP_EMPTY: return "Empty";
    case GROUP_PREPARING_REBALANCE: return "PreparingRebalance";
    case GROUP_COMPLETING_REBALANCE: return "CompletingRebalance";
    case GROUP_STABLE: return "Stable";
    case GROUP_DEAD: return "Dead";
    }
    return "Unknown";
}

void group_set_state(struct group *g, enum group_state s) {
    g->state = s;
    g->state_ms = group_wall_ms();
}

/* ------------------------------------------------------ partition for a key */

/* Decodes one UTF-8 code point at p[0..n); malformed input gives U+FFFD
 * for one byte, as Java's decoder replaces it. Returns bytes used. */
static size_t utf8_next(const uint8_t *p, size_t n, uint32_t *cp) {
    uint8_t c = p[0];
    size_t need;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if ((c & 0xE0) == 0xC0) need = 1, v = c & 0x1F, min = 0x80;
    else if ((c & 0xF0) == 0xE0) need = 2, v = c & 0x0F, min = 0x800;
    else if ((c & 0xF8) == 0xF0) need = 3, v = c & 0x07, min = 0x10000;
    else goto bad;
    if (need >= n) goto bad;
    for (size_t i = 1; i <= need; i++) {
        if ((p[i] & 0xC0) != 0x80) goto bad;
        v = (v << 6) | (p[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) goto bad;
    *cp = v;
    return need + 1;
bad:
    *cp = 0xFFFD;
    return 1;
}

/* Java's String.hashCode over the UTF-16 code units of the decoded id:
 * h = 31 * h + unit, in 32-bit two's complement. */
static int32_t java_string_hash(struct kstr s) {
    uint32_t h = 0;
    const uint8_t *p = (const uint8_t *)s.ptr;
    size_t n = s.len > 0 ? (size_t)s.len : 0, i = 0;
    while (i < n) {
        uint32_t cp;
        i += utf8_next(p + i, n - i, &cp);
        if (cp >= 0x10000) {
            cp -= 0x10000;
            h = 31 * h + (0xD800 + (cp >> 10));
            h = 31 * h + (0xDC00 + (cp & 0x3FF));
        } else {
            h = 31 * h + cp;
        }
    }
    return (int32_t)h;
}

int32_t group_partition_for(struct kstr group_id, int32_t partitions) {
    if (partitions <= 0) return 0;
    int32_t h = java_string_hash(group_id);
    /* Kafka's Utils.abs maps Integer.MIN_VALUE to 0 rather than overflow. */
    int32_t a = h == INT32_MIN ? 0 : (h < 0 ? -h : h);
    return a % partitions;
}

/* -------------------------------------------------------------------- heap */

static void heap_place(struct group_coordinator *c, uint32_t pos, struct group *g) {
    c->heap[pos] = g;
    g->heap_pos = pos;
}

static void heap_up(struct group_coordinator *c, uint32_t pos) {
    struct group *g = c->heap[pos];
    while (pos > 0) {
        uint32_t parent = (pos - 1) / 2;
        if (c->heap[parent]->heap_key_us <= g->heap_key_us) break;
        heap_place(c, pos, c->heap[parent]);
        pos = parent;
    }
    heap_place(c, pos, g);
}

static void heap_down(struct group_coordinator *c, uint32_t pos) {
    struct group *g = c->heap[pos];
    for (;;) {
        uint32_t child = 2 * pos + 1;
        if (child >= c->heap_len) break;
        if (child + 1 < c->heap_len && c->heap[child + 1]->heap_key_us < c->heap[child]->heap_key_us) child++;
        if (c->heap[child]->heap_key_us >= g->heap_key_us) break;
        heap_place(c, pos, c->heap[child]);
        pos = child;
    }
    heap_place(c, pos, g);
}

static void heap_delete(struct group_coordinator *c, struct group *g) {
    if (!g->heap_key_us) return;
    uint32_t pos = g->heap_pos;
    if (pos >= c->heap_len || c->heap[pos] != g) {
        log_error("group", "deadline heap out of step group=%s pos=%u len=%u", g->id.ptr, pos, c->heap_len);
        abort();
    }
    g->heap_key_us = 0;
    c->heap_len--;
    if (pos < c->heap_len) {
        heap_place(c, pos, c->heap[c->heap_len]);
        heap_down(c, pos);
        heap_up(c, c->heap[pos]->heap_pos);
    }
}

static void on_timer(void *arg);

/* (Re)arms the single timer for the earliest deadline, or an idle tick.
 * The timer lands on the calling event loop, whose table may be full even
 * though the cancel freed a slot on another loop's: then deadlines wait
 * for the next group request, which re-arms. */
static void arm_timer(struct group_coordinator *c) {
    struct broker *b = c->b;
    uint64_t now = group_now_us();
    uint64_t due = now + (uint64_t)GROUP_IDLE_TICK_MS * 1000;
    if (c->heap_len && c->heap[0]->heap_key_us < due) due = c->heap[0]->heap_key_us;
    /* Rounded up: waking before the deadline would find nothing due. */
    uint64_t delay_ms = due > now ? (due - now + 999) / 1000 : 0;
    if (c->timer_id) net_timer_cancel(b->loop, c->timer_id);
    c->timer_id = net_timer_add(b->loop, delay_ms, on_timer, c);
    if (!c->timer_id) {
        log_error("group", "cannot arm the group timer; deadlines wait for the next request");
        c->timer_deadline_us = UINT64_MAX;  /* any scheduling tries again */
        return;
    }
    c->timer_deadline_us = now + delay_ms * 1000;
}

void group_schedule(struct group_coordinator *c, struct group *g, uint64_t deadline_us) {
    if (!deadline_us) return;
    if (g->heap_key_us && g->heap_key_us <= deadline_us) return;
    if (g->heap_key_us) {
        g->heap_key_us = deadline_us;
        heap_up(c, g->heap_pos);
    } else {
        if (c->heap_len >= c->heap_cap) {
            /* Cannot happen: the heap has a slot for every group allowed. */
            log_error("group", "deadline heap full group=%s", g->id.ptr);
            abort();
        }
        g->heap_key_us = deadline_us;
        heap_place(c, c->heap_len++, g);
        heap_up(c, g->heap_pos);
    }
    if (!c->loading && deadline_us < c->timer_deadline_us) arm_timer(c);
}

static bool group_unused(const struct group *g) {
    return g->member_count == 0 && g->pending.count == 0 && g->offset_count == 0 && !g->protocol_type.ptr;
}

void group_run_due(struct group_coordinator *c, uint64_t now_us) {
    while (c->heap_len && c->heap[0]->heap_key_us <= now_us) {
        struct group *g = c->heap[0];
        heap_delete(c, g);
        uint64_t next = group_membership_tick(c, g, now_us);
        if (group_unused(g)) group_remove(c, g);
        else group_schedule(c, g, next);
    }
}

static void on_timer(void *arg) {
    struct group_coordinator *c = arg;
    c->timer_id = 0;
    /* While due groups run, schedule() must not re-arm: we do once below. */
    c->timer_deadline_us = 0;
    group_run_due(c, group_now_us());
    int64_t wall = group_wall_ms();
    if (wall - c->last_expiry_check_ms >= c->retention_check_ms) {
        c->last_expiry_check_ms = wall;
        group_offsets_expire(c, wall);
    }
    arm_timer(c);
}

/* ---------------------------------------------------------------- registry */

struct group *group_find(struct group_coordinator *c, struct kstr id) {
    if (kstr_is_null(id)) return NULL;
    return strmap_get(&c->groups, id.ptr, (size_t)id.len);
}

struct group *group_get_or_create(struct group_coordinator *c, struct kstr id, int16_t *err) {
    *err = KAFKA_ERR_NONE;
    struct group *g = group_find(c, id);
    if (g) return g;
    *err = KAFKA_ERR_COORDINATOR_NOT_AVAILABLE;
    if (kstr_is_null(id)) return NULL;
    if (c->group_count >= LIMIT_GROUPS_MAX) {
        log_warn("group", "group limit reached, refusing a new group limit=%d", LIMIT_GROUPS_MAX);
        return NULL;
    }
    g = calloc(1, sizeof(*g));
    if (!g) return NULL;
    g->coord = c;
    g->id = (struct gstr){NULL, -1};
    g->protocol_type = g->protocol_name = (struct gstr){NULL, -1};
    if (gstr_set(&g->id, id) != 0 || strmap_put(&c->groups, g->id.ptr, (size_t)g->id.len, g) != 0) {
        gstr_clear(&g->id);
        free(g);
        return NULL;
    }
    group_set_state(g, GROUP_EMPTY);
    c->group_count++;
    *err = KAFKA_ERR_NONE;
    return g;
}

/* Frees a group's contents and the group; the registry is the caller's. */
static void group_free(struct group_coordinator *c, struct group *g) {
    group_clear_members(c, g);
    group_offsets_clear(c, g);
    g->state = GROUP_DEAD;
    strmap_free(&g->members);
    strmap_free(&g->static_members);
    strmap_free(&g->pending);
    strmap_free(&g->offset_topics);
    gstr_clear(&g->id);
    gstr_clear(&g->protocol_type);
    gstr_clear(&g->protocol_name);
    free(g);
}

void group_remove(struct group_coordinator *c, struct group *g) {
    if (g->member_count) {
        log_error("group", "removing a group that has members group=%s members=%u", g->id.ptr, g->member_count);
        abort();
    }
    heap_delete(c, g);
    strmap_del(&c->groups, g->id.ptr, (size_t)g->id.len);
    c->group_count--;
    group_free(c, g);
}

void group_drop_if_unused(struct group_coordinator *c, struct group *g) {
    if (g && group_unused(g)) group_remove(c, g);
}

/* --------------------------------------------------------------- life cycle */

struct group_coordinator *group_coordinator_create(struct broker *b) {
    struct group_coordinator *c = calloc(1, sizeof(*c));
    if (!c) return NULL;
    c->b = b;
    c->heap_cap = LIMIT_GROUPS_MAX;
    c->heap = calloc(c->heap_cap, sizeof(*c->heap));
    if (!c->heap) {
        free(c);
        return NULL;
    }
    const struct broker_config *cfg = &b->cfg;
    c->min_session_ms = cfg->group_min_session_timeout_ms;
    c->max_session_ms = cfg->group_max_session_timeout_ms;
    c->initial_delay_ms = cfg->group_initial_rebalance_delay_ms;
    c->max_size = cfg->group_max_size < LIMIT_GROUP_MEMBERS_MAX ? cfg->group_max_size : LIMIT_GROUP_MEMBERS_MAX;
    c->metadata_max_bytes = cfg->offset_metadata_max_bytes;
    c->retention_ms = cfg->offsets_retention_ms;
    c->retention_check_ms = cfg->offsets_retention_check_interval_ms;
    c->loading = true;
    int rc = group_load(c);
    c->loading = false;
    if (rc != 0) {
        group_coordinator_destroy(c);
        return NULL;
    }
    c->last_expiry_check_ms = group_wall_ms();
    arm_timer(c);
    if (!c->timer_id) {
        group_coordinator_destroy(c);
        return NULL;
    }
    return c;
}

void group_coordinator_destroy(struct group_coordinator *c) {
    if (!c) return;
    c->destroying = true;
    /* The loop is gone (or never ran): no timer to cancel, no waiter left
     * to answer; members are freed with their groups. The walk reads only
     * the registry's slots, which the groups' frees do not touch. */
    uint32_t pos = 0;
    void *v = NULL;
    while (strmap_next(&c->groups, &pos, &v)) group_free(c, v);
    strmap_free(&c->groups);
    c->group_count = 0;
    free(c->heap);
    free(c);
}

/* ----------------------------------------------------------- FindCoordinator */

struct coordinator_answer {
    int16_t error;
    const char *message;
};

static struct coordinator_answer find_one(struct group_coordinator *c, int8_t key_type, int16_t version) {
    switch (key_type) {
    case COORDINATOR_KEY_GROUP: {
        int16_t err = group_offsets_topic_ensure(c);
        if (err) return (struct coordinator_answer){err, "The coordinator's topic is not available"};
        return (struct coordinator_answer){KAFKA_ERR_NONE, NULL};
    }
    case COORDINATOR_KEY_TRANSACTION:
        /* Retriable, as while Kafka's transaction topic is being created. */
        return (struct coordinator_answer){KAFKA_ERR_COORDINATOR_NOT_AVAILABLE, "Transactions are not served yet"};
    case COORDINATOR_KEY_SHARE:
        /* A v6 client asks for share groups (KIP-932), which have no
         * coordinator here; before v6 the type does not exist. */
        return (struct coordinator_answer){KAFKA_ERR_INVALID_REQUEST, version >= 6 ? "Share groups are not served"
                                                                                  : "Unknown coordinator key type"};
    default:
        return (struct coordinator_answer){KAFKA_ERR_INVALID_REQUEST, "Unknown coordinator key type"};
    }
}

int group_find_coordinator(struct group_coordinator *c, const struct kafka_find_coordinator_request *req,
                           int16_t version, struct arena *a, struct kafka_find_coordinator_response *resp) {
    struct broker *b = c->b;
    kafka_find_coordinator_response_init(resp);
    struct kstr host = kstr_c(b->cfg.advertised_host);
    int32_t port = b->cfg.advertised_port ? b->cfg.advertised_port : net_loop_port(b->loop);
    if (version < 4) {
        struct coordinator_answer ans = find_one(c, req->key_type, version);
        resp->error_code = ans.error;
        resp->error_message = ans.message ? kstr_c(ans.message) : (struct kstr){NULL, -1};
        resp->node_id = ans.error ? -1 : b->cfg.node_id;
        resp->host = ans.error ? kstr_c("") : host;
        resp->port = ans.error ? -1 : port;
        return 0;
    }
    int32_t n = req->coordinator_keys_count > 0 ? req->coordinator_keys_count : 0;
    resp->coordinators = arena_alloc(a, sizeof(*resp->coordinators) * (size_t)(n ? n : 1));
    if (!resp->coordinators) return -1;
    resp->coordinators_count = n;
    struct coordinator_answer ans = find_one(c, req->key_type, version);
    for (int32_t i = 0; i < n; i++) {
        struct kafka_find_coordinator_response_coordinator *co = &resp->coordinators[i];
        kafka_find_coordinator_response_coordinator_init(co);
        co->key = req->coordinator_keys[i];
        struct coordinator_answer mine = ans;
        if (i >= LIMIT_GROUP_COORDINATOR_KEYS_MAX)
            mine = (struct coordinator_answer){KAFKA_ERR_INVALID_REQUEST, "Too many coordinator keys in one request"};
        co->error_code = mine.error;
        co->error_message = mine.message ? kstr_c(mine.message) : (struct kstr){NULL, -1};
        co->node_id = mine.error ? -1 : b->cfg.node_id;
        co->host = mine.error ? kstr_c("") : host;
        co->port = mine.error ? -1 : port;
    }
    return 0;
}

/* --------------------------------------------------------------- ListGroups */

static bool state_wanted(const struct kafka_list_groups_request *req, enum group_state s) {
    if (req->states_filter_count <= 0) return true;
    const char *name = group_state_name(s);
    size_t len = strlen(name);
    for (int32_t i = 0; i < req->states_filter_count; i++) {
        struct kstr f = req->states_filter[i];
        if (f.len == (int32_t)len && strncasecmp(f.ptr, name, len) == 0) return true;
    }
    return false;
}

static bool type_wanted(const struct kafka_list_groups_request *req) {
    if (req->types_filter_count <= 0) return true;
    size_t len = strlen(GROUP_TYPE_CLASSIC);
    for (int32_t i = 0; i < req->types_filter_count; i++) {
        struct kstr f = req->types_filter[i];
        if (f.len == (int32_t)len && strncasecmp(f.ptr, GROUP_TYPE_CLASSIC, len) == 0) return true;
    }
    return false;
}

int group_list(struct group_coordinator *c, const struct kafka_list_groups_request *req, struct arena *a,
               struct kafka_list_groups_response *resp) {
    kafka_list_groups_response_init(resp);
    uint32_t n = c->group_count;
    resp->groups = arena_alloc(a, sizeof(*resp->groups) * (n ? n : 1));
    if (!resp->groups) return -1;
    if (!type_wanted(req)) return 0;
    int32_t out = 0;
    uint32_t pos = 0;
    void *v;
    while (strmap_next(&c->groups, &pos, &v) && (uint32_t)out < n) {
        const struct group *g = v;
        if (!state_wanted(req, g->state)) continue;
        struct kafka_list_groups_response_listed_group *lg = &resp->groups[out++];
        kafka_list_groups_response_listed_group_init(lg);
        lg->group_id = gstr_k(g->id);
        lg->protocol_type = g->protocol_type.ptr ? gstr_k(g->protocol_type) : kstr_c("");
        lg->group_state = kstr_c(group_state_name(g->state));
        lg->group_type = kstr_c(GROUP_TYPE_CLASSIC);
    }
    resp->groups_count = out;
    return 0;
}

/* ----------------------------------------------------------- DescribeGroups */

static int describe_one(const struct group *g, bool with_ops, struct arena *a,
                        struct kafka_describe_groups_response_described_group *out) {
    out->authorized_operations = with_ops ? GROUP_AUTHORIZED_OPERATIONS : AUTHORIZED_OPERATIONS_OMITTED;
    if (!g) {
        /* Kafka describes an unknown group as Dead, without an error. */
        out->group_state = kstr_c(group_state_name(GROUP_DEAD));
        out->protocol_type = kstr_c("");
        out->protocol_data = kstr_c("");
        return 0;
    }
    out->group_state = kstr_c(group_state_name(g->state));
    out->protocol_type = g->protocol_type.ptr ? gstr_k(g->protocol_type) : kstr_c("");
    /* The selected protocol and member metadata only once the group is
     * Stable, as in Kafka: before that they are not settled. */
    bool stable = g->state == GROUP_STABLE;
    out->protocol_data = stable && g->protocol_name.ptr ? gstr_k(g->protocol_name) : kstr_c("");
    out->members = arena_alloc(a, sizeof(*out->members) * (g->member_count ? g->member_count : 1));
    if (!out->members) return -1;
    int32_t i = 0;
    for (const struct group_member *m = g->head; m; m = m->next, i++) {
        struct kafka_describe_groups_response_described_group_member *dm = &out->members[i];
        kafka_describe_groups_response_described_group_member_init(dm);
        dm->member_id = gstr_k(m->id);
        dm->group_instance_id = gstr_k(m->instance_id);
        dm->client_id = gstr_k(m->client_id);
        dm->client_host = gstr_k(m->client_host);
        dm->member_metadata = stable ? group_member_metadata(m) : (struct kbytes){(const uint8_t *)"", 0};
        dm->member_assignment = stable ? (struct kbytes){m->assignment ? m->assignment : (const uint8_t *)"",
                                                         m->assignment_len}
                                       : (struct kbytes){(const uint8_t *)"", 0};
    }
    out->members_count = i;
    return 0;
}

int group_describe(struct group_coordinator *c, const struct kafka_describe_groups_request *req, struct arena *a,
                   struct kafka_describe_groups_response *resp) {
    kafka_describe_groups_response_init(resp);
    int32_t n = req->groups_count > 0 ? req->groups_count : 0;
    resp->groups = arena_alloc(a, sizeof(*resp->groups) * (size_t)(n ? n : 1));
    if (!resp->groups) return -1;
    resp->groups_count = n;
    for (int32_t i = 0; i < n; i++) {
        struct kafka_describe_groups_response_described_group *dg = &resp->groups[i];
        kafka_describe_groups_response_described_group_init(dg);
        dg->group_id = req->groups[i];
        if (describe_one(group_find(c, req->groups[i]), req->include_authorized_operations, a, dg) != 0) return -1;
    }
    return 0;
}

/* ------------------------------------------------------------- DeleteGroups */

/* Writes tombstones for every offset and the group, then forgets it. */
static int16_t delete_group(struct group_coordinator *c, struct group *g) {
    struct group_write *w = group_write_begin(c, g);
    if (!w) return KAFKA_ERR_COORDINATOR_NOT_AVAILABLE;
    uint32_t pos = 0;
    void *v;
    while (strmap_next(&g->offset_topics, &pos, &v)) {
        const struct group_offset_topic *t = v;
        for (uint32_t i = 0; i < t->count; i++) group_write_offset_tombstone(w, gstr_k(t->name), t->parts[i].partition);
    }
    group_write_metadata_tombstone(w);
    /* Failures while adding are remembered in w and reported here. */
    int16_t err = group_write_commit(w);
    if (err) return err;
    log_info("group", "group deleted group=%s offsets=%u", g->id.ptr, g->offset_count);
    group_remove(c, g);
    return KAFKA_ERR_NONE;
}

int group_delete_groups(struct group_coordinator *c, const struct kafka_delete_groups_request *req,
                        struct arena *a, struct kafka_delete_groups_response *resp) {
    kafka_delete_groups_response_init(resp);
    int32_t n = req->groups_names_count > 0 ? req->groups_names_count : 0;
    resp->results = arena_alloc(a, sizeof(*resp->results) * (size_t)(n ? n : 1));
    if (!resp->results) return -1;
    resp->results_count = n;
    for (int32_t i = 0; i < n; i++) {
        struct kafka_delete_groups_response_deletable_group_result *r = &resp->results[i];
        kafka_delete_groups_response_deletable_group_result_init(r);
        r->group_id = req->groups_names[i];
        struct group *g = group_find(c, req->groups_names[i]);
        if (!g || g->state == GROUP_DEAD) r->error_code = KAFKA_ERR_GROUP_ID_NOT_FOUND;
        else if (g->state != GROUP_EMPTY) r->error_code = KAFKA_ERR_NON_EMPTY_GROUP;
        else r->error_code = delete_group(c, g);
    }
    return 0;
}
