/*
 * The coordinator's types and the functions its files share. Not for use
 * outside src/group (handlers use group.h).
 *
 * Ownership: the coordinator owns its groups; a group owns its members,
 * pending member ids and committed offsets. Every string and byte array
 * in them is a heap copy, never a pointer into a request.
 *
 * Time: deadlines use the monotonic clock in microseconds (net_now_us);
 * timestamps that are stored or shown (commit time, state change time)
 * use the wall clock in milliseconds (net_wall_ms), as Kafka's do.
 */
#ifndef GREGOR_GROUP_INTERNAL_H
#define GREGOR_GROUP_INTERNAL_H

#include <string.h>

#include "group/group.h"

/* Kafka's join timeout for a member that has no member id yet: it cannot
 * heartbeat, and a client that gave up on its JoinGroup would otherwise
 * linger in the rebalance (GroupCoordinator.NewMemberJoinTimeoutMs). */
#define GROUP_NEW_MEMBER_JOIN_TIMEOUT_MS 300000

/* How often the coordinator's timer runs when no deadline is nearer: it
 * also checks whether offset expiry is due. */
#define GROUP_IDLE_TICK_MS 1000

/* Kafka separates the client id (or instance id) and a UUID with this in
 * generated member ids. */
#define GROUP_MEMBER_ID_DELIMITER "-"

/* Generated member ids keep at most this much of the client id, so that
 * an id always fits a Kafka string whatever the client id. */
#define GROUP_MEMBER_ID_PREFIX_BYTES_MAX 1024

struct group_member {
    struct group *group;
    struct group_member *prev, *next;   /* join order */
    struct gstr id;
    struct gstr instance_id;            /* group.instance.id: static membership; null if dynamic */
    struct gstr client_id;
    struct gstr client_host;
    int32_t session_timeout_ms;
    int32_t rebalance_timeout_ms;
    struct group_protocol *protocols;   /* in the member's order of preference */
    uint32_t protocol_count;
    uint8_t *assignment;
    int32_t assignment_len;
    uint64_t bytes;                     /* metadata + assignment, counted in the coordinator's budget */
    struct group_waiter *join_waiter;
    struct group_waiter *sync_waiter;
    bool awaiting_join;                 /* joined this round (its waiter may have been abandoned since) */
    bool is_new;                        /* joined with a fresh id and has not completed a join yet */
    bool pending_sync;                  /* given a generation, no SyncGroup seen yet */
    uint64_t deadline_us;               /* session expiry (or the new-member join timeout) */
};

/* A member id handed out with MEMBER_ID_REQUIRED and not yet used. */
struct group_pending {
    struct gstr id;
    uint64_t deadline_us;
};

struct group_offset {
    int32_t partition;
    int64_t offset;
    int32_t leader_epoch;
    char *metadata;                     /* never NULL: "" when none */
    int32_t metadata_len;
    int64_t commit_ms;
    int64_t expire_ms;                  /* -1: expiry by offsets.retention.minutes */
};

struct group_offset_topic {
    struct gstr name;
    struct group_offset *parts;         /* sorted by partition */
    uint32_t count;
    uint32_t cap;
};

struct group {
    struct group_coordinator *coord;
    struct gstr id;
    enum group_state state;
    int32_t generation;
    struct gstr protocol_type;          /* null for groups that only store offsets */
    struct gstr protocol_name;          /* selected for the current generation; null when Empty */
    struct group_member *leader;
    struct group_member *head, *tail;
    uint32_t member_count;
    uint32_t awaiting_join_count;
    struct strmap members;              /* id -> member */
    struct strmap static_members;       /* instance id -> member */
    struct strmap pending;              /* id -> struct group_pending */
    bool new_member_added;              /* since the initial join delay was last (re)armed */
    bool initial_join;                  /* the join phase of a group that was Empty: Kafka's initial delay */
    int32_t initial_remaining_ms;
    uint64_t join_deadline_us;          /* PreparingRebalance ends by then */
    uint64_t sync_deadline_us;          /* members still pending sync by then are removed; 0: none */
    int64_t state_ms;                   /* wall time of the last state change */
    uint64_t member_bytes;              /* members' metadata and assignments */
    struct strmap offset_topics;        /* topic name -> struct group_offset_topic */
    uint32_t offset_count;
    uint64_t heap_key_us;               /* 0: not in the deadline heap */
    uint32_t heap_pos;
    bool loaded_metadata;               /* loading only: a GroupMetadata record is in effect */
};

struct group_coordinator {
    struct broker *b;
    struct strmap groups;
    uint32_t group_count;
    uint32_t member_count;              /* members and pending ids of all groups */
    uint64_t member_bytes;
    uint32_t held_requests;
    uint64_t offset_count;
    struct group **heap;                /* groups by heap_key_us, a binary min-heap */
    uint32_t heap_len;
    uint32_t heap_cap;
    uint64_t timer_id;
    uint64_t timer_deadline_us;
    int64_t last_expiry_check_ms;
    bool loading;
    bool destroying;
    /* Settings, copied from the broker config at start. */
    int32_t min_session_ms;
    int32_t max_session_ms;
    int32_t initial_delay_ms;
    int32_t max_size;
    int32_t metadata_max_bytes;
    int64_t retention_ms;
    int64_t retention_check_ms;
};

/* ---- strings ---- */
int gstr_set(struct gstr *dst, struct kstr src);   /* 0 or -1 (out of memory); frees the old value */
void gstr_clear(struct gstr *s);
bool gstr_eq(struct gstr a, struct kstr b);
static inline struct kstr gstr_k(struct gstr s) { return (struct kstr){s.ptr, s.ptr ? s.len : -1}; }
static inline bool kstr_is_null(struct kstr s) { return s.len < 0 || !s.ptr; }
static inline bool kstr_same(struct kstr a, struct kstr b) {
    if (kstr_is_null(a) || kstr_is_null(b)) return kstr_is_null(a) && kstr_is_null(b);
    return a.len == b.len && memcmp(a.ptr, b.ptr, (size_t)a.len) == 0;
}

/* ---- coordinator.c: registry and deadlines ---- */
struct group *group_find(struct group_coordinator *c, struct kstr id);
/* Finds or creates; NULL with *err set (COORDINATOR_NOT_AVAILABLE) at the
 * group bound or out of memory. */
struct group *group_get_or_create(struct group_coordinator *c, struct kstr id, int16_t *err);
/* Frees a group that has no members; it leaves the registry. */
void group_remove(struct group_coordinator *c, struct group *g);
/* Drops a group that holds nothing worth keeping (no members, no pending
 * ids, no offsets, never a protocol): what a failed first join leaves. */
void group_drop_if_unused(struct group_coordinator *c, struct group *g);
/* Makes sure the group's timer work runs no later than deadline_us. */
void group_schedule(struct group_coordinator *c, struct group *g, uint64_t deadline_us);
void group_set_state(struct group *g, enum group_state s);
uint64_t group_now_us(void);
int64_t group_wall_ms(void);

/* Runs every group deadline due by now_us, as the coordinator's timer
 * does (tests call it with a clock of their own). */
void group_run_due(struct group_coordinator *c, uint64_t now_us);

static inline uint64_t group_after_ms(uint64_t now_us, int64_t ms) {
    return now_us + (uint64_t)(ms > 0 ? ms : 0) * 1000;
}

/* ---- membership.c: the rebalance state machine ---- */
/* Runs due deadlines of one group (expired members, the join and sync
 * phases) and returns the group's next deadline (0: none). */
uint64_t group_membership_tick(struct group_coordinator *c, struct group *g, uint64_t now_us);

/* ---- members.c: members as data ---- */
extern const uint8_t group_empty_bytes[1];
/* Answering held requests. take_* detach the member's waiter (NULL if
 * none) so it can be answered; hold_* attach one, answering any older
 * request of the same member with REBALANCE_IN_PROGRESS. */
void group_join_answer(struct group_waiter *w, const struct group_join_reply *r);
void group_join_error(struct group_waiter *w, struct kstr member_id, int16_t err);
void group_sync_error(struct group_waiter *w, int16_t err);
struct group_waiter *group_take_join(struct group_coordinator *c, struct group_member *m);
struct group_waiter *group_take_sync(struct group_coordinator *c, struct group_member *m);
void group_answer_join_error(struct group_coordinator *c, struct group_member *m, int16_t err);
void group_answer_sync_error(struct group_coordinator *c, struct group_member *m, int16_t err);
void group_hold_join(struct group_coordinator *c, struct group_member *m, struct group_waiter *w);
void group_hold_sync(struct group_coordinator *c, struct group_member *m, struct group_waiter *w);
/* Storage. set_protocols copies the offered protocols (duplicates after
 * the first dropped) and returns NONE, GROUP_MAX_SIZE_REACHED (past
 * LIMIT_GROUP_BYTES_MAX for the group) or COORDINATOR_NOT_AVAILABLE (the
 * coordinator's budget, or memory); set_assignment takes ownership of
 * bytes and checks nothing (the caller did). */
struct group_member *group_member_alloc(struct group_coordinator *c, struct group *g);
void group_member_free(struct group_coordinator *c, struct group_member *m);
int16_t group_member_set_protocols(struct group_coordinator *c, struct group_member *m,
                                   const struct kafka_join_group_request_join_group_request_protocol *in, int32_t n);
void group_member_set_assignment(struct group_coordinator *c, struct group_member *m, uint8_t *bytes, int32_t len);
uint64_t group_member_assignment_bytes(const struct group_member *m);
int group_member_link(struct group *g, struct group_member *m);   /* 0 or -1 (memory) */
/* Unlinks, answers its waiters with UNKNOWN_MEMBER_ID, frees. */
void group_member_drop(struct group_coordinator *c, struct group *g, struct group_member *m);
void group_pending_free(struct group_coordinator *c, struct group_pending *p);
/* Drops every member and pending id (loading a newer record, deleting). */
void group_clear_members(struct group_coordinator *c, struct group *g);
/* Adds a member rebuilt from a GroupMetadata record (loading). */
int group_member_restore(struct group_coordinator *c, struct group *g,
                         const struct kafka_group_metadata_value_member_metadata *mm, struct kstr protocol);
/* Protocol rules (Kafka's): whether a joining member fits the group; the
 * protocol the members vote for; whether a member's offer is unchanged. */
bool group_supports_protocols(const struct group *g, struct kstr type,
                              const struct kafka_join_group_request_join_group_request_protocol *p, int32_t n);
struct gstr group_select_protocol(const struct group *g);
bool group_member_matches(const struct group_member *m,
                          const struct kafka_join_group_request_join_group_request_protocol *p, int32_t n);
/* Kafka's member id: prefix (client or instance id), "-", a UUID. 0 or -1. */
int group_new_member_id(struct gstr *out, struct kstr prefix);
/* Kafka's check of a (member id, instance id) pair: NONE and *out set,
 * FENCED_INSTANCE_ID (the instance now has another member id) or
 * UNKNOWN_MEMBER_ID. */
int16_t group_validate_member(struct group *g, struct kstr member_id, struct kstr instance_id,
                              struct group_member **out);
/* A sign of life from the member: its session restarts now. */
void group_member_touch(struct group_coordinator *c, struct group_member *m, uint64_t now_us);
/* Whether a consumer group subscribes to the topic; true when unknown. */
bool group_subscribes(const struct group *g, struct kstr topic);
struct group_protocol *group_member_protocol(const struct group_member *m, struct gstr name);

/* ---- offsets.c ---- */
struct group_offset *group_offset_find(struct group *g, struct kstr topic, int32_t partition);
/* Sets or adds; -1 out of memory. Bounds are the caller's. */
int group_offset_put(struct group_coordinator *c, struct group *g, struct kstr topic, const struct group_offset *o);
void group_offset_remove(struct group_coordinator *c, struct group *g, struct kstr topic, int32_t partition);
void group_offsets_clear(struct group_coordinator *c, struct group *g);
/* Offset expiry for every group (offsets.retention.minutes); removes
 * groups left Empty without offsets, as Kafka's cleanup does. */
void group_offsets_expire(struct group_coordinator *c, int64_t now_ms);

/* ---- persist.c: __consumer_offsets ---- */
struct group_write;
/* A batch of records for one group's partition. */
struct group_write *group_write_begin(struct group_coordinator *c, struct group *g);
int group_write_offset(struct group_write *w, struct kstr topic, int32_t partition, const struct group_offset *o);
int group_write_offset_tombstone(struct group_write *w, struct kstr topic, int32_t partition);
int group_write_metadata(struct group_write *w);      /* the group's current membership */
int group_write_metadata_tombstone(struct group_write *w);
/* Writes the group's membership record and waits for nothing more: a
 * Kafka error as group_write_commit's. */
int16_t group_store(struct group_coordinator *c, struct group *g);
/* Appends the batch (if it holds records) and frees w. Returns a Kafka
 * error: NONE, MESSAGE_TOO_LARGE (over the topic's max.message.bytes),
 * COORDINATOR_NOT_AVAILABLE (no topic) or NOT_COORDINATOR (storage). */
int16_t group_write_commit(struct group_write *w);
void group_write_abort(struct group_write *w);
/* Replays __consumer_offsets into the coordinator. 0 or -1. */
int group_load(struct group_coordinator *c);
/* Replays one batch as if read from __consumer_offsets partition (the
 * loader's fuzz target drives this with arbitrary bytes). 0. */
int group_load_batch(struct group_coordinator *c, int32_t partition, const uint8_t *batch, uint32_t len);
/* Creates __consumer_offsets if missing; a Kafka error code. */
int16_t group_offsets_topic_ensure(struct group_coordinator *c);

#endif
