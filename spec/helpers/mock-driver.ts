// A guest-side virtio driver for specs: it talks to an MmioTransport through
// its registers (as Linux's virtio_mmio.c does) and lays out split virtqueues
// in a GuestMemory exactly as a guest would, including malformed ones.
import type { GuestMemory } from '../../src/memory/guest-memory.js';
import type { BusDevice } from '../../src/bus/bus.js';
import { Feature, Reg, Status, featureBit } from '../../src/virtio/constants.js';
import { DescFlag } from '../../src/virtio/chain.js';

export interface Buffer_ {
  /** Guest address; allocated when omitted. */
  address?: number;
  length: number;
  /** Device-writable. */
  write?: boolean;
  /** Initial contents (device-readable buffers). */
  data?: Uint8Array;
}

export interface RawDescriptor {
  address: number;
  length: number;
  flags: number;
  next: number;
}

interface QueueLayout {
  size: number;
  desc: number;
  avail: number;
  used: number;
  availIdx: number;
  usedSeen: number;
  nextFree: number;
}

export class MockDriver {
  private cursor: number;
  readonly queues: QueueLayout[] = [];

  constructor(
    readonly device: BusDevice,
    readonly memory: GuestMemory,
    heapStart = 0x1000,
    private readonly heapEnd = memory.totalSize,
  ) {
    this.cursor = heapStart;
  }

  readReg(offset: number, width = 4): number {
    const data = new Uint8Array(width);
    this.device.read(offset, data);
    return width === 4 ? new DataView(data.buffer).getUint32(0, true) : width === 2 ? new DataView(data.buffer).getUint16(0, true) : data[0]!;
  }

  writeReg(offset: number, value: number, width = 4): void {
    const data = new Uint8Array(width);
    if (width === 4) new DataView(data.buffer).setUint32(0, value >>> 0, true);
    else if (width === 2) new DataView(data.buffer).setUint16(0, value, true);
    else data[0] = value;
    this.device.write(offset, data);
  }

  readConfig(offset: number, length: number): Uint8Array {
    const data = new Uint8Array(length);
    this.device.read(Reg.CONFIG + offset, data);
    return data;
  }

  deviceFeatures(): bigint {
    this.writeReg(Reg.DEVICE_FEATURES_SEL, 0);
    const low = this.readReg(Reg.DEVICE_FEATURES);
    this.writeReg(Reg.DEVICE_FEATURES_SEL, 1);
    const high = this.readReg(Reg.DEVICE_FEATURES);
    return (BigInt(high) << 32n) | BigInt(low);
  }

  writeDriverFeatures(features: bigint): void {
    this.writeReg(Reg.DRIVER_FEATURES_SEL, 0);
    this.writeReg(Reg.DRIVER_FEATURES, Number(features & 0xffff_ffffn));
    this.writeReg(Reg.DRIVER_FEATURES_SEL, 1);
    this.writeReg(Reg.DRIVER_FEATURES, Number((features >> 32n) & 0xffff_ffffn));
  }

  alloc(length: number, align = 16): number {
    const address = Math.ceil(this.cursor / align) * align;
    if (address + length > this.heapEnd) throw new Error('mock driver heap exhausted');
    this.cursor = address + length;
    return address;
  }

  /** The Linux driver's bring-up sequence (3.1.1); returns the status read back after FEATURES_OK. */
  init(options: { features?: bigint; queueSize?: number; queueCount?: number } = {}): number {
    this.writeReg(Reg.STATUS, 0);
    this.writeReg(Reg.STATUS, Status.ACKNOWLEDGE);
    this.writeReg(Reg.STATUS, Status.ACKNOWLEDGE | Status.DRIVER);
    const offered = this.deviceFeatures();
    const wanted =
      options.features ??
      offered & (featureBit(Feature.VERSION_1) | featureBit(Feature.RING_EVENT_IDX) | featureBit(Feature.RING_INDIRECT_DESC) | 0xff_ffffn);
    this.writeDriverFeatures(wanted);
    this.writeReg(Reg.STATUS, Status.ACKNOWLEDGE | Status.DRIVER | Status.FEATURES_OK);
    const status = this.readReg(Reg.STATUS);
    if (!(status & Status.FEATURES_OK)) return status;
    for (let q = 0; q < (options.queueCount ?? 1); q++) this.setupQueue(q, options.queueSize);
    this.writeReg(Reg.STATUS, Status.ACKNOWLEDGE | Status.DRIVER | Status.FEATURES_OK | Status.DRIVER_OK);
    return this.readReg(Reg.STATUS);
  }

  setupQueue(index: number, size?: number): QueueLayout {
    this.writeReg(Reg.QUEUE_SEL, index);
    const max = this.readReg(Reg.QUEUE_NUM_MAX);
    const n = size ?? max;
    const layout: QueueLayout = {
      size: n,
      desc: this.alloc(16 * n, 16),
      avail: this.alloc(6 + 2 * n, 2),
      used: this.alloc(6 + 8 * n, 4),
      availIdx: 0,
      usedSeen: 0,
      nextFree: 0,
    };
    this.writeReg(Reg.QUEUE_NUM, n);
    this.writeReg(Reg.QUEUE_DESC_LOW, layout.desc);
    this.writeReg(Reg.QUEUE_DESC_HIGH, 0);
    this.writeReg(Reg.QUEUE_DRIVER_LOW, layout.avail);
    this.writeReg(Reg.QUEUE_DRIVER_HIGH, 0);
    this.writeReg(Reg.QUEUE_DEVICE_LOW, layout.used);
    this.writeReg(Reg.QUEUE_DEVICE_HIGH, 0);
    this.writeReg(Reg.QUEUE_READY, 1);
    this.queues[index] = layout;
    return layout;
  }

  writeDescriptor(table: number, index: number, d: RawDescriptor): void {
    const at = table + index * 16;
    this.memory.writeU64(at, BigInt(d.address));
    this.memory.writeU32(at + 8, d.length);
    this.memory.writeU16(at + 12, d.flags);
    this.memory.writeU16(at + 14, d.next);
  }

  /** Puts `head` in the available ring and publishes it. */
  publish(queue: number, head: number): void {
    const q = this.queues[queue]!;
    this.memory.writeU16(q.avail + 4 + (q.availIdx % q.size) * 2, head);
    q.availIdx = (q.availIdx + 1) & 0xffff;
    this.memory.writeU16(q.avail + 2, q.availIdx);
  }

  /** Builds a well-formed chain (optionally through an indirect table) and publishes it; returns the head and buffer addresses. */
  addChain(queue: number, buffers: readonly Buffer_[], options: { indirect?: boolean } = {}): { head: number; addresses: number[] } {
    const q = this.queues[queue]!;
    const addresses = buffers.map((b) => {
      const address = b.address ?? this.alloc(Math.max(1, b.length), 8);
      if (b.data) this.memory.write(address, b.data);
      return address;
    });
    const head = q.nextFree;
    if (options.indirect) {
      const table = this.alloc(16 * buffers.length, 16);
      buffers.forEach((b, i) => {
        this.writeDescriptor(table, i, {
          address: addresses[i]!,
          length: b.length,
          flags: (b.write ? DescFlag.WRITE : 0) | (i + 1 < buffers.length ? DescFlag.NEXT : 0),
          next: i + 1,
        });
      });
      this.writeDescriptor(q.desc, head, { address: table, length: 16 * buffers.length, flags: DescFlag.INDIRECT, next: 0 });
      q.nextFree = (head + 1) % q.size;
    } else {
      buffers.forEach((b, i) => {
        const index = (head + i) % q.size;
        this.writeDescriptor(q.desc, index, {
          address: addresses[i]!,
          length: b.length,
          flags: (b.write ? DescFlag.WRITE : 0) | (i + 1 < buffers.length ? DescFlag.NEXT : 0),
          next: (index + 1) % q.size,
        });
      });
      q.nextFree = (head + buffers.length) % q.size;
    }
    this.publish(queue, head);
    return { head, addresses };
  }

  notify(queue: number): void {
    this.writeReg(Reg.QUEUE_NOTIFY, queue);
  }

  /** Used entries the device added since the last call. */
  takeUsed(queue: number): { id: number; length: number }[] {
    const q = this.queues[queue]!;
    const idx = this.memory.readU16(q.used + 2);
    const out: { id: number; length: number }[] = [];
    while (q.usedSeen !== idx) {
      const at = q.used + 4 + (q.usedSeen % q.size) * 8;
      out.push({ id: this.memory.readU32(at), length: this.memory.readU32(at + 4) });
      q.usedSeen = (q.usedSeen + 1) & 0xffff;
    }
    return out;
  }

  /** used_event, in the available ring after the entries (EVENT_IDX). */
  setUsedEvent(queue: number, value: number): void {
    const q = this.queues[queue]!;
    this.memory.writeU16(q.avail + 4 + q.size * 2, value);
  }

  /** avail_event, in the used ring after the entries (EVENT_IDX). */
  availEvent(queue: number): number {
    const q = this.queues[queue]!;
    return this.memory.readU16(q.used + 4 + q.size * 8);
  }
}
