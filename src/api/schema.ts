// The JSON shapes of a microVM's API (vms/<name>/api.sock, HTTP/1.1 over a
// unix socket; docs/api.md is the user-facing description). Server
// (src/api/server.ts, in the VMM process) and clients (mvm ps/stop/top…)
// both use these types. They are the API's own, declared here rather than
// taken from the fleet's files (vm.json, state.json), so that changing what
// mvm stores on disk cannot change what the API promises.

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
  /** PUT {dir, stop?} → 200 SnapshotTaken: pause the VM, write its snapshot to dir, resume it (or end it with stop). */
  snapshot: '/snapshot',
} as const;

/** PUT /snapshot's body. */
export interface SnapshotRequest {
  /** An absolute path: a new or empty directory, where the VMM process can write. */
  readonly dir: string;
  /** End the VM once the snapshot is on disk instead of resuming it. */
  readonly stop?: boolean;
}

/** PUT /snapshot's answer. */
export interface SnapshotTakenInfo {
  readonly dir: string;
  readonly memoryDataBytes: number;
  readonly memoryAllocatedBytes: number;
  readonly pausedToDurableMs: number;
  readonly pausedToResumedMs: number;
  readonly stopped: boolean;
}

export const CONSOLE_UPGRADE_PROTOCOL = 'mvm-console';
/** How long a graceful stop waits for the guest before forcing it, unless the request says. */
export const DEFAULT_STOP_TIMEOUT_MS = 10_000;
/** Longest stop timeout a request may ask for: an hour is more than any guest needs to shut down. */
export const MAX_STOP_TIMEOUT_MS = 3_600_000;

/** Where a VM is in its life, as docs/api.md describes each state. */
export type VmState = 'starting' | 'running' | 'stopping' | 'exited' | 'failed';

export interface DriveInfo {
  /** The image the user named. */
  readonly path: string;
  readonly mode: 'overlay' | 'persistent' | 'ro';
  /** The throw-away overlay the guest writes to, when mode is overlay. */
  readonly overlay?: string;
}

export interface NetInfo {
  readonly tap: string;
  /** Six hex pairs separated by colons. */
  readonly mac: string;
}

/** GET /vm: the VM as launched, and its state. */
export interface VmInfo {
  readonly name: string;
  readonly createdAt: string; // ISO 8601
  readonly cpus: number;
  readonly memoryBytes: number;
  readonly kernel: string;
  readonly initrd: string | null;
  readonly cmdline: string;
  readonly console: 'virtio' | 'serial';
  readonly drives: readonly DriveInfo[];
  readonly nets: readonly NetInfo[];
  readonly vsock: { readonly cid: number; readonly uds: string } | null;
  readonly rng: boolean;
  /** The ini file the VM came from, if any. */
  readonly config: string | null;
  readonly state: VmState;
  /** The VMM process's pid (inside the helper VM when it runs there). */
  readonly pid: number;
  readonly startedAt: string; // ISO 8601
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
