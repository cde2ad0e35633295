// Which VMM processes run where this host's mvm runs its VMs: on this host,
// or inside the helper VM (listed there through `mvm helper exec`). A VMM is
// any process holding a KVM VM file descriptor, whatever its command line
// says (a VMM inside the helper is a warm spare node process turned mvm).
import { spawnSync } from 'node:child_process';
import { decideHelper, detectHostKvm, helperPolicy, insideHelper } from '../../src/helper/host-kvm.js';
import { runMvm } from './mvm-cli.js';

/**
 * Every process's open files in one `ls` (one program start: under the
 * helper's emulation a readlink per descriptor would take minutes). Output:
 * a "/proc/PID/fd:" header, then one line per descriptor with its target.
 */
const LIST_FDS = 'ls -l /proc/[0-9]*/fd 2>/dev/null; true';

/** The pids whose descriptor listing shows a KVM VM ("-> anon_inode:kvm-vm"). */
export function pidsWithKvmVm(listing: string): Set<number> {
  const pids = new Set<number>();
  let pid: number | null = null;
  for (const line of listing.split('\n')) {
    const header = /^\/proc\/(\d+)\/fd:$/.exec(line);
    if (header) pid = Number(header[1]);
    else if (pid !== null && line.includes('-> anon_inode:kvm-vm')) pids.add(pid);
  }
  return pids;
}

export const vmmsRunInHelper = decideHelper(detectHostKvm(), helperPolicy(), insideHelper()).useHelper;

export async function vmmPids(): Promise<Set<number>> {
  const result = vmmsRunInHelper
    ? await runMvm(['helper', 'exec', '--', 'sh', '-c', LIST_FDS], { timeoutMs: 120_000 })
    : spawnSync('sh', ['-c', LIST_FDS], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`listing open files failed (${result.status}): ${result.stderr}`);
  return pidsWithKvmVm(result.stdout);
}

/** Waits until none of `pids` is a VMM any more; throws after `limitMs`. */
export async function waitForVmmsGone(pids: readonly number[], limitMs: number): Promise<void> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const now = await vmmPids();
    const left = pids.filter((p) => now.has(p));
    if (left.length === 0) return;
    if (Date.now() > deadline) throw new Error(`VMM process(es) ${left.join(', ')} still running${vmmsRunInHelper ? ' inside the helper VM' : ''}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
