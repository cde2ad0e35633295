// Reading and writing 64-bit big-endian table entries as two u32 halves:
// BigInt on the hot path costs several times more than two readUInt32BE.
import { HI_OFFSET_MASK, HI_SAFE_LIMIT, LO_OFFSET_MASK, TWO_32 } from './constants.js';

/** The host offset (bits 9..55) of an L1, L2 or refcount-table entry. */
export function entryOffset(buf: Buffer, at: number): number {
  return (buf.readUInt32BE(at) & HI_OFFSET_MASK) * TWO_32 + ((buf.readUInt32BE(at + 4) & LO_OFFSET_MASK) >>> 0);
}

/** Writes flags (high-half bits) and an offset as one entry. */
export function writeEntry(buf: Buffer, at: number, hiFlags: number, offset: number, loFlags = 0): void {
  buf.writeUInt32BE((hiFlags | Math.floor(offset / TWO_32)) >>> 0, at);
  buf.writeUInt32BE(((offset % TWO_32) | loFlags) >>> 0, at + 4);
}

/** A whole u64 field, or undefined if it does not fit in 53 bits. */
export function readU64(buf: Buffer, at: number): number | undefined {
  const hi = buf.readUInt32BE(at);
  if (hi >= HI_SAFE_LIMIT) return undefined;
  return hi * TWO_32 + buf.readUInt32BE(at + 4);
}

export function writeU64(buf: Buffer, at: number, value: number): void {
  buf.writeUInt32BE(Math.floor(value / TWO_32), at);
  buf.writeUInt32BE(value % TWO_32, at + 4);
}
