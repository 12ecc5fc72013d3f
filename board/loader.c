/* loader: ELF64 and raw image loading through the bus. Files go through zlib's gzread, which
 * passes uncompressed files through unchanged, so a gzip-compressed kernel needs no flag. */
#include "loader.h"

#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#ifndef EM_RISCV
#define EM_RISCV 243
#endif

uint8_t *loader_read(const char *path, size_t *len, char *err, size_t errlen) {
  errno = 0;
  gzFile f = gzopen(path, "rb");
  if (!f) {
    snprintf(err, errlen, "%s: %s", path, errno ? strerror(errno) : "cannot open");
    return NULL;
  }
  /* Room for the file as it is on disk: an uncompressed image is read in one go, a gzip one
   * grows by doubling. (Starting at 1 MiB made every small -dtb or initrd cost a 1 MiB block.) */
  struct stat st;
  size_t cap = stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 ? (size_t)st.st_size + 1 : 4096, n = 0;
  if (cap < 4096) cap = 4096;
  if (cap > (size_t)1 << 34) cap = (size_t)1 << 34;
  uint8_t *buf = malloc(cap);
  for (;;) {
    if (!buf) { gzclose(f); snprintf(err, errlen, "%s: out of memory", path); return NULL; }
    if (n == cap) {
      if (cap >= (size_t)1 << 34) {
        free(buf); gzclose(f);
        snprintf(err, errlen, "%s: image larger than 16 GiB", path);
        return NULL;
      }
      uint8_t *nb = realloc(buf, cap * 2);
      if (!nb) { free(buf); buf = NULL; continue; }
      buf = nb;
      cap *= 2;
    }
    unsigned want = (unsigned)((cap - n) > (1u << 30) ? (1u << 30) : (cap - n));
    int r = gzread(f, buf + n, want);
    if (r < 0) {
      int e;
      const char *msg = gzerror(f, &e);
      snprintf(err, errlen, "%s: %s", path, e == Z_ERRNO ? strerror(errno) : msg);
      free(buf); gzclose(f);
      return NULL;
    }
    if (r == 0) break;
    n += (size_t)r;
  }
  /* A truncated gzip stream reads as a short file; gzclose reports it. */
  int e = gzclose(f);
  if (e == Z_BUF_ERROR) {
    snprintf(err, errlen, "%s: truncated gzip data", path);
    free(buf);
    return NULL;
  }
  *len = n;
  return buf;
}

static const char *machine_name(unsigned m) {
  switch (m) {
  case EM_386: return "x86 (i386)";
  case EM_X86_64: return "x86-64";
  case EM_ARM: return "ARM";
  case EM_AARCH64: return "AArch64";
  case EM_MIPS: return "MIPS";
  case EM_PPC: return "PowerPC";
  case EM_PPC64: return "PowerPC 64";
  case EM_S390: return "s390";
  case EM_RISCV: return "RISC-V";
  }
  return NULL;
}

static int fits(uint64_t addr, uint64_t len, uint64_t ram_base, uint64_t ram_size) {
  return addr >= ram_base && len <= ram_size && addr - ram_base <= ram_size - len;
}

static int place(bus *b, const char *path, const char *what, uint64_t addr, const void *src,
                 uint64_t filesz, uint64_t memsz, uint64_t ram_base, uint64_t ram_size, char *err,
                 size_t errlen) {
  if (!fits(addr, memsz, ram_base, ram_size) && bus_ram_ptr(b, addr, memsz) == NULL) {
    snprintf(err, errlen,
             "%s: %s at 0x%llx..0x%llx does not fit in RAM (0x%llx..0x%llx); raise -m or check "
             "the link address", path, what, (unsigned long long)addr,
             (unsigned long long)(addr + memsz), (unsigned long long)ram_base,
             (unsigned long long)(ram_base + ram_size));
    return -1;
  }
  uint8_t *p = bus_ram_ptr(b, addr, memsz);
  if (!p) {
    snprintf(err, errlen, "%s: %s at 0x%llx spans memory regions", path, what,
             (unsigned long long)addr);
    return -1;
  }
  memset(p + filesz, 0, memsz - filesz);
  bus_ram_write(b, addr, src, filesz);  /* through the bus, so decoded-code caches hear of it */
  return 0;
}

static int load_elf(bus *b, const char *path, const uint8_t *d, size_t len, uint64_t ram_base,
                    uint64_t ram_size, loader_image *img, char *err, size_t errlen) {
  if (len < EI_NIDENT || d[EI_CLASS] != ELFCLASS64) {
    snprintf(err, errlen, "%s: a 32-bit or malformed ELF, not an ELF64 for RISC-V 64", path);
    return -1;
  }
  if (len < sizeof(Elf64_Ehdr)) {
    snprintf(err, errlen, "%s: truncated ELF header (%zu bytes)", path, len);
    return -1;
  }
  Elf64_Ehdr eh;
  memcpy(&eh, d, sizeof eh);
  if (d[EI_DATA] != ELFDATA2LSB) {
    snprintf(err, errlen, "%s: a big-endian ELF, not RISC-V", path);
    return -1;
  }
  if (eh.e_machine != EM_RISCV) {
    const char *n = machine_name(eh.e_machine);
    if (n) snprintf(err, errlen, "%s: an ELF for %s, not RISC-V", path, n);
    else snprintf(err, errlen, "%s: an ELF for machine %u, not RISC-V", path, eh.e_machine);
    return -1;
  }
  if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN) {
    snprintf(err, errlen, "%s: not an executable ELF (type %u)", path, eh.e_type);
    return -1;
  }
  if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phoff > len ||
      (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > len - eh.e_phoff) {
    snprintf(err, errlen, "%s: truncated ELF (program headers past the end of the file)", path);
    return -1;
  }
  img->low = UINT64_MAX;
  img->high = 0;
  int loaded = 0;
  for (int i = 0; i < eh.e_phnum; i++) {
    Elf64_Phdr ph;
    memcpy(&ph, d + eh.e_phoff + (size_t)i * sizeof ph, sizeof ph);
    if (ph.p_type != PT_LOAD || ph.p_memsz == 0) continue;
    if (ph.p_filesz > ph.p_memsz || ph.p_offset > len || ph.p_filesz > len - ph.p_offset) {
      snprintf(err, errlen, "%s: truncated ELF (segment %d extends past the end of the file)",
               path, i);
      return -1;
    }
    char what[32];
    snprintf(what, sizeof what, "segment %d", i);
    if (place(b, path, what, ph.p_paddr, d + ph.p_offset, ph.p_filesz, ph.p_memsz, ram_base,
              ram_size, err, errlen) < 0)
      return -1;
    if (ph.p_paddr < img->low) img->low = ph.p_paddr;
    if (ph.p_paddr + ph.p_memsz > img->high) img->high = ph.p_paddr + ph.p_memsz;
    loaded++;
  }
  if (!loaded) {
    snprintf(err, errlen, "%s: the ELF has nothing to load", path);
    return -1;
  }
  img->entry = eh.e_entry;
  img->is_elf = 1;
  /* HTIF's tohost/fromhost, found through the symbol table if there is one. */
  img->tohost = img->fromhost = 0;
  if (eh.e_shentsize == sizeof(Elf64_Shdr) && eh.e_shoff <= len &&
      (uint64_t)eh.e_shnum * sizeof(Elf64_Shdr) <= len - eh.e_shoff) {
    for (int i = 0; i < eh.e_shnum; i++) {
      Elf64_Shdr sh, str;
      memcpy(&sh, d + eh.e_shoff + (size_t)i * sizeof sh, sizeof sh);
      if (sh.sh_type != SHT_SYMTAB || sh.sh_link >= eh.e_shnum) continue;
      memcpy(&str, d + eh.e_shoff + (size_t)sh.sh_link * sizeof str, sizeof str);
      if (sh.sh_offset > len || sh.sh_size > len - sh.sh_offset || str.sh_offset > len ||
          str.sh_size > len - str.sh_offset)
        continue;
      for (uint64_t o = 0; o + sizeof(Elf64_Sym) <= sh.sh_size; o += sizeof(Elf64_Sym)) {
        Elf64_Sym s;
        memcpy(&s, d + sh.sh_offset + o, sizeof s);
        if (s.st_name >= str.sh_size) continue;
        const char *name = (const char *)d + str.sh_offset + s.st_name;
        size_t max = str.sh_size - s.st_name;
        if (strnlen(name, max) == max) continue;
        if (strcmp(name, "tohost") == 0) img->tohost = s.st_value;
        else if (strcmp(name, "fromhost") == 0) img->fromhost = s.st_value;
      }
    }
  }
  return 0;
}

/* The RISC-V Linux Image header: magic2 "RSC\x05" at offset 56, image_size at 16. */
static int image_size(const uint8_t *d, size_t len, uint64_t *size) {
  if (len < 64 || memcmp(d + 56, "RSC\x05", 4) != 0) return 0;
  memcpy(size, d + 16, 8);
  return 1;
}

int loader_load(bus *b, const char *path, uint64_t raw_addr, uint64_t ram_base, uint64_t ram_size,
                loader_image *img, char *err, size_t errlen) {
  size_t len;
  uint8_t *d = loader_read(path, &len, err, errlen);
  if (!d) return -1;
  memset(img, 0, sizeof *img);
  int r;
  if (len == 0) {
    snprintf(err, errlen, "%s: empty file", path);
    r = -1;
  } else if (len >= 4 && memcmp(d, ELFMAG, SELFMAG) == 0) {
    r = load_elf(b, path, d, len, ram_base, ram_size, img, err, errlen);
  } else {
    uint64_t need = len, isz;
    if (image_size(d, len, &isz) && isz > need) need = isz;
    r = place(b, path, "the image", raw_addr, d, len, need, ram_base, ram_size, err, errlen);
    img->entry = img->low = raw_addr;
    img->high = raw_addr + need;
  }
  free(d);
  return r;
}

int loader_load_raw(bus *b, const char *path, uint64_t addr, uint64_t ram_base, uint64_t ram_size,
                    uint64_t *outlen, char *err, size_t errlen) {
  size_t len;
  uint8_t *d = loader_read(path, &len, err, errlen);
  if (!d) return -1;
  int r = place(b, path, "the initrd", addr, d, len, len, ram_base, ram_size, err, errlen);
  free(d);
  *outlen = len;
  return r;
}
