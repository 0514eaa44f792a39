/* A check inside a fuzz target: a failure stops libFuzzer with the input saved. */
#ifndef GREGOR_FUZZ_CHECK_H
#define GREGOR_FUZZ_CHECK_H

#include <stdio.h>

#define FUZZ_CHECK(cond)                                                                  \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            __builtin_trap();                                                             \
        }                                                                                 \
    } while (0)

#endif
