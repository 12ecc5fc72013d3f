# lemu build. `make` builds the host program, the Lua module and the static library; `make test`
# runs the whole suite; `make asan` the suite under AddressSanitizer and UBSan, then a short run of
# every fuzz target; `make fuzz` the fuzz targets (FUZZ_S seconds each). Every target that
# needs packages first runs `make deps`, which installs the missing Debian 12 packages.

# Builds run in parallel by default, one job per core; an explicit -j (or -j1) wins.
ifeq ($(filter -j% j%,$(MAKEFLAGS)),)
MAKEFLAGS += -j$(shell nproc 2>/dev/null || echo 2)
endif

BUILD    ?= build
CC       ?= gcc
PREFIX   ?= /usr/local
SANITIZE ?=

# Packages first: the pkg-config look-ups below are made when this file is read, so on a fresh
# machine they must find the -dev packages already installed.
ifeq ($(filter clean deps,$(MAKECMDGOALS)),)
ifneq ($(shell sh scripts/deps.sh >&2; echo $$?),0)
$(error make deps failed: the Debian packages lemu needs could not be installed)
endif
endif

PKGS     := lua5.4 libuv libedit zlib
OPT      ?= -O2 -g
CFLAGS   := $(OPT) -std=gnu11 -Wall -Wextra -Werror -fPIC -fvisibility=hidden -MMD -MP
CFLAGS   += $(SANITIZE) -Icore -Inetstack -Idevices -Iboard -Ilua -I$(BUILD)/gen
CFLAGS   += $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LIBS     := $(shell pkg-config --libs libuv zlib 2>/dev/null) -lslirp -lfdt -lvdeplug -lmnl -lm
LDFLAGS  += $(SANITIZE)

# Every .c under these directories is part of the library: adding a module needs no Makefile edit.
LIBSRC   := $(wildcard core/*.c netstack/*.c devices/*.c board/*.c) \
            $(filter-out lua/main.c lua/repl.c lua/lbench.c lua/luserbench.c,$(wildcard lua/*.c))
LUASRC   := $(sort $(wildcard lua/lemu/*.lua))
# The REPL's `help` reads the docs' own text: README.md and docs/*.md become the module lemu.docs.
DOCSRC   := README.md $(sort $(wildcard docs/*.md))
DOCMOD   := $(BUILD)/gen/lua/lemu/docs.lua
LIBOBJ   := $(LIBSRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/luasrc.o
# The benchmark drivers go into the host program only (make bench runs scripts through it).
HOSTOBJ  := $(BUILD)/obj/lua/main.o $(BUILD)/obj/lua/repl.o $(BUILD)/obj/lua/lbench.o \
            $(BUILD)/obj/lua/luserbench.o
CTESTSRC := $(wildcard spec/c/*.c)

.PHONY: tsan all deps test asan bench install clean run topology fuzz soak FORCE
all: $(BUILD)/lemu $(BUILD)/lemu.so $(BUILD)/liblemu.a $(BUILD)/ctest $(BUILD)/lemu.1

# The man page, from the tables the option parser reads (scripts/manpage.lua).
$(BUILD)/lemu.1: $(BUILD)/lemu scripts/manpage.lua
	ASAN_OPTIONS=detect_leaks=0 $(BUILD)/lemu scripts/manpage.lua $@ </dev/null

deps:
	@rm -f build/.deps-optional-failed
	@sh scripts/deps.sh

$(DOCMOD): $(DOCSRC) scripts/docs.lua
	@mkdir -p $(dir $@)
	lua5.4 scripts/docs.lua $@ $(DOCSRC)

$(BUILD)/gen/luasrc.c: $(LUASRC) $(DOCMOD) scripts/embed.lua
	@mkdir -p $(dir $@)
	lua5.4 scripts/embed.lua $@ $(LUASRC) $(DOCMOD)

$(BUILD)/obj/gen/luasrc.o: $(BUILD)/gen/luasrc.c $(BUILD)/cflags
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# Objects depend on the flags they were built with: a change of CFLAGS (OPT, SANITIZE, a new
# warning or -fvisibility) rebuilds them instead of mixing old and new objects.
$(BUILD)/cflags: FORCE
	@mkdir -p $(BUILD)
	@echo '$(CC) $(CFLAGS)' | cmp -s - $@ || echo '$(CC) $(CFLAGS)' > $@

$(BUILD)/obj/%.o: %.c $(BUILD)/cflags
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/liblemu.a: $(LIBOBJ)
	@rm -f $@
	ar rcs $@ $^

# The module leaves Lua's symbols to the interpreter that loads it.
$(BUILD)/lemu.so: $(LIBOBJ)
	$(CC) -shared $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/lemu: $(HOSTOBJ) $(BUILD)/liblemu.a
	$(CC) $(LDFLAGS) -Wl,-E -o $@ $(HOSTOBJ) $(BUILD)/liblemu.a \
	  $(shell pkg-config --libs lua5.4 libedit) $(LIBS) -lm

$(BUILD)/ctest: $(CTESTSRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/liblemu.a
	$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(BUILD)/liblemu.a \
	  $(shell pkg-config --libs lua5.4) $(LIBS) -lm

test: all
	@sh scripts/test.sh $(BUILD)

asan:
	@$(MAKE) --no-print-directory BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer" \
	  SANITIZE="-fsanitize=address,undefined -fno-sanitize-recover=undefined" test
	@echo "short fuzz runs of every target (make fuzz FUZZ_S=... for long ones):"
	@$(MAKE) --no-print-directory fuzz FUZZ_S=3

# ThreadSanitizer: the suite with machines on worker threads (LEMU_WORKERS=2 puts the real clock's
# slices on them too) checked for races.
tsan:
	@LEMU_WORKERS=2 $(MAKE) --no-print-directory BUILD=build-tsan OPT="-O1 -g -fno-omit-frame-pointer" \
	  SANITIZE="-fsanitize=thread" test

bench: all
	@sh scripts/bench.sh $(BUILD)

run: all
	$(BUILD)/lemu scripts/default.lua

# Eight guests under steady traffic for SOAK_MIN minutes (default 60), RSS and descriptors sampled
# every minute; fails if either grows after warm-up (scripts/soak.lua). Not part of make test.
soak: all
	$(BUILD)/lemu scripts/soak.lua </dev/null

# Coverage-guided fuzzing with libFuzzer (clang): each target in spec/fuzz/ runs for FUZZ_S seconds
# (default 10; FUZZ_RUNS= also stops it at that many executions) from its committed corpus, under
# ASan and UBSan; the report gives executions and coverage per target. A finding stops the run with
# the input that caused it (see docs).
FUZZ_S     ?= 10
FUZZ_B     := build-fuzz
FUZZ_CC    ?= clang
FUZZ_SAN   := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_COVIGN := spec/fuzz/coverage.ignore
FUZZ_CFL   := -O1 -g -fno-omit-frame-pointer -std=gnu11 -Wall -Wextra -Werror -MMD -MP $(FUZZ_SAN) \
              -Wno-unknown-attributes -Wno-unknown-warning-option \
              -Icore -Inetstack -Idevices -Iboard $(shell pkg-config --cflags libuv zlib 2>/dev/null) \
              -fsanitize-coverage-ignorelist=$(FUZZ_COVIGN)
FUZZ_OBJ   := $(patsubst %.c,$(FUZZ_B)/obj/%.o,$(wildcard core/*.c netstack/*.c devices/*.c board/*.c))
FUZZERS    := e1000 rtl8139 ne2k_pci virtio_net_pci virtio_mmio dns loader dtb sock opts rules
FUZZ_DEF_e1000 := -DFUZZ_MODEL=e1000_model
FUZZ_DEF_rtl8139 := -DFUZZ_MODEL=rtl8139_model
FUZZ_DEF_ne2k_pci := -DFUZZ_MODEL=ne2k_pci_model
FUZZ_DEF_virtio_net_pci := -DFUZZ_VIRTIO
FUZZ_SRC_e1000 := spec/fuzz/fuzz_pci.c
FUZZ_SRC_rtl8139 := spec/fuzz/fuzz_pci.c
FUZZ_SRC_ne2k_pci := spec/fuzz/fuzz_pci.c
FUZZ_SRC_virtio_net_pci := spec/fuzz/fuzz_pci.c
FUZZ_SRC_dns := spec/fuzz/fuzz_dns.c
FUZZ_SRC_loader := spec/fuzz/fuzz_loader.c
FUZZ_SRC_sock := spec/fuzz/fuzz_sock.c
FUZZ_SRC_virtio_mmio := spec/fuzz/fuzz_virtio_mmio.c
FUZZ_SRC_opts := spec/fuzz/fuzz_opts.c
FUZZ_SRC_dtb := spec/fuzz/fuzz_dtb.c

# The option parsers' target embeds Lua and the whole module: lua/*.c and the Lua sources.
FUZZ_LUAOBJ := $(patsubst %.c,$(FUZZ_B)/obj/%.o,$(filter-out lua/main.c lua/repl.c lua/lbench.c \
                 lua/luserbench.c,$(wildcard lua/*.c))) $(FUZZ_B)/obj/gen/luasrc.o
FUZZ_LUACFL := -Ilua $(shell pkg-config --cflags lua5.4 2>/dev/null)
FUZZ_OBJS_opts := $(FUZZ_LUAOBJ) $(FUZZ_B)/obj/spec/fuzz/fdt_strtab.o $(FUZZ_B)/libfdt-opts.a
FUZZ_LDLIBS_opts := $(shell pkg-config --libs lua5.4 2>/dev/null)
FUZZ_DEF_opts := $(FUZZ_LUACFL)
FUZZ_SRC_rules := spec/fuzz/fuzz_rules.c
FUZZ_OBJS_rules := $(FUZZ_LUAOBJ)
FUZZ_LDLIBS_rules := $(FUZZ_LDLIBS_opts)
FUZZ_DEF_rules := $(FUZZ_LUACFL)

$(FUZZ_B)/gen/luasrc.c: $(LUASRC) scripts/embed.lua
	@mkdir -p $(dir $@)
	@lua5.4 scripts/embed.lua -b $@ $(LUASRC)
$(FUZZ_B)/obj/gen/luasrc.o: $(FUZZ_B)/gen/luasrc.c
	@mkdir -p $(dir $@)
	@$(FUZZ_CC) $(FUZZ_CFL) $(FUZZ_LUACFL) -fsanitize=fuzzer-no-link -c -o $@ $<
$(FUZZ_B)/obj/lua/%.o: lua/%.c $(FUZZ_COVIGN)
	@mkdir -p $(dir $@)
	@$(FUZZ_CC) $(FUZZ_CFL) $(FUZZ_LUACFL) -fsanitize=fuzzer-no-link -c -o $@ $<

.SECONDARY: $(FUZZ_OBJ) $(FUZZ_LUAOBJ) $(FUZZ_B)/obj/spec/fuzz/fdt_strtab.o $(FUZZERS:%=$(FUZZ_B)/obj/fuzzer_%.o)
$(FUZZ_B)/obj/%.o: %.c $(FUZZ_COVIGN)
	@mkdir -p $(dir $@)
	@$(FUZZ_CC) $(FUZZ_CFL) -fsanitize=fuzzer-no-link -c -o $@ $<

# Each target's own object (spec/fuzz/fuzz_pci.c is built once per model, with its define).
.SECONDEXPANSION:
$(FUZZ_B)/obj/fuzzer_%.o: $$(FUZZ_SRC_$$*) $(FUZZ_COVIGN)
	@mkdir -p $(dir $@)
	@$(FUZZ_CC) $(FUZZ_CFL) -fsanitize=fuzzer-no-link $(FUZZ_DEF_$*) -c -o $@ $<

$(FUZZ_B)/fuzz_%: $(FUZZ_B)/obj/fuzzer_%.o $(FUZZ_OBJ) $$(FUZZ_OBJS_$$*)
	@$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(FUZZ_LDLIBS_$*) $(LIBS) -lm

# opts' libfdt: Debian's libfdt.a with fdt.o's one memcmp (the strings-table search) renamed to
# spec/fuzz/fdt_strtab.c's, outside the sanitizers' interceptors (that file says why).
FUZZ_FDT_A := $(shell $(FUZZ_CC) -print-file-name=libfdt.a 2>/dev/null)
$(FUZZ_B)/libfdt-opts.a: $(FUZZ_FDT_A)
	@rm -rf $(FUZZ_B)/fdt && mkdir -p $(FUZZ_B)/fdt
	@cd $(FUZZ_B)/fdt && ar x $(FUZZ_FDT_A) fdt.o && objcopy --redefine-sym memcmp=fuzz_fdt_memcmp fdt.o
	@cp $(FUZZ_FDT_A) $@.tmp && ar r $@.tmp $(FUZZ_B)/fdt/fdt.o && mv $@.tmp $@

fuzz: $(FUZZERS:%=$(FUZZ_B)/fuzz_%)
	@sh scripts/fuzz.sh $(FUZZ_B) $(FUZZ_S) $(FUZZERS)

# docs/lab.svg: the picture of the README's example lab (scripts/lab.lua), drawn by Graphviz.
topology: all
	$(BUILD)/lemu -e 'LAB_DRAW = "docs/lab.svg"' scripts/lab.lua </dev/null

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include \
	  $(DESTDIR)$(PREFIX)/lib/lua/5.4 $(DESTDIR)$(PREFIX)/share/lemu/lua \
	  $(DESTDIR)$(PREFIX)/share/doc/lemu $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(BUILD)/lemu $(DESTDIR)$(PREFIX)/bin/lemu
	install -m 644 $(BUILD)/lemu.1 $(DESTDIR)$(PREFIX)/share/man/man1/lemu.1
	install -m 755 $(BUILD)/lemu.so $(DESTDIR)$(PREFIX)/lib/lua/5.4/lemu.so
	install -m 644 $(BUILD)/liblemu.a $(DESTDIR)$(PREFIX)/lib/liblemu.a
	install -m 644 core/lemu.h $(DESTDIR)$(PREFIX)/include/lemu.h
	# The Lua half is built into lemu.so and lemu; the sources go beside the docs for reading, not
	# on package.path, where they would shadow the module.
	install -m 644 $(LUASRC) $(DESTDIR)$(PREFIX)/share/lemu/lua/
	install -m 644 README.md docs/*.md $(DESTDIR)$(PREFIX)/share/doc/lemu/

clean:
	rm -rf build build-asan $(FUZZ_B)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
# The fuzz objects follow their headers too (a struct that grows must rebuild every user of it).
-include $(shell find $(FUZZ_B)/obj -name '*.d' 2>/dev/null)
