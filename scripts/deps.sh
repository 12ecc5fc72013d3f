#!/bin/sh
# deps.sh: installs the Debian 12 packages lemu needs that are missing. Quiet when all are there.
PKGS="build-essential pkg-config lua5.4 liblua5.4-dev libuv1-dev libslirp-dev lua-busted
libfdt-dev zlib1g-dev libvdeplug-dev libedit-dev tmux iproute2 tshark python3
libmnl-dev vde2 qemu-system-misc gcc-riscv64-unknown-elf device-tree-compiler opensbi"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
$SUDO apt-get update -qq || exit 1
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null || exit 1
