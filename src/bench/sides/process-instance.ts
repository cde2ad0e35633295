// A BenchInstance backed by one spawned foreground process: watches its
// output for the marker, records when it exits, lists its process tree, and
// stops it with a signal to that tree. The three sides differ only in the command they
// spawn and in how they clean up after it (runc's container state).
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { BENCH_MARKER } from '../boot/contenders.js';
import { processTree } from './process-tree.js';
import type { BenchInstance, InstanceExit, SideName } from './side.js';

/** Output kept per instance for error messages: the end is what explains a failure. */
const OUTPUT_KEEP_CHARS = 16_384;
/** After SIGTERM (or the side's own kill), how long an instance's processes get to end before SIGKILL. */
const STOP_GRACE_MS = 5_000;
/** Lines of output quoted when an instance fails. */
const FAILURE_TAIL_LINES = 3;

/**
 * The last lines of an instance's output that explain a failure, joined on
 * one line. A crashed Node process ends with its stack and version: the error
 * line above them is the one that explains, so those are left out.
 */
export function outputTail(output: string): string {
  return output
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('at ') && !/^Node\.js v\d/.test(l))
    .slice(-FAILURE_TAIL_LINES)
    .join(' | ');
}

export interface ProcessInstanceSpec {
  side: SideName;
  id: string;
  command: string;
  args: readonly string[];
  vmmGuestMemoryBytes?: number;
  /** Extra clean-up once the process has ended (e.g. `runc delete`). */
  afterExit?: () => Promise<void>;
  /**
   * How to stop it instead of SIGTERM to the spawned process (runc: the
   * container's PID 1 ignores SIGTERM, so `runc kill … KILL`). SIGKILL to the
   * spawned process follows after a grace period either way.
   */
  kill?: () => Promise<void>;
}

export function startProcessInstance(spec: ProcessInstanceSpec): BenchInstance {
  let output = '';
  let pending = '';
  const keep = (chunk: string) => {
    output = (output + chunk).slice(-OUTPUT_KEEP_CHARS);
  };
  const startedAt = performance.now();
  const child = spawn(spec.command, spec.args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let resolveMarker!: (at: number) => void;
  let rejectMarker!: (err: Error) => void;
  const markerAt = new Promise<number>((resolve, reject) => {
    resolveMarker = resolve;
    rejectMarker = reject;
  });
  // Nobody awaiting the marker of an instance that failed is not an unhandled rejection.
  markerAt.catch(() => undefined);
  let markerSeen = false;
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    keep(chunk);
    if (markerSeen) return;
    // The marker may straddle two chunks: search the tail of the previous one too.
    pending = (pending + chunk).slice(-(chunk.length + BENCH_MARKER.length));
    if (pending.includes(BENCH_MARKER)) {
      markerSeen = true;
      pending = '';
      resolveMarker(performance.now());
    }
  });
  child.stderr.setEncoding('utf8').on('data', keep);
  const tail = () => outputTail(output);

  const exited = new Promise<InstanceExit>((resolve) => {
    child.on('error', (err) => {
      keep(`cannot start ${spec.command}: ${err.message}\n`);
      resolve({ at: performance.now(), status: null, signal: null });
    });
    // The end is when the process ended ('exit'); 'close' follows once its output is all read, which the marker and timing lines need.
    let endedAt: number | undefined;
    child.on('exit', () => {
      endedAt = performance.now();
    });
    child.on('close', (status, signal) => resolve({ at: endedAt ?? performance.now(), status, signal }));
  }).then(async (exit) => {
    if (!markerSeen) {
      const how = exit.signal ? `was killed by ${exit.signal}` : `exited with status ${exit.status}`;
      rejectMarker(new Error(`${spec.side} instance ${spec.id} ${how} before its init wrote the marker${tail() ? `: ${tail()}` : ''}`));
    }
    if (spec.afterExit) await spec.afterExit().catch((err: unknown) => keep(`clean-up failed: ${String(err)}\n`));
    return exit;
  });

  const pid = child.pid;
  const tree = () => (pid === undefined ? [] : processTree(pid));
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      // Taken now: once the spawned process has died, its orphans can no longer be found from it.
      const pids = tree();
      const signalAll = (signal: NodeJS.Signals) => {
        for (const p of pids) {
          try {
            process.kill(p, signal);
          } catch {
            // Already gone.
          }
        }
      };
      // A process that ignores SIGTERM, or children that keep its output open, must not hold the benchmark up.
      const timer = setTimeout(() => signalAll('SIGKILL'), STOP_GRACE_MS);
      if (child.exitCode === null && child.signalCode === null && pid !== undefined) {
        if (spec.kill) await spec.kill().catch((err: unknown) => keep(`stop failed: ${String(err)}\n`));
        else signalAll('SIGTERM');
      }
      await exited;
      clearTimeout(timer);
    })();
    return stopping;
  };

  const instance: BenchInstance = {
    side: spec.side,
    id: spec.id,
    startedAt,
    markerAt,
    exited,
    pids: tree,
    output: () => output,
    stop,
  };
  if (spec.vmmGuestMemoryBytes !== undefined && pid !== undefined) {
    return { ...instance, vmm: { pid, guestMemoryBytes: spec.vmmGuestMemoryBytes } };
  }
  return instance;
}
