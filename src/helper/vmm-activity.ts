// Detached VMM processes inside the helper VM. The helper's shared folders
// (9p) cannot hold listening unix sockets, so each VMM there listens in a
// directory of its own under the helper's local /run, named <vm name>-<pid>.
// That directory is also how the daemon sees that detached VMs still run: it
// must not power the helper off under them (its idle check), and it only
// connects host clients to sockets below this root (the 'connect' request).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Helper-local (tmpfs), so a socket can live here; only root (the daemon, the VMMs) writes it. */
export const HELPER_RUN_DIR = '/run/mvm';

/** The directory a VMM with this name and pid listens in. */
export function helperVmmDir(name: string, pid: number, root: string = HELPER_RUN_DIR): string {
  return join(root, `${name}-${pid}`);
}

/** The pid a VMM directory name ends with, or null when the name is not one. */
export function pidOfVmmDir(entry: string): number | null {
  const match = /-([1-9][0-9]{0,9})$/.exec(entry);
  return match ? Number(match[1]) : null;
}

/** The word every VMM process has on its command line (mvm __vmm NAME). */
export const VMM_COMMAND = '__vmm';

/** Alive and still a VMM: a pid reused by some other process must not keep the helper up. */
function isVmmAlive(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(VMM_COMMAND);
  } catch {
    return false;
  }
}

/**
 * How many VMM processes are alive: directories under `root` whose pid still
 * runs. A VMM removes its directory when it ends; one killed outright leaves
 * it behind, and its dead pid keeps it from counting.
 */
export function countLiveVmms(root: string = HELPER_RUN_DIR, alive: (pid: number) => boolean = isVmmAlive): number {
  let entries: string[];
  try {
    entries = readdirSync(root);
  } catch {
    return 0;
  }
  return entries.map(pidOfVmmDir).filter((pid): pid is number => pid !== null && alive(pid)).length;
}
