// What state to show for a detached VM. state.json is written by the VMM
// process, so a VMM that died (SIGKILL, OOM, a helper VM that went away)
// leaves it saying starting/running/stopping for ever. Readers therefore check
// that the VMM is really there before believing a live state, and show such a
// VM as "dead" with the reason — never as running (issue #5).
//
//   where: host    the VMM is a process on this machine: its pid must exist.
//   where: helper  the VMM runs inside the helper VM, whose pids mean nothing
//                  here: the host-side relay on vms/<name>/api.sock must answer.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { apiCall, ApiUnreachable } from '../api/client.js';
import { API_PATHS } from '../api/schema.js';
import { insideHelper } from '../helper/host-kvm.js';
import type { VmEntry } from './registry.js';
import { VM_FILES } from './vm-dir.js';
import { vmmExitReason } from './vmm-exit.js';
import type { VmLifeState, VmShownState, VmStatus } from './vm-status.js';

export interface ShownState {
  readonly state: VmShownState;
  /** Why it is dead, how it ended (exitReason), or what it waits for; null when there is nothing to add. */
  readonly reason: string | null;
}

export const REASON_PROCESS_GONE = 'VMM process gone';
export const REASON_API_SILENT = 'API socket does not answer';
export const REASON_NEVER_STARTED = 'VMM never started';

/**
 * A live VMM answers GET /vm from its event loop at once; even through the
 * relay and the emulated helper VM that takes well under a second. Longer
 * than this and `mvm ps` would hang on a wedged VM.
 */
export const LIVENESS_PROBE_TIMEOUT_MS = 3_000;

/**
 * How long a VM may stay without a first state.json (or, in the helper VM,
 * without the host relay's api.sock) before it counts as dead: `mvm run -d`
 * gives up on a boot long before this, so past it nobody is coming.
 */
export const STARTUP_GRACE_MS = 5 * 60_000;

/**
 * After the boot, how long `mvm run -d` may take to start the relay before a
 * missing api.sock means the VMM is unreachable: the relay is a native node
 * start on the host (api-relay.ts allows it 15 s).
 */
export const RELAY_START_GRACE_MS = 15_000;

const LIVE_STATES: ReadonlySet<VmLifeState> = new Set(['starting', 'running', 'stopping']);

export function isLiveState(state: VmLifeState): boolean {
  return LIVE_STATES.has(state);
}

/** True when the shown state means the VM is over: nothing more will happen to it. */
export function isFinalShownState(state: VmShownState): boolean {
  return state === 'exited' || state === 'failed' || state === 'dead';
}

export function apiSocketPath(entry: VmEntry): string {
  return join(entry.dir, VM_FILES.api);
}

/** False only when the process certainly does not exist (ESRCH); another user's process (EPERM) exists. */
export function processExists(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** True when something answers HTTP on the socket (any status: a live VMM may refuse, but it is there). */
export async function apiAnswers(socketPath: string, timeoutMs: number = LIVENESS_PROBE_TIMEOUT_MS): Promise<boolean> {
  try {
    await apiCall(socketPath, 'GET', API_PATHS.vm, undefined, timeoutMs);
    return true;
  } catch (err) {
    if (err instanceof ApiUnreachable) return false;
    throw err;
  }
}

function ageMs(iso: string | undefined, fallbackPath: string): number {
  const parsed = iso === undefined ? Number.NaN : Date.parse(iso);
  if (Number.isFinite(parsed)) return Date.now() - parsed;
  try {
    return Date.now() - statSync(fallbackPath).mtimeMs;
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

function fileExists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * The host relay (vms/<name>/api.sock) is started by `mvm run -d` once the
 * guest in the helper VM has booted: until then a missing api.sock is not
 * death — while starting, and for a moment after the boot.
 */
function relayNotYetDue(entry: VmEntry, status: VmStatus): boolean {
  // A relay that has come and gone (it removes api.sock as it stops, e.g. on
  // finding the VMM's socket dead) proves the grace below is over.
  if (fileExists(join(entry.dir, VM_FILES.relayEnded))) return false;
  if (status.state === 'starting') return ageMs(status.startedAt, entry.dir) < STARTUP_GRACE_MS;
  if (status.state !== 'running' || typeof status.bootMs !== 'number') return false;
  const sinceBoot = ageMs(status.startedAt, entry.dir) - status.bootMs;
  return sinceBoot < RELAY_START_GRACE_MS;
}

async function liveStatusShown(entry: VmEntry, status: VmStatus): Promise<ShownState> {
  // A jailed VMM's wrapper records how it ended: a live state beside that record is a VMM that died (seccomp, OOM kill).
  const ended = vmmExitReason(entry.dir);
  if (ended !== null) return { state: 'dead', reason: ended };
  // Inside the helper VM its own VMMs are local processes: check them like the host's.
  if (status.where === 'host' || insideHelper()) {
    return processExists(status.pid) ? { state: status.state, reason: null } : { state: 'dead', reason: REASON_PROCESS_GONE };
  }
  const socket = apiSocketPath(entry);
  if (!fileExists(socket) && relayNotYetDue(entry, status)) return { state: status.state, reason: null };
  return (await apiAnswers(socket)) ? { state: status.state, reason: null } : { state: 'dead', reason: REASON_API_SILENT };
}

/** The state `mvm ps` and friends show for a VM, checking that a VMM said to be live still is. */
export async function shownState(entry: VmEntry): Promise<ShownState> {
  const status = entry.status;
  if (status === null) {
    // `mvm run -d` has claimed the name and not yet started the VMM, or died doing so.
    return ageMs(entry.record?.createdAt, entry.dir) < STARTUP_GRACE_MS
      ? { state: 'starting', reason: null }
      : { state: 'dead', reason: REASON_NEVER_STARTED };
  }
  if (isLiveState(status.state)) return liveStatusShown(entry, status);
  if (status.state === 'exited' || status.state === 'failed') return { state: status.state, reason: status.exitReason };
  return { state: 'dead', reason: `state.json names an unknown state "${String(status.state)}"` };
}
