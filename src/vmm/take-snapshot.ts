// Taking a snapshot of a running machine: pause it (vCPUs parked, device I/O
// drained), write its state and RAM to a directory and make them durable,
// then let it run again unless it is to stop. A failure to write resumes the
// machine all the same: a snapshot that could not be taken costs the VM nothing.
import { writeSnapshot } from '../snapshot/snapshot-dir.js';
import { freezeDisks, type OpenDrive } from './freeze-disks.js';
import type { Machine } from './machine.js';

export interface SnapshotTaken {
  readonly dir: string;
  /** Bytes of guest RAM written (non-zero pages) and what the memory file occupies on disk. */
  readonly memoryDataBytes: number;
  readonly memoryAllocatedBytes: number;
  /** From the pause to the files being durable, and to the VM running again (0 when it stays paused). */
  readonly pausedToDurableMs: number;
  readonly pausedToResumedMs: number;
}

/** `launch`: how the VM's devices were set up (src/vmm/snapshot-launch.ts), so a restore can set them up again. */
export async function takeSnapshot(
  machine: Machine,
  dir: string,
  options: { resume: boolean; launch?: Readonly<Record<string, unknown>>; drives?: readonly OpenDrive[] },
): Promise<SnapshotTaken> {
  const started = performance.now();
  await machine.pause();
  let written: ReturnType<typeof writeSnapshot>;
  try {
    written = writeSnapshot(dir, { ...machine.captureState(), launch: options.launch ?? {} }, machine.memory.regionList, (into) =>
      freezeDisks(options.drives ?? [], into),
    );
  } catch (err) {
    if (options.resume) machine.resume();
    throw err;
  }
  const durableAt = performance.now();
  if (options.resume) machine.resume();
  return {
    dir,
    memoryDataBytes: written.dataBytes,
    memoryAllocatedBytes: written.allocatedBytes,
    pausedToDurableMs: durableAt - started,
    pausedToResumedMs: options.resume ? performance.now() - started : 0,
  };
}
