/*
 * A minimal unit-test harness: each CHECK failure prints file:line and the
 * expression; TEST_RUN prints one "PASS name" or "FAIL name" line per test,
 * which tests/run counts. Tests end by freeing everything so ASan's leak
 * check proves nothing leaked.
 */
#ifndef GREGOR_CHECK_H
#define GREGOR_CHECK_H

#include <stdio.h>
#include <stdlib.h>

static int check_failures_current;
static int check_failures_total;

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            check_failures_current++;                                            \
        }                                                                        \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                       \
    do {                                                                         \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);          \
        if (check_a_ != check_b_) {                                              \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld != %lld)\n",    \
                    __FILE__, __LINE__, #a, #b, check_a_, check_b_);             \
            check_failures_current++;                                            \
        }                                                                        \
    } while (0)

#define TEST_RUN(fn)                                                             \
    do {                                                                         \
        check_failures_current = 0;                                              \
        fn();                                                                    \
        printf("%s %s\n", check_failures_current ? "FAIL" : "PASS", #fn);        \
        fflush(stdout);                                                          \
        check_failures_total += check_failures_current;                          \
    } while (0)

#define TEST_EXIT() return check_failures_total ? 1 : 0

#endif
