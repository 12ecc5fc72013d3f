/* log: leveled diagnostics to stderr. LEMU_LOG=error|warn|info|debug sets the level. Safe from any
 * thread: machines on the virtual clock's workers log too. */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int log_level = -1;
static pthread_once_t log_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t limit_mu = PTHREAD_MUTEX_INITIALIZER;   /* log_limit state */
static double window = -1;   /* LEMU_LOG_WINDOW_MS, read once with the level */

static void read_level(void) {
  static const char *names[] = {"error", "warn", "info", "debug"};
  const char *e = getenv("LEMU_LOG");
  int level = LOG_WARN;
  for (int i = 0; e && i < 4; i++)
    if (strcmp(e, names[i]) == 0) level = i;
  if (log_level < 0) log_level = level;   /* a level set before the first message stays */
  const char *w = getenv("LEMU_LOG_WINDOW_MS");
  window = w && atof(w) > 0 ? atof(w) : LOG_LIMIT_WINDOW_MS;
}

static void log_init(void) { pthread_once(&log_once, read_level); }

void log_msg(int level, const char *subsys, const char *fmt, ...) {
  static const char *tags[] = {"error", "warning", "info", "debug"};
  log_init();
  if (level > log_level) return;
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  fprintf(stderr, "lemu: %s: %s: %s\n", subsys, tags[level], buf);
}

static double mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double window_ms(void) { return window; }

static void summary(log_limit *l, double now) {
  if (l->suppressed == 0) return;
  fprintf(stderr, "lemu: %s: warning: %u more like this in the last %.1f s (last: %s)\n", l->subsys, l->suppressed,
          (now - l->start_ms) / 1e3, l->what);
  l->suppressed = 0;
}

static void limited(log_limit *l, int level, const char *subsys, const char *fmt, va_list ap);

void log_limited(log_limit *l, int level, const char *subsys, const char *fmt, ...) {
  log_init();
  if (level > log_level) return;
  va_list ap;
  va_start(ap, fmt);
  pthread_mutex_lock(&limit_mu);
  limited(l, level, subsys, fmt, ap);
  pthread_mutex_unlock(&limit_mu);
  va_end(ap);
}

static void limited(log_limit *l, int level, const char *subsys, const char *fmt, va_list ap) {
  double now = mono_ms();
  if (l->start_ms == 0 || now - l->start_ms >= window_ms()) {
    summary(l, now);
    l->start_ms = now;
    /* a new burst only after a quiet window; a source that goes on gets one summary a window */
    if (l->last_ms == 0 || now - l->last_ms >= window_ms()) l->shown = 0;
  }
  l->last_ms = now;
  char buf[1024];
  vsnprintf(buf, sizeof buf, fmt, ap);
  if (l->shown < LOG_LIMIT_BURST) {
    l->shown++;
    static const char *tags[] = {"error", "warning", "info", "debug"};
    fprintf(stderr, "lemu: %s: %s: %s%s\n", subsys, tags[level], buf,
            l->shown == LOG_LIMIT_BURST ? " (more like this are counted, not shown)" : "");
    return;
  }
  if (l->suppressed++ == 0) snprintf(l->subsys, sizeof l->subsys, "%s", subsys);
  /* the last one suppressed, cut to fit */
  size_t n = strlen(buf);
  if (n >= sizeof l->what) n = sizeof l->what - 1;
  memcpy(l->what, buf, n);
  l->what[n] = 0;
}

void log_limited_flush(log_limit *l) {
  pthread_mutex_lock(&limit_mu);
  summary(l, mono_ms());
  pthread_mutex_unlock(&limit_mu);
}
