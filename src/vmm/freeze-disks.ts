// A snapshot's disks. While the VM is paused (its block queues drained), each
// writable drive's top image — the overlay that took the guest's writes, or
// the image itself when it is persistent — is flushed and copied into the
// snapshot directory as a read-only layer (a reflink where the filesystem
// offers one, a copy otherwise). The copy, not the running VM's file, is what
// the snapshot holds: the VM goes on writing its own file when it resumes and
// the frozen layer never changes. A qcow2 layer keeps its backing file, which
// must stay where it is (the base image is only ever read). Read-only drives
// are not copied: the snapshot names them, and a restore opens them again.
import { chmodSync, closeSync, constants, copyFileSync, fsyncSync, openSync as openFile, realpathSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { SyncDisk } from '../disk/backend.js';
import { openSync } from '../disk/open.js';
import { Qcow2Image } from '../disk/qcow2/image.js';
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
      copyFileSync(disk.path, target, constants.COPYFILE_FICLONE);
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
    checkSameBacking(disk, target);
  });
}

/** A backing file named relative to its image would resolve elsewhere from the snapshot directory: refused. */
function checkSameBacking(disk: SyncDisk, layer: string): void {
  if (!(disk instanceof Qcow2Image) || !disk.backing) return;
  let copy: SyncDisk | undefined;
  let same = false;
  try {
    copy = openSync(layer, { readOnly: true });
    const backing = copy instanceof Qcow2Image ? copy.backing : undefined;
    same = backing !== undefined && realpathSync(backing.path) === realpathSync(disk.backing.path);
  } catch {
    same = false;
  } finally {
    copy?.closeSync();
  }
  if (!same) {
    rmSync(layer, { force: true });
    throw new SnapshotError(
      `disk ${disk.path} names its backing file relative to itself, which does not resolve from the snapshot directory; rebase it onto an absolute path first`,
    );
  }
}
