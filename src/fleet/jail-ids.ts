// The uid/gid each jailed VMM runs as: one per VM from a range mvm owns, so
// no two VMs (and no user of this host) share one. A claim is a file named by
// the id under <runtime root>/jail-ids, created with O_EXCL — the allocation's
// lock — and holding the VM's name; the VMM's spawn wrapper (jail-spawn.ts)
// removes it when the VMM ends. A claim whose VM directory is gone (a wrapper
// killed outright) is stale and taken over.
import { mkdirSync, openSync, readFileSync, rmSync, writeSync, closeSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { JailError } from '../vmm/jail/lock-down.js';
import { runtimeRoot } from '../runtime/paths.js';
import { vmDir } from './vm-dir.js';

/** Far above any distribution's normal and system users, below the 2^31 some tools choke on; like subuid ranges. */
export const JAIL_ID_BASE = 0x6d76_0000; // "mv" 0000: 1836449792
export const JAIL_ID_COUNT = 65_536;

export function jailIdsDir(): string {
  return join(runtimeRoot(), 'jail-ids');
}

/** A user or group of this host inside the range: then mvm must not hand those ids out. */
function rangeCollision(): string | null {
  for (const file of ['/etc/passwd', '/etc/group']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      const [name, , id] = line.split(':');
      const n = Number(id);
      if (name && Number.isInteger(n) && n >= JAIL_ID_BASE && n < JAIL_ID_BASE + JAIL_ID_COUNT) return `${file} has ${name} with id ${n}`;
    }
  }
  return null;
}

export interface JailIdClaim {
  readonly id: number;
  readonly file: string;
}

/** Claims a free id for VM `name` (uid and gid are the same number). */
export function claimJailId(name: string): JailIdClaim {
  const collision = rangeCollision();
  if (collision) {
    throw new JailError(
      `mvm's jail uid range ${JAIL_ID_BASE}-${JAIL_ID_BASE + JAIL_ID_COUNT - 1} is in use on this host (${collision}); remove that id or run with --no-jail (unconfined)`,
    );
  }
  const dir = jailIdsDir();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (let i = 0; i < JAIL_ID_COUNT; i++) {
    const id = JAIL_ID_BASE + i;
    const file = join(dir, String(id));
    let fd: number;
    try {
      fd = openSync(file, 'wx', 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new JailError(`cannot claim a jail uid in ${dir}: ${(err as Error).message}`);
      if (isStale(file)) rmSync(file, { force: true });
      continue;
    }
    writeSync(fd, `${name}\n`);
    closeSync(fd);
    return { id, file };
  }
  throw new JailError(`all ${JAIL_ID_COUNT} jail uids are claimed (${dir}); remove stopped VMs (mvm rm) or run with --no-jail`);
}

function isStale(file: string): boolean {
  try {
    const owner = readFileSync(file, 'utf8').trim();
    return owner.length > 0 && !existsSync(vmDir(owner));
  } catch {
    return false;
  }
}

export function releaseJailId(claim: JailIdClaim): void {
  rmSync(claim.file, { force: true });
}
