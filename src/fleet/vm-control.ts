// Stopping, killing and removing a detached VM from the host side: through its
// API socket (vms/<name>/api.sock, the same on every host), falling back to
// signals when the VMM is a process on this machine whose API does not answer.
import { readdirSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { apiCall, ApiUnreachable, type ApiResponse } from '../api/client.js';
import { API_PATHS, type ApiError, type SnapshotTakenInfo } from '../api/schema.js';
import { UserError } from '../errors.js';
import { insideHelper } from '../helper/host-kvm.js';
import type { PathEnv } from '../runtime/paths.js';
import { apiSocketPath, isFinalShownState, processExists, shownState, type ShownState } from './liveness.js';
import { readVm, type VmEntry } from './registry.js';
import { checkSnapshotTarget, moveStagedSnapshot, stagedSnapshotDir } from './snapshot-staging.js';
import { VM_FILES } from './vm-dir.js';
import type { VmDriveRecord, VmStatus } from './vm-status.js';

/** How often the waits below re-read state.json (and probe the VMM). */
export const STATE_POLL_MS = 200;
/**
 * Beyond the graceful-stop timeout, how long `mvm stop` waits for the VMM to
 * force the VM off and write its final state (the VMM is slow under the
 * helper VM's emulation).
 */
export const STOP_MARGIN_MS = 30_000;
/** How long `mvm kill` and `mvm rm -f` wait for a killed VMM to write its final state or vanish. */
export const KILL_WAIT_MS = 30_000;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function describeShown(shown: ShownState): string {
  return shown.reason ? `${shown.state}: ${shown.reason}` : shown.state;
}

/** Polls until the VM is exited, failed or dead; a UserError after `limitMs`. */
export async function waitUntilFinal(name: string, limitMs: number, env: PathEnv = process.env): Promise<ShownState> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const shown = await shownState(readVm(name, env));
    if (isFinalShownState(shown.state)) return shown;
    if (Date.now() >= deadline) {
      throw new UserError(`VM ${name} did not stop within ${Math.round(limitMs / 1000)} s (still ${describeShown(shown)}); try mvm kill ${name}`);
    }
    await sleep(STATE_POLL_MS);
  }
}

/** True when `pid` looks like a process of this VM (its command line names the VM), so a recycled pid is never signalled. */
function isVmProcess(pid: number, name: string): boolean {
  if (!processExists(pid)) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      .split('\0')
      .some((arg) => arg.includes(name));
  } catch {
    // No /proc (or not ours to read): the pid check is all there is.
    return true;
  }
}

/** The VMM's pid when it is a process this host can signal (not one inside the helper VM). */
function signallableVmmPid(entry: VmEntry, status: VmStatus): number | null {
  const local = status.where === 'host' || insideHelper();
  return local && isVmProcess(status.pid, entry.name) ? status.pid : null;
}

async function postOrNull<T>(entry: VmEntry, path: string, body?: unknown): Promise<ApiResponse<T | ApiError> | null> {
  try {
    return await apiCall<T | ApiError>(apiSocketPath(entry), 'POST', path, body);
  } catch (err) {
    if (err instanceof ApiUnreachable) return null;
    throw err;
  }
}

function refusal(entry: VmEntry, what: string, response: ApiResponse<unknown>): UserError {
  const body = response.body as Partial<ApiError> | null;
  const detail = body && typeof body.error === 'string' ? body.error : `HTTP ${response.status}`;
  return new UserError(`cannot ${what} VM ${entry.name}: ${detail}`);
}

/**
 * Asks the guest to power off (POST /stop; SIGTERM when only the process can
 * be reached) and waits until the VM is over. A VM already over is left as is.
 */
export async function stopVm(entry: VmEntry, timeoutMs: number, env: PathEnv = process.env): Promise<ShownState> {
  const shown = await shownState(entry);
  if (isFinalShownState(shown.state)) return shown;
  const status = entry.status;
  if (status === null) throw new UserError(`VM ${entry.name} is still being created (no VMM yet); try again, or mvm rm -f ${entry.name}`);
  // A stop already under way has its own timeout: wait for it rather than ask twice.
  if (shown.state === 'stopping') return waitUntilFinal(entry.name, timeoutMs + STOP_MARGIN_MS, env);
  const response = await postOrNull(entry, API_PATHS.stop, { timeoutMs });
  if (response === null) {
    // SIGTERM is a graceful stop for the VMM too (see the fleet design).
    const pid = signallableVmmPid(entry, status);
    if (pid !== null) process.kill(pid, 'SIGTERM');
  } else if (response.status >= 300) {
    throw refusal(entry, 'stop', response);
  }
  return waitUntilFinal(entry.name, timeoutMs + STOP_MARGIN_MS, env);
}

/** Stops the VM at once (POST /kill; SIGKILL when only the process can be reached) and waits until it is over. */
export async function killVm(entry: VmEntry, env: PathEnv = process.env): Promise<ShownState> {
  const shown = await shownState(entry);
  if (isFinalShownState(shown.state)) throw new UserError(`VM ${entry.name} is not running (${describeShown(shown)})`);
  const status = entry.status;
  if (status === null) throw new UserError(`VM ${entry.name} is still being created (no VMM yet); try again, or mvm rm -f ${entry.name}`);
  const response = await postOrNull(entry, API_PATHS.kill);
  if (response === null) {
    const pid = signallableVmmPid(entry, status);
    if (pid === null) {
      throw new UserError(`cannot kill VM ${entry.name}: its API socket does not answer and its VMM is not a process on this host`);
    }
    process.kill(pid, 'SIGKILL');
  } else if (response.status >= 300) {
    throw refusal(entry, 'kill', response);
  }
  return waitUntilFinal(entry.name, KILL_WAIT_MS, env);
}

/** Ends a leftover host relay (relay.pid) of a VM that ran in the helper VM. */
export function stopRelay(entry: VmEntry): void {
  let pid: number;
  try {
    pid = Number.parseInt(readFileSync(join(entry.dir, VM_FILES.relayPid), 'utf8').trim(), 10);
  } catch {
    return;
  }
  if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && isVmProcess(pid, entry.name)) {
    process.kill(pid, 'SIGTERM');
  }
}

function realOrResolved(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return resolve(path);
  }
}

/** vm.json's drives, skipping any entry that is not shaped like one (the file may have been edited or damaged). */
function wellFormedDrives(entry: VmEntry): VmDriveRecord[] {
  const drives: unknown = entry.record?.drives;
  if (!Array.isArray(drives)) return [];
  return drives.filter(
    (d): d is VmDriveRecord =>
      typeof d === 'object' && d !== null && typeof d.path === 'string' && (d.overlay === undefined || typeof d.overlay === 'string'),
  );
}

/**
 * Deletes the VM's directory, and with it the throw-away overlays `mvm run -d`
 * creates there. Nothing outside the directory is touched, whatever vm.json
 * says (so a damaged vm.json cannot make rm delete other files). A disk the
 * user attached persistent or read-only is never deleted, even if it lies
 * inside the directory (then that file and the directory stay, and are returned).
 */
export function removeVmFiles(entry: VmEntry): string[] {
  const drives = wellFormedDrives(entry);
  // Any mode but overlay (persistent, ro, or one this version does not know) is the user's disk.
  const kept = new Set(drives.filter((d) => d.mode !== 'overlay').map((d) => realOrResolved(d.path)));
  const left: string[] = [];
  let names: string[] = [];
  try {
    names = readdirSync(entry.dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  for (const name of names) {
    const path = join(entry.dir, name);
    const real = realOrResolved(path);
    if ([...kept].some((disk) => disk === real || disk.startsWith(`${real}/`))) left.push(path);
    // rmSync removes a symbolic link itself, never what it points to.
    else rmSync(path, { recursive: true, force: true });
  }
  if (left.length === 0) rmSync(entry.dir, { recursive: true, force: true });
  return left;
}

/** A snapshot may take a while under the helper VM's emulation: writing RAM, then fsync. */
export const SNAPSHOT_TIMEOUT_MS = 10 * 60_000;

/** Asks the VMM to write a snapshot of the running VM to `dir` (absolute), then resume it or, with `stop`, end it. */
export async function snapshotVm(entry: VmEntry, dir: string, stop: boolean): Promise<SnapshotTakenInfo> {
  try {
    checkSnapshotTarget(dir);
  } catch (err) {
    throw new UserError(`cannot snapshot VM ${entry.name}: ${(err as Error).message}`);
  }
  let response: ApiResponse<SnapshotTakenInfo | ApiError>;
  try {
    response = await apiCall<SnapshotTakenInfo | ApiError>(apiSocketPath(entry), 'PUT', API_PATHS.snapshot, { dir, stop }, SNAPSHOT_TIMEOUT_MS);
  } catch (err) {
    if (err instanceof ApiUnreachable) throw new UserError(`cannot snapshot VM ${entry.name}: ${err.message}`);
    throw err;
  }
  if (response.status >= 300) throw refusal(entry, 'snapshot', response);
  const taken = response.body as SnapshotTakenInfo;
  if (taken.dir === dir) return taken;
  // A jailed VMM wrote it inside its own directory (src/fleet/snapshot-staging.ts): only that path is moved out.
  const staged = stagedSnapshotDir(entry.dir);
  if (taken.dir !== staged)
    throw new UserError(`VM ${entry.name} says its snapshot is in ${taken.dir}, neither ${dir} nor its staging directory: nothing moved`);
  moveStagedSnapshot(staged, dir);
  return { ...taken, dir };
}
