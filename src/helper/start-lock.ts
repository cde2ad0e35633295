// A lock file so that two mvm commands racing to start the helper VM start
// only one. The file is created exclusively (O_EXCL) and holds the owner's
// pid; a lock whose owner died (an mvm killed mid-start) is broken.
import { linkSync, openSync, readFileSync, renameSync, unlinkSync, writeSync, closeSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { UserError } from '../errors.js';
import { isProcessAlive } from './state.js';

/** How often a waiting command looks at the lock again. */
const POLL_MS = 100;

function readOwner(path: string): number | null {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

function tryCreate(path: string): boolean {
  try {
    const fd = openSync(path, 'wx', 0o600);
    try {
      writeSync(fd, `${process.pid}\n`);
    } finally {
      closeSync(fd);
    }
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

/**
 * Removes the lock at `path` if its owner is dead. The file is first renamed
 * aside (atomic), so two breakers cannot both delete a lock a third process
 * has just taken: whoever finds a live owner in the renamed file puts it back.
 */
function breakIfStale(path: string): void {
  const owner = readOwner(path);
  if (owner !== null && isProcessAlive(owner)) return;
  const aside = `${path}.stale.${process.pid}`;
  try {
    renameSync(path, aside);
  } catch {
    return; // already gone or broken by someone else
  }
  const movedOwner = readOwner(aside);
  if (movedOwner !== null && movedOwner !== owner && isProcessAlive(movedOwner)) {
    try {
      linkSync(aside, path); // give the live owner its lock back
    } catch {
      // Someone took the lock meanwhile; the live owner still finishes its work.
    }
  }
  try {
    unlinkSync(aside);
  } catch {
    // nothing left to clean
  }
}

/** Runs `fn` while holding the lock at `path`; waits up to `timeoutMs` for it. */
export async function withStartLock<T>(path: string, timeoutMs: number, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (!tryCreate(path)) {
    breakIfStale(path);
    if (Date.now() > deadline) {
      throw new UserError(`timed out waiting for another mvm to start the helper VM (lock ${path}, owner pid ${readOwner(path) ?? 'unknown'})`);
    }
    await sleep(POLL_MS);
  }
  try {
    return await fn();
  } finally {
    if (readOwner(path) === process.pid) {
      try {
        unlinkSync(path);
      } catch {
        // already removed
      }
    }
  }
}
