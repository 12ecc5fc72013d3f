/* log: leveled diagnostics to stderr, one line per event, prefixed "lemu: ". */
#ifndef LEMU_LOG_H
#define LEMU_LOG_H

enum { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

extern int log_level;   /* messages above this level are discarded (default LOG_WARN) */

void log_msg(int level, const char *subsys, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_error(s, ...) log_msg(LOG_ERROR, s, __VA_ARGS__)
#define log_warn(s, ...)  log_msg(LOG_WARN, s, __VA_ARGS__)
#define log_info(s, ...)  log_msg(LOG_INFO, s, __VA_ARGS__)
#define log_debug(s, ...) log_msg(LOG_DEBUG, s, __VA_ARGS__)

#endif
