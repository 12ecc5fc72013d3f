/* lib: the small runtime of lemu's bare-metal ISA tests: reporting through sifive_test (0x100000:
 * 0x5555 pass, code<<16|0x3333 fail), a console on the NS16550A data register at 0x10000000,
 * and trap bookkeeping. CHECK(id, cond) fails the test with check number id. */
#ifndef ISA_LIB_H
#define ISA_LIB_H

typedef unsigned long u64;
typedef long i64;
typedef unsigned int u32;
typedef int i32;

#define FINISHER ((volatile u32 *)0x100000)
#define UART ((volatile unsigned char *)0x10000000)

void exit(int code) __attribute__((noreturn));
void puts_(const char *s);
void puthex(u64 v);
void fail(int id, const char *what) __attribute__((noreturn));
#define CHECK(id, cond) do { if (!(cond)) fail(id, #cond); } while (0)

#define csr_read(csr) ({ u64 v_; __asm__ volatile("csrr %0, " #csr : "=r"(v_)); v_; })
#define csr_write(csr, v) __asm__ volatile("csrw " #csr ", %0" :: "r"((u64)(v)))
#define csr_set(csr, v) __asm__ volatile("csrs " #csr ", %0" :: "r"((u64)(v)))
#define csr_clear(csr, v) __asm__ volatile("csrc " #csr ", %0" :: "r"((u64)(v)))

/* Trap records: the default handlers count the trap, remember cause/epc/tval, and skip the
 * trapping instruction (exceptions) — tests then check what was recorded. A test can install
 * its own handler instead. */
struct trap { volatile u64 count, cause, epc, tval, priv; };
extern struct trap mt, st;
extern u64 (*mtrap_hook)(u64 *regs, u64 cause);   /* return 1 if handled */
extern u64 (*strap_hook)(u64 *regs, u64 cause);
void mtrap_entry(void);
void strap_entry(void);
/* Enters mode (0 U, 1 S) at fn with interrupts as they are; fn must end with ecall. Returns
 * after the ecall reaches M-mode. */
void run_in_mode(int mode, void (*fn)(void));
int insn_len(u64 epc);

#endif
