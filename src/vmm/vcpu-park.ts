// Parking one vCPU thread out of KVM_RUN so the VMM can read or write its
// state (a snapshot), and letting it go again. The same kick as the halt
// probe's (src/vmm/halt-probe.ts): a signal to the thread, and immediate_exit
// for a thread that was between two KVM_RUNs.
//
//   main thread                                 vCPU thread
//   PARK = n; immediate_exit = 1; tgkill        KVM_RUN completes the last port-I/O or
//                                               MMIO exit, then returns EINTR ('intr')
//                                               immediate_exit = 0; PARKED = n; notify;
//   await PARKED == n                           Atomics.wait until RESUME == n
//   … read / write the vCPU's state …
//   RESUME = n; notify                          back to KVM_RUN
//
// Parking after an 'intr' exit matters: KVM finishes an I/O exit only on the
// next KVM_RUN (AMD-V leaves RIP on the instruction), so state read right
// after one would replay the access on restore.
import type { RunPage } from '../kvm/vcpu-exit.js';

/** Int32 slots of the shared buffer. */
const PARK_SEQ = 0;
const PARKED_SEQ = 1;
const RESUME_SEQ = 2;
const SLOTS = 3;

export class VcpuPark {
  readonly shared: SharedArrayBuffer;
  private readonly slots: Int32Array;

  constructor(shared?: SharedArrayBuffer) {
    this.shared = shared ?? new SharedArrayBuffer(SLOTS * 4);
    this.slots = new Int32Array(this.shared);
  }

  // ---- vCPU thread side -----------------------------------------------------

  /**
   * Called by the vCPU thread after an 'intr' exit, `clearImmediateExit`
   * first so a park asked after this point kicks it again. Blocks the
   * thread while a park is open; returns whether it parked.
   */
  parkIfAsked(clearImmediateExit: () => void): boolean {
    const s = this.slots;
    clearImmediateExit();
    const request = Atomics.load(s, PARK_SEQ);
    if (request === Atomics.load(s, PARKED_SEQ)) return false;
    Atomics.store(s, PARKED_SEQ, request);
    Atomics.notify(s, PARKED_SEQ);
    for (;;) {
      const resumed = Atomics.load(s, RESUME_SEQ);
      if (resumed === request) return true;
      Atomics.wait(s, RESUME_SEQ, resumed);
    }
  }

  // ---- main thread side -------------------------------------------------------

  /** Whether a park is open (asked, and not yet resumed). */
  get isOpen(): boolean {
    return Atomics.load(this.slots, PARK_SEQ) !== Atomics.load(this.slots, RESUME_SEQ);
  }

  /**
   * Asks the thread to park (`runPage` is the main thread's own mapping of
   * the vCPU's kvm_run page, `kick` interrupts thread `tid`). Resolves once
   * it is parked, or with false when `gone()` says the thread has ended.
   */
  async park(runPage: RunPage, tid: number, kick: (tid: number) => void, gone: () => boolean): Promise<boolean> {
    const s = this.slots;
    if (this.isOpen) throw new Error('this vCPU is already parked');
    const request = (Atomics.load(s, PARK_SEQ) + 1) | 0;
    Atomics.store(s, PARK_SEQ, request);
    runPage.immediateExit = true;
    if (tid !== 0) kick(tid);
    for (;;) {
      const parked = Atomics.load(s, PARKED_SEQ);
      if (parked === request) return true;
      if (gone()) return false;
      // Bounded waits: a thread that ends without parking never notifies.
      const waited = Atomics.waitAsync(s, PARKED_SEQ, parked, PARK_POLL_MS);
      if (waited.async) await waited.value;
    }
  }

  /** Lets a parked thread go back to KVM_RUN. */
  resume(): void {
    const s = this.slots;
    Atomics.store(s, RESUME_SEQ, Atomics.load(s, PARK_SEQ));
    Atomics.notify(s, RESUME_SEQ);
  }
}

/** How often a park that has not been answered checks whether the thread is gone. */
const PARK_POLL_MS = 50;
