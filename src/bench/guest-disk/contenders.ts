// The two VMMs of the in-guest disk benchmark, each booting the boot
// benchmark's kernel, initramfs, memory, vCPU count and command line
// (src/bench/boot/contenders.ts) with one virtio-blk disk on the same image
// file, written in place: mvm with --disk IMAGE,persistent (no throw-away
// overlay: QEMU has none either), QEMU microvm with a virtio-blk-device
// (virtio-mmio) on a -drive of the image's format, QEMU's default cache mode
// (writeback through the host page cache, as mvm's backend does).
import { mvmRunArgs, qemuMicrovmArgs, type GuestFiles } from '../boot/contenders.js';

export type ImageFormat = 'raw' | 'qcow2';
export const IMAGE_FORMATS: readonly ImageFormat[] = ['raw', 'qcow2'];
export type Vmm = 'mvm' | 'qemu';
export const VMMS: readonly Vmm[] = ['mvm', 'qemu'];
export const QEMU = 'qemu-system-x86_64';

export interface DiskRun {
  files: GuestFiles;
  image: string;
  format: ImageFormat;
  command: readonly string[];
}

/** `node mvm run … --disk IMAGE,persistent -- COMMAND`: the boot benchmark's mvm run with the disk added. */
export function mvmDiskArgs(run: DiskRun): string[] {
  const args = mvmRunArgs(run.files, run.command);
  const runAt = args.indexOf('run');
  if (runAt < 0) throw new Error('mvmRunArgs no longer names the run command; update the disk benchmark');
  // mvm probes the format itself (raw or qcow2 header).
  args.splice(runAt + 1, 0, '--disk', `${run.image},persistent`);
  return args;
}

/** qemu-system-x86_64 -M microvm … with the image as a virtio-blk-device; microvm announces it on the kernel command line. */
export function qemuDiskArgs(run: DiskRun): string[] {
  // -drive splits its value at commas; the suite's own temporary paths never have one.
  if (run.image.includes(',')) throw new Error(`QEMU's -drive cannot name ${run.image} (a comma in the path)`);
  return [
    ...qemuMicrovmArgs(run.files, run.command),
    '-drive',
    `id=disk0,if=none,format=${run.format},file=${run.image}`,
    '-device',
    'virtio-blk-device,drive=disk0',
  ];
}
