// Starting, finding, and stopping the helper VM on the host.
//
// The helper is started on demand, detached (it outlives the mvm command that
// started it), recorded in the state directory, and reused by every later
// command until it powers itself off after the idle period or `mvm helper
// stop` ends it. A lock file makes concurrent starters start one helper.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { UserError } from '../errors.js';
import { HELPER_DAEMON_ENTRY } from '../runtime/build-layout.js';
import { ensurePrivateDir, helperStateDir, projectRoot } from '../runtime/paths.js';
import { HELPER_HOST, RemoteCommand } from './connection.js';
import { PROTOCOL_VERSION, type PingReply } from './protocol.js';
import { helperQemuArgs } from './qemu-command.js';
import { withStartLock } from './start-lock.js';
import { normaliseShares, readHelperSettings, uncoveredShares, type HelperSettings } from './settings.js';
import { helperFiles, isHelperProcess, readHelperState, removeHelperState, writeHelperState, type HelperFiles, type HelperState } from './state.js';

/** Boot + node start-up under emulation takes ~10 s here; allow slow, busy machines plenty more. */
const READY_TIMEOUT_MS = 180_000;
/** How often a starting helper is asked whether its daemon is up. */
const READY_POLL_MS = 250;
/** A ping to a running helper answers in milliseconds; a stuck one gets this long. */
const PING_TIMEOUT_MS = 5_000;
/** Waiting for another command's helper start takes at most a boot. */
const LOCK_TIMEOUT_MS = READY_TIMEOUT_MS + 30_000;
/** After SIGTERM QEMU exits at once; SIGKILL follows after this. */
const STOP_GRACE_MS = 5_000;
/** 256 bits: the token is the only thing that stops other local users driving the helper. */
const TOKEN_BYTES = 32;
/** A port QEMU could not bind (taken between our probe and its bind) is retried this often. */
const PORT_ATTEMPTS = 3;

export interface HelperImage {
  readonly kernel: string;
  readonly initrd: string;
  readonly key: string;
}

export interface RunningHelper {
  readonly state: HelperState;
  readonly token: string;
  readonly files: HelperFiles;
}

export function currentHelperFiles(): HelperFiles {
  return helperFiles(helperStateDir());
}

/** The built helper image, or null when images/build-helper.sh has not run. */
export function findHelperImage(settings: HelperSettings): HelperImage | null {
  // The uncompressed kernel boots ~3 s faster under emulation (PVH entry, no
  // firmware, no decompression); vmlinuz is the fallback.
  const elf = join(settings.imageDir, 'vmlinux');
  const kernel = existsSync(elf) ? elf : join(settings.imageDir, 'vmlinuz');
  const initrd = join(settings.imageDir, 'initrd.cpio.gz');
  if (!existsSync(kernel) || !existsSync(initrd)) return null;
  let key = 'unknown';
  try {
    key = /^HELPER_KEY=(\S+)$/m.exec(readFileSync(join(settings.imageDir, 'image.env'), 'utf8'))?.[1] ?? key;
  } catch {
    // an image without its env file still boots
  }
  return { kernel, initrd, key };
}

/** Builds the helper image with images/build-helper.sh (about 15 s, then cached). */
function buildHelperImage(settings: HelperSettings): HelperImage {
  const script = join(projectRoot(), 'images', 'build-helper.sh');
  if (!existsSync(script)) throw new UserError(`the helper VM image is not built and ${script} is missing`);
  process.stderr.write('mvm: building the helper VM image (once; cached afterwards)\n');
  const result = spawnSync(script, [settings.imageDir], { stdio: ['ignore', 'ignore', 'inherit'] });
  const image = findHelperImage(settings);
  if (result.status !== 0 || image === null)
    throw new UserError(`building the helper VM image failed (run ${script} ${settings.imageDir} to see why)`);
  return image;
}

/** Asks the daemon for its state; null when it does not answer properly. */
export async function pingHelper(port: number, token: string, timeoutMs = PING_TIMEOUT_MS): Promise<PingReply | null> {
  const remote = new RemoteCommand(
    port,
    {
      version: PROTOCOL_VERSION,
      token,
      kind: 'ping',
      argv: [],
      cwd: '/',
      env: {},
      interactive: false,
      terminal: null,
    },
    null,
  );
  const timer = setTimeout(() => remote.abort(), timeoutMs);
  const result = await remote.done;
  clearTimeout(timer);
  return result.kind === 'pong' ? result.reply : null;
}

/** The running helper recorded in the state directory, or null (stale records are removed). */
export function findRunningHelper(files: HelperFiles = currentHelperFiles()): RunningHelper | null {
  const state = readHelperState(files);
  if (state === null) return null;
  if (!isHelperProcess(state.pid, files)) {
    removeHelperState(files);
    return null;
  }
  try {
    return { state, token: readFileSync(files.token, 'utf8').trim(), files };
  } catch {
    return null;
  }
}

/** A free TCP port on loopback (QEMU binds it a moment later; a lost race is retried). */
async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, HELPER_HOST, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no free port'))));
    });
  });
}

function tail(path: string, lines: number): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

async function waitUntilReady(state: HelperState, token: string, files: HelperFiles): Promise<boolean> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (!isHelperProcess(state.pid, files)) return false;
    if ((await pingHelper(state.hostPort, token, PING_TIMEOUT_MS)) !== null) return true;
    await sleep(READY_POLL_MS);
  }
  return false;
}

function launchQemu(settings: HelperSettings, image: HelperImage, files: HelperFiles, hostPort: number): number {
  const args = helperQemuArgs({
    kernel: image.kernel,
    initrd: image.initrd,
    memoryMiB: settings.memoryMiB,
    cpus: settings.cpus,
    hostPort,
    writableShares: settings.writableShares,
    nodePath: process.execPath,
    daemonPath: HELPER_DAEMON_ENTRY,
    tokenPath: files.token,
    idleSeconds: settings.idleSeconds,
    consoleLog: files.consoleLog,
    pidFile: files.pidFile,
  });
  const log = openSync(files.qemuLog, 'w', 0o600);
  try {
    const child = spawn(settings.qemu, args, { detached: true, stdio: ['ignore', log, log] });
    child.on('error', () => {
      // reported below: the pid is missing or the process is gone at once
    });
    child.unref();
    if (child.pid === undefined) throw new UserError(`cannot start ${settings.qemu} (is qemu-system-x86 installed? make deps installs it)`);
    return child.pid;
  } finally {
    closeSync(log);
  }
}

/**
 * Starts the helper. `keepShares` are the writable shares of a helper this
 * one replaces: kept (where they still exist), so that commands with two
 * environments take turns on one helper instead of restarting it each time.
 */
async function startHelper(files: HelperFiles, keepShares: readonly string[] = []): Promise<RunningHelper> {
  const wanted = readHelperSettings();
  const settings = { ...wanted, writableShares: normaliseShares([...wanted.writableShares, ...keepShares.filter((p) => existsSync(p))]) };
  const image = findHelperImage(settings) ?? buildHelperImage(settings);
  for (const share of settings.writableShares) mkdirSync(share, { recursive: true });
  const token = randomBytes(TOKEN_BYTES).toString('hex');
  writeFileSync(files.token, `${token}\n`, { mode: 0o600 });
  for (let attempt = 1; attempt <= PORT_ATTEMPTS; attempt++) {
    const hostPort = await freeLoopbackPort();
    const pid = launchQemu(settings, image, files, hostPort);
    const state: HelperState = {
      pid,
      hostPort,
      startedAt: Date.now(),
      cpus: settings.cpus,
      memoryMiB: settings.memoryMiB,
      idleSeconds: settings.idleSeconds,
      imageKey: image.key,
      writableShares: settings.writableShares,
    };
    writeHelperState(files, state);
    if (await waitUntilReady(state, token, files)) return { state, token, files };
    const alive = isHelperProcess(pid, files);
    if (alive) process.kill(pid, 'SIGKILL');
    removeHelperState(files);
    const qemuLog = tail(files.qemuLog, 5);
    if (!alive && /host forwarding rule|Could not set up host forwarding/i.test(qemuLog) && attempt < PORT_ATTEMPTS) continue;
    throw new UserError(
      `the helper VM did not become ready (${alive ? 'timed out' : 'QEMU exited'}); ` +
        `QEMU log ${files.qemuLog}: ${qemuLog.replace(/\n/g, ' | ')}; console ${files.consoleLog}: ${tail(files.consoleLog, 3).replace(/\n/g, ' | ')}`,
    );
  }
  throw new UserError('the helper VM could not get a loopback port');
}

/**
 * A running helper that answers but cannot write a directory this command
 * needs (started with another TMPDIR, MVM_RUN_DIR or MVM_CACHE): restarted
 * when nothing runs in it, refused with one line otherwise. Without this
 * check a command would fail deep inside (a module or file "not found" in
 * the helper) with nothing to say why.
 */
async function reuseOrRestart(
  running: RunningHelper,
  reply: PingReply,
  files: HelperFiles,
): Promise<{ readonly reuse: RunningHelper } | { readonly stoppedWithShares: readonly string[] }> {
  // A helper started by an older mvm did not record its shares: it is reused as before.
  if (running.state.writableShares === undefined) return { reuse: running };
  const missing = uncoveredShares(readHelperSettings().writableShares, running.state.writableShares);
  if (missing.length === 0) return { reuse: running };
  // The ping itself is not counted as a request by the daemon.
  const busy = reply.activeRequests > 0 || (reply.liveVmms ?? 1) > 0;
  if (busy) {
    throw new UserError(
      `the running helper VM cannot write ${missing.join(', ')} (it was started with other shares) and is in use; ` +
        'run this command with the environment that started it, or stop its VMs and run `mvm helper stop`',
    );
  }
  process.stderr.write(`mvm: restarting the helper VM so that it can write ${missing.join(', ')}\n`);
  await stopHelper(files, running.state.pid);
  // Its successor keeps these too (startHelper), so two environments share one helper.
  return { stoppedWithShares: running.state.writableShares };
}

/** The running helper, started first when there is none. */
export async function ensureHelper(): Promise<RunningHelper> {
  const files = currentHelperFiles();
  const running = findRunningHelper(files);
  const reply = running ? await pingHelper(running.state.hostPort, running.token) : null;
  let keepShares: readonly string[] = [];
  if (running && reply !== null) {
    const outcome = await reuseOrRestart(running, reply, files);
    if ('reuse' in outcome) return outcome.reuse;
    keepShares = outcome.stoppedWithShares;
  }
  ensurePrivateDir(files.dir);
  return withStartLock(files.startLock, LOCK_TIMEOUT_MS, async () => {
    // Someone may have started it while we waited for the lock.
    const started = findRunningHelper(files);
    if (started) {
      const answer =
        (await pingHelper(started.state.hostPort, started.token)) ??
        ((await waitUntilReady(started.state, started.token, files)) ? await pingHelper(started.state.hostPort, started.token) : null);
      if (answer !== null) {
        const outcome = await reuseOrRestart(started, answer, files);
        if ('reuse' in outcome) return outcome.reuse;
        keepShares = outcome.stoppedWithShares;
      } else {
        await stopHelper(files, started.state.pid);
      }
    }
    return startHelper(files, keepShares);
  });
}

/**
 * Stops the helper if it runs; resolves to whether there was one. With
 * `onlyPid`, stops it only if it is still that QEMU: a command that lost its
 * helper must not stop the new one another command has just started.
 */
export async function stopHelper(files: HelperFiles = currentHelperFiles(), onlyPid?: number): Promise<boolean> {
  const state = readHelperState(files);
  if (state !== null && onlyPid !== undefined && state.pid !== onlyPid) return false;
  if (state === null || !isHelperProcess(state.pid, files)) {
    if (state !== null) removeHelperState(files);
    return false;
  }
  // QEMU exits on SIGTERM at once; the writable shares are synchronous 9p
  // mounts, so nothing written from inside is lost.
  process.kill(state.pid, 'SIGTERM');
  const deadline = Date.now() + STOP_GRACE_MS;
  while (isHelperProcess(state.pid, files) && Date.now() < deadline) await sleep(50);
  if (isHelperProcess(state.pid, files)) process.kill(state.pid, 'SIGKILL');
  removeHelperState(files);
  return true;
}
