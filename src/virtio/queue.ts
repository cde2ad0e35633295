// One split virtqueue (VIRTIO 1.2, 2.7) as the device sees it: the driver's
// available ring is read, chains are walked by chain.ts, completions go to the
// used ring, and the event-index rules (2.7.7, 2.7.10) decide whether the
// driver needs an interrupt. The ring addresses come from the transport; they
// are checked once, when the driver starts the device, so every ring access
// afterwards is known to be inside guest memory.
import type { GuestMemory } from '../memory/guest-memory.js';
import { ChainError, DESCRIPTOR_SIZE, walkChain, type DescriptorChain } from './chain.js';
import { SavedStateError, type QueueState } from './saved-state.js';

/** Ring header: flags u16 + idx u16. */
const RING_HEADER = 4;
/** Available ring entry: a u16 descriptor index. */
const AVAIL_ENTRY = 2;
/** Used ring entry: id u32 + len u32. */
const USED_ENTRY = 8;
/** The event word after each ring (used_event / avail_event) is a u16. */
const EVENT_WORD = 2;
/** Ring alignment requirements (2.7, table "Virtqueue Part Alignment"). */
const DESC_ALIGN = 16;
const AVAIL_ALIGN = 2;
const USED_ALIGN = 4;
/** VIRTQ_AVAIL_F_NO_INTERRUPT: the driver does not want interrupts (without EVENT_IDX). */
const AVAIL_F_NO_INTERRUPT = 1;
/** Ring indexes are free-running u16 counters. */
const U16 = 0x1_0000;
/** The largest queue the split layout allows (2.7). */
export const MAX_QUEUE_SIZE = 32768;

export type PopResult =
  | { kind: 'chain'; chain: DescriptorChain }
  | { kind: 'bad-chain'; error: ChainError }
  /** The available index moved by more than the queue size: the driver's ring is broken. */
  | { kind: 'broken'; reason: string };

export class Virtqueue {
  size: number;
  ready = false;
  descTable = 0;
  availRing = 0;
  usedRing = 0;
  /** Set from the negotiated features when the device starts. */
  eventIdx = false;
  indirect = false;
  /** Next available-ring slot the device will read. */
  private nextAvail = 0;
  /** Next used-ring slot the device will write. */
  private nextUsed = 0;
  /** used.idx when the driver was last interrupted (or chose not to be). */
  private signalledUsed = 0;

  constructor(
    readonly maxSize: number,
    private memory: GuestMemory,
  ) {
    this.size = maxSize;
  }

  /** Where the device is in the rings: the next available slot it reads, the next used slot it writes (u16 counters). */
  get position(): { nextAvail: number; nextUsed: number } {
    return { nextAvail: this.nextAvail, nextUsed: this.nextUsed };
  }

  /** Back to the state after a device reset (2.4). */
  reset(): void {
    this.size = this.maxSize;
    this.ready = false;
    this.descTable = this.availRing = this.usedRing = 0;
    this.eventIdx = this.indirect = false;
    this.nextAvail = this.nextUsed = this.signalledUsed = 0;
  }

  /** Why this queue's configuration cannot be used, or undefined when it can. */
  invalidReason(): string | undefined {
    const n = this.size;
    if (n === 0 || n > this.maxSize || (n & (n - 1)) !== 0) return `queue size ${n} is not a power of two up to ${this.maxSize}`;
    const parts: [string, number, number, number][] = [
      ['descriptor table', this.descTable, n * DESCRIPTOR_SIZE, DESC_ALIGN],
      ['available ring', this.availRing, RING_HEADER + n * AVAIL_ENTRY + EVENT_WORD, AVAIL_ALIGN],
      ['used ring', this.usedRing, RING_HEADER + n * USED_ENTRY + EVENT_WORD, USED_ALIGN],
    ];
    for (const [name, address, length, align] of parts) {
      if (address % align !== 0) return `${name} at 0x${address.toString(16)} is not ${align}-byte aligned`;
      if (!this.memory.isValidRange(address, length)) return `${name} at 0x${address.toString(16)}+${length} is outside guest memory`;
    }
    return undefined;
  }

  /** Starts using the rings at the driver's current positions (zero after reset). */
  start(features: { eventIdx: boolean; indirect: boolean }): void {
    this.eventIdx = features.eventIdx;
    this.indirect = features.indirect;
    this.nextAvail = this.nextUsed = this.signalledUsed = 0;
  }

  /** Takes the next available chain, if any. */
  pop(): PopResult | undefined {
    const availIdx = this.memory.readU16(this.availRing + 2);
    const pending = (availIdx - this.nextAvail + U16) % U16;
    if (pending === 0) return undefined;
    if (pending > this.size) return { kind: 'broken', reason: `available index jumped by ${pending}, more than the queue size ${this.size}` };
    const slot = this.nextAvail % this.size;
    const head = this.memory.readU16(this.availRing + RING_HEADER + slot * AVAIL_ENTRY);
    this.nextAvail = (this.nextAvail + 1) % U16;
    const result = walkChain({ memory: this.memory, descTable: this.descTable, queueSize: this.size, indirectAllowed: this.indirect }, head);
    return result instanceof ChainError ? { kind: 'bad-chain', error: result } : { kind: 'chain', chain: result };
  }

  /**
   * With EVENT_IDX, asks the driver to notify once it adds past what was
   * consumed, then says whether more arrived meanwhile (the caller must
   * then go on popping, or a notification could be lost).
   */
  armNotification(): boolean {
    if (this.eventIdx) this.memory.writeU16(this.usedRing + RING_HEADER + this.size * USED_ENTRY, this.nextAvail);
    return this.memory.readU16(this.availRing + 2) !== this.nextAvail;
  }

  /** Returns a chain to the driver with the number of bytes written into it. */
  pushUsed(head: number, writtenLength: number): void {
    const slot = this.nextUsed % this.size;
    const at = this.usedRing + RING_HEADER + slot * USED_ENTRY;
    this.memory.writeU32(at, head);
    this.memory.writeU32(at + 4, writtenLength);
    this.nextUsed = (this.nextUsed + 1) % U16;
    // The entry is written before the index that publishes it.
    this.memory.writeU16(this.usedRing + 2, this.nextUsed);
  }

  /**
   * Gives a refused chain back to the driver with nothing written, so its
   * descriptors are not lost. A head that is not a descriptor index at all
   * is not returned: the driver could only treat it as ring corruption.
   */
  returnRefused(head: number): boolean {
    if (head >= this.size) return false;
    this.pushUsed(head, 0);
    return true;
  }

  /** Whether the used entries added since the last call warrant an interrupt (2.7.10). */
  needsInterrupt(): boolean {
    const old = this.signalledUsed;
    const now = this.nextUsed;
    this.signalledUsed = now;
    if (old === now) return false;
    if (!this.eventIdx) return (this.memory.readU16(this.availRing) & AVAIL_F_NO_INTERRUPT) === 0;
    const usedEvent = this.memory.readU16(this.availRing + RING_HEADER + this.size * AVAIL_ENTRY);
    // vring_need_event(): interrupt when used_event lies in [old, now).
    return (now - usedEvent - 1 + 2 * U16) % U16 < (now - old + U16) % U16;
  }

  // ---- snapshots --------------------------------------------------------------

  /** The queue's configuration and ring positions, for a snapshot. */
  saveState(): QueueState {
    return {
      size: this.size,
      ready: this.ready,
      descTable: this.descTable,
      availRing: this.availRing,
      usedRing: this.usedRing,
      eventIdx: this.eventIdx,
      indirect: this.indirect,
      nextAvail: this.nextAvail,
      nextUsed: this.nextUsed,
      signalledUsed: this.signalledUsed,
    };
  }

  /**
   * Takes a saved state (its fields already range-checked by
   * parseQueueState) into a fresh queue, over the snapshot's memory. A queue
   * in use must have valid rings, and the indexes in them must agree with the
   * saved positions: the used index is the one this device last published,
   * and the driver cannot have made more than a ring's worth available.
   */
  restoreState(state: QueueState, inUse: boolean, what: string): void {
    this.size = state.size;
    this.ready = state.ready;
    this.descTable = state.descTable;
    this.availRing = state.availRing;
    this.usedRing = state.usedRing;
    this.eventIdx = state.eventIdx;
    this.indirect = state.indirect;
    this.nextAvail = state.nextAvail;
    this.nextUsed = state.nextUsed;
    this.signalledUsed = state.signalledUsed;
    if (!inUse || !state.ready) return;
    const why = this.invalidReason();
    if (why) throw new SavedStateError(`${what}: ${why}`);
    const usedIdx = this.memory.readU16(this.usedRing + 2);
    if (usedIdx !== state.nextUsed)
      throw new SavedStateError(`${what}: the used ring's index is ${usedIdx} in memory, the device's ${state.nextUsed}`);
    const pending = (this.memory.readU16(this.availRing + 2) - state.nextAvail + U16) % U16;
    if (pending > this.size) throw new SavedStateError(`${what}: ${pending} chains pending, more than the queue size ${this.size}`);
  }
}
