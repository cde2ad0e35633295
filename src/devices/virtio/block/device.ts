// virtio-blk (VIRTIO 1.2, 5.2) over a SyncDisk (raw or qcow2). Chains are
// parsed by request.ts into typed requests first; only valid requests reach
// the disk. Requests are done inline, in the thread that drains the queue
// (the VMM's main thread, or a device thread: src/vmm/block-thread.ts): each
// drain moves its data straight between the file and guest RAM
// (preadv/pwritev where the format allows), writes each status byte, and ends
// with one interrupt for the whole batch. Nothing is ever in flight, so a
// reset has nothing to drop.
import type { SyncDisk } from '../../../disk/backend.js';
import type { GuestMemory } from '../../../memory/guest-memory.js';
import { DeviceId, featureBit } from '../../../virtio/constants.js';
import type { DeviceContext, VirtioDevice } from '../../../virtio/device.js';
import { drainQueue } from '../../../virtio/drain.js';
import type { Segment } from '../../../virtio/chain.js';
import type { Virtqueue } from '../../../virtio/queue.js';
import { BlkStatus, ID_BYTES, MalformedRequest, SECTOR_SIZE, parseRequest, type BlockLimits, type BlockRequest } from './request.js';
import { readIntoSegmentsSync, writeFromSegmentsSync } from './segment-io.js';

/** Feature bits (5.2.3). */
export const BlkFeature = {
  SEG_MAX: 2,
  RO: 5,
  BLK_SIZE: 6,
  FLUSH: 9,
  DISCARD: 13,
  WRITE_ZEROES: 14,
} as const;

/** One request queue of 256 entries, as Firecracker and QEMU use. */
export const BLOCK_QUEUE_SIZE = 256;
/** Data segments per request: the queue size less the header and status descriptors. */
const SEG_MAX = BLOCK_QUEUE_SIZE - 2;
/** Discard / write-zeroes: one range per request, up to 4 GiB - 512 bytes in sectors (a u32 of sectors, rounded). */
const MAX_RANGE_SECTORS = 0x7f_ffff;
const MAX_RANGE_SEGMENTS = 1;
/** Offsets in struct virtio_blk_config (5.2.4). */
const Config = {
  CAPACITY: 0,
  SEG_MAX: 12,
  BLK_SIZE: 20,
  MAX_DISCARD_SECTORS: 36,
  MAX_DISCARD_SEG: 40,
  DISCARD_SECTOR_ALIGNMENT: 44,
  MAX_WRITE_ZEROES_SECTORS: 48,
  MAX_WRITE_ZEROES_SEG: 52,
  WRITE_ZEROES_MAY_UNMAP: 56,
  /** Through the end of unused1[3]. */
  SIZE: 60,
} as const;

/** Where each counter of BlockDeviceStats lives in the (possibly shared) counter array. */
const STAT_NAMES = ['reads', 'writes', 'flushes', 'bytesRead', 'bytesWritten', 'rejected', 'ioErrors'] as const;
const Stat = { reads: 0, writes: 1, flushes: 2, bytesRead: 3, bytesWritten: 4, rejected: 5, ioErrors: 6 } as const;
/** Bytes of the counter array: a device thread and the API read the same counters. */
export const BLOCK_STATS_BYTES = STAT_NAMES.length * Float64Array.BYTES_PER_ELEMENT;

export interface BlockDeviceOptions {
  /** Counters to count into (a SharedArrayBuffer of BLOCK_STATS_BYTES when another thread serves the queues). */
  readonly counters?: SharedArrayBuffer;
}

/**
 * What serves this device's queues when not this object itself: a device
 * thread. Activation, notifications and resets are forwarded to it.
 */
export interface BlockQueueServer {
  activate(context: DeviceContext): void;
  queueNotify(index: number): void;
  reset(): void;
}

export interface BlockDeviceStats {
  reads: number;
  writes: number;
  flushes: number;
  bytesRead: number;
  bytesWritten: number;
  /** Requests answered IOERR/UNSUPP, or chains returned unused. */
  rejected: number;
  /** Backend failures (host side). */
  ioErrors: number;
}

export class VirtioBlock implements VirtioDevice {
  readonly deviceType = DeviceId.BLOCK;
  readonly name: string;
  readonly features: bigint;
  readonly queueMaxSizes = [BLOCK_QUEUE_SIZE];
  readonly configSize = Config.SIZE;
  /** The counters behind `stats`; shared with a device thread when one serves the queues. */
  readonly counterBuffer: SharedArrayBuffer | ArrayBuffer;
  private readonly counters: Float64Array;
  private server: BlockQueueServer | undefined;
  private readonly config = new Uint8Array(Config.SIZE);
  private readonly limits: BlockLimits;
  private context: DeviceContext | undefined;

  constructor(
    private readonly disk: SyncDisk,
    private readonly id: string,
    options: BlockDeviceOptions = {},
  ) {
    this.counterBuffer = options.counters ?? new ArrayBuffer(BLOCK_STATS_BYTES);
    this.counters = new Float64Array(this.counterBuffer);
    this.name = `virtio-blk (${id})`;
    const readOnly = disk.readOnly;
    this.limits = {
      capacitySectors: Math.floor(disk.size / SECTOR_SIZE),
      readOnly,
      maxDiscardSectors: MAX_RANGE_SECTORS,
      maxDiscardSegments: MAX_RANGE_SEGMENTS,
      maxWriteZeroesSectors: MAX_RANGE_SECTORS,
      maxWriteZeroesSegments: MAX_RANGE_SEGMENTS,
    };
    let features = featureBit(BlkFeature.SEG_MAX) | featureBit(BlkFeature.BLK_SIZE) | featureBit(BlkFeature.FLUSH);
    features |= readOnly ? featureBit(BlkFeature.RO) : featureBit(BlkFeature.DISCARD) | featureBit(BlkFeature.WRITE_ZEROES);
    this.features = features;
    const view = new DataView(this.config.buffer);
    view.setBigUint64(Config.CAPACITY, BigInt(this.limits.capacitySectors), true);
    view.setUint32(Config.SEG_MAX, SEG_MAX, true);
    view.setUint32(Config.BLK_SIZE, SECTOR_SIZE, true);
    view.setUint32(Config.MAX_DISCARD_SECTORS, MAX_RANGE_SECTORS, true);
    view.setUint32(Config.MAX_DISCARD_SEG, MAX_RANGE_SEGMENTS, true);
    view.setUint32(Config.DISCARD_SECTOR_ALIGNMENT, 1, true);
    view.setUint32(Config.MAX_WRITE_ZEROES_SECTORS, MAX_RANGE_SECTORS, true);
    view.setUint32(Config.MAX_WRITE_ZEROES_SEG, MAX_RANGE_SEGMENTS, true);
    view.setUint8(Config.WRITE_ZEROES_MAY_UNMAP, 1);
  }

  private count(stat: number, by = 1): void {
    this.counters[stat] = this.counters[stat]! + by;
  }

  /** A snapshot of the counters (plain numbers, fit for JSON). */
  get stats(): BlockDeviceStats {
    const c = this.counters;
    return Object.fromEntries(STAT_NAMES.map((name) => [name, c[Stat[name]]!])) as unknown as BlockDeviceStats;
  }

  /** The ID string the driver reads with get-id. */
  get idString(): string {
    return this.id;
  }

  /** The disk this device serves (a device thread opens its own copy of it). */
  get synchronousDisk(): SyncDisk {
    return this.disk;
  }

  /** Hands queue service to another thread; from now on this object only answers config and counters. */
  serveQueuesWith(server: BlockQueueServer): void {
    this.server = server;
  }

  readConfig(offset: number, data: Uint8Array): void {
    data.set(this.config.subarray(offset, offset + data.length));
  }

  writeConfig(): void {
    // Only the writeback field is writable, and only with CONFIG_WCE, which is not offered.
  }

  activate(context: DeviceContext): void {
    if (this.server) {
      this.server.activate(context);
      return;
    }
    this.context = context;
  }

  reset(): void {
    this.server?.reset();
    this.context = undefined;
  }

  queueNotify(index: number): void {
    if (this.server) {
      this.server.queueNotify(index);
      return;
    }
    const ctx = this.context;
    const queue = ctx?.queues[index];
    if (!ctx || !queue) return;
    // Every request is answered before the drain moves on; the drain's end
    // sends one interrupt for all of them.
    drainQueue(ctx, queue, { what: 'descriptor', onRefused: () => this.count(Stat.rejected) }, (chain) => {
      const request = parseRequest(ctx.memory, chain, this.limits);
      const head = chain.head;
      if (request instanceof MalformedRequest) {
        ctx.errors.warn(`request ${head}: ${request.reason}`);
        this.count(Stat.rejected);
        queue.pushUsed(head, 0);
      } else if (request.kind === 'rejected') {
        ctx.errors.warn(`request ${head}: ${request.reason}`);
        this.count(Stat.rejected);
        this.finish(queue, ctx.memory, head, request.status, request.code, 1);
      } else {
        this.execute(ctx, queue, head, request);
      }
    });
  }

  /**
   * Does the request now and puts it on the used ring; the drain's end sends
   * the one interrupt for everything it completed. FLUSH returns only after
   * fdatasync, so the guest hears of it once it is durable.
   */
  private execute(ctx: DeviceContext, queue: Virtqueue, head: number, request: BlockRequest): void {
    let code: number = BlkStatus.OK;
    let written = 0;
    try {
      written = this.perform(ctx.memory, this.disk, request);
    } catch (err) {
      this.count(Stat.ioErrors);
      ctx.errors.warn(`${request.kind} failed on the host: ${err instanceof Error ? err.message : String(err)}`);
      code = BlkStatus.IOERR;
      written = 0;
    }
    this.finish(queue, ctx.memory, head, request.status, code, written + 1);
  }

  /** Does the I/O; returns the bytes written into the guest's buffers (excluding status). */
  private perform(memory: GuestMemory, disk: SyncDisk, request: BlockRequest): number {
    switch (request.kind) {
      case 'read':
        readIntoSegmentsSync(disk, memory, request.offset, request.data);
        this.count(Stat.reads);
        this.count(Stat.bytesRead, request.length);
        return request.length;
      case 'write':
        writeFromSegmentsSync(disk, memory, request.offset, request.data);
        this.count(Stat.writes);
        this.count(Stat.bytesWritten, request.length);
        return 0;
      case 'flush':
        disk.flushSync();
        this.count(Stat.flushes);
        return 0;
      case 'get-id':
        writeSegments(memory, request.data, this.idBytes().subarray(0, request.length));
        return request.length;
      case 'discard':
        for (const r of request.ranges) disk.discardSync(r.offset, r.length);
        return 0;
      case 'write-zeroes':
        for (const r of request.ranges) disk.writeZeroesSync(r.offset, r.length);
        return 0;
    }
  }

  private idBytes(): Uint8Array {
    const id = new Uint8Array(ID_BYTES);
    id.set(new TextEncoder().encode(this.id).subarray(0, ID_BYTES));
    return id;
  }

  /** Writes the status byte and returns the chain; the drain's end sends the interrupt. */
  private finish(queue: Virtqueue, memory: GuestMemory, head: number, status: Segment, code: number, usedLength: number): void {
    memory.writeU8(status.address, code);
    queue.pushUsed(head, usedLength);
  }
}

function writeSegments(memory: GuestMemory, segments: readonly Segment[], data: Uint8Array): void {
  let done = 0;
  for (const s of segments) {
    memory.slice(s.address, s.length).set(data.subarray(done, done + s.length));
    done += s.length;
  }
}
