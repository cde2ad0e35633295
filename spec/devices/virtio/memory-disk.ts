// A DiskBackend over a Uint8Array for the virtio-blk specs.
import { asBackend, type DiskBackend, type SyncDisk } from '../../../src/disk/backend.js';

/** A disk in a Uint8Array that records the calls it gets. */
export class MemoryDisk implements DiskBackend {
  readonly path = 'memory';
  readonly format = 'raw' as const;
  readonly bytes: Uint8Array;
  calls: string[] = [];
  failNext = false;
  constructor(
    readonly size: number,
    readonly readOnly = false,
  ) {
    this.bytes = new Uint8Array(size);
  }
  private check(op: string): void {
    this.calls.push(op);
    if (this.failNext) {
      this.failNext = false;
      throw new Error('simulated EIO');
    }
  }
  async read(offset: number, buffer: Uint8Array): Promise<void> {
    this.check(`read ${offset} ${buffer.length}`);
    buffer.set(this.bytes.subarray(offset, offset + buffer.length));
  }
  async write(offset: number, data: Uint8Array): Promise<void> {
    this.check(`write ${offset} ${data.length}`);
    this.bytes.set(data, offset);
  }
  async flush(): Promise<void> {
    this.check('flush');
  }
  async discard(offset: number, length: number): Promise<void> {
    this.check(`discard ${offset} ${length}`);
    this.bytes.fill(0, offset, offset + length);
  }
  async writeZeroes(offset: number, length: number): Promise<void> {
    this.check(`zeroes ${offset} ${length}`);
    this.bytes.fill(0, offset, offset + length);
  }
  async close(): Promise<void> {}
}

/** The synchronous form of a MemoryDisk (SyncDisk): how a device thread's VirtioBlock sees its drive. */
export class MemorySyncDisk implements SyncDisk {
  readonly path = 'memory';
  readonly format = 'raw' as const;
  readonly bytes: Uint8Array;
  calls: string[] = [];
  constructor(
    readonly size: number,
    readonly readOnly = false,
  ) {
    this.bytes = new Uint8Array(size);
  }
  readSync(offset: number, buffer: Uint8Array): void {
    this.calls.push(`read ${offset} ${buffer.length}`);
    buffer.set(this.bytes.subarray(offset, offset + buffer.length));
  }
  writeSync(offset: number, data: Uint8Array): void {
    this.calls.push(`write ${offset} ${data.length}`);
    this.bytes.set(data, offset);
  }
  flushSync(): void {
    this.calls.push('flush');
  }
  discardSync(offset: number, length: number): void {
    this.calls.push(`discard ${offset} ${length}`);
    this.bytes.fill(0, offset, offset + length);
  }
  writeZeroesSync(offset: number, length: number): void {
    this.calls.push(`zeroes ${offset} ${length}`);
    this.bytes.fill(0, offset, offset + length);
  }
  closeSync(): void {}
}

/** A VirtioBlock that completes inline over a MemorySyncDisk (the device thread's way). */
export function syncBackendOf(disk: MemorySyncDisk): DiskBackend {
  return asBackend(disk);
}
