// virtio-blk (VIRTIO 1.2, 5.2) over a DiskBackend (raw or qcow2). Chains are
// parsed by request.ts into typed requests first; only valid requests reach
// the disk. The backend is asynchronous: each request completes on its own,
// writes its status byte, goes to the used ring and may raise an interrupt.
// Requests still in flight when the driver resets the device are dropped
// (their buffers belong to a queue that no longer exists).
// Given the disk's synchronous form as well (every format has one), requests
// are done inline instead: each drain moves its data straight between the
// file and guest RAM (preadv/pwritev where the format allows) and ends with
// one interrupt for the whole batch. That is how a device thread
// (src/vmm/block-thread.ts) runs it, off the main event loop.
import type { DiskBackend, SyncDisk } from '../../../disk/backend.js';
import type { GuestMemory } from '../../../memory/guest-memory.js';
import { DeviceId, featureBit } from '../../../virtio/constants.js';
import type { DeviceContext, VirtioDevice } from '../../../virtio/device.js';
import { drainQueue } from '../../../virtio/drain.js';
import type { Segment } from '../../../virtio/chain.js';
import type { Virtqueue } from '../../../virtio/queue.js';
import { BlkStatus, ID_BYTES, MalformedRequest, SECTOR_SIZE, parseRequest, type BlockLimits, type BlockRequest } from './request.js';
import { readIntoSegments, readIntoSegmentsSync, writeFromSegments, writeFromSegmentsSync } from './segment-io.js';

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
  /** The same disk's synchronous operations: requests then complete inline, interrupts once per drain. */
  readonly sync?: SyncDisk;
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
  private readonly syncDisk: SyncDisk | undefined;
  private server: BlockQueueServer | undefined;
  private readonly config = new Uint8Array(Config.SIZE);
  private readonly limits: BlockLimits;
  private context: DeviceContext | undefined;
  /** Bumped on reset so completions of dropped requests are ignored. */
  private generation = 0;
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly disk: DiskBackend,
    private readonly id: string,
    options: BlockDeviceOptions = {},
  ) {
    this.syncDisk = options.sync;
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

  /** The synchronous disk this device was given, if any (a device thread needs one). */
  get synchronousDisk(): SyncDisk | undefined {
    return this.syncDisk;
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
    this.generation++;
  }

  /** Resolves once no request is in flight (used before closing the disk). */
  idle(): Promise<void> {
    return this.inFlight === 0 ? Promise.resolve() : new Promise((r) => this.idleWaiters.push(r));
  }

  queueNotify(index: number): void {
    if (this.server) {
      this.server.queueNotify(index);
      return;
    }
    const ctx = this.context;
    const queue = ctx?.queues[index];
    if (!ctx || !queue) return;
    // Refused and malformed requests are answered at once; the interrupt for
    // them comes when the drain ends. I/O completes later, each with its own.
    const sync = this.syncDisk;
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
        this.finish(ctx, queue, head, request.status, request.code, 1, sync === undefined);
      } else if (sync) {
        this.executeSync(ctx, sync, queue, head, request);
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
  private executeSync(ctx: DeviceContext, disk: SyncDisk, queue: Virtqueue, head: number, request: BlockRequest): void {
    let code: number = BlkStatus.OK;
    let written = 0;
    try {
      written = this.performSync(ctx.memory, disk, request);
    } catch (err) {
      this.count(Stat.ioErrors);
      ctx.errors.warn(`${request.kind} failed on the host: ${err instanceof Error ? err.message : String(err)}`);
      code = BlkStatus.IOERR;
      written = 0;
    }
    this.finish(ctx, queue, head, request.status, code, written + 1, false);
  }

  private performSync(memory: GuestMemory, disk: SyncDisk, request: BlockRequest): number {
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

  private execute(ctx: DeviceContext, queue: Virtqueue, head: number, request: BlockRequest): void {
    const generation = this.generation;
    this.inFlight++;
    this.perform(ctx.memory, request)
      .then(
        (written) => ({ code: BlkStatus.OK, written }),
        (err: unknown) => {
          this.count(Stat.ioErrors);
          ctx.errors.warn(`${request.kind} failed on the host: ${err instanceof Error ? err.message : String(err)}`);
          return { code: BlkStatus.IOERR, written: 0 };
        },
      )
      .then(({ code, written }) => {
        this.inFlight--;
        if (generation === this.generation) this.finish(ctx, queue, head, request.status, code, written + 1, true);
        if (this.inFlight === 0) for (const wake of this.idleWaiters.splice(0)) wake();
      });
  }

  /** Does the I/O; returns the bytes written into the guest's buffers (excluding status). */
  private async perform(memory: GuestMemory, request: BlockRequest): Promise<number> {
    switch (request.kind) {
      case 'read': {
        await readIntoSegments(this.disk, memory, request.offset, request.data);
        this.count(Stat.reads);
        this.count(Stat.bytesRead, request.length);
        return request.length;
      }
      case 'write': {
        await writeFromSegments(this.disk, memory, request.offset, request.data);
        this.count(Stat.writes);
        this.count(Stat.bytesWritten, request.length);
        return 0;
      }
      case 'flush':
        await this.disk.flush();
        this.count(Stat.flushes);
        return 0;
      case 'get-id':
        writeSegments(memory, request.data, this.idBytes().subarray(0, request.length));
        return request.length;
      case 'discard':
        for (const r of request.ranges) await this.disk.discard(r.offset, r.length);
        return 0;
      case 'write-zeroes':
        for (const r of request.ranges) await this.disk.writeZeroes(r.offset, r.length);
        return 0;
    }
  }

  /** Writes the status byte and returns the chain; `interrupt`: ask for the interrupt now (not at the drain's end). */
  private finish(ctx: DeviceContext, queue: Virtqueue, head: number, status: Segment, code: number, usedLength: number, interrupt: boolean): void {
    ctx.memory.writeU8(status.address, code);
    queue.pushUsed(head, usedLength);
    if (interrupt) ctx.usedBuffersAdded(queue);
  }
}

function writeSegments(memory: GuestMemory, segments: readonly Segment[], data: Uint8Array): void {
  let done = 0;
  for (const s of segments) {
    memory.slice(s.address, s.length).set(data.subarray(done, done + s.length));
    done += s.length;
  }
}
