// The helper VM's tunables, read from the environment at the moment a helper
// is started (a running helper keeps the settings it was started with).
//
//   MVM_HELPER_IDLE_SECONDS  power off after this long without requests (600; 0 = never)
//   MVM_HELPER_MEMORY        guest RAM, e.g. 4G or 4096M (4G; QEMU touches it lazily)
//   MVM_HELPER_CPUS          emulated CPUs (1; see DEFAULT_CPUS for the measurement)
//   MVM_HELPER_SHARES        colon-separated host directories the helper may write
//   MVM_HELPER_IMAGE         directory with vmlinuz + initrd.cpio.gz (images/out/helper)
//   MVM_QEMU                 the QEMU binary (qemu-system-x86_64)
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve, sep } from 'node:path';
import { UserError } from '../errors.js';
import { cacheRoot, projectRoot, runtimeRoot } from '../runtime/paths.js';

/** Ten minutes: long enough to span a test run's pauses, short enough that an idle CI box stops burning CPU. */
export const DEFAULT_IDLE_SECONDS = 600;
/** Room for several microVMs; QEMU allocates guest RAM only when the guest touches it. */
export const DEFAULT_MEMORY_MIB = 4096;
/**
 * One emulated CPU. Measured on the 2-core development host (2026-11-23, load
 * 4.5-6.5 from other work), `mvm run -- uname -r` through the helper, 5 runs
 * each: -smp 1 booted the guest to userspace in 2.6-4.7 s (median 3.4 s),
 * -smp 2 (multi-threaded TCG) in 6.4-10.2 s (median 7.9 s); the helper's own
 * cold start was 11 s against 24 s. Two TCG threads fight over two busy cores.
 * The cost of one CPU: a guest that hogs it in KVM_RUN starves the other
 * requests (MVM_HELPER_CPUS raises it for such workloads).
 */
export const DEFAULT_CPUS = 1;
/** The helper's kernel, its page tables and a few node processes need at least this much. */
const MIN_MEMORY_MIB = 512;
/** The emulated CPU count is bounded by what TCG threads can use on any sane host. */
const MAX_CPUS = 64;
const MAX_IDLE_SECONDS = 7 * 24 * 3600;

export interface HelperSettings {
  readonly idleSeconds: number;
  readonly memoryMiB: number;
  readonly cpus: number;
  readonly writableShares: readonly string[];
  readonly imageDir: string;
  readonly qemu: string;
}

function parseWholeNumber(name: string, raw: string, min: number, max: number): number {
  if (!/^\d+$/.test(raw.trim())) throw new UserError(`${name} must be a whole number (got "${raw}")`, 2);
  const value = Number(raw.trim());
  if (value < min || value > max) throw new UserError(`${name} must be between ${min} and ${max} (got ${value})`, 2);
  return value;
}

/** "4G", "4096M", "4096" (MiB) → MiB. */
export function parseMemoryMiB(raw: string): number {
  const match = /^\s*(\d+)\s*([MmGg]?)\s*$/.exec(raw);
  if (!match) throw new UserError(`MVM_HELPER_MEMORY must look like 4G or 4096M (got "${raw}")`, 2);
  const amount = Number(match[1]);
  const mib = match[2].toUpperCase() === 'G' ? amount * 1024 : amount;
  if (mib < MIN_MEMORY_MIB) throw new UserError(`MVM_HELPER_MEMORY must be at least ${MIN_MEMORY_MIB}M (got "${raw}")`, 2);
  return mib;
}

/**
 * Absolute, de-duplicated directories with no share nested in another (the
 * outer share already exposes the inner one). Any path works, spaces and
 * commas included: qemu-command.ts escapes them for QEMU and the kernel
 * command line.
 */
export function normaliseShares(paths: readonly string[]): string[] {
  const absolute = paths
    .filter((p) => p !== '')
    .map((p) => {
      if (!isAbsolute(p)) throw new UserError(`helper share "${p}" must be an absolute path`, 2);
      return resolve(p);
    });
  const unique = [...new Set(absolute)].sort((a, b) => a.length - b.length);
  const kept: string[] = [];
  for (const path of unique) {
    if (path === '/') throw new UserError('the helper cannot share / writable; the host root is already shared read-only', 2);
    if (!kept.some((outer) => path.startsWith(outer + sep))) kept.push(path);
  }
  return kept;
}

/**
 * The directories of `needed` that a helper mounting `have` writable cannot
 * write or even see: the helper's /tmp and /run are its own tmpfs, so a host
 * path there exists inside only under a share; elsewhere it is at least
 * readable through the read-only host root, but not writable.
 */
export function uncoveredShares(needed: readonly string[], have: readonly string[]): string[] {
  return needed.filter((path) => !have.some((share) => path === share || path.startsWith(share === '/' ? '/' : share + sep)));
}

export function readHelperSettings(env: NodeJS.ProcessEnv = process.env): HelperSettings {
  const idleSeconds =
    env.MVM_HELPER_IDLE_SECONDS !== undefined
      ? parseWholeNumber('MVM_HELPER_IDLE_SECONDS', env.MVM_HELPER_IDLE_SECONDS, 0, MAX_IDLE_SECONDS)
      : DEFAULT_IDLE_SECONDS;
  const memoryMiB = env.MVM_HELPER_MEMORY !== undefined ? parseMemoryMiB(env.MVM_HELPER_MEMORY) : DEFAULT_MEMORY_MIB;
  const cpus = env.MVM_HELPER_CPUS !== undefined ? parseWholeNumber('MVM_HELPER_CPUS', env.MVM_HELPER_CPUS, 1, MAX_CPUS) : DEFAULT_CPUS;
  // Writable by default: mvm's runtime and cache roots (state, disks and
  // images written from inside), the temporary directory (tests hand files
  // back and forth there) and the project tree.
  const shares =
    env.MVM_HELPER_SHARES !== undefined
      ? env.MVM_HELPER_SHARES.split(':')
      : [runtimeRoot(env), cacheRoot(env), env.TMPDIR || tmpdir(), projectRoot()];
  return {
    idleSeconds,
    memoryMiB,
    cpus,
    writableShares: normaliseShares(shares),
    imageDir: env.MVM_HELPER_IMAGE ? resolve(env.MVM_HELPER_IMAGE) : join(projectRoot(), 'images', 'out', 'helper'),
    qemu: env.MVM_QEMU || 'qemu-system-x86_64',
  };
}
