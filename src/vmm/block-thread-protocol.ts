// What the main thread and the block device thread (block-thread.ts) share.
// The device thread never returns to an event loop (it blocks in epoll_wait),
// so it cannot receive messages: commands travel through a shared control
// block instead, announced by a write to the control eventfd, and the main
// thread waits for each to be acknowledged (sequence numbers, as the exit
// mailbox does). The thread's own reports (a queue broke, a warning) go the
// other way as ordinary messages, which never block it.

/** Int32 slots of the control block. */
export const Control = {
  /** Bumped by the main thread for each command. */
  COMMAND_SEQ: 0,
  /** Set by the device thread to COMMAND_SEQ once it has carried the command out. */
  ACK_SEQ: 1,
  COMMAND: 2,
  DEVICE: 3,
  /** 1 once the thread is up and waiting; -1 once it has stopped for good. */
  STATE: 4,
  /** 1 while the thread is serving a queue (so a snapshot can see it is idle). */
  BUSY: 5,
  /** With ACTIVATE: the main thread's count of this device's activations, quoted back in needs-reset reports. */
  ACTIVATION: 6,
} as const;
export const CONTROL_SLOTS = 8;

export const ThreadState = { STARTING: 0, RUNNING: 1, STOPPED: -1 } as const;

export const Command = {
  /** Start serving DEVICE with the queues in the parameter block. */
  ACTIVATE: 1,
  /** Forget DEVICE's queues (the driver reset it or it needs a reset). */
  RESET: 2,
  /** Stop touching guest memory and disks until RESUME; requests wait in the rings. */
  PAUSE: 3,
  RESUME: 4,
  /** Leave the loop: the VM is ending and the disks are about to close. */
  EXIT: 5,
} as const;

/** Float64 slots per queue in the parameter block. */
export const QueueParam = { SIZE: 0, DESC: 1, AVAIL: 2, USED: 3, FLAGS: 4 } as const;
export const QUEUE_PARAM_SLOTS = 5;
/** QueueParam.FLAGS bits. */
export const QueueFlag = { READY: 1, EVENT_IDX: 2, INDIRECT: 4 } as const;
/** Queues a device served on the thread may have. */
export const MAX_THREAD_QUEUES = 8;
export const PARAM_BYTES = MAX_THREAD_QUEUES * QUEUE_PARAM_SLOTS * Float64Array.BYTES_PER_ELEMENT;
/** Int32 slots per queue of a device's positions block: next available, next used. */
export const POSITION_SLOTS = 2;

/** A piece of guest RAM: where the guest sees it and where it is mapped in this process. */
export interface ThreadRamRegion {
  guestAddress: number;
  hostAddress: bigint;
  size: number;
}

export interface ThreadBlockDevice {
  /** The virtio-blk ID string (get-id). */
  id: string;
  path: string;
  /** The raw image's fd, opened and locked by the main thread, which closes it after the thread has stopped. */
  fd: number;
  size: number;
  readOnly: boolean;
  /** The device's counters (src/devices/virtio/block/device.ts), shared with the API. */
  counters: SharedArrayBuffer;
  /** The transport's InterruptStatus word. */
  interruptStatus: SharedArrayBuffer;
  irqFd: number;
  /** One eventfd per queue: the queue's ioeventfd. */
  queueFds: number[];
  queueMaxSizes: number[];
  /** Int32 POSITION_SLOTS per queue, written after each batch. */
  positions: SharedArrayBuffer;
}

export interface BlockThreadData {
  control: SharedArrayBuffer;
  params: SharedArrayBuffer;
  controlFd: number;
  regions: ThreadRamRegion[];
  devices: ThreadBlockDevice[];
}

export type BlockThreadMessage =
  | { type: 'warn'; line: string }
  /** A queue of DEVICE broke while it was active in `activation`; the transport sets NEEDS_RESET. */
  | { type: 'needs-reset'; device: number; activation: number; reason: string }
  | { type: 'failed'; message: string };
