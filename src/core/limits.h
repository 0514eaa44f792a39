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

/* Heap a connection costs while it has nothing in flight: the struct
 * net_conn alone (no buffers are kept for idle connections), so that
 * tens of thousands of idle clients cost megabytes, not gigabytes. */
#define LIMIT_CONN_IDLE_BYTES_MAX 512

_Static_assert(LIMIT_CONN_OUTPUT_BYTES_MAX <= LIMIT_RESPONSE_MEM_BYTES_MAX,
               "a single response may exceed the per-connection output cap, but the cap must not exceed the response bound");

#endif
