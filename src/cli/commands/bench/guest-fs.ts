// `mvm bench guest-fs`: a shared host folder as the guest sees it —
// sequential 1 MiB writes and reads and a small-file workload (create, stat,
// read, unlink of 4 KiB files) inside the guest (firmware/guest-tools/mvm-fsbench),
// on mvm's virtio-fs share, on an ext4 virtio-blk disk in mvm, and on QEMU
// microvm's vhost-user-fs-device served by the same virtiofsd on the same folder.
import * as path from 'node:path';
import { formatRatios, formatTable, writeJsonReport, type ReportRow } from '../../../bench/harness-report.js';
import { CONTENDERS } from '../../../bench/guest-fs/contenders.js';
import { runGuestFsSuite, type GuestFsResult } from '../../../bench/guest-fs/suite.js';
import { PHASES } from '../../../bench/guest-fs/workload.js';
import { insideHelper } from '../../../helper/host-kvm.js';
import { UserError } from '../../../errors.js';
import { asBenchAction, benchInHelperIfNeeded, guestFiles, say, shownPath, wholeNumber, type Command } from './common.js';

interface GuestFsOptions {
  rounds: string;
  seqMib: string;
  files: string;
  kernel?: string;
  initrd?: string;
  json: string;
}

const MAX_ROUNDS = 100;
const MAX_SEQ_MIB = 4096;
const MAX_FILES = 100_000;
const LABEL = { 'mvm-share': 'mvm virtio-fs', 'mvm-disk': 'mvm virtio-blk ext4', 'qemu-share': 'QEMU virtio-fs' } as const;

function rows(result: GuestFsResult): ReportRow[] {
  return PHASES.flatMap((phase) =>
    CONTENDERS.map((c) => ({ label: `${phase} ${LABEL[c]}`, unit: result.rates[c][phase].unit, summary: result.rates[c][phase].summary })),
  );
}

async function benchGuestFs(options: GuestFsOptions): Promise<void> {
  const rounds = wholeNumber(options.rounds, '--rounds', 1, MAX_ROUNDS);
  const seqMib = wholeNumber(options.seqMib, '--seq-mib', 1, MAX_SEQ_MIB);
  const smallFiles = wholeNumber(options.files, '--files', 1, MAX_FILES);
  const files = guestFiles(options);
  const json = path.resolve(options.json);
  const forwarded = await benchInHelperIfNeeded([
    'bench',
    'guest-fs',
    '--rounds',
    String(rounds),
    '--seq-mib',
    String(seqMib),
    '--files',
    String(smallFiles),
    '--kernel',
    files.kernel,
    '--initrd',
    files.initrd,
    '--json',
    json,
  ]);
  if (forwarded !== null) {
    if (forwarded !== 0) throw new UserError(`the file-system benchmark inside the helper VM failed (exit status ${forwarded})`, forwarded);
    return;
  }
  const location = insideHelper() ? 'helper' : 'host';
  say(
    `guest fs: ${rounds} round(s) of mvm virtio-fs, mvm virtio-blk ext4 and QEMU microvm virtio-fs${location === 'helper' ? ' inside the helper VM' : ''}; per boot ${seqMib} MiB each way and ${smallFiles} files of 4 KiB`,
  );
  const started = new Date();
  // The disk holds the sequential file and the small files, with room for ext4's own metadata.
  const diskMib = Math.max(64, seqMib * 2 + Math.ceil((smallFiles * 8) / 1024) + 32);
  const result = await runGuestFsSuite({ rounds, files, progress: say, size: { sequentialMib: seqMib, smallFiles }, diskMib }, location);
  const ratios = result.ratios.map((r) => ({ label: `${r.phase} mvm virtio-fs / ${LABEL[r.versus]}`, value: r.value }));
  process.stdout.write(`\n${formatTable(rows(result))}\n\nratios of medians (above 1: mvm's share is faster):\n${formatRatios(ratios)}\n`);
  process.stdout.write(
    `\nin the guest: mvm-fsbench in /bench; the folder and the image in ${result.dataDir}; one virtiofsd per boot, same arguments for both VMMs\n`,
  );
  const written = writeJsonReport(json, { benchmark: 'guest-fs', started: started.toISOString(), finished: new Date().toISOString(), ...result });
  process.stdout.write(`results: ${shownPath(written)}\n`);
}

export function register(bench: Command): void {
  bench
    .command('guest-fs')
    .description('a shared folder inside the guest: sequential and small-file work on mvm virtio-fs, mvm virtio-blk ext4 and QEMU microvm virtio-fs')
    .option('--rounds <n>', 'boots per contender', '3')
    .option('--seq-mib <n>', 'MiB written and read back sequentially (1 MiB requests)', '32')
    .option('--files <n>', "4 KiB files created, stat'ed, read and unlinked", '1000')
    .option('--kernel <path>', 'guest kernel (default images/out/vmlinux)')
    .option('--initrd <path>', 'initramfs with mvm-fsbench (default images/out/initramfs.cpio.gz)')
    .option('--json <path>', 'where to write the results', 'images/out/bench/guest-fs.json')
    .action((options: GuestFsOptions) => asBenchAction(() => benchGuestFs(options)));
}
