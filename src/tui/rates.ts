// Turns two successive /stats samples of one VM into per-second rates. The
// API reports cumulative counters (like /proc); what a dashboard shows is how
// fast they grow. Time is the VMM's own sample timestamp, so a slow poll
// (a busy host, a wedged neighbour) stretches the interval, not the rate.
import type { VmStats } from '../api/schema.js';

export interface VmRates {
  /** CPU time of the VMM process per wall time, in percent of one core (two busy vCPUs → 200). */
  readonly cpuPercent: number;
  readonly exitsPerSecond: number;
  readonly diskReadBytesPerSecond: number;
  readonly diskWriteBytesPerSecond: number;
  readonly netRxBytesPerSecond: number;
  readonly netTxBytesPerSecond: number;
}

const MICROSECONDS_PER_MILLISECOND = 1000;
const MILLISECONDS_PER_SECOND = 1000;
const PERCENT = 100;

/** The totals a rate is taken over: CPU time and the sums over every disk and NIC. */
interface Totals {
  readonly cpuUs: number;
  readonly exits: number;
  readonly diskRead: number;
  readonly diskWrite: number;
  readonly netRx: number;
  readonly netTx: number;
}

function totals(stats: VmStats): Totals {
  let diskRead = 0,
    diskWrite = 0,
    netRx = 0,
    netTx = 0;
  for (const disk of stats.disks) {
    diskRead += disk.readBytes;
    diskWrite += disk.writeBytes;
  }
  for (const net of stats.nets) {
    netRx += net.rxBytes;
    netTx += net.txBytes;
  }
  return { cpuUs: stats.cpu.userUs + stats.cpu.systemUs, exits: stats.exits.total, diskRead, diskWrite, netRx, netTx };
}

/**
 * Rates between `previous` and `current`, or null when there is no honest
 * answer: the same sample twice (no time passed), or a counter that went
 * backwards — a new VMM behind the same name (removed and started again
 * between two polls) or a device that went away. The caller then keeps
 * `current` as the new baseline, and the next sample gives rates again.
 */
export function computeRates(previous: VmStats, current: VmStats): VmRates | null {
  const elapsedMs = current.timestamp - previous.timestamp;
  if (!(elapsedMs > 0) || current.uptimeMs < previous.uptimeMs) return null;
  const before = totals(previous);
  const after = totals(current);
  const keys = Object.keys(after) as (keyof Totals)[];
  if (keys.some((key) => after[key] < before[key])) return null;
  const perSecond = (key: keyof Totals): number => ((after[key] - before[key]) * MILLISECONDS_PER_SECOND) / elapsedMs;
  return {
    cpuPercent: ((after.cpuUs - before.cpuUs) / (elapsedMs * MICROSECONDS_PER_MILLISECOND)) * PERCENT,
    exitsPerSecond: perSecond('exits'),
    diskReadBytesPerSecond: perSecond('diskRead'),
    diskWriteBytesPerSecond: perSecond('diskWrite'),
    netRxBytesPerSecond: perSecond('netRx'),
    netTxBytesPerSecond: perSecond('netTx'),
  };
}
