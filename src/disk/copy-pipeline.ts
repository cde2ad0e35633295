// The copy loop of `mvm image convert`. It walks the source in windows of up
// to 4 MiB: each window is read with one call (a raw file's range holes and
// all, a qcow2 image's data clusters that follow one another in its file), the
// parts the source's mapping says are zero are never read or scanned, the
// all-zero units that were read are left out, and the runs that land next to
// each other in the output are written with one pwritev. Several windows are
// in flight at once: reads and writes run on libuv's thread pool while the main
// thread scans, so reading, scanning and writing overlap (qemu-img overlaps
// them the same way, with coroutines and a thread pool).
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

/** How many positional reads and writes of files a copy made (the image's own metadata reads not counted). */
export interface CopyStats {
  readCalls: number;
  writeCalls: number;
}

/** Bytes read per step: big enough that per-call costs vanish. */
const CHUNK = 4 << 20;
/** Chunks in flight: as many as libuv's pool has threads (4 by default). */
const IN_FLIGHT = 4;
/** How far ahead one look at the block status may skip. */
const MAX_SKIP = 1 << 30;

/** A positional read to completion on the thread pool; past the end of the file it fills zeros. */
function readFully(fd: number, buf: Buffer, offset: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (done: number): void => {
      if (done === buf.length) {
        resolve();
        return;
      }
      fs.read(fd, buf, done, buf.length - done, offset + done, (err, n) => {
        if (err) reject(err);
        else if (n > 0) step(done + n);
        else {
          buf.fill(0, done);
          resolve();
        }
      });
    };
    step(0);
  });
}

/** Part of a window: `length` guest bytes at `guest`, held at `at` in the window's buffer. */
interface Segment {
  guest: number;
  length: number;
  at: number;
}

/**
 * One step of the copy: `span` bytes of source read into a buffer with one
 * call, and the guest ranges in them that may hold data. Reading many
 * clusters or extents with one call, and writing the runs that land next to
 * each other in the output with one call, is what keeps an image of small
 * scattered extents from costing a thread-pool round trip per extent.
 */
interface Window {
  span: number;
  /** One positional read of `fd` at `offset` on the thread pool; absent: the image's own read path for the single segment. */
  read?: { fd: number; offset: number };
  /** In guest order, unit-aligned (except at the end of the disk). */
  segments: Segment[];
  /** Guest bytes from the window's start that it accounts for (zero areas inside it included). */
  covered: number;
}

/**
 * A raw file's window: one read of the range (holes come back as zeros,
 * cheaply), with only its data extents, rounded out to whole units, to scan.
 */
function rawWindow(input: RawDisk, pos: number, limit: number, unit: number): Window {
  const end = pos + limit;
  const segments: Segment[] = [];
  for (let g = pos; g < end; ) {
    const e = input.extentAt(g);
    if (e.length <= 0) break;
    const stop = Math.min(end, g + e.length);
    if (e.data) {
      const from = Math.floor(g / unit) * unit;
      const to = Math.min(end, Math.ceil(stop / unit) * unit);
      const last = segments[segments.length - 1];
      if (last && from <= last.guest + last.length) last.length = to - last.guest;
      else segments.push({ guest: from, length: to - from, at: from - pos });
    }
    g = stop;
  }
  const last = segments[segments.length - 1];
  if (!last) return { span: 0, segments, covered: limit };
  return { span: last.guest + last.length - pos, read: { fd: input.fileDescriptor, offset: pos }, segments, covered: limit };
}

/**
 * A qcow2 image's window: its data clusters from `pos` on for as long as they
 * lie one after another in the file (zero and unallocated areas between them
 * skipped), so they are read with one call. Undefined when the bytes at `pos`
 * are not plain data of this image (backing file, compressed), or when its
 * clusters are smaller than the output's units (then run edges could split a unit).
 */
function qcow2Window(input: Qcow2Image, pos: number, limit: number, unit: number): Window | undefined {
  if (input.clusterSize < unit) return undefined;
  const end = pos + limit;
  const segments: Segment[] = [];
  let host0 = -1;
  let nextHost = -1;
  let g = pos;
  while (g < end) {
    const m = input.mapGuest(g);
    const n = Math.min(m.avail, end - g);
    if (m.kind === Kind.Data) {
      if (host0 < 0) {
        host0 = m.host;
        nextHost = m.host;
      }
      if (m.host !== nextHost) break;
      const last = segments[segments.length - 1];
      if (last && last.guest + last.length === g) last.length += n;
      else segments.push({ guest: g, length: n, at: m.host - host0 });
      nextHost += n;
      g += n;
      continue;
    }
    if (host0 < 0) return undefined;
    // Zeros between data clusters are stepped over whole units at a time; anything else ends the window.
    const zeros = Math.floor(zeroBytesAt(input, g, end - g) / unit) * unit;
    if (zeros === 0) break;
    g += zeros;
  }
  return { span: nextHost - host0, read: { fd: input.file.fd, offset: host0 }, segments, covered: g - pos };
}

/**
 * The window at `pos` of an input that needs its own read path (backing
 * files, compressed clusters), or whose clusters are smaller than a unit: one
 * segment, read directly from the file where it is one plain contiguous run.
 */
function singleRunWindow(input: SyncDisk, pos: number, limit: number, unit: number): Window {
  const whole: Window = { span: limit, segments: [{ guest: pos, length: limit, at: 0 }], covered: limit };
  if (!(input instanceof Qcow2Image)) return whole;
  const first = input.mapGuest(pos);
  if (first.kind !== Kind.Data) return whole;
  let n = first.avail;
  while (n < limit) {
    const m = input.mapGuest(pos + n);
    if (m.kind !== Kind.Data || m.host !== first.host + n) break;
    n += m.avail;
  }
  // A run that ends inside a unit is cut back to a unit boundary (or not used) so the next window starts aligned.
  n = n >= limit ? limit : Math.floor(n / unit) * unit;
  if (n === 0) return whole;
  return { span: n, read: { fd: input.file.fd, offset: first.host }, segments: [{ guest: pos, length: n, at: 0 }], covered: n };
}

function windowAt(input: SyncDisk, pos: number, limit: number, unit: number): Window {
  if (input instanceof RawDisk) return rawWindow(input, pos, limit, unit);
  if (input instanceof Qcow2Image) return qcow2Window(input, pos, limit, unit) ?? singleRunWindow(input, pos, limit, unit);
  return singleRunWindow(input, pos, limit, unit);
}

/** pwritev of `buffers` at `position` until every byte is written. */
function writeAll(fd: number, buffers: Buffer[], position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (bufs: Buffer[], at: number): void => {
      if (bufs.length === 0) {
        resolve();
        return;
      }
      fs.writev(fd, bufs, at, (err, written) => {
        if (err) {
          reject(err);
          return;
        }
        if (written === 0) {
          reject(new Error(`short write at offset ${at}`));
          return;
        }
        let rest = written;
        let i = 0;
        while (i < bufs.length && rest >= bufs[i]!.length) rest -= bufs[i++]!.length;
        const remaining = bufs.slice(i);
        if (rest > 0) remaining[0] = remaining[0]!.subarray(rest);
        step(remaining, at + written);
      });
    };
    step(buffers, position);
  });
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
export async function copyNonZero(input: SyncDisk, sink: CopySink, progress?: (fraction: number) => void): Promise<CopyStats> {
  const size = input.size;
  const unit = sink.unit;
  const chunk = Math.max(unit, Math.floor(CHUNK / unit) * unit);
  const zero = Buffer.alloc(unit);
  let cursor = 0;
  let done = 0;
  // Host space is handed out in guest order whatever order the reads finish in, so the output layout is the same on every run.
  let placeTurn = Promise.resolve();
  const stats: CopyStats = { readCalls: 0, writeCalls: 0 };

  /** The next window that may hold data (starting unit-aligned), or undefined at the end. */
  const claim = (): Window | undefined => {
    while (cursor < size) {
      const skip = cursor % unit === 0 ? Math.floor(zeroBytesAt(input, cursor, MAX_SKIP) / unit) * unit : 0;
      if (skip === 0) break;
      cursor += skip;
      done += skip;
    }
    if (cursor >= size) return undefined;
    const w = windowAt(input, cursor, Math.min(chunk, size - cursor), unit);
    cursor += w.covered;
    return w;
  };

  const worker = async (): Promise<void> => {
    const buf = Buffer.allocUnsafe(chunk);
    for (let w = claim(); w; w = claim()) {
      const prevTurn = placeTurn;
      let release!: () => void;
      placeTurn = new Promise((resolve) => {
        release = resolve;
      });
      try {
        const data = buf.subarray(0, w.span);
        if (w.read) await readFully(w.read.fd, data, w.read.offset);
        else input.readSync(w.segments[0]!.guest, data);
        stats.readCalls++;
        /** Non-zero runs: guest offset, length, offset in the buffer. */
        const runs: Array<[number, number, number]> = [];
        for (const seg of w.segments) {
          const bytes = data.subarray(seg.at, seg.at + seg.length);
          for (let off = 0; off < seg.length; ) {
            const run = nonZeroRun(bytes, off, unit, zero);
            if (run === 0) {
              off += Math.min(unit, seg.length - off);
              continue;
            }
            runs.push([seg.guest + off, run, seg.at + off]);
            off += run;
          }
        }
        await prevTurn;
        const hosts = runs.map(([guest, run]) => sink.place(guest, run));
        release();
        // Runs that land next to each other in the output (every run of a window, for qcow2 output) go out as one pwritev.
        const groups: Array<[Buffer[], number]> = [];
        for (let i = 0; i < runs.length; ) {
          const host = hosts[i]!;
          const buffers: Buffer[] = [];
          let next = host;
          for (; i < runs.length && hosts[i] === next; i++) {
            const [, run, at] = runs[i]!;
            buffers.push(data.subarray(at, at + run));
            next += run;
          }
          groups.push([buffers, host]);
        }
        stats.writeCalls += groups.length;
        await Promise.all(groups.map(([buffers, host]) => writeAll(sink.fd, buffers, host)));
      } finally {
        release();
      }
      done += w.covered;
      progress?.(Math.min(1, done / size));
    }
  };
  // Every worker must have stopped before the caller closes (or removes) the output, even when one failed.
  const results = await Promise.allSettled(Array.from({ length: IN_FLIGHT }, worker));
  for (const r of results) if (r.status === 'rejected') throw r.reason;
  progress?.(1);
  return stats;
}
