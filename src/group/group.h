/*
 * The group coordinator: Kafka's classic consumer-group protocol
 * (JoinGroup, SyncGroup, Heartbeat, LeaveGroup), committed offsets
 * (OffsetCommit, OffsetFetch, OffsetDelete), the admin view (ListGroups,
 * DescribeGroups, DeleteGroups) and their durable state in the internal
 * topic __consumer_offsets. docs/GROUPS.md has the state machine and the
 * record formats.
 *
 * Threading: everything runs on the event loop thread, no locks.
 *
 * Files: coordinator.c (registry, deadlines, FindCoordinator, admin
 * APIs), membership.c (the rebalance state machine), offsets.c (committed
 * offsets), persist.c (__consumer_offsets records: writing and loading),
 * strmap.c (the hash tables).
 *
 * Handlers (src/broker/api_groups.c) pass decoded requests in and get
 * filled responses back; responses are built in the request's arena.
 * JoinGroup and SyncGroup may be held until a rebalance step completes:
 * the handler lends a struct group_waiter, which the coordinator answers
 * exactly once, now or later, unless the handler abandons it first.
 */
#ifndef GREGOR_GROUP_H
#define GREGOR_GROUP_H

#include <stdbool.h>
#include <stdint.h>

#include "core/arena.h"
#include "group/strmap.h"
#include "protocol/gen/kafka_msgs.h"

struct broker;
struct group_coordinator;
struct group_member;
struct group;

/* Kafka's internal topic for offsets and group metadata. */
#define GROUP_OFFSETS_TOPIC "__consumer_offsets"

enum group_state {
    GROUP_EMPTY,
    GROUP_PREPARING_REBALANCE,
    GROUP_COMPLETING_REBALANCE,
    GROUP_STABLE,
    GROUP_DEAD,
};

/* A string the coordinator owns: a NUL-terminated heap copy and its
 * length (Kafka strings may hold NUL bytes, so the length is what
 * counts). ptr NULL is a null string. */
struct gstr {
    char *ptr;
    int32_t len;
};

struct group_protocol {
    struct gstr name;
    uint8_t *metadata;
    int32_t metadata_len;
};

/* What the leader's JoinGroup response lists (members_of != NULL) or what
 * every other join answer says. Strings point into coordinator memory and
 * are valid only during the join_done call. */
struct group_join_reply {
    int16_t error;
    int32_t generation;
    struct kstr protocol_type;   /* null when unknown */
    struct kstr protocol_name;   /* null when unknown */
    struct kstr leader;
    struct kstr member_id;
    bool skip_assignment;
    const struct group *members_of; /* the leader gets every member's metadata */
};

struct group_sync_reply {
    int16_t error;
    struct kstr protocol_type;
    struct kstr protocol_name;
    struct kbytes assignment;
};

/* A held JoinGroup or SyncGroup, lent by the handler (it lives in the
 * request's arena). The coordinator calls exactly one of the callbacks
 * exactly once, possibly before group_join/group_sync return, and never
 * touches the waiter afterwards; group_waiter_abandon withdraws it when
 * the connection dies first. */
struct group_waiter {
    void (*join_done)(struct group_waiter *w, const struct group_join_reply *r);
    void (*sync_done)(struct group_waiter *w, const struct group_sync_reply *r);
    void *owner;                      /* the handler's (its request) */
    /* the coordinator's: */
    struct group_coordinator *coord;
    struct group_member *member;      /* holding it; NULL when not held */
};

/* ---- life cycle ---- */

/* Loads groups and offsets from __consumer_offsets if it exists and arms
 * the coordinator's timer. NULL on failure (logged). */
struct group_coordinator *group_coordinator_create(struct broker *b);
/* Frees everything; call after the network loop (and with it every held
 * request) is gone, so no waiter is left. */
void group_coordinator_destroy(struct group_coordinator *c);

/* ---- APIs: each fills *resp (allocated in `a`) and returns 0, or -1 when
 * the request's arena is exhausted (the caller closes the connection). ---- */

int group_find_coordinator(struct group_coordinator *c, const struct kafka_find_coordinator_request *req,
                           int16_t version, struct arena *a, struct kafka_find_coordinator_response *resp);

struct group_client {
    struct kstr client_id;
    const char *client_host;   /* "/ip", as Kafka shows it */
};
void group_join(struct group_coordinator *c, const struct kafka_join_group_request *req, int16_t version,
                const struct group_client *client, struct group_waiter *w);
void group_sync(struct group_coordinator *c, const struct kafka_sync_group_request *req, int16_t version,
                struct group_waiter *w);
/* The waiter's request is going away unanswered. */
void group_waiter_abandon(struct group_waiter *w);

int16_t group_heartbeat(struct group_coordinator *c, const struct kafka_heartbeat_request *req);
int group_leave(struct group_coordinator *c, const struct kafka_leave_group_request *req, int16_t version,
                struct arena *a, struct kafka_leave_group_response *resp);
int group_offset_commit(struct group_coordinator *c, const struct kafka_offset_commit_request *req,
                        int16_t version, struct arena *a, struct kafka_offset_commit_response *resp);
int group_offset_fetch(struct group_coordinator *c, const struct kafka_offset_fetch_request *req, int16_t version,
                       struct arena *a, struct kafka_offset_fetch_response *resp);
int group_offset_delete(struct group_coordinator *c, const struct kafka_offset_delete_request *req,
                        struct arena *a, struct kafka_offset_delete_response *resp);
int group_list(struct group_coordinator *c, const struct kafka_list_groups_request *req, struct arena *a,
               struct kafka_list_groups_response *resp);
int group_describe(struct group_coordinator *c, const struct kafka_describe_groups_request *req, struct arena *a,
                   struct kafka_describe_groups_response *resp);
int group_delete_groups(struct group_coordinator *c, const struct kafka_delete_groups_request *req,
                        struct arena *a, struct kafka_delete_groups_response *resp);

/* ---- for the JoinGroup encoder: walking the leader's member list ---- */
const struct group_member *group_first_member(const struct group *g);
const struct group_member *group_next_member(const struct group_member *m);
struct kstr group_member_id(const struct group_member *m);
struct kstr group_member_instance_id(const struct group_member *m);
/* The member's metadata for the group's selected protocol (empty if none). */
struct kbytes group_member_metadata(const struct group_member *m);
uint32_t group_member_count(const struct group *g);

const char *group_state_name(enum group_state s);

/* ---- for metrics (src/broker/admin.c): read-only walks ---- */
struct group_view {
    const char *group_id;        /* NUL-terminated (ids with NUL bytes show cut short) */
    enum group_state state;
    uint32_t members;
};
struct group_offset_view {
    const struct group_view *group;
    const char *topic;           /* NUL-terminated */
    int32_t partition;
    int64_t offset;              /* committed */
};
/* Calls group_fn once per group, then offset_fn (if not NULL) for each of
 * its committed offsets; neither may change the coordinator. A callback
 * returning false ends the walk (a scrape that hit its series cap). */
void group_walk(const struct group_coordinator *c, bool (*group_fn)(void *ctx, const struct group_view *g),
                bool (*offset_fn)(void *ctx, const struct group_offset_view *o), void *ctx);
uint32_t group_held_request_count(const struct group_coordinator *c);
/* Kafka's partition of __consumer_offsets for a group id:
 * abs(Java String.hashCode(id)) % partitions. */
int32_t group_partition_for(struct kstr group_id, int32_t partitions);

#endif
