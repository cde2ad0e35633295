// Where mvm keeps things on the host:
//
//   runtime root  live state of running things (the helper VM's pid, port,
//                 token and logs; later microVM sockets). Lost on reboot, which
//                 is right: none of it outlives the processes it describes.
//                 $MVM_RUN_DIR, else $XDG_RUNTIME_DIR/mvm, else /tmp/mvm-<uid>.
//   cache root    slow-to-build artefacts (kernel, helper image).
//                 $MVM_CACHE, else ~/.cache/mvm (the Makefile exports the same).
//   project root  the mvm checkout or package this code runs from.
//
// Every value is read from the environment when asked, never at import time:
// the helper's warm spare process imports this module before it learns the
// environment of the request it will serve.
import { lstatSync, mkdirSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../cli/errors.js';

/** Owner-only: the runtime root holds the helper's request token. */
const PRIVATE_DIR_MODE = 0o700;

export interface PathEnv {
  readonly [name: string]: string | undefined;
}

function currentUid(): number {
  return typeof process.getuid === 'function' ? process.getuid() : userInfo().uid;
}

/** The runtime root directory for this user (not created here). */
export function runtimeRoot(env: PathEnv = process.env, uid: number = currentUid()): string {
  if (env.MVM_RUN_DIR) return resolve(env.MVM_RUN_DIR);
  if (env.XDG_RUNTIME_DIR) return join(resolve(env.XDG_RUNTIME_DIR), 'mvm');
  return `/tmp/mvm-${uid}`;
}

/** The helper VM's state directory inside the runtime root. */
export function helperStateDir(env: PathEnv = process.env): string {
  return join(runtimeRoot(env), 'helper');
}

/** The build cache ($MVM_CACHE, else ~/.cache/mvm). */
export function cacheRoot(env: PathEnv = process.env): string {
  return env.MVM_CACHE ? resolve(env.MVM_CACHE) : join(env.HOME || homedir(), '.cache', 'mvm');
}

/** The directory holding package.json: three levels above dist/src/runtime/. */
export function projectRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  return resolve(here, '..', '..', '..');
}

/**
 * Creates `dir` (and parents) owner-only, and refuses a directory someone
 * else owns or a symlink: in a shared /tmp another user could otherwise plant
 * /tmp/mvm-<uid> first and read or replace what mvm writes there.
 */
export function ensurePrivateDir(dir: string, uid: number = currentUid()): string {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  const st = lstatSync(dir);
  if (st.isSymbolicLink() || !st.isDirectory()) {
    throw new UserError(`${dir} is not a plain directory; remove it or set MVM_RUN_DIR`);
  }
  if (st.uid !== uid) {
    throw new UserError(`${dir} belongs to uid ${st.uid}, not to you (uid ${uid}); remove it or set MVM_RUN_DIR`);
  }
  return dir;
}
