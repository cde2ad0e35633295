// `mvm bench`: benchmarks (not tests). Each subcommand measures mvm against a
// baseline in the same run and reports medians, p90, min–max and ratios; a
// table on stdout and JSON under images/out/bench/. `boot` covers issue 2's
// figures; later comparisons (containers, snapshots) become siblings.
import * as path from 'node:path';
import type { Command } from 'commander';
import { bootRows, exitLoopRows } from '../../bench/boot/report.js';
import { runBootSuite, type BootResult } from '../../bench/boot/suite.js';
import { runExitLoopSuite, type ExitLoopResult } from '../../bench/exit-loop/suite.js';
import { linuxGuestLocation } from '../../bench/harness.js';
import { formatRatios, formatTable, writeJsonReport, type ReportRow } from '../../bench/harness-report.js';
import { projectRoot } from '../../runtime/paths.js';
import { UserError } from '../errors.js';
import { register as registerDisk } from './bench/disk.js';

interface BootOptions {
  runs: string;
  exits: string;
  helperExits: string;
  kernel?: string;
  initrd?: string;
  json: string;
  skipBoot?: boolean;
}

/** On the host the loop is ~10 µs per exit: 100k exits is about a second a round. */
const HOST_ROUNDS = 3;
const HOST_PAIRS = 3;
/** Inside the helper a koffi exit costs ~125 µs: fewer exits keep a round near a second; one process pair, since Node starts slowly there. */
const HELPER_ROUNDS = 5;
const HELPER_PAIRS = 1;

function wholeNumber(text: string, what: string, min: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw new UserError(`${what} must be a whole number of at least ${min}, not "${text}"`, 2);
  return n;
}

function say(text: string): void {
  process.stderr.write(`mvm bench: ${text}\n`);
}

async function benchBoot(options: BootOptions): Promise<void> {
  const root = projectRoot();
  const runs = wholeNumber(options.runs, '--runs', 1);
  const exits = wholeNumber(options.exits, '--exits', 1);
  const helperExits = wholeNumber(options.helperExits, '--helper-exits', 0);
  const files = {
    kernel: path.resolve(options.kernel ?? path.join(root, 'images/out/vmlinux')),
    initrd: path.resolve(options.initrd ?? path.join(root, 'images/out/initramfs.cpio.gz')),
  };
  const started = new Date();
  const rows: ReportRow[] = [];
  const ratios: Array<{ label: string; value: number; goal?: string }> = [];
  const exitLoops: ExitLoopResult[] = [];

  say(`VM-exit round trip on this host's /dev/kvm: ${HOST_PAIRS} C + ${HOST_PAIRS} koffi processes, ${HOST_ROUNDS} rounds of ${exits} exits each`);
  exitLoops.push(await runExitLoopSuite({ where: 'host', exits, rounds: HOST_ROUNDS, pairs: HOST_PAIRS }));
  const location = linuxGuestLocation();
  if (location === 'helper' && helperExits > 0) {
    say(`VM-exit round trip inside the helper VM: ${HELPER_ROUNDS} rounds of ${helperExits} exits per process`);
    exitLoops.push(await runExitLoopSuite({ where: 'helper', exits: helperExits, rounds: HELPER_ROUNDS, pairs: HELPER_PAIRS }));
  }
  for (const loop of exitLoops) {
    rows.push(...exitLoopRows(loop));
    ratios.push({ label: `VM exit koffi/C (${loop.where === 'helper' ? 'in helper VM' : 'on host'})`, value: loop.koffiOverC, goal: '≤ 1.1' });
  }

  let boot: BootResult | undefined;
  if (!options.skipBoot) {
    say(`boot: ${runs} boots each of mvm and QEMU microvm${location === 'helper' ? ' inside the helper VM, then from this host through it' : ''}`);
    boot = await runBootSuite({ runs, files });
    rows.push(...bootRows(boot));
    ratios.push(...boot.ratios);
  }

  process.stdout.write(`\n${formatTable(rows)}\n\nratios of medians:\n${formatRatios(ratios)}\n`);
  if (boot?.processStartToFirstKvmRunMs !== undefined) {
    process.stdout.write(`\nVMM's own share, process start → first KVM_RUN (${boot.location === 'helper' ? 'in helper VM' : 'on host'}): ≈ ${Math.round(boot.processStartToFirstKvmRunMs)} ms (median Node + modules + median VMM setup)\n`);
  }
  if (boot?.mvmFromHostForeignRuns) {
    process.stdout.write(`discarded ${boot.mvmFromHostForeignRuns} from-host run(s) that printed another request's output (helper warm-process hand-out race)\n`);
  }
  if (boot) process.stdout.write(`\nboth VMMs boot ${path.relative(root, files.kernel)} + ${path.relative(root, files.initrd)}, 1 vCPU, 256 MiB, command line:\n  ${boot.kernelCmdline}\n`);
  const written = writeJsonReport(path.resolve(options.json), {
    benchmark: 'boot', started: started.toISOString(), finished: new Date().toISOString(), exitLoops, boot, ratios,
  });
  const shown = path.relative(process.cwd(), written);
  process.stdout.write(`results: ${shown.startsWith('..') ? written : shown}\n`);
  if (boot?.mvmFromHostError) throw new UserError(`the boots from this host through the helper failed: ${boot.mvmFromHostError}`, 1);
}

export function register(program: Command): void {
  const bench = program
    .command('bench')
    .description('benchmarks (not tests): medians and ratios against a baseline measured in the same run');

  bench
    .command('boot')
    .description('VM-exit round trip (koffi vs C) and boot time (mvm vs QEMU microvm, same kernel and initramfs)')
    .option('--runs <n>', 'timed boots per VMM', '10')
    .option('--exits <n>', 'exits per round of the loop on this host', '100000')
    .option('--helper-exits <n>', 'exits per round of the loop inside the helper VM (0: skip it)', '10000')
    .option('--kernel <path>', 'guest kernel (default images/out/vmlinux)')
    .option('--initrd <path>', 'initramfs (default images/out/initramfs.cpio.gz)')
    .option('--json <path>', 'where to write the results', 'images/out/bench/boot.json')
    .option('--skip-boot', 'only the VM-exit round trip')
    .action(async (options: BootOptions) => {
      try {
        await benchBoot(options);
      } catch (err) {
        if (err instanceof UserError) throw err;
        throw new UserError(`benchmark failed: ${err instanceof Error ? err.message : String(err)}`, 1);
      }
    });
  registerDisk(bench);
}
