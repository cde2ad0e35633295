// The host side of virtio-net: a tap interface. Frames are read when the
// tap fd becomes readable (on the event loop, never on a vCPU thread) and
// written with one non-blocking write each; a full tap queue drops the frame,
// as a real NIC would, rather than stall the VMM.
import { readSync, writeSync } from 'node:fs';
import { watchReadable, type FdWatch } from '../../sys/event-notifier.js';
import { openTap, type Tap } from '../../sys/tap.js';
import type { FrameBackend } from './net.js';

/** Largest frame a tap hands out without offloads (64 KiB covers any MTU). */
const READ_BUFFER_BYTES = 65_536;
/** Frames read per wake-up before yielding to the event loop. */
const READS_PER_WAKEUP = 64;

export class TapBackend implements FrameBackend {
  private readonly tap: Tap;
  private watch: FdWatch | undefined;
  private readonly buffer = new Uint8Array(READ_BUFFER_BYTES);
  /** Host-side failures other than a full queue (counted, never fatal). */
  errors = 0;

  constructor(name: string) {
    this.tap = openTap(name);
  }

  get name(): string {
    return this.tap.name;
  }

  send(frame: Uint8Array): boolean {
    try {
      return writeSync(this.tap.fd, frame) === frame.length;
    } catch {
      // EAGAIN (queue full) or EIO (interface down): the frame is lost, as on a wire.
      this.errors++;
      return false;
    }
  }

  onFrame(receive: (frame: Uint8Array) => void): void {
    this.watch = watchReadable(this.tap.fd, () => {
      for (let i = 0; i < READS_PER_WAKEUP; i++) {
        let n: number;
        try {
          n = readSync(this.tap.fd, this.buffer, 0, this.buffer.length, null);
        } catch {
          return; // EAGAIN: drained
        }
        if (n <= 0) return;
        receive(this.buffer.slice(0, n));
      }
    });
  }

  close(): void {
    this.watch?.close();
    this.tap.close();
  }
}
