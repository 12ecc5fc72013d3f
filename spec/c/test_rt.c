/* test_rt: the runtime's loop, timers, stop, child processes and teardown, through lemu.h. */
#include <signal.h>
#include <unistd.h>

#include "ctest.h"
#include "lemu.h"
#include "rt.h"

static void count_cb(lemu_timer *t, void *ud) {
  int *n = ud;
  if (++*n == 3) lemu_timer_stop(t);
}

TEST(timer_repeats_and_run_ends_idle) {
  const char *err;
  lemu_rt *rt = lemu_rt_new(&err);
  int n = 0;
  lemu_timer *t = lemu_timer_new(rt, count_cb, &n);
  lemu_timer_start(t, 1, 1);
  CHECK_EQ(lemu_rt_run(rt, NULL, NULL), LEMU_RUN_IDLE);
  CHECK_EQ(n, 3);
  CHECK(lemu_rt_now_ns(rt) >= 2000000);
  lemu_timer_close(t);
  lemu_rt_free(rt);
}

static int reached(void *ud) { return *(int *)ud >= 2; }
static void inc_cb(lemu_timer *t, void *ud) { (void)t; ++*(int *)ud; }

TEST(run_until_condition) {
  const char *err;
  lemu_rt *rt = lemu_rt_new(&err);
  int n = 0;
  lemu_timer *t = lemu_timer_new(rt, inc_cb, &n);
  lemu_timer_start(t, 1, 1);
  CHECK_EQ(lemu_rt_run(rt, reached, &n), LEMU_RUN_DONE);
  CHECK_EQ(n, 2);
  lemu_rt_free(rt); /* closes the still-running timer */
}

static void stop_cb(lemu_timer *t, void *ud) { (void)t; lemu_rt_stop(ud); }

TEST(stop_from_callback) {
  const char *err;
  lemu_rt *rt = lemu_rt_new(&err);
  lemu_timer *t = lemu_timer_new(rt, stop_cb, rt);
  lemu_timer_start(t, 1, 1);
  CHECK_EQ(lemu_rt_run(rt, NULL, NULL), LEMU_RUN_STOPPED);
  CHECK_EQ(rt_obj_count(rt), 1);
  lemu_rt_free(rt);
}

static void raise_cb(lemu_timer *t, void *ud) { (void)t; (void)ud; kill(getpid(), SIGTERM); }

TEST(sigterm_stops_the_run) {
  const char *err;
  lemu_rt *rt = lemu_rt_new(&err);
  lemu_timer *t = lemu_timer_new(rt, raise_cb, NULL);
  lemu_timer_start(t, 1, 50);
  CHECK_EQ(lemu_rt_run(rt, NULL, NULL), LEMU_RUN_SIGNAL);
  CHECK_EQ(lemu_rt_signal(rt), SIGTERM);
  lemu_rt_free(rt);
}

static void exit_cb(lemu_proc *p, int64_t status, int sig, void *ud) {
  (void)p; (void)sig;
  *(int64_t *)ud = status;
}

TEST(child_process_exit_status) {
  const char *err;
  char msg[128];
  lemu_rt *rt = lemu_rt_new(&err);
  int64_t status = -1;
  const char *argv[] = {"/bin/sh", "-c", "exit 7", NULL};
  lemu_proc *p = lemu_proc_spawn(rt, argv, NULL, 0, exit_cb, &status, msg, sizeof msg);
  CHECK(p != NULL);
  CHECK_EQ(lemu_rt_run(rt, NULL, NULL), LEMU_RUN_IDLE);
  CHECK_EQ(status, 7);
  const char *bad[] = {"/nonexistent/program", NULL};
  CHECK(lemu_proc_spawn(rt, bad, NULL, 0, exit_cb, &status, msg, sizeof msg) == NULL);
  lemu_rt_free(rt);
}
