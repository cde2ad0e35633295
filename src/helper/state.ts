// The helper VM's record on the host: which QEMU process it is, the port its
// daemon is forwarded to, and where its logs are. Lives in the helper state
// directory (src/runtime/paths.ts) so every later mvm command finds and
// reuses the running helper.
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface HelperFiles {
  readonly dir: string;
  readonly state: string;
  readonly startLock: string;
  readonly token: string;
  readonly qemuLog: string;
  readonly consoleLog: string;
  readonly pidFile: string;
}

export function helperFiles(dir: string): HelperFiles {
  return {
    dir,
    state: join(dir, 'state.json'),
    startLock: join(dir, 'start.lock'),
    token: join(dir, 'token'),
    qemuLog: join(dir, 'qemu.log'),
    consoleLog: join(dir, 'console.log'),
    pidFile: join(dir, 'qemu.pid'),
  };
}

export interface HelperState {
  readonly pid: number;
  readonly hostPort: number;
  /** Milliseconds since the epoch when QEMU was started. */
  readonly startedAt: number;
  readonly cpus: number;
  readonly memoryMiB: number;
  readonly idleSeconds: number;
  /** The helper image's cache key (image.env), to notice a rebuilt image. */
  readonly imageKey: string;
  /** Host directories it mounts writable (undefined in a record from an mvm that did not keep them). */
  readonly writableShares?: readonly string[];
}

function isPositiveInteger(value: unknown, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value > 0 && value <= max;
}

/** The state file's JSON, or null when it is missing pieces or malformed. */
export function parseHelperState(text: string): HelperState | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const s = value as Record<string, unknown>;
  if (!isPositiveInteger(s.pid, 2 ** 31)) return null;
  if (!isPositiveInteger(s.hostPort, 65535)) return null;
  if (!isPositiveInteger(s.startedAt, Number.MAX_SAFE_INTEGER)) return null;
  if (!isPositiveInteger(s.cpus, 1024) || !isPositiveInteger(s.memoryMiB, 2 ** 30)) return null;
  if (typeof s.idleSeconds !== 'number' || !Number.isInteger(s.idleSeconds) || s.idleSeconds < 0) return null;
  if (typeof s.imageKey !== 'string') return null;
  const shares = s.writableShares;
  if (shares !== undefined && (!Array.isArray(shares) || !shares.every((p) => typeof p === 'string' && p.startsWith('/')))) return null;
  return {
    pid: s.pid,
    hostPort: s.hostPort,
    startedAt: s.startedAt,
    cpus: s.cpus,
    memoryMiB: s.memoryMiB,
    idleSeconds: s.idleSeconds,
    imageKey: s.imageKey,
    ...(shares !== undefined ? { writableShares: shares as string[] } : {}),
  };
}

export function readHelperState(files: HelperFiles): HelperState | null {
  try {
    return parseHelperState(readFileSync(files.state, 'utf8'));
  } catch {
    return null;
  }
}

/** Written to a temporary name and renamed, so readers never see half a file. */
export function writeHelperState(files: HelperFiles, state: HelperState): void {
  const temp = `${files.state}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  renameSync(temp, files.state);
}

export function removeHelperState(files: HelperFiles): void {
  rmSync(files.state, { force: true });
  rmSync(files.pidFile, { force: true });
}

/** The state letter in /proc/PID/stat (R, S, Z…), or null without /proc. */
function procState(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) S …": comm may hold spaces and parentheses, so look after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) || null;
  } catch {
    return null;
  }
}

/**
 * True when a process with this pid exists and has not exited. A zombie
 * (exited, not yet reaped by its parent — QEMU reparented to a container
 * init that never reaps, say) counts as gone.
 */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0); // signal 0 probes without sending
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return procState(pid) !== 'Z';
}

/**
 * True when `pid` is still the helper's QEMU: alive, and its command line
 * names this state directory (a recycled pid belongs to something else).
 */
export function isHelperProcess(pid: number, files: HelperFiles): boolean {
  if (!isProcessAlive(pid)) return false;
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes(files.pidFile);
  } catch {
    return false; // gone between the two checks, or no /proc
  }
}
