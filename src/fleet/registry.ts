// Reads the detached VMs' directories (see vm-dir.ts). Files only: whether a
// VMM is still alive is decided elsewhere (it needs a pid check or an API
// call), so listing stays cheap and never blocks on a wedged VM.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { PathEnv } from '../runtime/paths.js';
import { VM_FILES, vmsRoot } from './vm-dir.js';
import { readJsonFile, type VmRecord, type VmStatus } from './vm-status.js';

export interface VmEntry {
  readonly name: string;
  readonly dir: string;
  /** null while `mvm run -d` has claimed the name but not yet written vm.json. */
  readonly record: VmRecord | null;
  /** null until the VMM process has written its first state. */
  readonly status: VmStatus | null;
}

export function readVm(name: string, env: PathEnv = process.env): VmEntry {
  const dir = join(vmsRoot(env), name);
  return {
    name,
    dir,
    record: readJsonFile<VmRecord>(join(dir, VM_FILES.record)),
    status: readJsonFile<VmStatus>(join(dir, VM_FILES.status)),
  };
}

/** Every VM directory, sorted by name; an absent root means no VMs. */
export function listVms(env: PathEnv = process.env): VmEntry[] {
  let names: string[];
  try {
    names = readdirSync(vmsRoot(env), { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return names.sort().map((name) => readVm(name, env));
}
