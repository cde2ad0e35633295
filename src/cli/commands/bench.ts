// `mvm bench`: benchmarks (not tests). Each subcommand measures mvm against
// baselines in the same run and reports percentiles and ratios: a table on
// stdout and JSON under images/out/bench/. One file per subcommand in
// ./bench/, registered here one line each.
import type { Command } from 'commander';
import { register as registerBoot } from './bench/boot.js';
import { register as registerMemory } from './bench/memory.js';
import { register as registerDisk } from './bench/disk.js';
import { register as registerDensity } from './bench/density.js';
import { register as registerReport } from './bench/report.js';
import { register as registerGuestDisk } from './bench/guest-disk.js';
import { register as registerGuestFs } from './bench/guest-fs.js';

export function register(program: Command): void {
  const bench = program
    .command('bench')
    .description('benchmarks (not tests): mvm against QEMU microvm and runc containers, measured side by side in the same run');
  registerBoot(bench);
  registerMemory(bench);
  registerDisk(bench);
  registerDensity(bench);
  registerReport(bench);
  registerGuestDisk(bench);
  registerGuestFs(bench);
}
