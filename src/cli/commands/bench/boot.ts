// `mvm bench boot`: boot time of the three sides (mvm, QEMU microvm, runc on
// the same rootfs), start → marker and start → exit at p50/p90/p99 with
// ratios and mvm's breakdown, plus the VM-exit round trip (koffi vs C) from
// issue 2. The sides run where Linux guests run: on a PVM host like this one
// the command moves itself into the helper VM for them (the exit loop stays
// on this host, whose own KVM it measures, and also runs inside the helper).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { benchCmdline } from '../../../bench/boot/contenders.js';
import { exitLoopRows } from '../../../bench/boot/report.js';
import { plannedSteps, runSideBoots } from '../../../bench/boot/side-boots.js';
import { formatBootSides } from '../../../bench/boot/side-report.js';
import { summarizeSideBoots, type BootSidesResult } from '../../../bench/boot/side-summary.js';
import { runExitLoopSuite, type ExitLoopResult } from '../../../bench/exit-loop/suite.js';
import { linuxGuestLocation } from '../../../bench/harness.js';
import { formatRatios, formatTable, writeJsonReport } from '../../../bench/harness-report.js';
import { Progress } from '../../../bench/progress.js';
import { benchEnvironment } from '../../../bench/sides/environment.js';
import { allSides } from '../../../bench/sides/index.js';
import { UserError } from '../../../errors.js';
import {
  asBenchAction,
  benchInHelperIfNeeded,
  guestFiles,
  readySides,
  retryIfHelperLost,
  say,
  shownPath,
  wholeNumber,
  type Command,
} from './common.js';

interface BootOptions {
  runs: string;
  parallel: string;
  warmup: string;
  exits: string;
  helperExits: string;
  kernel?: string;
  initrd?: string;
  json: string;
  skipBoot?: boolean;
  skipExitLoop?: boolean;
}

/** On the host the loop is ~10 µs per exit: 100k exits is about a second a round. */
const HOST_ROUNDS = 3;
const HOST_PAIRS = 3;
/** Inside the helper a koffi exit costs ~125 µs: fewer exits keep a round near a second; one process pair, since Node starts slowly there. */
const HELPER_ROUNDS = 5;
const HELPER_PAIRS = 1;
/** Upper bounds that catch a typo (10000 boots would run for hours), not real limits. */
const MAX_RUNS = 1000;
const MAX_PARALLEL = 64;

/** What `mvm bench boot` writes to --json. */
export interface BootReport {
  benchmark: 'boot';
  started: string;
  finished: string;
  exitLoops: ExitLoopResult[];
  boot?: BootSidesResult;
  ratios: Array<{ label: string; value: number; goal?: string }>;
}

async function exitLoops(exits: number, helperExits: number): Promise<ExitLoopResult[]> {
  const loops: ExitLoopResult[] = [];
  say(`VM-exit round trip on this host's /dev/kvm: ${HOST_PAIRS} C + ${HOST_PAIRS} koffi processes, ${HOST_ROUNDS} rounds of ${exits} exits each`);
  loops.push(await runExitLoopSuite({ where: 'host', exits, rounds: HOST_ROUNDS, pairs: HOST_PAIRS }));
  if (linuxGuestLocation() === 'helper' && helperExits > 0) {
    say(`VM-exit round trip inside the helper VM: ${HELPER_ROUNDS} rounds of ${helperExits} exits per process`);
    loops.push(
      await retryIfHelperLost('the exit loop inside the helper VM', () =>
        runExitLoopSuite({ where: 'helper', exits: helperExits, rounds: HELPER_ROUNDS, pairs: HELPER_PAIRS }),
      ),
    );
  }
  return loops;
}

/** The sides' result a forwarded run wrote to FILE, checked for the fields this process uses. */
function readForwardedBoot(file: string): BootSidesResult {
  let report: Partial<BootReport>;
  try {
    report = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<BootReport>;
  } catch (err) {
    throw new UserError(`the boot benchmark inside the helper VM left no readable result in ${file}: ${(err as Error).message}`, 1);
  }
  if (report.benchmark !== 'boot' || !report.boot || !Array.isArray(report.boot.sides)) {
    throw new UserError(`the boot benchmark inside the helper VM wrote an unexpected result to ${file}`, 1);
  }
  return report.boot;
}

async function measureSidesHere(runs: number, parallel: number, warmups: number, options: BootOptions): Promise<BootSidesResult> {
  const files = guestFiles(options);
  const sides = allSides(files);
  const { ready, skipped } = await readySides(sides);
  say(`boot: ${runs} instance(s) of each of ${ready.map((s) => s.label).join(', ')}, ${parallel} at a time (after ${warmups} untimed each)`);
  const plan = { sides: ready, runs, parallel, warmups };
  const samples = await runSideBoots({ ...plan, progress: new Progress(plannedSteps(plan)) });
  return summarizeSideBoots({
    environment: benchEnvironment(),
    kernelCmdline: benchCmdline(),
    runs,
    parallel,
    labels: ready.map((s) => ({ side: s.name, label: s.label })),
    skipped,
    samples,
  });
}

async function benchBoot(options: BootOptions): Promise<void> {
  const runs = wholeNumber(options.runs, '--runs', 1, MAX_RUNS);
  const parallel = wholeNumber(options.parallel, '--parallel', 1, MAX_PARALLEL);
  const warmups = wholeNumber(options.warmup, '--warmup', 0, MAX_RUNS);
  const exits = wholeNumber(options.exits, '--exits', 1);
  const helperExits = wholeNumber(options.helperExits, '--helper-exits', 0);
  const json = path.resolve(options.json);
  const started = new Date();

  const loops = options.skipExitLoop ? [] : await exitLoops(exits, helperExits);
  const ratios = loops.map((loop) => ({
    label: `VM exit koffi/C (${loop.where === 'helper' ? 'in helper VM' : 'on host'})`,
    value: loop.koffiOverC,
    goal: '≤ 1.1',
  }));
  // Printed before the boots start, so a forwarded boot run's own output (which names the results file) comes last.
  if (loops.length > 0) process.stdout.write(`\n${formatTable(loops.flatMap(exitLoopRows))}\n\n${formatRatios(ratios)}\n`);
  let boot: BootSidesResult | undefined;
  let forwardedBoot = false;
  if (!options.skipBoot) {
    const files = guestFiles(options);
    const forwarded = await benchInHelperIfNeeded([
      'bench',
      'boot',
      '--skip-exit-loop',
      '--runs',
      String(runs),
      '--parallel',
      String(parallel),
      '--warmup',
      String(warmups),
      '--kernel',
      files.kernel,
      '--initrd',
      files.initrd,
      '--json',
      json,
    ]);
    if (forwarded === null) {
      boot = await measureSidesHere(runs, parallel, warmups, options);
      process.stdout.write(`\n${formatBootSides(boot)}\n`);
    } else if (forwarded !== 0) {
      throw new UserError(`the boot benchmark inside the helper VM failed (exit status ${forwarded})`, forwarded);
    } else {
      boot = readForwardedBoot(json);
      forwardedBoot = true;
    }
  }

  const report: BootReport = { benchmark: 'boot', started: started.toISOString(), finished: new Date().toISOString(), exitLoops: loops, ratios };
  if (boot) report.boot = boot;
  // A forwarded run has written the file and named it already: this host only adds its exit loops.
  if (forwardedBoot) {
    if (loops.length > 0) writeJsonReport(json, report);
    return;
  }
  process.stdout.write(`results: ${shownPath(writeJsonReport(json, report))}\n`);
}

export function register(bench: Command): void {
  bench
    .command('boot')
    .description(
      'boot time of mvm, QEMU microvm and runc on the same rootfs (spawn → marker, spawn → exit; p50/p90/p99, ratios), and the VM-exit round trip (koffi vs C)',
    )
    .option('--runs <n>', 'timed instances per side', '10')
    .option('--parallel <p>', 'instances of a side started at once', '1')
    .option('--warmup <n>', "untimed instances per side first (the first read of the guest files is no side's cost)", '1')
    .option('--exits <n>', 'exits per round of the loop on this host', '100000')
    .option('--helper-exits <n>', 'exits per round of the loop inside the helper VM (0: skip it)', '10000')
    .option('--kernel <path>', 'guest kernel (default images/out/vmlinux)')
    .option('--initrd <path>', "initramfs, also the container's root (default images/out/initramfs.cpio.gz)")
    .option('--json <path>', 'where to write the results', 'images/out/bench/boot.json')
    .option('--skip-boot', 'only the VM-exit round trip')
    .option('--skip-exit-loop', 'only the boots')
    .action((options: BootOptions) => asBenchAction(() => benchBoot(options)));
}
