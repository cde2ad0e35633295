// The container's host process: the pid mvm-runtime writes to --pid-file.
// `create` starts it (detached from create, still a descendant of the
// engine, which is a child subreaper: conmon, containerd's shim); it holds
// the container's stdio and waits on its control socket until `start`, then
// runs `mvm run` (which boots the microVM, here or inside the helper VM) with
// that stdio, passes the signals `kill` sends it on to mvm run, and exits
// with the container process's status (mvm run passes the guest's status
// through, and ends with 128+N when signal N stopped it).
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { constants } from 'node:os';
import { processStartTicks } from './process-identity.js';

/** What create leaves for the shim in the container's state directory. */
export interface ShimLaunch {
  /** node and the mvm CLI bundle, then `run …`. */
  command: string[];
  /** stdin is a pipe to forward (an engine's -i): the shim relays it and turns its end into the terminal's end-of-file. */
  interactive: boolean;
}

/**
 * The guest reads its stdin from a terminal (the console) in canonical mode,
 * which has no end of its own: when the engine closes our stdin, two ^D
 * (VEOF) end a pending line and then the input, as a terminal's user would.
 */
const END_OF_INPUT = Buffer.from([0x04, 0x04]);

/**
 * Passes the guest's output to ours, and our stdin to the guest once the
 * guest script has turned the console's echo off and said so with
 * GUEST_READY_MARKER (which is taken out of the output): input that arrived
 * earlier would be echoed back into the container's output.
 */
function relayInputOnceReady(output: NodeJS.ReadableStream, input: NodeJS.WritableStream): void {
  const marker = Buffer.from(GUEST_READY_MARKER);
  let pending: Buffer | undefined = Buffer.alloc(0);
  input.on('error', () => {});
  output.on('data', (chunk: Buffer) => {
    if (pending === undefined) {
      writeAll(chunk);
      return;
    }
    pending = Buffer.concat([pending, chunk]);
    const at = pending.indexOf(marker);
    if (at < 0) {
      // Keep only what could be the start of the marker.
      const keep = Math.min(pending.length, marker.length - 1);
      writeAll(pending.subarray(0, pending.length - keep));
      pending = pending.subarray(pending.length - keep);
      return;
    }
    writeAll(pending.subarray(0, at));
    writeAll(pending.subarray(at + marker.length));
    pending = undefined;
    process.stdin.pipe(input, { end: false });
    process.stdin.on('end', () => input.write(END_OF_INPUT));
  });
}

function writeAll(data: Buffer): void {
  let at = 0;
  while (at < data.length) {
    try {
      at += writeSync(1, data, at);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') return; // the engine stopped reading: drop
    }
  }
}

/** What the guest script prints (an APC sequence, which terminals ignore) once stdin may flow: see relayInputOnceReady. */
export const GUEST_READY_MARKER = '\u001b_mvm-ready\u001b\\';

export const LAUNCH_FILE = 'launch.json';
export const CONTROL_SOCKET = 'shim.sock';
/** mvm run's own messages (not the container's): the helper notice, a share that failed, a stop. */
export const VMM_LOG = 'vmm.log';
/** The mvm run process the shim started, as {pid, startTicks}: delete --force ends it too. */
export const VMM_PID_FILE = 'vmm.pid';
/** The byte the shim writes on its readiness pipe (fd 3) once the control socket listens. */
export const READY_BYTE = 'R';

/** Signals `kill` may send that the shim hands on to mvm run (SIGKILL and SIGSTOP cannot be caught: they stop the shim, and mvm run follows its parent). */
const FORWARDED_SIGNALS: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];
const SIGNALLED_BASE = 128;
const READY_FD = 3;

export function runShim(stateDir: string): void {
  const launch = JSON.parse(readFileSync(join(stateDir, LAUNCH_FILE), 'utf8')) as ShimLaunch;
  let child: ChildProcess | undefined;

  for (const signal of FORWARDED_SIGNALS) {
    process.on(signal, () => {
      if (child) child.kill(signal);
      // Before start there is nothing to stop but the shim: it ends as the process would have.
      else if (signal !== 'SIGWINCH') process.exit(SIGNALLED_BASE + constants.signals[signal]);
    });
  }

  const server = createServer((connection) => {
    connection.once('data', (data) => {
      if (data.toString().trim() !== 'start' || child) {
        connection.end('refused\n');
        return;
      }
      const log = openSync(join(stateDir, VMM_LOG), 'a');
      child = spawn(launch.command[0]!, launch.command.slice(1), {
        stdio: launch.interactive ? ['pipe', 'pipe', log] : [0, 1, log],
      });
      if (launch.interactive && child.stdin && child.stdout) relayInputOnceReady(child.stdout, child.stdin);
      closeSync(log);
      if (child.pid !== undefined) {
        writeFileSync(join(stateDir, VMM_PID_FILE), JSON.stringify({ pid: child.pid, startTicks: processStartTicks(child.pid) }));
      }
      child.on('exit', (code, signal) => {
        server.close();
        process.exit(code ?? SIGNALLED_BASE + (signal ? constants.signals[signal] : 0));
      });
      child.on('error', () => process.exit(SIGNALLED_BASE - 1));
      connection.end('started\n');
    });
    connection.on('error', () => {});
  });
  server.listen(join(stateDir, CONTROL_SOCKET), () => {
    try {
      writeSync(READY_FD, READY_BYTE);
      closeSync(READY_FD);
    } catch {
      // Started by hand, without create's pipe: nothing to tell.
    }
  });
}
