// `mvm bench memory`: host memory per idle instance of each side (PSS sum and
// MemAvailable drop) and the VMMs' own overhead beside guest RAM. Runs where
// Linux guests run (inside the helper VM on a PVM host).
import * as path from 'node:path';
import { GUEST_MEMORY_MIB } from '../../../bench/boot/contenders.js';
import { writeJsonReport } from '../../../bench/harness-report.js';
import { formatMemoryResult, summarizeSideMemory, type MemoryResult } from '../../../bench/memory/summary.js';
import { IDLE_CPU_WINDOW_MS, IDLE_SETTLE_MS, runMemoryBench } from '../../../bench/memory/suite.js';
import { Progress } from '../../../bench/progress.js';
import { benchEnvironment } from '../../../bench/sides/environment.js';
import { allSides } from '../../../bench/sides/index.js';
import { asBenchAction, benchInHelperIfNeeded, guestFiles, readySides, say, shownPath, wholeNumber, type Command } from './common.js';

interface MemoryOptions {
  count: string;
  kernel?: string;
  initrd?: string;
  json: string;
}

/** Each VM may take its 256 MiB: a typo like 1000 must not exhaust the machine. */
const MAX_COUNT = 64;

/** What `mvm bench memory` writes to --json. */
export interface MemoryReport extends MemoryResult {
  benchmark: 'memory';
  started: string;
  finished: string;
}

async function benchMemory(options: MemoryOptions): Promise<void> {
  const count = wholeNumber(options.count, '--count', 1, MAX_COUNT);
  const json = path.resolve(options.json);
  const files = guestFiles(options);
  const forwarded = await benchInHelperIfNeeded([
    'bench',
    'memory',
    '--count',
    String(count),
    '--kernel',
    files.kernel,
    '--initrd',
    files.initrd,
    '--json',
    json,
  ]);
  if (forwarded !== null) {
    process.exitCode = forwarded;
    return;
  }
  const started = new Date();
  const { ready, skipped } = await readySides(allSides(files));
  say(`memory: ${count} idle instance(s) of each of ${ready.map((s) => s.label).join(', ')}, one side at a time`);
  const raw = await runMemoryBench({ sides: ready, count, progress: new Progress(ready.length * count) });
  const result: MemoryResult = {
    environment: benchEnvironment(),
    count,
    guestMemoryMiB: GUEST_MEMORY_MIB,
    idleMs: IDLE_SETTLE_MS,
    idleCpuWindowMs: IDLE_CPU_WINDOW_MS,
    sides: raw.map(summarizeSideMemory),
    skipped,
  };
  process.stdout.write(`\n${formatMemoryResult(result)}\n`);
  const report: MemoryReport = { benchmark: 'memory', started: started.toISOString(), finished: new Date().toISOString(), ...result };
  process.stdout.write(`results: ${shownPath(writeJsonReport(json, report))}\n`);
}

export function register(bench: Command): void {
  bench
    .command('memory')
    .description(
      "host memory and CPU per idle instance of mvm, QEMU microvm and runc (PSS sum, MemAvailable drop, idle CPU) and the VMMs' overhead beside guest RAM",
    )
    .option('--count <n>', 'idle instances per side', '5')
    .option('--kernel <path>', 'guest kernel (default images/out/vmlinux)')
    .option('--initrd <path>', "initramfs, also the container's root (default images/out/initramfs.cpio.gz)")
    .option('--json <path>', 'where to write the results', 'images/out/bench/memory.json')
    .action((options: MemoryOptions) => asBenchAction(() => benchMemory(options)));
}
