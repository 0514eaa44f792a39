/*
 * Open-addressing string map; see strmap.h.
 */
#include "group/strmap.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* A deleted slot: distinct from NULL (empty) so probes continue past it. */
static const char tombstone_key[1];
#define TOMBSTONE (&tombstone_key[0])

/* The first table; small because most maps (members of a group, topics a
 * group commits) hold a handful of entries. */
#define STRMAP_INITIAL_CAP 8

/* FNV-1a: short keys, no adversary that can pick keys to collide beyond
 * what one client could do to its own group. */
uint32_t strmap_hash(const char *key, size_t len) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h ^= (uint8_t)key[i];
        h *= 16777619u;
    }
    return h;
}

void strmap_init(struct strmap *m) { memset(m, 0, sizeof(*m)); }

void strmap_free(struct strmap *m) {
    free(m->slots);
    memset(m, 0, sizeof(*m));
}

static bool slot_live(const struct strmap_slot *s) { return s->key != NULL && s->key != TOMBSTONE; }

static bool slot_matches(const struct strmap_slot *s, const char *key, size_t len, uint32_t h) {
    return slot_live(s) && s->hash == h && s->key_len == len && memcmp(s->key, key, len) == 0;
}

/* The slot holding key, or -1. */
static int64_t find(const struct strmap *m, const char *key, size_t len, uint32_t h) {
    if (m->cap == 0) return -1;
    uint32_t mask = m->cap - 1;
    for (uint32_t i = h & mask, n = 0; n < m->cap; i = (i + 1) & mask, n++) {
        const struct strmap_slot *s = &m->slots[i];
        if (s->key == NULL) return -1;
        if (slot_matches(s, key, len, h)) return i;
    }
    return -1;
}

void *strmap_get(const struct strmap *m, const char *key, size_t len) {
    int64_t i = find(m, key, len, strmap_hash(key, len));
    return i < 0 ? NULL : m->slots[i].value;
}

/* Rebuilds into a table of new_cap slots, dropping tombstones. */
static int rehash(struct strmap *m, uint32_t new_cap) {
    struct strmap_slot *slots = calloc(new_cap, sizeof(*slots));
    if (!slots) return -1;
    uint32_t mask = new_cap - 1;
    for (uint32_t i = 0; i < m->cap; i++) {
        const struct strmap_slot *s = &m->slots[i];
        if (!slot_live(s)) continue;
        uint32_t j = s->hash & mask;
        while (slots[j].key) j = (j + 1) & mask;
        slots[j] = *s;
    }
    free(m->slots);
    m->slots = slots;
    m->cap = new_cap;
    m->tombstones = 0;
    return 0;
}

int strmap_put(struct strmap *m, const char *key, size_t len, void *value) {
    if (len > UINT32_MAX) return -1;
    uint32_t h = strmap_hash(key, len);
    int64_t at = find(m, key, len, h);
    if (at >= 0) {
        m->slots[at].value = value;
        m->slots[at].key = key;  /* the caller's key may have moved with the value */
        return 0;
    }
    /* Keep used slots (live + tombstones) at most 3/4 of the table. */
    if ((uint64_t)(m->count + m->tombstones + 1) * 4 > (uint64_t)m->cap * 3) {
        uint32_t cap = m->cap ? m->cap : STRMAP_INITIAL_CAP;
        while ((uint64_t)(m->count + 1) * 2 > cap) {
            if (cap > UINT32_MAX / 2) return -1;
            cap *= 2;
        }
        if (rehash(m, cap) != 0) return -1;
    }
    uint32_t mask = m->cap - 1;
    uint32_t i = h & mask;
    while (slot_live(&m->slots[i])) i = (i + 1) & mask;
    if (m->slots[i].key == TOMBSTONE) m->tombstones--;
    m->slots[i] = (struct strmap_slot){key, (uint32_t)len, h, value};
    m->count++;
    return 0;
}

void *strmap_del(struct strmap *m, const char *key, size_t len) {
    int64_t at = find(m, key, len, strmap_hash(key, len));
    if (at < 0) return NULL;
    void *v = m->slots[at].value;
    m->slots[at].key = TOMBSTONE;
    m->slots[at].value = NULL;
    m->count--;
    m->tombstones++;
    if (m->count == 0) {
        /* An empty map gives its memory back: groups come and go. */
        strmap_free(m);
    }
    return v;
}

int strmap_next(const struct strmap *m, uint32_t *pos, void **value) {
    while (*pos < m->cap) {
        const struct strmap_slot *s = &m->slots[(*pos)++];
        if (slot_live(s)) {
            *value = s->value;
            return 1;
        }
    }
    return 0;
}
