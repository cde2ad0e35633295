// Why a jailed VMM ended without writing its final state, from the exit
// status its spawn wrapper (jail-spawn.ts) wrote to vms/NAME/vmm.exit. The
// wrapper's shell writes 128+N for a VMM killed by signal N: a seccomp kill is
// SIGSYS; the kernel's OOM killer and kill -9 are SIGKILL, which unshare
// reports as status 1 (it cannot re-raise SIGKILL on itself).
import { readFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import { VM_FILES } from './vm-dir.js';

const SIGNAL_EXIT_BASE = 128;
/** Exit statuses are 0-255; anything else in the file is not one. */
const MAX_EXIT_STATUS = 255;

export function describeVmmExit(status: number): string {
  const signal = status > SIGNAL_EXIT_BASE ? status - SIGNAL_EXIT_BASE : 0;
  if (signal === osConstants.signals.SIGSYS) return 'VMM killed by its seccomp filter (SIGSYS: a system call outside its allow-list; see vmm.log)';
  if (signal === osConstants.signals.SIGKILL) return 'VMM killed (SIGKILL: out of memory under its limit, or kill -9)';
  if (signal > 0) return `VMM killed by signal ${signal}`;
  // unshare(1) cannot re-raise SIGKILL on itself (it exits 1 saying "sigprocmask unblock failed"): a plain status may be a kill -9 too.
  return `VMM process gone (status ${status}, no final state)`;
}

/** The reason in `dir`'s vmm.exit, or null when there is none (or it does not hold an exit status). */
export function vmmExitReason(dir: string): string | null {
  let text: string;
  try {
    text = readFileSync(join(dir, VM_FILES.vmmExit), 'utf8').trim();
  } catch {
    return null;
  }
  if (!/^[0-9]{1,3}$/.test(text) || Number(text) > MAX_EXIT_STATUS) return null;
  return describeVmmExit(Number(text));
}
