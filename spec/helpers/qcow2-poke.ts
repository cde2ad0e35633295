// Byte surgery on image files for the malformed-image corpus.
import * as fs from 'node:fs';

export function pokeU32(path: string, offset: number, value: number): void {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(value >>> 0);
  poke(path, offset, b);
}

export function pokeU64(path: string, offset: number, hi: number, lo: number): void {
  const b = Buffer.alloc(8);
  b.writeUInt32BE(hi >>> 0, 0);
  b.writeUInt32BE(lo >>> 0, 4);
  poke(path, offset, b);
}

export function poke(path: string, offset: number, bytes: Uint8Array): void {
  const fd = fs.openSync(path, 'r+');
  try {
    fs.writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    fs.closeSync(fd);
  }
}

export function peekU64(path: string, offset: number): number {
  const fd = fs.openSync(path, 'r');
  try {
    const b = Buffer.alloc(8);
    fs.readSync(fd, b, 0, 8, offset);
    return b.readUInt32BE(0) * 2 ** 32 + b.readUInt32BE(4);
  } finally {
    fs.closeSync(fd);
  }
}
