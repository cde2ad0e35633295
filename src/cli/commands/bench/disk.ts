// `mvm bench disk --count N`: bytes on disk and time per clone for N
// instances from one base — mvm's qcow2 overlays, full and sparse copies of
// the raw image, and a container's overlayfs upper dirs — before and after
// each writes the same amount. Runs on the machine it is started on (it needs
// no KVM of its own; overlayfs needs root); the guest writes boot through
// `mvm run`, so on a PVM host inside the helper VM.
import * as os from 'node:os';
import * as path from 'node:path';
import type { Command } from 'commander';
import { writeJsonReport } from '../../../bench/harness-report.js';
import { WRITE_UNIT_BYTES, type WriteVia } from '../../../bench/disk-footprint/instance-write.js';
import { CLONE_STRATEGIES } from '../../../bench/disk-footprint/clones.js';
import { runDiskSuite } from '../../../bench/disk-footprint/suite.js';
import { Progress, progressWanted } from '../../../bench/progress.js';
import { diskTable, formatBytes } from '../../../bench/disk-footprint/table.js';
import { projectRoot } from '../../../runtime/paths.js';
import { UserError } from '../../../errors.js';
import { asBenchAction, shownPath, wholeNumber } from './common.js';

interface DiskOptions {
  count: string;
  writeMib: string;
  writeVia: string;
  base?: string;
  kernel?: string;
  json: string;
}

const MiB = 1024 * 1024;
/** Beyond this the guest-write mode alone takes many minutes (a boot per VM instance). */
const MAX_COUNT = 1000;
/** A bigger write says nothing more and fills the 64 MiB root disk. */
const MAX_WRITE_MIB = 32;

async function benchDisk(options: DiskOptions): Promise<void> {
  const root = projectRoot();
  const count = wholeNumber(options.count, '--count', 1, MAX_COUNT);
  const writeMib = wholeNumber(options.writeMib, '--write-mib', 1, MAX_WRITE_MIB);
  if (options.writeVia !== 'guest' && options.writeVia !== 'backend')
    throw new UserError(`--write-via must be guest or backend, not "${options.writeVia}"`, 2);
  const writeVia: WriteVia = options.writeVia;
  const baseQcow2 = path.resolve(options.base ?? path.join(root, 'images/out/rootfs.qcow2'));
  const kernel = path.resolve(options.kernel ?? path.join(root, 'images/out/vmlinux'));
  const say = (line: string) => process.stderr.write(`mvm bench disk: ${line}\n`);
  say(
    `${count} instance(s) of each kind from ${path.relative(process.cwd(), baseQcow2) || baseQcow2}; each then writes ${writeMib} MiB (${writeVia === 'guest' ? 'a booted guest writes a file: one boot per VM instance' : "through mvm's disk layer, no boot"})`,
  );
  const bar = progressWanted() ? new Progress(count * CLONE_STRATEGIES.length) : undefined;
  const result = await runDiskSuite({
    count,
    writeBytes: writeMib * MiB,
    writeVia,
    baseQcow2,
    kernel,
    progress: (event) => {
      if (!bar) say(event.text);
      else if (event.kind === 'instance') bar.step(event.text);
      else bar.step(event.text, count);
    },
  }).finally(() => bar?.clear());
  process.stdout.write(`\n${diskTable(result)}\n\n`);
  process.stdout.write(
    `base: ${formatBytes(result.base.virtualBytes)} virtual disk; qcow2 ${formatBytes(result.base.qcow2Allocated)} on disk, raw ${formatBytes(result.base.rawAllocated)} (holes kept), unpacked rootfs ${formatBytes(result.base.treeAllocated)}\n`,
  );
  process.stdout.write(
    `bytes are allocated blocks (st_blocks × 512) on ${result.filesystem} (${os.tmpdir()}), not apparent sizes; writes of ${writeMib} MiB in units of ${WRITE_UNIT_BYTES / 1024} KiB\n`,
  );
  process.stdout.write(`results: ${shownPath(writeJsonReport(path.resolve(options.json), result))}\n`);
}

export function register(bench: Command): void {
  bench
    .command('disk')
    .description('bytes on disk and time per clone for N instances from one base: qcow2 overlays, raw copies, container overlayfs upper dirs')
    .option('--count <n>', 'instances of each kind', '8')
    .option('--write-mib <n>', 'MiB each instance writes after it is made', '4')
    .option(
      '--write-via <how>',
      'how VM disks are written: guest (boot each, the guest writes a file) or backend (straight through the disk layer)',
      'guest',
    )
    .option('--base <path>', 'base qcow2 image (default images/out/rootfs.qcow2)')
    .option('--kernel <path>', 'kernel for the guest writes (default images/out/vmlinux)')
    .option('--json <path>', 'where to write the results', 'images/out/bench/disk.json')
    .action((options: DiskOptions) => asBenchAction(() => benchDisk(options)));
}
