// What the `mvm bench` subcommands share: argument checks, messages, the
// standard error wrapping, and moving a benchmark to where Linux guests run.
import * as path from 'node:path';
import type { Command } from 'commander';
import { decideHelper, detectHostKvm, helperPolicy, insideHelper, runInHelper } from '../../../helper/client.js';
import { MVM_CLI } from '../../../bench/harness.js';
import { FORCE_PROGRESS_ENV, progressWanted } from '../../../bench/progress.js';
import { availableSides, type BenchSide } from '../../../bench/sides/index.js';
import type { GuestFiles } from '../../../bench/boot/contenders.js';
import { projectRoot } from '../../../runtime/paths.js';
import { UserError } from '../../../errors.js';

export function wholeNumber(text: string, what: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new UserError(`${what} must be a whole number from ${min}${max < Number.MAX_SAFE_INTEGER ? ` to ${max}` : ' up'}, not "${text}"`, 2);
  }
  return n;
}

export function say(text: string): void {
  process.stderr.write(`mvm bench: ${text}\n`);
}

/** The guest kernel and initramfs every side boots (runc unpacks the initramfs as its root). */
export function guestFiles(options: { kernel?: string; initrd?: string }): GuestFiles {
  const root = projectRoot();
  return {
    kernel: path.resolve(options.kernel ?? path.join(root, 'images/out/vmlinux')),
    initrd: path.resolve(options.initrd ?? path.join(root, 'images/out/initramfs.cpio.gz')),
  };
}

/** The sides that can run here; prints one line per skipped side; fails when none can. */
export async function readySides(
  sides: readonly BenchSide[],
): Promise<{ ready: BenchSide[]; skipped: Array<{ side: BenchSide['name']; reason: string }> }> {
  const { ready, skipped } = await availableSides(sides);
  for (const s of skipped) say(`skipping ${s.side.label}: ${s.reason}`);
  if (ready.length === 0) throw new UserError('no side of the benchmark can run here (see the reasons above)', 1);
  return { ready, skipped: skipped.map((s) => ({ side: s.side.name, reason: s.reason })) };
}

/**
 * On a host whose KVM cannot run Linux guests, runs `mvm ARGV` inside the
 * helper VM (as a program, `mvm helper exec`: it prints plain lines, which an
 * interactive session's raw terminal would mangle) and returns its exit
 * status; null when this process should run the benchmark itself. A terminal
 * here still gets the progress bar from there.
 */
export async function benchInHelperIfNeeded(argv: readonly string[]): Promise<number | null> {
  const decision = decideHelper(detectHostKvm(), helperPolicy(), insideHelper());
  if (!decision.useHelper) return null;
  if (decision.notice) process.stderr.write(`${decision.notice}\n`);
  if (progressWanted()) process.env[FORCE_PROGRESS_ENV] = '1';
  return retryIfHelperLost(`mvm ${argv.slice(0, 2).join(' ')}`, () => runInHelper('exec', [process.execPath, MVM_CLI, ...argv]));
}

/** What `mvm helper exec` says when the shared helper VM went away under a command (someone stopped or restarted it). */
const HELPER_LOST = /lost the connection to the helper VM/;

/** Runs ATTEMPT once more if the helper VM was lost under the first try; any other failure passes through. */
export async function retryIfHelperLost<T>(what: string, attempt: () => Promise<T>): Promise<T> {
  try {
    return await attempt();
  } catch (err) {
    if (!HELPER_LOST.test(String(err instanceof Error ? err.message : err))) throw err;
    say(`${what}: the helper VM was restarted under it; trying once more`);
    return attempt();
  }
}

/** Runs ACTION, turning anything but a UserError into one "benchmark failed" line. */
export async function asBenchAction(action: () => Promise<void>): Promise<void> {
  try {
    await action();
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError(`benchmark failed: ${err instanceof Error ? err.message : String(err)}`, 1);
  }
}

/** Where results were written, relative to the working directory when inside it. */
export function shownPath(file: string): string {
  const shown = path.relative(process.cwd(), file);
  return shown.startsWith('..') ? file : shown;
}

export type { Command };
