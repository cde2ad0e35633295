// When the density benchmark stops starting instances of a side. Four
// reasons, checked after every instance is up, the machine's own limits
// first, so a cap or a time budget is only named when the machine had not
// already given out:
//   memory     MemAvailable fell below a fraction of MemTotal (10 %);
//   boot-time  p99 boot time over the last WINDOW instances reached twice
//              the p99 of the first WINDOW (the machine is saturated);
//   cap        --max instances are running (a chosen limit, not the machine's);
//   budget     the side's time budget is spent (also a chosen limit).
// An instance that fails to start stops the side too ('failed').
import { percentile } from '../stats.js';

export type StopReason = 'memory' | 'boot-time' | 'cap' | 'budget' | 'failed';

/** Instances on each end of the boot-time comparison: p99 over 5 samples is their slowest, a robust-enough "tail". */
export const BOOT_WINDOW = 5;
/** The slowdown that counts as saturation: p99 boot time doubled. */
export const BOOT_SLOWDOWN_LIMIT = 2;
/** Stop when less than this share of memory is available (the 10 %). */
export const MIN_AVAILABLE_FRACTION = 0.1;
/** The percentile compared. */
const TAIL_PERCENTILE = 99;

export interface StopInputs {
  /** Boot times so far (start → marker), in start order. */
  bootMs: readonly number[];
  memAvailableBytes: number;
  memTotalBytes: number;
  maxInstances: number;
  elapsedMs: number;
  budgetMs: number;
}

export interface StopDecision {
  reason: StopReason;
  /** One line for people: what was seen. */
  detail: string;
}

/** p99 of the first and of the last BOOT_WINDOW boots, once there are two windows' worth; else undefined. */
export function bootTails(bootMs: readonly number[]): { first: number; last: number } | undefined {
  if (bootMs.length < 2 * BOOT_WINDOW) return undefined;
  return { first: percentile(bootMs.slice(0, BOOT_WINDOW), TAIL_PERCENTILE), last: percentile(bootMs.slice(-BOOT_WINDOW), TAIL_PERCENTILE) };
}

/** The reason to stop now, or null to start another instance. */
export function shouldStop(s: StopInputs): StopDecision | null {
  const availableShare = s.memAvailableBytes / s.memTotalBytes;
  if (availableShare < MIN_AVAILABLE_FRACTION) {
    return { reason: 'memory', detail: `MemAvailable ${(availableShare * 100).toFixed(1)} % of MemTotal, below ${MIN_AVAILABLE_FRACTION * 100} %` };
  }
  const tails = bootTails(s.bootMs);
  if (tails && tails.last >= BOOT_SLOWDOWN_LIMIT * tails.first) {
    return {
      reason: 'boot-time',
      detail: `p99 boot of the last ${BOOT_WINDOW} ${Math.round(tails.last)} ms ≥ ${BOOT_SLOWDOWN_LIMIT}× that of the first ${BOOT_WINDOW} (${Math.round(tails.first)} ms)`,
    };
  }
  if (s.bootMs.length >= s.maxInstances) return { reason: 'cap', detail: `--max ${s.maxInstances} reached (a chosen cap, not this machine's limit)` };
  if (s.elapsedMs >= s.budgetMs) {
    return { reason: 'budget', detail: `time budget of ${Math.round(s.budgetMs / 1000)} s spent (a chosen limit, not this machine's)` };
  }
  return null;
}
