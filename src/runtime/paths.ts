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
import { join, resolve } from 'node:path';
import { UserError } from '../errors.js';
import { PROJECT_ROOT } from './build-layout.js';

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

/**
 * The helper VM's state directory inside the runtime root, one per mvm
 * installation: a helper runs the daemon and CLI of the tree that started it,
 * so a second clone (a CI checkout beside a working tree, say) must get its
 * own helper rather than have its commands run by another tree's code.
 */
export function helperStateDir(env: PathEnv = process.env, root: string = projectRoot()): string {
  return join(runtimeRoot(env), `helper-${treeHash(root)}`);
}

/**
 * FNV-1a over the path, 32 bits as 8 hex digits: plenty to keep a user's few
 * clones apart, and cheap to load (node:crypto costs start-up time inside the
 * emulated helper, where the daemon also resolves these paths).
 */
function treeHash(path: string): string {
  const FNV_OFFSET_BASIS = 0x811c9dc5;
  const FNV_PRIME = 0x01000193;
  let hash = FNV_OFFSET_BASIS;
  for (const byte of Buffer.from(path, 'utf8')) {
    hash = Math.imul(hash ^ byte, FNV_PRIME) >>> 0;
  }
  return hash.toString(16).padStart(8, '0');
}

/** The build cache ($MVM_CACHE, else ~/.cache/mvm). */
export function cacheRoot(env: PathEnv = process.env): string {
  return env.MVM_CACHE ? resolve(env.MVM_CACHE) : join(env.HOME || homedir(), '.cache', 'mvm');
}

/** The directory holding package.json. */
export function projectRoot(): string {
  return PROJECT_ROOT;
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
