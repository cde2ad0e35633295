// The OCI runtime operations (runtime-spec "Operations"): create, start,
// state, kill, delete. Each runs in a short-lived mvm-runtime process; what
// lives between them is the shim (shim.ts) and ROOT/ID (state-store.ts).
import { spawn } from 'node:child_process';
import { fstatSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { constants } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { UserError } from '../errors.js';
import { checkSharesReachable } from '../helper/share-reach.js';
import { projectRoot, runtimeRoot } from '../runtime/paths.js';
import { GUEST_SCRIPT_NAME, guestLaunch } from './guest-command.js';
import { isSameProcessAlive, processStartTicks } from './process-identity.js';
import { readBundle } from './runtime-spec.js';
import { CONTROL_SOCKET, LAUNCH_FILE, READY_BYTE, type ShimLaunch, VMM_PID_FILE } from './shim.js';
import type { ContainerRecord, StateStore } from './state-store.js';

/** The runtime-spec version mvm-runtime's state answers in. */
export const OCI_VERSION = '1.0.2';
/** How long create waits for the shim's control socket (a node start, ~0.1 s; a loaded machine is slower). */
const SHIM_READY_TIMEOUT_MS = 15_000;
/** How long delete --force waits for the shim and mvm run to end before the next, harder signal. */
const STOP_WAIT_MS = 5_000;
const STOP_POLL_MS = 50;

export interface CreateRequest {
  id: string;
  bundle: string;
  pidFile: string | undefined;
  consoleSocket: string | undefined;
  /** mvm-runtime's own entry script, which the shim runs as `__shim DIR`. */
  runtimeEntry: string;
  warn: (message: string) => void;
}

/**
 * The host directory with the container's guest start script: inside mvm's
 * run directory, which the helper VM can always reach (the engine's state
 * root, often under /run, it cannot). Keyed by ID like the state root.
 */
export function guestBootDir(id: string): string {
  return join(runtimeRoot(), 'oci', id);
}

export type ContainerStatus = 'created' | 'running' | 'stopped';

export async function create(store: StateStore, request: CreateRequest): Promise<void> {
  const dir = store.dir(request.id); // checks the ID before anything else
  try {
    store.read(request.id);
    throw new UserError(`container ID ${request.id} is already in use`);
  } catch (error) {
    if (!(error instanceof UserError) || !/does not exist$/.test(error.message)) throw error;
  }
  const spec = readBundle(request.bundle);
  if (spec.terminal) {
    throw new UserError('process.terminal is not supported yet: mvm-runtime cannot hand a pty over --console-socket (run without -t)');
  }
  if (request.consoleSocket !== undefined) request.warn('--console-socket is ignored: the process has no terminal');
  for (const warning of spec.warnings) request.warn(warning);
  const bootDir = guestBootDir(request.id);
  const interactive = stdinIsStream();
  const { args, shares, script } = guestLaunch(spec, bootDir, { interactive });
  checkSharesReachable(shares);
  store.claim(request.id);
  rmSync(bootDir, { recursive: true, force: true });
  mkdirSync(bootDir, { recursive: true, mode: 0o700 });
  writeFileSync(join(bootDir, GUEST_SCRIPT_NAME), script);
  const launch: ShimLaunch = { command: [process.execPath, join(projectRoot(), 'dist', 'bundle', 'mvm.js'), ...args], interactive };
  writeFileSync(join(dir, LAUNCH_FILE), `${JSON.stringify(launch)}\n`);
  try {
    const pid = await startShim(dir, request.runtimeEntry);
    const startTicks = processStartTicks(pid);
    if (startTicks === undefined) throw new UserError('the container process ended as soon as it started');
    store.write({
      id: request.id,
      bundle: resolve(request.bundle),
      pid,
      pidStartTicks: startTicks,
      created: new Date().toISOString(),
      started: false,
      annotations: spec.annotations,
      bootDir,
    });
    if (request.pidFile !== undefined) writeFileSync(resolve(request.pidFile), String(pid));
  } catch (error) {
    await remove(store, request.id, true).catch(() => store.remove(request.id));
    rmSync(bootDir, { recursive: true, force: true });
    throw error;
  }
}

/** A pipe or socket on stdin (an engine's -i) is forwarded to the guest; /dev/null or a closed stdin is not. */
function stdinIsStream(): boolean {
  try {
    const stats = fstatSync(0);
    return stats.isFIFO() || stats.isSocket();
  } catch {
    return false;
  }
}

/** Starts the shim on our stdio and resolves with its pid once its control socket listens. */
function startShim(dir: string, runtimeEntry: string): Promise<number> {
  const shim = spawn(process.execPath, [runtimeEntry, '__shim', dir], { detached: true, stdio: ['inherit', 'inherit', 'inherit', 'pipe'] });
  const ready = shim.stdio[3]!;
  return new Promise<number>((resolvePid, reject) => {
    const timer = setTimeout(() => fail(new UserError('the container process did not become ready in time')), SHIM_READY_TIMEOUT_MS);
    const fail = (error: Error) => {
      clearTimeout(timer);
      shim.kill('SIGKILL');
      reject(error);
    };
    shim.on('error', fail);
    shim.on('exit', (code) => fail(new UserError(`the container process exited (status ${code}) before it was ready`)));
    ready.on('data', (data: Buffer) => {
      if (!data.toString().includes(READY_BYTE)) return;
      clearTimeout(timer);
      shim.removeAllListeners('exit');
      ready.destroy();
      shim.unref();
      resolvePid(shim.pid!);
    });
  });
}

export function statusOf(record: ContainerRecord): ContainerStatus {
  if (!isSameProcessAlive(record.pid, record.pidStartTicks)) return 'stopped';
  return record.started ? 'running' : 'created';
}

export async function start(store: StateStore, id: string): Promise<void> {
  const record = store.read(id);
  const status = statusOf(record);
  if (status !== 'created') throw new UserError(`container ${id} is ${status}, not created: it cannot be started`);
  const answer = await request(join(store.dir(id), CONTROL_SOCKET), 'start\n');
  if (answer.trim() !== 'started') throw new UserError(`container ${id} refused to start (${answer.trim() || 'no answer'})`);
  store.write({ ...record, started: true });
}

function request(path: string, message: string): Promise<string> {
  return new Promise((resolveAnswer, reject) => {
    let answer = '';
    const socket = connect(path, () => socket.write(message));
    socket.on('data', (data) => {
      answer += data.toString();
    });
    socket.on('end', () => resolveAnswer(answer));
    socket.on('error', (error) => reject(new UserError(`cannot reach the container process (${error.message})`)));
  });
}

/** The runtime-spec state of a container. */
export function state(store: StateStore, id: string): Record<string, unknown> {
  const record = store.read(id);
  const status = statusOf(record);
  return {
    ociVersion: OCI_VERSION,
    id,
    status,
    pid: status === 'stopped' ? 0 : record.pid,
    bundle: record.bundle,
    rootfs: join(record.bundle, 'rootfs'),
    created: record.created,
    annotations: record.annotations,
  };
}

/** "KILL", "SIGKILL" or "9" → 9. */
export function parseSignal(text: string): number {
  if (/^\d+$/.test(text)) {
    const number = Number(text);
    if (number > 64) throw new UserError(`${text} is not a signal number`);
    return number;
  }
  const name = (text.toUpperCase().startsWith('SIG') ? text.toUpperCase() : `SIG${text.toUpperCase()}`) as keyof typeof constants.signals;
  const number = constants.signals[name];
  if (number === undefined) throw new UserError(`${text} is not a signal name`);
  return number;
}

export function kill(store: StateStore, id: string, signalText: string): void {
  const signal = parseSignal(signalText);
  const record = store.read(id);
  if (statusOf(record) === 'stopped') throw new UserError(`container ${id} is not running`);
  process.kill(record.pid, signal);
}

export async function remove(store: StateStore, id: string, force: boolean): Promise<void> {
  const record = store.read(id);
  const status = statusOf(record);
  if (status === 'running' && !force) throw new UserError(`container ${id} is running: stop it first or delete it with --force`);
  if (status !== 'stopped') await stopEverything(store, record);
  else await endVmm(store, id);
  store.remove(id);
  // Where create put it: the engine may call delete with another environment (podman's exit command does).
  rmSync(record.bootDir, { recursive: true, force: true });
}

/** SIGKILL to the shim (the container's end), then mvm run, which stops the microVM and its share servers. */
async function stopEverything(store: StateStore, record: ContainerRecord): Promise<void> {
  try {
    process.kill(record.pid, 'SIGKILL');
  } catch {
    // Gone already.
  }
  await waitUntil(() => !isSameProcessAlive(record.pid, record.pidStartTicks));
  await endVmm(store, record.id);
}

/** Ends the mvm run the shim started, if it outlived the shim: SIGTERM (it stops the VM), then SIGKILL. */
async function endVmm(store: StateStore, id: string): Promise<void> {
  let vmm: { pid: number; startTicks: number };
  try {
    vmm = JSON.parse(readFileSync(join(store.dir(id), VMM_PID_FILE), 'utf8')) as { pid: number; startTicks: number };
  } catch {
    return; // never started
  }
  if (!Number.isInteger(vmm.pid) || vmm.pid <= 1 || !Number.isInteger(vmm.startTicks)) return;
  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    if (!isSameProcessAlive(vmm.pid, vmm.startTicks)) return;
    try {
      process.kill(vmm.pid, signal);
    } catch {
      return;
    }
    if (await waitUntil(() => !isSameProcessAlive(vmm.pid, vmm.startTicks))) return;
  }
}

async function waitUntil(done: () => boolean): Promise<boolean> {
  for (let waited = 0; waited < STOP_WAIT_MS; waited += STOP_POLL_MS) {
    if (done()) return true;
    await sleep(STOP_POLL_MS);
  }
  return done();
}
