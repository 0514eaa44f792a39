/*
 * Invariant checks that stay on in release builds (as Redis and SQLite do):
 * a broken invariant in a queue, a log or producer state would otherwise
 * surface later as corruption or lost records, which is worse than a crash
 * that names the line.
 */
#ifndef GREGOR_ASSERT_H
#define GREGOR_ASSERT_H

#include <stdlib.h>

#include "core/log.h"

#define ASSERT_ALWAYS(subsystem, cond)                                                          \
    do {                                                                                        \
        if (!(cond)) {                                                                          \
            log_error(subsystem, "assertion failed: %s at %s:%d", #cond, __FILE__, __LINE__);   \
            abort();                                                                            \
        }                                                                                       \
    } while (0)

#endif
