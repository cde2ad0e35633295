// `mvm image convert`: copies any image (with its backing chain flattened)
// into a new raw or qcow2 image, skipping all-zero clusters so the result is
// sparse, optionally compressing every cluster. The uncompressed paths stream
// through copy-pipeline.ts (overlapped async writes); qcow2 output is laid out
// by Qcow2StreamWriter instead of allocating cluster by cluster.
import * as fs from 'node:fs';
import type { DiskFormat, SyncDisk } from './backend.js';
import { copyNonZero } from './copy-pipeline.js';
import { ImageError } from './errors.js';
import { zeroBytesAt } from './map.js';
import { chainDisks, openSync, refuseOverwritingChain } from './open.js';
import { deflateCluster } from './qcow2/compressed.js';
import { createQcow2, createRaw } from './qcow2/create.js';
import { Qcow2Image } from './qcow2/image.js';
import { Qcow2StreamWriter } from './qcow2/stream-writer.js';
import { RawDisk } from './raw.js';
import { loadNativeFileOps } from './native-file-ops.js';

export interface ConvertOptions {
  outFormat: DiskFormat;
  /** Source format; probed when absent (give it for guest-writable raw disks). */
  inFormat?: DiskFormat;
  compress?: boolean;
  clusterBits?: number;
  /** Called with the fraction done, 0..1. */
  progress?: (fraction: number) => void;
}

/** Bytes copied per step of the compressing path. */
const CHUNK = 1 << 20;
/** How far ahead one look at the block status may skip. */
const MAX_SKIP = 1 << 30;
/** Zero detection granularity for raw output (a filesystem block). */
const RAW_ZERO_UNIT = 4096;

export async function convertImage(src: string, dst: string, opts: ConvertOptions): Promise<void> {
  if (opts.compress && opts.outFormat !== 'qcow2') throw new ImageError(dst, 'compression (-c) needs qcow2 output');
  const input = openSync(src, { readOnly: true, format: opts.inFormat });
  try {
    refuseOverwritingChain(dst, input);
    // Holes of raw layers are skipped without reading them (a mostly empty 8 GiB raw disk would otherwise be read whole).
    if (chainDisks(input).some((d) => d instanceof RawDisk)) await loadNativeFileOps();
    if (opts.compress) convertCompressed(input, dst, opts);
    else if (opts.outFormat === 'qcow2') await convertToQcow2(input, dst, opts);
    else await convertToRaw(input, dst, opts);
    if (input.size === 0) opts.progress?.(1);
  } finally {
    input.closeSync();
  }
}

/** Raw output: a sparse file of the right size, with only the non-zero blocks written. */
async function convertToRaw(input: SyncDisk, dst: string, opts: ConvertOptions): Promise<void> {
  createRaw(dst, input.size);
  const fd = fs.openSync(dst, 'r+');
  try {
    await copyNonZero(input, { fd, unit: RAW_ZERO_UNIT, place: (guest) => guest }, opts.progress);
  } finally {
    fs.closeSync(fd);
  }
}

/** qcow2 output: data streamed front to back, metadata computed once at the end. */
async function convertToQcow2(input: SyncDisk, dst: string, opts: ConvertOptions): Promise<void> {
  const out = Qcow2StreamWriter.create(dst, { size: input.size, clusterBits: opts.clusterBits });
  try {
    await copyNonZero(input, { fd: out.fileDescriptor, unit: out.clusterSize, place: (g, n) => out.place(g, n) }, opts.progress);
    out.finishSync();
  } catch (err) {
    out.closeSync();
    // Without its header the half-written file is not an image; do not leave it behind.
    fs.rmSync(dst, { force: true });
    throw err;
  }
  out.closeSync();
}

/** `-c`: every non-zero cluster deflated and written through the qcow2 writer (compression dominates the time). */
function convertCompressed(input: SyncDisk, dst: string, opts: ConvertOptions): void {
  const size = input.size;
  createQcow2(dst, { size, clusterBits: opts.clusterBits });
  const output = Qcow2Image.open(dst, { readOnly: false, noSync: true });
  try {
    const unit = output.clusterSize;
    const chunk = Math.max(unit, Math.floor(CHUNK / unit) * unit);
    const buf = Buffer.allocUnsafe(chunk);
    const zero = Buffer.alloc(unit);
    for (let pos = 0; pos < size;) {
      const skip = pos % unit === 0 ? Math.floor(zeroBytesAt(input, pos, MAX_SKIP) / unit) * unit : 0;
      if (skip > 0) {
        pos += skip;
        opts.progress?.(Math.min(1, pos / size));
        continue;
      }
      const n = Math.min(chunk, size - pos);
      const data = buf.subarray(0, n);
      input.readSync(pos, data);
      writeCompressed(output, pos, data, zero);
      pos += n;
      opts.progress?.(Math.min(1, pos / size));
    }
  } finally {
    output.closeSync();
  }
}

function writeCompressed(out: Qcow2Image, pos: number, data: Buffer, zero: Buffer): void {
  const cs = out.clusterSize;
  for (let off = 0; off < data.length; off += cs) {
    const cluster = data.subarray(off, Math.min(off + cs, data.length));
    if (cluster.equals(cluster.length === cs ? zero : zero.subarray(0, cluster.length))) continue;
    const full = cluster.length === cs ? cluster : Buffer.concat([cluster, zero.subarray(cluster.length)]);
    const deflated = deflateCluster(full);
    if (deflated && cluster.length === cs) out.writeCompressedSync((pos + off) / cs, deflated);
    else out.writeSync(pos + off, cluster);
  }
}
