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
}

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
      child = spawn(launch.command[0]!, launch.command.slice(1), { stdio: [0, 1, log] });
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
