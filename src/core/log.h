/*
 * Logging: one line per event on stderr,
 *   2026-11-25T15:04:05.123Z INFO  storage: segment rolled topic=foo partition=3 base_offset=100
 * level, UTC time, subsystem, a message and key=value fields (written by
 * the caller into the format). Thread-safe (one write(2) per line).
 */
#ifndef GREGOR_LOG_H
#define GREGOR_LOG_H

enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
void log_write(enum log_level level, const char *subsystem, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(sub, ...) \
    do { if (log_get_level() <= LOG_LEVEL_DEBUG) log_write(LOG_LEVEL_DEBUG, sub, __VA_ARGS__); } while (0)
#define log_info(sub, ...) log_write(LOG_LEVEL_INFO, sub, __VA_ARGS__)
#define log_warn(sub, ...) log_write(LOG_LEVEL_WARN, sub, __VA_ARGS__)
#define log_error(sub, ...) log_write(LOG_LEVEL_ERROR, sub, __VA_ARGS__)

#endif
