// The loop every device runs when the driver notifies a queue it consumes
// in full: take each available chain, hand valid ones to the device, give
// malformed ones back to the driver with nothing written (a warning and a
// counter, the device goes on), mark the device NEEDS_RESET if the ring
// itself is corrupt, and re-arm notifications until nothing new arrived
// (with EVENT_IDX a chain added between the last pop and the re-arm would
// otherwise never be noticed).
import type { DescriptorChain } from './chain.js';
import type { DeviceContext } from './device.js';
import type { Virtqueue } from './queue.js';

export interface DrainOptions {
  /** Names the queue in warnings: "bad transmit chain 3: …". */
  readonly what: string;
  /** Called for each refused chain (device statistics). */
  readonly onRefused?: () => void;
}

/** Returns false when the queue broke (the device is now NEEDS_RESET). */
export function drainQueue(ctx: DeviceContext, queue: Virtqueue, options: DrainOptions, handle: (chain: DescriptorChain) => void): boolean {
  for (;;) {
    for (let popped = queue.pop(); popped; popped = queue.pop()) {
      if (popped.kind === 'broken') {
        ctx.needsReset(popped.reason);
        return false;
      }
      if (popped.kind === 'bad-chain') {
        ctx.errors.warn(`bad ${options.what} chain ${popped.error.head}: ${popped.error.reason}`);
        options.onRefused?.();
        queue.returnRefused(popped.error.head);
        continue;
      }
      handle(popped.chain);
    }
    ctx.usedBuffersAdded(queue);
    if (!queue.armNotification()) return true;
  }
}

/**
 * For queues the device fills only when it has something to give (receive
 * queues): the next usable chain; 'none' when the driver has posted no
 * buffer, in which case notifications are armed first, so the driver's next
 * buffer wakes the device; 'broken' when the ring is corrupt (the device is
 * now NEEDS_RESET). Malformed chains are refused on the way, as drainQueue does.
 */
export function nextReceiveChain(ctx: DeviceContext, queue: Virtqueue, options: DrainOptions): DescriptorChain | 'none' | 'broken' {
  for (;;) {
    const popped = queue.pop();
    if (!popped) {
      if (queue.armNotification()) continue; // a buffer arrived while arming
      return 'none';
    }
    if (popped.kind === 'broken') {
      ctx.needsReset(popped.reason);
      return 'broken';
    }
    if (popped.kind === 'chain') return popped.chain;
    ctx.errors.warn(`bad ${options.what} chain ${popped.error.head}: ${popped.error.reason}`);
    options.onRefused?.();
    if (queue.returnRefused(popped.error.head)) ctx.usedBuffersAdded(queue);
  }
}
