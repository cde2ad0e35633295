// A SyncDisk over a Uint8Array for the virtio-blk specs.
import type { SyncDisk } from '../../../src/disk/backend.js';

/** A disk in a Uint8Array that records the calls it gets; `failNext` makes the next call throw, as a failing host disk does. */
export class MemoryDisk implements SyncDisk {
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
  readSync(offset: number, buffer: Uint8Array): void {
    this.check(`read ${offset} ${buffer.length}`);
    buffer.set(this.bytes.subarray(offset, offset + buffer.length));
  }
  writeSync(offset: number, data: Uint8Array): void {
    this.check(`write ${offset} ${data.length}`);
    this.bytes.set(data, offset);
  }
  flushSync(): void {
    this.check('flush');
  }
  discardSync(offset: number, length: number): void {
    this.check(`discard ${offset} ${length}`);
    this.bytes.fill(0, offset, offset + length);
  }
  writeZeroesSync(offset: number, length: number): void {
    this.check(`zeroes ${offset} ${length}`);
    this.bytes.fill(0, offset, offset + length);
  }
  closeSync(): void {}
}
