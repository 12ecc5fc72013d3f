#!/bin/sh
# build.sh: rebuilds the board's test programs with Debian's gcc-riscv64-unknown-elf. The ELFs are
# committed (small, and the specs then need no cross compiler); run this after changing a source.
set -e
cd "$(dirname "$0")"
CC=riscv64-unknown-elf-gcc
CFLAGS="-march=rv64imac_zicsr -mabi=lp64 -mcmodel=medany -O2 -ffreestanding -nostdlib -nostartfiles -fno-pic -Wl,--no-warn-rwx-segments -Wall -Wextra -Werror"
$CC $CFLAGS -Wl,--defsym=LOAD_ADDR=0x80000000 -T link.ld -o hello.elf crt0.S hello.c
$CC $CFLAGS -Wl,--defsym=LOAD_ADDR=0x80000000 -T link.ld -o fail.elf crt0.S fail.c
$CC $CFLAGS -Wl,--defsym=LOAD_ADDR=0x80000000 -T link.ld -o echo.elf crt0.S echo.c
$CC $CFLAGS -Wl,--defsym=LOAD_ADDR=0x80000000 -T link.ld -o reboot.elf crt0.S reboot.c
$CC $CFLAGS -DHTIF_CODE=0 -Wl,--defsym=LOAD_ADDR=0x80000000 -T link.ld -o htif-pass.elf crt0.S htif.c
$CC $CFLAGS -DHTIF_CODE=3 -Wl,--defsym=LOAD_ADDR=0x80000000 -T link.ld -o htif-fail.elf crt0.S htif.c
$CC $CFLAGS -DANY_HART -Wl,--defsym=LOAD_ADDR=0x80200000 -T link.ld -o payload.elf crt0.S payload.c
riscv64-unknown-elf-objcopy -O binary hello.elf hello.bin
riscv64-unknown-elf-objcopy -O binary payload.elf payload.bin
