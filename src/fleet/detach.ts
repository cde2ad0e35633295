// `mvm run -d`: starts a microVM in the background. The name is claimed (its
// directory created), vm.json written, throw-away disk overlays created in the
// VM's directory, and the VMM process (src/fleet/vmm-process.ts) spawned in a
// session of its own so it outlives this command; then this command waits
// until the guest has booted (state.json has a boot time) and prints the name,
// or says why it did not boot.
//
// On a host whose KVM cannot run Linux guests the whole command runs inside the
// helper VM; the name is fixed here first (so both sides agree on it), and
// afterwards a relay process on this host makes vms/<name>/api.sock reach the
// VMM's socket inside the helper (src/fleet/api-relay.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { UserError } from '../errors.js';
import { createOverlay } from '../disk/overlay.js';
import { runViaHelperIfNeeded } from '../helper/client.js';
import type { VmPlan } from '../vmm/vm-assembly.js';
import { startApiRelay } from './api-relay.js';
import { jailedVmmCommand, jailOn } from './jail-spawn.js';
import { vmmExitReason } from './vmm-exit.js';
import { UNJAILED_WARNING } from '../vmm/jail/lock-down.js';
import { CLI_ENTRY } from './cli-entry.js';
import { claimNameOrGenerate } from './vm-claim.js';
import { checkVmName, generateVmName, vmDir, vmFile } from './vm-dir.js';
import { isFinalState } from './vm-lifecycle.js';
import { recordFromPlan } from './vm-record.js';
import { readJsonFile, writeJsonAtomic, type VmStatus } from './vm-status.js';

/**
 * How long `mvm run -d` waits for the guest's boot-complete signal. A boot
 * takes seconds (inside the emulated helper VM: node's start-up plus the
 * kernel, ~5-10 s); a busy machine can take many times that.
 */
export const DETACH_BOOT_TIMEOUT_MS = 180_000;
/** How often state.json is looked at while waiting (a 9p read inside the helper, so not too often). */
const STATE_POLL_MS = 100;
/** Console lines shown when a VM fails to boot. */
const FAILURE_TAIL_LINES = 15;
/** Signals that end the wait for the boot (and stop the half-started VM). */
const INTERRUPTS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
/** Shell convention for "ended by signal N". */
const SIGNAL_EXIT_BASE = 128;

export interface DetachOptions {
  readonly name?: string;
  /** The ini file the plan came from, recorded in vm.json. */
  readonly config?: string | null;
}

/** `argv` (after node and the script) with `--name NAME` added right after the command word. */
export function withNameArgument(argv: readonly string[], name: string): string[] {
  return [argv[0]!, '--name', name, ...argv.slice(1)];
}

/** A generated name not in use on this host (the helper shares the VM directories, so it sees the same). */
function freshName(): string {
  for (;;) {
    const name = generateVmName();
    if (!existsSync(vmDir(name))) return name;
  }
}

/** sun_path holds 108 bytes with the terminating NUL. */
const MAX_SOCKET_PATH_BYTES = 107;

export async function runDetached(plan: VmPlan, options: DetachOptions, argv: readonly string[]): Promise<void> {
  if (options.name !== undefined) checkVmName(options.name);
  const name = options.name ?? freshName();
  if (existsSync(vmDir(name))) throw new UserError(`a VM named ${name} already exists (mvm rm ${name})`);
  const socket = vmFile(name, 'api');
  if (Buffer.byteLength(socket) > MAX_SOCKET_PATH_BYTES) {
    throw new UserError(
      `the VM's API socket ${socket} would be longer than a unix socket path may be (${MAX_SOCKET_PATH_BYTES} bytes): use a shorter name or MVM_RUN_DIR`,
    );
  }
  const forwarded = await runViaHelperIfNeeded(options.name === undefined ? withNameArgument(argv, name) : argv);
  if (forwarded !== null) {
    // The helper side claimed the name, booted the VM and printed the name.
    if (forwarded !== 0) {
      process.exitCode = forwarded;
      return;
    }
    await startApiRelay(name);
    return;
  }
  const claimed = claimNameOrGenerate(options.name, generateVmName);
  await launchLocally(plan, claimed, options.config ?? null);
  process.stdout.write(`${claimed}\n`);
}

/** Creates drive i's overlay in the VM directory when its mode is overlay. */
function createOverlays(plan: VmPlan, dir: string): (string | undefined)[] {
  return plan.drives.map((drive, i) => {
    if (drive.mode !== 'overlay') return undefined;
    const overlay = join(dir, `overlay-${i}.qcow2`);
    createOverlay(overlay, drive.path);
    return overlay;
  });
}

function spawnVmm(name: string, plan: VmPlan): ChildProcess {
  const vmmArgv = [process.execPath, CLI_ENTRY, '__vmm', name];
  const jailed = jailOn() ? jailedVmmCommand(name, vmmArgv, { taps: plan.nets.length }) : undefined;
  if (!jailed) process.stderr.write(`mvm: ${UNJAILED_WARNING}\n`);
  const log = openSync(vmFile(name, 'vmmLog'), 'a', 0o600);
  try {
    // Own session (detached), no terminal, output to vmm.log: it must outlive this command and its terminal.
    const child = jailed
      ? spawn(jailed.file, jailed.args, { detached: true, stdio: ['ignore', log, log], env: jailed.env })
      : spawn(vmmArgv[0]!, vmmArgv.slice(1), { detached: true, stdio: ['ignore', log, log], env: process.env });
    child.on('error', () => undefined); // seen below as an exit without a state
    child.unref();
    return child;
  } finally {
    closeSync(log);
  }
}

async function launchLocally(plan: VmPlan, name: string, config: string | null): Promise<void> {
  const dir = vmDir(name);
  try {
    const overlays = createOverlays(plan, dir);
    writeJsonAtomic(vmFile(name, 'record'), recordFromPlan(plan, name, overlays, config));
  } catch (err) {
    // Nothing was started: give the name back.
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  let child: ChildProcess;
  try {
    child = spawnVmm(name, plan);
  } catch (err) {
    // No VMM was started (its jail could not be set up): give the name back.
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  // Interrupted while waiting: nobody will learn the VM's name from us, so
  // stop it (gracefully; the VMM forces it off after its stop timeout) rather
  // than leave it running unseen.
  const handlers = INTERRUPTS.map((signal) => {
    const handler = (): void => {
      child.kill('SIGTERM');
      process.stderr.write(`mvm: interrupted; stopping the VM ${name} (mvm rm ${name} removes it)\n`);
      process.exit(SIGNAL_EXIT_BASE + osConstants.signals[signal]);
    };
    process.on(signal, handler);
    return [signal, handler] as const;
  });
  let outcome: BootOutcome;
  try {
    outcome = await waitForBoot(name, child, DETACH_BOOT_TIMEOUT_MS);
  } finally {
    for (const [signal, handler] of handlers) process.off(signal, handler);
  }
  if (outcome.kind === 'booted') return;
  throw new UserError(failureMessage(name, outcome));
}

type BootOutcome =
  | { readonly kind: 'booted'; readonly status: VmStatus }
  | { readonly kind: 'ended'; readonly status: VmStatus }
  | { readonly kind: 'died'; readonly code: number | null; readonly signal: string | null }
  | { readonly kind: 'timeout'; readonly status: VmStatus | null };

export async function waitForBoot(name: string, child: ChildProcess, timeoutMs: number): Promise<BootOutcome> {
  let died: { code: number | null; signal: string | null } | null = child.exitCode !== null ? { code: child.exitCode, signal: null } : null;
  child.once('exit', (code, signal) => {
    died = { code, signal };
  });
  child.once('error', () => {
    died ??= { code: null, signal: null };
  });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // Read before looking at the process: a VMM that wrote its final state and exited is not a death.
    const gone = died;
    const status = readJsonFile<VmStatus>(vmFile(name, 'status'));
    if (status?.bootMs !== null && status?.bootMs !== undefined) return { kind: 'booted', status };
    if (status && isFinalState(status.state)) return { kind: 'ended', status };
    if (gone) return { kind: 'died', ...(gone as { code: number | null; signal: string | null }) };
    if (Date.now() >= deadline) return { kind: 'timeout', status };
    await sleep(STATE_POLL_MS);
  }
}

function lastLines(path: string, count: number): string[] {
  try {
    return readFileSync(path, 'utf8')
      .split(/\r?\n/)
      .map((l) => l.replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '').trimEnd())
      .filter((l) => l.length > 0)
      .slice(-count);
  } catch {
    return [];
  }
}

function failureMessage(name: string, outcome: Exclude<BootOutcome, { kind: 'booted' }>): string {
  let head: string;
  let tailOf = vmFile(name, 'console');
  switch (outcome.kind) {
    case 'ended':
      head =
        outcome.status.state === 'failed'
          ? `the VM ${name} failed before it booted: ${outcome.status.exitReason ?? 'no reason given'}`
          : `the VM ${name} ended before it booted (exit status ${outcome.status.exitStatus ?? 'none'}${outcome.status.exitReason ? `, ${outcome.status.exitReason}` : ''})`;
      break;
    case 'died':
      head = `the VMM process of ${name} ended (${vmmExitReason(vmDir(name)) ?? (outcome.signal ? `signal ${outcome.signal}` : `status ${outcome.code}`)}) without a final state; see ${vmFile(name, 'vmmLog')}`;
      tailOf = vmFile(name, 'vmmLog');
      break;
    case 'timeout':
      head = `the VM ${name} has not signalled boot-complete within ${DETACH_BOOT_TIMEOUT_MS / 1000} s; it keeps starting in the background (mvm logs ${name}; mvm kill ${name})`;
      break;
  }
  const tail = lastLines(tailOf, FAILURE_TAIL_LINES);
  return tail.length === 0 ? head : [head, 'last lines:', ...tail.map((l) => `  | ${l}`)].join('\n');
}
