// The two VMMs the boot benchmark compares, booting the same kernel,
// initramfs, memory, vCPU count and kernel command line, and running the same
// command in the guest: mvm (`mvm run`) and QEMU's microvm machine.
import { DEFAULT_BOOT_ARGS, commandParameter } from '../../vmm/default-cmdline.js';
import { MVM_CLI } from '../harness.js';

/** What the guest prints once its init has run the command: the "guest reached userspace" event both VMMs are timed to. */
export const BENCH_MARKER = 'mvm-bench-marker';
/** The boot benchmark's guest command: the marker, then the instance stops. */
export const MARKER_COMMAND: readonly string[] = ['echo', BENCH_MARKER];
/** An idle instance's sleep: far longer than any benchmark keeps one. */
const IDLE_SECONDS = 86_400;
/** An idle instance (memory, density): the marker, then nothing but a sleep. */
export const IDLE_COMMAND: readonly string[] = ['sh', '-c', `echo ${BENCH_MARKER}; exec sleep ${IDLE_SECONDS}`];
export const GUEST_MEMORY_MIB = 256;
export const GUEST_CPUS = 1;

/**
 * mvm's own command line with one change, used for both VMMs: QEMU microvm
 * has no i8042, so the init's fallback reset (it has no guest-signal device
 * there) must be a triple fault (reboot=t), which -no-reboot turns into QEMU
 * exiting. mvm never takes that path: its init powers off through the
 * guest-signal device.
 */
export const BENCH_BOOT_ARGS = (() => {
  const args = DEFAULT_BOOT_ARGS.replace(/\breboot=k\b/, 'reboot=t');
  if (args === DEFAULT_BOOT_ARGS) throw new Error('the default kernel command line no longer has reboot=k; update the boot benchmark');
  return args;
})();

export interface GuestFiles {
  kernel: string;
  initrd: string;
}

/** `node mvm run …` as a user types it, with --timing for mvm's own breakdown. */
export function mvmRunArgs(files: GuestFiles, command: readonly string[] = MARKER_COMMAND): string[] {
  return [
    MVM_CLI,
    'run',
    '--timing',
    '--kernel',
    files.kernel,
    '--initrd',
    files.initrd,
    '--memory',
    `${GUEST_MEMORY_MIB}M`,
    '--cpus',
    String(GUEST_CPUS),
    '--boot-args',
    BENCH_BOOT_ARGS,
    '--',
    ...command,
  ];
}

/** The full kernel command line mvm builds from mvmRunArgs (the same words, the command encoded last). */
export function benchCmdline(command: readonly string[] = MARKER_COMMAND): string {
  return `${BENCH_BOOT_ARGS} ${commandParameter(command)}`;
}

/** qemu-system-x86_64 -M microvm on KVM, serial console on stdout, exiting at the guest's reset. */
export function qemuMicrovmArgs(files: GuestFiles, command: readonly string[] = MARKER_COMMAND): string[] {
  return [
    '-M',
    'microvm,acpi=off',
    '-accel',
    'kvm',
    '-cpu',
    'host',
    '-smp',
    String(GUEST_CPUS),
    '-m',
    String(GUEST_MEMORY_MIB),
    '-nodefaults',
    '-no-user-config',
    '-display',
    'none',
    '-monitor',
    'none',
    '-serial',
    'stdio',
    '-no-reboot',
    '-kernel',
    files.kernel,
    '-initrd',
    files.initrd,
    '-append',
    benchCmdline(command),
  ];
}

/** mvm's --timing line, split up; a field it did not print stays undefined. */
export interface MvmTiming {
  /** Action start → the guest's boot-complete signal. */
  bootToUserspaceMs?: number;
  /** Action start → first KVM_RUN: the VMM's own share. */
  vmmSetupMs?: number;
  /** First KVM_RUN → boot-complete. */
  kernelInitMs?: number;
  /** Action start → VM stopped. */
  ranMs?: number;
}

export function parseMvmTiming(stderr: string): MvmTiming {
  const field = (pattern: RegExp): number | undefined => {
    const m = pattern.exec(stderr);
    return m ? Number(m[1]) : undefined;
  };
  const timing: MvmTiming = {};
  const entries: Array<[keyof MvmTiming, RegExp]> = [
    ['bootToUserspaceMs', /boot to userspace (\d+(?:\.\d+)?) ms/],
    ['vmmSetupMs', /VMM setup (\d+(?:\.\d+)?) ms/],
    ['kernelInitMs', /kernel \+ init (\d+(?:\.\d+)?) ms/],
    ['ranMs', /; ran (\d+(?:\.\d+)?) ms/],
  ];
  for (const [key, pattern] of entries) {
    const value = field(pattern);
    if (value !== undefined) timing[key] = value;
  }
  return timing;
}
