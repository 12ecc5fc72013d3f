#!/bin/sh
# guest/deps.sh: installs the Debian 12 packages that building the guest images needs (only
# `make -C guest` uses them: lemu's own build and CI use the committed images and never build a
# kernel), and a deb-src line for bookworm so that `apt-get source busybox` works. Quiet when all
# is there.
PKGS="make linux-source-6.1 gcc-riscv64-linux-gnu libc6-dev-riscv64-cross flex bison bc cpio gzip xz-utils dpkg-dev"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
update=""
if ! grep -rqs '^\(Types: deb-src\|deb-src \)' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  echo "guest deps: adding /etc/apt/sources.list.d/lemu-guest-src.sources (deb-src for bookworm)"
  printf '%s\n' 'Types: deb-src' 'URIs: http://deb.debian.org/debian' \
    'Suites: bookworm bookworm-updates' 'Components: main' \
    'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' |
    $SUDO tee /etc/apt/sources.list.d/lemu-guest-src.sources >/dev/null || exit 1
  update=1
fi
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing$update" ] && exit 0
$SUDO apt-get update -qq || exit 1
[ -z "$missing" ] && exit 0
echo "guest deps: installing$missing"
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null || exit 1
