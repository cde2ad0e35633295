// Running and timing the processes a benchmark compares: wall time from
// spawn to exit, and to the first sight of a marker on stdout, measured the
// same way for every contender. Also where a command must run: on a host
// whose KVM cannot run Linux guests, inside mvm's helper VM.
import { spawn } from 'node:child_process';
import { CLI_ENTRY } from '../runtime/build-layout.js';
import { detectHostKvm, decideHelper, helperPolicy, insideHelper } from '../helper/host-kvm.js';

/** The mvm CLI entry of this build, for benchmarks that run mvm as a user would. */
export const MVM_CLI = CLI_ENTRY;
/** A run that takes longer than this is stuck, not slow: kill it and report the failure. */
const DEFAULT_LIMIT_MS = 180_000;

export interface TimedRun {
  /** Spawn to exit. */
  wallMs: number;
  /** Spawn to the first stdout chunk that completes the marker, if one was asked for and seen. */
  markerMs: number | undefined;
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface TimedRunOptions {
  /** Text whose first appearance on stdout is timed. */
  marker?: string;
  limitMs?: number;
}

/** Spawns COMMAND with stdin closed and times it; never throws for a failing command (check `status`). */
export function timeProcess(command: string, args: readonly string[], options: TimedRunOptions = {}): Promise<TimedRun> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const elapsedMs = () => Number(process.hrtime.bigint() - start) / 1e6;
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let markerMs: number | undefined;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (markerMs === undefined && options.marker !== undefined && stdout.includes(options.marker)) markerMs = elapsedMs();
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.limitMs ?? DEFAULT_LIMIT_MS);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot start ${command}: ${err.message}`));
    });
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ wallMs: elapsedMs(), markerMs, status, signal, stdout, stderr });
    });
  });
}

/** One line saying how a run failed, with the end of its output. */
export function describeFailure(what: string, run: TimedRun): string {
  const how = run.signal ? `was killed by ${run.signal}` : `exited with status ${run.status}`;
  const tail = (run.stderr.trim() || run.stdout.trim()).split('\n').slice(-3).join(' | ');
  return `${what} ${how}${tail ? `: ${tail}` : ''}`;
}

/** The run, if it exited 0 and its console showed the marker; otherwise an error saying which of the two went wrong. */
export function requireMarker(what: string, run: TimedRun): TimedRun & { markerMs: number } {
  if (run.status !== 0 || run.markerMs === undefined) {
    throw new Error(describeFailure(`${what}${run.markerMs === undefined ? ' (its console never showed the marker)' : ''}`, run));
  }
  return run as TimedRun & { markerMs: number };
}

/** Runs a command that prints a JSON result as its last stdout line, and returns that line. */
export async function runForResult(what: string, command: string, args: readonly string[], limitMs?: number): Promise<string> {
  const run = await timeProcess(command, args, limitMs === undefined ? {} : { limitMs });
  if (run.status !== 0) throw new Error(describeFailure(what, run));
  return run.stdout;
}

/** Where Linux guests run from this process: 'helper' when mvm would use its helper VM. */
export function linuxGuestLocation(): 'host' | 'helper' {
  if (insideHelper()) return 'host';
  return decideHelper(detectHostKvm(), helperPolicy(), false).useHelper ? 'helper' : 'host';
}

/** The argv that runs COMMAND inside the helper VM through `mvm helper exec`. */
export function inHelper(command: string, args: readonly string[]): [string, string[]] {
  return [process.execPath, [MVM_CLI, 'helper', 'exec', '--', command, ...args]];
}
