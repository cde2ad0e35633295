// `mvm bench guest-disk`: virtio-blk as the guest sees it — sequential 1 MiB
// and random 4 KiB reads and writes with O_DIRECT inside the guest
// (firmware/guest-tools/mvm-diskbench), on a raw and a qcow2 image, for mvm
// and QEMU microvm booting the same kernel and initramfs. On a PVM host like
// this one the whole command moves into the helper VM (where it also prints
// the table and writes the JSON: the project tree is shared).
import * as path from 'node:path';
import { formatRatios, formatTable, writeJsonReport, type ReportRow } from '../../../bench/harness-report.js';
import { IMAGE_FORMATS, VMMS } from '../../../bench/guest-disk/contenders.js';
import { runGuestDiskSuite, type GuestDiskResult } from '../../../bench/guest-disk/suite.js';
import { WORKLOADS } from '../../../bench/guest-disk/workload.js';
import { insideHelper } from '../../../helper/host-kvm.js';
import { UserError } from '../../../errors.js';
import { asBenchAction, benchInHelperIfNeeded, guestFiles, say, shownPath, wholeNumber, type Command } from './common.js';

interface GuestDiskOptions {
  rounds: string;
  regionMib: string;
  seqMib: string;
  randomOps: string;
  kernel?: string;
  initrd?: string;
  json: string;
}

/** Bounds that catch a typo (hours of emulated I/O, or an image filling the helper's RAM), not real limits. */
const MAX_ROUNDS = 100;
const MAX_REGION_MIB = 1024;
const MAX_SEQ_MIB = 16_384;
const MAX_RANDOM_OPS = 1_000_000;

const VMM_LABEL = { mvm: 'mvm', qemu: 'QEMU microvm' } as const;

function rows(result: GuestDiskResult): ReportRow[] {
  return IMAGE_FORMATS.flatMap((format) =>
    WORKLOADS.flatMap((workload) =>
      VMMS.map((vmm) => {
        const rate = result.rates[vmm][format][workload];
        return { label: `${format} ${workload} ${VMM_LABEL[vmm]}`, unit: rate.unit, summary: rate.summary };
      }),
    ),
  );
}

async function benchGuestDisk(options: GuestDiskOptions): Promise<void> {
  const rounds = wholeNumber(options.rounds, '--rounds', 1, MAX_ROUNDS);
  const regionMib = wholeNumber(options.regionMib, '--region-mib', 1, MAX_REGION_MIB);
  const seqMib = wholeNumber(options.seqMib, '--seq-mib', 1, MAX_SEQ_MIB);
  const randomOps = wholeNumber(options.randomOps, '--random-ops', 1, MAX_RANDOM_OPS);
  const files = guestFiles(options);
  const json = path.resolve(options.json);
  const forwarded = await benchInHelperIfNeeded([
    'bench',
    'guest-disk',
    '--rounds',
    String(rounds),
    '--region-mib',
    String(regionMib),
    '--seq-mib',
    String(seqMib),
    '--random-ops',
    String(randomOps),
    '--kernel',
    files.kernel,
    '--initrd',
    files.initrd,
    '--json',
    json,
  ]);
  if (forwarded !== null) {
    if (forwarded !== 0) throw new UserError(`the in-guest disk benchmark inside the helper VM failed (exit status ${forwarded})`, forwarded);
    return;
  }
  const location = insideHelper() ? 'helper' : 'host';
  say(
    `guest disk: ${rounds} round(s) of mvm and QEMU microvm on a ${regionMib} MiB raw and qcow2 image${location === 'helper' ? ' inside the helper VM' : ''}; per boot ${seqMib} MiB sequential and ${randomOps} random 4 KiB requests each way`,
  );
  const started = new Date();
  const result = await runGuestDiskSuite(
    {
      rounds,
      files,
      progress: say,
      size: { regionMib, sequentialBlocks: seqMib, randomOps },
    },
    location,
  );
  const ratios = result.ratios.map((r) => ({ label: `${r.format} ${r.workload} mvm/QEMU`, value: r.value }));
  process.stdout.write(`\n${formatTable(rows(result))}\n\nratios of medians (above 1: mvm is faster):\n${formatRatios(ratios)}\n`);
  process.stdout.write(
    `\nin the guest: mvm-diskbench on /dev/vda, O_DIRECT, writes end with fdatasync; images in ${result.imageDir}, written in place by both VMMs\n`,
  );
  const written = writeJsonReport(json, { benchmark: 'guest-disk', started: started.toISOString(), finished: new Date().toISOString(), ...result });
  process.stdout.write(`results: ${shownPath(written)}\n`);
}

export function register(bench: Command): void {
  bench
    .command('guest-disk')
    .description('virtio-blk inside the guest: sequential and 4 KiB random I/O on raw and qcow2, mvm vs QEMU microvm on the same image')
    .option('--rounds <n>', 'boots per VMM and image format', '3')
    // Sized for the helper VM's software emulation, where a 4 KiB request costs tens of milliseconds:
    // about 50 s per boot, 10 minutes in all.
    .option('--region-mib <n>', 'image size; the I/O stays inside it', '16')
    .option('--seq-mib <n>', 'MiB per sequential workload (1 MiB requests)', '16')
    .option('--random-ops <n>', '4 KiB requests per random workload', '500')
    .option('--kernel <path>', 'guest kernel (default images/out/vmlinux)')
    .option('--initrd <path>', 'initramfs with mvm-diskbench (default images/out/initramfs.cpio.gz)')
    .option('--json <path>', 'where to write the results', 'images/out/bench/guest-disk.json')
    .action((options: GuestDiskOptions) => asBenchAction(() => benchGuestDisk(options)));
}
