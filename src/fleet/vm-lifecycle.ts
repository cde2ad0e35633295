// The life of one detached microVM as its VMM process sees it, and the one
// place that decides what state.json says: starting → running (the guest's
// init signalled boot-complete) → stopping (a stop was asked for) → exited or
// failed. The final state is handed over exactly once, for the VMM to write
// after it has closed the VM's disks and before it ends the process. Pure
// logic over injected effects and timers, so every transition (and the stop
// timeout) is tested without KVM.
import { MAX_STOP_TIMEOUT_MS, type StopAccepted } from '../api/schema.js';
import type { VmLifeState, VmStatus } from './vm-status.js';

/** Who this VMM is and where its API listens: fixed for its whole life. */
export interface VmIdentity {
  readonly name: string;
  readonly pid: number;
  readonly where: 'host' | 'helper';
  readonly apiListen: string;
  readonly startedAt: string;
}

export interface LifecycleEffects {
  /** Writes a state that is not final (starting, running, stopping). */
  writeStatus(status: VmStatus): void;
  /** Asks the guest to power off (the guest-signal stop register). */
  requestGuestStop(): void;
  /**
   * The VM is over: close everything it holds (disks first), then write
   * `final` and end the process. The final state comes last so that whoever
   * sees it (mvm rm, a script reusing a persistent disk) finds the disks closed.
   */
  terminate(final: VmStatus): void;
}

export interface LifecycleTimers {
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const REAL_TIMERS: LifecycleTimers = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** state.json's exitReason for a guest that halted itself for good. */
export const HALTED_REASON = 'halted';

export type StopOutcome = { readonly ok: true; readonly accepted: StopAccepted } | { readonly ok: false; readonly error: string };

export function isFinalState(state: VmLifeState): boolean {
  return state === 'exited' || state === 'failed';
}

export class VmLifecycle {
  private current: VmStatus;
  private stopTimer: unknown = null;
  private stopTimeoutMs: number | null = null;
  /** Set by stop(): a guest power-off afterwards is the stop succeeding. */
  private stopRequested = false;

  constructor(
    identity: VmIdentity,
    private readonly effects: LifecycleEffects,
    private readonly timers: LifecycleTimers = REAL_TIMERS,
  ) {
    this.current = {
      ...identity,
      state: 'starting',
      bootMs: null,
      exitedAt: null,
      exitStatus: null,
      exitReason: null,
    };
  }

  get status(): VmStatus {
    return this.current;
  }

  /** Writes the first state; call once the API socket listens, before the vCPUs start. */
  announce(): void {
    this.effects.writeStatus(this.current);
  }

  /** The guest signalled boot-complete `bootMs` after the VMM process started. */
  booted(bootMs: number): void {
    if (this.current.bootMs !== null || isFinalState(this.current.state)) return;
    // A stop asked for while starting stays a stop: only the boot time is recorded.
    const state = this.current.state === 'stopping' ? 'stopping' : 'running';
    this.update({ state, bootMs: Math.round(bootMs) });
  }

  /** Graceful stop: ask the guest, and force the VM off if it has not powered off after timeoutMs. */
  stop(timeoutMs: number): StopOutcome {
    if (!Number.isInteger(timeoutMs) || timeoutMs < 0 || timeoutMs > MAX_STOP_TIMEOUT_MS) {
      return { ok: false, error: `timeoutMs must be a whole number of milliseconds from 0 to ${MAX_STOP_TIMEOUT_MS}` };
    }
    if (isFinalState(this.current.state)) return { ok: false, error: `the VM has already ${this.current.state}` };
    if (this.stopRequested) {
      // A second request keeps the first deadline; it only reports it.
      return { ok: true, accepted: { state: 'stopping', timeoutMs: this.stopTimeoutMs! } };
    }
    this.stopRequested = true;
    this.stopTimeoutMs = timeoutMs;
    this.update({ state: 'stopping' });
    this.effects.requestGuestStop();
    this.stopTimer = this.timers.setTimeout(() => {
      this.stopTimer = null;
      this.finish('exited', null, `the guest did not power off within ${timeoutMs} ms of the stop request; killed`);
    }, timeoutMs);
    return { ok: true, accepted: { state: 'stopping', timeoutMs } };
  }

  /** Stops at once, without asking the guest. */
  kill(reason = 'killed'): StopOutcome {
    if (isFinalState(this.current.state)) return { ok: false, error: `the VM has already ${this.current.state}` };
    this.finish('exited', null, reason);
    return { ok: true, accepted: { state: 'stopping', timeoutMs: 0 } };
  }

  /** The guest powered the VM off with `status`. */
  guestPoweredOff(status: number): void {
    this.finish('exited', status, this.stopRequested ? 'stopped on request' : null);
  }

  /**
   * Every vCPU halted for good (halt -f, poweroff -f, a dead guest): the VM
   * ended without a status of its own, which `mvm ps` shows as "exited (halted)".
   */
  guestHalted(): void {
    this.finish('exited', null, HALTED_REASON);
  }

  /** The VM cannot go on (a crash, a panic, a host failure). */
  failed(reason: string): void {
    this.finish('failed', null, reason);
  }

  private finish(state: 'exited' | 'failed', exitStatus: number | null, exitReason: string | null): void {
    if (isFinalState(this.current.state)) return;
    if (this.stopTimer !== null) {
      this.timers.clearTimeout(this.stopTimer);
      this.stopTimer = null;
    }
    this.current = { ...this.current, state, exitStatus, exitReason, exitedAt: new Date(this.timers.now()).toISOString() };
    this.effects.terminate(this.current);
  }

  private update(change: Partial<VmStatus>): void {
    this.current = { ...this.current, ...change };
    this.effects.writeStatus(this.current);
  }
}
