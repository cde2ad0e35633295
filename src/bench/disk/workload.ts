// Timed disk workloads for the benchmark: random 4 KiB and sequential 1 MiB
// I/O through the DiskBackend interface virtio-blk uses.
import type { DiskBackend } from '../../disk/backend.js';

export interface Rate {
  opsPerSecond: number;
  mibPerSecond: number;
}

/** Offsets aligned to `block`, drawn from a fixed-seed generator so every disk sees the same ones. */
export function randomOffsets(count: number, span: number, block: number, seed: number): number[] {
  let a = seed >>> 0;
  const out: number[] = [];
  const slots = Math.floor(span / block);
  for (let i = 0; i < count; i++) {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    out.push((a % slots) * block);
  }
  return out;
}

function rate(ops: number, bytes: number, ns: bigint): Rate {
  const s = Number(ns) / 1e9;
  return { opsPerSecond: ops / s, mibPerSecond: bytes / (1 << 20) / s };
}

export async function randomRead(disk: DiskBackend, offsets: number[], block: number): Promise<Rate> {
  const buf = Buffer.alloc(block);
  const t0 = process.hrtime.bigint();
  for (const off of offsets) await disk.read(off, buf);
  return rate(offsets.length, offsets.length * block, process.hrtime.bigint() - t0);
}

export async function randomWrite(disk: DiskBackend, offsets: number[], block: number): Promise<Rate> {
  const buf = Buffer.alloc(block, 0x5a);
  const t0 = process.hrtime.bigint();
  for (const off of offsets) await disk.write(off, buf);
  await disk.flush();
  return rate(offsets.length, offsets.length * block, process.hrtime.bigint() - t0);
}

export async function sequential(disk: DiskBackend, bytes: number, block: number, write: boolean): Promise<Rate> {
  const buf = Buffer.alloc(block, 0x3c);
  const t0 = process.hrtime.bigint();
  for (let off = 0; off + block <= bytes; off += block) {
    if (write) await disk.write(off, buf);
    else await disk.read(off, buf);
  }
  if (write) await disk.flush();
  return rate(bytes / block, bytes, process.hrtime.bigint() - t0);
}

/** Shared with the other benchmarks (src/bench/stats.ts). */
export { median } from '../stats.js';
