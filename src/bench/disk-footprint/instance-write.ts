// Making each instance write the same fixed amount, the way its own world
// writes it:
//   guest    (VM disks) boot the instance's disk as the root filesystem with
//            `mvm run --disk IMAGE,persistent` and have the guest write a file
//            of random bytes with dd, then sync: the ext4 metadata and journal
//            writes land in the image as they would in real use. On hosts
//            like PVM this boots inside the helper VM (a few seconds each).
//   backend  (VM disks) no boot: the same bytes written straight into the
//            image through mvm's disk layer (qcow2 or raw), at one offset.
//            Cheap, but it leaves out what a filesystem adds (specs use it).
//   Containers always write the file into their merged overlayfs directory.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openSync } from '../../disk/open.js';
import { MVM_CLI, describeFailure, timeProcess } from '../harness.js';

export type WriteVia = 'guest' | 'backend';

/** dd's block size in the guest: the write is a whole number of these. */
export const WRITE_UNIT_BYTES = 64 * 1024;
/** Printed by the guest after the write and sync, so a run that never got there is an error. */
const WROTE_MARKER = 'MVM-BENCH-DISK-WROTE';
/** The file each instance writes (in the guest's root, or the container's). */
const WRITTEN_FILE = 'bench-write';
/**
 * One boot and a 4 MiB write take seconds, but a cold helper VM on a machine
 * shared with other emulated VMs took over 3 minutes for the first one: only
 * a guest stuck for this long is killed.
 */
const GUEST_WRITE_LIMIT_MS = 600_000;
/** What `mvm run` says when a busy helper VM cannot take the request (it could not start a process for it). */
const HELPER_REFUSED = /the helper VM refused the request/;
/** Tries after such a refusal: a shared helper VM overloaded by other work recovers within seconds. */
const HELPER_REFUSAL_RETRIES = 2;
const HELPER_REFUSAL_PAUSE_MS = 5_000;
/** The kernel parameters that make the guest's root the disk (see images/build-rootdisk.sh). */
const ROOT_DISK_PARAMETERS = ['root=/dev/vda', 'rw', 'init=/init', 'devtmpfs.mount=0'];

/** The guest writes WRITE_BYTES of random data into /bench-write and syncs, inside a VM booted from IMAGE. */
export async function writeInGuest(image: string, bytes: number, kernel: string): Promise<void> {
  const script = `dd if=/dev/urandom of=/${WRITTEN_FILE} bs=${WRITE_UNIT_BYTES} count=${bytes / WRITE_UNIT_BYTES} 2>/dev/null && sync && echo ${WROTE_MARKER}`;
  const args = [MVM_CLI, 'run', '--kernel', kernel, '--initrd', '', '--disk', `${image},persistent`];
  for (const parameter of ROOT_DISK_PARAMETERS) args.push('--append', parameter);
  args.push('--', 'sh', '-c', script);
  for (let attempt = 0; ; attempt++) {
    const run = await timeProcess(process.execPath, args, { marker: WROTE_MARKER, limitMs: GUEST_WRITE_LIMIT_MS });
    if (run.status === 0 && run.markerMs !== undefined) return;
    // A refusal comes before the guest starts, so the image is untouched and the write can be tried again.
    if (attempt < HELPER_REFUSAL_RETRIES && HELPER_REFUSED.test(run.stderr)) {
      await new Promise((resolve) => setTimeout(resolve, HELPER_REFUSAL_PAUSE_MS));
      continue;
    }
    throw new Error(describeFailure(`the guest writing into ${image}`, run));
  }
}

/** Writes BYTES of random data into IMAGE through mvm's disk layer, in the second half of the disk (past the filesystem's data). */
export function writeThroughBackend(image: string, bytes: number): void {
  const disk = openSync(image, { readOnly: false });
  try {
    const offset = Math.floor(disk.size / 2 / WRITE_UNIT_BYTES) * WRITE_UNIT_BYTES;
    if (offset + bytes > disk.size) throw new Error(`${image}: a ${bytes}-byte write does not fit in the second half of the ${disk.size}-byte disk`);
    disk.writeSync(offset, randomBytes(bytes));
    disk.flushSync();
  } finally {
    disk.closeSync();
  }
}

/** Writes BYTES of random data as a file in the container's root (the merged dir), and makes it durable. */
export function writeInContainer(merged: string, bytes: number): void {
  const fd = fs.openSync(path.join(merged, WRITTEN_FILE), 'w');
  try {
    fs.writeSync(fd, randomBytes(bytes));
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
