#!/usr/bin/env bash
# Builds mvm's guest kernel: Debian's linux-source-6.1, `make tinyconfig`, the
# project's fragment (firmware/kernel/mvm-guest.config) merged on top.
#
#   images/build-kernel.sh OUTPUT        e.g. images/out/vmlinux
#
# Writes OUTPUT (the ELF vmlinux, which the VMM boots through its PVH note),
# and next to it bzImage and kernel.config. A build takes minutes, so results
# are cached under $MVM_CACHE/kernel/<key>/, where <key> hashes everything
# that decides the result (fragment, source package version, compiler, this
# scripts); a cached kernel is only copied. The build runs in a scratch
# directory under $MVM_CACHE, never inside the clone, and a result enters the
# cache by one rename, so an interrupted build never leaves half a kernel.
set -euo pipefail

die() { echo "build-kernel: $*" >&2; exit 1; }

[[ $# -eq 1 ]] || die "usage: $0 OUTPUT"
output=$1

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
fragment=$here/../firmware/kernel/mvm-guest.config
source_package=linux-source-6.1
source_tarball=/usr/src/linux-source-6.1.tar.xz
cache_root=${MVM_CACHE:-$HOME/.cache/mvm}/kernel
# Files a finished cache entry holds; the entry counts only if all are there.
artefacts=(vmlinux bzImage kernel.config)

[[ -r $fragment ]] || die "missing kernel config fragment $fragment"
[[ -x $here/check-kernel-config.sh ]] || die "missing $here/check-kernel-config.sh"
[[ -r $source_tarball ]] || die "missing $source_tarball: install the Debian package $source_package (make apt-deps)"

source_version=$(dpkg-query -W -f='${Version}' "$source_package" 2>/dev/null) ||
  die "Debian package $source_package is not installed (make apt-deps)"
key=$( { cat "$fragment" "${BASH_SOURCE[0]}" "$here/check-kernel-config.sh"; echo "$source_package $source_version";
         gcc --version | head -n 1; } | sha256sum | cut -c1-16)
entry=$cache_root/$key

# Copies a cache entry to OUTPUT and its siblings, each through a temporary
# name and a rename, so a reader never sees a half-written kernel.
install_from_cache() {
  local dir
  dir=$(dirname "$output")
  mkdir -p "$dir"
  copy_atomically "$entry/vmlinux" "$output"
  copy_atomically "$entry/bzImage" "$dir/bzImage"
  copy_atomically "$entry/kernel.config" "$dir/kernel.config"
}

copy_atomically() {
  cp --reflink=auto "$1" "$2.tmp.$$"
  mv -f "$2.tmp.$$" "$2"
}

entry_complete() {
  local f
  for f in "${artefacts[@]}"; do [[ -s $entry/$f ]] || return 1; done
}

if entry_complete; then
  install_from_cache
  echo "build-kernel: cached kernel $key -> $output"
  exit 0
fi

mkdir -p "$cache_root"
# One build at a time per cache: a second caller waits, then finds the entry.
exec {lock_fd}>"$cache_root/.lock"
flock "$lock_fd"
if entry_complete; then
  install_from_cache
  echo "build-kernel: cached kernel $key (built while waiting) -> $output"
  exit 0
fi

# We hold the lock, so any scratch directory left here is from an interrupted build.
rm -rf "$cache_root"/build.*
scratch=$(mktemp -d "$cache_root/build.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
# bash skips the EXIT trap when a signal kills it; exiting on the signal runs it.
trap 'exit 130' INT
trap 'exit 143' TERM HUP

echo "build-kernel: building kernel $key in $scratch (takes minutes)"
started=$SECONDS
tar -xf "$source_tarball" -C "$scratch"
src=$scratch/linux-source-6.1
[[ -d $src ]] || die "unexpected layout of $source_tarball: no linux-source-6.1/ inside"

# Other engineers share the CPU: build at low priority.
kmake() { nice -n 10 make -C "$src" ARCH=x86_64 -s "$@"; }

kmake tinyconfig
# -m: merge into the tinyconfig .config without running its own olddefconfig;
# -O: write the result into the tree we build.
(cd "$src" && ARCH=x86_64 scripts/kconfig/merge_config.sh -m -O "$src" "$src/.config" "$fragment" >/dev/null)
kmake olddefconfig

# Every line of the fragment must have survived olddefconfig as written: a
# dropped option (unmet dependency) would otherwise show up only at boot.
"$here/check-kernel-config.sh" "$fragment" "$src/.config" >&2 ||
  die "olddefconfig did not apply $fragment as written (see the lines above; dependencies: make menuconfig, '/' search)"

kmake -j"$(nproc)" vmlinux bzImage

result=$scratch/result
mkdir "$result"
cp "$src/vmlinux" "$result/vmlinux"
cp "$src/arch/x86/boot/bzImage" "$result/bzImage"
cp "$src/.config" "$result/kernel.config"
rm -rf "$entry"
mv "$result" "$entry"
echo "build-kernel: built kernel $key in $((SECONDS - started)) s"

install_from_cache
echo "build-kernel: -> $output"
