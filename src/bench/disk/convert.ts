// `mvm image convert` against `qemu-img convert` on the same 1 GiB images,
// wall time of the whole command (start-up included, as a user sees it).
// The two commands alternate, with the order flipped every round, so load
// from other work on the machine falls on both alike; the start-up floors
// (bare node, node loading the mvm CLI) are measured the same way and
// reported next to them.
import { randomFillSync } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { median } from './workload.js';

const MiB = 1 << 20;
/** The fill pattern's chunk: written or skipped as a whole by the "half" image. */
const PATTERN_CHUNK = 4 * MiB;
/** Granularity of the "random" image: one qcow2 cluster at the default size. */
const RANDOM_GRAIN = 64 * 1024;
/** Seed of the generator that picks the written clusters, fixed so every run converts the same image. */
const RANDOM_SEED = 12345;

/** A repeating 32-bit pattern in every other 4 MiB chunk: long runs of data and long holes. */
export function fillHalf(file: string, bytes: number): void {
  const fd = fs.openSync(file, 'w');
  const chunk = Buffer.alloc(PATTERN_CHUNK);
  for (let i = 0; i < chunk.length; i += 4) chunk.writeUInt32LE((i * 2654435761) >>> 0, i);
  for (let off = 0, n = 0; off < bytes; off += chunk.length, n++) {
    if (n % 2 === 0) fs.writeSync(fd, chunk, 0, Math.min(chunk.length, bytes - off), off);
  }
  fs.ftruncateSync(fd, bytes);
  fs.closeSync(fd);
}

/** About half of the 64 KiB clusters, chosen at random, hold random (incompressible) bytes; the rest are holes. */
export function fillRandomHalf(file: string, bytes: number): void {
  const fd = fs.openSync(file, 'w');
  const grain = Buffer.alloc(RANDOM_GRAIN);
  let state = RANDOM_SEED;
  for (let off = 0; off < bytes; off += grain.length) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    if (state & 0x10000) {
      randomFillSync(grain);
      fs.writeSync(fd, grain, 0, Math.min(grain.length, bytes - off), off);
    }
  }
  fs.ftruncateSync(fd, bytes);
  fs.closeSync(fd);
}

function timeOnce(cmd: string, args: string[], out?: string): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  if (out) fs.rmSync(out, { force: true });
  return ms;
}

/** Median wall times (ms) of two commands run alternately, the first one first in even rounds. */
function alternate(rounds: number, a: () => number, b: () => number): [number, number] {
  const ta: number[] = [],
    tb: number[] = [];
  a();
  b(); // untimed: page cache and disk allocation settle before anything counts
  for (let i = 0; i < rounds; i++) {
    if (i % 2 === 0) {
      ta.push(a());
      tb.push(b());
    } else {
      tb.push(b());
      ta.push(a());
    }
  }
  return [median(ta), median(tb)];
}

export interface ConvertResult {
  label: string;
  mvmMs: number;
  qemuMs: number;
}

/** Runs every case and prints one line each; returns the medians for the ratio table. */
export function benchConvert(dir: string, cli: string, bytes: number, rounds: number): ConvertResult[] {
  const [nodeMs, cliMs] = alternate(
    rounds,
    () => timeOnce('node', ['-e', '0']),
    () => timeOnce('node', [cli, 'image', '--help']),
  );
  process.stdout.write(`convert ${bytes / MiB} MiB images, wall time of the whole command (medians of ${rounds}, alternating):\n`);
  process.stdout.write(`  start-up floor: bare node ${nodeMs.toFixed(0)} ms, node + mvm CLI (image --help) ${cliMs.toFixed(0)} ms\n`);
  const images: Array<[string, (f: string, n: number) => void]> = [
    ['half', fillHalf],
    ['random half', fillRandomHalf],
  ];
  const results: ConvertResult[] = [];
  for (const [name, fill] of images) {
    const raw = path.join(dir, `${name.replace(' ', '-')}.raw`);
    const qcow = path.join(dir, `${name.replace(' ', '-')}.qcow2`);
    fill(raw, bytes);
    execFileSync('qemu-img', ['convert', '-O', 'qcow2', raw, qcow]);
    for (const [dirLabel, src, fmt] of [
      ['qcow2 -> raw', qcow, 'raw'],
      ['raw -> qcow2', raw, 'qcow2'],
      ['qcow2 -> qcow2', qcow, 'qcow2'],
    ] as const) {
      const out = path.join(dir, `out.${fmt}`);
      const [mvmMs, qemuMs] = alternate(
        rounds,
        () => timeOnce('node', [cli, 'image', 'convert', '-q', '-O', fmt, src, out], out),
        () => timeOnce('qemu-img', ['convert', '-O', fmt, src, out], out),
      );
      const label = `${name}: ${dirLabel}`;
      process.stdout.write(
        `  ${label.padEnd(28)} mvm ${mvmMs.toFixed(0).padStart(6)} ms   qemu-img ${qemuMs.toFixed(0).padStart(6)} ms   (mvm minus node floor ${(mvmMs - nodeMs).toFixed(0)} ms)\n`,
      );
      results.push({ label, mvmMs, qemuMs });
    }
    if (fill === fillHalf) {
      // Compression is seconds per run, so fewer rounds; the pattern compresses, as file system images do.
      const out = path.join(dir, 'out.qcow2');
      const compressRounds = Math.min(rounds, 3);
      const [mvmMs, qemuMs] = alternate(
        compressRounds,
        () => timeOnce('node', [cli, 'image', 'convert', '-q', '-c', '-O', 'qcow2', raw, out], out),
        () => timeOnce('qemu-img', ['convert', '-c', '-O', 'qcow2', raw, out], out),
      );
      const label = `${name}: raw -> qcow2 -c`;
      process.stdout.write(
        `  ${label.padEnd(28)} mvm ${mvmMs.toFixed(0).padStart(6)} ms   qemu-img ${qemuMs.toFixed(0).padStart(6)} ms   (medians of ${compressRounds})\n`,
      );
      results.push({ label, mvmMs, qemuMs });
    }
    fs.rmSync(raw, { force: true });
    fs.rmSync(qcow, { force: true });
  }
  return results;
}
