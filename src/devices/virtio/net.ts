// virtio-net (VIRTIO 1.2, 5.1) over a frame backend (a tap device in the
// VMM). Queue 0 receives, queue 1 transmits. No offloads are offered, so
// every frame carries a plain 12-byte virtio_net_hdr (VERSION_1 always has
// num_buffers) that is all zeros apart from num_buffers = 1 on receive.
// Frames from the backend wait (up to a bound) until the guest posts receive
// buffers; transmit never blocks the vCPU threads: the main thread sends.
import { DeviceId, featureBit } from '../../virtio/constants.js';
import type { DeviceContext, VirtioDevice } from '../../virtio/device.js';
import { drainQueue, nextReceiveChain } from '../../virtio/drain.js';
import { gather } from '../../virtio/segments.js';
import type { Virtqueue } from '../../virtio/queue.js';

/** Where frames go and come from. */
export interface FrameBackend {
  /** Sends one Ethernet frame; false when it was dropped (e.g. the host side is not ready). */
  send(frame: Uint8Array): boolean;
  /** Registers the receiver of frames from the host side. */
  onFrame(receive: (frame: Uint8Array) => void): void;
}

/** VIRTIO_NET_F_MAC: the device supplies the MAC address in config space (5.1.3). */
export const NET_F_MAC = 5;
/** struct virtio_net_hdr_v1 with num_buffers: 12 bytes (5.1.6). */
export const NET_HDR_SIZE = 12;
const NUM_BUFFERS_OFFSET = 10;
const RX_QUEUE = 0;
const TX_QUEUE = 1;
export const NET_QUEUE_SIZE = 256;
/** An Ethernet frame without offloads is at most 1514 bytes plus VLAN tag; refuse anything past 64 KiB. */
const MAX_FRAME = 65_535;
/** Frames waiting for guest receive buffers; older ones are dropped beyond this, as a busy NIC would. */
const MAX_PENDING_FRAMES = 256;
const MAC_BYTES = 6;

export interface NetStats {
  rxFrames: number;
  txFrames: number;
  /** Ethernet frame bytes delivered to / sent for the guest (virtio headers not counted). */
  rxBytes: number;
  txBytes: number;
  rxDropped: number;
  txDropped: number;
}

export class VirtioNet implements VirtioDevice {
  readonly deviceType = DeviceId.NET;
  readonly name: string;
  readonly features = featureBit(NET_F_MAC);
  readonly queueMaxSizes = [NET_QUEUE_SIZE, NET_QUEUE_SIZE];
  readonly configSize = MAC_BYTES;
  readonly stats: NetStats = { rxFrames: 0, txFrames: 0, rxBytes: 0, txBytes: 0, rxDropped: 0, txDropped: 0 };
  private context: DeviceContext | undefined;
  private readonly pending: Uint8Array[] = [];

  constructor(
    private readonly backend: FrameBackend,
    readonly mac: Uint8Array,
    label = 'eth0',
  ) {
    if (mac.length !== MAC_BYTES) throw new RangeError('a MAC address has 6 bytes');
    this.name = `virtio-net (${label})`;
    backend.onFrame((frame) => this.receive(frame));
  }

  readConfig(offset: number, data: Uint8Array): void {
    data.set(this.mac.subarray(offset, offset + data.length));
  }

  writeConfig(): void {
    // The MAC is read-only without VIRTIO_NET_F_CTRL_MAC_ADDR (not offered).
  }

  activate(context: DeviceContext): void {
    this.context = context;
    this.deliver();
  }

  reset(): void {
    this.context = undefined;
    this.pending.length = 0;
  }

  queueNotify(index: number): void {
    if (index === RX_QUEUE) this.deliver();
    else if (index === TX_QUEUE) this.transmit();
  }

  private receive(frame: Uint8Array): void {
    if (!this.context) return;
    if (this.pending.length >= MAX_PENDING_FRAMES) {
      this.pending.shift();
      this.stats.rxDropped++;
    }
    this.pending.push(frame);
    this.deliver();
  }

  /** Moves waiting frames into the guest's receive buffers. */
  private deliver(): void {
    const ctx = this.context;
    const queue = ctx?.queues[RX_QUEUE];
    if (!ctx || !queue?.ready) return;
    let added = false;
    while (this.pending.length > 0) {
      const chain = nextReceiveChain(ctx, queue, { what: 'receive' });
      if (chain === 'broken') return;
      if (chain === 'none') break;
      const frame = this.pending.shift()!;
      if (chain.readableLength > 0 || chain.writableLength < NET_HDR_SIZE + frame.length) {
        ctx.errors.warn(
          `receive chain ${chain.head} cannot take a ${frame.length}-byte frame (${chain.writableLength} writable bytes${chain.readableLength ? ', and readable ones' : ''})`,
        );
        this.stats.rxDropped++;
        queue.pushUsed(chain.head, 0);
        added = true;
        continue;
      }
      const packet = new Uint8Array(NET_HDR_SIZE + frame.length);
      new DataView(packet.buffer).setUint16(NUM_BUFFERS_OFFSET, 1, true);
      packet.set(frame, NET_HDR_SIZE);
      let done = 0;
      for (const s of chain.writable) {
        if (done >= packet.length) break;
        const n = Math.min(s.length, packet.length - done);
        ctx.memory.slice(s.address, n).set(packet.subarray(done, done + n));
        done += n;
      }
      queue.pushUsed(chain.head, packet.length);
      this.stats.rxFrames++;
      this.stats.rxBytes += frame.length;
      added = true;
    }
    if (added) ctx.usedBuffersAdded(queue);
  }

  private transmit(): void {
    const ctx = this.context;
    const queue = ctx?.queues[TX_QUEUE];
    if (!ctx || !queue) return;
    drainQueue(ctx, queue, { what: 'transmit' }, (chain) => this.sendChain(ctx, queue, chain.head, chain.readable, chain.readableLength));
  }

  private sendChain(ctx: DeviceContext, queue: Virtqueue, head: number, readable: Parameters<typeof gather>[1], length: number): void {
    const frameLength = length - NET_HDR_SIZE;
    if (frameLength <= 0 || frameLength > MAX_FRAME) {
      ctx.errors.warn(`transmit chain ${head} holds ${length} bytes: not a header plus a frame of at most ${MAX_FRAME}`);
      this.stats.txDropped++;
    } else if (this.backend.send(gather(ctx.memory, readable, NET_HDR_SIZE, frameLength))) {
      this.stats.txFrames++;
      this.stats.txBytes += frameLength;
    } else {
      this.stats.txDropped++;
    }
    queue.pushUsed(head, 0);
  }
}
