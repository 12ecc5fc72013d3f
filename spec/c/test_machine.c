/* The machine through its C interface, as an embedder or a device layer uses it: running a guest
 * to its exit with console output through the hooks, and plugging a device into a virtio slot. */
#include <string.h>

#include "ctest.h"
#include "machine.h"
#include "rt.h"

typedef struct { char out[1024]; size_t n; int exited, status; } env;

static void on_console(void *ud, const uint8_t *b, size_t n) {
  env *e = ud;
  if (e->n + n < sizeof e->out) { memcpy(e->out + e->n, b, n); e->n += n; }
}
static void on_exit_(void *ud, int status) { env *e = ud; e->exited = 1; e->status = status; }
static int exited(void *ud) { return ((env *)ud)->exited; }

TEST(machine_runs_a_guest_to_its_exit) {
  const char *err0;
  lemu_rt *rt = lemu_rt_new(&err0);
  env e = {0};
  machine_config cfg = {.bios = "none", .kernel = "guest/board/fail.elf"};
  machine_hooks h = {&e, on_console, on_exit_};
  char err[512];
  machine *m = machine_new(rt, &cfg, &h, err, sizeof err);
  CHECK(m != NULL);
  if (!m) { lemu_rt_free(rt); return; }
  CHECK_EQ(machine_state(m), MACHINE_CREATED);
  machine_start(m);
  CHECK_EQ(lemu_rt_run(rt, exited, &e), LEMU_RUN_DONE);
  CHECK_EQ(e.status, 42);
  CHECK_EQ(machine_state(m), MACHINE_EXITED);
  CHECK(e.n == 16 && memcmp(e.out, "failing with 42\n", 16) == 0);
  machine_close(m);
  lemu_rt_free(rt);
}

static uint64_t fake_read(void *dev, uint64_t off, int size) {
  (void)size;
  return off == 8 ? 1 : *(uint32_t *)dev;   /* device id 1: a network card */
}
static void fake_write(void *dev, uint64_t off, uint64_t val, int size) {
  (void)off; (void)size;
  *(uint32_t *)dev = (uint32_t)val;
}

TEST(machine_virtio_slots_take_a_device) {
  const char *err0;
  lemu_rt *rt = lemu_rt_new(&err0);
  machine_config cfg = {.bios = "none"};
  char err[512];
  machine *m = machine_new(rt, &cfg, NULL, err, sizeof err);
  CHECK(m != NULL);
  if (!m) { lemu_rt_free(rt); return; }
  bus *b = machine_bus(m);
  uint64_t v = 0;
  CHECK_EQ(bus_read(b, 0x10001000, 4, &v), 0);
  CHECK_EQ(v, 0x74726976);
  bus_read(b, 0x10003008, 4, &v);
  CHECK_EQ(v, 0);                                  /* empty slot: no device */
  static const bus_dev_ops fake = {fake_read, fake_write};
  uint32_t reg = 0;
  CHECK_EQ(machine_virtio_slot(m, 2, &fake, &reg), 0);
  bus_read(b, 0x10003008, 4, &v);
  CHECK_EQ(v, 1);
  bus_write(b, 0x10003070, 4, 0xabcd);
  CHECK_EQ(reg, 0xabcd);
  CHECK_EQ(machine_virtio_slot(m, 2, NULL, NULL), 0);
  bus_read(b, 0x10003008, 4, &v);
  CHECK_EQ(v, 0);
  CHECK_EQ(machine_virtio_slot(m, 8, &fake, &reg), -1);
  CHECK_EQ(machine_set_irq_line(m, 3, 1), 0);
  CHECK_EQ(machine_set_irq_line(m, 3, 0), 0);
  CHECK_EQ(machine_set_irq_line(m, 0, 1), -1);
  CHECK_EQ(machine_set_irq_line(m, 97, 1), -1);
  machine_close(m);
  lemu_rt_free(rt);
}

TEST(machine_new_names_a_bad_image) {
  const char *err0;
  lemu_rt *rt = lemu_rt_new(&err0);
  machine_config cfg = {.kernel = "/nonexistent/kernel"};
  char err[512] = "";
  CHECK(machine_new(rt, &cfg, NULL, err, sizeof err) == NULL);
  CHECK(strstr(err, "-kernel /nonexistent/kernel: No such file or directory") != NULL);
  CHECK_EQ(rt_obj_count(rt), 0);
  lemu_rt_free(rt);
}
