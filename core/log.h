/* log: leveled diagnostics to stderr, one line per event, prefixed "lemu: ". */
#ifndef LEMU_LOG_H
#define LEMU_LOG_H

enum { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

extern int log_level;   /* messages above this level are discarded (default LOG_WARN) */

void log_msg(int level, const char *subsys, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A rate limit for one source of repeated messages (one backend's disconnects, say): in each
 * burst the first LOG_LIMIT_BURST messages are printed and the rest only counted: the first message
 * of each later window of LOG_LIMIT_WINDOW_MS (or log_limited_flush) prints one line "N more like
 * this in the last S s". A window with no message at all ends the burst: the next ones are printed
 * again. Zero-initialised is ready; LEMU_LOG_WINDOW_MS overrides the window. */
#define LOG_LIMIT_BURST 5
#define LOG_LIMIT_WINDOW_MS 5000
typedef struct log_limit {
  double start_ms, last_ms;   /* the window's start and the last message (monotonic ms), 0: none */
  unsigned shown, suppressed;
  char subsys[16], what[96];   /* of the suppressed ones, for the summary */
} log_limit;

void log_limited(log_limit *l, int level, const char *subsys, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Prints the pending summary, if any messages were suppressed (call when the source goes away). */
void log_limited_flush(log_limit *l);

#define log_error(s, ...) log_msg(LOG_ERROR, s, __VA_ARGS__)
#define log_warn(s, ...)  log_msg(LOG_WARN, s, __VA_ARGS__)
#define log_info(s, ...)  log_msg(LOG_INFO, s, __VA_ARGS__)
#define log_debug(s, ...) log_msg(LOG_DEBUG, s, __VA_ARGS__)

#endif
