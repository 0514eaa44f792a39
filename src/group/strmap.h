/*
 * A hash map from byte-string keys to pointers, for the coordinator's
 * tables (groups by id, members by id, static members by instance id,
 * offsets by topic). Open addressing with linear probing over a power-of-
 * two table that is at most 3/4 full (tombstones counted), so a lookup
 * touches a few adjacent slots.
 *
 * The map does not own keys or values: a key must stay alive, unchanged,
 * while its entry is in the map (callers point it into the value, e.g.
 * group->id). Keys are (pointer, length) and may hold any bytes.
 *
 * The map has no bound of its own; callers bound what they insert (see
 * the LIMIT_GROUP_* constants) and the table is at most twice the live
 * entries plus tombstones, which a rehash clears.
 */
#ifndef GREGOR_GROUP_STRMAP_H
#define GREGOR_GROUP_STRMAP_H

#include <stddef.h>
#include <stdint.h>

struct strmap_slot {
    const char *key;  /* NULL: empty; the tombstone marker: deleted */
    uint32_t key_len;
    uint32_t hash;
    void *value;
};

struct strmap {
    struct strmap_slot *slots;
    uint32_t cap;       /* 0 or a power of two */
    uint32_t count;     /* live entries */
    uint32_t tombstones;
};

void strmap_init(struct strmap *m);
void strmap_free(struct strmap *m);  /* the table only: keys and values are the caller's */
void *strmap_get(const struct strmap *m, const char *key, size_t len);
/* Inserts or replaces. 0, or -1 when out of memory (the map is unchanged). */
int strmap_put(struct strmap *m, const char *key, size_t len, void *value);
/* Removes and returns the value, or NULL if absent. */
void *strmap_del(struct strmap *m, const char *key, size_t len);

/* Iteration: for (uint32_t i = 0; strmap_next(m, &i, &v);) ... ; the map
 * must not change during the walk (collect first, then delete). */
int strmap_next(const struct strmap *m, uint32_t *pos, void **value);

uint32_t strmap_hash(const char *key, size_t len);

#endif
