// The sides every comparison runs, in table order: mvm, mvm restoring a
// template snapshot, QEMU microvm, runc.
import type { GuestFiles } from '../boot/contenders.js';
import { mvmSide } from './mvm.js';
import { mvmRestoreSide } from './mvm-restore.js';
import { qemuSide } from './qemu.js';
import { runcSide } from './runc.js';
import type { BenchSide } from './side.js';

export type { BenchInstance, BenchSide, InstanceExit, SideName, StartOptions, Workload } from './side.js';

export function allSides(files: GuestFiles): BenchSide[] {
  return [mvmSide(files), mvmRestoreSide(files), qemuSide(files), runcSide(files)];
}

/** The sides that can run here, and one line for each that cannot. */
export async function availableSides(
  sides: readonly BenchSide[],
): Promise<{ ready: BenchSide[]; skipped: Array<{ side: BenchSide; reason: string }> }> {
  const ready: BenchSide[] = [];
  const skipped: Array<{ side: BenchSide; reason: string }> = [];
  for (const side of sides) {
    const reason = await side.unavailable();
    if (reason === null) ready.push(side);
    else skipped.push({ side, reason });
  }
  return { ready, skipped };
}
