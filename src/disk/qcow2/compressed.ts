// Compressed clusters: decoding the L2 descriptor, inflating (raw deflate, no
// zlib header) or un-zstd-ing (zstd-cluster.ts), and deflating for `convert -c`.
import * as zlib from 'node:zlib';
import { ImageError } from '../errors.js';
import { HI_COMPRESSED, TWO_32 } from './constants.js';
import { unzstdCluster } from './zstd-cluster.js';

export interface CompressedExtent {
  /** Byte offset of the compressed data in the file. */
  offset: number;
  /** Bytes to read: whole 512-byte sectors counted from the sector holding `offset`. */
  length: number;
}

const SECTOR = 512;

/** Decodes a compressed L2 entry given as its two u32 halves. */
export function decodeCompressed(hi: number, lo: number, clusterBits: number): CompressedExtent {
  const x = 62 - (clusterBits - 8); // offset bits; the sector count sits above them
  const hiOffsetBits = x - 32;
  const offHi = hi & ((1 << hiOffsetBits) - 1);
  const offset = offHi * TWO_32 + (lo >>> 0);
  const sectors = ((hi >>> hiOffsetBits) & ((1 << (clusterBits - 8)) - 1)) + 1;
  return { offset, length: sectors * SECTOR - (offset % SECTOR) };
}

/** Encodes a compressed entry for data of `size` bytes at byte `offset`. */
export function encodeCompressed(offset: number, size: number, clusterBits: number): { hi: number; lo: number } {
  const x = 62 - (clusterBits - 8);
  const hiOffsetBits = x - 32;
  const extraSectors = Math.floor((offset + size - 1) / SECTOR) - Math.floor(offset / SECTOR);
  const hi = (HI_COMPRESSED | (extraSectors << hiOffsetBits) | Math.floor(offset / TWO_32)) >>> 0;
  return { hi, lo: offset % TWO_32 };
}

/** The header's compression type: 0 deflate, 1 zstd. */
export const COMPRESSION_ZSTD = 1;

/** Decompresses one cluster with the image's compression type. */
export function decompressCluster(path: string, data: Buffer, clusterSize: number, compressionType: number): Buffer {
  return compressionType === COMPRESSION_ZSTD ? unzstdCluster(path, data, clusterSize) : inflateCluster(path, data, clusterSize);
}

/** Inflates one cluster; anything but exactly one cluster of output is corruption. */
export function inflateCluster(path: string, data: Buffer, clusterSize: number): Buffer {
  let out: Buffer;
  try {
    out = zlib.inflateRawSync(data, { finishFlush: zlib.constants.Z_SYNC_FLUSH, maxOutputLength: clusterSize });
  } catch (err) {
    if (err instanceof RangeError) throw new ImageError(path, 'compressed cluster inflates to more than one cluster');
    throw new ImageError(path, `compressed cluster is corrupt (${(err as Error).message})`);
  }
  if (out.length !== clusterSize) throw new ImageError(path, `compressed cluster inflates to ${out.length} bytes instead of ${clusterSize}`);
  return out;
}

/** Deflates a cluster on libuv's thread pool; undefined when compression would not save space. */
export function deflateCluster(data: Uint8Array): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    zlib.deflateRaw(data, { level: zlib.constants.Z_DEFAULT_COMPRESSION }, (err, out) => {
      if (err) reject(err);
      else resolve(out.length < data.length ? out : undefined);
    });
  });
}
