// `mvm image compare`: whether two images (any formats, backing chains
// followed) read the same, as qemu-img compare answers it: the common part
// byte for byte, and the longer image's extra part must read as zeros; the
// first difference is reported at its 512-byte sector, as qemu-img does.
// Ranges both images know to be zero are skipped without reading.
import type { SyncDisk } from './backend.js';
import { zeroBytesAt } from './map.js';

/** Bytes compared per read. */
const CHUNK = 1 << 20;
/** Differences are reported at sector granularity. */
const SECTOR = 512;
/** How far one look at the block status may skip. */
const MAX_SKIP = 1 << 30;

export interface CompareResult {
  sizeMismatch: boolean;
  /** Sector offset of the first byte that differs (or is not zero past the shorter image's end). */
  mismatchAt?: number;
}

function firstDifference(a: Buffer, b: Buffer): number {
  for (let at = 0; at < a.length; at += SECTOR) {
    const end = Math.min(at + SECTOR, a.length);
    if (a.compare(b, at, end, at, end) !== 0) return at;
  }
  return -1;
}

function firstNonZero(data: Buffer, zero: Buffer): number {
  for (let at = 0; at < data.length; at += SECTOR) {
    const end = Math.min(at + SECTOR, data.length);
    if (zero.compare(data, at, end, 0, end - at) !== 0) return at;
  }
  return -1;
}

export function compareImages(a: SyncDisk, b: SyncDisk): CompareResult {
  const common = Math.min(a.size, b.size);
  const bufA = Buffer.allocUnsafe(CHUNK),
    bufB = Buffer.allocUnsafe(CHUNK);
  for (let pos = 0; pos < common; ) {
    const skip = Math.min(zeroBytesAt(a, pos, MAX_SKIP), zeroBytesAt(b, pos, MAX_SKIP));
    if (skip > 0) {
      pos += skip;
      continue;
    }
    const n = Math.min(CHUNK, common - pos);
    const da = bufA.subarray(0, n),
      db = bufB.subarray(0, n);
    a.readSync(pos, da);
    b.readSync(pos, db);
    const at = firstDifference(da, db);
    if (at >= 0) return { sizeMismatch: a.size !== b.size, mismatchAt: pos + at };
    pos += n;
  }
  const longer = a.size > b.size ? a : b;
  const zero = Buffer.alloc(SECTOR);
  for (let pos = common; pos < longer.size; ) {
    const skip = zeroBytesAt(longer, pos, MAX_SKIP);
    if (skip > 0) {
      pos += skip;
      continue;
    }
    const n = Math.min(CHUNK, longer.size - pos);
    const data = bufA.subarray(0, n);
    longer.readSync(pos, data);
    const at = firstNonZero(data, zero);
    if (at >= 0) return { sizeMismatch: true, mismatchAt: pos + at };
    pos += n;
  }
  return { sizeMismatch: a.size !== b.size };
}
