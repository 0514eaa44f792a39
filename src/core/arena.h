/*
 * A bump allocator for everything one request needs while it is decoded
 * and handled; freed at once when the response is queued. It has a byte
 * limit so a request cannot make the broker allocate without bound: a
 * request claiming a billion array elements fails its decode instead.
 */
#ifndef GREGOR_ARENA_H
#define GREGOR_ARENA_H

#include <stddef.h>

struct arena_block;

struct arena {
    struct arena_block *head;
    size_t used_total;
    size_t limit;
};

void arena_init(struct arena *a, size_t limit);
/* Zeroed memory aligned for any type, or NULL past the limit. */
void *arena_alloc(struct arena *a, size_t n);
/* Copies a string into the arena with a terminating NUL. */
char *arena_strndup(struct arena *a, const char *s, size_t n);
void arena_reset(struct arena *a);
void arena_free(struct arena *a);

#endif
