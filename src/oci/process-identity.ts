// A host process named by pid and start time, so that a pid recorded earlier
// is never mistaken for a later process that got the same number.
import { readFileSync } from 'node:fs';

/** Field 22 of /proc/PID/stat (start time in clock ticks), or undefined when there is no such process. */
export function processStartTicks(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may hold spaces: count from the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const state = fields[0];
  if (state === 'Z' || state === 'X') return undefined; // exited, not yet reaped by its parent
  const ticks = Number(fields[19]);
  return Number.isInteger(ticks) ? ticks : undefined;
}

/** True while the process that had `startTicks` when recorded is still running. */
export function isSameProcessAlive(pid: number, startTicks: number): boolean {
  return processStartTicks(pid) === startTicks;
}
