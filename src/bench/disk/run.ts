// The disk benchmark (not a test): qcow2 against raw for 4 KiB random and
// 1 MiB sequential I/O, and `mvm image convert` against `qemu-img convert` on a
// 1 GiB image. Prints medians and ratios from one run.
// Usage: node dist/src/bench/disk/run.js [--quick]
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openDisk } from '../../disk/open.js';
import { createQcow2 } from '../../disk/qcow2/create.js';
import { median, randomOffsets, randomRead, randomWrite, sequential } from './workload.js';
import type { Rate } from './workload.js';

const MiB = 1 << 20;
const quick = process.argv.includes('--quick');
/** Data set for the I/O tests: big enough to cover many L2 tables, small enough to stay in the page cache. */
const DATA_BYTES = (quick ? 64 : 512) * MiB;
const CONVERT_BYTES = (quick ? 128 : 1024) * MiB;
const RANDOM_OPS = quick ? 5000 : 40000;
const REPEATS = quick ? 3 : 5;
const CLI = fileURLToPath(new URL('../../cli/index.js', import.meta.url));

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
  contenders.forEach(([label], j) => process.stdout.write(`  ${label.padEnd(44)} ${medians[j]!.toFixed(0).padStart(9)} ops/s\n`));
  return medians;
}

function timeCommand(cmd: string, args: string[]): number {
  const times: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    fs.rmSync(args[args.length - 1]!, { force: true });
  }
  return median(times);
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mvm-bench-disk-'));
  try {
    process.stdout.write(`mvm disk benchmark (${quick ? 'quick' : 'full'}; medians of ${REPEATS} runs; files in the page cache)\n`);
    const raw = path.join(dir, 'data.raw');
    const qcow = path.join(dir, 'data.qcow2');
    fillPattern(raw, DATA_BYTES);
    execFileSync('qemu-img', ['convert', '-O', 'qcow2', raw, qcow]);
    const offsets = randomOffsets(RANDOM_OPS, DATA_BYTES, 4096, 1);
    const ratios: Array<[string, number]> = [];

    const ro = (f: string) => () => openDisk(f, { readOnly: true });
    const rwo = (f: string) => () => openDisk(f, { readOnly: false });
    const fresh = path.join(dir, 'fresh.qcow2');
    const [rr, qr] = await compare('4 KiB random read', [['raw', ro(raw)], ['qcow2 (64 KiB clusters)', ro(qcow)]],
      (d) => randomRead(d, offsets, 4096));
    ratios.push(['qcow2/raw 4 KiB random read', qr! / rr!]);
    const [rw, qw, fw] = await compare('4 KiB random write (flush at the end)', [
      ['raw', rwo(raw)], ['qcow2, allocated clusters', rwo(qcow)],
      ['qcow2, empty image (every write allocates)', () => { createQcow2(fresh, { size: DATA_BYTES }); return openDisk(fresh, { readOnly: false }); }],
    ], (d) => randomWrite(d, offsets, 4096));
    ratios.push(['qcow2/raw 4 KiB random write', qw! / rw!], ['qcow2 allocating/raw 4 KiB random write', fw! / rw!]);
    const [rs, qs] = await compare('1 MiB sequential read', [['raw', ro(raw)], ['qcow2', ro(qcow)]], (d) => sequential(d, DATA_BYTES, MiB, false));
    const [rsw, qsw] = await compare('1 MiB sequential write', [['raw', rwo(raw)], ['qcow2', rwo(qcow)]], (d) => sequential(d, DATA_BYTES, MiB, true));
    ratios.push(['qcow2/raw 1 MiB sequential read', qs! / rs!], ['qcow2/raw 1 MiB sequential write', qsw! / rsw!]);

    process.stdout.write(`convert a ${CONVERT_BYTES / MiB} MiB image (half data, half zeros), wall time:\n`);
    const big = path.join(dir, 'big.raw');
    const bigq = path.join(dir, 'big.qcow2');
    fillPattern(big, CONVERT_BYTES, 2);
    execFileSync('qemu-img', ['convert', '-O', 'qcow2', big, bigq]);
    for (const [label, src, fmt] of [['qcow2 -> raw', bigq, 'raw'], ['raw -> qcow2', big, 'qcow2'], ['qcow2 -> qcow2', bigq, 'qcow2']] as const) {
      const out = path.join(dir, `out.${fmt}`);
      const mine = timeCommand('node', [CLI, 'image', 'convert', '-q', '-O', fmt, src, out]);
      const theirs = timeCommand('qemu-img', ['convert', '-O', fmt, src, out]);
      process.stdout.write(`  ${label.padEnd(16)} mvm ${mine.toFixed(0).padStart(6)} ms   qemu-img ${theirs.toFixed(0).padStart(6)} ms\n`);
      ratios.push([`convert ${label} speed, mvm/qemu-img`, theirs / mine]);
    }

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
    process.stdout.write(`  created in ${median(createTimes).toFixed(2)} ms (median of 20), ${fs.statSync(overlay).size / 1024} KiB file, ${fs.statSync(overlay).blocks / 2} KiB on disk\n`);

    process.stdout.write('ratios (>1 means mvm/qcow2 is faster; goals: random read >= 0.9, convert >= 1.0):\n');
    for (const [name, r] of ratios) process.stdout.write(`  ${name.padEnd(44)} ${r.toFixed(2)}\n`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();
