/*
 * Idempotent producer state of one partition (KIP-98, KIP-360): for each
 * producer id its current epoch and its last LIMIT_PRODUCER_BATCHES_CACHED
 * batches, so that a retried batch is answered with the offset it got the
 * first time instead of being appended twice, and a sequence gap is refused.
 *
 * Semantics follow Kafka 2.5+ (ProducerAppendInfo.checkSequence), checked in
 * this order for a batch of producer id >= 0:
 *   - unknown producer id: accepted at ANY first sequence, not only 0. Since
 *     KIP-360 Kafka no longer answers UNKNOWN_PRODUCER_ID here: the producer's
 *     state may simply have been lost (expired, evicted, or its records all
 *     deleted by retention / DeleteRecords), and refusing would make the
 *     client reset its sequences and re-send, re-creating the duplicates this
 *     exists to prevent. So pstate_check never returns PSTATE_UNKNOWN_PRODUCER;
 *     the value stays for callers that map verdicts to error codes.
 *   - epoch lower than the producer's current one: PSTATE_FENCED.
 *   - same epoch, (first, last) sequence equal to one of the cached batches:
 *     PSTATE_DUPLICATE with that batch's base offset. A retry of a batch
 *     older than the cache is not recognised and, as in Kafka, is
 *     PSTATE_OUT_OF_ORDER (the client then fails that batch).
 *   - same epoch: the batch must start at last sequence + 1, wrapping from
 *     INT32_MAX to 0; anything else is PSTATE_OUT_OF_ORDER.
 *   - higher epoch (the client or coordinator bumped it): must start at 0.
 *   - a negative first sequence or a record count below 1 with a producer id
 *     is PSTATE_OUT_OF_ORDER (such a batch cannot be in sequence).
 *
 * The number of producers per partition is bounded (PSTATE_PRODUCERS_MAX);
 * when full, the producer least recently recorded is evicted and logged.
 * pstate_check does not change recency (it is a const query).
 *
 * Threading: a producer_state belongs to its partition and is used by one
 * thread at a time (the event loop). Errors: 0 or a negative errno.
 */
#ifndef GREGOR_STORAGE_PRODUCER_STATE_H
#define GREGOR_STORAGE_PRODUCER_STATE_H

#include <stddef.h>
#include <stdint.h>

/* Producers remembered per partition. Kafka has no cap and a client that
 * creates a new idempotent producer per message can exhaust a broker's
 * memory (the problem KIP-936 addresses); each entry costs ~200 bytes, so
 * this bounds a partition's table to ~1.6 MiB while far exceeding the live
 * producers of any sane workload. Candidate for src/core/limits.h. */
#define PSTATE_PRODUCERS_MAX 8192

/* Kafka's producer.id.expiration.ms default: one day. */
#define PSTATE_EXPIRATION_MS_DEFAULT (24LL * 60 * 60 * 1000)

/* Snapshots kept in a partition directory: the newest and one older to fall
 * back to if the newest is damaged. */
#define PSTATE_SNAPSHOTS_KEPT 2

struct producer_state; /* one per partition */

struct producer_state *pstate_create(void);
/* As pstate_create with a smaller producer bound (tests, tight memory);
 * max_producers is clamped to [1, PSTATE_PRODUCERS_MAX]. */
struct producer_state *pstate_create_bounded(uint32_t max_producers);
void pstate_destroy(struct producer_state *ps);

enum pstate_verdict {
    PSTATE_APPEND,           /* new batch in sequence: append it, then call pstate_record */
    PSTATE_DUPLICATE,        /* a retry of a cached batch: answer with *dup_base_offset, append nothing */
    PSTATE_OUT_OF_ORDER,     /* OUT_OF_ORDER_SEQUENCE_NUMBER (45) */
    PSTATE_FENCED,           /* epoch older than the producer's current: INVALID_PRODUCER_EPOCH (47) */
    PSTATE_UNKNOWN_PRODUCER, /* UNKNOWN_PRODUCER_ID (59); never returned, see above */
};

/* producer_id < 0 (non-idempotent batch) always gives PSTATE_APPEND.
 * record_count = lastOffsetDelta + 1. */
enum pstate_verdict pstate_check(const struct producer_state *ps, int64_t producer_id, int16_t epoch,
                                 int32_t base_sequence, int32_t record_count, int64_t *dup_base_offset);

/* After a successful append (also when replaying the log at start-up).
 * timestamp_ms should be the batch's max timestamp (or the append time
 * under LogAppendTime): expiry is measured from it, as in Kafka.
 * A different epoch replaces the producer's epoch and forgets its cached
 * batches. base_sequence < 0 (a control batch, e.g. a transaction marker
 * carrying a bumped epoch) updates epoch and time only. Ignored for
 * producer_id < 0. */
void pstate_record(struct producer_state *ps, int64_t producer_id, int16_t epoch, int32_t base_sequence,
                   int32_t record_count, int64_t base_offset, int64_t timestamp_ms);

/* Snapshot: the whole state as of log offset `offset` (the log end at that
 * moment), written atomically (tmp file, fsync, rename, fsync dir) as
 * "<dir>/<20-digit offset>.snapshot"; keeps only the newest
 * PSTATE_SNAPSHOTS_KEPT snapshots. The format is in producer_state.c. */
int pstate_snapshot_write(const struct producer_state *ps, const char *dir, int64_t offset);

/* Loads the newest valid snapshot whose offset <= max_offset (a damaged one
 * - bad CRC, short, inconsistent - is logged, deleted, and an older one
 * tried), sets *offset to its offset, or to 0 with an empty state if none;
 * the caller then replays the log from *offset. Snapshots above max_offset
 * (the log was truncated below them at recovery) and leftover ".tmp" files
 * are deleted. Returns 0, or -errno when the directory cannot be read. */
int pstate_snapshot_load(struct producer_state *ps, const char *dir, int64_t max_offset, int64_t *offset);

/* The snapshot's bytes (the file format, producer_state.c) in a malloc'd
 * buffer, for keeping the state elsewhere (the start-up summary); NULL when
 * the state contradicts `offset` or memory is short. */
uint8_t *pstate_snapshot_encode(const struct producer_state *ps, int64_t offset, size_t *len);
/* Replaces the state with snapshot bytes describing `offset`; -EBADMSG
 * (state cleared) when they fail any check a snapshot file must pass. */
int pstate_snapshot_decode(struct producer_state *ps, const uint8_t *buf, size_t len, int64_t offset);

/* Removes producers whose last batch timestamp is at least expiration_ms
 * old (Kafka: now - lastTimestamp >= producer.id.expiration.ms). */
/* Returns how many producers it removed. */
uint32_t pstate_expire(struct producer_state *ps, int64_t now_ms, int64_t expiration_ms);

size_t pstate_producer_count(const struct producer_state *ps);

/* What is known of one producer, for DescribeProducers and tests. */
struct pstate_producer_info {
    int16_t epoch;
    int32_t last_sequence;     /* -1 when no batch is cached (e.g. after an epoch bump by a marker) */
    int64_t last_offset;       /* last offset of the newest cached batch, -1 if none */
    int64_t last_timestamp_ms;
    uint32_t batches_cached;
};
/* 0 and *out filled, or -ENOENT. */
int pstate_lookup(const struct producer_state *ps, int64_t producer_id, struct pstate_producer_info *out);

#endif
