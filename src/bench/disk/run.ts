// The disk benchmark (not a test): qcow2 against raw for 4 KiB random and
// 1 MiB sequential I/O, and `mvm image convert` against `qemu-img convert` on a
// 1 GiB image. Prints medians and ratios from one run.
// Usage: node dist/src/bench/disk/run.js [--quick] [--only io|convert] [--cli PATH/dist/bundle/mvm.js]
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { asBackend } from '../../disk/backend.js';
import { openDisk } from '../../disk/open.js';
import { createQcow2 } from '../../disk/qcow2/create.js';
import { Qcow2Image } from '../../disk/qcow2/image.js';
import { RawDisk } from '../../disk/raw.js';
import { benchConvert } from './convert.js';
import { pairedRandomRead } from './paired.js';
import { median, randomOffsets, randomWrite, sequential } from './workload.js';
import type { Rate } from './workload.js';
import { PROJECT_ROOT } from '../../runtime/build-layout.js';

const MiB = 1 << 20;
const quick = process.argv.includes('--quick');
/** `--only io` or `--only convert` runs one half of the benchmark. */
const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
const want = (part: 'io' | 'convert'): boolean => only === undefined || only === part;
/** Data set for the I/O tests: big enough to cover many L2 tables, small enough to stay in the page cache. */
const DATA_BYTES = (quick ? 64 : 512) * MiB;
const CONVERT_BYTES = (quick ? 128 : 1024) * MiB;
const RANDOM_OPS = quick ? 5000 : 40000;
const REPEATS = quick ? 3 : 5;
/** Alternating rounds for the paired random-read comparison (each round is short). */
const PAIRED_ROUNDS = quick ? 5 : 15;
/** Alternating runs of each convert command per case. */
const CONVERT_ROUNDS = quick ? 3 : 7;
/** The `mvm` command as users run it (the bundle); `--cli PATH` times another build's (e.g. an older commit's, for before/after numbers). */
const CLI = process.argv.includes('--cli')
  ? path.resolve(process.argv[process.argv.indexOf('--cli') + 1]!)
  : path.join(PROJECT_ROOT, 'dist', 'bundle', 'mvm.js');

function fillPattern(file: string, bytes: number, dataEvery = 1): void {
  const fd = fs.openSync(file, 'w');
  const chunk = Buffer.alloc(4 * MiB);
  for (let i = 0; i < chunk.length; i += 4) chunk.writeUInt32LE((i * 2654435761) >>> 0, i);
  for (let off = 0, n = 0; off < bytes; off += chunk.length, n++) {
    if (n % dataEvery === 0) fs.writeSync(fd, chunk, 0, chunk.length, off);
  }
  fs.ftruncateSync(fd, bytes);
  fs.closeSync(fd);
}

type Disk = Awaited<ReturnType<typeof openDisk>>;

/** Median ops/s of REPEATS runs of each contender, alternating them so machine noise hits both alike. */
async function compare(title: string, contenders: Array<[string, () => Promise<Disk>]>, run: (d: Disk) => Promise<Rate>): Promise<number[]> {
  const results: number[][] = contenders.map(() => []);
  // One untimed pass each first, so JIT warm-up and cold caches do not count against whoever runs first.
  for (const [, open] of contenders) {
    const disk = await open();
    await run(disk);
    await disk.close();
  }
  for (let i = 0; i < REPEATS; i++) {
    for (const [j, [, open]] of contenders.entries()) {
      const disk = await open();
      results[j]!.push((await run(disk)).opsPerSecond);
      await disk.close();
    }
  }
  process.stdout.write(`${title}:\n`);
  const medians = results.map(median);
  contenders.forEach(([label], j) => {
    process.stdout.write(`  ${label.padEnd(44)} ${medians[j]!.toFixed(0).padStart(9)} ops/s\n`);
  });
  return medians;
}

/** qcow2 against raw through the DiskBackend interface, and the cost of an empty overlay. */
async function benchIo(dir: string, ratios: Array<[string, number]>): Promise<void> {
  const raw = path.join(dir, 'data.raw');
  const qcow = path.join(dir, 'data.qcow2');
  fillPattern(raw, DATA_BYTES);
  execFileSync('qemu-img', ['convert', '-O', 'qcow2', raw, qcow]);
  const offsets = randomOffsets(RANDOM_OPS, DATA_BYTES, 4096, 1);

  const ro = (f: string) => () => openDisk(f, { readOnly: true });
  const rwo = (f: string) => () => openDisk(f, { readOnly: false });
  const fresh = path.join(dir, 'fresh.qcow2');
  // The raw side of the read comparison is written by qemu-img too, so both files reach the page cache the same way.
  const sameRaw = path.join(dir, 'data-from-qcow2.raw');
  execFileSync('qemu-img', ['convert', '-O', 'raw', qcow, sameRaw]);
  const rawDisk = RawDisk.open(sameRaw, true);
  const qcowImage = Qcow2Image.open(qcow, { readOnly: true });
  const qcowFile = RawDisk.open(qcow, true);
  const pr = await pairedRandomRead(
    { raw: asBackend(rawDisk), qcow: asBackend(qcowImage), qcowImage, qcowFileAsRaw: asBackend(qcowFile) },
    offsets,
    PAIRED_ROUNDS,
  );
  for (const d of [rawDisk, qcowImage, qcowFile]) d.closeSync();
  fs.rmSync(sameRaw);
  process.stdout.write(`4 KiB random read (files read through first, disks kept open, ${PAIRED_ROUNDS} alternating rounds of ${RANDOM_OPS}):\n`);
  process.stdout.write(
    `  ${'raw (same bytes, also written by qemu-img)'.padEnd(44)} ${pr.rawOps.toFixed(0).padStart(9)} ops/s  (${pr.rawReadNs.toFixed(0)} ns per read)\n`,
  );
  process.stdout.write(`  ${'raw preads of the qcow2 file, same pages'.padEnd(44)} ${pr.samePagesOps.toFixed(0).padStart(9)} ops/s\n`);
  process.stdout.write(
    `  ${'qcow2 (64 KiB clusters)'.padEnd(44)} ${pr.qcowOps.toFixed(0).padStart(9)} ops/s  (mapping lookup alone ${pr.lookupNs.toFixed(0)} ns)\n`,
  );
  ratios.push(['qcow2/raw 4 KiB random read, same pages (paired)', pr.samePagesRatio]);
  ratios.push(['qcow2/raw 4 KiB random read, separate raw file (paired)', pr.ratio]);
  const [rw, qw, fw] = await compare(
    '4 KiB random write (flush at the end)',
    [
      ['raw', rwo(raw)],
      ['qcow2, allocated clusters', rwo(qcow)],
      [
        'qcow2, empty image (every write allocates)',
        () => {
          createQcow2(fresh, { size: DATA_BYTES });
          return openDisk(fresh, { readOnly: false });
        },
      ],
    ],
    (d) => randomWrite(d, offsets, 4096),
  );
  ratios.push(['qcow2/raw 4 KiB random write', qw! / rw!], ['qcow2 allocating/raw 4 KiB random write', fw! / rw!]);
  const [rs, qs] = await compare(
    '1 MiB sequential read',
    [
      ['raw', ro(raw)],
      ['qcow2', ro(qcow)],
    ],
    (d) => sequential(d, DATA_BYTES, MiB, false),
  );
  const [rsw, qsw] = await compare(
    '1 MiB sequential write',
    [
      ['raw', rwo(raw)],
      ['qcow2', rwo(qcow)],
    ],
    (d) => sequential(d, DATA_BYTES, MiB, true),
  );
  ratios.push(['qcow2/raw 1 MiB sequential read', qs! / rs!], ['qcow2/raw 1 MiB sequential write', qsw! / rsw!]);

  process.stdout.write('empty overlay of a 64 KiB-cluster 10 GiB base (in-process create):\n');
  const base = path.join(dir, 'base.qcow2');
  createQcow2(base, { size: 10 * 1024 * MiB });
  const createTimes: number[] = [];
  const overlay = path.join(dir, 'overlay.qcow2');
  for (let i = 0; i < 20; i++) {
    const t0 = process.hrtime.bigint();
    createQcow2(overlay, { size: 10 * 1024 * MiB, backing: { name: 'base.qcow2', format: 'qcow2' } });
    createTimes.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  process.stdout.write(
    `  created in ${median(createTimes).toFixed(2)} ms (median of 20), ${fs.statSync(overlay).size / 1024} KiB file, ${fs.statSync(overlay).blocks / 2} KiB on disk\n`,
  );
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mvm-bench-disk-'));
  try {
    process.stdout.write(`mvm disk benchmark (${quick ? 'quick' : 'full'}; medians of ${REPEATS} runs; files in the page cache)\n`);
    const ratios: Array<[string, number]> = [];
    if (want('io')) await benchIo(dir, ratios);
    if (want('convert'))
      for (const r of benchConvert(dir, CLI, CONVERT_BYTES, CONVERT_ROUNDS))
        ratios.push([`convert ${r.label}, mvm/qemu-img speed`, r.qemuMs / r.mvmMs]);

    process.stdout.write('ratios (>1 means mvm/qcow2 is faster; goals: random read >= 0.9, convert >= 1.0):\n');
    for (const [name, r] of ratios) process.stdout.write(`  ${name.padEnd(54)} ${r.toFixed(2)}\n`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();
