// Raw images: the file is the disk, byte for byte.
import * as fs from 'node:fs';
import type { SyncDisk } from './backend.js';
import { checkRange } from './backend.js';
import { ImageError } from './errors.js';

/** Linux FALLOC_FL_PUNCH_HOLE is not reachable from Node; zeros are written instead. */
const ZERO_CHUNK = 1 << 20;

export class RawDisk implements SyncDisk {
  readonly format = 'raw' as const;
  private closed = false;

  private constructor(readonly path: string, private readonly fd: number, public size: number, readonly readOnly: boolean) {}

  get fileDescriptor(): number {
    return this.fd;
  }

  static open(path: string, readOnly: boolean): RawDisk {
    const fd = fs.openSync(path, readOnly ? 'r' : 'r+');
    const size = fs.fstatSync(fd).size;
    return new RawDisk(path, fd, size, readOnly);
  }

  readSync(offset: number, buffer: Uint8Array): void {
    checkRange(this.path, this.size, offset, buffer.length);
    let done = 0;
    while (done < buffer.length) {
      const n = fs.readSync(this.fd, buffer, done, buffer.length - done, offset + done);
      if (n === 0) { buffer.fill(0, done); return; } // the file shrank under us: read zeros
      done += n;
    }
  }

  writeSync(offset: number, data: Uint8Array): void {
    this.requireWritable();
    checkRange(this.path, this.size, offset, data.length);
    let done = 0;
    while (done < data.length) done += fs.writeSync(this.fd, data, done, data.length - done, offset + done);
  }

  flushSync(): void {
    if (!this.readOnly) fs.fdatasyncSync(this.fd);
  }

  discardSync(offset: number, length: number): void {
    // Advisory; nothing to do without hole punching.
    checkRange(this.path, this.size, offset, length);
  }

  writeZeroesSync(offset: number, length: number): void {
    this.requireWritable();
    checkRange(this.path, this.size, offset, length);
    const zeros = Buffer.alloc(Math.min(length, ZERO_CHUNK));
    for (let done = 0; done < length; done += zeros.length) {
      this.writeSync(offset + done, zeros.subarray(0, Math.min(zeros.length, length - done)));
    }
  }

  /** Grows or shrinks the file (used by convert and create). */
  resizeSync(size: number): void {
    this.requireWritable();
    fs.ftruncateSync(this.fd, size);
    this.size = size;
  }

  closeSync(): void {
    if (this.closed) return;
    this.closed = true;
    fs.closeSync(this.fd);
  }

  private requireWritable(): void {
    if (this.readOnly) throw new ImageError(this.path, 'image is open read-only');
  }
}
