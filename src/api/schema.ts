// The JSON shapes of a microVM's API (vms/<name>/api.sock, HTTP/1.1 over a
// unix socket; docs/api.md is the user-facing description). Server
// (src/api/server.ts, in the VMM process) and clients (mvm ps/stop/top…)
// both use these types.
import type { VmRecord, VmLifeState } from '../fleet/vm-status.js';

export const API_PATHS = {
  /** GET → VmInfo */
  vm: '/vm',
  /** GET → VmStats */
  stats: '/stats',
  /** POST {timeoutMs?} → 202 StopAccepted: ask the guest to power off, force it after timeoutMs. */
  stop: '/stop',
  /** POST → 202: stop at once (no guest shutdown). */
  kill: '/kill',
  /** GET with `Connection: Upgrade` + `Upgrade: mvm-console` → 101, then raw console bytes both ways. */
  console: '/console',
} as const;

export const CONSOLE_UPGRADE_PROTOCOL = 'mvm-console';
/** How long a graceful stop waits for the guest before forcing it, unless the request says. */
export const DEFAULT_STOP_TIMEOUT_MS = 10_000;
/** Longest stop timeout a request may ask for: an hour is more than any guest needs to shut down. */
export const MAX_STOP_TIMEOUT_MS = 3_600_000;

export interface VmInfo extends VmRecord {
  readonly state: VmLifeState;
  readonly pid: number;
  readonly startedAt: string;
  readonly uptimeMs: number;
  readonly bootMs: number | null;
}

export interface DiskStats {
  readonly name: string; // vda, vdb…
  readonly readOps: number;
  readonly writeOps: number;
  readonly flushOps: number;
  readonly readBytes: number;
  readonly writeBytes: number;
}

export interface NetStats {
  readonly name: string; // eth0…
  readonly rxPackets: number;
  readonly txPackets: number;
  readonly rxBytes: number;
  readonly txBytes: number;
}

export interface VmStats {
  /** Milliseconds since the epoch when these were taken (rates are differences over it). */
  readonly timestamp: number;
  readonly uptimeMs: number;
  readonly bootMs: number | null;
  /** Cumulative CPU time of the whole VMM process (vCPU threads included), microseconds. */
  readonly cpu: { readonly userUs: number; readonly systemUs: number };
  readonly memory: {
    /** Resident set of the VMM process. */
    readonly rssBytes: number;
    /** Resident pages of guest RAM: what the guest has touched. */
    readonly guestTouchedBytes: number;
    /** rssBytes − guestTouchedBytes: the VMM's own memory. */
    readonly vmmBytes: number;
  };
  /** VM exits handled by the VMM, cumulative, by reason (io, mmio, …) and in total. */
  readonly exits: { readonly total: number; readonly byReason: Readonly<Record<string, number>> };
  readonly disks: readonly DiskStats[];
  readonly nets: readonly NetStats[];
}

export interface StopAccepted {
  readonly state: 'stopping';
  readonly timeoutMs: number;
}

/** Every non-2xx answer. */
export interface ApiError {
  readonly error: string;
}
