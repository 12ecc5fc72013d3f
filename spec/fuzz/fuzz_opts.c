/* fuzz_opts: libFuzzer target for the option parsers, through Lua 5.4 and the lemu module as the
 * host program has them (lua/lemu/cmdline.lua and the layers that add -netdev, -device, -object,
 * -nic, -net, -drive, -global, -M..., hostfwd and guestfwd rules in lua/luser.c). The input is
 * lines "OPTION VALUE" (lines naming no option are skipped); each VALUE also goes through the
 * QemuOpts parser on its own. Lines "hmp COMMAND" run, after the options, through the human
 * monitor (lemu.monitor, as a -monitor peer's lines do) against what the options built. Every bad input must give a Lua error with a message: an error
 * without text, a non-string error, or Lua's own "attempt to ..." / "bad argument" (our code
 * misusing a value) stops the run, as ASan, UBSan and leaks do.
 *
 * The options open sockets, create TAP devices and write files where the input says, so the
 * process first moves into private network and mount namespaces and a chroot: a tmpfs with /usr
 * (read-only), the seed corpus (read-only) and build-fuzz/ (where libFuzzer writes) bound in at
 * their own paths. There the network is a loopback of its own and there is no /dev/net/tun; the
 * build tree beside build-fuzz/ is out of reach. Machines are built with at most 16 MiB of RAM
 * and not started (the machine's own inputs have their own targets). One runtime and one Lua
 * state per input, closed after it; the state's memory comes from fuzz_lua.h's arena.
 * FUZZ_OPTS_SHOW=1 prints what each input got (a replay aid). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <limits.h>
#include <lualib.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_lua.h"

const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1:quarantine_size_mb=16"; }

static char cwd[PATH_MAX];

static void die(const char *what) {
  fprintf(stderr, "fuzz_opts: %s: %s (the option parsers open sockets and files; this target runs "
                  "only inside its own namespaces)\n", what, strerror(errno));
  exit(1);
}

static void mkdirs(const char *path) {
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s", path);
  for (char *s = p + 1; *s; s++)
    if (*s == '/') { *s = 0; mkdir(p, 0755); *s = '/'; }
  mkdir(p, 0755);
}

static void write_file(const char *path, const char *s) {
  int fd = open(path, O_WRONLY);
  if (fd < 0 || write(fd, s, strlen(s)) < 0) die(path);
  close(fd);
}

/* Binds host path `from` at root/from, read-only unless rw. */
static void bind_in(const char *root, const char *from, int rw) {
  char to[PATH_MAX];
  snprintf(to, sizeof to, "%s%s", root, from);
  mkdirs(from);
  mkdirs(to);
  if (mount(from, to, NULL, MS_BIND | MS_REC, NULL) < 0) die(to);
  if (!rw && mount(NULL, to, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0) die(to);
}

static void sandbox(void) {
  if (!getcwd(cwd, sizeof cwd)) die("getcwd");
  uid_t uid = geteuid();
  gid_t gid = getegid();
  if (unshare(CLONE_NEWNS | CLONE_NEWNET | (uid ? CLONE_NEWUSER : 0)) < 0) die("unshare");
  if (uid) {
    char m[64];
    write_file("/proc/self/setgroups", "deny");
    snprintf(m, sizeof m, "0 %u 1", (unsigned)uid);
    write_file("/proc/self/uid_map", m);
    snprintf(m, sizeof m, "0 %u 1", (unsigned)gid);
    write_file("/proc/self/gid_map", m);
  }
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) die("mount --make-rprivate /");
  char root[] = "/tmp/lemu-fuzz-opts-XXXXXX";
  if (!mkdtemp(root)) die("mkdtemp");
  if (mount("tmpfs", root, "tmpfs", 0, "size=64m,mode=755") < 0) die("mount tmpfs");
  char p[PATH_MAX];
  bind_in(root, "/usr", 0);
  bind_in(root, "/proc", 1);                   /* LeakSanitizer reads the process's threads */
  static const char *const links[][2] = {{"lib", "usr/lib"}, {"lib64", "usr/lib64"}, {"bin", "usr/bin"}};
  for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
    snprintf(p, sizeof p, "%s/%s", root, links[i][0]);
    if (symlink(links[i][1], p) < 0) die(p);
  }
  snprintf(p, sizeof p, "%s/tmp", root);
  mkdir(p, 01777);
  snprintf(p, sizeof p, "%s/build-fuzz", cwd);
  bind_in(root, p, 1);
  snprintf(p, sizeof p, "%s/spec/fuzz/corpus", cwd);
  bind_in(root, p, 0);
  if (chroot(root) < 0 || chdir(cwd) < 0) die("chroot");
  rmdir(root);                                 /* the host's mount point; its tmpfs goes with us */
  /* This namespace's loopback, up: host forwards and socket listeners bind there. */
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strcpy(ifr.ifr_name, "lo");
  if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0) die("lo");
  ifr.ifr_flags |= IFF_UP;
  if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) die("lo up");
  close(s);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
  /* Where a finding goes: the default (the current directory) is not writable in the sandbox. */
  int have = 0;
  for (int i = 1; i < *argc; i++) have |= strncmp((*argv)[i], "-artifact_prefix=", 17) == 0;
  if (!have) {
    static char *nargv[256];
    int n = *argc < 254 ? *argc : 254;
    memcpy(nargv, *argv, sizeof(char *) * (size_t)n);
    nargv[n++] = "-artifact_prefix=build-fuzz/crash-opts-";
    nargv[n] = NULL;
    *argc = n;
    *argv = nargv;
  }
  sandbox();
  return 0;
}

/* Files the last input wrote into the working directory (captures, dumps) are removed. */
static void sweep(void) {
  DIR *d = opendir(".");
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d)))
    if (strcmp(e->d_name, "build-fuzz") && strcmp(e->d_name, "spec") && e->d_name[0] != '.')
      unlink(e->d_name);
  closedir(d);
}

/* The Lua side: builds the option list from the input's lines and applies it as lemu's main
 * does; machines are built small and not started. Returns nothing on success; raises on a finding
 * (message prefixed "FINDING"); a parser's own error is caught and checked here. */
static const char driver[] =
  "local input = ...\n"
  "local lemu = require 'lemu'\n"
  "require 'lemu.main'\n"
  "local cmdline = require 'lemu.cmdline'\n"
  "io.stdout = io.tmpfile()\n"
  "local real_machine = lemu.machine\n"
  "lemu.machine = function(t)\n"
  "  local n = tostring(t.ram or ''):match('^(%d+)B$')\n"
  "  if not t.ram or (n and tonumber(n) > 16 << 20) then t.ram = '16M' end\n"
  "  t.start = false\n"
  "  return real_machine(t)\n"
  "end\n"
  FUZZ_LUA_CHECK
  "local list, hmp = {}, {}\n"
  "for line in (input .. '\\n'):gmatch('([^\\n]*)\\n') do\n"
  "  local name, value = line:match('^%-?([%w_-]+) ?(.*)$')\n"
  "  if name == 'hmp' and #hmp < 16 then hmp[#hmp + 1] = value end\n"
  "  if name and cmdline.is_option(name) and #list < 16 then\n"
  "    -- as lemu.main passes them: a string to an option that takes one, else nothing\n"
  "    list[#list + 1] = { name, (cmdline.options[name].arg or value ~= '') and value or nil }\n"
  "    local ok, e = pcall(cmdline.parse_opts, value, 'type')\n"
  "    if not ok then check('parse_opts', e, input) end\n"
  "  end\n"
  "end\n"
  "local ok, e = pcall(cmdline.apply, list)\n"
  "if not ok then check('apply', e, input) end\n"
  "-- The monitor catches every error and prints it: one of Lua's own is lemu code misusing a value.\n"
  "for _, line in ipairs(hmp) do\n"
  "  local out = lemu.monitor(line)\n"
  "  if os.getenv('FUZZ_OPTS_SHOW') then io.stderr:write('fuzz_opts: (qemu) ', line, '\\n', tostring(out)) end\n"
  "  if type(out) ~= 'string' then error('FINDING hmp: printed a ' .. type(out), 0) end\n"
  "  local err = out:match('Error: ([^\\n]*)')\n"
  "  if err then check('hmp ' .. line, err, input) end\n"
  "end\n"
  "if os.getenv('FUZZ_OPTS_SHOW') then io.stderr:write('fuzz_opts: ', ok and 'accepted' or tostring(e), '\\n') end\n";

/* Each input's runtime watches SIGINT and SIGTERM (libuv takes them over while it lives and puts
 * back the default after), so a run told to stop went on, or died without its statistics. The
 * handlers libFuzzer installed are read at the first input and put back after each runtime is
 * made and freed: a stopped run ends as libFuzzer ends it, with its final statistics. */
static struct sigaction fuzzer_sigint, fuzzer_sigterm;

static void fuzzer_signals(int save) {
  if (save) {
    sigaction(SIGINT, NULL, &fuzzer_sigint);
    sigaction(SIGTERM, NULL, &fuzzer_sigterm);
  } else {
    sigaction(SIGINT, &fuzzer_sigint, NULL);
    sigaction(SIGTERM, &fuzzer_sigterm, NULL);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int saved;
  if (!saved) { fuzzer_signals(1); saved = 1; }
  const char *err;
  lemu_rt *rt = lemu_rt_new(&err);
  if (!rt) { fprintf(stderr, "fuzz_opts: %s\n", err); abort(); }
  fuzzer_signals(0);
  lua_State *L = fuzz_lua_state(rt, 1);
  if (luaL_loadbuffer(L, driver, sizeof driver - 1, "=fuzz_opts") != LUA_OK) abort();
  lua_pushlstring(L, (const char *)data, size);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    /* A finding, or the driver's own trouble (the module would not load): as bad. */
    size_t len;
    const char *msg = lua_tolstring(L, -1, &len);
    fputs("fuzz_opts: ", stderr);
    fwrite(msg ? msg : "(an error object)", 1, msg ? len : 17, stderr);   /* NULs and all */
    fputc('\n', stderr);
    abort();
  }
  fuzz_lua_close(L);
  lemu_rt_free(rt);
  fuzzer_signals(0);
  sweep();
  return 0;
}
