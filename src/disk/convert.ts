// `mvm image convert`: copies any image (with its backing chain flattened)
// into a new raw or qcow2 image, skipping all-zero clusters so the result is
// sparse, optionally compressing every cluster.
import { ImageError } from './errors.js';
import { zeroBytesAt } from './map.js';
import { openSync, refuseOverwritingChain } from './open.js';
import { deflateCluster } from './qcow2/compressed.js';
import { createQcow2, createRaw } from './qcow2/create.js';
import { Qcow2Image } from './qcow2/image.js';
import { RawDisk } from './raw.js';
import type { DiskFormat } from './backend.js';

export interface ConvertOptions {
  outFormat: DiskFormat;
  /** Source format; probed when absent (give it for guest-writable raw disks). */
  inFormat?: DiskFormat;
  compress?: boolean;
  clusterBits?: number;
  /** Called with the fraction done, 0..1. */
  progress?: (fraction: number) => void;
}

/** Bytes copied per step: measured fastest here (writes of 2 MiB and more were several times slower). */
const CHUNK = 1 << 20;
/** How far ahead one look at the block status may skip. */
const MAX_SKIP = 1 << 30;
/** Zero detection granularity for raw output (a filesystem block). */
const RAW_ZERO_UNIT = 4096;

export function convertImage(src: string, dst: string, opts: ConvertOptions): void {
  if (opts.compress && opts.outFormat !== 'qcow2') throw new ImageError(dst, 'compression (-c) needs qcow2 output');
  const input = openSync(src, { readOnly: true, format: opts.inFormat });
  try {
    refuseOverwritingChain(dst, input);
    const size = input.size;
    let output: Qcow2Image | RawDisk;
    if (opts.outFormat === 'qcow2') {
      createQcow2(dst, { size, clusterBits: opts.clusterBits });
      output = Qcow2Image.open(dst, { readOnly: false, noSync: true });
    } else {
      createRaw(dst, size);
      output = RawDisk.open(dst, false);
    }
    try {
      const unit = output instanceof Qcow2Image ? output.clusterSize : RAW_ZERO_UNIT;
      const chunk = Math.max(unit, Math.floor(CHUNK / unit) * unit);
      const buf = Buffer.allocUnsafe(chunk);
      const zero = Buffer.alloc(unit);
      for (let pos = 0; pos < size;) {
        // Ranges the source reports as zero or unallocated are not read at all: the new image is already zero there.
        const skip = pos % unit === 0 ? Math.floor(zeroBytesAt(input, pos, MAX_SKIP) / unit) * unit : 0;
        if (skip > 0) {
          pos += skip;
          opts.progress?.(Math.min(1, pos / size));
          continue;
        }
        const n = Math.min(chunk, size - pos);
        const data = buf.subarray(0, n);
        input.readSync(pos, data);
        if (opts.compress) writeCompressed(output as Qcow2Image, pos, data, zero);
        else writeNonZeroRuns(output, pos, data, unit, zero);
        pos += n;
        opts.progress?.(Math.min(1, pos / size));
      }
      if (size === 0) opts.progress?.(1);
    } finally {
      output.closeSync();
    }
  } finally {
    input.closeSync();
  }
}

/** Writes each run of units that are not all zero with one call; zero units stay holes. */
function writeNonZeroRuns(out: Qcow2Image | RawDisk, pos: number, data: Buffer, unit: number, zero: Buffer): void {
  let runStart = -1;
  // One step past the last (possibly partial) unit closes a run that reaches the end.
  for (let off = 0; off < data.length + unit; off += unit) {
    const end = Math.min(off + unit, data.length);
    const isZero = off >= data.length || data.subarray(off, end).equals(end - off === unit ? zero : zero.subarray(0, end - off));
    if (!isZero && runStart < 0) runStart = off;
    if (isZero && runStart >= 0) {
      out.writeSync(pos + runStart, data.subarray(runStart, Math.min(off, data.length)));
      runStart = -1;
    }
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
