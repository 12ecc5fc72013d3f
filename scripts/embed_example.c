/* embed_example: lemu embedded in a C program, with no Lua. Boots a kernel and initrd (the default
 * guest's, from guest/images) on a virt machine whose virtio-net NIC is on a VLAN with a user-mode
 * network, waits for the shell's prompt, has the guest take a DHCP lease and power off, and exits 0
 * if the lease was taken. Build it against an installed lemu:
 *
 *   cc -I$PREFIX/include embed_example.c $PREFIX/lib/liblemu.a \
 *      $(pkg-config --libs libuv zlib) -lslirp -lfdt -lvdeplug -lmnl -llua5.4 -lm
 *
 *   ./a.out guest/images/Image.gz guest/images/initramfs.cpio.gz
 */
#include <lemu.h>
#include <stdio.h>
#include <string.h>

typedef struct app {
  lemu_rt *rt;
  lemu_machine *m;
  char seen[8192];          /* the console's most recent output */
  size_t n;
  int typed, done, status;
} app;

static void on_console(void *ud, const uint8_t *buf, size_t len) {
  app *a = ud;
  fwrite(buf, 1, len, stdout);
  fflush(stdout);
  if (len > sizeof a->seen - 1) {
    buf += len - (sizeof a->seen - 1);
    len = sizeof a->seen - 1;
  }
  if (a->n + len > sizeof a->seen - 1) {      /* keep the newest bytes */
    size_t drop = a->n + len - (sizeof a->seen - 1);
    memmove(a->seen, a->seen + drop, a->n - drop);
    a->n -= drop;
  }
  memcpy(a->seen + a->n, buf, len);
  a->n += len;
  a->seen[a->n] = 0;
  /* The first prompt after the guest's ready line: ask for a lease, then power off. */
  if (!a->typed && strstr(a->seen, "lemu-guest: ready") && strstr(strstr(a->seen, "lemu-guest: ready"), "# ")) {
    static const char cmd[] = "udhcpc -i eth0 -q -n -t 5 -T 1 && echo LEASE-$((40+2)); poweroff -f\n";
    a->typed = 1;
    a->n = 0;
    lemu_machine_input(a->m, cmd, sizeof cmd - 1);
  }
  if (strstr(a->seen, "LEASE-42")) a->status = 0;
}

static void on_exit_(void *ud, int status, const char *why) {
  app *a = ud;
  if (why) fprintf(stderr, "embed_example: the machine stopped: %s\n", why);
  a->done = 1;
  if (status != 0) a->status = 1;
  lemu_rt_stop(a->rt);
}

static void on_timeout(lemu_timer *t, void *ud) {
  (void)t;
  app *a = ud;
  fprintf(stderr, "embed_example: no lease within 60 s\n");
  lemu_rt_stop(a->rt);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s KERNEL INITRD\n", argv[0]);
    return 2;
  }
  app a = {.status = 1};
  const char *e;
  char err[512];
  a.rt = lemu_rt_new(&e);
  if (!a.rt) { fprintf(stderr, "embed_example: %s\n", e); return 1; }
  lemu_vlan *v = lemu_vlan_new(a.rt, "lan");
  lemu_user_config ucfg = {.no_dns = 1};     /* nothing is asked of the host's resolver */
  if (!lemu_user_new(a.rt, v, &ucfg, err, sizeof err)) {
    fprintf(stderr, "embed_example: user-net: %s\n", err);
    return 1;
  }
  lemu_machine_config mc = {.ram_bytes = 256u << 20, .kernel = argv[1], .initrd = argv[2],
                            .append = "console=ttyS0"};
  lemu_machine_callbacks cb = {.ud = &a, .console = on_console, .exit = on_exit_};
  a.m = lemu_machine_new(a.rt, &mc, &cb, err, sizeof err);
  if (!a.m) { fprintf(stderr, "embed_example: %s\n", err); return 1; }
  if (lemu_machine_add_device(a.m, "virtio-net-device", v, NULL, NULL, err, sizeof err) < 0 ||
      lemu_machine_add_device(a.m, "virtio-rng-device", NULL, NULL, NULL, err, sizeof err) < 0) {
    fprintf(stderr, "embed_example: %s\n", err);
    return 1;
  }
  lemu_timer *t = lemu_timer_new(a.rt, on_timeout, &a);
  lemu_timer_start(t, 60000, 0);
  lemu_machine_start(a.m);
  lemu_rt_run(a.rt, NULL, NULL);
  printf("\nembed_example: %s (machine exit status %d)\n", a.status == 0 ? "lease taken" : "no lease",
         lemu_machine_exit_status(a.m));
  lemu_rt_free(a.rt);                         /* closes the machine, the user-net, the VLAN */
  return a.status;
}
