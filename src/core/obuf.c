#include "core/obuf.h"

#include <stdatomic.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static _Atomic uint64_t file_ranges_open;

uint64_t obuf_file_ranges_open(void) { return atomic_load_explicit(&file_ranges_open, memory_order_relaxed); }

void obuf_init(struct obuf *ob, size_t limit) {
    memset(ob, 0, sizeof(*ob));
    ob->limit = limit;
}

void obuf_free(struct obuf *ob) {
    for (uint32_t i = 0; i < ob->files_len; i++) close(ob->files[i].fd);
    atomic_fetch_sub_explicit(&file_ranges_open, ob->files_len, memory_order_relaxed);
    free(ob->files);
    free(ob->data);
    memset(ob, 0, sizeof(*ob));
}

uint8_t *obuf_extend(struct obuf *ob, size_t n) {
    if (ob->failed) return NULL;
    if (n > ob->limit - ob->len) {
        ob->failed = true;
        return NULL;
    }
    if (ob->len + n > ob->cap) {
        size_t cap = ob->cap ? ob->cap : 256;
        while (cap < ob->len + n) cap *= 2;
        if (cap > ob->limit) cap = ob->limit;
        uint8_t *p = realloc(ob->data, cap);
        if (!p) {
            ob->failed = true;
            return NULL;
        }
        ob->data = p;
        ob->cap = cap;
    }
    uint8_t *at = ob->data + ob->len;
    ob->len += n;
    return at;
}

void obuf_put(struct obuf *ob, const void *src, size_t n) {
    uint8_t *at = obuf_extend(ob, n);
    if (at && n) memcpy(at, src, n);
}

void obuf_add_file(struct obuf *ob, int fd, int64_t file_pos, uint32_t len) {
    if (ob->failed) {
        close(fd);
        return;
    }
    if (ob->files_len == ob->files_cap) {
        uint32_t cap = ob->files_cap ? ob->files_cap * 2 : 4;
        struct obuf_file_range *f = realloc(ob->files, cap * sizeof(*f));
        if (!f) {
            close(fd);
            ob->failed = true;
            return;
        }
        ob->files = f;
        ob->files_cap = cap;
    }
    ob->files[ob->files_len++] = (struct obuf_file_range){ob->len, fd, file_pos, len};
    atomic_fetch_add_explicit(&file_ranges_open, 1, memory_order_relaxed);
    ob->file_bytes += len;
}

void obuf_patch_be32(struct obuf *ob, size_t pos, uint32_t v) {
    if (ob->failed || pos + 4 > ob->len) return;
    ob->data[pos] = (uint8_t)(v >> 24);
    ob->data[pos + 1] = (uint8_t)(v >> 16);
    ob->data[pos + 2] = (uint8_t)(v >> 8);
    ob->data[pos + 3] = (uint8_t)v;
}
