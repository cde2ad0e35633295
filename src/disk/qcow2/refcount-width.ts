// Reading and writing one refcount of any width (1..64 bits) in a refcount
// block. Sub-byte widths pack LSB-first; wider ones are big-endian.
import { HI_SAFE_LIMIT, MAX_SAFE_OFFSET, TWO_32 } from './constants.js';

export function readRefcount(block: Buffer, index: number, order: number): number {
  switch (order) {
    case 0:
    case 1:
    case 2: {
      const bits = 1 << order;
      const bitPos = index * bits;
      return (block[bitPos >> 3]! >> (bitPos & 7)) & ((1 << bits) - 1);
    }
    case 3:
      return block[index]!;
    case 4:
      return block.readUInt16BE(index * 2);
    case 5:
      return block.readUInt32BE(index * 4);
    default: {
      const hi = block.readUInt32BE(index * 8);
      // Counts past 2^53 cannot be real; saturate so they read as "in use".
      return hi >= HI_SAFE_LIMIT ? MAX_SAFE_OFFSET : hi * TWO_32 + block.readUInt32BE(index * 8 + 4);
    }
  }
}

export function writeRefcount(block: Buffer, index: number, order: number, value: number): void {
  switch (order) {
    case 0:
    case 1:
    case 2: {
      const bits = 1 << order;
      const bitPos = index * bits;
      const mask = ((1 << bits) - 1) << (bitPos & 7);
      const at = bitPos >> 3;
      block[at] = (block[at]! & ~mask) | ((value << (bitPos & 7)) & mask);
      return;
    }
    case 3:
      block[index] = value;
      return;
    case 4:
      block.writeUInt16BE(value, index * 2);
      return;
    case 5:
      block.writeUInt32BE(value, index * 4);
      return;
    default:
      block.writeUInt32BE(Math.floor(value / TWO_32), index * 8);
      block.writeUInt32BE(value % TWO_32, index * 8 + 4);
  }
}

/** Largest refcount a width can hold (64-bit is capped to what a number holds exactly). */
export function maxRefcount(order: number): number {
  return order >= 6 ? MAX_SAFE_OFFSET - 1 : 2 ** (1 << order) - 1;
}
