// Host CPU time of a process from /proc/PID/stat: utime + stime (fields 14 and
// 15, every thread of the process), in clock ticks of USER_HZ, which Linux
// fixes at 100 per second for user space on x86. The idle-CPU row of the
// memory benchmark reads it before and after a window of idle time.
import * as fs from 'node:fs';

/** USER_HZ: the unit of /proc/PID/stat's times on Linux x86. */
export const CLOCK_TICKS_PER_SECOND = 100;

/** utime + stime from the text of /proc/PID/stat, in clock ticks. */
export function parseCpuTicks(stat: string): number {
  // The command name (field 2) is in parentheses and may hold spaces or ')':
  // the fields after it start after the last ')'.
  const close = stat.lastIndexOf(')');
  if (close < 0) throw new Error(`malformed /proc/PID/stat: ${stat.slice(0, 80)}`);
  const after = stat
    .slice(close + 1)
    .trim()
    .split(/\s+/);
  // after[0] is field 3 (state): utime is field 14, stime field 15.
  const utime = Number(after[11]);
  const stime = Number(after[12]);
  if (!Number.isSafeInteger(utime) || !Number.isSafeInteger(stime)) throw new Error(`malformed /proc/PID/stat: ${stat.slice(0, 80)}`);
  return utime + stime;
}

/** The process's CPU time so far in clock ticks, or undefined once it is gone. */
export function cpuTicks(pid: number): number | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  return parseCpuTicks(text);
}

/** The sum over `pids` of their CPU time, counting only processes alive at both ends of a window. */
export function sumCpuTicks(pids: readonly number[]): Map<number, number> {
  const ticks = new Map<number, number>();
  for (const pid of pids) {
    const t = cpuTicks(pid);
    if (t !== undefined) ticks.set(pid, t);
  }
  return ticks;
}

/** Percent of one core used between two samples `wallMs` apart (processes in both samples only). */
export function cpuPercent(before: ReadonlyMap<number, number>, after: ReadonlyMap<number, number>, wallMs: number): number {
  if (!(wallMs > 0)) throw new Error(`CPU window must be positive, got ${wallMs} ms`);
  let used = 0;
  for (const [pid, end] of after) {
    const start = before.get(pid);
    if (start !== undefined) used += end - start;
  }
  return (100 * used) / CLOCK_TICKS_PER_SECOND / (wallMs / 1000);
}
