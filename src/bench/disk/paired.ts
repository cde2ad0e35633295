// 4 KiB random read, qcow2 against raw, compared like with like: the same
// bytes in both files, both files read end to end first (page cache and the
// qcow2 L2 cache warm, as for a running VM), both disks kept open, and many
// short rounds in which the two alternate (order flipped every round). Each
// round gives one qcow2/raw ratio; the median of those ratios is what load
// from other work on the machine disturbs least.
import type { DiskBackend } from '../../disk/backend.js';
import { Qcow2Image } from '../../disk/qcow2/image.js';
import { median, randomRead } from './workload.js';

/** Bytes per warm-up read. */
const WARM_CHUNK = 1 << 20;

export interface PairedResult {
  rawOps: number;
  qcowOps: number;
  /** Median over rounds of (qcow2 ops/s) / (raw ops/s) measured back to back. */
  ratio: number;
  /** qcow2 mapping lookup alone (L1 + cached L2 entry decode), ns per request. */
  lookupNs: number;
  /** A raw 4 KiB read (one pread from the page cache), ns per request. */
  rawReadNs: number;
}

async function warm(disk: DiskBackend): Promise<void> {
  const buf = Buffer.alloc(WARM_CHUNK);
  for (let off = 0; off < disk.size; off += WARM_CHUNK) await disk.read(off, buf.subarray(0, Math.min(WARM_CHUNK, disk.size - off)));
}

export async function pairedRandomRead(raw: DiskBackend, qcow: DiskBackend, qcowImage: Qcow2Image, offsets: number[], rounds: number): Promise<PairedResult> {
  await warm(raw);
  await warm(qcow);
  // One untimed round each so the JIT has compiled both paths before anything counts.
  await randomRead(raw, offsets, 4096);
  await randomRead(qcow, offsets, 4096);
  const rawOps: number[] = [], qcowOps: number[] = [], ratios: number[] = [];
  for (let i = 0; i < rounds; i++) {
    let r: number, q: number;
    if (i % 2 === 0) { r = (await randomRead(raw, offsets, 4096)).opsPerSecond; q = (await randomRead(qcow, offsets, 4096)).opsPerSecond; }
    else { q = (await randomRead(qcow, offsets, 4096)).opsPerSecond; r = (await randomRead(raw, offsets, 4096)).opsPerSecond; }
    rawOps.push(r); qcowOps.push(q); ratios.push(q / r);
  }
  const lookups: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t0 = process.hrtime.bigint();
    let sink = 0;
    for (const off of offsets) sink += qcowImage.mapGuest(off).host;
    lookups.push(Number(process.hrtime.bigint() - t0) / offsets.length);
    if (sink < 0) throw new Error('unreachable: host offsets are never negative');
  }
  const rawMedian = median(rawOps);
  return { rawOps: rawMedian, qcowOps: median(qcowOps), ratio: median(ratios), lookupNs: median(lookups), rawReadNs: 1e9 / rawMedian };
}
