// The main-thread side of the block device thread (block-thread.ts): picks
// the drives it can serve (raw images, on a host with irqfd; only when chosen,
// see deviceThreadChosen), starts one
// worker for all of them — one Node worker costs ~7 MiB, so one per VM, not
// one per drive — and forwards each device's activation, reset and any
// notification that still arrives as an MMIO exit. Commands are synchronous:
// when reset() returns, the thread no longer touches that device's queues,
// as the driver expects once its status write completes.
import { Worker } from 'node:worker_threads';
import { RawDisk } from '../disk/raw.js';
import { BLOCK_THREAD_ENTRY } from '../runtime/build-layout.js';
import { EventNotifier } from '../sys/event-notifier.js';
import { Feature, featureBit } from '../virtio/constants.js';
import type { DeviceContext } from '../virtio/device.js';
import { emitWarning } from '../virtio/guest-errors.js';
import type { SlotWiring } from '../virtio/kvm-slot.js';
import type { MmioTransport } from '../virtio/mmio-transport.js';
import { VirtioBlock, type BlockQueueServer } from '../devices/virtio/block/device.js';
import {
  CONTROL_SLOTS,
  Command,
  Control,
  MAX_THREAD_QUEUES,
  PARAM_BYTES,
  POSITION_SLOTS,
  QUEUE_PARAM_SLOTS,
  QueueFlag,
  QueueParam,
  ThreadState,
  type BlockThreadData,
  type BlockThreadMessage,
  type ThreadBlockDevice,
  type ThreadRamRegion,
} from './block-thread-protocol.js';

/**
 * How long a command may wait for the thread: it finishes the batch in hand
 * first (an fdatasync can take seconds on a busy disk), and its first start
 * under software emulation is slow. Past this the thread is taken for dead.
 */
const COMMAND_TIMEOUT_MS = 60_000;

/**
 * Whether to serve raw drives on the device thread: off unless
 * MVM_BLOCK_THREAD=1. Measured inside the helper VM on a shared 2-core host
 * (2026-12-07, same binary, alternating, medians of 2-4 boots): the same
 * requests served inline on the main thread were faster — with one helper
 * CPU randread 1.31 vs 1.63 s and randwrite 1.27 vs 2.0 s per 300 requests,
 * seqread 0.38 vs 0.59 s per 16 MiB; with two helper CPUs randread 2.06 vs
 * 3.73 s, randwrite 2.07 vs 2.74 s. Another thread there adds wake-ups and
 * context switches and finds no idle core. A host with free cores and real
 * KVM may decide otherwise: measure with MVM_BLOCK_THREAD=1 against 0.
 */
function deviceThreadChosen(): boolean {
  return process.env['MVM_BLOCK_THREAD'] === '1';
}

interface Pending {
  block: VirtioBlock;
  disk: RawDisk;
  transport: MmioTransport;
  irqFd: number;
  queueFds: EventNotifier[];
  positions: SharedArrayBuffer;
}

/** One drive served on the thread: what its VirtioBlock forwards to. */
class ThreadedQueues implements BlockQueueServer {
  private context: DeviceContext | undefined;
  activations = 0;

  constructor(
    private readonly thread: BlockThread,
    private readonly index: number,
    private readonly queueFds: readonly EventNotifier[],
  ) {}

  activate(context: DeviceContext): void {
    this.context = context;
    this.activations++;
    if (!this.thread.activate(this.index, this.activations, context)) context.needsReset('the block device thread has stopped');
  }

  queueNotify(index: number): void {
    // A notification that came as an MMIO exit (no ioeventfd for it): the thread hears it on the same eventfd.
    this.queueFds[index]?.signal();
  }

  reset(): void {
    this.context = undefined;
    this.thread.command(Command.RESET, this.index);
  }

  threadFailed(): void {
    this.context?.needsReset('the block device thread has stopped');
  }

  /** The thread found a queue broken during activation number `activation`. */
  brokeDuring(activation: number, reason: string): void {
    if (activation === this.activations) this.context?.needsReset(reason);
  }
}

export class BlockThread {
  private readonly control = new Int32Array(new SharedArrayBuffer(CONTROL_SLOTS * 4));
  private readonly params = new Float64Array(new SharedArrayBuffer(PARAM_BYTES));
  private readonly controlNotifier = EventNotifier.create();
  private readonly servers: ThreadedQueues[] = [];
  private worker: Worker | undefined;
  private stopped = false;

  private constructor(private readonly pending: Pending[]) {
    pending.forEach((p, i) => {
      const server = new ThreadedQueues(this, i, p.queueFds);
      this.servers.push(server);
      p.block.serveQueuesWith(server);
    });
  }

  /**
   * Claims the devices the thread can serve: a virtio-blk on a raw image,
   * with an irqfd (the thread raises interrupts by itself). Returns the
   * claimed set's collector; claim() says whether a device was taken (then
   * its notifiers are the thread's, not the main loop's).
   */
  static collector(): BlockThreadCollector {
    const pending: Pending[] = [];
    const enabled = deviceThreadChosen();
    return {
      claim(transport: MmioTransport, wiring: SlotWiring, base: number): boolean {
        if (!enabled) return false;
        const block = transport.device;
        if (!(block instanceof VirtioBlock) || wiring.irqFd === undefined) return false;
        const disk = block.synchronousDisk;
        if (!(disk instanceof RawDisk) || block.queueMaxSizes.length > MAX_THREAD_QUEUES) return false;
        if (!(block.counterBuffer instanceof SharedArrayBuffer)) return false;
        pending.push({
          block,
          disk,
          transport,
          irqFd: wiring.irqFd,
          queueFds: wiring.queueEventFds(transport, base),
          positions: new SharedArrayBuffer(block.queueMaxSizes.length * POSITION_SLOTS * 4),
        });
        return true;
      },
      start(regions: readonly ThreadRamRegion[]): BlockThread | undefined {
        if (pending.length === 0) return undefined;
        const thread = new BlockThread(pending);
        thread.start(regions);
        return thread;
      },
    };
  }

  private start(regions: readonly ThreadRamRegion[]): void {
    const devices: ThreadBlockDevice[] = this.pending.map((p) => ({
      id: p.block.idString,
      path: p.disk.path,
      fd: p.disk.fileDescriptor,
      size: p.disk.size,
      readOnly: p.disk.readOnly,
      counters: p.block.counterBuffer as SharedArrayBuffer,
      interruptStatus: p.transport.interruptStatusWord.buffer as SharedArrayBuffer,
      irqFd: p.irqFd,
      queueFds: p.queueFds.map((n) => n.fd),
      queueMaxSizes: [...p.block.queueMaxSizes],
      positions: p.positions,
    }));
    const data: BlockThreadData = {
      control: this.control.buffer as SharedArrayBuffer,
      params: this.params.buffer as SharedArrayBuffer,
      controlFd: this.controlNotifier.fd,
      regions: [...regions],
      devices,
    };
    this.worker = new Worker(BLOCK_THREAD_ENTRY, { workerData: data });
    this.worker.unref();
    this.worker.on('message', (message: BlockThreadMessage) => this.onMessage(message));
    this.worker.on('error', (err) => this.onMessage({ type: 'failed', message: err.message }));
  }

  /** How many drives the thread serves. */
  get deviceCount(): number {
    return this.pending.length;
  }

  /** Where the thread is in each queue of drive `device`: next available and next used slot (u16 counters). */
  queuePositions(device: number): Array<{ nextAvail: number; nextUsed: number }> {
    const p = this.pending[device];
    if (!p) return [];
    const slots = new Int32Array(p.positions);
    return p.block.queueMaxSizes.map((_, i) => ({
      nextAvail: Atomics.load(slots, i * POSITION_SLOTS),
      nextUsed: Atomics.load(slots, i * POSITION_SLOTS + 1),
    }));
  }

  /** Stops serving queues (requests wait in the rings) once the batch in hand is done; for snapshots. */
  pause(): boolean {
    return this.command(Command.PAUSE, 0);
  }

  resume(): boolean {
    return this.command(Command.RESUME, 0);
  }

  /** Ends the thread; after this it touches neither guest memory nor the disks, which may then be closed. */
  stop(): void {
    if (this.stopped) return;
    this.command(Command.EXIT, 0);
    this.stopped = true;
  }

  activate(device: number, activation: number, context: DeviceContext): boolean {
    context.queues.forEach((q, i) => {
      const at = i * QUEUE_PARAM_SLOTS;
      this.params[at + QueueParam.SIZE] = q.size;
      this.params[at + QueueParam.DESC] = q.descTable;
      this.params[at + QueueParam.AVAIL] = q.availRing;
      this.params[at + QueueParam.USED] = q.usedRing;
      this.params[at + QueueParam.FLAGS] =
        (q.ready ? QueueFlag.READY : 0) |
        ((context.features & featureBit(Feature.RING_EVENT_IDX)) !== 0n ? QueueFlag.EVENT_IDX : 0) |
        ((context.features & featureBit(Feature.RING_INDIRECT_DESC)) !== 0n ? QueueFlag.INDIRECT : 0);
    });
    Atomics.store(this.control, Control.ACTIVATION, activation);
    return this.command(Command.ACTIVATE, device);
  }

  /** Sends a command and waits until the thread has carried it out; false when the thread is gone. */
  command(command: number, device: number): boolean {
    if (this.stopped || Atomics.load(this.control, Control.STATE) === ThreadState.STOPPED) return false;
    Atomics.store(this.control, Control.COMMAND, command);
    Atomics.store(this.control, Control.DEVICE, device);
    const seq = (Atomics.add(this.control, Control.COMMAND_SEQ, 1) + 1) | 0;
    Atomics.notify(this.control, Control.COMMAND_SEQ);
    this.controlNotifier.signal();
    const deadline = performance.now() + COMMAND_TIMEOUT_MS;
    for (;;) {
      const acked = Atomics.load(this.control, Control.ACK_SEQ);
      if (acked === seq) return true;
      if (Atomics.load(this.control, Control.STATE) === ThreadState.STOPPED) return false;
      const left = deadline - performance.now();
      if (left <= 0) return false;
      Atomics.wait(this.control, Control.ACK_SEQ, acked, left);
    }
  }

  private onMessage(message: BlockThreadMessage): void {
    switch (message.type) {
      case 'warn':
        emitWarning(message.line);
        return;
      case 'needs-reset':
        this.servers[message.device]?.brokeDuring(message.activation, message.reason);
        return;
      case 'failed':
        emitWarning(`the block device thread failed: ${message.message}`);
        for (const server of this.servers) server.threadFailed();
        return;
    }
  }
}

export interface BlockThreadCollector {
  claim(transport: MmioTransport, wiring: SlotWiring, base: number): boolean;
  start(regions: readonly ThreadRamRegion[]): BlockThread | undefined;
}
