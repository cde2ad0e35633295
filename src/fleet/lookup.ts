// Finding the VMs a verb names, and running a verb over several names the way
// docker does: each name on its own, a failure reported on one line and the
// rest still done, a non-zero exit if any failed.
import { lstatSync } from 'node:fs';
import { UserError } from '../errors.js';
import type { PathEnv } from '../runtime/paths.js';
import { readVm, type VmEntry } from './registry.js';
import { checkVmName, vmDir } from './vm-dir.js';

/** The VM called `name`, or a UserError "no VM named NAME". */
export function findVm(name: string, env: PathEnv = process.env): VmEntry {
  checkVmName(name);
  let isDirectory = false;
  try {
    // lstat: a symbolic link is no VM directory (listVms skips them too), so rm never follows one.
    isDirectory = lstatSync(vmDir(name, env)).isDirectory();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (!isDirectory) throw new UserError(`no VM named ${name}`);
  return readVm(name, env);
}

/**
 * Runs `action` for each name in order; a UserError for one name is printed
 * ("mvm: …") and the others still run. Returns the exit status: 0 when every
 * name succeeded, else the highest exit code seen. Anything that is not a
 * UserError is a bug and propagates.
 */
export async function forEachVm(names: readonly string[], action: (entry: VmEntry) => Promise<void>, env: PathEnv = process.env): Promise<number> {
  let status = 0;
  for (const name of names) {
    try {
      await action(findVm(name, env));
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      process.stderr.write(`mvm: ${err.message}\n`);
      status = Math.max(status, err.exitCode);
    }
  }
  return status;
}
