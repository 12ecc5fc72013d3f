/* cpu_harness: see cpu_harness.h. */
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_harness.h"

static uint64_t fin_read(void *dev, uint64_t off, int size) { (void)dev; (void)off; (void)size; return 0; }
static void fin_write(void *dev, uint64_t off, uint64_t val, int size) {
  tmach *m = dev;
  (void)size;
  if (off != 0) return;
  uint32_t v = (uint32_t)val;
  if ((v & 0xffff) == 0x5555 || (v & 0xffff) == 0x3333 || (v & 0xffff) == 0x7777) {
    m->finish = v;
    m->finished = 1;
    cpu_halt(m->c);
  }
}
static const bus_dev_ops fin_ops = {fin_read, fin_write};

static uint64_t uart_read(void *dev, uint64_t off, int size) {
  (void)dev; (void)size;
  return off == 5 ? 0x60 : 0;    /* LSR: transmitter empty */
}
static void uart_write(void *dev, uint64_t off, uint64_t val, int size) {
  tmach *m = dev;
  (void)size;
  if (off == 0 && m->outn < (int)sizeof(m->out) - 1) m->out[m->outn++] = (char)val;
}
static const bus_dev_ops uart_ops = {uart_read, uart_write};

static void clint_update(tmach *m) {
  cpu_set_irq(m->c, CPU_IRQ_MTIP, m->time >= m->mtimecmp);
  cpu_set_irq(m->c, CPU_IRQ_MSIP, m->msip & 1);
}
static uint64_t clint_read(void *dev, uint64_t off, int size) {
  tmach *m = dev;
  uint64_t v = 0;
  if (off == 0) v = m->msip;
  else if (off >= 0x4000 && off < 0x4008) v = m->mtimecmp >> (8 * (off - 0x4000));
  else if (off >= 0xbff8 && off < 0xc000) v = m->time >> (8 * (off - 0xbff8));
  (void)size;
  return v;
}
static void clint_write(void *dev, uint64_t off, uint64_t val, int size) {
  tmach *m = dev;
  if (off == 0) m->msip = val & 1;
  else if (off == 0x4000 && size == 8) m->mtimecmp = val;
  else if (off == 0x4000) m->mtimecmp = (m->mtimecmp & ~0xffffffffull) | (uint32_t)val;
  else if (off == 0x4004) m->mtimecmp = (m->mtimecmp & 0xffffffffull) | val << 32;
  clint_update(m);
}
static const bus_dev_ops clint_ops = {clint_read, clint_write};

static uint64_t tm_time(void *ud) { return ((tmach *)ud)->time; }

int tm_accel = CPU_ACCEL_INTERP;

tmach *tm_new(uint64_t ramsize) {
  tmach *m = calloc(1, sizeof(*m));
  m->b = bus_new();
  m->ramsize = ramsize;
  m->ram = bus_add_ram(m->b, 0x80000000, ramsize, "ram");
  bus_add_mmio(m->b, 0x100000, 0x1000, &fin_ops, m, "test");
  bus_add_mmio(m->b, 0x10000000, 0x100, &uart_ops, m, "uart");
  bus_add_mmio(m->b, 0x2000000, 0x10000, &clint_ops, m, "clint");
  cpu_hooks h = {.ud = m, .time = tm_time};
  m->c = cpu_new(m->b, 0, &h);
  if (cpu_set_accel(m->c, tm_accel) < 0) abort();   /* tests check cpu_accel_available first */
  m->mtimecmp = ~0ull;
  return m;
}

void tm_free(tmach *m) {
  cpu_free(m->c);
  bus_free(m->b);
  free(m);
}

int tm_load_elf(tmach *m, const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *buf = malloc(n);
  int ok = fread(buf, 1, n, f) == (size_t)n;
  fclose(f);
  Elf64_Ehdr *eh = (Elf64_Ehdr *)buf;
  if (!ok || n < (long)sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, 4) || eh->e_machine != EM_RISCV) {
    free(buf);
    return -1;
  }
  for (int i = 0; i < eh->e_phnum; i++) {
    Elf64_Phdr *ph = (Elf64_Phdr *)(buf + eh->e_phoff + i * eh->e_phentsize);
    if (ph->p_type != PT_LOAD || ph->p_filesz == 0) continue;
    if (bus_ram_write(m->b, ph->p_paddr, buf + ph->p_offset, ph->p_filesz) < 0) {
      free(buf);
      return -1;
    }
  }
  m->entry = eh->e_entry;
  cpu_reset(m->c, m->entry);
  free(buf);
  return 0;
}

uint32_t tm_run(tmach *m, uint64_t max) {
  while (!m->finished && m->executed < max) {
    uint64_t n = 0;
    enum cpu_stop r = cpu_run(m->c, 10000, &n);
    m->executed += n;
    m->time += n / 16;
    if (r == CPU_WFI) {
      /* Parked: jump time to the next timer event, as the machine's loop would sleep. */
      if (m->mtimecmp != ~0ull && m->mtimecmp > m->time) m->time = m->mtimecmp;
      else if (!(m->time >= m->mtimecmp) && !m->msip) return 1;
      m->executed += 1000;
    }
    clint_update(m);
  }
  return m->finished ? m->finish : 0;
}

uint32_t tm_run_isa(const char *name, uint64_t max) {
  char path[256];
  snprintf(path, sizeof path, "guest/isa/bin/%s.elf", name);
  tmach *m = tm_new(64 << 20);
  if (tm_load_elf(m, path) < 0) {
    printf("# cannot load %s\n", path);
    tm_free(m);
    return 0;
  }
  uint32_t r = tm_run(m, max);
  if (r != 0x5555) {
    m->out[m->outn] = 0;
    printf("# %s: console: %s\n", name, m->out);
    if (r == 0) printf("# %s: did not finish after %llu instructions (pc %llx)\n", name,
                       (unsigned long long)m->executed, (unsigned long long)cpu_get_pc(m->c));
    else if (r == 1) printf("# %s: parked in WFI with nothing to wake it\n", name);
    else printf("# %s: check %u failed (finisher 0x%x)\n", name, r >> 16, r);
    uint64_t mc = 0, me = 0, mtv = 0;
    cpu_get_csr(m->c, 0x342, &mc);
    cpu_get_csr(m->c, 0x341, &me);
    cpu_get_csr(m->c, 0x343, &mtv);
    printf("# %s: last M trap: mcause %llx mepc %llx mtval %llx\n", name, (unsigned long long)mc,
           (unsigned long long)me, (unsigned long long)mtv);
  }
  tm_free(m);
  return r;
}
