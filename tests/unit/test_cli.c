/*
 * The CLI's pure helpers: JSON strings (escapes, UTF-8 checked, invalid
 * bytes escaped so the output stays valid JSON), tables rendered both
 * ways from one description, and the parsing of numbers and times.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cli/cli_common.h"
#include "cli/cli_output.h"

/* Runs fn into a memory stream and returns the text (caller frees). */
static char *capture_json(const char *bytes, size_t n) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cli_json_strn(f, bytes, n);
    fclose(f);
    return buf;
}

static void check_json(const char *bytes, size_t n, const char *want) {
    char *got = capture_json(bytes, n);
    if (strcmp(got, want) != 0) fprintf(stderr, "json: got %s want %s\n", got, want);
    CHECK(strcmp(got, want) == 0);
    free(got);
}

static void test_json_strings(void) {
    check_json("plain", 5, "\"plain\"");
    check_json("q\"b\\", 4, "\"q\\\"b\\\\\"");
    check_json("a\nb\tc\x01", 6, "\"a\\nb\\tc\\u0001\"");
    check_json("nul\0x", 5, "\"nul\\u0000x\"");
    check_json("\xc3\xbc \xe2\x82\xac \xf0\x9f\x98\x80", 11, "\"\xc3\xbc \xe2\x82\xac \xf0\x9f\x98\x80\"");
    /* Invalid: a lone continuation, an overlong '/', a surrogate, a cut sequence. */
    check_json("\x80", 1, "\"\\u0080\"");
    check_json("\xc0\xaf", 2, "\"\\u00c0\\u00af\"");
    check_json("\xed\xa0\x80", 3, "\"\\u00ed\\u00a0\\u0080\"");
    check_json("ok\xe2\x82", 4, "\"ok\\u00e2\\u0082\"");
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cli_json_str(f, NULL);
    fclose(f);
    CHECK(strcmp(buf, "null") == 0);
    free(buf);
}

static void test_table_both_ways(void) {
    static const char *const headers[] = {"TOPIC", "#PARTITION", "#LAG", "CONSUMER-ID"};
    struct cli_table t;
    cli_table_init(&t, 4, headers);
    cli_table_cell(&t, "b");
    cli_table_cellf(&t, "%d", 10);
    cli_table_cell(&t, NULL);
    cli_table_cell(&t, "m-1");
    cli_table_cell(&t, "b");
    cli_table_cellf(&t, "%d", 2);
    cli_table_cellf(&t, "%d", 7);
    cli_table_cell(&t, NULL);
    cli_table_cell(&t, "a\"x");
    cli_table_cellf(&t, "%d", 0);
    cli_table_cellf(&t, "%d", 0);
    cli_table_cell(&t, "-");
    CHECK_EQ_INT(cli_table_rows(&t), 3);
    cli_table_sort(&t, 2);  /* by topic, then numerically by partition */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cli_table_print(&t, f);
    fclose(f);
    const char *want_text = "TOPIC  PARTITION  LAG  CONSUMER-ID\n"
                            "a\"x    0          0    -\n"
                            "b      2          7    -\n"
                            "b      10         -    m-1\n";
    if (strcmp(buf, want_text) != 0) fprintf(stderr, "table:\n%s", buf);
    CHECK(strcmp(buf, want_text) == 0);
    free(buf);
    f = open_memstream(&buf, &len);
    cli_table_json(&t, f);
    fclose(f);
    const char *want_json =
        "[{\"topic\":\"a\\\"x\",\"partition\":0,\"lag\":0,\"consumer_id\":\"-\"},"
        "{\"topic\":\"b\",\"partition\":2,\"lag\":7,\"consumer_id\":null},"
        "{\"topic\":\"b\",\"partition\":10,\"lag\":null,\"consumer_id\":\"m-1\"}]";
    if (strcmp(buf, want_json) != 0) fprintf(stderr, "json: %s\n", buf);
    CHECK(strcmp(buf, want_json) == 0);
    free(buf);
    cli_table_free(&t);
}

static void test_numbers(void) {
    int64_t v = 0;
    CHECK(cli_parse_i64("42", 0, 100, &v) == 0 && v == 42);
    CHECK(cli_parse_i64("-5", -10, 10, &v) == 0 && v == -5);
    CHECK(cli_parse_i64("101", 0, 100, &v) != 0);
    CHECK(cli_parse_i64("4x", 0, 100, &v) != 0);
    CHECK(cli_parse_i64("", 0, 100, &v) != 0);
    CHECK(cli_parse_i64("99999999999999999999", 0, INT64_MAX, &v) != 0);
}

static void test_times(void) {
    int64_t ms = 0;
    CHECK(cli_parse_time_ms("2026-11-25T17:00:00Z", &ms) == 0);
    CHECK_EQ_INT(ms, 1795626000000LL);
    CHECK(cli_parse_time_ms("2026-11-25T18:30:00+01:30", &ms) == 0);
    CHECK_EQ_INT(ms, 1795626000000LL);
    CHECK(cli_parse_time_ms("2026-11-25T12:00:00-0500", &ms) == 0);
    CHECK_EQ_INT(ms, 1795626000000LL);
    CHECK(cli_parse_time_ms("2026-11-25T17:00:00.25Z", &ms) == 0);
    CHECK_EQ_INT(ms, 1795626000250LL);
    CHECK(cli_parse_time_ms("2026-11-25 17:00:00.123Z", &ms) == 0);
    CHECK_EQ_INT(ms, 1795626000123LL);
    CHECK(cli_parse_time_ms("1795626000123", &ms) == 0);
    CHECK_EQ_INT(ms, 1795626000123LL);
    setenv("TZ", "UTC", 1);
    CHECK(cli_parse_time_ms("2026-11-25", &ms) == 0);
    CHECK_EQ_INT(ms, 1795564800000LL);
    CHECK(cli_parse_time_ms("2026-11-25T17:00:00", &ms) == 0);
    CHECK_EQ_INT(ms, 1795626000000LL);
    CHECK(cli_parse_time_ms("yesterday", &ms) != 0);
    CHECK(cli_parse_time_ms("2026-11-25T17:00:00+25:00", &ms) != 0);
    CHECK(cli_parse_time_ms("2026-11-25T17:00:00.Z", &ms) != 0);
    CHECK(cli_parse_time_ms("2026-11-25T17:00:00 junk", &ms) != 0);
}

static void test_split_kv(void) {
    char key[8];
    const char *value = NULL;
    CHECK(cli_split_kv("a=b=c", key, sizeof(key), &value) == 0 && strcmp(key, "a") == 0 && strcmp(value, "b=c") == 0);
    CHECK(cli_split_kv("k=", key, sizeof(key), &value) == 0 && *value == '\0');
    CHECK(cli_split_kv("=v", key, sizeof(key), &value) != 0);
    CHECK(cli_split_kv("novalue", key, sizeof(key), &value) != 0);
    CHECK(cli_split_kv("muchtoolongkey=v", key, sizeof(key), &value) != 0);
}

int main(void) {
    TEST_RUN(test_json_strings);
    TEST_RUN(test_table_both_ways);
    TEST_RUN(test_numbers);
    TEST_RUN(test_times);
    TEST_RUN(test_split_kv);
    TEST_EXIT();
}
