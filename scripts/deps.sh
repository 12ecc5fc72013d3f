#!/bin/sh
# deps.sh: installs the Debian 12 packages lemu needs that are missing. Quiet when all are there.
PKGS="build-essential pkg-config lua5.4 liblua5.4-dev libuv1-dev libslirp-dev lua-busted
libfdt-dev zlib1g-dev libvdeplug-dev libedit-dev tmux iproute2 tshark python3
libmnl-dev vde2 qemu-system-misc gcc-riscv64-unknown-elf device-tree-compiler opensbi graphviz
clang libclang-rt-14-dev"
# Wanted by specs only, which are pending without them: a failure to install these is a warning,
# tried once (until `make deps` or `make clean`), not an error. u-boot-qemu: spec/guest_uboot_spec.lua.
OPTIONAL="u-boot-qemu"
STAMP=build/.deps-optional-failed
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
optional=""
if [ ! -f "$STAMP" ]; then
  for p in $OPTIONAL; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || optional="$optional $p"
  done
fi
[ -z "$missing$optional" ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
install() { DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null; }
echo "deps: installing$missing$optional"
if ! $SUDO apt-get update -qq || ! install $missing $optional; then
  if [ -n "$missing" ]; then
    # without the optional ones, the required ones may still install
    [ -n "$optional" ] && install $missing || exit 1
  fi
  if [ -n "$optional" ]; then
    echo "deps: warning: could not install$optional; the specs that need them are pending" >&2
    mkdir -p build && : > "$STAMP"
  fi
fi
exit 0
