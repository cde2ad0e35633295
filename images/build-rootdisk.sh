#!/usr/bin/env bash
# Builds mvm's root disk: an ext4 filesystem with the same files as the
# initramfs (images/rootfs-contents.sh), stored as a qcow2 image written by
# mvm's own qcow2 writer (`mvm image convert`). Boot it with
#
#   mvm run --initrd '' --disk images/out/rootfs.qcow2 --append root=/dev/vda \
#     --append rw --append init=/init --append devtmpfs.mount=0 -- CMD
#
# rw: the session writes /run and a guest may write anywhere (by default on
# the throw-away overlay, so the image itself never changes); init=/init:
# without it the kernel starts /sbin/init (busybox init) and skips mvm's init;
# devtmpfs.mount=0: the kernel would mount devtmpfs on /dev itself
# (CONFIG_DEVTMPFS_MOUNT, which applies to disk roots only), and the init's own
# mount of it would then fail with a warning; the image carries the
# /dev/console and /dev/mem nodes the kernel and the init need before that.
#
#   images/build-rootdisk.sh OUTPUT        e.g. images/out/rootfs.qcow2
#
# mke2fs -d copies a staging directory into the new filesystem without root
# or loop devices; the two device nodes are added afterwards with debugfs,
# which needs no root either. The UUID and directory hash seed are fixed, but
# two builds still differ in time stamps: mke2fs 1.47.0 and debugfs stamp
# inodes and superblocks with the clock and honour no SOURCE_DATE_EPOCH.
# Needs the compiled CLI (make build), e2fsprogs and qemu-utils.
set -euo pipefail

die() { echo "build-rootdisk: $*" >&2; exit 1; }

[[ $# -eq 1 ]] || die "usage: $0 OUTPUT"
output=$1

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
init_dir=$here/../firmware/init
busybox=/bin/busybox
mvm_cli=$here/../dist/bundle/mvm.js

# Room for busybox (~2 MiB), ext4's metadata and journal, and what a guest
# writes on its throw-away overlay; unused blocks cost nothing in the qcow2.
readonly DISK_SIZE=64M
# Fixed identity, so two builds agree on everything but time stamps.
readonly FS_UUID=6d766d00-726f-6f74-6469-736b00000001
readonly FS_HASH_SEED=6d766d00-6861-7368-7365-656400000001
readonly FS_LABEL=mvm-root

for tool in mke2fs debugfs qemu-img; do
  command -v "$tool" >/dev/null || die "$tool is missing (make apt-deps installs e2fsprogs and qemu-utils)"
done
[[ -x $busybox ]] || die "missing $busybox (Debian package busybox-static; make apt-deps)"
[[ -r $mvm_cli ]] || die "missing $mvm_cli (make build)"
for f in init session shutdown mvm-init-lib.sh etc/inittab; do [[ -r $init_dir/$f ]] || die "missing $init_dir/$f"; done
# shellcheck source=rootfs-contents.sh
. "$here/rootfs-contents.sh"

work=$(mktemp -d "${TMPDIR:-/tmp}/mvm-rootdisk.XXXXXX")
trap 'rm -rf "$work"' EXIT
staging=$work/root
mkdir "$staging"
# debugfs commands run after mke2fs: the device nodes, which a non-root
# staging tree cannot hold.
debugfs_script=$work/debugfs.cmds
: >"$debugfs_script"

add_dir() { mkdir -m 0755 "$staging/$1"; }
add_file() { install -m "$3" "$2" "$staging/$1"; }
add_symlink() { ln -s "$2" "$staging/$1"; }
add_char_device() {
  local mode
  printf -v mode '%o' $((0020000 | $2))
  {
    # debugfs's mknod makes NAME in its current directory.
    echo "cd /$(dirname "$1")"
    echo "mknod $(basename "$1") c $3 $4"
    echo "sif /$1 mode 0$mode"
  } >>"$debugfs_script"
}

rootfs_contents
# mke2fs -d copies each staging file's owner: make everything root's, as in
# the initramfs, whoever runs the build.
if [[ $(id -u) -ne 0 ]]; then
  (cd "$staging" && find . -mindepth 1 | sed 's/^\.//') | while IFS= read -r path; do
    echo "sif $path uid 0"
    echo "sif $path gid 0"
  done >>"$debugfs_script"
fi

raw=$work/rootfs.raw
truncate -s "$DISK_SIZE" "$raw"
mke2fs -q -F -t ext4 -L "$FS_LABEL" -U "$FS_UUID" \
  -E "hash_seed=$FS_HASH_SEED,root_owner=0:0" -d "$staging" "$raw"
debugfs -w -f "$debugfs_script" "$raw" >/dev/null 2>"$work/debugfs.err" ||
  die "debugfs failed: $(cat "$work/debugfs.err")"
grep -v '^debugfs ' "$work/debugfs.err" | grep -q . && die "debugfs: $(cat "$work/debugfs.err")"
e2fsck -fn "$raw" >"$work/fsck.log" 2>&1 || die "e2fsck found errors: $(cat "$work/fsck.log")"

mkdir -p "$(dirname "$output")"
tmp=$output.tmp.$$
trap 'rm -rf "$work" "$tmp"' EXIT
node "$mvm_cli" image convert -O qcow2 "$raw" "$tmp"
qemu-img check -q "$tmp" || die "qemu-img check rejected the qcow2 image"
mv -f "$tmp" "$output"
echo "build-rootdisk: $output ($(stat -c %s "$output") bytes, $DISK_SIZE ext4)"
