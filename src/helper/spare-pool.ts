// Keeps one warm spare node process ready inside the helper VM (see
// spare.ts). Handing it out starts the next one straight away, but at the
// lowest CPU priority: the helper has one emulated CPU, and the request that
// was just handed a spare must not wait for the next spare's start-up. The
// handed-out process gets normal priority back (the daemon runs as root).
//
// A spare must not serve code older than what is on disk: a developer who
// rebuilds mvm and runs it expects the new build. `tsc` rewrites every output
// file on each build, so the modification times of a few sentinel files
// identify the build a spare loaded; a spare from an older build is replaced.
// (Walking every module instead costs ~0.5 s over 9p under emulation.)
import { spawn, type ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';
import { setPriority } from 'node:os';
import { CLI_ENTRY, HELPER_SPARE_ENTRY } from '../runtime/build-layout.js';
import type { SpareMessage } from './spare-messages.js';

const SPARE_ENTRY = HELPER_SPARE_ENTRY;
/** Files every build rewrites and every spare loads: the CLI entry and the spare. */
const BUILD_SENTINELS = [CLI_ENTRY, SPARE_ENTRY];

/** Identifies the build on disk now (missing files count too). */
export function buildStamp(files: readonly string[] = BUILD_SENTINELS): string {
  return files
    .map((file) => {
      try {
        return String(statSync(file).mtimeMs);
      } catch {
        return 'missing';
      }
    })
    .join(' ');
}
/** Nice value while warming up: only idle CPU time goes to the next spare. */
const WARMING_NICE = 19;
const NORMAL_NICE = 0;
/** A spare that dies this many times in a row is not restarted until asked again. */
const MAX_CONSECUTIVE_FAILURES = 3;

interface Spare {
  readonly child: ChildProcess;
  readonly build: string;
  readonly ready: Promise<boolean>;
  isReady: boolean;
}

function setNice(pid: number | undefined, nice: number): void {
  if (pid === undefined) return;
  try {
    setPriority(pid, nice);
  } catch {
    // Not permitted (not root) or already gone: priority is only an optimisation.
  }
}

export class SparePool {
  private spare: Spare | null = null;
  private failures = 0;
  private closed = false;

  constructor(private readonly baseEnv: Readonly<Record<string, string>>) {}

  /** Starts a spare if none is warming or ready. */
  fill(): void {
    if (this.closed || this.spare !== null || this.failures >= MAX_CONSECUTIVE_FAILURES) return;
    const build = buildStamp();
    const child = spawn(process.execPath, [SPARE_ENTRY], {
      cwd: '/',
      env: this.baseEnv,
      stdio: ['pipe', 'pipe', 'pipe', 'ipc'],
    });
    setNice(child.pid, WARMING_NICE);
    const spare: Spare = {
      child,
      build,
      isReady: false,
      ready: new Promise<boolean>((resolve) => {
        child.once('message', (msg: unknown) => {
          const ok = (msg as SpareMessage).type === 'ready';
          spare.isReady = ok;
          if (ok) this.failures = 0;
          resolve(ok);
        });
        child.once('exit', () => resolve(false));
        child.once('error', () => resolve(false));
      }),
    };
    // Until handed out, a spare's output is nobody's; keep it from blocking.
    child.stdout?.resume();
    child.stderr?.pipe(process.stderr, { end: false });
    child.once('exit', () => {
      if (this.spare === spare) {
        this.spare = null;
        this.failures += 1;
      }
    });
    this.spare = spare;
  }

  get hasReadySpare(): boolean {
    return this.spare?.isReady ?? false;
  }

  /**
   * A ready spare, now owned by the caller (its stdout is paused and
   * unpiped, ready to be streamed), or null when none could be started.
   */
  async take(): Promise<ChildProcess | null> {
    for (let attempt = 0; attempt < MAX_CONSECUTIVE_FAILURES; attempt++) {
      if (this.spare === null) {
        this.failures = 0; // an explicit request deserves fresh attempts
        this.fill();
      }
      const spare = this.spare;
      if (spare === null) return null;
      // Claim it before waiting: a second request arriving while this spare
      // warms up must not be handed the same process (their streams would mix).
      this.spare = null;
      setNice(spare.child.pid, NORMAL_NICE); // a request is waiting for it now
      const ok = await spare.ready;
      if (!ok || spare.child.exitCode !== null) continue;
      const lastChance = attempt === MAX_CONSECUTIVE_FAILURES - 1;
      if (spare.build !== buildStamp() && !lastChance) {
        // Rebuilt since this spare loaded its modules: a fresh one loads the
        // new build (a build still being written may need another round).
        process.stderr.write('mvm-daemon: mvm was rebuilt; replacing the warm spare\n');
        spare.child.removeAllListeners('exit');
        spare.child.kill('SIGKILL');
        continue;
      }
      spare.child.stdout?.pause();
      spare.child.stderr?.unpipe(process.stderr);
      spare.child.removeAllListeners('exit');
      this.fill();
      return spare.child;
    }
    return null;
  }

  close(): void {
    this.closed = true;
    this.spare?.child.kill('SIGKILL');
    this.spare = null;
  }
}
