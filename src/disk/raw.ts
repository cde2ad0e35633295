// Raw images: the file is the disk, byte for byte.
import * as fs from 'node:fs';
import type { VectoredDisk } from './backend.js';
import { checkRange } from './backend.js';
import { ImageError } from './errors.js';
import { nativeFileOps } from './native-file-ops.js';

/** Zeros written per call by writeZeroesSync. */
const ZERO_CHUNK = 1 << 20;

/** sysfs reports block device sizes in 512-byte sectors, whatever the device's block size. */
const SYSFS_SECTOR = 512;

/**
 * fstat reports size 0 for block devices and Node has no lseek(SEEK_END), so
 * the size comes from /sys/dev/block/MAJOR:MINOR/size (Linux dev_t encoding).
 */
function blockDeviceSize(path: string, rdev: number): number {
  const major = Math.floor(rdev / 256) & 0xfff;
  const minor = (rdev & 0xff) | (Math.floor(rdev / 4096) & 0xfff00);
  try {
    return Number(fs.readFileSync(`/sys/dev/block/${major}:${minor}/size`, 'utf8').trim()) * SYSFS_SECTOR;
  } catch {
    throw new ImageError(path, 'cannot find the size of this block device (no /sys/dev/block entry)');
  }
}

/** Linux's IOV_MAX: buffers per preadv/pwritev call. */
const IOV_MAX = 1024;

export class RawDisk implements VectoredDisk {
  readonly format = 'raw' as const;
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly fd: number,
    public size: number,
    readonly readOnly: boolean,
  ) {}

  get fileDescriptor(): number {
    return this.fd;
  }

  static open(path: string, readOnly: boolean): RawDisk {
    const fd = fs.openSync(path, readOnly ? 'r' : 'r+');
    try {
      const st = fs.fstatSync(fd);
      const size = st.isBlockDevice() ? blockDeviceSize(path, st.rdev) : st.size;
      return new RawDisk(path, fd, size, readOnly);
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
  }

  readSync(offset: number, buffer: Uint8Array): void {
    checkRange(this.path, this.size, offset, buffer.length);
    let done = 0;
    while (done < buffer.length) {
      const n = fs.readSync(this.fd, buffer, done, buffer.length - done, offset + done);
      if (n === 0) {
        buffer.fill(0, done);
        return;
      } // the file shrank under us: read zeros
      done += n;
    }
  }

  /**
   * The same disk over an fd another object opened (and still owns): how a
   * device thread reaches a drive the VMM opened and locked. Closing it does
   * not close the fd.
   */
  static adopt(path: string, fd: number, size: number, readOnly: boolean): RawDisk {
    const disk = new RawDisk(path, fd, size, readOnly);
    disk.borrowed = true;
    return disk;
  }

  private borrowed = false;

  /** preadv(2) into the buffers in order; bytes past the end of the file read as zeros. */
  readVectorSync(offset: number, buffers: readonly Uint8Array[]): void {
    const total = buffers.reduce((sum, b) => sum + b.length, 0);
    checkRange(this.path, this.size, offset, total);
    let done = 0;
    let pending = buffers.filter((b) => b.length > 0);
    while (pending.length > 0) {
      const n = fs.readvSync(this.fd, pending.slice(0, IOV_MAX), offset + done);
      if (n === 0) {
        for (const b of pending) b.fill(0); // the file shrank under us: read zeros
        return;
      }
      done += n;
      pending = advance(pending, n);
    }
  }

  /** pwritev(2) of the buffers in order. */
  writeVectorSync(offset: number, buffers: readonly Uint8Array[]): void {
    this.requireWritable();
    const total = buffers.reduce((sum, b) => sum + b.length, 0);
    checkRange(this.path, this.size, offset, total);
    let done = 0;
    let pending = buffers.filter((b) => b.length > 0);
    while (pending.length > 0) {
      const n = fs.writevSync(this.fd, pending.slice(0, IOV_MAX), offset + done);
      done += n;
      pending = advance(pending, n);
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

  /** Advisory: the range becomes a hole where the file system can punch one (native-file-ops.ts loaded), else stays as it is. */
  discardSync(offset: number, length: number): void {
    checkRange(this.path, this.size, offset, length);
    if (!this.readOnly) nativeFileOps()?.punchHole(this.fd, offset, length);
  }

  /**
   * Whether the bytes at `offset` are stored data or a hole of the file, and
   * how many bytes from there are the same. Without native-file-ops.ts loaded (or
   * on a device that cannot tell) everything is data.
   */
  extentAt(offset: number): { data: boolean; length: number } {
    const ops = nativeFileOps();
    if (!ops || offset >= this.size) return { data: true, length: Math.max(0, this.size - offset) };
    const data = ops.nextData(this.fd, offset, this.size);
    if (data > offset) return { data: false, length: data - offset };
    return { data: true, length: ops.nextHole(this.fd, offset, this.size) - offset };
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
    if (!this.borrowed) fs.closeSync(this.fd);
  }

  private requireWritable(): void {
    if (this.readOnly) throw new ImageError(this.path, 'image is open read-only');
  }
}

/** The buffers left after the first `bytes` bytes of them were transferred. */
function advance(buffers: readonly Uint8Array[], bytes: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let skip = bytes;
  for (const b of buffers) {
    if (skip >= b.length) {
      skip -= b.length;
      continue;
    }
    out.push(skip > 0 ? b.subarray(skip) : b);
    skip = 0;
  }
  return out;
}
