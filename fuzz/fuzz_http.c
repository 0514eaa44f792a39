/*
 * Fuzzes the admin listener's request-head parser: any bytes must be
 * judged complete, incomplete or bad with a valid status, never crash or
 * read past the input, and an accepted head must yield a path that starts
 * with '/' and lies inside the input. Each input is also fed in two pieces,
 * as a slow client would send it: a head judged incomplete must not be
 * judged differently once more bytes come.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "admin/http.h"
#include "core/limits.h"
#include "fuzz_check.h"

static bool status_valid(int rc) {
    switch (rc) {
    case 0: case 1: case 400: case 405: case 413: case 414: case 431: case 501: case 505: return true;
    default: return false;
    }
}

static int parse_copy(const uint8_t *data, size_t size, struct http_request *req, char **buf_out) {
    /* One spare byte, as the server keeps one for a terminating NUL. */
    char *buf = malloc(size + 1);
    FUZZ_CHECK(buf != NULL);
    memcpy(buf, data, size);
    buf[size] = '\0';
    int rc = http_parse_request(buf, size, req);
    FUZZ_CHECK(status_valid(rc));
    if (rc == 0) {
        FUZZ_CHECK(req->path >= buf && req->path + req->path_len < buf + size);
        FUZZ_CHECK(req->path[0] == '/' && req->path[req->path_len] == '\0');
        FUZZ_CHECK(strlen(req->path) == req->path_len);
    }
    *buf_out = buf;
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 2 * LIMIT_ADMIN_REQUEST_HEAD_BYTES_MAX) return 0;
    struct http_request whole_req, part_req;
    char *whole_buf, *part_buf;
    int whole = parse_copy(data, size, &whole_req, &whole_buf);
    size_t cut = size ? data[0] % (size + 1) : 0;
    int part = parse_copy(data, cut, &part_req, &part_buf);
    if (part != 1) FUZZ_CHECK(part == whole);
    free(whole_buf);
    free(part_buf);
    return 0;
}
