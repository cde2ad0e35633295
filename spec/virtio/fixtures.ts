// Shared pieces for the virtio specs: guest memory, a do-nothing device, and
// a warning collector.
import { GuestMemory } from '../../src/memory/guest-memory.js';
import { setWarningSink } from '../../src/virtio/guest-errors.js';
import type { DeviceContext, VirtioDevice } from '../../src/virtio/device.js';

export const MEMORY_SIZE = 1 << 20;

export function smallMemory(size = MEMORY_SIZE): GuestMemory {
  return GuestMemory.fromSizes([{ guestAddress: 0, size }]);
}

/** Collects warnings instead of printing them; call the returned function to restore. */
export function captureWarnings(into: string[]): () => void {
  const previous = setWarningSink((line) => into.push(line));
  return () => setWarningSink(previous);
}

/** A device that records what the transport tells it. */
export class RecordingDevice implements VirtioDevice {
  readonly deviceType = 42;
  readonly name = 'recording';
  readonly features = 0b101n;
  readonly queueMaxSizes = [16, 8];
  readonly configSize = 8;
  readonly config = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
  context: DeviceContext | undefined;
  notified: number[] = [];
  resets = 0;
  configWrites: [number, number[]][] = [];
  throwOnNotify = false;

  readConfig(offset: number, data: Uint8Array): void {
    data.set(this.config.subarray(offset, offset + data.length));
  }
  writeConfig(offset: number, data: Uint8Array): void {
    this.configWrites.push([offset, [...data]]);
  }
  activate(context: DeviceContext): void {
    this.context = context;
  }
  queueNotify(index: number): void {
    if (this.throwOnNotify) throw new Error('device bug');
    this.notified.push(index);
  }
  reset(): void {
    this.resets++;
    this.context = undefined;
  }
}
