// The host-side relay of a detached VM whose VMM runs inside the helper VM:
// a small detached process (`mvm __relay NAME`) that listens on
// vms/<name>/api.sock and joins each connection to the VMM's socket inside
// the helper (state.json apiListen) through the helper daemon. So every host
// tool talks to vms/<name>/api.sock, wherever the VMM runs. It records its pid
// in relay.pid and ends, removing both files, when the VM has ended or the
// helper VM it was started with is gone.
import { closeSync, existsSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { UserError } from '../errors.js';
import { findRunningHelper } from '../helper/lifecycle.js';
import { relayHostSocket } from '../helper/socket-relay.js';
import { CLI_ENTRY } from './cli-entry.js';
import { vmFile } from './vm-dir.js';
import { isFinalState } from './vm-lifecycle.js';
import { readJsonFile, type VmStatus } from './vm-status.js';

/** How often the relay checks that its VM and the helper still exist. */
const WATCH_INTERVAL_MS = 1_000;
/** Starting the relay is a native node start on the host: well under a second. */
const RELAY_START_TIMEOUT_MS = 15_000;
const RELAY_POLL_MS = 20;
/** How the helper daemon refuses a connection to a socket nobody listens on any more (src/helper/connect-request.ts). */
const VMM_SOCKET_GONE = /does not exist or leads outside|cannot connect to .*: (ENOENT|ECONNREFUSED)/;

function log(message: string): void {
  process.stderr.write(`${new Date().toISOString()} mvm relay: ${message}\n`);
}

/**
 * Why the relay should end now, or null while its VM and helper live on.
 * `started` is the VMM's state when the relay began; `now` its state.json
 * now (null when unreadable), `statusExists` whether the file still exists (mvm rm removes the directory);
 * `helperPid` the running helper's QEMU pid now (null: none).
 */
export function relayStopReason(
  started: VmStatus,
  now: VmStatus | null,
  statusExists: boolean,
  startHelperPid: number,
  helperPid: number | null,
): string | null {
  if (now === null && !statusExists) return 'the VM directory is gone';
  if (now !== null && isFinalState(now.state)) return `the VM has ${now.state}`;
  if (now !== null && now.pid !== started.pid) return 'another VMM took over the name';
  if (helperPid !== startHelperPid) return 'the helper VM is gone';
  return null;
}

/** The relay process's body. */
export async function runApiRelay(name: string): Promise<void> {
  const statusPath = vmFile(name, 'status');
  const status = readJsonFile<VmStatus>(statusPath);
  if (status === null) throw new UserError(`${name} has no state.json yet`);
  if (status.where !== 'helper') throw new UserError(`${name}'s VMM runs on this host; its API socket needs no relay`);
  const helper = findRunningHelper();
  if (helper === null) throw new UserError('the helper VM is not running');
  const helperPid = helper.state.pid;
  let vmmGone = (): void => undefined;
  const relay = await relayHostSocket(vmFile(name, 'api'), status.apiListen, {
    onError: (message) => {
      log(message);
      // The VMM listens from before its first state until its last: while
      // state.json says it runs, a missing or refusing socket means it died.
      if (VMM_SOCKET_GONE.test(message)) vmmGone();
    },
  });
  const pidFile = vmFile(name, 'relayPid');
  writeFileSync(pidFile, `${process.pid}\n`, { mode: 0o600 });
  log(`relaying ${relay.hostPath} to ${status.apiListen} in the helper VM (pid ${helperPid})`);

  const stop = (why: string): never => {
    log(`stopping: ${why}`);
    relay.close();
    try {
      writeFileSync(vmFile(name, 'relayEnded'), `${why}\n`, { mode: 0o600 });
    } catch {
      // the VM directory was removed (mvm rm): nobody is left to read it
    }
    try {
      if (readFileSync(pidFile, 'utf8').trim() === String(process.pid)) rmSync(pidFile, { force: true });
    } catch {
      // already gone
    }
    process.exit(0);
  };
  vmmGone = () => {
    const now = readJsonFile<VmStatus>(statusPath);
    if (now !== null && !isFinalState(now.state) && now.pid === status.pid) stop('the VMM inside the helper VM is gone (its socket does not answer)');
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  setInterval(() => {
    const reason = relayStopReason(
      status,
      readJsonFile<VmStatus>(statusPath),
      existsSync(statusPath),
      helperPid,
      findRunningHelper()?.state.pid ?? null,
    );
    if (reason !== null) stop(reason);
  }, WATCH_INTERVAL_MS);
}

/**
 * Starts the relay of `name` (after `mvm run -d` has succeeded inside the
 * helper) and waits until api.sock answers to connections, or the VM has
 * already ended (then no relay is needed).
 */
export async function startApiRelay(name: string): Promise<void> {
  const status = readJsonFile<VmStatus>(vmFile(name, 'status'));
  if (status === null || status.where !== 'helper' || isFinalState(status.state)) return;
  const log = openSync(vmFile(name, 'relayLog'), 'a', 0o600);
  let exited = false;
  try {
    const child = spawn(process.execPath, [CLI_ENTRY, '__relay', name], { detached: true, stdio: ['ignore', log, log] });
    child.on('error', () => {
      exited = true;
    });
    child.on('exit', () => {
      exited = true;
    });
    child.unref();
    const deadline = Date.now() + RELAY_START_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (existsSync(vmFile(name, 'relayPid'))) return;
      const now = readJsonFile<VmStatus>(vmFile(name, 'status'));
      if (now !== null && isFinalState(now.state)) return;
      if (exited) break;
      await sleep(RELAY_POLL_MS);
    }
  } finally {
    closeSync(log);
  }
  throw new UserError(`the VM ${name} runs, but its API socket relay did not start (see ${vmFile(name, 'relayLog')})`);
}
