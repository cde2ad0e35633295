// Claiming a VM name: creating vms/<name>/ with one mkdir, which the kernel
// makes atomic, so of two `mvm run -d --name x` at once exactly one gets the
// directory and the other is told the name is taken.
import { mkdirSync } from 'node:fs';
import { UserError } from '../errors.js';
import { ensurePrivateDir, runtimeRoot, type PathEnv } from '../runtime/paths.js';
import { checkVmName, vmDir, vmsRoot } from './vm-dir.js';

/** Owner-only: the directory holds the API socket and the console log. */
const VM_DIR_MODE = 0o700;

export class NameTaken extends UserError {
  constructor(readonly vmName: string) {
    super(`a VM named ${vmName} already exists (mvm rm ${vmName})`);
    this.name = 'NameTaken';
  }
}

/** Creates the VM's directory; throws NameTaken when it exists. Returns the directory. */
export function claimVmDir(name: string, env: PathEnv = process.env): string {
  checkVmName(name);
  ensurePrivateDir(runtimeRoot(env));
  ensurePrivateDir(vmsRoot(env));
  const dir = vmDir(name, env);
  try {
    mkdirSync(dir, { mode: VM_DIR_MODE });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new NameTaken(name);
    throw err;
  }
  return dir;
}

/** How often a generated name is re-drawn when it happens to be taken. */
const GENERATED_NAME_ATTEMPTS = 20;

/** Claims `name`, or when none was given a generated one (drawing again on a clash). */
export function claimNameOrGenerate(name: string | undefined, generate: () => string, env: PathEnv = process.env): string {
  if (name !== undefined) {
    claimVmDir(name, env);
    return name;
  }
  for (let attempt = 1; ; attempt++) {
    const candidate = generate();
    try {
      claimVmDir(candidate, env);
      return candidate;
    } catch (err) {
      if (!(err instanceof NameTaken) || attempt >= GENERATED_NAME_ATTEMPTS) throw err;
    }
  }
}
