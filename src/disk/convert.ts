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
    if (opts.compress) await convertCompressed(input, dst, opts);
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

/** Clusters being deflated at once: enough to keep libuv's thread pool (4 threads) busy. */
const DEFLATING = 8;

/**
 * `-c`: every non-zero cluster deflated and written through the qcow2 writer.
 * Compression is nearly all the time, so clusters are deflated on the thread
 * pool several at once (qemu-img compresses one at a time) and written in
 * guest order as each one's turn comes, so the layout is the same every run.
 */
async function convertCompressed(input: SyncDisk, dst: string, opts: ConvertOptions): Promise<void> {
  const size = input.size;
  createQcow2(dst, { size, clusterBits: opts.clusterBits });
  const output = Qcow2Image.open(dst, { readOnly: false, noSync: true });
  const queue: Array<{ cluster: number; data: Buffer; deflated: Promise<Buffer | undefined> }> = [];
  try {
    const cs = output.clusterSize;
    const zero = Buffer.alloc(cs);
    const writeOldest = async (): Promise<void> => {
      const next = queue.shift()!;
      const deflated = await next.deflated;
      if (deflated) output.writeCompressedSync(next.cluster, deflated);
      else output.writeSync(next.cluster * cs, next.data);
      opts.progress?.(Math.min(1, ((next.cluster + 1) * cs) / size));
    };
    for (let pos = 0; pos < size; ) {
      const skip = Math.floor(zeroBytesAt(input, pos, MAX_SKIP) / cs) * cs;
      if (skip > 0) {
        pos += skip;
        opts.progress?.(Math.min(1, pos / size));
        continue;
      }
      const n = Math.min(cs, size - pos);
      const data = Buffer.allocUnsafe(n);
      input.readSync(pos, data);
      if (!data.equals(n === cs ? zero : zero.subarray(0, n))) {
        // A partial last cluster is stored plain: a compressed cluster must be whole.
        const deflated = n === cs ? deflateCluster(data) : Promise.resolve(undefined);
        queue.push({ cluster: pos / cs, data, deflated });
        if (queue.length >= DEFLATING) await writeOldest();
      }
      pos += n;
    }
    while (queue.length > 0) await writeOldest();
  } finally {
    // Deflations still running when something failed must not outlive the file they were for.
    await Promise.allSettled(queue.map((q) => q.deflated));
    output.closeSync();
  }
}
