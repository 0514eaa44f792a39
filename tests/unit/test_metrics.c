#include "check.h"
#include "admin/http.h"
#include "core/limits.h"
#include "core/metrics.h"
#include "core/ratelimit.h"
#include "core/text.h"

#include <stdio.h>

#include <string.h>

static int parse(const char *text, struct http_request *req, char *buf, size_t cap) {
    size_t n = strlen(text);
    if (n >= cap) n = cap - 1;
    memcpy(buf, text, n);
    buf[n] = '\0';
    return http_parse_request(buf, n, req);
}

static void test_http_accepts_gets(void) {
    char buf[256];
    struct http_request req;
    CHECK_EQ_INT(parse("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &req, buf, sizeof(buf)), 0);
    CHECK(req.method == HTTP_GET && strcmp(req.path, "/metrics") == 0 && req.path_len == 8);
    CHECK_EQ_INT(parse("HEAD /health/live?verbose HTTP/1.0\n\n", &req, buf, sizeof(buf)), 0);
    CHECK(req.method == HTTP_HEAD && strcmp(req.path, "/health/live") == 0);
    CHECK_EQ_INT(parse("GET /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", &req, buf, sizeof(buf)), 0);
}

static void test_http_incomplete_then_complete(void) {
    char buf[256];
    struct http_request req;
    CHECK_EQ_INT(parse("GET /metrics HTTP/1.1\r\nHost:", &req, buf, sizeof(buf)), 1);
    CHECK_EQ_INT(parse("GET /met", &req, buf, sizeof(buf)), 1);
    CHECK_EQ_INT(parse("", &req, buf, sizeof(buf)), 1);
    /* The same bytes parsed again after more arrived (the server re-parses). */
    CHECK_EQ_INT(parse("GET /metrics HTTP/1.1\r\nHost: a\r\n", &req, buf, sizeof(buf)), 1);
    size_t n = strlen(buf);
    memcpy(buf + n, "\r\n", 3);
    CHECK_EQ_INT(http_parse_request(buf, n + 2, &req), 0);
    CHECK(strcmp(req.path, "/metrics") == 0);
}

static void test_http_refusals(void) {
    char buf[LIMIT_ADMIN_REQUEST_HEAD_BYTES_MAX + 64];
    struct http_request req;
    CHECK_EQ_INT(parse("GARBAGE\r\n", &req, buf, sizeof(buf)), 400);
    CHECK_EQ_INT(parse("POST /metrics HTTP/1.1\r\n", &req, buf, sizeof(buf)), 405);
    CHECK_EQ_INT(parse("GET /metrics HTTP/2.0\r\n", &req, buf, sizeof(buf)), 505);
    CHECK_EQ_INT(parse("GET /metrics FTP/1.1\r\n", &req, buf, sizeof(buf)), 400);
    CHECK_EQ_INT(parse("GET /a b HTTP/1.1\r\n", &req, buf, sizeof(buf)), 400);
    CHECK_EQ_INT(parse("GET /metrics HTTP/1.1\r\nContent-Length: 12\r\n\r\n", &req, buf, sizeof(buf)), 413);
    CHECK_EQ_INT(parse("GET /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &req, buf, sizeof(buf)), 501);
    CHECK_EQ_INT(parse("GET /metrics HTTP/1.1\r\n x: folded\r\n\r\n", &req, buf, sizeof(buf)), 400);
    CHECK_EQ_INT(parse("GET /m\rx HTTP/1.1\r\n", &req, buf, sizeof(buf)), 400);
    memset(buf, 'a', sizeof(buf));
    memcpy(buf, "GET / HTTP/1.1\r\nX: ", 19);
    CHECK_EQ_INT(http_parse_request(buf, sizeof(buf), &req), 431);
}

static void test_histogram_buckets(void) {
    struct metrics_histogram h;
    memset(&h, 0, sizeof(h));
    metrics_observe_us(&h, 0);
    metrics_observe_us(&h, 50);          /* on a bound: counted at or below it */
    metrics_observe_us(&h, 51);
    metrics_observe_us(&h, 999999999);   /* past the last bound: +Inf */
    CHECK_EQ_INT(h.buckets[0], 2);
    CHECK_EQ_INT(h.buckets[1], 1);
    CHECK_EQ_INT(h.buckets[METRICS_LATENCY_BUCKETS], 1);
    CHECK_EQ_INT(h.count, 4);
    CHECK_EQ_INT(h.sum_us, 50 + 51 + 999999999);
}

static void test_prometheus_text(void) {
    struct obuf ob;
    obuf_init(&ob, 1 << 20);
    struct metrics_histogram h;
    memset(&h, 0, sizeof(h));
    metrics_observe_us(&h, 300);
    prom_family(&ob, "x_seconds", PROM_HISTOGRAM, "Help.");
    const char *labels[] = {"api", "Pro\"d\\u\nce\x01", NULL};
    prom_histogram(&ob, "x_seconds", labels, &h);
    obuf_put(&ob, "", 1);
    const char *text = (const char *)ob.data;
    CHECK(strstr(text, "# HELP x_seconds Help.\n# TYPE x_seconds histogram\n") == text);
    CHECK(strstr(text, "x_seconds_bucket{api=\"Pro\\\"d\\\\\\\\u\\nce\x01\",le=\"0.00025\"} 0\n") != NULL);
    CHECK(strstr(text, "x_seconds_bucket{api=\"Pro\\\"d\\\\\\\\u\\nce\x01\",le=\"0.0005\"} 1\n") != NULL);
    CHECK(strstr(text, "le=\"+Inf\"} 1\n") != NULL);
    CHECK(strstr(text, "x_seconds_sum{api=\"Pro\\\"d\\\\\\\\u\\nce\x01\"} 0.000300\n") != NULL);
    CHECK(strstr(text, "x_seconds_count{api=\"Pro\\\"d\\\\\\\\u\\nce\x01\"} 1\n") != NULL);
    CHECK(!obuf_failed(&ob));
    obuf_free(&ob);
    /* A bounded buffer fails instead of growing. */
    obuf_init(&ob, 64);
    for (int i = 0; i < 10; i++) prom_family(&ob, "a_total", PROM_COUNTER, "Some help text here.");
    CHECK(obuf_failed(&ob));
    obuf_free(&ob);
}

/* Distinct group ids must give distinct label values: valid UTF-8 passes,
 * an invalid byte is the text \xNN, a real backslash is doubled first. */
static void check_label(const char *value, const char *want) {
    struct obuf ob;
    obuf_init(&ob, 1 << 16);
    const char *labels[] = {"group", value, NULL};
    prom_sample_u64(&ob, "g", labels, 1);
    obuf_put(&ob, "", 1);
    char expect[256];
    snprintf(expect, sizeof(expect), "g{group=\"%s\"} 1\n", want);
    if (strcmp((const char *)ob.data, expect) != 0) fprintf(stderr, "label: got %s want %s", ob.data, expect);
    CHECK(strcmp((const char *)ob.data, expect) == 0);
    obuf_free(&ob);
}

static void test_label_values_utf8(void) {
    check_label("gr\xc3\xbcppe-\xe6\x97\xa5", "gr\xc3\xbcppe-\xe6\x97\xa5");
    check_label("a\xff", "a\\\\xff");
    check_label("a\xfe", "a\\\\xfe");
    check_label("a\\xff", "a\\\\\\\\xff");
    check_label("q\"n\n", "q\\\"n\\n");
    check_label("\xc3", "\\\\xc3"); /* truncated sequence */
}

static void test_json_string_utf8(void) {
    struct obuf ob;
    obuf_init(&ob, 1 << 16);
    json_string(&ob, "gr\xc3\xbcn \"q\" \\ \x01\xff");
    obuf_put(&ob, "", 1);
    CHECK(strcmp((const char *)ob.data, "\"gr\xc3\xbcn \\\"q\\\" \\\\ \\u0001\\u00ff\"") == 0);
    obuf_free(&ob);
}

static void test_rate_limit(void) {
    struct rate_limit rl = {0};
    uint64_t suppressed = 99, t = 1000000;
    int passed = 0;
    for (int i = 0; i < 25; i++) passed += rate_limit_take(&rl, t, 10, &suppressed);
    CHECK_EQ_INT(passed, 10); /* a full bucket: a burst of 10 */
    CHECK_EQ_INT(suppressed, 0);
    CHECK(!rate_limit_take(&rl, t + 50000, 10, &suppressed)); /* half a token */
    CHECK(rate_limit_take(&rl, t + 100000, 10, &suppressed));  /* 0.1 s: one token */
    CHECK_EQ_INT(suppressed, 16);                              /* 15 + the one above */
    CHECK(rate_limit_take(&rl, t + 100000 + 60000000, 10, &suppressed));
    CHECK_EQ_INT(suppressed, 0);
}

int main(void) {
    TEST_RUN(test_http_accepts_gets);
    TEST_RUN(test_http_incomplete_then_complete);
    TEST_RUN(test_http_refusals);
    TEST_RUN(test_histogram_buckets);
    TEST_RUN(test_prometheus_text);
    TEST_RUN(test_label_values_utf8);
    TEST_RUN(test_json_string_utf8);
    TEST_RUN(test_rate_limit);
    TEST_EXIT();
}
