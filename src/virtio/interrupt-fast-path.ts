// The two virtio-mmio registers a driver touches on every interrupt —
// InterruptStatus (read) and InterruptACK (write) — answered by whichever
// thread took the guest's MMIO exit, from the transport's shared
// InterruptStatus word (MmioTransport.interruptStatusWord), instead of a
// round trip to the thread that owns the transport. Both sides change the
// word only with Atomics, so the answers are the ones the transport would give.
import { Reg } from './constants.js';

/** One virtio-mmio slot: where its registers are and its shared InterruptStatus word. */
export interface SharedInterruptSlot {
  readonly base: number;
  readonly interruptStatus: SharedArrayBuffer;
  /** Bits an InterruptACK leaves set (MmioTransport.ackKeeps). */
  readonly ackKeeps: number;
}

/** The registers are 32 bits wide; any other access goes the slow way (and gets its warning there). */
const REGISTER_WIDTH = 4;

export class InterruptRegisterFastPath {
  private readonly bases: number[];
  private readonly words: Int32Array[];
  private readonly ackKeeps: number[];

  constructor(slots: readonly SharedInterruptSlot[]) {
    this.bases = slots.map((s) => s.base);
    this.words = slots.map((s) => new Int32Array(s.interruptStatus));
    this.ackKeeps = slots.map((s) => s.ackKeeps);
  }

  /** Answers the access when it is a 32-bit InterruptStatus read or InterruptACK write of a slot; false otherwise. */
  handle(address: number, isWrite: boolean, data: Uint8Array): boolean {
    if (data.length !== REGISTER_WIDTH) return false;
    for (let i = 0; i < this.bases.length; i++) {
      const offset = address - this.bases[i]!;
      if (offset === Reg.INTERRUPT_STATUS && !isWrite) {
        new DataView(data.buffer, data.byteOffset, REGISTER_WIDTH).setUint32(0, Atomics.load(this.words[i]!, 0) >>> 0, true);
        return true;
      }
      if (offset === Reg.INTERRUPT_ACK && isWrite) {
        const acknowledged = new DataView(data.buffer, data.byteOffset, REGISTER_WIDTH).getUint32(0, true);
        Atomics.and(this.words[i]!, 0, ~(acknowledged & ~this.ackKeeps[i]!));
        return true;
      }
    }
    return false;
  }
}
