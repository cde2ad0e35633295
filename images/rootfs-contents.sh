# The file list of mvm's guest root filesystem, shared by the two images built
# from it: the initramfs (images/build-rootfs.sh, a cpio archive) and the ext4
# root disk (images/build-rootdisk.sh). Sourced, not run. The caller defines
# how each kind of entry is stored:
#
#   add_dir NAME                              directory, mode 0755
#   add_char_device NAME MODE MAJOR MINOR     character device node
#   add_file NAME HOST_PATH PERMISSIONS       regular file copied from the host
#   add_symlink NAME TARGET                   symbolic link
#
# NAMEs are relative to the root, without a leading slash, parents first.
# Needs $init_dir (firmware/init) and $busybox (Debian's static busybox);
# the guest tools (firmware/guest-tools, built by `make guest-tools`) are
# found next to this file.

# Static programs busybox lacks: vsock listen/connect, timed disk and file-system I/O,
# starting an OCI container's process (mvm-runtime).
rootfs_guest_tools_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/firmware/out/guest-tools
readonly rootfs_guest_tools_dir
readonly ROOTFS_GUEST_TOOLS='mvm-vsock mvm-diskbench mvm-fsbench mvm-oci-exec'

# /dev/console is character device 5:1, /dev/mem 1:1.
readonly ROOTFS_CONSOLE_MAJOR=5 ROOTFS_CONSOLE_MINOR=1
readonly ROOTFS_MEM_MAJOR=1 ROOTFS_MEM_MINOR=1

rootfs_contents() {
  local dir applet f
  for dir in bin sbin usr usr/bin usr/sbin dev etc lib lib/mvm proc sys tmp root run mnt; do
    add_dir "$dir"
  done
  # The kernel opens /dev/console for init before anything mounts devtmpfs.
  add_char_device dev/console 0600 "$ROOTFS_CONSOLE_MAJOR" "$ROOTFS_CONSOLE_MINOR"
  # So the init's first command can signal boot-complete before devtmpfs is mounted.
  add_char_device dev/mem 0600 "$ROOTFS_MEM_MAJOR" "$ROOTFS_MEM_MINOR"
  add_file init "$init_dir/init" 0755
  add_file lib/mvm/init-lib.sh "$init_dir/mvm-init-lib.sh" 0644
  add_file lib/mvm/session "$init_dir/session" 0755
  add_file lib/mvm/shutdown "$init_dir/shutdown" 0755
  for f in "$init_dir"/etc/*; do add_file "etc/${f##*/}" "$f" 0644; done
  add_file bin/busybox "$busybox" 0755
  for f in $ROOTFS_GUEST_TOOLS; do
    if [[ ! -x $rootfs_guest_tools_dir/$f ]]; then
      echo "rootfs: missing $rootfs_guest_tools_dir/$f (make guest-tools)" >&2
      return 1
    fi
    add_file "usr/bin/$f" "$rootfs_guest_tools_dir/$f" 0755
  done
  # --list-full names each applet's usual place (bin/ls, usr/sbin/...); skip
  # busybox itself and linuxrc (both images boot through /init).
  while IFS= read -r applet; do
    case $applet in bin/busybox | linuxrc) continue ;; esac
    add_symlink "$applet" /bin/busybox
  done < <("$busybox" --list-full | LC_ALL=C sort)
}
