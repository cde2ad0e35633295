// How the main thread asks one vCPU thread "can this vCPU ever run again?"
// without touching the exit hot path. With the in-kernel irqchip a HLT never
// leaves KVM_RUN, and a vCPU's state can only be read by its own thread (KVM
// holds the vCPU's lock for the whole KVM_RUN), so the main thread kicks the
// thread out of KVM_RUN and lets it answer:
//
//   main thread                              vCPU thread
//   REQUEST = n; immediate_exit = 1; tgkill  KVM_RUN returns EINTR ('intr' exit)
//                                            immediate_exit = 0; reads MP state,
//                                            RFLAGS, pending NMIs; REPLY = n
//
// immediate_exit covers a thread that was between two KVM_RUNs when the
// signal came: its next KVM_RUN returns EINTR at once. The thread only looks
// at REQUEST after an 'intr' exit, so port-I/O and MMIO exits cost nothing.
import { MpState } from '../kvm/ioctls.js';
import type { VcpuFd } from '../kvm/vcpu.js';
import type { RunPage } from '../kvm/vcpu-exit.js';

/** Int32 slots of the shared buffer. */
const THREAD_ID = 0;
const REQUEST_SEQ = 1;
const REPLY_SEQ = 2;
const VERDICT = 3;
const SLOTS = 4;

/** RFLAGS.IF: maskable interrupts enabled. */
const RFLAGS_IF = 1n << 9n;

/** What a vCPU thread found about its vCPU. */
export const Verdict = {
  /** It runs, or it waits for something that can still come (an interrupt with IF=1, an NMI). */
  ALIVE: 1,
  /** HLT with interrupts disabled and no NMI pending: only an NMI, INIT or SIPI from another vCPU can wake it. */
  HALTED_FOR_GOOD: 2,
  /** An application processor that was never started (or was put back to wait for INIT/SIPI): only another vCPU can start it. */
  WAITING_FOR_SIPI: 3,
  /** Reading its state failed; never taken for dead. */
  UNKNOWN: 4,
} as const;
export type VerdictValue = (typeof Verdict)[keyof typeof Verdict];

/** The verdict for a vCPU in `mpState` with `rflags`, given whether an NMI is pending. Pure, so it is tested without KVM. */
export function judgeVcpu(mpState: number, rflags: bigint, nmiPendingOrInjected: boolean): VerdictValue {
  if (nmiPendingOrInjected) return Verdict.ALIVE;
  if (mpState === MpState.UNINITIALIZED || mpState === MpState.INIT_RECEIVED) return Verdict.WAITING_FOR_SIPI;
  if (mpState === MpState.HALTED && (rflags & RFLAGS_IF) === 0n) return Verdict.HALTED_FOR_GOOD;
  return Verdict.ALIVE;
}

export class HaltProbe {
  readonly shared: SharedArrayBuffer;
  private readonly slots: Int32Array;

  constructor(shared?: SharedArrayBuffer) {
    this.shared = shared ?? new SharedArrayBuffer(SLOTS * 4);
    this.slots = new Int32Array(this.shared);
  }

  // ---- vCPU thread side -----------------------------------------------------

  /** Called once by the vCPU thread before its first KVM_RUN: where kicks go. */
  publishThreadId(tid: number): void {
    Atomics.store(this.slots, THREAD_ID, tid);
  }

  /** Called by the vCPU thread after an 'intr' exit: answers an open request, if any. */
  answerIfAsked(vcpu: VcpuFd): void {
    const s = this.slots;
    // Cleared before REQUEST is read: a request posted after this point sets it again.
    vcpu.run.immediateExit = false;
    const request = Atomics.load(s, REQUEST_SEQ);
    if (request === Atomics.load(s, REPLY_SEQ)) return;
    let verdict: VerdictValue;
    try {
      verdict = judgeVcpu(vcpu.getMpState(), vcpu.getRegs().rflags, vcpu.getVcpuEvents().nmiPendingOrInjected);
    } catch {
      verdict = Verdict.UNKNOWN;
    }
    Atomics.store(s, VERDICT, verdict);
    Atomics.store(s, REPLY_SEQ, request);
  }

  // ---- main thread side -------------------------------------------------------

  /** The vCPU thread's id once it has started, else 0. */
  get threadId(): number {
    return Atomics.load(this.slots, THREAD_ID);
  }

  /**
   * Posts a new request (or repeats the open one) and kicks the thread:
   * `runPage` is the main thread's own mapping of the vCPU's kvm_run page,
   * `kick` sends the signal. Returns the request's number.
   */
  ask(runPage: RunPage, kick: (tid: number) => void): number {
    const s = this.slots;
    let request = Atomics.load(s, REQUEST_SEQ);
    if (request === Atomics.load(s, REPLY_SEQ)) {
      request = (request + 1) | 0;
      Atomics.store(s, REQUEST_SEQ, request);
    }
    runPage.immediateExit = true;
    const tid = this.threadId;
    if (tid !== 0) kick(tid);
    return request;
  }

  /** The verdict for request `request`, or undefined while it is unanswered. */
  answer(request: number): VerdictValue | undefined {
    const s = this.slots;
    if (Atomics.load(s, REPLY_SEQ) !== request) return undefined;
    return Atomics.load(s, VERDICT) as VerdictValue;
  }
}
