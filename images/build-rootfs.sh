#!/usr/bin/env bash
# Builds mvm's guest root filesystem: a gzip-compressed newc cpio initramfs
# holding Debian's static busybox (with a symlink per applet; /sbin/init is
# busybox init) and the project's init scripts from firmware/init/; the file
# list is images/rootfs-contents.sh, shared with the root disk.
#
#   images/build-rootfs.sh OUTPUT        e.g. images/out/initramfs.cpio.gz
#
# The archive is written here, entry by entry, rather than by cpio(1) from a
# staging directory: that needs no root for the device nodes /dev/console (the
# kernel opens it for init before devtmpfs exists) and /dev/mem (the init's
# first command uses it), and with fixed owners, times and inode
# numbers the same inputs give the same bytes on every machine.
set -euo pipefail

die() { echo "build-rootfs: $*" >&2; exit 1; }

[[ $# -eq 1 ]] || die "usage: $0 OUTPUT"
output=$1

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
init_dir=$here/../firmware/init
busybox=/bin/busybox

dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed' ||
  die "Debian package busybox-static is not installed (make apt-deps)"
[[ -x $busybox ]] || die "missing $busybox"
for f in init session shutdown mvm-init-lib.sh etc/inittab; do [[ -r $init_dir/$f ]] || die "missing $init_dir/$f"; done
# shellcheck source=rootfs-contents.sh
. "$here/rootfs-contents.sh"

# newc header fields (see the kernel's Documentation/driver-api/early-userspace/buffer-format.rst).
readonly NEWC_MAGIC=070701
readonly NEWC_HEADER_SIZE=110
readonly S_IFDIR=0040000 S_IFREG=0100000 S_IFLNK=0120000 S_IFCHR=0020000
# Zero bytes that pad each header+name and each file body to 4 bytes.
zero_pad=('' '\0' '\0\0' '\0\0\0')

inode=0

# Writes one archive member: NAME MODE SIZE [RDEV_MAJOR RDEV_MINOR], then
# the caller writes SIZE bytes of data followed by pad_to_4 SIZE.
write_header() {
  local name=$1 mode=$2 size=$3 rdev_major=${4:-0} rdev_minor=${5:-0}
  local nlink=1 namesize=$((${#1} + 1))
  (((mode & 0170000) == S_IFDIR)) && nlink=2
  inode=$((inode + 1))
  # ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize check
  printf '%s%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' "$NEWC_MAGIC" \
    "$inode" "$mode" 0 0 "$nlink" 0 "$size" 0 0 "$rdev_major" "$rdev_minor" "$namesize" 0
  printf '%s\0' "$name"
  printf "${zero_pad[(4 - (NEWC_HEADER_SIZE + namesize) % 4) % 4]}"
}

pad_to_4() { printf "${zero_pad[(4 - $1 % 4) % 4]}"; }

add_dir() { write_header "$1" $((S_IFDIR | 0755)) 0; }

# add_file ARCHIVE_NAME HOST_PATH PERMISSIONS
add_file() {
  local size
  size=$(stat -c %s "$2")
  write_header "$1" $((S_IFREG | $3)) "$size"
  cat "$2"
  pad_to_4 "$size"
}

# add_symlink ARCHIVE_NAME TARGET
add_symlink() {
  write_header "$1" $((S_IFLNK | 0777)) "${#2}"
  printf '%s' "$2"
  pad_to_4 "${#2}"
}

# add_char_device ARCHIVE_NAME PERMISSIONS MAJOR MINOR
add_char_device() { write_header "$1" $((S_IFCHR | $2)) 0 "$3" "$4"; }

write_archive() {
  rootfs_contents
  write_header 'TRAILER!!!' 0 0
}

mkdir -p "$(dirname "$output")"
tmp=$output.tmp.$$
trap 'rm -f "$tmp"' EXIT
# -n: no name or time stamp in the gzip header, so the bytes are reproducible.
write_archive | gzip -n -9 >"$tmp"
mv -f "$tmp" "$output"
trap - EXIT
echo "build-rootfs: $output ($(stat -c %s "$output") bytes)"
