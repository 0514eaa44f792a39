/*
 * Idempotent producer state of one partition; semantics in producer_state.h.
 *
 * In memory: a pool of entries (indexes stay stable, so the LRU list and the
 * free list link by index) and an open-addressing hash table (linear probing,
 * backward-shift deletion, load <= 1/2) mapping producer id -> pool index.
 * Both grow by doubling up to the partition's producer bound; nothing grows
 * past it - the least recently recorded producer is evicted instead.
 *
 * Snapshot file "<dir>/<20-digit offset>.snapshot", all integers big-endian
 * (as on the Kafka wire), version 1:
 *
 *   header, 24 bytes
 *     0   4  magic 0x4750534E ("GPSN")
 *     4   2  version = 1
 *     6   2  flags = 0 (reserved, must be 0)
 *     8   4  CRC32C (Castagnoli) of every byte from offset 12 to the end of file
 *    12   8  log offset the snapshot describes (the log end when written);
 *            must equal the offset in the file name
 *    20   4  producer count N (<= PSTATE_PRODUCERS_MAX)
 *   then N producer entries, least recently used first (loading them in
 *   order rebuilds the LRU order), each 20 + B * 28 bytes:
 *     0   8  producer id (>= 0, unique in the file)
 *     8   2  producer epoch
 *    10   1  cached batch count B (0..LIMIT_PRODUCER_BATCHES_CACHED; 0 after
 *            an epoch bump carried by a control batch)
 *    11   1  reserved, 0
 *    12   8  last batch timestamp (ms), the one expiry is measured from
 *    then B batches, oldest first, 28 bytes each:
 *     0   4  first sequence (0..INT32_MAX)
 *     4   4  last sequence (first + last offset delta, wrapping past INT32_MAX to 0)
 *     8   8  base offset (>= 0)
 *    16   4  last offset delta (>= 0)
 *    20   8  max timestamp (ms)
 *   and the file ends exactly after entry N.
 *
 * Every batch must end below the snapshot's offset. These checks run both
 * before writing (a failing one is a bug: the write is refused and logged)
 * and after reading (a failing one marks the file damaged).
 *
 * Written atomically: "<name>.tmp", fsync, rename, fsync of the directory.
 */
#include "core/assert.h"
#include "storage/producer_state.h"
#include "storage/fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/limits.h"
#include "core/log.h"
#include "protocol/crc32c.h"

#define SNAP_MAGIC 0x4750534Eu
#define SNAP_VERSION 1
#define SNAP_HEADER_BYTES 24
#define SNAP_CRC_POS 8
#define SNAP_CRC_FROM 12
#define SNAP_ENTRY_HEAD_BYTES 20
#define SNAP_BATCH_BYTES 28
#define SNAP_ENTRY_BYTES_MAX (SNAP_ENTRY_HEAD_BYTES + LIMIT_PRODUCER_BATCHES_CACHED * SNAP_BATCH_BYTES)
#define SNAP_BYTES_MAX (SNAP_HEADER_BYTES + (size_t)PSTATE_PRODUCERS_MAX * SNAP_ENTRY_BYTES_MAX)
#define SNAP_NAME_DIGITS 20
#define SNAP_SUFFIX ".snapshot"
#define SNAP_TMP_SUFFIX ".snapshot.tmp"

/* Sequence numbers live in [0, INT32_MAX] and wrap to 0 after it. */
#define SEQ_PERIOD ((int64_t)INT32_MAX + 1)

#define NO_INDEX (-1)
#define POOL_CAP_INITIAL 4
/* One log line per this many evictions: a client churning producer ids
 * would otherwise flood the log with one line per batch. */
#define PSTATE_EVICTION_LOG_EVERY 1024

_Static_assert(LIMIT_PRODUCER_BATCHES_CACHED >= 1 && LIMIT_PRODUCER_BATCHES_CACHED <= UINT8_MAX,
               "the batch count is stored in one byte");
_Static_assert(PSTATE_PRODUCERS_MAX <= INT32_MAX / 4, "pool indexes and the slot table are int32-sized");

#define PSTATE_ASSERT(cond) ASSERT_ALWAYS("storage", cond)

struct pstate_batch {
    int32_t first_seq;
    int32_t last_seq;
    int64_t base_offset;
    int32_t last_offset_delta;
    int64_t timestamp_ms;
};

struct pstate_entry {
    int64_t producer_id;
    int64_t last_timestamp_ms;
    int32_t lru_prev; /* toward the least recently used */
    int32_t lru_next; /* toward the most recently used; links the free list too */
    int16_t epoch;
    uint8_t batch_count;
    struct pstate_batch batches[LIMIT_PRODUCER_BATCHES_CACHED]; /* oldest first */
};

struct producer_state {
    struct pstate_entry *pool;
    uint32_t pool_cap;
    uint32_t pool_used; /* pool slots handed out at least once */
    int32_t free_head;
    int32_t *slots; /* pool index or NO_INDEX */
    uint32_t slot_cap; /* a power of two */
    uint32_t count;
    uint32_t max_producers;
    int32_t lru_oldest;
    int32_t lru_newest;
    uint64_t evictions;
};

/* ---- sequences ---- */

static int32_t seq_add(int32_t seq, int32_t delta) {
    int64_t s = (int64_t)seq + delta;
    if (s > INT32_MAX) s -= SEQ_PERIOD;
    return (int32_t)s;
}

/* ---- hash table and pool ---- */

static uint64_t hash_pid(int64_t pid) {
    /* Producer ids are handed out consecutively; mix them so they spread. */
    uint64_t h = (uint64_t)pid;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static uint32_t slot_home(const struct producer_state *ps, int64_t pid) {
    return (uint32_t)(hash_pid(pid) & (ps->slot_cap - 1));
}

/* The slot holding pid, or the empty slot where it would go. */
static uint32_t slot_probe(const struct producer_state *ps, int64_t pid) {
    uint32_t mask = ps->slot_cap - 1;
    uint32_t i = slot_home(ps, pid);
    while (ps->slots[i] != NO_INDEX && ps->pool[ps->slots[i]].producer_id != pid) i = (i + 1) & mask;
    return i;
}

static int32_t entry_find(const struct producer_state *ps, int64_t pid) {
    return ps->slots[slot_probe(ps, pid)];
}

static uint32_t slot_cap_for(uint32_t producers) {
    uint32_t cap = 8;
    while (cap < 2 * producers) cap *= 2;
    return cap;
}

static int slots_grow(struct producer_state *ps) {
    uint32_t new_cap = ps->slot_cap * 2;
    int32_t *slots = malloc(sizeof(*slots) * new_cap);
    if (!slots) return -ENOMEM;
    for (uint32_t i = 0; i < new_cap; i++) slots[i] = NO_INDEX;
    int32_t *old = ps->slots;
    uint32_t old_cap = ps->slot_cap;
    ps->slots = slots;
    ps->slot_cap = new_cap;
    for (uint32_t i = 0; i < old_cap; i++) {
        if (old[i] == NO_INDEX) continue;
        ps->slots[slot_probe(ps, ps->pool[old[i]].producer_id)] = old[i];
    }
    free(old);
    return 0;
}

static void slot_remove(struct producer_state *ps, int64_t pid) {
    uint32_t mask = ps->slot_cap - 1;
    uint32_t hole = slot_probe(ps, pid);
    PSTATE_ASSERT(ps->slots[hole] != NO_INDEX);
    /* Backward shift: pull later members of the probe run into the hole
     * when their home is not between the hole and their slot. */
    for (uint32_t j = (hole + 1) & mask; ps->slots[j] != NO_INDEX; j = (j + 1) & mask) {
        uint32_t home = slot_home(ps, ps->pool[ps->slots[j]].producer_id);
        if (((j - home) & mask) >= ((j - hole) & mask)) {
            ps->slots[hole] = ps->slots[j];
            hole = j;
        }
    }
    ps->slots[hole] = NO_INDEX;
}

static void lru_unlink(struct producer_state *ps, int32_t idx) {
    struct pstate_entry *e = &ps->pool[idx];
    if (e->lru_prev != NO_INDEX) ps->pool[e->lru_prev].lru_next = e->lru_next;
    else ps->lru_oldest = e->lru_next;
    if (e->lru_next != NO_INDEX) ps->pool[e->lru_next].lru_prev = e->lru_prev;
    else ps->lru_newest = e->lru_prev;
    e->lru_prev = e->lru_next = NO_INDEX;
}

static void lru_append(struct producer_state *ps, int32_t idx) {
    struct pstate_entry *e = &ps->pool[idx];
    e->lru_prev = ps->lru_newest;
    e->lru_next = NO_INDEX;
    if (ps->lru_newest != NO_INDEX) ps->pool[ps->lru_newest].lru_next = idx;
    else ps->lru_oldest = idx;
    ps->lru_newest = idx;
}

static void entry_remove(struct producer_state *ps, int32_t idx) {
    slot_remove(ps, ps->pool[idx].producer_id);
    lru_unlink(ps, idx);
    ps->pool[idx].lru_next = ps->free_head;
    ps->free_head = idx;
    ps->count--;
}

static int32_t pool_take(struct producer_state *ps) {
    if (ps->free_head != NO_INDEX) {
        int32_t idx = ps->free_head;
        ps->free_head = ps->pool[idx].lru_next;
        return idx;
    }
    if (ps->pool_used == ps->pool_cap) {
        uint32_t new_cap = ps->pool_cap * 2;
        if (new_cap > ps->max_producers) new_cap = ps->max_producers;
        struct pstate_entry *pool = realloc(ps->pool, sizeof(*pool) * new_cap);
        if (!pool) return NO_INDEX;
        ps->pool = pool;
        ps->pool_cap = new_cap;
    }
    return (int32_t)ps->pool_used++;
}

static void evict_oldest(struct producer_state *ps, const char *why) {
    int32_t victim = ps->lru_oldest;
    PSTATE_ASSERT(victim != NO_INDEX);
    ps->evictions++;
    if (ps->evictions % PSTATE_EVICTION_LOG_EVERY == 1)
        log_warn("storage",
                 "producer state %s, evicting least recently used producer_id=%" PRId64
                 " max_producers=%u evictions=%" PRIu64,
                 why, ps->pool[victim].producer_id, ps->max_producers, ps->evictions);
    entry_remove(ps, victim);
}

/* A new, empty entry for pid (not present), evicting the least recently
 * used producer when the partition is full or memory is short. */
static int32_t entry_insert(struct producer_state *ps, int64_t pid) {
    if (ps->count >= ps->max_producers) evict_oldest(ps, "full");
    if (2 * (ps->count + 1) > ps->slot_cap && slots_grow(ps) != 0) {
        if (ps->count == 0) return NO_INDEX;
        evict_oldest(ps, "out of memory");
    }
    int32_t idx = pool_take(ps);
    if (idx == NO_INDEX) {
        if (ps->count == 0) return NO_INDEX;
        evict_oldest(ps, "out of memory");
        idx = pool_take(ps);
    }
    struct pstate_entry *e = &ps->pool[idx];
    memset(e, 0, sizeof(*e));
    e->producer_id = pid;
    ps->slots[slot_probe(ps, pid)] = idx;
    lru_append(ps, idx);
    ps->count++;
    return idx;
}

static void pstate_clear(struct producer_state *ps) {
    for (uint32_t i = 0; i < ps->slot_cap; i++) ps->slots[i] = NO_INDEX;
    ps->pool_used = 0;
    ps->free_head = NO_INDEX;
    ps->count = 0;
    ps->lru_oldest = ps->lru_newest = NO_INDEX;
}

struct producer_state *pstate_create_bounded(uint32_t max_producers) {
    if (max_producers < 1) max_producers = 1;
    if (max_producers > PSTATE_PRODUCERS_MAX) max_producers = PSTATE_PRODUCERS_MAX;
    struct producer_state *ps = calloc(1, sizeof(*ps));
    if (!ps) return NULL;
    ps->max_producers = max_producers;
    ps->pool_cap = max_producers < POOL_CAP_INITIAL ? max_producers : POOL_CAP_INITIAL;
    ps->slot_cap = slot_cap_for(ps->pool_cap);
    ps->pool = malloc(sizeof(*ps->pool) * ps->pool_cap);
    ps->slots = malloc(sizeof(*ps->slots) * ps->slot_cap);
    if (!ps->pool || !ps->slots) {
        pstate_destroy(ps);
        return NULL;
    }
    pstate_clear(ps);
    return ps;
}

struct producer_state *pstate_create(void) { return pstate_create_bounded(PSTATE_PRODUCERS_MAX); }

void pstate_destroy(struct producer_state *ps) {
    if (!ps) return;
    free(ps->pool);
    free(ps->slots);
    free(ps);
}

size_t pstate_producer_count(const struct producer_state *ps) { return ps->count; }

/* ---- checking and recording ---- */

enum pstate_verdict pstate_check(const struct producer_state *ps, int64_t producer_id, int16_t epoch,
                                 int32_t base_sequence, int32_t record_count, int64_t *dup_base_offset) {
    if (producer_id < 0) return PSTATE_APPEND;
    if (base_sequence < 0 || record_count < 1) return PSTATE_OUT_OF_ORDER;
    int32_t idx = entry_find(ps, producer_id);
    if (idx == NO_INDEX) return PSTATE_APPEND; /* any sequence, see the header */
    const struct pstate_entry *e = &ps->pool[idx];
    if (epoch < e->epoch) return PSTATE_FENCED;
    if (epoch > e->epoch) return base_sequence == 0 ? PSTATE_APPEND : PSTATE_OUT_OF_ORDER;
    int32_t last_seq = seq_add(base_sequence, record_count - 1);
    for (unsigned i = 0; i < e->batch_count; i++) {
        const struct pstate_batch *b = &e->batches[i];
        if (b->first_seq == base_sequence && b->last_seq == last_seq) {
            if (dup_base_offset) *dup_base_offset = b->base_offset;
            return PSTATE_DUPLICATE;
        }
    }
    int32_t expected = e->batch_count ? seq_add(e->batches[e->batch_count - 1].last_seq, 1) : 0;
    return base_sequence == expected ? PSTATE_APPEND : PSTATE_OUT_OF_ORDER;
}

static void entry_push_batch(struct pstate_entry *e, const struct pstate_batch *b) {
    if (e->batch_count == LIMIT_PRODUCER_BATCHES_CACHED) {
        memmove(&e->batches[0], &e->batches[1], sizeof(e->batches[0]) * (LIMIT_PRODUCER_BATCHES_CACHED - 1));
        e->batch_count--;
    }
    e->batches[e->batch_count++] = *b;
}

void pstate_record(struct producer_state *ps, int64_t producer_id, int16_t epoch, int32_t base_sequence,
                   int32_t record_count, int64_t base_offset, int64_t timestamp_ms) {
    if (producer_id < 0) return;
    int32_t idx = entry_find(ps, producer_id);
    if (idx == NO_INDEX) {
        idx = entry_insert(ps, producer_id);
        if (idx == NO_INDEX) {
            log_error("storage", "out of memory recording producer_id=%" PRId64, producer_id);
            return;
        }
        ps->pool[idx].epoch = epoch;
    } else {
        lru_unlink(ps, idx);
        lru_append(ps, idx);
    }
    struct pstate_entry *e = &ps->pool[idx];
    if (e->epoch != epoch) {
        e->epoch = epoch;
        e->batch_count = 0;
    }
    e->last_timestamp_ms = timestamp_ms;
    if (base_sequence < 0 || record_count < 1) return;
    struct pstate_batch b = {
        .first_seq = base_sequence,
        .last_seq = seq_add(base_sequence, record_count - 1),
        .base_offset = base_offset,
        .last_offset_delta = record_count - 1,
        .timestamp_ms = timestamp_ms,
    };
    entry_push_batch(e, &b);
}

uint32_t pstate_expire(struct producer_state *ps, int64_t now_ms, int64_t expiration_ms) {
    if (expiration_ms < 0) return 0;
    int64_t threshold;
    if (__builtin_sub_overflow(now_ms, expiration_ms, &threshold)) return 0;
    uint32_t expired = 0;
    int32_t idx = ps->lru_oldest;
    while (idx != NO_INDEX) {
        int32_t next = ps->pool[idx].lru_next;
        /* Not in LRU order: timestamps come from the batches, not the clock. */
        if (ps->pool[idx].last_timestamp_ms <= threshold) {
            entry_remove(ps, idx);
            expired++;
        }
        idx = next;
    }
    if (expired) log_debug("storage", "expired producers count=%u remaining=%u", expired, ps->count);
    return expired;
}

int pstate_lookup(const struct producer_state *ps, int64_t producer_id, struct pstate_producer_info *out) {
    int32_t idx = producer_id < 0 ? NO_INDEX : entry_find(ps, producer_id);
    if (idx == NO_INDEX) return -ENOENT;
    const struct pstate_entry *e = &ps->pool[idx];
    out->epoch = e->epoch;
    out->last_timestamp_ms = e->last_timestamp_ms;
    out->batches_cached = e->batch_count;
    if (e->batch_count) {
        const struct pstate_batch *b = &e->batches[e->batch_count - 1];
        out->last_sequence = b->last_seq;
        out->last_offset = b->base_offset + b->last_offset_delta;
    } else {
        out->last_sequence = -1;
        out->last_offset = -1;
    }
    return 0;
}

/* ---- snapshot encoding ---- */

static void put_be16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static void put_be32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (24 - 8 * i));
}
static void put_be64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (56 - 8 * i));
}
static uint16_t get_be16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static uint32_t get_be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static uint64_t get_be64(const uint8_t *p) { return ((uint64_t)get_be32(p) << 32) | get_be32(p + 4); }

/* The same rule before a write and after a read. */
static bool batch_valid(const struct pstate_batch *b, int64_t snapshot_offset) {
    return b->first_seq >= 0 && b->last_offset_delta >= 0 && b->base_offset >= 0 &&
           b->last_seq == seq_add(b->first_seq, b->last_offset_delta) &&
           b->base_offset < snapshot_offset - b->last_offset_delta;
}

static size_t entry_encode(const struct pstate_entry *e, uint8_t *p) {
    put_be64(p, (uint64_t)e->producer_id);
    put_be16(p + 8, (uint16_t)e->epoch);
    p[10] = e->batch_count;
    p[11] = 0;
    put_be64(p + 12, (uint64_t)e->last_timestamp_ms);
    size_t pos = SNAP_ENTRY_HEAD_BYTES;
    for (unsigned i = 0; i < e->batch_count; i++, pos += SNAP_BATCH_BYTES) {
        const struct pstate_batch *b = &e->batches[i];
        put_be32(p + pos, (uint32_t)b->first_seq);
        put_be32(p + pos + 4, (uint32_t)b->last_seq);
        put_be64(p + pos + 8, (uint64_t)b->base_offset);
        put_be32(p + pos + 16, (uint32_t)b->last_offset_delta);
        put_be64(p + pos + 20, (uint64_t)b->timestamp_ms);
    }
    return pos;
}

/* The whole snapshot in a malloc'd buffer, or NULL (-EINVAL when the state
 * contradicts `offset`, -ENOMEM) with *err set. */
static uint8_t *snapshot_encode(const struct producer_state *ps, int64_t offset, size_t *len, int *err) {
    size_t size = SNAP_HEADER_BYTES;
    for (int32_t i = ps->lru_oldest; i != NO_INDEX; i = ps->pool[i].lru_next) {
        const struct pstate_entry *e = &ps->pool[i];
        for (unsigned k = 0; k < e->batch_count; k++) {
            if (!batch_valid(&e->batches[k], offset)) {
                log_error("storage", "producer state contradicts snapshot offset=%" PRId64 " producer_id=%" PRId64
                          " base_offset=%" PRId64 "; snapshot not written",
                          offset, e->producer_id, e->batches[k].base_offset);
                *err = -EINVAL;
                return NULL;
            }
        }
        size += SNAP_ENTRY_HEAD_BYTES + (size_t)e->batch_count * SNAP_BATCH_BYTES;
    }
    PSTATE_ASSERT(size <= SNAP_BYTES_MAX);
    uint8_t *buf = malloc(size);
    if (!buf) {
        *err = -ENOMEM;
        return NULL;
    }
    put_be32(buf, SNAP_MAGIC);
    put_be16(buf + 4, SNAP_VERSION);
    put_be16(buf + 6, 0);
    put_be64(buf + 12, (uint64_t)offset);
    put_be32(buf + 20, ps->count);
    size_t pos = SNAP_HEADER_BYTES;
    for (int32_t i = ps->lru_oldest; i != NO_INDEX; i = ps->pool[i].lru_next) pos += entry_encode(&ps->pool[i], buf + pos);
    PSTATE_ASSERT(pos == size);
    put_be32(buf + SNAP_CRC_POS, crc32c(0, buf + SNAP_CRC_FROM, size - SNAP_CRC_FROM));
    *len = size;
    return buf;
}

/* ---- snapshot decoding ---- */

struct snap_reader {
    const uint8_t *p;
    size_t len;
    size_t pos;
    const char *why; /* first failed check */
    int line;
};

#define SNAP_FAIL(r, reason) ((r)->why = (reason), (r)->line = __LINE__, -1)

static int batch_decode(struct snap_reader *r, int64_t offset, struct pstate_batch *b) {
    if (r->len - r->pos < SNAP_BATCH_BYTES) return SNAP_FAIL(r, "short batch");
    const uint8_t *p = r->p + r->pos;
    b->first_seq = (int32_t)get_be32(p);
    b->last_seq = (int32_t)get_be32(p + 4);
    b->base_offset = (int64_t)get_be64(p + 8);
    b->last_offset_delta = (int32_t)get_be32(p + 16);
    b->timestamp_ms = (int64_t)get_be64(p + 20);
    r->pos += SNAP_BATCH_BYTES;
    if (!batch_valid(b, offset)) return SNAP_FAIL(r, "inconsistent batch");
    return 0;
}

static int entry_decode(struct producer_state *ps, struct snap_reader *r, int64_t offset) {
    if (r->len - r->pos < SNAP_ENTRY_HEAD_BYTES) return SNAP_FAIL(r, "short entry");
    const uint8_t *p = r->p + r->pos;
    int64_t pid = (int64_t)get_be64(p);
    uint8_t count = p[10];
    if (pid < 0) return SNAP_FAIL(r, "negative producer id");
    if (count > LIMIT_PRODUCER_BATCHES_CACHED || p[11] != 0) return SNAP_FAIL(r, "bad batch count");
    if (entry_find(ps, pid) != NO_INDEX) return SNAP_FAIL(r, "producer id twice");
    int16_t epoch = (int16_t)get_be16(p + 8);
    int64_t last_ts = (int64_t)get_be64(p + 12);
    r->pos += SNAP_ENTRY_HEAD_BYTES;
    struct pstate_batch batches[LIMIT_PRODUCER_BATCHES_CACHED];
    for (unsigned i = 0; i < count; i++)
        if (batch_decode(r, offset, &batches[i]) != 0) return -1;
    int32_t idx = entry_insert(ps, pid);
    if (idx == NO_INDEX) return SNAP_FAIL(r, "out of memory");
    struct pstate_entry *e = &ps->pool[idx];
    e->epoch = epoch;
    e->last_timestamp_ms = last_ts;
    e->batch_count = count;
    memcpy(e->batches, batches, sizeof(batches[0]) * count);
    return 0;
}

static int snapshot_decode(struct producer_state *ps, struct snap_reader *r, int64_t name_offset) {
    if (r->len < SNAP_HEADER_BYTES) return SNAP_FAIL(r, "short header");
    if (get_be32(r->p) != SNAP_MAGIC) return SNAP_FAIL(r, "bad magic");
    if (get_be16(r->p + 4) != SNAP_VERSION) return SNAP_FAIL(r, "unsupported version");
    if (get_be16(r->p + 6) != 0) return SNAP_FAIL(r, "unknown flags");
    if (get_be32(r->p + SNAP_CRC_POS) != crc32c(0, r->p + SNAP_CRC_FROM, r->len - SNAP_CRC_FROM))
        return SNAP_FAIL(r, "bad crc");
    int64_t offset = (int64_t)get_be64(r->p + 12);
    uint32_t n = get_be32(r->p + 20);
    if (offset != name_offset) return SNAP_FAIL(r, "offset differs from file name");
    if (n > PSTATE_PRODUCERS_MAX) return SNAP_FAIL(r, "too many producers");
    r->pos = SNAP_HEADER_BYTES;
    for (uint32_t i = 0; i < n; i++)
        if (entry_decode(ps, r, offset) != 0) return -1;
    if (r->pos != r->len) return SNAP_FAIL(r, "trailing bytes");
    return 0;
}

uint8_t *pstate_snapshot_encode(const struct producer_state *ps, int64_t offset, size_t *len) {
    int err = 0;
    return snapshot_encode(ps, offset, len, &err);
}

int pstate_snapshot_decode(struct producer_state *ps, const uint8_t *buf, size_t len, int64_t offset) {
    pstate_clear(ps);
    struct snap_reader r = {.p = buf, .len = len};
    if (snapshot_decode(ps, &r, offset) == 0) return 0;
    pstate_clear(ps);
    return -EBADMSG;
}

/* ---- files ---- */

static int snap_path(char *out, size_t cap, const char *dir, int64_t offset, const char *suffix) {
    int n = snprintf(out, cap, "%s/%0*" PRId64 "%s", dir, SNAP_NAME_DIGITS, offset, suffix);
    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* True when name is exactly 20 digits followed by suffix; *offset gets them. */
static bool snap_name_offset(const char *name, const char *suffix, int64_t *offset) {
    int64_t v = 0;
    for (int i = 0; i < SNAP_NAME_DIGITS; i++) {
        if (name[i] < '0' || name[i] > '9') return false;
        if (v > (INT64_MAX - (name[i] - '0')) / 10) return false;
        v = v * 10 + (name[i] - '0');
    }
    if (strcmp(name + SNAP_NAME_DIGITS, suffix) != 0) return false;
    *offset = v;
    return true;
}

static void unlink_logged(const char *dir, const char *name, const char *why) {
    char path[PATH_MAX];
    int n = snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof(path)) return;
    if (unlink(path) == 0) log_info("storage", "removed producer snapshot file=%s reason=%s", path, why);
    else log_warn("storage", "cannot remove producer snapshot file=%s errno=%d", path, errno);
}

/* Deletes snapshots older than the newest PSTATE_SNAPSHOTS_KEPT. */
static int snapshot_prune(const char *dir) {
    int64_t kept[PSTATE_SNAPSHOTS_KEPT]; /* descending; -1 = none */
    for (int i = 0; i < PSTATE_SNAPSHOTS_KEPT; i++) kept[i] = -1;
    DIR *d = opendir(dir);
    if (!d) return -errno;
    struct dirent *de;
    int64_t off;
    while ((de = readdir(d)) != NULL) {
        if (!snap_name_offset(de->d_name, SNAP_SUFFIX, &off)) continue;
        for (int i = 0; i < PSTATE_SNAPSHOTS_KEPT; i++) {
            if (off <= kept[i]) continue;
            memmove(&kept[i + 1], &kept[i], sizeof(kept[0]) * (size_t)(PSTATE_SNAPSHOTS_KEPT - 1 - i));
            kept[i] = off;
            break;
        }
    }
    int64_t oldest_kept = kept[PSTATE_SNAPSHOTS_KEPT - 1];
    rewinddir(d);
    while ((de = readdir(d)) != NULL)
        if (snap_name_offset(de->d_name, SNAP_SUFFIX, &off) && off < oldest_kept)
            unlink_logged(dir, de->d_name, "superseded");
    closedir(d);
    return 0;
}

int pstate_snapshot_write(const struct producer_state *ps, const char *dir, int64_t offset) {
    if (offset < 0) return -EINVAL;
    char final[PATH_MAX], name[SNAP_NAME_DIGITS + sizeof(SNAP_SUFFIX)];
    if (snap_path(final, sizeof(final), dir, offset, SNAP_SUFFIX) != 0) return -ENAMETOOLONG;
    snprintf(name, sizeof(name), "%0*" PRId64 "%s", SNAP_NAME_DIGITS, offset, SNAP_SUFFIX);
    size_t len = 0;
    int rc = 0;
    uint8_t *buf = snapshot_encode(ps, offset, &len, &rc);
    if (!buf) return rc;
    /* "<name>.tmp", fsync, rename, fsync of the directory (SNAP_TMP_SUFFIX). */
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    rc = dirfd < 0 ? -errno : fio_write_atomic(dirfd, name, buf, len);
    if (dirfd >= 0) close(dirfd);
    free(buf);
    if (rc != 0) {
        log_error("storage", "cannot write producer snapshot file=%s errno=%d", final, -rc);
        return rc;
    }
    log_debug("storage", "wrote producer snapshot file=%s producers=%u bytes=%zu", final, ps->count, len);
    /* The new snapshot is durable; failing to prune old ones only costs space. */
    rc = snapshot_prune(dir);
    if (rc != 0) log_warn("storage", "cannot prune producer snapshots dir=%s errno=%d", dir, -rc);
    return 0;
}

/* Reads a whole snapshot file, refusing anything larger than a valid one. */
static int read_snapshot_file(const char *path, uint8_t **out, size_t *len) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size < 0 || (uint64_t)st.st_size > SNAP_BYTES_MAX) {
        close(fd);
        return -EFBIG;
    }
    size_t size = (size_t)st.st_size;
    uint8_t *buf = malloc(size ? size : 1);
    size_t got = 0;
    int rc = buf ? 0 : -ENOMEM;
    while (rc == 0 && got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) rc = n < 0 ? -errno : -EIO; /* shrank under us */
        else got += (size_t)n;
    }
    close(fd);
    if (rc != 0) {
        free(buf);
        return rc;
    }
    *out = buf;
    *len = size;
    return 0;
}

static int snapshot_load_one(struct producer_state *ps, const char *dir, int64_t offset) {
    char path[PATH_MAX];
    if (snap_path(path, sizeof(path), dir, offset, SNAP_SUFFIX) != 0) return -ENAMETOOLONG;
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = read_snapshot_file(path, &buf, &len);
    if (rc != 0) {
        log_warn("storage", "damaged producer snapshot file=%s reason=unreadable errno=%d", path, -rc);
        return rc;
    }
    struct snap_reader r = {.p = buf, .len = len};
    rc = snapshot_decode(ps, &r, offset);
    free(buf);
    if (rc != 0) {
        log_warn("storage", "damaged producer snapshot file=%s reason=\"%s\" at_byte=%zu check=%s:%d", path, r.why,
                 r.pos, __FILE__, r.line);
        return -EBADMSG;
    }
    return 0;
}

/* Removes leftover temporary files and snapshots above max_offset. */
static int snapshot_sweep(const char *dir, int64_t max_offset) {
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? 0 : -errno;
    struct dirent *de;
    int64_t off;
    while ((de = readdir(d)) != NULL) {
        if (snap_name_offset(de->d_name, SNAP_TMP_SUFFIX, &off)) unlink_logged(dir, de->d_name, "unfinished write");
        else if (snap_name_offset(de->d_name, SNAP_SUFFIX, &off) && off > max_offset)
            unlink_logged(dir, de->d_name, "above log end");
    }
    closedir(d);
    return 0;
}

/* The newest snapshot offset <= limit, or -1. */
static int snapshot_newest(const char *dir, int64_t limit, int64_t *found) {
    *found = -1;
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? 0 : -errno;
    struct dirent *de;
    int64_t off;
    while ((de = readdir(d)) != NULL)
        if (snap_name_offset(de->d_name, SNAP_SUFFIX, &off) && off <= limit && off > *found) *found = off;
    closedir(d);
    return 0;
}

int pstate_snapshot_load(struct producer_state *ps, const char *dir, int64_t max_offset, int64_t *offset) {
    pstate_clear(ps);
    *offset = 0;
    int rc = snapshot_sweep(dir, max_offset);
    if (rc != 0) return rc;
    int64_t limit = max_offset;
    for (;;) {
        int64_t candidate;
        rc = snapshot_newest(dir, limit, &candidate);
        if (rc != 0 || candidate < 0) return rc;
        if (snapshot_load_one(ps, dir, candidate) == 0) {
            *offset = candidate;
            /* Debug: a broker with 100,000 partitions would log 100,000 lines at start. */
            log_debug("storage", "loaded producer snapshot dir=%s offset=%" PRId64 " producers=%u", dir, candidate,
                      ps->count);
            return 0;
        }
        pstate_clear(ps);
        char name[SNAP_NAME_DIGITS + sizeof(SNAP_SUFFIX)];
        snprintf(name, sizeof(name), "%0*" PRId64 "%s", SNAP_NAME_DIGITS, candidate, SNAP_SUFFIX);
        unlink_logged(dir, name, "damaged");
        if (candidate == 0) return 0;
        limit = candidate - 1;
    }
}
