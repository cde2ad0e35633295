// The drives of one microVM (DriveSettings, src/devices/settings.ts), by mode:
//   overlay          a fresh qcow2 copy-on-write overlay of the image in the VM's
//                    runtime directory; the guest writes go there and vanish
//                    with the VM, so many VMs can share one base image.
//   persistent       the guest writes to the image itself.
//   ro               read-only (the guest sees VIRTIO_BLK_F_RO).
// Disks are opened synchronously and closed synchronously at exit, because
// the VMM process ends with an immediate exit once the guest powers off.
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../../../errors.js';
import type { SyncDisk } from '../../../disk/backend.js';
import { lockVmDisk } from '../../../disk/image-lock.js';
import { openSync } from '../../../disk/open.js';
import { createOverlay } from '../../../disk/overlay.js';
import { ensurePrivateDir, runtimeRoot } from '../../../runtime/paths.js';
import type { DriveSettings } from '../../settings.js';
import { BLOCK_STATS_BYTES, VirtioBlock } from './device.js';

/** Guest drive names follow the slot order: vda, vdb, … (26 is plenty for a microVM). */
const DRIVE_LETTERS = 'abcdefghijklmnopqrstuvwxyz';

export class VmDrives {
  readonly devices: VirtioBlock[] = [];
  private readonly disks: SyncDisk[] = [];
  /** Each open drive's top image, in slot order, and whether the guest may write it (a snapshot freezes the writable ones). */
  readonly opened: { readonly disk: SyncDisk; readonly readOnly: boolean }[] = [];
  private scratchDir: string | undefined;

  /** Opens every drive; on any failure, closes what was opened and rethrows. */
  static open(specs: readonly DriveSettings[]): VmDrives {
    const drives = new VmDrives();
    // If the VM never starts (a bad kernel, say), the CLI exits normally: close and delete then too.
    // A running VM ends with an immediate exit instead, after its caller has called closeSync().
    process.once('exit', () => drives.closeSync());
    try {
      specs.forEach((spec, i) => {
        drives.add(spec, i);
      });
    } catch (err) {
      drives.closeSync();
      throw err;
    }
    return drives;
  }

  private add(spec: DriveSettings, index: number): void {
    const name = `vd${DRIVE_LETTERS[index] ?? index}`;
    let path = spec.path;
    if (spec.mode === 'overlay') {
      this.scratchDir ??= mkdtempSync(join(ensurePrivateDir(runtimeRoot()), 'vm-disks-'));
      path = join(this.scratchDir, `${name}.qcow2`);
      createOverlay(path, spec.path);
    }
    let disk: SyncDisk;
    try {
      disk = openSync(path, { readOnly: spec.mode === 'ro' });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM') {
        throw new UserError(
          `${spec.path}: cannot open for writing (${code}); attach it read-only or through an overlay${process.env['MVM_IN_HELPER'] ? ' (inside the helper VM only shared directories are writable)' : ''}`,
        );
      }
      throw err;
    }
    try {
      lockVmDisk(disk);
    } catch (err) {
      disk.closeSync();
      throw err;
    }
    this.disks.push(disk);
    this.opened.push({ disk, readOnly: spec.mode === 'ro' });
    // The synchronous form too: requests complete inline, one interrupt per drain, on whichever thread serves the queue.
    this.devices.push(new VirtioBlock(disk, `mvm-${name}`, { counters: new SharedArrayBuffer(BLOCK_STATS_BYTES) }));
  }

  /** Closes every disk (making it consistent on the host) and deletes the overlays. Never throws. */
  closeSync(): string[] {
    const problems: string[] = [];
    this.opened.splice(0);
    for (const disk of this.disks.splice(0)) {
      try {
        disk.closeSync();
      } catch (err) {
        problems.push(`closing ${disk.path}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    if (this.scratchDir) rmSync(this.scratchDir, { recursive: true, force: true });
    this.scratchDir = undefined;
    return problems;
  }
}
