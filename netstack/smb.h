/* smb: what QEMU's `smb=` needs from the host — a private directory with a generated smb.conf that
 * shares one directory as [qemu] through the system's smbd, and the command slirp runs per guest
 * connection. Knows nothing of slirp or Lua. */
#ifndef LEMU_SMB_H
#define LEMU_SMB_H

#include <stddef.h>

/* Prepares the share of directory `share` run by `smbd` (NULL: look for the system's). Fills
 * tmpdir (the private directory, for smb_rmtree) and cmd (the smbd command line). Returns 0, or -1
 * with a message in err (and nothing left behind). */
int smb_prepare(const char *share, const char *smbd, char *tmpdir, size_t tmpcap, char *cmd, size_t cmdcap,
                char *err, size_t errlen);
/* Removes dir and everything in it (smbd's logs and state too). */
void smb_rmtree(const char *dir);

#endif
