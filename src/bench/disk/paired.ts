// 4 KiB random read, qcow2 against raw, compared like with like: the same
// bytes in both files, both files read end to end first (page cache and the
// qcow2 L2 cache warm, as for a running VM), both disks kept open, and many
// short rounds in which the two alternate (order flipped every round). Each
// round gives one qcow2/raw ratio; the median of those ratios is what load
// from other work on the machine disturbs least.
//
// Measured here: how a file was written into the page cache (folio sizes)
// alone moved 4 KiB pread cost by up to 50% between two files with the same
// bytes, so the qcow2 overhead proper is measured against raw preads of the
// very pages the qcow2 reads touch (the host offsets of the same file).
import type { DiskBackend } from '../../disk/backend.js';
import type { Qcow2Image } from '../../disk/qcow2/image.js';
import { Kind } from '../../disk/qcow2/mapping.js';
import { median, randomRead } from './workload.js';

/** Bytes per warm-up read. */
const WARM_CHUNK = 1 << 20;

export interface PairedResult {
  rawOps: number;
  qcowOps: number;
  /** Median over rounds of (qcow2 ops/s) / (raw ops/s) measured back to back. */
  ratio: number;
  /** Raw preads of the qcow2 file at the host offsets its reads go to. */
  samePagesOps: number;
  /** Median over rounds of qcow2 reads against raw preads of the same pages: the qcow2 overhead proper. */
  samePagesRatio: number;
  /** qcow2 mapping lookup alone (L1 + cached L2 entry decode), ns per request. */
  lookupNs: number;
  /** A raw 4 KiB read (one pread from the page cache), ns per request. */
  rawReadNs: number;
}

async function warm(disk: DiskBackend): Promise<void> {
  const buf = Buffer.alloc(WARM_CHUNK);
  for (let off = 0; off < disk.size; off += WARM_CHUNK) await disk.read(off, buf.subarray(0, Math.min(WARM_CHUNK, disk.size - off)));
}

/** Median ops/s of each contender and median of the per-round ratios b/a, alternating a and b. */
async function alternate(a: DiskBackend, aOffsets: number[], b: DiskBackend, bOffsets: number[], rounds: number): Promise<[number, number, number]> {
  // One untimed round each so the JIT has compiled both paths before anything counts.
  await randomRead(a, aOffsets, 4096);
  await randomRead(b, bOffsets, 4096);
  const as: number[] = [],
    bs: number[] = [],
    ratios: number[] = [];
  for (let i = 0; i < rounds; i++) {
    let x: number, y: number;
    if (i % 2 === 0) {
      x = (await randomRead(a, aOffsets, 4096)).opsPerSecond;
      y = (await randomRead(b, bOffsets, 4096)).opsPerSecond;
    } else {
      y = (await randomRead(b, bOffsets, 4096)).opsPerSecond;
      x = (await randomRead(a, aOffsets, 4096)).opsPerSecond;
    }
    as.push(x);
    bs.push(y);
    ratios.push(y / x);
  }
  return [median(as), median(bs), median(ratios)];
}

export interface PairedInput {
  /** A raw file with the same bytes as the qcow2 image, written by the same tool. */
  raw: DiskBackend;
  qcow: DiskBackend;
  qcowImage: Qcow2Image;
  /** The qcow2 file itself opened as raw: its data clusters at their host offsets. */
  qcowFileAsRaw: DiskBackend;
}

export async function pairedRandomRead(d: PairedInput, offsets: number[], rounds: number): Promise<PairedResult> {
  await warm(d.raw);
  await warm(d.qcow);
  const hostOffsets = offsets.map((off) => {
    const m = d.qcowImage.mapGuest(off);
    if (m.kind !== Kind.Data) throw new Error(`benchmark image has no plain data at guest offset ${off}`);
    return m.host;
  });
  const [rawOps, qcowOps, ratio] = await alternate(d.raw, offsets, d.qcow, offsets, rounds);
  const [samePagesOps, , samePagesRatio] = await alternate(d.qcowFileAsRaw, hostOffsets, d.qcow, offsets, rounds);
  const lookups: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t0 = process.hrtime.bigint();
    let sink = 0;
    for (const off of offsets) sink += d.qcowImage.mapGuest(off).host;
    lookups.push(Number(process.hrtime.bigint() - t0) / offsets.length);
    if (sink < 0) throw new Error('unreachable: host offsets are never negative');
  }
  return { rawOps, qcowOps, ratio, samePagesOps, samePagesRatio, lookupNs: median(lookups), rawReadNs: 1e9 / rawOps };
}
