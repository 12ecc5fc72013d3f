#!/bin/sh
# guest/stock.sh (make -C guest stock): a stock distribution guest. Fetches Debian stable's own
# riscv64 kernel (the package that linux-image-riscv64 depends on) and busybox-static for riscv64
# with `apt-get download`, from a private apt configuration under build/stock/apt (its own
# sources list, lists, cache and state: the system's apt state is never read or changed), unpacks
# them with dpkg-deb and writes images/stock/:
#
#   Image               the kernel's own Image, as the package ships it (/boot/vmlinux-*)
#   initramfs.cpio.gz   busybox-static, the kernel's virtio-net modules, guest/stock/init and the
#                       default guest's /etc (guest/rootfs): the same console contract
#   VERSIONS            what was fetched: packages, versions, sha256 of the .debs and the images
#
# Re-runnable: each run fetches the current packages again and rebuilds. Not committed.
# Environment: STOCK_SUITE (default trixie), STOCK_MIRROR (default: the URI that this machine's own
# sources use for its Debian release), STOCK_MODULES (more modules to load, e.g. "virtio_rng").
set -eu
cd "$(dirname "$0")"
SUITE=${STOCK_SUITE:-trixie}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
MODULES="virtio_mmio virtio_net ${STOCK_MODULES:-}"
EPOCH=1672531200
B=$PWD/build/stock
A=$B/apt
OUT=$PWD/images/stock

say() { echo "stock: $*"; }
die() { echo "stock: error: $*" >&2; exit 1; }

# ---- host tools (Debian 12 packages; installed when missing, as guest/deps.sh does) ----
missing=""
for t in dpkg-deb:dpkg xz:xz-utils zstd:zstd gzip:gzip lua5.4:lua5.4 apt-get:apt; do
  command -v "${t%%:*}" >/dev/null 2>&1 || missing="$missing ${t#*:}"
done
if [ -n "$missing" ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  say "installing$missing"
  $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
[ -r "$KEYRING" ] || die "$KEYRING is missing (Debian's debian-archive-keyring package)"

# ---- the mirror: the one this machine's Debian sources already use ----
host_mirror() {
  codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
  [ -n "$codename" ] || return 0
  {
    for f in /etc/apt/sources.list.d/*.sources; do
      [ -f "$f" ] || continue
      awk -v c="$codename" 'BEGIN { RS = ""; FS = "\n" }
        { uris = ""; suites = ""; types = ""
          for (i = 1; i <= NF; i++) {
            if ($i ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", $i); uris = $i }
            if ($i ~ /^Suites:/) { sub(/^Suites:[ \t]*/, "", $i); suites = " " $i " " }
            if ($i ~ /^Types:/) types = $i " "
          }
          if (types ~ / deb / && index(suites, " " c " ")) { split(uris, u, " "); print u[1] } }' "$f"
    done
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
      sed 's/\[[^]]*\]//' | awk -v c="$codename" '$1 == "deb" && $3 == c { print $2 }'
  } | head -n 1
}
MIRROR=${STOCK_MIRROR:-$(host_mirror)}
[ -n "$MIRROR" ] || die "found no Debian mirror in /etc/apt/sources.list*; set STOCK_MIRROR"

# ---- a private apt: its own sources, lists, cache and (empty) dpkg status ----
mkdir -p "$A/lists/partial" "$A/cache/archives/partial" "$A/state" "$A/empty"
: > "$A/state/status"
echo "deb [arch=riscv64 signed-by=$KEYRING] $MIRROR $SUITE main" > "$A/sources.list"
apt_private() {
  "$@" -o APT::Architecture=riscv64 -o APT::Architectures::=riscv64 \
    -o Dir::Etc::sourcelist="$A/sources.list" -o Dir::Etc::sourceparts="$A/empty" \
    -o Dir::Etc::preferences="$A/empty/none" -o Dir::Etc::preferencesparts="$A/empty" \
    -o Dir::State="$A/state" -o Dir::State::Lists="$A/lists" -o Dir::State::status="$A/state/status" \
    -o Dir::Cache="$A/cache" -o Acquire::Languages=none -o APT::Sandbox::User=root
}
say "apt source (private, build/stock/apt): $(cat "$A/sources.list")"
apt_private apt-get -qq update || die "apt-get update from $MIRROR $SUITE failed"

version() { apt_private apt-cache show --no-all-versions "$1" | sed -n 's/^Version: //p' | head -n 1; }
META_VER=$(version linux-image-riscv64)
[ -n "$META_VER" ] || die "$SUITE has no linux-image-riscv64"
KPKG=$(apt_private apt-cache show --no-all-versions linux-image-riscv64 |
  sed -n 's/^Depends: //p' | tr ',|' '\n\n' | sed 's/^ *//; s/ .*//' | grep '^linux-image-.*-riscv64$' | head -n 1)
[ -n "$KPKG" ] || die "cannot tell which kernel package linux-image-riscv64 $META_VER depends on"
KPKG_VER=$(version "$KPKG")
BB_VER=$(version busybox-static)
say "linux-image-riscv64 $META_VER -> $KPKG $KPKG_VER; busybox-static $BB_VER"

# build/stock/debs keeps the last download: a package whose version is unchanged is not fetched again.
mkdir -p "$B/debs"
fetch() {  # package version: prints the path of its .deb
  local f
  for f in "$B/debs/$1_"*.deb; do
    [ -f "$f" ] || continue
    [ "$(dpkg-deb -f "$f" Package Version | tr '\n' ' ')" = "Package: $1 Version: $2 " ] && { echo "$f"; return 0; }
    rm -f "$f"
  done
  (cd "$B/debs" && apt_private apt-get -qq download "$1=$2" >&2) || die "apt-get download $1=$2 failed"
  ls "$B/debs/$1_"*.deb
}
KDEB=$(fetch "$KPKG" "$KPKG_VER")
BBDEB=$(fetch busybox-static "$BB_VER")

# ---- unpack ----
rm -rf "$B/root" && mkdir -p "$B/root"
dpkg-deb -x "$KDEB" "$B/root"
dpkg-deb -x "$BBDEB" "$B/root"
R=$B/root
[ -d "$R/usr/lib/modules" ] && MODROOT=$R/usr/lib/modules || MODROOT=$R/lib/modules
KVER=$(ls "$MODROOT" | head -n 1)
[ -n "$KVER" ] || die "$KPKG has no /lib/modules"
MD=$MODROOT/$KVER
KIMG=""
for f in "$R/boot/vmlinux-$KVER" "$R/boot/vmlinuz-$KVER" "$R/boot/Image-$KVER"; do
  [ -f "$f" ] && { KIMG=$f; break; }
done
[ -n "$KIMG" ] || die "$KPKG has no kernel in /boot"
BUSYBOX=$R/usr/bin/busybox
[ -f "$BUSYBOX" ] || BUSYBOX=$R/bin/busybox
[ -f "$BUSYBOX" ] || die "busybox-static has no busybox binary"

mkdir -p "$OUT"
# The Image: riscv's boot header has "RSC\005" at offset 56. Debian ships it uncompressed (with an
# EFI stub); a gzip one is decompressed, since QEMU 7.2 loads no compressed kernel.
case $(od -An -tx1 -N2 "$KIMG" | tr -d ' ') in
  1f8b) gzip -dc "$KIMG" > "$OUT/Image.tmp" ;;
  *) cp "$KIMG" "$OUT/Image.tmp" ;;
esac
[ "$(dd if="$OUT/Image.tmp" bs=1 skip=56 count=4 2>/dev/null | od -An -c | tr -d ' ')" = 'RSC005' ] ||
  die "$(basename "$KIMG") is not a riscv Image (no RSC\\005 magic at offset 56)"
mv "$OUT/Image.tmp" "$OUT/Image"

# ---- modules: each with what its .modinfo "depends=" names first (the field depmod's
# modules.dep is made of; the package ships no modules.dep, its postinst runs depmod) ----
S=$B/stage
rm -rf "$S" && mkdir -p "$S/lib/modules"
modfile() {  # the packaged file of module $1 ('-' and '_' are the same in module names)
  local n p z
  n=$(echo "$1" | tr '-' '_')
  p=$(awk -v n="$n" '{ b = $0; sub(/.*\//, "", b); sub(/\.ko$/, "", b); gsub(/-/, "_", b)
                       if (b == n) { print; exit } }' "$MD/modules.order")
  [ -n "$p" ] || return 0
  for z in "" .xz .zst .gz; do [ -f "$MD/$p$z" ] && { echo "$MD/$p$z"; return 0; }; done
}
unpack() {  # decompresses module file $1 to stdout (busybox's insmod takes plain ELF)
  case $1 in
    *.xz) xz -dc "$1" ;; *.zst) zstd -qdc "$1" ;; *.gz) gzip -dc "$1" ;; *) cat "$1" ;;
  esac
}
: > "$S/lib/modules/load.list"
LOADED=" "
load() {  # recursive: dash's "local" keeps each level's names
  local n f deps d
  n=$(echo "$1" | tr '-' '_')
  case $LOADED in *" $n "*) return 0 ;; esac
  f=$(modfile "$n")
  if [ -z "$f" ]; then
    grep -q "/$n\.ko\$" "$MD/modules.builtin" || grep -q "/$(echo "$1" | tr '_' '-')\.ko\$" "$MD/modules.builtin" ||
      die "$KPKG has no module $n, built in or not"
    say "module $n: built into the kernel"
    LOADED="$LOADED$n "
    return 0
  fi
  unpack "$f" > "$S/lib/modules/$n.ko"
  deps=$(tr '\0' '\n' < "$S/lib/modules/$n.ko" | sed -n 's/^depends=//p' | head -n 1 | tr ',' ' ')
  for d in $deps; do load "$d"; done
  LOADED="$LOADED$n "
  echo "$n.ko" >> "$S/lib/modules/load.list"
  say "module $n: ${f#"$MD/"}${deps:+ (needs $deps)}"
}
for m in $MODULES; do load "$m"; done

# ---- the initramfs: the default guest's list and /etc, with Debian's busybox and its own /init ----
cp -r rootfs/. "$S/"
cp stock/init "$S/init"
cp stock/inittab "$S/etc/inittab"
mkdir -p "$S/bin" && cp "$BUSYBOX" "$S/bin/busybox"
find "$S" -exec touch -h -d "@$EPOCH" {} +
{
  cat initramfs.list
  echo "dir /lib 0755 0 0"
  echo "dir /lib/modules 0755 0 0"
  (cd "$S" && find . -type f | sort) | while read -r f; do
    m=0644; [ -x "$S/$f" ] && m=0755
    echo "file ${f#.} $S/${f#./} $m 0 0"
  done
  # the rest of busybox's links are made by /init (busybox --install -s)
  echo "slink /bin/sh /bin/busybox 0777 0 0"
} > "$B/initramfs.list"
lua5.4 stock/mkcpio.lua "$B/initramfs.list" "$EPOCH" > "$B/initramfs.cpio"
gzip -9n < "$B/initramfs.cpio" > "$OUT/initramfs.cpio.gz.tmp" && mv "$OUT/initramfs.cpio.gz.tmp" "$OUT/initramfs.cpio.gz"

sha() { sha256sum "$1" | cut -d' ' -f1; }
{
  echo "# guest/images/stock, made by guest/stock.sh on $(date -u +%Y-%m-%dT%H:%MZ) from $MIRROR $SUITE"
  echo "linux-image-riscv64 $META_VER"
  echo "$KPKG $KPKG_VER $(basename "$KDEB") sha256:$(sha "$KDEB")"
  echo "busybox-static $BB_VER $(basename "$BBDEB") sha256:$(sha "$BBDEB")"
  echo "kernel $KVER ($(basename "$KIMG"))"
  echo "modules $(tr '\n' ' ' < "$S/lib/modules/load.list")"
  echo "Image $(wc -c < "$OUT/Image") bytes sha256:$(sha "$OUT/Image")"
  echo "initramfs.cpio.gz $(wc -c < "$OUT/initramfs.cpio.gz") bytes sha256:$(sha "$OUT/initramfs.cpio.gz")"
} > "$OUT/VERSIONS"
say "wrote images/stock/:"
sed 's/^/  /' "$OUT/VERSIONS"
