// The QEMU side: qemu-system-x86_64 -M microvm on KVM with the same kernel,
// initramfs, memory, vCPUs and kernel command line as mvm (contenders.ts),
// serial console on stdout. Stopped with SIGTERM, which QEMU answers by
// quitting.
import { spawnSync } from 'node:child_process';
import { GUEST_MEMORY_MIB, IDLE_COMMAND, MARKER_COMMAND, qemuMicrovmArgs, type GuestFiles } from '../boot/contenders.js';
import { guestBootUnavailable } from './guest-files.js';
import { startProcessInstance } from './process-instance.js';
import type { BenchSide } from './side.js';

export const QEMU = 'qemu-system-x86_64';
const MiB = 1024 * 1024;

export function qemuSide(files: GuestFiles): BenchSide {
  return {
    name: 'qemu',
    label: 'QEMU microvm',
    unavailable: async () => {
      const probe = spawnSync(QEMU, ['--version'], { stdio: 'ignore' });
      if (probe.error || probe.status !== 0) return `${QEMU} is not installed (Debian package qemu-system-x86)`;
      return guestBootUnavailable(files);
    },
    start: (id, options) =>
      startProcessInstance({
        side: 'qemu',
        id,
        command: QEMU,
        args: qemuMicrovmArgs(files, options.workload === 'idle' ? IDLE_COMMAND : MARKER_COMMAND),
        vmmGuestMemoryBytes: GUEST_MEMORY_MIB * MiB,
      }),
  };
}
