#include "core/text.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

size_t utf8_sequence_len(const unsigned char *s, size_t n) {
    size_t len;
    uint32_t cp;
    if (s[0] < 0x80) return 1;
    if ((s[0] & 0xe0) == 0xc0) len = 2, cp = s[0] & 0x1f;
    else if ((s[0] & 0xf0) == 0xe0) len = 3, cp = s[0] & 0x0f;
    else if ((s[0] & 0xf8) == 0xf0) len = 4, cp = s[0] & 0x07;
    else return 0;
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    /* Overlong forms, surrogates and values past Unicode are invalid. */
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return len;
}

void json_string_write(text_sink_fn sink, void *ctx, const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    sink(ctx, "\"", 1);
    for (size_t i = 0; i < n;) {
        /* Runs of printable ASCII go out in one write: most text is that. */
        size_t run = 0;
        while (i + run < n && p[i + run] >= 0x20 && p[i + run] < 0x7f && p[i + run] != '"' && p[i + run] != '\\')
            run++;
        if (run) {
            sink(ctx, p + i, run);
            i += run;
            continue;
        }
        unsigned char c = p[i];
        size_t len = utf8_sequence_len(p + i, n - i);
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            sink(ctx, esc, 2);
        } else if (c == '\n') {
            sink(ctx, "\\n", 2);
        } else if (c == '\t') {
            sink(ctx, "\\t", 2);
        } else if (c < 0x20 || c == 0x7f || len == 0) {
            char esc[8];
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            sink(ctx, esc, 6);
        } else {
            sink(ctx, p + i, len);
            i += len;
            continue;
        }
        i++;
    }
    sink(ctx, "\"", 1);
}

static void obuf_sink(void *ctx, const void *bytes, size_t n) { obuf_put(ctx, bytes, n); }

void json_string(struct obuf *ob, const char *s) { json_string_write(obuf_sink, ob, s, strlen(s)); }
