/*
 * A token bucket for log lines (and anything else that must not flood):
 * up to `per_sec` events pass per second, with bursts of as many; the
 * rest are counted as suppressed so the next event that passes can say how
 * many were dropped. Plain data, owned by one thread.
 */
#ifndef GREGOR_CORE_RATELIMIT_H
#define GREGOR_CORE_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct rate_limit {
    double tokens;
    uint64_t refilled_us;  /* 0: never used, the bucket starts full */
    uint64_t suppressed;   /* refused since the last event that passed */
};

/* True if an event may pass at now_us; on true, *suppressed_out gets the
 * count refused since the previous pass (and the count restarts). */
static inline bool rate_limit_take(struct rate_limit *rl, uint64_t now_us, uint32_t per_sec,
                                   uint64_t *suppressed_out) {
    if (rl->refilled_us == 0 || now_us < rl->refilled_us) {
        rl->tokens = per_sec;
    } else {
        rl->tokens += (double)(now_us - rl->refilled_us) * per_sec / 1e6;
        if (rl->tokens > per_sec) rl->tokens = per_sec;
    }
    rl->refilled_us = now_us;
    if (rl->tokens < 1.0) {
        rl->suppressed++;
        return false;
    }
    rl->tokens -= 1.0;
    *suppressed_out = rl->suppressed;
    rl->suppressed = 0;
    return true;
}

#endif
