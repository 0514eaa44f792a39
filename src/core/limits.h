/*
 * Every fixed limit of the broker, in one place, each with the reason for
 * its value. Tunables that an operator may change live in config.h; these
 * are the bounds the code itself relies on.
 */
#ifndef GREGOR_LIMITS_H
#define GREGOR_LIMITS_H

/* A Kafka frame is prefixed by a signed 32-bit size; this is the hard
 * ceiling whatever socket.request.max.bytes says (Kafka's default is 100 MiB). */
#define LIMIT_FRAME_BYTES_MAX (1024 * 1024 * 1024)

/* Requests a single connection may have decoded but not yet answered.
 * Kafka itself serves one at a time per connection; a small window lets
 * pipelining clients (librdkafka sends up to 5 produce requests in flight
 * per partition) keep the link busy while bounding memory per connection. */
#define LIMIT_INFLIGHT_PER_CONN 16

/* Bytes of response memory (not counting sendfile ranges) a connection may
 * queue before we stop reading its requests: a client that never reads
 * its responses costs at most this much. */
#define LIMIT_CONN_OUTPUT_BYTES_MAX (8 * 1024 * 1024)

/* Scratch memory one request may use while being decoded and handled:
 * decoded arrays, strings, temporary lists. The request bytes themselves
 * are bounded separately by socket.request.max.bytes. */
#define LIMIT_REQUEST_ARENA_BYTES_MAX (64 * 1024 * 1024)

/* Array element counts a decoder accepts before checking them against the
 * bytes actually left in the frame (each element takes at least one byte). */
#define LIMIT_ARRAY_COUNT_MAX (1 << 24)

/* Topic names: Kafka's rule, 249 so that "<topic>-<partition>" and the
 * segment file names fit in a 255-byte file name. */
#define LIMIT_TOPIC_NAME_LEN_MAX 249

/* Partitions per topic. Kafka has no hard limit; ours keeps a topic's
 * partition table allocation sane. */
#define LIMIT_PARTITIONS_PER_TOPIC_MAX 100000

/* Producer batches remembered per producer per partition for duplicate
 * detection; Kafka uses 5 since clients cap in-flight requests at 5. */
#define LIMIT_PRODUCER_BATCHES_CACHED 5

/* Response memory a single fetch may build before switching to sendfile
 * ranges: headers only, the record bytes never pass through user space. */
#define LIMIT_RESPONSE_MEM_BYTES_MAX (64 * 1024 * 1024)

/* One-shot timers the network loop holds at once (long-poll fetch
 * deadlines, delayed produce acks, housekeeping). A full table makes
 * net_timer_add return 0 and the caller answers at once instead of
 * waiting; 65536 covers one long poll per connection on a busy broker
 * while the table (slots plus heap, about 48 bytes a timer) stays
 * around 3 MiB at its largest. */
#define LIMIT_NET_TIMERS_MAX 65536

/* Event loops (threads) one broker runs: one per core is the design, and
 * past a few dozen cores the single handler lock would be the limit long
 * before the loops are. A timer id carries its loop in 8 bits. */
#define LIMIT_NET_LOOPS_MAX 64

/* Heap a connection costs while it has nothing in flight: the struct
 * net_conn alone (no buffers are kept for idle connections), so that
 * tens of thousands of idle clients cost megabytes, not gigabytes. */
#define LIMIT_CONN_IDLE_BYTES_MAX 512

_Static_assert(LIMIT_CONN_OUTPUT_BYTES_MAX <= LIMIT_RESPONSE_MEM_BYTES_MAX,
               "a single response may exceed the per-connection output cap, but the cap must not exceed the response bound");

/* ---- consumer groups (src/group) ----
 * Kafka bounds none of these except the group size (group.max.size,
 * default unlimited); ours keep one coordinator's memory predictable. Each
 * bound reached answers with a Kafka error code, never growth. */

/* Members of one group: also the ceiling of group.max.size. Groups of
 * hundreds of consumers are large in practice; a thousand keeps the
 * leader's JoinGroup response (every member's metadata) well inside a
 * frame. Past it: GROUP_MAX_SIZE_REACHED. */
#define LIMIT_GROUP_MEMBERS_MAX 1000

/* Members of all groups together. Past it a JoinGroup from a new member
 * gets COORDINATOR_NOT_AVAILABLE (retriable: members leave and expire). */
#define LIMIT_GROUP_MEMBERS_TOTAL_MAX 50000

/* JoinGroup/SyncGroup requests held until a rebalance step completes. A
 * member holds at most one at a time (a newer one answers the older), so
 * this equals the member bound; checked anyway, as every queue is. */
#define LIMIT_GROUP_HELD_REQUESTS_MAX LIMIT_GROUP_MEMBERS_TOTAL_MAX

/* Groups one broker coordinates (live and offsets-only ones). Past it a
 * request that would create a group gets COORDINATOR_NOT_AVAILABLE. */
#define LIMIT_GROUPS_MAX 100000

/* Protocols one member may offer in JoinGroup (clients send one to three:
 * range, roundrobin, cooperative-sticky...). Past it: INVALID_REQUEST. */
#define LIMIT_GROUP_PROTOCOLS_PER_MEMBER_MAX 16

/* Protocol metadata bytes one member may offer, all protocols together:
 * a subscription lists topics and, for cooperative assignors, owned
 * partitions; 256 KiB covers tens of thousands of partitions. Past it:
 * MESSAGE_TOO_LARGE. */
#define LIMIT_GROUP_MEMBER_METADATA_BYTES_MAX (256 * 1024)

/* Assignment bytes the leader may give one member in SyncGroup. Past it:
 * MESSAGE_TOO_LARGE to the leader. */
#define LIMIT_GROUP_MEMBER_ASSIGNMENT_BYTES_MAX (256 * 1024)

/* Member metadata and assignment bytes of one group: the leader's
 * JoinGroup answer carries every member's metadata and DescribeGroups
 * adds the assignments, so this keeps both inside a response buffer.
 * Past it a join gets GROUP_MAX_SIZE_REACHED, an assignment
 * MESSAGE_TOO_LARGE. (The group's record in __consumer_offsets must also
 * fit that topic's max.message.bytes, 1 MiB by default, as in Kafka.) */
#define LIMIT_GROUP_BYTES_MAX (16 * 1024 * 1024)

/* Member metadata and assignment bytes held for all groups together:
 * the per-member bounds times the member bound would be tens of GiB, so
 * this is the real memory ceiling. Past it a join or an assignment gets
 * COORDINATOR_NOT_AVAILABLE. */
#define LIMIT_GROUP_MEMBER_BYTES_TOTAL_MAX (512LL * 1024 * 1024)

/* Committed offsets one group may hold (one per topic partition). Past it
 * a commit for a new partition gets INVALID_COMMIT_OFFSET_SIZE. */
#define LIMIT_GROUP_OFFSETS_PER_GROUP_MAX 100000

/* Committed offsets of all groups together (each about 100 bytes plus
 * its metadata string, itself bounded by offset.metadata.max.bytes).
 * Past it: INVALID_COMMIT_OFFSET_SIZE for new partitions. */
#define LIMIT_GROUP_OFFSETS_TOTAL_MAX 4000000

/* Ceiling of offset.metadata.max.bytes (Kafka's default is 4096). */
#define LIMIT_GROUP_OFFSET_METADATA_BYTES_MAX (1024 * 1024)

/* Keys one FindCoordinator v4+ request may ask about; past it the rest
 * are answered INVALID_REQUEST instead of growing the response. */
#define LIMIT_GROUP_COORDINATOR_KEYS_MAX 10000

_Static_assert(LIMIT_GROUP_HELD_REQUESTS_MAX >= LIMIT_GROUP_MEMBERS_TOTAL_MAX,
               "each member may hold one JoinGroup or SyncGroup");
_Static_assert(LIMIT_GROUP_MEMBERS_MAX <= LIMIT_GROUP_MEMBERS_TOTAL_MAX,
               "one group cannot be larger than all groups");
_Static_assert(LIMIT_GROUP_BYTES_MAX * 2 < LIMIT_RESPONSE_MEM_BYTES_MAX,
               "a group's metadata and assignments fit one response with room for the rest");
_Static_assert(LIMIT_GROUP_MEMBER_METADATA_BYTES_MAX + LIMIT_GROUP_MEMBER_ASSIGNMENT_BYTES_MAX <= LIMIT_GROUP_BYTES_MAX,
               "a single member always fits its group's bound");
_Static_assert(LIMIT_GROUP_OFFSETS_PER_GROUP_MAX <= LIMIT_GROUP_OFFSETS_TOTAL_MAX,
               "one group cannot hold more offsets than all groups");


/* ---- the HTTP admin listener (src/admin/http.c) ---- */

/* Admin connections open at once: scrapers and probes, a handful at
 * most; further ones are answered 503 and closed. */
#define LIMIT_ADMIN_CONNECTIONS_MAX 16

/* Request line plus headers of one admin request; a larger head is
 * answered 431. Real scrapers send a few hundred bytes. */
#define LIMIT_ADMIN_REQUEST_HEAD_BYTES_MAX (8 * 1024)

/* One admin response (the /metrics page): past it the page is refused
 * with 500 and a log line. metrics.partition.series.max keeps the
 * per-partition series, the only part that grows with the data, well
 * below it by default. */
#define LIMIT_ADMIN_RESPONSE_BYTES_MAX (256 * 1024 * 1024)

#endif
