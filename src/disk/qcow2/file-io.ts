// Positioned I/O on an image file with bounds checks that name the image and
// the structure being read, so a lying offset becomes one clear error.
import * as fs from 'node:fs';
import { ImageError } from '../errors.js';
import { STAT_BLOCK_BYTES } from './constants.js';

export class ImageFile {
  private closed = false;
  /** False for scratch outputs (convert): like qemu-img's cache=unsafe, ordering is kept but nothing is forced to disk. */
  durable = true;
  /** Current file length; grows as clusters are appended. */
  length: number;

  private constructor(
    readonly path: string,
    readonly fd: number,
    readonly readOnly: boolean,
  ) {
    this.length = fs.fstatSync(fd).size;
  }

  static open(path: string, readOnly: boolean): ImageFile {
    return new ImageFile(path, fs.openSync(path, readOnly ? 'r' : 'r+'), readOnly);
  }

  static adopt(path: string, fd: number, readOnly: boolean): ImageFile {
    return new ImageFile(path, fd, readOnly);
  }

  /** Reads metadata that must lie wholly inside the file. */
  readMeta(offset: number, length: number, what: string): Buffer {
    if (offset + length > this.length) {
      throw new ImageError(this.path, `${what} at offset ${offset} (${length} bytes) lies beyond the end of the file`);
    }
    const buf = Buffer.allocUnsafe(length);
    this.readInto(offset, buf);
    return buf;
  }

  /** Reads guest data; bytes beyond the end of the file read as zeros. */
  readInto(offset: number, buf: Uint8Array, start = 0, length = buf.length - start): void {
    let done = 0;
    while (done < length) {
      const n = fs.readSync(this.fd, buf, start + done, length - done, offset + done);
      if (n === 0) {
        buf.fill(0, start + done, start + length);
        return;
      }
      done += n;
    }
  }

  write(offset: number, data: Uint8Array, start = 0, length = data.length - start): void {
    let done = 0;
    while (done < length) done += fs.writeSync(this.fd, data, start + done, length - done, offset + done);
    if (offset + length > this.length) this.length = offset + length;
  }

  truncate(length: number): void {
    fs.ftruncateSync(this.fd, length);
    this.length = length;
  }

  sync(): void {
    if (this.durable) fs.fdatasyncSync(this.fd);
  }

  /** Bytes the file really occupies on disk (sparse files use less). */
  allocatedBytes(): number {
    return fs.fstatSync(this.fd).blocks * STAT_BLOCK_BYTES;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    fs.closeSync(this.fd);
  }
}
