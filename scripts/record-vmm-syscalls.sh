#!/usr/bin/env bash
# Records the system calls mvm's VMM makes, for the seccomp allow-list in
# src/vmm/jail/syscall-allow-list.ts (`make seccomp-record`). The VMM runs
# unjailed under `strace -f` inside the helper VM (or on this host when its
# KVM runs Linux guests) through the workloads the e2e specs exercise: a
# foreground run with a command, a detached VM that is listed, inspected and
# stopped. Prints every syscall and ioctl request seen, and which of them the
# checked-in list lacks; exits non-zero when it lacks any.
#
# Usage: scripts/record-vmm-syscalls.sh [OUTDIR]   (default images/out/seccomp)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$(realpath -m "${1:-$ROOT/images/out/seccomp}")
RUN_DIR=${MVM_RUN_DIR:-/tmp/mvm-seccomp-record}
export MVM_RUN_DIR=$RUN_DIR
MVM="node $ROOT/dist/bundle/mvm.js"
LIST="$ROOT/src/vmm/jail/syscall-allow-list.ts"
mkdir -p "$OUT" "$RUN_DIR"
TRACES="$RUN_DIR/seccomp-traces"
rm -rf "$TRACES"; mkdir -p "$TRACES"

# Where KVM can run Linux guests: here, or inside the helper VM.
in_vm_host() {
  if [ -c /dev/kvm ] && [ "${MVM_HELPER:-auto}" != always ]; then "$@"; else $MVM helper exec -- "$@"; fi
}
STRACE=$(command -v strace) || { echo "record-vmm-syscalls: strace is missing (apt-get install strace)" >&2; exit 1; }
NODE=$(command -v node)
# Recorded unjailed: a jailed VMM would die at the first call the list lacks.
NO_JAIL=${NO_JAIL---no-jail}

echo "record-vmm-syscalls: foreground run with a command" >&2
in_vm_host env MVM_RUN_DIR="$RUN_DIR" "$STRACE" -f -qq -o "$TRACES/foreground" \
  "$NODE" "$ROOT/dist/bundle/mvm.js" run $NO_JAIL --disk "$ROOT/images/out/rootfs.qcow2" -- sh -c 'echo hello >/tmp/f; cat /tmp/f' >/dev/null
echo "record-vmm-syscalls: detached run, ps, inspect, stop" >&2
# strace follows the detached VMM and ends with it: run it in the background,
# drive the VM once it has booted, and wait for the trace to end after the stop.
in_vm_host env MVM_RUN_DIR="$RUN_DIR" sh -c "
  mvm() { '$NODE' '$ROOT/dist/bundle/mvm.js' \"\$@\"; }
  '$STRACE' -f -qq -o '$TRACES/detached' '$NODE' '$ROOT/dist/bundle/mvm.js' run $NO_JAIL -d --name seccomp-rec >/dev/null &
  tries=0; until mvm ps 2>/dev/null | grep -q '^seccomp-rec  *running'; do sleep 1; tries=\$((tries+1)); [ \$tries -lt 300 ] || exit 1; done
  mvm ps >/dev/null; mvm inspect seccomp-rec >/dev/null; mvm stop seccomp-rec >/dev/null; wait; mvm rm seccomp-rec >/dev/null || true"

# strace lines: "PID name(args) = ret"; resumed calls carry the name in "<... name resumed>".
cat "$TRACES"/* | sed -nE 's/^[0-9]+ +([a-z_0-9]+)\(.*/\1/p; s/^[0-9]+ +<\.\.\. ([a-z_0-9]+) resumed>.*/\1/p' |
  sort | uniq -c | sort -rn >"$OUT/syscalls.txt"
cat "$TRACES"/* | sed -nE 's/^[0-9]+ +ioctl\([0-9]+, ([A-Za-z_0-9]+|_IOC\([^)]*\)|0x[0-9a-f]+).*/\1/p' |
  sort | uniq -c | sort -rn >"$OUT/ioctls.txt"
echo "record-vmm-syscalls: $(wc -l <"$OUT/syscalls.txt") distinct syscalls, $(wc -l <"$OUT/ioctls.txt") distinct ioctl requests (in $OUT)" >&2
# Made before the filter goes on (process start, assembly, the jail's own
# set-up), or by the traced `mvm run` CLI rather than the VMM: not wanted after it.
BEFORE_LOCK_DOWN=" execve arch_prctl setsid mount umount2 pivot_root chdir chown setgroups setgid setuid "
missing=0
while read -r _ name; do
  case "$BEFORE_LOCK_DOWN" in *" $name "*) continue ;; esac
  [ "$name" != ioctl ] || continue   # allowed per request (VMM_IOCTL_GROUPS); the requests seen are in ioctls.txt
  grep -q "'$name'" "$LIST" || { echo "not in the allow-list: $name"; missing=1; }
done <"$OUT/syscalls.txt"
exit $missing
