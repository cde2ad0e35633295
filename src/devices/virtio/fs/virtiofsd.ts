// Starts one virtiofsd (QEMU's, from Debian's qemu-system-common) for one
// shared directory and connects to its vhost-user socket. virtiofsd sandboxes
// itself: with sandbox=namespace it enters new mount, PID and network
// namespaces and pivot_roots into the shared directory, so a guest's `..` or
// a symlink pointing out resolves inside the share. A read-only share is a
// read-only bind mount of the directory in a mount namespace of its own,
// made before virtiofsd starts (this virtiofsd has no read-only option): the
// host kernel refuses the writes, whatever the guest does.
//
// virtiofsd serves a single front-end and exits when that connection closes,
// so it ends with the VMM even when the VMM is killed; close() also ends it.
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../../../errors.js';
import type { ShareSettings } from '../../settings.js';
import { VhostUserFrontend } from '../vhost-user/frontend.js';

const DEFAULT_VIRTIOFSD = '/usr/lib/qemu/virtiofsd';

/** Read at each use, not at load: the helper VM's spare VMM processes load this module before a request's environment arrives. */
export function virtiofsdPath(): string {
  return process.env['MVM_VIRTIOFSD'] || DEFAULT_VIRTIOFSD;
}
/** How long virtiofsd may take to create its socket (it is ~50 ms here; the helper VM's emulation is slower). */
const START_TIMEOUT_MS = 20_000;
/** How long one vhost-user request may wait for its reply. */
export const REQUEST_TIMEOUT_MS = 10_000;
const POLL_MS = 20;
/**
 * The socket lives on a local tmpfs: inside the helper VM the temporary
 * directory is a 9p share, where a listening unix socket cannot be reached.
 */
const SOCKET_PARENT = '/dev/shm';

export interface RunningVirtiofsd {
  readonly frontend: VhostUserFrontend;
  readonly logPath: string;
  readonly process: ChildProcess;
  /** Ends virtiofsd and removes its socket directory. */
  close(): void;
}

/** Refuses at once when virtiofsd is not installed (before anything starts). */
export function checkVirtiofsdInstalled(): void {
  const path = virtiofsdPath();
  if (!existsSync(path)) {
    throw new UserError(`--share needs virtiofsd, which is not at ${path} (install Debian's qemu-system-common, or set MVM_VIRTIOFSD)`);
  }
}

/**
 * virtiofsd's arguments: its own namespace sandbox, the default cache mode
 * (auto: attributes and entries cached for 1 s, file data until a change is
 * seen at open), warnings only. Also what the benchmark gives QEMU's virtiofsd.
 */
export function virtiofsdArgs(directory: string, socketPath: string): string[] {
  return [`--socket-path=${socketPath}`, '-o', `source=${directory}`, '-o', 'sandbox=namespace', '-o', 'cache=auto', '-o', 'log_level=warn'];
}

/** Starts virtiofsd for `share`, its stderr in `logPath`, and connects to it (blocking, bounded by START_TIMEOUT_MS). */
export function startVirtiofsd(share: ShareSettings, logPath: string): RunningVirtiofsd {
  checkVirtiofsdInstalled();
  const dir = mkdtempSync(join(SOCKET_PARENT, 'mvm-virtiofsd-'));
  const socketPath = join(dir, 'vhost-user.sock');
  const args = virtiofsdArgs(share.path, socketPath);
  const log = openSync(logPath, 'a');
  let child: ChildProcess;
  try {
    child = share.readOnly
      ? spawn(
          'unshare',
          [
            '--mount',
            '--propagation',
            'private',
            '--',
            'sh',
            '-c',
            'set -e; d=$1; shift; mount --bind "$d" "$d"; mount -o remount,bind,ro "$d"; exec "$@"',
            'sh',
            share.path,
            virtiofsdPath(),
            ...args,
          ],
          { stdio: ['ignore', log, log] },
        )
      : spawn(virtiofsdPath(), args, { stdio: ['ignore', log, log] });
  } finally {
    closeSync(log);
  }
  let exited = false;
  child.on('exit', () => {
    exited = true;
  });
  child.unref();
  const stop = () => {
    if (!exited) child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (existsSync(socketPath)) {
      try {
        const frontend = VhostUserFrontend.connect(socketPath, `virtiofsd for ${share.path}`, REQUEST_TIMEOUT_MS);
        // Connected: nothing else will ever connect, so the socket file can go now.
        rmSync(dir, { recursive: true, force: true });
        return { frontend, logPath, process: child, close: stop };
      } catch {
        // Bound but not yet listening: try again.
      }
    }
    if (processEnded(child) || Date.now() > deadline) {
      stop();
      const why = lastLine(logPath);
      throw new UserError(
        `virtiofsd for ${share.path} ${processEnded(child) ? 'exited' : `did not open its socket within ${START_TIMEOUT_MS / 1000} s`}${why ? `: ${why}` : ''} (log: ${logPath})`,
      );
    }
    sleepSync(POLL_MS);
  }
}

/** A child that exited is a zombie until the event loop reaps it; /proc tells without the loop. */
function processEnded(child: ChildProcess): boolean {
  if (child.pid === undefined) return true;
  try {
    const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
    return / [ZX] /.test(stat.slice(stat.lastIndexOf(')') + 1, stat.lastIndexOf(')') + 4));
  } catch {
    return true;
  }
}

function lastLine(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim().split('\n').filter(Boolean).at(-1);
  } catch {
    return undefined;
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
