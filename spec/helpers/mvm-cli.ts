// Runs the built mvm CLI as a user would, capturing output and exit status.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, constants, existsSync, openSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
/** The bundled CLI, the file the `mvm` command runs (Makefile: build). */
export const MVM_BIN = resolve(PROJECT_ROOT, 'dist/bundle/mvm.js');

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function runMvm(
  args: readonly string[],
  options: { env?: Record<string, string>; input?: string; inputDelayMs?: number; timeoutMs?: number } = {},
): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [MVM_BIN, ...args], {
      env: { ...process.env, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolvePromise({ status, stdout, stderr });
    });
    if (options.input !== undefined) {
      setTimeout(() => child.stdin.end(options.input), options.inputDelayMs ?? 0);
    } else {
      child.stdin.end();
    }
  });
}

/** Runs the CLI to completion without a terminal (for commands that need no input and finish quickly). */
export function runMvmSync(args: readonly string[]): CliResult {
  const r = spawnSync(process.execPath, [MVM_BIN, ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `text` as one word for sh, whatever it holds: a clone's path may contain spaces. */
export function shellQuote(text: string): string {
  return `'${text.replaceAll("'", "'\\''")}'`;
}

/** Why KVM specs cannot run here, or undefined when /dev/kvm is usable. */
export function kvmUnavailableReason(): string | undefined {
  if (!existsSync('/dev/kvm')) return '/dev/kvm does not exist on this host';
  try {
    // Opening read/write is what mvm needs; access() alone would miss a sandbox's EPERM.
    closeSync(openSync('/dev/kvm', constants.O_RDWR));
  } catch (err) {
    return `/dev/kvm cannot be opened: ${(err as Error).message}`;
  }
  return undefined;
}
