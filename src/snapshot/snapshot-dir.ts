// A snapshot on disk: a directory with the memory file and the state file.
// The memory goes first and the state file last, written under a temporary
// name, made durable and then renamed: a directory without a state file is
// an unfinished snapshot and is refused as one, never half restored.
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MAX_PAYLOAD_BYTES, HEADER_BYTES, decodeContainer, encodeContainer } from './container.js';
import { checkMemoryFile, writeMemoryFile, type MemoryFileWritten, type RamRegion } from './memory-file.js';
import { SnapshotError } from './snapshot-error.js';
import { parseSnapshotState, serializeSnapshotState, type SnapshotState } from './snapshot-state.js';

export const STATE_FILE = 'state.mvm';
const STATE_TEMP = 'state.mvm.partial';

export interface ReadSnapshot {
  readonly state: SnapshotState;
  readonly memoryPath: string;
}

/** Creates `dir` (or takes an empty one); refuses one that already holds files, so nothing is overwritten. */
function prepareDirectory(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new SnapshotError(`cannot create the snapshot directory ${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  if (!statSync(dir).isDirectory()) throw new SnapshotError(`${dir} is not a directory`);
  if (readdirSync(dir).length > 0) throw new SnapshotError(`${dir} is not empty: a snapshot goes into a new or empty directory`);
}

function fsyncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes a snapshot: `memory` (guest RAM, read while the VM is paused) and
 * `state` without its memory layout, which is filled in here. Everything is
 * on disk (fsync'd, directory included) when it returns.
 */
export function writeSnapshot(
  dir: string,
  state: Omit<SnapshotState, 'memory'>,
  memory: readonly RamRegion[],
  /** Writes the snapshot's other files (its disk layers) into the prepared directory, before the state file marks it whole. */
  writeMore?: (dir: string) => void,
): MemoryFileWritten {
  prepareDirectory(dir);
  const written = writeMemoryFile(join(dir, 'memory.bin'), memory);
  writeMore?.(dir);
  const full: SnapshotState = { ...state, memory: written.layout };
  const temp = join(dir, STATE_TEMP);
  const fd = openSync(temp, 'wx', 0o600);
  try {
    writeFileSync(fd, encodeContainer(serializeSnapshotState(full)));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, join(dir, STATE_FILE));
  fsyncDirectory(dir);
  return written;
}

/** Reads and checks a snapshot directory; throws SnapshotError (one line) for anything that is not a whole, intact mvm snapshot. */
export function readSnapshot(dir: string): ReadSnapshot {
  const path = join(dir, STATE_FILE);
  let size: number;
  try {
    size = statSync(path).size;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new SnapshotError(`${dir} holds no snapshot (no ${STATE_FILE}: not a snapshot, or one that was never finished)`);
    throw new SnapshotError(`cannot read ${path}: ${code ?? String(err)}`);
  }
  if (size > HEADER_BYTES + MAX_PAYLOAD_BYTES) throw new SnapshotError(`${path} is ${size} bytes, far larger than any snapshot state`);
  const state = parseSnapshotState(decodeContainer(readFileSync(path), path));
  const memoryPath = join(dir, state.memory.file);
  checkMemoryFile(memoryPath, state.memory);
  return { state, memoryPath };
}
