/*
 * Text encodings shared by the broker and the command line: UTF-8
 * validation and the one JSON string writer. The writer takes a sink, so
 * the CLI streams to a FILE (payloads can be large) and the broker appends
 * to an obuf, with byte-for-byte the same escaping.
 */
#ifndef GREGOR_CORE_TEXT_H
#define GREGOR_CORE_TEXT_H

#include <stddef.h>

#include "core/obuf.h"

/* Length of the valid UTF-8 sequence at s (at most n bytes, n >= 1), or 0
 * if it is not one (bad lead or continuation byte, truncated, overlong,
 * surrogate, past U+10FFFF). */
size_t utf8_sequence_len(const unsigned char *s, size_t n);

typedef void (*text_sink_fn)(void *ctx, const void *bytes, size_t n);

/* A JSON string literal of s[0..n), quotes included. Quote and backslash
 * are escaped, \n and \t by name, other control characters as \u00XX;
 * valid UTF-8 passes through; each byte that is not valid UTF-8 becomes
 * \u00XX (its Latin-1 reading), so the output is always valid JSON. */
void json_string_write(text_sink_fn sink, void *ctx, const char *s, size_t n);

/* json_string_write into an obuf (sticky failure like the rest of obuf). */
void json_string(struct obuf *ob, const char *s);

#endif
