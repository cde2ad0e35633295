// What the guest runs in the file-system benchmark, and reading its results:
// firmware/guest-tools/mvm-fsbench in a directory mounted at /bench (the
// share, or an ext4 disk): sequential 1 MiB writes (ending with fsync) and
// reads (after dropping the guest's page cache), then N files of 4 KiB
// created, stat'ed, read and unlinked. The same script runs under every
// contender; only the mount command differs.

export const PHASES = ['seqwrite', 'seqread', 'create', 'stat', 'read', 'unlink'] as const;
export type Phase = (typeof PHASES)[number];

export const GUEST_DIR = '/bench';
/** Printed after the last phase: a run without it did not finish. */
export const DONE_MARKER = 'mvm-guest-fs-done';

export interface FsWorkloadSize {
  /** 1 MiB blocks written, then read back. */
  sequentialMib: number;
  /** 4 KiB files in the small-file phases. */
  smallFiles: number;
}

/** The guest's shell script: mount, every phase once, the marker. */
export function guestScript(mount: string, size: FsWorkloadSize): string {
  return [
    'set -e',
    `mkdir -p ${GUEST_DIR}`,
    mount,
    `mvm-fsbench seqwrite ${GUEST_DIR} ${size.sequentialMib}`,
    `mvm-fsbench seqread ${GUEST_DIR} ${size.sequentialMib}`,
    `rm -f ${GUEST_DIR}/mvm-fsbench.seq`,
    `mvm-fsbench smallfiles ${GUEST_DIR} ${size.smallFiles}`,
    `echo ${DONE_MARKER}`,
  ].join('; ');
}

export interface PhaseResult {
  bytes: number;
  ops: number;
  seconds: number;
}

const RESULT_LINE = /^mvm-fsbench (seqwrite|seqread|create|stat|read|unlink) bytes=(\d+) ops=(\d+) ns=(\d+)\s*$/gm;

/** Every phase's line from one guest run's console; throws naming what is missing. */
export function parseGuestOutput(output: string): Record<Phase, PhaseResult> {
  const found: Partial<Record<Phase, PhaseResult>> = {};
  for (const m of output.matchAll(RESULT_LINE)) {
    const seconds = Number(m[4]) / 1e9;
    if (seconds > 0) found[m[1] as Phase] = { bytes: Number(m[2]), ops: Number(m[3]), seconds };
  }
  const missing = PHASES.filter((p) => found[p] === undefined);
  if (missing.length > 0) throw new Error(`the guest printed no result for ${missing.join(', ')}`);
  return found as Record<Phase, PhaseResult>;
}

/** MB/s (10^6 bytes) for the sequential phases, operations/s for the small-file ones. */
export function rateOf(phase: Phase, result: PhaseResult): number {
  return phase.startsWith('seq') ? result.bytes / 1e6 / result.seconds : result.ops / result.seconds;
}

export function unitOf(phase: Phase): 'MB/s' | 'ops/s' {
  return phase.startsWith('seq') ? 'MB/s' : 'ops/s';
}
