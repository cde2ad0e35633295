// The two JSON files that describe a detached microVM (see vm-dir.ts):
// vm.json (what was launched, written once) and state.json (where it is in its
// life, rewritten by the VMM process with write-then-rename so a reader never
// sees half a file).
import type { ShareSettings } from '../devices/settings.js';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';

/** One attached disk as launched. */
export interface VmDriveRecord {
  /** The image the user named. */
  readonly path: string;
  /** overlay: a throw-away qcow2 overlay in the VM's directory; persistent: the image itself; ro: read-only. */
  readonly mode: 'overlay' | 'persistent' | 'ro';
  /** The overlay's path when mode is overlay (removed by `mvm rm`). */
  readonly overlay?: string;
}

export interface VmNetRecord {
  readonly tap: string;
  readonly mac: string;
}

/** vm.json: the VM as launched. */
export interface VmRecord {
  readonly name: string;
  readonly createdAt: string; // ISO 8601
  readonly cpus: number;
  readonly memoryBytes: number;
  readonly kernel: string;
  readonly initrd: string | null;
  readonly cmdline: string;
  readonly console: 'virtio' | 'serial';
  readonly drives: readonly VmDriveRecord[];
  readonly nets: readonly VmNetRecord[];
  readonly vsock: { readonly cid: number; readonly uds: string } | null;
  readonly rng: boolean;
  /** Shared host directories (absent in records written before --share existed). */
  readonly shares?: readonly ShareSettings[];
  /** The ini file it came from, if any. */
  readonly config: string | null;
  /** The snapshot directory it is restored from (absent or null: it boots its kernel). */
  readonly restore?: string | null;
}

/**
 * starting: VMM process up, guest not yet booted; running: the guest's init
 * signalled boot-complete; stopping: a stop was asked for; exited: the guest
 * powered off (exitStatus is its status); failed: the VMM stopped the VM on an
 * error (crash, panic, host failure; exitReason says which). A VMM that died
 * without writing a final state is "dead" — decided by readers (the process
 * or its API socket is gone), never written here.
 */
export type VmLifeState = 'starting' | 'running' | 'stopping' | 'exited' | 'failed';
export type VmShownState = VmLifeState | 'dead';

/** state.json */
export interface VmStatus {
  readonly name: string;
  readonly state: VmLifeState;
  /** The VMM process's pid, in the pid namespace given by `where`. */
  readonly pid: number;
  /** host: the VMM runs on this machine; helper: inside the helper VM (pid is the helper's). */
  readonly where: 'host' | 'helper';
  /** Where the VMM's API server listens (differs from vms/<name>/api.sock inside the helper VM, whose shared folders cannot hold sockets). */
  readonly apiListen: string;
  readonly startedAt: string; // ISO 8601, VMM process start
  /** VMM process start → guest boot-complete, once booted. */
  readonly bootMs: number | null;
  readonly exitedAt: string | null;
  readonly exitStatus: number | null;
  readonly exitReason: string | null;
}

export function writeJsonAtomic(path: string, value: unknown): void {
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  renameSync(temporary, path);
}

/** The parsed file, or null when it does not exist or is not JSON (a reader racing the first write). */
export function readJsonFile<T>(path: string): T | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return null;
  }
}
