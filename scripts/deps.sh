#!/bin/sh
# deps.sh: installs the Debian 12 packages lemu needs that are missing. Quiet when all are there;
# otherwise it names them and shows apt's progress. Without root or sudo it says how to proceed and
# fails. LEMU_DEPS_EXTRA adds package names to the list (spec/deps_spec.lua checks with it).
PKGS="${LEMU_DEPS_EXTRA:+$LEMU_DEPS_EXTRA }build-essential pkg-config lua5.4 liblua5.4-dev libuv1-dev libslirp-dev lua-busted
libfdt-dev zlib1g-dev libvdeplug-dev libedit-dev tmux iproute2 tshark python3
libmnl-dev vde2 qemu-system-misc gcc-riscv64-unknown-elf device-tree-compiler opensbi graphviz
clang libclang-rt-14-dev samba"
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
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=sudo
  else
    echo "deps: these Debian 12 packages are missing:$missing$optional" >&2
    echo "deps: installing them needs root, and this user ($(id -un)) is not root and has no sudo." >&2
    echo "deps: run 'make deps' as root (su -c 'make deps'), or install sudo, or install them yourself:" >&2
    echo "deps:   apt-get install --no-install-recommends$missing$optional" >&2
    exit 1
  fi
fi
# apt's own progress is shown (on stderr when make reads this script), not hidden for a minute.
install() { DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "$@"; }
echo "deps: installing$missing$optional${SUDO:+ (through sudo)}: apt-get update, then apt-get install"
if ! $SUDO apt-get update || ! install $missing $optional; then
  if [ -n "$missing" ]; then
    # without the optional ones, the required ones may still install
    [ -n "$optional" ] && install $missing || exit 1
  fi
  if [ -n "$optional" ]; then
    echo "deps: warning: could not install$optional; the specs that need them are pending" >&2
    mkdir -p build && : > "$STAMP"
  fi
fi
# samba brings smbd for user-net's smb= (lemu runs it per connection, as QEMU does). Where systemd
# runs, samba's postinst also starts and enables its system services on every interface; a file
# server on the LAN is not what `make deps` is for, so the ones it started here are stopped again.
case " $missing " in
  *" samba "*)
    if [ -d /run/systemd/system ] && $SUDO systemctl disable --now smbd nmbd >/dev/null 2>&1; then
      echo "deps: stopped and disabled samba's system services smbd and nmbd (lemu runs its own smbd;" \
        "'systemctl enable --now smbd nmbd' brings them back)"
    fi ;;
esac
echo "deps: done"
exit 0
