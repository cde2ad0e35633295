// virtio-rng, the entropy device (VIRTIO 1.2, 5.4): one queue of
// device-writable buffers that the device fills from the host's
// cryptographically secure random source (node:crypto, i.e. getrandom(2)).
import { randomFillSync } from 'node:crypto';
import { DeviceId } from '../../virtio/constants.js';
import type { DeviceContext, VirtioDevice } from '../../virtio/device.js';
import { drainQueue } from '../../virtio/drain.js';

/** One request queue; 256 entries like the block device. */
export const RNG_QUEUE_SIZE = 256;
/**
 * At most this much entropy per request: the guest asks for a page or so at a
 * time, and a hostile 4 GiB buffer must not stall the VMM for seconds.
 */
export const MAX_BYTES_PER_REQUEST = 64 * 1024;

export class VirtioRng implements VirtioDevice {
  readonly deviceType = DeviceId.ENTROPY;
  readonly name = 'virtio-rng';
  /** The entropy device defines no feature bits. */
  readonly features = 0n;
  readonly queueMaxSizes = [RNG_QUEUE_SIZE];
  /** It has no configuration space either. */
  readonly configSize = 0;
  bytesServed = 0;
  private context: DeviceContext | undefined;

  readConfig(_offset: number, data: Uint8Array): void {
    data.fill(0);
  }

  writeConfig(): void {}

  activate(context: DeviceContext): void {
    this.context = context;
  }

  reset(): void {
    this.context = undefined;
  }

  queueNotify(index: number): void {
    const ctx = this.context;
    const queue = ctx?.queues[index];
    if (!ctx || !queue) return;
    drainQueue(ctx, queue, { what: 'descriptor' }, (chain) => {
      if (chain.readableLength > 0) ctx.errors.warn(`request ${chain.head} has device-readable buffers; they are ignored`);
      let budget = MAX_BYTES_PER_REQUEST;
      let written = 0;
      for (const s of chain.writable) {
        if (budget === 0) break;
        const n = Math.min(s.length, budget);
        randomFillSync(ctx.memory.slice(s.address, n));
        budget -= n;
        written += n;
      }
      this.bytesServed += written;
      queue.pushUsed(chain.head, written);
    });
  }
}
