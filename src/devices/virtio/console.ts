// virtio-console (VIRTIO 1.2, 5.3) as the guest's console (hvc0), without
// multiport or resize: queue 0 (receiveq) carries host input into
// device-writable buffers, queue 1 (transmitq) carries guest output. Why mvm
// offers it: on the 16550 every console byte costs several VM exits (THR,
// IER, IIR, LSR and MSR accesses per interrupt), while here a whole write is
// one queue notification, which KVM turns into an eventfd without an exit.
import { DeviceId } from '../../virtio/constants.js';
import type { DeviceContext, VirtioDevice } from '../../virtio/device.js';
import { drainQueue, nextReceiveChain } from '../../virtio/drain.js';

const RECEIVE_QUEUE = 0;
const TRANSMIT_QUEUE = 1;
export const CONSOLE_QUEUE_SIZE = 256;
/** Guest output taken from one chain at most: a hostile 4 GiB buffer must not stall the VMM. */
export const MAX_OUTPUT_PER_CHAIN = 64 * 1024;
/** Host input waiting for the guest's receive buffers, beyond which input is dropped (and counted). */
export const CONSOLE_INPUT_LIMIT = 64 * 1024;

export interface ConsoleSinks {
  output(bytes: Uint8Array): void;
}

export class VirtioConsole implements VirtioDevice {
  readonly deviceType = DeviceId.CONSOLE;
  readonly name = 'virtio-console';
  /** No F_SIZE, F_MULTIPORT or F_EMERG_WRITE: one port, no configuration to read. */
  readonly features = 0n;
  readonly queueMaxSizes = [CONSOLE_QUEUE_SIZE, CONSOLE_QUEUE_SIZE];
  readonly configSize = 0;
  private context: DeviceContext | undefined;
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  droppedInput = 0;
  transmitted = 0;

  constructor(private readonly sinks: ConsoleSinks) {}

  readConfig(_offset: number, data: Uint8Array): void {
    data.fill(0);
  }

  writeConfig(): void {}

  activate(context: DeviceContext): void {
    this.context = context;
    this.deliverInput();
  }

  reset(): void {
    this.context = undefined;
  }

  /** Queues bytes typed on the host; they reach the guest as it posts receive buffers. */
  receive(bytes: Uint8Array): void {
    const room = CONSOLE_INPUT_LIMIT - this.pendingBytes;
    const accepted = bytes.subarray(0, Math.max(0, room));
    this.droppedInput += bytes.length - accepted.length;
    if (accepted.length > 0) {
      this.pending.push(Uint8Array.from(accepted));
      this.pendingBytes += accepted.length;
    }
    this.deliverInput();
  }

  queueNotify(index: number): void {
    if (index === TRANSMIT_QUEUE) this.transmit();
    else if (index === RECEIVE_QUEUE) this.deliverInput();
  }

  private transmit(): void {
    const ctx = this.context;
    const queue = ctx?.queues[TRANSMIT_QUEUE];
    if (!ctx || !queue) return;
    drainQueue(ctx, queue, { what: 'transmit' }, (chain) => {
      let budget = MAX_OUTPUT_PER_CHAIN;
      for (const s of chain.readable) {
        if (budget === 0) break;
        const n = Math.min(s.length, budget);
        this.sinks.output(ctx.memory.slice(s.address, n));
        this.transmitted += n;
        budget -= n;
      }
      if (chain.readableLength > MAX_OUTPUT_PER_CHAIN) {
        ctx.errors.warn(`transmit chain ${chain.head} holds more than ${MAX_OUTPUT_PER_CHAIN} bytes; the rest is dropped`);
      }
      queue.pushUsed(chain.head, 0);
    });
  }

  private deliverInput(): void {
    const ctx = this.context;
    const queue = ctx?.queues[RECEIVE_QUEUE];
    if (!ctx || !queue || this.pendingBytes === 0) return;
    let delivered = false;
    while (this.pendingBytes > 0) {
      // 'none' arms notifications, so input waiting for buffers moves on when the driver posts some.
      const chain = nextReceiveChain(ctx, queue, { what: 'receive' });
      if (chain === 'broken') return;
      if (chain === 'none') break;
      queue.pushUsed(chain.head, this.fill(ctx, chain.writable));
      delivered = true;
    }
    if (delivered) ctx.usedBuffersAdded(queue);
  }

  /** Copies pending input into the chain's writable buffers; returns the bytes written. */
  private fill(ctx: DeviceContext, segments: readonly { address: number; length: number }[]): number {
    let written = 0;
    for (const s of segments) {
      let offset = 0;
      while (offset < s.length && this.pending.length > 0) {
        const chunk = this.pending[0]!;
        const n = Math.min(chunk.length, s.length - offset);
        ctx.memory.write(s.address + offset, chunk.subarray(0, n));
        offset += n;
        written += n;
        this.pendingBytes -= n;
        if (n === chunk.length) this.pending.shift();
        else this.pending[0] = chunk.subarray(n);
      }
      if (this.pending.length === 0) break;
    }
    return written;
  }
}
