// The mvm side: `mvm run` of this build as a fresh foreground process, exactly
// as the boot benchmark always ran it (contenders.ts: same kernel, initramfs,
// memory, vCPUs and command line as QEMU), with --timing so the boot
// benchmark can break its boot down. Stopped with SIGTERM, which mvm run
// answers by stopping the VM.
import { GUEST_MEMORY_MIB, IDLE_COMMAND, MARKER_COMMAND, mvmRunArgs, type GuestFiles } from '../boot/contenders.js';
import { guestBootUnavailable } from './guest-files.js';
import { startProcessInstance } from './process-instance.js';
import type { BenchSide } from './side.js';

const MiB = 1024 * 1024;

export function mvmSide(files: GuestFiles): BenchSide {
  return {
    name: 'mvm',
    label: 'mvm',
    unavailable: async () => guestBootUnavailable(files),
    start: (id, options) =>
      startProcessInstance({
        side: 'mvm',
        id,
        command: process.execPath,
        args: mvmRunArgs(files, options.workload === 'idle' ? IDLE_COMMAND : MARKER_COMMAND),
        vmmGuestMemoryBytes: GUEST_MEMORY_MIB * MiB,
      }),
  };
}
