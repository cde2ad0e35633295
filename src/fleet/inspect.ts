// What `mvm inspect` prints for one VM: its files (vm.json, state.json), the
// state mvm shows for it, and — when its API answers — the VMM's live view
// (GET /vm, GET /stats).
import { apiCall, ApiUnreachable } from '../api/client.js';
import { API_PATHS, type VmInfo, type VmStats } from '../api/schema.js';
import { apiSocketPath, isFinalShownState, LIVENESS_PROBE_TIMEOUT_MS, shownState, type ShownState } from './liveness.js';
import type { VmEntry } from './registry.js';
import type { VmRecord, VmStatus } from './vm-status.js';

export interface VmInspection {
  readonly name: string;
  readonly dir: string;
  readonly apiSocket: string;
  readonly shown: ShownState;
  readonly record: VmRecord | null;
  readonly status: VmStatus | null;
  /** GET /vm, null when the VM is over or its API did not answer. */
  readonly info: VmInfo | null;
  /** GET /stats, likewise. */
  readonly stats: VmStats | null;
}

async function getOrNull<T>(socket: string, path: string): Promise<T | null> {
  try {
    const response = await apiCall<T>(socket, 'GET', path, undefined, LIVENESS_PROBE_TIMEOUT_MS);
    return response.status === 200 ? response.body : null;
  } catch (err) {
    if (err instanceof ApiUnreachable) return null;
    throw err;
  }
}

export async function inspectVm(entry: VmEntry): Promise<VmInspection> {
  const shown = await shownState(entry);
  const apiSocket = apiSocketPath(entry);
  const live = !isFinalShownState(shown.state);
  const [info, stats] = live
    ? await Promise.all([getOrNull<VmInfo>(apiSocket, API_PATHS.vm), getOrNull<VmStats>(apiSocket, API_PATHS.stats)])
    : [null, null];
  return { name: entry.name, dir: entry.dir, apiSocket, shown, record: entry.record, status: entry.status, info, stats };
}
