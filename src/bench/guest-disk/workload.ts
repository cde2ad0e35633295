// What the guest runs in the in-guest disk benchmark, and reading its
// results: firmware/guest-tools/mvm-diskbench on the VM's first disk
// (/dev/vda), sequential 1 MiB and random 4 KiB reads and writes with
// O_DIRECT, each followed (writes) by fdatasync. The same command line runs
// under every VMM, so the requests reaching virtio-blk are the same.

export const WORKLOADS = ['seqwrite', 'seqread', 'randwrite', 'randread'] as const;
export type Workload = (typeof WORKLOADS)[number];

/** The disk as the guest sees it: the only --disk / virtio-blk device. */
export const GUEST_DISK = '/dev/vda';
const MIB = 1024 * 1024;

export interface WorkloadSize {
  /** The image's size; sequential passes and random offsets stay inside it. */
  regionMib: number;
  /** 1 MiB blocks per sequential workload. */
  sequentialBlocks: number;
  /** 4 KiB requests per random workload. */
  randomOps: number;
}

/** The guest's shell script: every workload once, in WORKLOADS order, then a marker. */
export function guestScript(size: WorkloadSize): string {
  const count = (w: Workload) => (w.startsWith('seq') ? size.sequentialBlocks : size.randomOps);
  return ['set -e', ...WORKLOADS.map((w) => `mvm-diskbench ${w} ${GUEST_DISK} ${size.regionMib} ${count(w)}`), `echo ${DONE_MARKER}`].join('; ');
}

/** Printed after the last workload: a run without it did not finish. */
export const DONE_MARKER = 'mvm-guest-disk-done';

export interface WorkloadResult {
  bytes: number;
  ops: number;
  seconds: number;
}

const RESULT_LINE = /^mvm-diskbench (seqwrite|seqread|randwrite|randread) bytes=(\d+) ops=(\d+) ns=(\d+)\s*$/gm;

/** Every workload's line from one guest run's console; throws naming what is missing. */
export function parseGuestOutput(output: string): Record<Workload, WorkloadResult> {
  const found: Partial<Record<Workload, WorkloadResult>> = {};
  for (const m of output.matchAll(RESULT_LINE)) {
    const seconds = Number(m[4]) / 1e9;
    if (seconds > 0) found[m[1] as Workload] = { bytes: Number(m[2]), ops: Number(m[3]), seconds };
  }
  const missing = WORKLOADS.filter((w) => found[w] === undefined);
  if (missing.length > 0) throw new Error(`the guest printed no result for ${missing.join(', ')}`);
  return found as Record<Workload, WorkloadResult>;
}

/** MB/s (10^6 bytes) for sequential workloads, operations/s for random ones: how each is usually quoted. */
export function rateOf(workload: Workload, result: WorkloadResult): number {
  return workload.startsWith('seq') ? result.bytes / 1e6 / result.seconds : result.ops / result.seconds;
}

export function unitOf(workload: Workload): 'MB/s' | 'ops/s' {
  return workload.startsWith('seq') ? 'MB/s' : 'ops/s';
}

export { MIB };
