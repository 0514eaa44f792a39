/*
 * An output buffer for one response: contiguous memory plus ranges of
 * files to be spliced in with sendfile at given positions. The encoder
 * writes headers into memory and, for record data, adds a file range
 * instead of copying the bytes; the network layer sends memory and file
 * ranges in order. Errors are sticky: after a failed allocation or hitting
 * the limit, writes are ignored and obuf_failed() reports it once at the end,
 * so encoders need not check every call.
 */
#ifndef GREGOR_OBUF_H
#define GREGOR_OBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct obuf_file_range {
    size_t mem_pos;  /* memory bytes that precede this range */
    int fd;          /* owned: closed by obuf_free */
    int64_t file_pos;
    uint32_t len;
};

struct obuf {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t limit;  /* memory bytes allowed */
    struct obuf_file_range *files;
    uint32_t files_len;
    uint32_t files_cap;
    uint64_t file_bytes;
    bool failed;
};

void obuf_init(struct obuf *ob, size_t limit);
void obuf_free(struct obuf *ob);
/* Appends n bytes and returns where to write them, or NULL (sticky failure). */
uint8_t *obuf_extend(struct obuf *ob, size_t n);
void obuf_put(struct obuf *ob, const void *src, size_t n);
/* Takes ownership of fd; on failure closes it and marks the buffer failed. */
void obuf_add_file(struct obuf *ob, int fd, int64_t file_pos, uint32_t len);
static inline uint64_t obuf_total(const struct obuf *ob) { return ob->len + ob->file_bytes; }
static inline bool obuf_failed(const struct obuf *ob) { return ob->failed; }
/* File ranges held by all live obufs (each holds a descriptor until freed),
 * so callers can keep descriptors for queued responses within a budget. */
uint64_t obuf_file_ranges_open(void);
/* Overwrites 4 bytes already written at mem position pos, big-endian. */
void obuf_patch_be32(struct obuf *ob, size_t pos, uint32_t v);

#endif
