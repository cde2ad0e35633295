// Notices a guest that stopped without telling the VMM, in two ways:
//
// Halted: every vCPU halted with interrupts disabled (or never started), so
// no timer, device or console input can wake it. Linux does exactly this when
// it has no way to power the machine off: `poweroff -f` and `halt -f` end in
// HLT with IF=0 on every CPU, and with the in-kernel irqchip KVM_RUN then
// never returns. An idle guest halts with IF=1 and is never taken for one.
//
// Powered down: the kernel shut its devices down (src/vmm/device-shutdown-watch.ts)
// and is still running SHUTDOWN_GRACE later. A restart resets the machine
// (i8042) and a halt stops every vCPU within milliseconds of the device
// shutdown; only kernel_power_off() without a power-off device (echo o >
// /proc/sysrq-trigger) returns and lets the guest run on. It takes evidence,
// not silence: an exit, or a vCPU found alive, after the grace period - a
// halted guest gives neither, however slow the host.
//
// Cost: nothing on the exit path. Every PERIOD the main thread compares the
// vCPUs' exit counters; only when none moved for a whole period does it ask
// each vCPU thread (src/vmm/halt-probe.ts: one signal, three ioctls), so a
// busy guest costs none. Two rounds in a row must find every vCPU dead, with
// no exit in between, so a vCPU woken by another one's last NMI or IPI
// between two looks is not missed.
//
// An idle guest is found alive round after round (halted with IF=1 between
// timer ticks), and each round is a kick per vCPU: inside the helper VM that
// was most of an idle VM's host CPU. So every round that finds a vCPU alive
// doubles the wait before the next one, up to MAX_BACKOFF_PERIODS; a round
// that finds every vCPU dead is confirmed at once, and the kernel shutting
// its devices down (the way poweroff -f and halt -f begin) starts over at one
// period. A guest that halts for good without either (a panic with panic=0,
// a bare cli; hlt after a long idle time) is seen within MAX_BACKOFF_PERIODS
// plus two rounds.
import type { VerdictValue } from './halt-probe.js';
import { Verdict } from './halt-probe.js';

/** How a guest stopped without telling the VMM. */
export type SilentStop =
  /** Every vCPU halted for good; `afterShutdown`: the kernel had shut its devices down first (halt -f, poweroff -f). */
  | { readonly kind: 'halted'; readonly afterShutdown: boolean }
  /** The kernel shut its devices down and runs on: a power-off with nothing to power off. */
  | { readonly kind: 'powered-down' };

/** One vCPU as the watchdog sees it. */
export interface WatchedVcpu {
  /** Exits that show the guest doing something (port I/O, MMIO, any other); kicks are not counted. */
  activity(): number;
  /** Posts (or repeats) a state request and kicks the vCPU thread; returns the request's number. */
  ask(): number;
  /** The answer to request `request`, or undefined while there is none. */
  answer(request: number): VerdictValue | undefined;
}

export interface WatchdogTimers {
  setInterval(callback: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

const REAL_TIMERS: WatchdogTimers = {
  setInterval: (callback, ms) => {
    const handle = setInterval(callback, ms);
    // The watchdog alone must never keep a process alive.
    handle.unref();
    return handle;
  },
  clearInterval: (handle) => clearInterval(handle as NodeJS.Timeout),
};

/**
 * How often the counters are compared. Detection takes two to four periods
 * after the last exit (a quiet period, then two rounds), which keeps it
 * under about a second and a half even when the main loop is slow.
 */
export const HALT_WATCH_PERIOD_MS = 300;
/** Periods a guest may still run after shutting its devices down before it counts as powered down (1.5 s). */
export const SHUTDOWN_GRACE_PERIODS = 5;
/** The longest wait between two rounds for a guest found alive round after round (2.4 s). */
export const MAX_BACKOFF_PERIODS = 8;

export class HaltWatchdog {
  private timer: unknown = null;
  private lastActivity: number[];
  /** Open requests of the current round, one per vCPU; null between rounds. */
  private round: number[] | null = null;
  /** The tick at which the current round was (last) asked. */
  private roundTick = 0;
  /** The previous round found every vCPU dead, with no exit since. */
  private suspect = false;
  /** onStop was called: the watchdog's work is done for good. */
  private fired = false;
  private ticks = 0;
  /** The tick at which the kernel was seen to have shut its devices down. */
  private shutdownTick: number | null = null;
  /** Periods to wait before the next round: doubled by every round that finds a vCPU alive. */
  private backoff = 1;
  /** No round before this tick. */
  private nextRoundTick = 0;

  constructor(
    private readonly vcpus: readonly WatchedVcpu[],
    /** Called once, when the guest is found stopped. */
    private readonly onStop: (how: SilentStop) => void,
    /** Whether the guest kernel has shut its devices down (latched here once true). */
    private readonly kernelShutDown: () => boolean = () => false,
    private readonly timers: WatchdogTimers = REAL_TIMERS,
    private readonly periodMs = HALT_WATCH_PERIOD_MS,
  ) {
    this.lastActivity = vcpus.map((v) => v.activity());
  }

  start(): void {
    if (this.timer === null) this.timer = this.timers.setInterval(() => this.tick(), this.periodMs);
  }

  stop(): void {
    if (this.timer !== null) this.timers.clearInterval(this.timer);
    this.timer = null;
  }

  /** One period: public so specs can drive it without timers. */
  tick(): void {
    if (this.fired) return;
    this.ticks++;
    if (this.shutdownTick === null && this.kernelShutDown()) {
      this.shutdownTick = this.ticks;
      // The guest is on its way down: look at every period again.
      this.backoff = 1;
      this.nextRoundTick = 0;
    }
    const activity = this.vcpus.map((v) => v.activity());
    const moved = activity.some((count, i) => count !== this.lastActivity[i]);
    this.lastActivity = activity;
    if (moved && this.pastShutdownGrace()) {
      this.fire({ kind: 'powered-down' });
      return;
    }
    if (moved) {
      // The guest did something: whatever the last round found is stale.
      this.round = null;
      this.suspect = false;
      return;
    }
    if (this.round === null) {
      if (this.ticks >= this.nextRoundTick) this.askAll();
      return;
    }
    const answers = this.vcpus.map((v, i) => v.answer(this.round![i]!));
    if (answers.some((a) => a === undefined)) {
      // A thread that has not answered yet (busy, or the kick came between two
      // KVM_RUNs) is asked again; its vCPU counts as alive meanwhile.
      this.askAll();
      this.suspect = false;
      return;
    }
    // Only a round asked after the grace period counts: a vCPU on its way to
    // halting (stopping the others takes up to a second) is alive before it.
    if (this.pastShutdownGrace(this.roundTick) && answers.some((a) => a === Verdict.ALIVE)) {
      this.fire({ kind: 'powered-down' });
      return;
    }
    const dead = allDead(answers as VerdictValue[]);
    if (dead && this.suspect) {
      this.fire({ kind: 'halted', afterShutdown: this.shutdownTick !== null });
      return;
    }
    this.suspect = dead;
    if (dead) {
      this.askAll();
      return;
    }
    // Alive: the round is over; the next one comes after the backoff.
    this.round = null;
    this.nextRoundTick = this.ticks + this.backoff;
    if (this.shutdownTick === null) this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_PERIODS);
  }

  /** The guest still runs although its kernel shut the devices down a grace period ago. */
  private pastShutdownGrace(tick = this.ticks): boolean {
    return this.shutdownTick !== null && tick - this.shutdownTick >= SHUTDOWN_GRACE_PERIODS;
  }

  private askAll(): void {
    this.round = this.vcpus.map((v) => v.ask());
    this.roundTick = this.ticks;
  }

  private fire(how: SilentStop): void {
    this.fired = true;
    this.stop();
    this.onStop(how);
  }
}

/** Every vCPU halted for good or waiting to be started, and at least one halted (a guest nobody started is not "halted"). */
export function allDead(verdicts: readonly VerdictValue[]): boolean {
  return (
    verdicts.length > 0 &&
    verdicts.every((v) => v === Verdict.HALTED_FOR_GOOD || v === Verdict.WAITING_FOR_SIPI) &&
    verdicts.some((v) => v === Verdict.HALTED_FOR_GOOD)
  );
}
