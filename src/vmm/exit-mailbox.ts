// The shared-memory mailbox through which a vCPU thread hands a port-I/O or
// MMIO exit to the main thread (which owns every device) and waits for the
// answer. Sequence numbers rather than a state flag, so neither side can miss
// a round: the vCPU bumps `request`, the main thread answers by copying it
// into `reply`.

/** Int32 slots at the start of the shared buffer. */
const REQUEST_SEQ = 0;
const REPLY_SEQ = 1;
const KIND = 2;
const IS_WRITE = 3;
const ADDRESS_LOW = 4;
const ADDRESS_HIGH = 5;
const ACCESS_SIZE = 6;
const COUNT = 7;
const HEADER_SLOTS = 16;

const DATA_OFFSET = HEADER_SLOTS * 4;
/** A port-I/O string exit carries at most one page of data (the kvm_run page). */
export const MAILBOX_DATA_BYTES = 4096;

export const ExitKind = { PIO: 1, MMIO: 2 } as const;

export interface MailboxRequest {
  kind: number;
  isWrite: boolean;
  address: number;
  /** Width of one access in bytes. */
  size: number;
  /** Repetitions (rep ins/outs); 1 for everything else. */
  count: number;
  /** size * count bytes: the written data, or where read data goes. */
  data: Uint8Array;
}

export class ExitMailbox {
  readonly shared: SharedArrayBuffer;
  private readonly slots: Int32Array;
  private readonly bytes: Uint8Array;

  constructor(shared?: SharedArrayBuffer) {
    this.shared = shared ?? new SharedArrayBuffer(DATA_OFFSET + MAILBOX_DATA_BYTES);
    this.slots = new Int32Array(this.shared, 0, HEADER_SLOTS);
    this.bytes = new Uint8Array(this.shared, DATA_OFFSET, MAILBOX_DATA_BYTES);
  }

  // ---- vCPU thread side -----------------------------------------------------

  /** Posts an exit and blocks this thread until the main thread has handled it. Returns the data (read results). */
  call(kind: number, isWrite: boolean, address: number, size: number, count: number, data: Uint8Array): Uint8Array {
    const length = size * count;
    if (length > MAILBOX_DATA_BYTES) throw new RangeError(`exit data of ${length} bytes exceeds the mailbox`);
    const s = this.slots;
    s[KIND] = kind;
    s[IS_WRITE] = isWrite ? 1 : 0;
    s[ADDRESS_LOW] = address % 0x1_0000_0000;
    s[ADDRESS_HIGH] = Math.floor(address / 0x1_0000_0000);
    s[ACCESS_SIZE] = size;
    s[COUNT] = count;
    if (isWrite) this.bytes.set(data.subarray(0, length));
    const seq = (Atomics.load(s, REQUEST_SEQ) + 1) | 0;
    Atomics.store(s, REQUEST_SEQ, seq);
    Atomics.notify(s, REQUEST_SEQ);
    for (;;) {
      const reply = Atomics.load(s, REPLY_SEQ);
      if (reply === seq) break;
      Atomics.wait(s, REPLY_SEQ, reply);
    }
    return this.bytes.subarray(0, length);
  }

  // ---- main thread side -------------------------------------------------------

  /**
   * Serves requests until `isDone()` says to stop, calling `handle` for each.
   * Waits with Atomics.waitAsync so the event loop (stdin, timers, the API
   * socket) keeps running between exits.
   */
  async serve(handle: (request: MailboxRequest) => void, isDone: () => boolean): Promise<void> {
    const s = this.slots;
    let seen = Atomics.load(s, REQUEST_SEQ);
    while (!isDone()) {
      const waited = Atomics.waitAsync(s, REQUEST_SEQ, seen);
      if (waited.async) await waited.value;
      if (isDone()) return;
      const seq = Atomics.load(s, REQUEST_SEQ);
      if (seq === seen) continue;
      seen = seq;
      const size = s[ACCESS_SIZE]!;
      const count = s[COUNT]!;
      const request: MailboxRequest = {
        kind: s[KIND]!,
        isWrite: s[IS_WRITE] === 1,
        address: (s[ADDRESS_HIGH]! >>> 0) * 0x1_0000_0000 + (s[ADDRESS_LOW]! >>> 0),
        size,
        count,
        data: this.bytes.subarray(0, size * count),
      };
      try {
        handle(request);
      } finally {
        Atomics.store(s, REPLY_SEQ, seq);
        Atomics.notify(s, REPLY_SEQ);
      }
    }
  }

  /** Wakes a `serve` loop so it notices it should stop. */
  wake(): void {
    Atomics.notify(this.slots, REQUEST_SEQ);
  }
}
