/* lemu.h: the public C interface for programs that embed lemu (installed as <lemu.h>, with
 * liblemu.a; scripts/embed_example.c boots a guest with it and no Lua).
 *
 * A runtime owns one libuv loop and every object that lives on it: timers, child processes, VLANs,
 * user-mode networks and machines. All calls must be made from the thread that runs the loop, and
 * callbacks run on it. Objects are closed explicitly or when their runtime is freed (newest
 * first); nothing is freed behind a caller's back. A closed object must not be used again; its
 * memory goes once the loop has run its close callbacks (lemu_rt_run or lemu_rt_free). Only the
 * symbols declared here are exported from the shared module. */
#ifndef LEMU_H
#define LEMU_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LEMU_VERSION "0.2.0"
#define LEMU_API __attribute__((visibility("default")))

typedef struct lemu_rt lemu_rt;
typedef struct lemu_timer lemu_timer;
typedef struct lemu_proc lemu_proc;
struct lua_State;

/* Why lemu_rt_run returned. */
enum lemu_run_result {
  LEMU_RUN_DONE,      /* the until() condition became true */
  LEMU_RUN_STOPPED,   /* lemu_rt_stop was called */
  LEMU_RUN_IDLE,      /* nothing is left that could wake the loop */
  LEMU_RUN_SIGNAL     /* SIGINT or SIGTERM arrived: see lemu_rt_signal */
};

LEMU_API const char *lemu_version(void);

/* Returns NULL and sets *err (static text) when libuv cannot create the loop. */
LEMU_API lemu_rt *lemu_rt_new(const char **err);
/* Closes every object still open, runs their close callbacks, frees the loop. */
LEMU_API void lemu_rt_free(lemu_rt *rt);
/* Runs the loop until until(ud) is true (checked after every loop iteration; NULL: never), the
 * runtime is stopped, a signal arrives, or nothing is left to do. */
LEMU_API enum lemu_run_result lemu_rt_run(lemu_rt *rt, int (*until)(void *ud), void *ud);
/* Makes the current (or next) lemu_rt_run return LEMU_RUN_STOPPED. Safe inside callbacks. */
LEMU_API void lemu_rt_stop(lemu_rt *rt);
/* The signal that ended the last run (0 if none); cleared by the next run. */
LEMU_API int lemu_rt_signal(const lemu_rt *rt);
/* Nanoseconds on the runtime's clock since it was created: host time, or virtual time. */
LEMU_API uint64_t lemu_rt_now_ns(const lemu_rt *rt);

/* The clock (docs/time.md). Real mode: host time. Virtual mode (QEMU's -icount): time advances by
 * instructions retired, 2^shift ns each, machines run in a fixed order for a fixed quantum, and
 * idle time jumps to the next deadline (sleep=0) or passes at the host's pace (sleep=1). Set it
 * before any machine, timer or user-net exists. The seed, when set, fixes every random choice a
 * guest can see (virtio-rng, the device tree's rng-seed, impairment streams). */
enum { LEMU_CLOCK_REAL, LEMU_CLOCK_VIRTUAL };
typedef struct lemu_clock_config {
  int mode;
  int shift;               /* 0..10; -1: auto (tracks host time; not deterministic) */
  int sleep;
  uint64_t quantum_ns;     /* 0: 100 us */
  int has_seed;
  uint64_t seed;
  int64_t epoch_s;         /* the RTC's time at virtual time 0, Unix seconds (0: 2025-01-01) */
} lemu_clock_config;
/* Returns 0, or -1 with err naming the setting, its value and why. */
LEMU_API int lemu_rt_set_clock(lemu_rt *rt, const lemu_clock_config *cfg, char *err, size_t errlen);
LEMU_API void lemu_rt_get_clock(const lemu_rt *rt, lemu_clock_config *cfg);
/* Quanta run so far (virtual mode). */
LEMU_API uint64_t lemu_rt_quanta(const lemu_rt *rt);
/* The i-th part that made this run non-deterministic (a host-touching backend), or NULL. */
LEMU_API const char *lemu_rt_nondeterministic(const lemu_rt *rt, int i);

/* Timers, on the runtime's clock. The callback runs on the loop thread; the timer stays valid until lemu_timer_close. */
typedef void (*lemu_timer_cb)(lemu_timer *t, void *ud);
LEMU_API lemu_timer *lemu_timer_new(lemu_rt *rt, lemu_timer_cb cb, void *ud);
LEMU_API void lemu_timer_start(lemu_timer *t, uint64_t delay_ms, uint64_t repeat_ms);
LEMU_API void lemu_timer_stop(lemu_timer *t);
LEMU_API void lemu_timer_close(lemu_timer *t);

/* Child processes. stdio: the child's stdin is /dev/null; stdout and stderr are inherited unless
 * LEMU_PROC_QUIET. The exit callback runs once; the handle stays valid until lemu_proc_close, which
 * does not kill a running child (use lemu_proc_kill first). */
enum { LEMU_PROC_QUIET = 1 };
typedef void (*lemu_proc_exit_cb)(lemu_proc *p, int64_t status, int term_signal, void *ud);
LEMU_API lemu_proc *lemu_proc_spawn(lemu_rt *rt, const char *const *argv, const char *cwd, int flags,
                           lemu_proc_exit_cb cb, void *ud, char *err, int errlen);
LEMU_API int lemu_proc_pid(const lemu_proc *p);
LEMU_API int lemu_proc_kill(lemu_proc *p, int signum);
LEMU_API void lemu_proc_close(lemu_proc *p);

/* ---- VLANs and user-mode networking ----
 * A VLAN is QEMU's hub: it floods every frame to its other ports. Closing it unplugs everything on
 * it. A user-mode network is libslirp on its own port of a VLAN, with QEMU's addresses (network
 * 10.0.2.0/24, host 10.0.2.2, DNS 10.0.2.3, DHCP from 10.0.2.15). */
typedef struct lemu_vlan lemu_vlan;
typedef struct lemu_user lemu_user;
LEMU_API lemu_vlan *lemu_vlan_new(lemu_rt *rt, const char *name);
LEMU_API void lemu_vlan_close(lemu_vlan *v);

typedef struct lemu_user_config {
  int restricted;           /* QEMU's restrict=on: the guest reaches only the host forwards */
  int no_dns;               /* slirp forwards no DNS queries to the host's resolver */
  const char *tftp_dir;     /* served over TFTP from 10.0.2.2 (NULL: none) */
  const char *bootfile;     /* the DHCP boot file name (NULL: none) */
} lemu_user_config;
/* cfg NULL: the defaults (all zero). NULL with err on failure. */
LEMU_API lemu_user *lemu_user_new(lemu_rt *rt, lemu_vlan *v, const lemu_user_config *cfg,
                                  char *err, int errlen);
/* A host forward (QEMU's hostfwd): connections to host_addr:host_port (TCP, or UDP if udp) reach
 * guest_addr:guest_port. Returns 0 or -errno. */
LEMU_API int lemu_user_hostfwd(lemu_user *u, int udp, const char *host_addr, int host_port,
                               const char *guest_addr, int guest_port);
LEMU_API void lemu_user_close(lemu_user *u);

/* ---- machines ----
 * A machine is QEMU 7.2's riscv64 virt board (or spike): harts, CLINT, PLIC, UART, RTC and the
 * devices plugged before it starts. It runs on the loop in slices once started; console output
 * reaches the callback after each slice. */
typedef struct lemu_machine lemu_machine;
typedef struct lemu_machine_config {
  const char *type;         /* "virt" (default) or "spike" */
  uint64_t ram_bytes;       /* default 128 MiB */
  int smp;                  /* harts, default 1 */
  const char *bios;         /* NULL: lemu's built-in SBI; "default": Debian's OpenSBI; "none" */
  const char *kernel, *initrd, *append, *dtb;
} lemu_machine_config;
typedef struct lemu_machine_callbacks {
  void *ud;
  /* Console output; buf is valid during the call only. */
  void (*console)(void *ud, const uint8_t *buf, size_t len);
  /* The machine ended (guest power-off, lemu_machine_stop, or a stall: why is then the reason,
   * else NULL). It stays open until lemu_machine_close. */
  void (*exit)(void *ud, int status, const char *why);
} lemu_machine_callbacks;
LEMU_API lemu_machine *lemu_machine_new(lemu_rt *rt, const lemu_machine_config *cfg,
                                        const lemu_machine_callbacks *cb, char *err, size_t errlen);
/* Plugs a device by model name (lemu -device help lists them): a NIC on vlan with mac (NULL:
 * 52:54:00:12:34:56 counting up per process), a disk on file, an entropy source. Before start
 * only. Returns 0 or -1 with err. */
LEMU_API int lemu_machine_add_device(lemu_machine *m, const char *model, lemu_vlan *vlan,
                                     const uint8_t mac[6], const char *file, char *err,
                                     size_t errlen);
LEMU_API int lemu_machine_start(lemu_machine *m);
/* Bytes typed on the machine's console (the UART). */
LEMU_API void lemu_machine_input(lemu_machine *m, const void *buf, size_t len);
LEMU_API void lemu_machine_stop(lemu_machine *m, int status);
/* The exit status once the machine ended, else -1. */
LEMU_API int lemu_machine_exit_status(const lemu_machine *m);
LEMU_API void lemu_machine_close(lemu_machine *m);

/* Lua. luaopen_lemu is what `require "lemu"` calls: it makes a runtime owned by the Lua state.
 * lemu_lua_open binds the module to a runtime the embedder owns instead (it must outlive L);
 * either pushes the module table. */
LEMU_API int luaopen_lemu(struct lua_State *L);
LEMU_API int lemu_lua_open(struct lua_State *L, lemu_rt *rt);

#ifdef __cplusplus
}
#endif
#endif
