# Functions of mvm's guest init scripts (firmware/init/: init, session,
# shutdown), kept apart so the specs can source them on the host with busybox
# sh and stand-ins for devmem and the reset. POSIX sh as busybox ash runs it;
# installed at /lib/mvm/init-lib.sh.

# The guest-signal MMIO device at 0xc0000000 (src/arch/x86_64/layout.ts,
# GUEST_SIGNAL_*), reached through /dev/mem with busybox devmem.
# 8-bit write of MVM_BOOT_MAGIC here: userspace has started.
MVM_SIGNAL_BOOT_ADDRESS=0xc0000000
MVM_BOOT_MAGIC=123
# 32-bit write of N here: power off; the VMM exits with status N.
MVM_SIGNAL_EXIT_ADDRESS=0xc0000004
# 32-bit read here: 1 once the host asked for a graceful stop (mvm stop).
MVM_SIGNAL_STOP_ADDRESS=0xc0000008
# Seconds between two looks at the stop register: each look is one MMIO exit
# and two short-lived processes, and a stop waiting a second is no harm.
MVM_STOP_POLL_SECONDS=1

# Exit status when mvm.cmd= cannot be decoded: the runner failed, not the
# command (the value `docker run` uses for the same case).
MVM_BAD_CMD_STATUS=125
# Exit status when the console session itself was killed: 128 + SIGKILL, as
# a shell reports a child killed that way.
MVM_SESSION_KILLED_STATUS=137
# Exists once the console session has started (/run is in the initramfs).
MVM_SESSION_MARKER=/run/mvm-session-started

# True when a container runtime, not a kernel, started the init: OCI
# runtimes set `container` in PID 1's environment (systemd's container
# interface; mvm's benchmark bundles set container=mvm). There is no VMM to
# signal, the runtime has mounted /proc, /dev and /sys and owns the host name
# and network, and PID 1 exiting is how a container stops with a status.
mvm_in_container() {
  [ -n "${container:-}" ]
}

# True inside an mvm guest: in PID 1 (the /init script) or in a process it
# started, which inherit MVM_GUEST=1. On a host, where someone sourced this
# file by hand, devmem would poke real physical memory and a reset would
# reboot the machine, so both refuse there.
mvm_in_guest() {
  ! mvm_in_container && { [ "$$" = 1 ] || [ "${MVM_GUEST:-}" = 1 ]; }
}

# Writes VALUE of WIDTH bits at physical ADDRESS (MVM_DEVMEM replaces busybox
# devmem in tests).
mvm_devmem() {
  if [ -n "${MVM_DEVMEM:-}" ]; then
    $MVM_DEVMEM "$@"
  elif mvm_in_guest; then
    devmem "$@"
  else
    echo "mvm-init: not in an mvm guest, refusing to write physical memory" >&2
    return 1
  fi
}

mvm_signal_boot_complete() {
  mvm_devmem "$MVM_SIGNAL_BOOT_ADDRESS" 8 "$MVM_BOOT_MAGIC"
}

# Prints STATUS if it is an exit status (0-255); anything else becomes 1 so
# a broken status still reads as failure.
mvm_exit_status() {
  case "$1" in
    '' | *[!0-9]*) echo 1; return ;;
  esac
  # Strip leading zeros: the shell's arithmetic would read 010 as octal.
  local digits="${1#"${1%%[!0]*}"}"
  if [ -z "$digits" ]; then
    echo 0
  elif [ "${#digits}" -le 3 ] && [ "$digits" -le 255 ]; then
    echo "$digits"
  else
    echo 1
  fi
}

# Asks the VMM to end the VM with STATUS. Returns only if no VMM listened.
mvm_request_power_off() {
  mvm_devmem "$MVM_SIGNAL_EXIT_ADDRESS" 32 "$(mvm_exit_status "$1")"
}

# Mounts the virtio-fs shares of the last mvm.shares=TAG:/PATH,TAG:/PATH word
# of a kernel command line (mvm run --share DIR,mount=/PATH), each at its
# PATH. A read-only share is enforced on the host; the guest mounts it as is.
mvm_mount_shares() {
  local word list="" entry tag dir
  set -f
  for word in $1; do
    case "$word" in
      mvm.shares=*) list=${word#mvm.shares=} ;;
    esac
  done
  set +f
  [ -n "$list" ] || return 0
  for entry in $(echo "$list" | tr ',' ' '); do
    tag=${entry%%:*}; dir=${entry#*:}
    mkdir -p "$dir" && mount -t virtiofs "$tag" "$dir" || echo "mvm-init: cannot mount the share $tag at $dir" >&2
  done
}

# Prints the base64 value of the last mvm.cmd= word of a kernel command line
# (the last one wins, as for kernel parameters); fails when there is none.
mvm_cmd_from_cmdline() {
  local word value found=1 glob_was_on=1
  # Split the line into words without expanding a stray * as a file pattern.
  case $- in *f*) glob_was_on=0 ;; esac
  set -f
  for word in $1; do
    case "$word" in
      mvm.cmd=*) value=${word#mvm.cmd=}; found=0 ;;
    esac
  done
  [ "$glob_was_on" = 1 ] && set +f
  [ "$found" = 0 ] && printf '%s\n' "$value"
}

# Prints the command that base64 VALUE encodes; fails (printing nothing) on
# anything that is not valid, padded base64 of a non-empty command.
mvm_decode_cmd() {
  case "$1" in
    '' | *[!A-Za-z0-9+/=]*) return 1 ;;
  esac
  [ $((${#1} % 4)) = 0 ] || return 1
  local decoded
  decoded=$(printf '%s' "$1" | base64 -d 2>/dev/null) || return 1
  [ -n "$decoded" ] || return 1
  printf '%s\n' "$decoded"
}

# Waits until everything written to the console has left the UART, so the
# VMM has all of the guest's output before it is told to stop. Re-applying
# the terminal's own settings does it: busybox stty sets them with TCSADRAIN.
# Only in a guest: a host's console is none of a test's business.
mvm_drain_console() {
  local settings
  mvm_in_guest || return 0
  settings=$(stty -F /dev/console -g 2>/dev/null) && stty -F /dev/console "$settings" 2>/dev/null
}

# Resets the machine through the kernel (MVM_RESET replaces it in tests); with
# `reboot=k` on the command line that is the i8042 reset, which VMMs treat as
# an exit.
mvm_reset() {
  if [ -n "${MVM_RESET:-}" ]; then
    $MVM_RESET
  elif mvm_in_guest; then
    busybox reboot -f
  else
    echo "mvm-init: not in an mvm guest, refusing to reset the machine" >&2
    return 1
  fi
}

# Prints the base64 command the session runs: in a container the runtime's
# MVM_CMD variable (there is no kernel command line of its own), in a VM the
# last mvm.cmd= word of /proc/cmdline; fails when there is none.
mvm_encoded_cmd() {
  if mvm_in_container; then
    [ -n "${MVM_CMD:-}" ] && printf '%s\n' "$MVM_CMD"
  else
    mvm_cmd_from_cmdline "$(cat /proc/cmdline)"
  fi
}

# Ends the VM with exit status STATUS: flush disks and the console, then ask
# the VMM. Returns (non-zero) only if neither the VMM nor the reset took it.
# In a container the shell exits with STATUS instead: the container's end.
mvm_power_off() {
  mvm_in_container && exit "$(mvm_exit_status "$1")"
  sync
  mvm_drain_console
  mvm_request_power_off "$1"
  # Still running: no VMM exit device (QEMU, say).
  echo "mvm-init: no power-off device answered (exit status $(mvm_exit_status "$1")); resetting" >&2
  mvm_reset
  return 1
}

# True when the VMM has asked the guest to shut down (the stop register reads
# 1). Anything else read - 0, a missing device's all-ones, garbage - is no.
mvm_stop_requested() {
  local value
  value=$(mvm_devmem "$MVM_SIGNAL_STOP_ADDRESS" 32) || return 1
  case "$value" in
    0x00000001 | 0x1 | 1) return 0 ;;
  esac
  return 1
}

# Shuts the guest down the way `poweroff` typed at the console does: busybox
# init runs its shutdown action (/lib/mvm/shutdown), which powers off with
# status 0. MVM_POWEROFF replaces it in tests.
mvm_request_shutdown() {
  if [ -n "${MVM_POWEROFF:-}" ]; then
    $MVM_POWEROFF
  elif mvm_in_guest; then
    poweroff
  else
    echo "mvm-init: not in an mvm guest, refusing to power the machine off" >&2
    return 1
  fi
}

# Started in the background by /init: polls the stop register and shuts the
# guest down once the host asks (POST /stop on the VM's API, mvm stop).
mvm_watch_stop_requests() {
  while ! mvm_stop_requested; do
    sleep "$MVM_STOP_POLL_SECONDS"
  done
  echo "mvm-init: the host asked the VM to stop; powering off"
  mvm_request_shutdown
}
