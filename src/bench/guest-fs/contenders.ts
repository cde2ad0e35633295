// The three contenders of the file-system benchmark, each booting the boot
// benchmark's kernel, initramfs, memory, vCPUs and command line
// (src/bench/boot/contenders.ts):
//   mvm-share   mvm with --share DIR (its own virtiofsd, started by mvm)
//   mvm-disk    mvm with an ext4 image as --disk IMAGE,persistent (virtio-blk)
//   qemu-share  QEMU microvm with a vhost-user-fs-device on a virtiofsd the
//               suite starts with mvm's arguments (virtiofsdArgs), on the same
//               folder; guest RAM is a shared memfd, as vhost-user needs.
import { mvmRunArgs, qemuMicrovmArgs, GUEST_MEMORY_MIB, type GuestFiles } from '../boot/contenders.js';

export type Contender = 'mvm-share' | 'mvm-disk' | 'qemu-share';
export const CONTENDERS: readonly Contender[] = ['mvm-share', 'mvm-disk', 'qemu-share'];
export const QEMU = 'qemu-system-x86_64';
/** The mount tag both VMMs give the share. */
export const SHARE_TAG = 'bench';
/** Ring size of QEMU's device: what mvm offers (src/devices/virtio/fs/device.ts). */
const QUEUE_SIZE = 1024;

/** The guest's mount command for each contender. */
export const MOUNT_COMMAND: Record<Contender, string> = {
  'mvm-share': `mount -t virtiofs ${SHARE_TAG} /bench`,
  'qemu-share': `mount -t virtiofs ${SHARE_TAG} /bench`,
  'mvm-disk': 'mount -t ext4 /dev/vda /bench',
};

function withRunOptions(files: GuestFiles, command: readonly string[], options: readonly string[]): string[] {
  const args = mvmRunArgs(files, command);
  const runAt = args.indexOf('run');
  if (runAt < 0) throw new Error('mvmRunArgs no longer names the run command; update the file-system benchmark');
  args.splice(runAt + 1, 0, ...options);
  return args;
}

export function mvmShareArgs(files: GuestFiles, command: readonly string[], directory: string): string[] {
  return withRunOptions(files, command, ['--share', `${directory},tag=${SHARE_TAG}`]);
}

export function mvmDiskArgs(files: GuestFiles, command: readonly string[], image: string): string[] {
  return withRunOptions(files, command, ['--disk', `${image},persistent`]);
}

/** qemu-system-x86_64 -M microvm … with the share on virtiofsd's socket. */
export function qemuShareArgs(files: GuestFiles, command: readonly string[], socketPath: string): string[] {
  if (socketPath.includes(',')) throw new Error(`QEMU's -chardev cannot name ${socketPath} (a comma in the path)`);
  return [
    ...qemuMicrovmArgs(files, command),
    '-object',
    `memory-backend-memfd,id=mem,size=${GUEST_MEMORY_MIB}M,share=on`,
    '-machine',
    'memory-backend=mem',
    // microvm's virtio-mmio is legacy (version 1) by default; virtiofsd serves only VIRTIO 1.x devices, and mvm's transport is version 2.
    '-global',
    'virtio-mmio.force-legacy=false',
    '-chardev',
    `socket,id=fs0,path=${socketPath}`,
    '-device',
    `vhost-user-fs-device,chardev=fs0,tag=${SHARE_TAG},queue-size=${QUEUE_SIZE}`,
  ];
}
