// zstd-compressed clusters (an image whose header says compression type 1,
// as `qemu-img convert -c -o compression_type=zstd` makes them). Each cluster
// is one zstd frame; the cluster descriptor counts whole sectors, so whatever
// follows the frame in its last sector comes along and must be cut off first,
// which means walking the frame's header and block headers to find its end.
// Decompressing uses fzstd (Node 20's zlib has no zstd); the frame's window
// size is checked first, because the decoder allocates a buffer of that size
// and an untrusted image could declare gigabytes.
import { decompress } from 'fzstd';
import { ImageError } from '../errors.js';

const MAGIC = 0xfd2fb528;
const FRAME_HEADER_MIN = 6;
const BLOCK_HEADER = 3;
const CHECKSUM = 4;
const BLOCK_RLE = 1;
const BLOCK_COMPRESSED = 2;
const BLOCK_RESERVED = 3;
/** A block never decodes to more than this (zstd's Block_Maximum_Size). */
const MAX_BLOCK = 128 * 1024;

/** Largest window a cluster's frame may ask for: compressing one cluster never needs more than a few cluster sizes. */
function windowLimit(clusterSize: number): number {
  return Math.max(4 * clusterSize, 1 << 20);
}

function readLE(data: Uint8Array, at: number, bytes: number): number {
  let v = 0;
  for (let i = bytes - 1; i >= 0; i--) v = v * 256 + data[at + i]!;
  return v;
}

/** Length of the zstd frame at the start of `data`; throws on anything malformed, truncated or too demanding. */
export function zstdFrameLength(path: string, data: Uint8Array, clusterSize: number): number {
  const corrupt = (why: string): ImageError => new ImageError(path, `zstd-compressed cluster is corrupt (${why})`);
  if (data.length < FRAME_HEADER_MIN || readLE(data, 0, 4) !== MAGIC) throw corrupt('no zstd frame');
  const descriptor = data[4]!;
  const contentSizeFlag = descriptor >> 6;
  const singleSegment = (descriptor >> 5) & 1;
  const hasChecksum = (descriptor >> 2) & 1;
  const dictionaryFlag = descriptor & 3;
  if (descriptor & 8) throw corrupt('reserved frame header bit set');
  let at = 5;
  let window = 0;
  if (!singleSegment) {
    const w = data[at++]!;
    const base = 2 ** (10 + (w >> 3));
    window = base + (base / 8) * (w & 7);
  }
  const dictionaryBytes = [0, 1, 2, 4][dictionaryFlag]!;
  if (at + dictionaryBytes > data.length) throw corrupt('truncated frame header');
  if (readLE(data, at, dictionaryBytes) !== 0) throw corrupt('frame needs a dictionary');
  at += dictionaryBytes;
  const contentSizeBytes = contentSizeFlag === 0 ? singleSegment : [0, 2, 4, 8][contentSizeFlag]!;
  if (at + contentSizeBytes > data.length) throw corrupt('truncated frame header');
  if (contentSizeBytes > 0) {
    const contentSize = readLE(data, at, contentSizeBytes) + (contentSizeFlag === 1 ? 256 : 0);
    if (contentSize !== clusterSize) throw corrupt(`frame holds ${contentSize} bytes, not one cluster`);
    if (singleSegment) window = contentSize;
  }
  at += contentSizeBytes;
  if (window > windowLimit(clusterSize)) throw corrupt(`frame asks for a ${window}-byte window`);
  // The most the blocks can decode to: raw and RLE blocks say it, a compressed block makes at most
  // MAX_BLOCK. Bounded so that a few bytes of RLE blocks cannot make the decoder build gigabytes.
  let mostOutput = 0;
  for (;;) {
    if (at + BLOCK_HEADER > data.length) throw corrupt('truncated block');
    const header = readLE(data, at, BLOCK_HEADER);
    at += BLOCK_HEADER;
    const type = (header >> 1) & 3;
    const size = header >>> 3;
    if (type === BLOCK_RESERVED) throw corrupt('reserved block type');
    at += type === BLOCK_RLE ? 1 : size;
    mostOutput += type === BLOCK_COMPRESSED ? MAX_BLOCK : size;
    if (at > data.length) throw corrupt('truncated block');
    if (mostOutput > clusterSize + MAX_BLOCK) throw corrupt('frame decodes to more than one cluster');
    if (header & 1) break;
  }
  at += hasChecksum ? CHECKSUM : 0;
  if (at > data.length) throw corrupt('truncated checksum');
  return at;
}

/** Decompresses one zstd-compressed cluster; anything but exactly one cluster of output is corruption. */
export function unzstdCluster(path: string, data: Uint8Array, clusterSize: number): Buffer {
  const frame = data.subarray(0, zstdFrameLength(path, data, clusterSize));
  let out: Uint8Array;
  try {
    out = decompress(frame);
  } catch (err) {
    throw new ImageError(path, `zstd-compressed cluster is corrupt (${(err as Error).message})`);
  }
  if (out.length !== clusterSize) throw new ImageError(path, `zstd-compressed cluster holds ${out.length} bytes instead of ${clusterSize}`);
  return Buffer.from(out.buffer, out.byteOffset, out.length);
}
