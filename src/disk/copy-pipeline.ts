// The copy loop of `mvm image convert`: reads the source in large chunks,
// skips what the source's mapping says is zero without reading it, skips
// all-zero units it did read, and writes each remaining run with one async
// write. Writes run on libuv's thread pool while the main thread reads and
// scans the next chunk, and several chunks are in flight at once, so reading,
// zero scanning and writing overlap (qemu-img overlaps them the same way,
// with coroutines and a thread pool).
import * as fs from 'node:fs';
import type { SyncDisk } from './backend.js';
import { zeroBytesAt } from './map.js';

/** Where the non-zero data goes: a host offset in `fd` for each run of guest bytes. */
export interface CopySink {
  readonly fd: number;
  /** Units that are all zero are not written (cluster size for qcow2, a filesystem block for raw). */
  readonly unit: number;
  /** Host offset for `length` bytes at guest offset `guest` (unit-aligned); called in guest order. */
  place(guest: number, length: number): number;
}

/** Bytes read per step: big enough that per-call costs vanish, small enough to stay in the CPU caches' neighbourhood. */
const CHUNK = 4 << 20;
/** Chunks in flight: one being read and scanned, the rest being written (libuv's pool has 4 threads). */
const IN_FLIGHT = 4;
/** How far ahead one look at the block status may skip. */
const MAX_SKIP = 1 << 30;

function writeFully(fd: number, data: Buffer, offset: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (done: number): void => {
      if (done === data.length) { resolve(); return; }
      fs.write(fd, data, done, data.length - done, offset + done, (err, n) => {
        if (err) reject(err);
        else if (n <= 0) reject(new Error(`short write at offset ${offset + done}`));
        else step(done + n);
      });
    };
    step(0);
  });
}

/** Byte length of the run of non-zero units starting at `from` (0 if the unit there is zero). */
function nonZeroRun(data: Buffer, from: number, unit: number, zero: Buffer): number {
  let end = from;
  while (end < data.length) {
    const n = Math.min(unit, data.length - end);
    if (zero.compare(data, end, end + n, 0, n) === 0) break;
    end += n;
  }
  return end - from;
}

/** Copies every byte of `input` that may be non-zero into `sink`; resolves when all writes are done. */
export async function copyNonZero(input: SyncDisk, sink: CopySink, progress?: (fraction: number) => void): Promise<void> {
  const size = input.size;
  const unit = sink.unit;
  const chunk = Math.max(unit, Math.floor(CHUNK / unit) * unit);
  const zero = Buffer.alloc(unit);
  const slots = Array.from({ length: IN_FLIGHT }, () => ({ buf: Buffer.allocUnsafe(chunk), pending: Promise.resolve() }));
  let slot = 0;
  let failure: unknown;
  for (let pos = 0; pos < size;) {
    // Ranges the source reports as zero or unallocated are not read at all: the new image is already zero there.
    const skip = pos % unit === 0 ? Math.floor(zeroBytesAt(input, pos, MAX_SKIP) / unit) * unit : 0;
    if (skip > 0) {
      pos += skip;
      progress?.(Math.min(1, pos / size));
      continue;
    }
    const s = slots[slot]!;
    slot = (slot + 1) % IN_FLIGHT;
    await s.pending; // this buffer's previous writes must be done before it is refilled
    if (failure) break;
    const n = Math.min(chunk, size - pos);
    const data = s.buf.subarray(0, n);
    input.readSync(pos, data);
    const writes: Array<Promise<void>> = [];
    for (let off = 0; off < n;) {
      const run = nonZeroRun(data, off, unit, zero);
      if (run === 0) { off += Math.min(unit, n - off); continue; }
      writes.push(writeFully(sink.fd, data.subarray(off, off + run), sink.place(pos + off, run)));
      off += run;
    }
    s.pending = Promise.all(writes).then(() => undefined, (err: unknown) => { failure ??= err; });
    pos += n;
    progress?.(Math.min(1, pos / size));
  }
  await Promise.all(slots.map((s) => s.pending));
  if (failure) throw failure;
}
