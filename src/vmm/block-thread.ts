// Worker-thread entry: serves the virtio-blk queues of one VM's raw drives
// off the main event loop. It blocks in epoll_wait on the queues' ioeventfds
// (a guest's notification never leaves the kernel on its way here), walks
// the rings with the same hostile-input checks as everywhere (src/virtio),
// moves data with preadv/pwritev straight between the image and guest RAM,
// and raises one interrupt per batch: the InterruptStatus bit first, in
// shared memory, then the irqfd. Guest RAM is seen through views of the
// main thread's mappings (same process); disks are the main thread's open
// fds. Commands come through the shared control block (block-thread-protocol.ts).
import { readSync, writeSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { RawDisk } from '../disk/raw.js';
import { GuestMemory } from '../memory/guest-memory.js';
import { Epoll } from '../sys/epoll.js';
import { viewOfMapping } from '../sys/libc.js';
import { Interrupt } from '../virtio/constants.js';
import type { DeviceContext } from '../virtio/device.js';
import { GuestErrors, setWarningSink } from '../virtio/guest-errors.js';
import { Virtqueue } from '../virtio/queue.js';
import { VirtioBlock } from '../devices/virtio/block/device.js';
import {
  Command,
  Control,
  POSITION_SLOTS,
  QUEUE_PARAM_SLOTS,
  QueueFlag,
  QueueParam,
  ThreadState,
  type BlockThreadData,
  type BlockThreadMessage,
  type ThreadBlockDevice,
} from './block-thread-protocol.js';

/** epoll token of the control eventfd; queue tokens are device * QUEUE_TOKEN_STRIDE + queue. */
const CONTROL_TOKEN = 0xffff_ffff;
const QUEUE_TOKEN_STRIDE = 256;
const COUNTER_BYTES = 8;

const data = workerData as BlockThreadData;
const control = new Int32Array(data.control);
const params = new Float64Array(data.params);
const scratch = new Uint8Array(COUNTER_BYTES);
const one = new Uint8Array(new BigUint64Array([1n]).buffer);

function report(message: BlockThreadMessage): void {
  parentPort?.postMessage(message);
}

setWarningSink((line) => report({ type: 'warn', line }));

/** Empties an eventfd's counter (non-blocking fds: EAGAIN means it was already empty). */
function drain(fd: number): void {
  try {
    readSync(fd, scratch, 0, COUNTER_BYTES, null);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
  }
}

const memory = new GuestMemory(
  data.regions.map((r) => ({ guestAddress: r.guestAddress, bytes: new Uint8Array(viewOfMapping(r.hostAddress, r.size)) })),
);

class ServedDevice {
  readonly block: VirtioBlock;
  readonly errors: GuestErrors;
  private readonly interruptStatus: Int32Array;
  private readonly positions: Int32Array;
  private queues: Virtqueue[] = [];
  private context: DeviceContext | undefined;
  private activation = 0;

  constructor(
    readonly index: number,
    private readonly spec: ThreadBlockDevice,
  ) {
    const disk = RawDisk.adopt(spec.path, spec.fd, spec.size, spec.readOnly);
    this.block = new VirtioBlock(disk, spec.id, { counters: spec.counters });
    this.errors = new GuestErrors(this.block.name);
    this.interruptStatus = new Int32Array(spec.interruptStatus);
    this.positions = new Int32Array(spec.positions);
  }

  activate(activation: number): void {
    this.reset();
    this.activation = activation;
    let features = { eventIdx: false, indirect: false };
    const queues = this.spec.queueMaxSizes.map((max, i) => {
      const q = new Virtqueue(max, memory);
      const at = i * QUEUE_PARAM_SLOTS;
      const flags = params[at + QueueParam.FLAGS]!;
      q.size = params[at + QueueParam.SIZE]!;
      q.descTable = params[at + QueueParam.DESC]!;
      q.availRing = params[at + QueueParam.AVAIL]!;
      q.usedRing = params[at + QueueParam.USED]!;
      q.ready = (flags & QueueFlag.READY) !== 0;
      features = { eventIdx: (flags & QueueFlag.EVENT_IDX) !== 0, indirect: (flags & QueueFlag.INDIRECT) !== 0 };
      return q;
    });
    for (const [i, q] of queues.entries()) {
      if (!q.ready) continue;
      // The main thread checked these already; a second look costs nothing and keeps this thread safe on its own.
      const why = q.invalidReason();
      if (why) {
        this.needsReset(`queue ${i}: ${why}`);
        return;
      }
      q.start(features);
    }
    this.queues = queues;
    this.context = {
      memory,
      queues,
      features: 0n,
      errors: this.errors,
      usedBuffersAdded: (q) => {
        if (this.context && q.needsInterrupt()) this.interrupt();
      },
      needsReset: (reason) => this.needsReset(reason),
    };
    this.block.activate(this.context);
    this.publishPositions();
  }

  reset(): void {
    if (this.context) this.block.reset();
    this.context = undefined;
    this.queues = [];
  }

  serve(queue: number): void {
    if (!this.context || !this.queues[queue]?.ready) return;
    try {
      this.block.queueNotify(queue);
    } catch (err) {
      // A bug here must not end the thread (and with it every drive): the guest sees a device that needs a reset.
      this.needsReset(`internal error handling queue ${queue}: ${err instanceof Error ? err.message : String(err)}`);
    }
    this.publishPositions();
  }

  /** Serves every ready queue once (after a pause, notifications may have been consumed without service). */
  serveAll(): void {
    for (let i = 0; i < this.queues.length; i++) this.serve(i);
  }

  private interrupt(): void {
    // The bit before the signal: the driver's interrupt handler reads it at once.
    Atomics.or(this.interruptStatus, 0, Interrupt.USED_BUFFER);
    writeSync(this.spec.irqFd, one);
  }

  private needsReset(reason: string): void {
    const activation = this.activation;
    this.reset();
    report({ type: 'needs-reset', device: this.index, activation, reason });
  }

  private publishPositions(): void {
    this.queues.forEach((q, i) => {
      const { nextAvail, nextUsed } = q.position;
      Atomics.store(this.positions, i * POSITION_SLOTS, nextAvail);
      Atomics.store(this.positions, i * POSITION_SLOTS + 1, nextUsed);
    });
  }
}

const devices = data.devices.map((spec, i) => new ServedDevice(i, spec));
let paused = false;

function acknowledge(seq: number): void {
  Atomics.store(control, Control.ACK_SEQ, seq);
  Atomics.notify(control, Control.ACK_SEQ);
}

/** Carries out the pending command, if any; false when told to exit. */
function handleCommand(): boolean {
  const seq = Atomics.load(control, Control.COMMAND_SEQ);
  if (seq === Atomics.load(control, Control.ACK_SEQ)) return true;
  const command = Atomics.load(control, Control.COMMAND);
  const device = devices[Atomics.load(control, Control.DEVICE)];
  switch (command) {
    case Command.ACTIVATE:
      device?.activate(Atomics.load(control, Control.ACTIVATION));
      break;
    case Command.RESET:
      device?.reset();
      break;
    case Command.PAUSE:
      paused = true;
      break;
    case Command.RESUME:
      paused = false;
      for (const d of devices) d.serveAll();
      break;
    case Command.EXIT:
      acknowledge(seq);
      return false;
  }
  acknowledge(seq);
  return true;
}

function loop(): void {
  const epoll = Epoll.create();
  epoll.add(data.controlFd, CONTROL_TOKEN);
  data.devices.forEach((device, d) => {
    device.queueFds.forEach((fd, q) => {
      epoll.add(fd, d * QUEUE_TOKEN_STRIDE + q);
    });
  });
  Atomics.store(control, Control.STATE, ThreadState.RUNNING);
  Atomics.notify(control, Control.STATE);
  try {
    for (;;) {
      if (paused) {
        // Not a look at the rings until RESUME: wait on the command word itself.
        Atomics.wait(control, Control.COMMAND_SEQ, Atomics.load(control, Control.ACK_SEQ));
        drain(data.controlFd);
        if (!handleCommand()) return;
        continue;
      }
      for (const token of epoll.wait()) {
        if (token === CONTROL_TOKEN) {
          drain(data.controlFd);
          if (!handleCommand()) return;
          if (paused) break;
          continue;
        }
        const device = devices[Math.floor(token / QUEUE_TOKEN_STRIDE)];
        if (!device) continue;
        drain(data.devices[device.index]!.queueFds[token % QUEUE_TOKEN_STRIDE]!);
        Atomics.store(control, Control.BUSY, 1);
        device.serve(token % QUEUE_TOKEN_STRIDE);
        Atomics.store(control, Control.BUSY, 0);
      }
    }
  } finally {
    epoll.close();
  }
}

try {
  loop();
} catch (err) {
  report({ type: 'failed', message: err instanceof Error ? err.message : String(err) });
} finally {
  Atomics.store(control, Control.STATE, ThreadState.STOPPED);
  Atomics.notify(control, Control.STATE);
  // Whoever waits for an acknowledgement learns that none will come.
  Atomics.notify(control, Control.ACK_SEQ);
}
