// `mvm bench density [--max N] [--budget-seconds S]`: per side (mvm, QEMU
// microvm, runc), keep starting idle instances until p99 boot time doubles,
// MemAvailable drops below 10 %, the cap or the time budget is reached; the
// instances reached, why it stopped, and instances per GiB. Moves itself into
// the helper VM on hosts whose KVM cannot run Linux guests, so every side
// fills the same machine.
import * as path from 'node:path';
import type { Command } from 'commander';
import { densityTable } from '../../../bench/density/table.js';
import { runDensitySuite } from '../../../bench/density/suite.js';
import { writeJsonReport } from '../../../bench/harness-report.js';
import { Progress, progressWanted } from '../../../bench/progress.js';
import { benchEnvironment } from '../../../bench/sides/environment.js';
import { allSides } from '../../../bench/sides/index.js';
import type { SideName } from '../../../bench/sides/side.js';
import { UserError } from '../../../errors.js';
import { asBenchAction, benchInHelperIfNeeded, guestFiles, shownPath, wholeNumber } from './common.js';

interface DensityOptions {
  max: string;
  budgetSeconds: string;
  sides: string;
  kernel?: string;
  initrd?: string;
  json: string;
}

/**
 * Defaults sized for the helper VM (4 GiB, 2 emulated CPUs): an mvm instance
 * takes seconds to start there, so 150 s per side keeps the three sides
 * within ~10 minutes and usually ends the VM sides (budget or boot time);
 * containers start in well under a second, and 100 lets them go past where
 * the VMs stop. On a hardware host raise both.
 */
const DEFAULT_MAX = '100';
const DEFAULT_BUDGET_SECONDS = '150';
const SIDE_NAMES: readonly SideName[] = ['mvm', 'mvm-restore', 'qemu', 'runc'];
const MAX_CAP = 100_000;
const DAY_SECONDS = 24 * 3600;

function parseSides(text: string): SideName[] {
  const names = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const name of names) {
    if (!(SIDE_NAMES as readonly string[]).includes(name)) throw new UserError(`--sides: unknown side "${name}" (use ${SIDE_NAMES.join(', ')})`, 2);
  }
  if (names.length === 0) throw new UserError('--sides names no side', 2);
  return names as SideName[];
}

async function benchDensity(options: DensityOptions): Promise<void> {
  const maxInstances = wholeNumber(options.max, '--max', 1, MAX_CAP);
  const budgetSeconds = wholeNumber(options.budgetSeconds, '--budget-seconds', 1, DAY_SECONDS);
  const wanted = parseSides(options.sides);
  const forwarded = await benchInHelperIfNeeded(process.argv.slice(2));
  if (forwarded !== null) {
    process.exitCode = forwarded;
    return;
  }
  const say = (line: string) => process.stderr.write(`mvm bench density: ${line}\n`);
  const sides = [];
  for (const side of allSides(guestFiles(options)).filter((s) => wanted.includes(s.name)))
    sides.push({ side, unavailable: await side.unavailable() });
  if (sides.every((s) => s.unavailable !== null)) {
    for (const s of sides) say(`${s.side.label}: ${s.unavailable}`);
    throw new UserError('no side of the benchmark can run here (see the reasons above)', 1);
  }
  const environment = benchEnvironment();
  say(
    `idle instances of ${wanted.join(', ')}, one side at a time; stops at p99 boot ×2, MemAvailable < 10 %, --max ${maxInstances} or ${budgetSeconds} s per side`,
  );
  const ready = sides.filter((s) => s.unavailable === null).length;
  const bar = progressWanted() ? new Progress(ready * maxInstances) : undefined;
  const result = await runDensitySuite(
    {
      sides,
      maxInstances,
      budgetMs: budgetSeconds * 1000,
      progress: (event) => {
        if (!bar) say(event.text);
        else if (event.kind === 'up') bar.step(event.text);
        else if (event.kind === 'done') bar.step(event.text, event.skipped ?? 0);
        else bar.show(event.text);
      },
    },
    environment,
  ).finally(() => bar?.clear());
  process.stdout.write(`\n${densityTable(result)}\n`);
  process.stdout.write(`ran ${environment.description}; MiB each = drop in MemAvailable / instances up\n`);
  process.stdout.write(`results: ${shownPath(writeJsonReport(path.resolve(options.json), result))}\n`);
}

export function register(bench: Command): void {
  bench
    .command('density')
    .description(
      'start idle instances of each side until p99 boot time doubles or MemAvailable < 10 % (or the cap/budget): instances reached and per GiB',
    )
    .option('--max <n>', 'cap on instances per side (a chosen limit, reported as such)', DEFAULT_MAX)
    .option('--budget-seconds <s>', 'time budget per side', DEFAULT_BUDGET_SECONDS)
    .option('--sides <list>', 'comma-separated sides to fill', SIDE_NAMES.join(','))
    .option('--kernel <path>', 'guest kernel (default images/out/vmlinux)')
    .option('--initrd <path>', 'initramfs (default images/out/initramfs.cpio.gz)')
    .option('--json <path>', 'where to write the results', 'images/out/bench/density.json')
    .action((options: DensityOptions) => asBenchAction(() => benchDensity(options)));
}
