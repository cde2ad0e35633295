// Where mvm-runtime keeps what it knows of each container between two of its
// invocations: ROOT/ID/state.json (written by create, updated by start), the
// shim's control socket and the VMM's own log. The file was written by us,
// but anyone with access to ROOT could have changed it: it is checked field
// by field when read back.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../errors.js';

/** runc's default --root for root; mvm-runtime keeps its own beside it. */
export const DEFAULT_STATE_ROOT = '/run/mvm-runtime';

/** What create records; `started` is set by start. */
export interface ContainerRecord {
  id: string;
  bundle: string;
  /** The shim: the pid in --pid-file. */
  pid: number;
  /** The shim's start time in clock ticks since boot (/proc/PID/stat field 22): tells it from a later process with its pid. */
  pidStartTicks: number;
  created: string;
  started: boolean;
  annotations: Record<string, string>;
  /** The guest start script's directory (lifecycle.ts, guestBootDir): delete removes it, whatever its environment says. */
  bootDir: string;
}

/** runc's rule: letters, digits, and _ + - . (not starting with a dot), at most 1024 characters. */
export function checkContainerId(id: string): void {
  if (!/^[A-Za-z0-9_+-][A-Za-z0-9_.+-]*$/.test(id) || id.length > 1024) {
    throw new UserError(`"${id}" is not a valid container ID (letters, digits, _ + - . only)`);
  }
}

export class StateStore {
  constructor(readonly root: string) {}

  dir(id: string): string {
    checkContainerId(id);
    return join(this.root, id);
  }

  /** Makes ROOT/ID, refusing an ID in use. */
  claim(id: string): string {
    const dir = this.dir(id);
    mkdirSync(this.root, { recursive: true, mode: 0o700 });
    try {
      mkdirSync(dir, { mode: 0o700 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new UserError(`container ID ${id} is already in use`);
      throw error;
    }
    return dir;
  }

  write(record: ContainerRecord): void {
    const path = join(this.dir(record.id), 'state.json');
    writeFileSync(`${path}.new`, `${JSON.stringify(record)}\n`);
    renameSync(`${path}.new`, path); // state reads never see half a file
  }

  /** The record of ID; a UserError when there is none. */
  read(id: string): ContainerRecord {
    const path = join(this.dir(id), 'state.json');
    if (!existsSync(path)) throw new UserError(`container ${id} does not exist`);
    let value: unknown;
    try {
      value = JSON.parse(readFileSync(path, 'utf8'));
    } catch {
      throw new UserError(`the state of container ${id} (${path}) is unreadable`);
    }
    const r = value as Partial<ContainerRecord>;
    const valid =
      typeof value === 'object' &&
      value !== null &&
      r.id === id &&
      typeof r.bundle === 'string' &&
      Number.isInteger(r.pid) &&
      (r.pid as number) > 1 &&
      Number.isInteger(r.pidStartTicks) &&
      typeof r.created === 'string' &&
      typeof r.started === 'boolean' &&
      typeof r.bootDir === 'string' &&
      // Only ever a directory named after the container under an oci/ folder: delete removes it.
      r.bootDir.endsWith(`/oci/${id}`) &&
      typeof r.annotations === 'object' &&
      r.annotations !== null;
    if (!valid) throw new UserError(`the state of container ${id} (${path}) is damaged`);
    return r as ContainerRecord;
  }

  remove(id: string): void {
    rmSync(this.dir(id), { recursive: true, force: true });
  }
}
