/* smb: the private smbd directory and configuration for a user net's `smb=` share, as QEMU writes
 * them (interfaces=127.0.0.1, guest access mapped to the current user). */
#define _GNU_SOURCE   /* nftw */
#include "smb.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st; (void)flag; (void)ftw;
  return remove(path);
}

void smb_rmtree(const char *dir) {
  if (dir && dir[0]) nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *find_smbd(char *buf, size_t cap) {
  const char *dirs[] = {"/usr/sbin", "/usr/local/sbin", "/sbin", "/usr/bin", NULL};
  for (int i = 0; dirs[i]; i++) {
    snprintf(buf, cap, "%s/smbd", dirs[i]);
    if (access(buf, X_OK) == 0) return buf;
  }
  return NULL;
}

int smb_prepare(const char *share, const char *smbd, char *tmpdir, size_t tmpcap, char *cmd, size_t cmdcap,
                char *err, size_t errlen) {
  char found[PATH_MAX], real[PATH_MAX], conf[PATH_MAX];
  struct stat st;
  tmpdir[0] = 0;
  if (stat(share, &st) != 0 || !S_ISDIR(st.st_mode)) {
    snprintf(err, errlen, "'%s' is not a directory", share);
    return -1;
  }
  if (smbd && access(smbd, X_OK) != 0) {
    snprintf(err, errlen, "smbd '%s' is not an executable file", smbd);
    return -1;
  }
  if (!smbd && !(smbd = find_smbd(found, sizeof found))) {
    snprintf(err, errlen, "smbd was not found (install Debian's samba package, or set lemu.smbd)");
    return -1;
  }
  if (!realpath(share, real)) {
    snprintf(err, errlen, "'%s': %s", share, strerror(errno));
    return -1;
  }
  if (strpbrk(real, "\n\r")) {
    snprintf(err, errlen, "'%s' has a line break in its path, which smb.conf cannot hold", share);
    return -1;
  }
  /* smbd maps guests to this user ("force user"); as QEMU, no name is an error, not root. */
  struct passwd *pw = getpwuid(geteuid());
  if (!pw) {
    snprintf(err, errlen, "uid %u has no user name, which smbd's 'force user' needs", (unsigned)geteuid());
    return -1;
  }
  snprintf(tmpdir, tmpcap, "/tmp/lemu-smb.XXXXXX");
  if (!mkdtemp(tmpdir)) {
    snprintf(err, errlen, "cannot create a private directory: %s", strerror(errno));
    tmpdir[0] = 0;
    return -1;
  }
  snprintf(conf, sizeof conf, "%s/smb.conf", tmpdir);
  FILE *f = fopen(conf, "w");
  if (!f) {
    snprintf(err, errlen, "cannot write %s: %s", conf, strerror(errno));
    smb_rmtree(tmpdir);
    tmpdir[0] = 0;
    return -1;
  }
  const char *d = tmpdir;
  fprintf(f,
          "[global]\n"
          "private dir=%s\ninterfaces=127.0.0.1\nbind interfaces only=yes\npid directory=%s\n"
          "lock directory=%s\nstate directory=%s\ncache directory=%s\nncalrpc dir=%s/ncalrpc\n"
          "log file=%s/log.smbd\nsmb passwd file=%s/smbpasswd\nsecurity = user\n"
          "map to guest = Bad User\nload printers = no\nprinting = bsd\ndisable spoolss = yes\n"
          "usershare max shares = 0\n"
          "[qemu]\npath=%s\nread only=no\nguest ok=yes\nforce user=%s\n",
          d, d, d, d, d, d, d, d, real, pw->pw_name);
  fclose(f);
  snprintf(cmd, cmdcap, "%s -l %s -s %s", smbd, tmpdir, conf);
  return 0;
}
