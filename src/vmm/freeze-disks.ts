// A snapshot's disks. While the VM is paused (its block queues drained), each
// writable drive's top image — the overlay that took the guest's writes, or
// the image itself when it is persistent — is flushed and copied into the
// snapshot directory as a read-only layer (a reflink where the filesystem
// offers one, a copy otherwise). The copy, not the running VM's file, is what
// the snapshot holds: the VM goes on writing its own file when it resumes and
// the frozen layer never changes. A qcow2 layer keeps its backing file, which
// must stay where it is (the base image is only ever read). Read-only drives
// are not copied: the snapshot names them, and a restore opens them again.
import {
  chmodSync,
  closeSync,
  constants,
  copyFileSync,
  fsyncSync,
  ftruncateSync,
  fstatSync,
  openSync as openFile,
  readSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { SyncDisk } from '../disk/backend.js';
import { Qcow2Image } from '../disk/qcow2/image.js';
import { RawDisk } from '../disk/raw.js';
import { SnapshotError } from '../snapshot/snapshot-error.js';

/** One drive in a snapshot's launch record: a frozen layer file inside the snapshot, or a read-only image outside it. */
export type SnapshotDrive = { readonly layer: string } | { readonly readOnlyPath: string };

export interface OpenDrive {
  readonly disk: SyncDisk;
  readonly readOnly: boolean;
}

/** The launch record's drives for `drives`, in slot order (known before anything is copied). */
export function snapshotDrives(drives: readonly OpenDrive[]): SnapshotDrive[] {
  return drives.map((d, i) => (d.readOnly ? { readOnlyPath: d.disk.path } : { layer: `disk-${i}.${d.disk.format}` }));
}

/** Copies each writable drive's top image into `dir` as its frozen layer; the VM must be paused. Throws SnapshotError. */
export function freezeDisks(drives: readonly OpenDrive[], dir: string): void {
  snapshotDrives(drives).forEach((entry, i) => {
    if (!('layer' in entry)) return;
    const disk = drives[i]!.disk;
    const target = join(dir, entry.layer);
    try {
      disk.flushSync();
      copyTopImage(disk, target);
      chmodSync(target, 0o444);
      const fd = openFile(target, 'r');
      try {
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    } catch (err) {
      rmSync(target, { force: true });
      throw new SnapshotError(`cannot freeze disk ${disk.path} into ${target}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    checkAbsoluteBacking(disk, target);
  });
}

/** Errors that say the image's path cannot be reached from here (a jailed VMM sees only its own directory), not that the copy failed. */
const UNREACHABLE = new Set(['ENOENT', 'EACCES', 'EPERM']);
/** Chunk of the descriptor copy; an all-zero chunk is skipped, so the layer stays sparse where the image was. */
const COPY_CHUNK_BYTES = 1 << 20;

/**
 * By path first (a reflink where the filesystem has them); when the path is
 * out of reach — a jailed VMM's mount namespace holds only its VM directory —
 * from the descriptor the VMM opened before it was confined.
 */
function copyTopImage(disk: SyncDisk, target: string): void {
  try {
    copyFileSync(disk.path, target, constants.COPYFILE_FICLONE);
    return;
  } catch (err) {
    const fd = openDescriptor(disk);
    if (fd === undefined || !UNREACHABLE.has((err as NodeJS.ErrnoException).code ?? '')) throw err;
    rmSync(target, { force: true });
    copyFromDescriptor(fd, target);
  }
}

function openDescriptor(disk: SyncDisk): number | undefined {
  if (disk instanceof Qcow2Image) return disk.file.fd;
  if (disk instanceof RawDisk) return disk.fileDescriptor;
  return undefined;
}

function copyFromDescriptor(source: number, target: string): void {
  const length = fstatSync(source).size;
  const out = openFile(target, 'wx', 0o600);
  try {
    const chunk = Buffer.alloc(COPY_CHUNK_BYTES);
    const zeros = Buffer.alloc(COPY_CHUNK_BYTES);
    for (let offset = 0; offset < length; ) {
      const want = Math.min(chunk.length, length - offset);
      const got = readSync(source, chunk, 0, want, offset);
      if (got <= 0) throw new Error(`short read at ${offset} of ${length} bytes`);
      const data = chunk.subarray(0, got);
      if (!data.equals(zeros.subarray(0, got))) writeSync(out, data, 0, got, offset);
      offset += got;
    }
    ftruncateSync(out, length);
  } finally {
    closeSync(out);
  }
}

/**
 * A backing file named relative to its image would resolve elsewhere from the
 * snapshot directory: refused. The layer is a byte copy, so the live image's
 * header names the same backing file; nothing outside the VM needs opening.
 */
function checkAbsoluteBacking(disk: SyncDisk, layer: string): void {
  const name = disk instanceof Qcow2Image ? disk.header.backingFile : undefined;
  if (name === undefined || isAbsolute(name)) return;
  rmSync(layer, { force: true });
  throw new SnapshotError(
    `disk ${disk.path} names its backing file relative to itself, which does not resolve from the snapshot directory; rebase it onto an absolute path first`,
  );
}
