/* log: leveled diagnostics to stderr. LEMU_LOG=error|warn|info|debug sets the level. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int log_level = -1;

static void log_init(void) {
  static const char *names[] = {"error", "warn", "info", "debug"};
  const char *e = getenv("LEMU_LOG");
  log_level = LOG_WARN;
  if (!e) return;
  for (int i = 0; i < 4; i++)
    if (strcmp(e, names[i]) == 0) log_level = i;
}

void log_msg(int level, const char *subsys, const char *fmt, ...) {
  static const char *tags[] = {"error", "warning", "info", "debug"};
  if (log_level < 0) log_init();
  if (level > log_level) return;
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  fprintf(stderr, "lemu: %s: %s: %s\n", subsys, tags[level], buf);
}
