// The copy loop of `mvm image convert`: reads the source in large chunks,
// skips what the source's mapping says is zero without reading it, skips
// all-zero units it did read, and writes each remaining run with one async
// write. Several chunks are in flight at once; reads of plain contiguous data
// and all writes run on libuv's thread pool while the main thread scans, so
// reading, zero scanning and writing overlap (qemu-img overlaps them the same
// way, with coroutines and a thread pool).
import * as fs from 'node:fs';
import type { SyncDisk } from './backend.js';
import { zeroBytesAt } from './map.js';
import { Qcow2Image } from './qcow2/image.js';
import { Kind } from './qcow2/mapping.js';
import { RawDisk } from './raw.js';

/** Where the non-zero data goes: a host offset in `fd` for each run of guest bytes. */
export interface CopySink {
  readonly fd: number;
  /** Units that are all zero are not written (cluster size for qcow2, a filesystem block for raw). */
  readonly unit: number;
  /** Host offset for `length` bytes at guest offset `guest` (unit-aligned); called in guest order. */
  place(guest: number, length: number): number;
}

/** Bytes read per step: big enough that per-call costs vanish. */
const CHUNK = 4 << 20;
/** Chunks in flight: as many as libuv's pool has threads (4 by default). */
const IN_FLIGHT = 4;
/** How far ahead one look at the block status may skip. */
const MAX_SKIP = 1 << 30;

/** Runs a positional read or write to completion; a read past the end of the file fills zeros. */
function ioFully(kind: 'read' | 'write', fd: number, buf: Buffer, offset: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (done: number): void => {
      if (done === buf.length) { resolve(); return; }
      const next = (err: NodeJS.ErrnoException | null, n: number): void => {
        if (err) reject(err);
        else if (n > 0) step(done + n);
        else if (kind === 'read') { buf.fill(0, done); resolve(); }
        else reject(new Error(`short write at offset ${offset + done}`));
      };
      if (kind === 'read') fs.read(fd, buf, done, buf.length - done, offset + done, next);
      else fs.write(fd, buf, done, buf.length - done, offset + done, next);
    };
    step(0);
  });
}

/**
 * Where guest bytes from `pos` (up to `limit` of them) lie as one plain
 * contiguous range of the top image's file (raw file, or qcow2 data clusters
 * in order), so they can be read on the thread pool; undefined when the bytes
 * at `pos` need the image's own read path (backing files, compressed, zeros).
 */
function directExtent(input: SyncDisk, pos: number, limit: number, unit: number): { fd: number; host: number; n: number } | undefined {
  if (input instanceof RawDisk) {
    // Up to the next hole, rounded up to a whole unit (a unit the hole starts inside must be read anyway).
    const e = input.extentAt(pos);
    if (!e.data) return undefined;
    return { fd: input.fileDescriptor, host: pos, n: Math.min(limit, Math.ceil(e.length / unit) * unit) };
  }
  if (!(input instanceof Qcow2Image)) return undefined;
  const first = input.mapGuest(pos);
  if (first.kind !== Kind.Data) return undefined;
  let n = first.avail;
  while (n < limit) {
    const m = input.mapGuest(pos + n);
    if (m.kind !== Kind.Data || m.host !== first.host + n) break;
    n += m.avail;
  }
  return { fd: input.file.fd, host: first.host, n: Math.min(n, limit) };
}

/**
 * Whether `n` bytes at `off` are all zero. Most units of data have a non-zero
 * byte among their first eight, which a plain read finds without the native
 * call a Buffer comparison costs (131072 of them per 512 MiB of 4 KiB units).
 */
function isZeroUnit(data: Buffer, off: number, n: number, zero: Buffer): boolean {
  if (n >= 8 && (data.readUInt32LE(off) | data.readUInt32LE(off + 4)) !== 0) return false;
  return zero.compare(data, off, off + n, 0, n) === 0;
}

/** Byte length of the run of non-zero units starting at `from` (0 if the unit there is zero). */
function nonZeroRun(data: Buffer, from: number, unit: number, zero: Buffer): number {
  let end = from;
  while (end < data.length) {
    const n = Math.min(unit, data.length - end);
    if (isZeroUnit(data, end, n, zero)) break;
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
  let cursor = 0;
  let done = 0;
  // Host space is handed out in guest order whatever order the reads finish in, so the output layout is the same on every run.
  let placeTurn = Promise.resolve();

  /** The next range that may hold data (unit-aligned unless it ends the disk), or undefined at the end. */
  const claim = (): { pos: number; n: number; direct?: { fd: number; host: number } } | undefined => {
    while (cursor < size) {
      const skip = cursor % unit === 0 ? Math.floor(zeroBytesAt(input, cursor, MAX_SKIP) / unit) * unit : 0;
      if (skip === 0) break;
      cursor += skip;
      done += skip;
    }
    if (cursor >= size) return undefined;
    const pos = cursor;
    const limit = Math.min(chunk, size - pos);
    const direct = directExtent(input, pos, limit, unit);
    // A direct extent that ends inside a unit is cut back to a unit boundary (or not used) so the next range starts aligned.
    const n = direct ? (direct.n === limit ? limit : Math.floor(direct.n / unit) * unit) : limit;
    cursor += n > 0 ? n : limit;
    return n > 0 ? { pos, n, direct } : { pos, n: limit };
  };

  const worker = async (): Promise<void> => {
    const buf = Buffer.allocUnsafe(chunk);
    for (let r = claim(); r; r = claim()) {
      const prevTurn = placeTurn;
      let release!: () => void;
      placeTurn = new Promise((resolve) => { release = resolve; });
      try {
        const data = buf.subarray(0, r.n);
        if (r.direct) await ioFully('read', r.direct.fd, data, r.direct.host);
        else input.readSync(r.pos, data);
        const runs: Array<[number, number]> = [];
        for (let off = 0; off < r.n;) {
          const run = nonZeroRun(data, off, unit, zero);
          if (run === 0) { off += Math.min(unit, r.n - off); continue; }
          runs.push([off, run]);
          off += run;
        }
        await prevTurn;
        const hosts = runs.map(([off, run]) => sink.place(r.pos + off, run));
        release();
        await Promise.all(runs.map(([off, run], i) => ioFully('write', sink.fd, data.subarray(off, off + run), hosts[i]!)));
      } finally {
        release();
      }
      done += r.n;
      progress?.(Math.min(1, done / size));
    }
  };
  // Every worker must have stopped before the caller closes (or removes) the output, even when one failed.
  const results = await Promise.allSettled(Array.from({ length: IN_FLIGHT }, worker));
  for (const r of results) if (r.status === 'rejected') throw r.reason;
  progress?.(1);
}
