#!/usr/bin/env bash
# Builds the helper VM's boot files into OUTDIR:
#   vmlinuz          Debian's stock generic 6.1 kernel (has kvm_amd and 9p as modules)
#   vmlinux          the same kernel uncompressed, booted through its PVH entry:
#                    skips SeaBIOS and the xz decompression, which under
#                    emulation cost ~3.4 s of every helper start (measured)
#   initrd.cpio.gz   busybox-static, the modules the helper needs, and its /init
#   image.env        what was built (package, version, cache key)
#
# The helper VM is how mvm runs Linux guests on hosts whose /dev/kvm cannot run
# them (see ../shared/docs/host-kvm.md): QEMU emulates an AMD-V CPU, this kernel
# loads kvm_amd, and the host's own root filesystem is shared in read-only, so
# the host's node and the project tree run unchanged at the same paths.
#
# The result is cached under $MVM_CACHE/helper/<key>, keyed by the kernel
# package version and this script's contents (which include /init), so a
# second run only links the cached files.
#
# Usage: build-helper.sh OUTDIR
#        build-helper.sh --module-order < "module dep dep…" lines   (prints load order)
set -euo pipefail

# Modules the helper needs; their dependencies are found with modinfo.
#   kvm_amd             hardware-style /dev/kvm on the emulated AMD-V CPU
#   9p, 9pnet_virtio    the host's filesystem over virtio-9p
#   virtio_pci          the transport every virtio device here sits on
#   virtio_net          user-mode networking: mvm's requests arrive over TCP
#   tun                 tap devices for guests' virtio-net (mvm run --net tap=…)
WANTED_MODULES=(kvm_amd 9p 9pnet_virtio virtio_pci virtio_net tun)

# Reads lines "module dep1 dep2 …" and prints every module once, each after
# all of its dependencies (tsort fails loudly on a cycle).
module_order() {
  local line mod dep
  while read -r line; do
    [ -n "$line" ] || continue
    set -- $line
    mod=$1; shift
    echo "$mod $mod"            # a self-pair keeps modules without dependencies
    for dep in "$@"; do echo "$dep $mod"; done
  done | tsort
}

if [ "${1:-}" = "--module-order" ]; then
  module_order
  exit 0
fi

OUTDIR=${1:?usage: build-helper.sh OUTDIR}
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SCRIPT_PATH="$SCRIPT_DIR/$(basename "${BASH_SOURCE[0]}")"
MVM_CACHE=${MVM_CACHE:-$HOME/.cache/mvm}

die() { echo "build-helper: $*" >&2; exit 1; }

# The newest generic 6.1 kernel package the apt lists know (not -cloud: it
# lacks 9p), as "NAME VERSION". One apt-cache call costs about half a second
# here, so the answer is remembered until the apt lists change.
APT_LISTS=/var/lib/apt/lists
RESOLVED="$MVM_CACHE/helper/resolved-package"
lists_stamp() { stat -c %Y "$APT_LISTS" 2>/dev/null || echo none; }
query_kernel_package() {
  apt-cache search --full --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' |
    awk '/^Package:/ {p=$2} /^Version:/ {print p, $2}' | sort -V | tail -1
}
pick_kernel_package() {
  local stamp cached
  stamp=$(lists_stamp)
  if [ -f "$RESOLVED" ] && read -r cached_stamp cached <"$RESOLVED" && [ "$cached_stamp" = "$stamp" ]; then
    echo "$cached"; return
  fi
  cached=$(query_kernel_package)
  if [ -n "$cached" ]; then
    mkdir -p "$(dirname "$RESOLVED")"
    echo "$stamp $cached" >"$RESOLVED"
  fi
  echo "$cached"
}

read -r PKG VERSION <<<"$(pick_kernel_package)" || true
if [ -z "${PKG:-}" ]; then
  apt-get update -qq >/dev/null || true
  read -r PKG VERSION <<<"$(pick_kernel_package)" || true
fi
[ -n "${PKG:-}" ] && [ -n "${VERSION:-}" ] || die "no linux-image-6.1.0-*-amd64 package in the apt lists (run apt-get update)"

KEY=$( { echo "$PKG $VERSION"; cat "$SCRIPT_PATH"; } | sha256sum | cut -c1-16)
CACHE_DIR="$MVM_CACHE/helper/$KEY"

publish() {
  mkdir -p "$OUTDIR"
  local f
  for f in vmlinuz vmlinux initrd.cpio.gz image.env; do
    if [ -e "$CACHE_DIR/$f" ]; then
      ln -sfn "$CACHE_DIR/$f" "$OUTDIR/$f"
    else
      rm -f "$OUTDIR/$f"   # never leave a link to an older build's file
    fi
  done
  # Entries unused for a month belong to old script versions or kernels.
  find "$MVM_CACHE/helper" -mindepth 1 -maxdepth 1 -type d -mtime +30 ! -name "$KEY" -exec rm -rf {} + 2>/dev/null || true
}

if [ -f "$CACHE_DIR/complete" ]; then
  publish
  echo "helper image: $PKG $VERSION (cached, key $KEY)"
  exit 0
fi

for tool in busybox cpio gzip dpkg-deb modinfo tsort; do
  command -v "$tool" >/dev/null || die "$tool is missing (make apt-deps installs busybox-static, cpio, kmod)"
done
BUSYBOX=$(command -v busybox)
{ ldd "$BUSYBOX" 2>&1 || true; } | grep -q 'not a dynamic executable' || die "$BUSYBOX is not static (install busybox-static)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mvm-helper-build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
# apt-get download runs as the _apt user when it can; let it write here.
chmod 0777 "$WORK"

echo "helper image: downloading $PKG $VERSION"
(cd "$WORK" && apt-get download -q "$PKG=$VERSION" >/dev/null 2>"$WORK/apt.log") || { cat "$WORK/apt.log" >&2; die "apt-get download $PKG failed"; }
dpkg-deb -x "$WORK"/"$PKG"_*.deb "$WORK/pkg"
KVER=${PKG#linux-image-}
MODDIR="$WORK/pkg/lib/modules/$KVER"
[ -d "$MODDIR" ] || die "$PKG has no lib/modules/$KVER"

# Module name (dashes and underscores are the same to the kernel) → file.
declare -A MODFILE=()
while IFS= read -r f; do
  name=${f##*/}; name=${name%%.ko*}; name=${name//-/_}
  MODFILE[$name]=$f
done < <(find "$MODDIR/kernel" -name '*.ko*')

is_builtin() { grep -q "/${1//_/[-_]}\.ko\$" "$MODDIR/modules.builtin" 2>/dev/null; }

# Walks the dependency closure of WANTED_MODULES, one "module deps…" line each.
declare -A SEEN=()
dependency_lines() {
  local queue=("${WANTED_MODULES[@]}") mod deps
  while [ ${#queue[@]} -gt 0 ]; do
    mod=${queue[0]//-/_}; queue=("${queue[@]:1}")
    [ -z "${SEEN[$mod]:-}" ] || continue
    SEEN[$mod]=1
    if [ -z "${MODFILE[$mod]:-}" ]; then
      is_builtin "$mod" && continue
      die "module $mod is neither in $PKG nor built in"
    fi
    deps=$(modinfo -F depends "${MODFILE[$mod]}" | tr ',' ' ')
    local kept=() d
    for d in $deps; do
      d=${d//-/_}
      [ -n "${MODFILE[$d]:-}" ] && kept+=("$d")
      queue+=("$d")
    done
    echo "$mod ${kept[*]}"
  done
}
DEP_LINES=$(dependency_lines)
ORDER=$(module_order <<<"$DEP_LINES")

ROOT="$WORK/initrd"
mkdir -p "$ROOT"/{bin,dev,proc,sys,host,modules}
cp "$BUSYBOX" "$ROOT/bin/busybox"
for mod in $ORDER; do
  src=${MODFILE[$mod]}
  case "$src" in
    *.ko.xz)  xz -dc "$src" >"$ROOT/modules/$mod.ko" ;;
    *.ko.zst) zstd -qdc "$src" >"$ROOT/modules/$mod.ko" ;;
    *.ko.gz)  gzip -dc "$src" >"$ROOT/modules/$mod.ko" ;;
    *)        cp "$src" "$ROOT/modules/$mod.ko" ;;
  esac
done
echo "$ORDER" >"$ROOT/modules/order"

# The helper's PID 1. Runtime settings come from the kernel command line
# (mvm.* parameters written by src/helper/qemu-command.ts): nothing secret is
# passed that way, the request token is read from the writable state share.
cat >"$ROOT/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
say() { echo "helper-init: $*" >/dev/console; }
fail() { say "$*"; poweroff -f; }

for m in $(cat /modules/order); do
  insmod "/modules/$m.ko" || say "insmod $m failed"
done

param() {  # value of mvm.NAME= on the kernel command line
  for word in $(cat /proc/cmdline); do
    case "$word" in "mvm.$1="*) echo "${word#mvm.$1=}"; return ;; esac
  done
}
# Paths arrive with every byte that is not [A-Za-z0-9/._+=@~-] written %XX
# (src/helper/qemu-command.ts), so a clone under "/tmp/my work" still boots.
unescape() { printf '%b' "$(echo "$1" | sed 's/%\([0-9A-Fa-f][0-9A-Fa-f]\)/\\x\1/g')"; }

# QEMU user-mode networking: fixed addresses, no DHCP round trip needed.
ip link set lo up
ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 && ip route add default via 10.0.2.2 || say "network setup failed"

mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000 hostroot /host || fail "cannot mount the host filesystem"
mount -t proc proc /host/proc
mount -t sysfs sys /host/sys
mount -t devtmpfs dev /host/dev
mkdir -p /host/dev/pts /host/dev/shm 2>/dev/null
mount -t devpts devpts /host/dev/pts 2>/dev/null
mount -t tmpfs shm /host/dev/shm 2>/dev/null
mount -t tmpfs tmp /host/tmp
mount -t tmpfs run /host/run 2>/dev/null

# Writable shares: mvm.rw=TAG:PATH,TAG:PATH (tags match QEMU's -virtfs mount_tag).
for share in $(param rw | tr ',' ' '); do
  tag=${share%%:*}; path=$(unescape "${share#*:}")
  mkdir -p "/host$path" 2>/dev/null   # a path under the tmpfs /tmp needs its mount point made
  mount -t 9p -o trans=virtio,version=9p2000.L,rw,msize=512000 "$tag" "/host$path" || say "cannot mount writable share $path"
done

node=$(unescape "$(param node)"); daemon=$(unescape "$(param daemon)")
[ -n "$node" ] && [ -n "$daemon" ] || fail "mvm.node / mvm.daemon missing from the command line"
say "starting $daemon"
# Exit status 0 means "power off" (idle timeout or stop request); anything
# else is a crash, and the daemon is started again - but not forever: a daemon
# that cannot start would otherwise keep an emulated CPU busy for nothing.
MAX_RESTARTS=5
restarts=0
while [ "$restarts" -lt "$MAX_RESTARTS" ]; do
  chroot /host /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME=/root \
    MVM_IN_HELPER=1 "$node" "$daemon"
  status=$?
  [ "$status" -eq 0 ] && break
  restarts=$((restarts + 1))
  say "daemon exited with status $status (failure $restarts of $MAX_RESTARTS)"
  sleep 1
done
sync
poweroff -f
INIT
chmod 0755 "$ROOT/init"

# Built beside the cache entry and renamed into place, so a concurrent or
# interrupted build never leaves a half-written entry marked complete.
mkdir -p "$MVM_CACHE/helper"
STAGE=$(mktemp -d "$MVM_CACHE/helper/.build.XXXXXX")
cp "$WORK/pkg/boot/vmlinuz-$KVER" "$STAGE/vmlinuz"
# The bzImage holds the kernel ELF as one xz stream; Debian builds it with
# CONFIG_PVH, so QEMU can start that ELF directly. Without an xz stream or
# an ELF result, the helper falls back to booting vmlinuz.
XZ_MAGIC=$'\xfd7zXZ\x00'
xz_offset=$(LC_ALL=C grep -abo "$XZ_MAGIC" "$STAGE/vmlinuz" | head -1 | cut -d: -f1 || true)
if [ -n "$xz_offset" ] && grep -q '^CONFIG_PVH=y' "$WORK/pkg/boot/config-$KVER"; then
  tail -c +"$((xz_offset + 1))" "$STAGE/vmlinuz" | xz -dcq >"$STAGE/vmlinux" 2>/dev/null || true
  [ "$(head -c 4 "$STAGE/vmlinux" | od -An -tx1 | tr -d ' ')" = "7f454c46" ] || rm -f "$STAGE/vmlinux"
fi
(cd "$ROOT" && find . | cpio -o -H newc --quiet | gzip -6) >"$STAGE/initrd.cpio.gz"
printf 'HELPER_PACKAGE=%s\nHELPER_VERSION=%s\nHELPER_KEY=%s\nHELPER_MODULES="%s"\n' \
  "$PKG" "$VERSION" "$KEY" "$(echo $ORDER)" >"$STAGE/image.env"
touch "$STAGE/complete"
chmod 0755 "$STAGE"
if ! mv -T "$STAGE" "$CACHE_DIR" 2>/dev/null; then
  rm -rf "$STAGE"   # another build finished first; its result is the same
fi
publish
echo "helper image: $PKG $VERSION built (key $KEY), modules: $(echo $ORDER)"
