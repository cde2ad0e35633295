// The common shape of the three "sides" issue #6 compares: mvm (a microVM),
// QEMU microvm (same kernel, initramfs, memory and command line) and runc (an
// OCI container on the same busybox root filesystem). Each side starts an
// instance as one foreground process tree, timed from its spawn, and every
// side ends at the same event: the instance's init writing BENCH_MARKER.
// Boot, memory and density benchmarks drive the sides only through these
// interfaces, so a side is one module (mvm.ts, qemu.ts, runc.ts).
//
// All times are milliseconds on one monotonic clock, performance.now() of the
// benchmark process, so differences between them are durations.

export type SideName = 'mvm' | 'mvm-restore' | 'qemu' | 'runc';

/** What the instance's init runs once it is up. */
export type Workload =
  /** Print the marker and exit: the instance stops by itself (boot benchmark). */
  | 'marker'
  /** Print the marker, then sleep for a long time: an idle instance (memory, density). */
  | 'idle';

export interface StartOptions {
  workload: Workload;
}

export interface InstanceExit {
  /** When the instance's process ended (performance.now() ms). */
  at: number;
  /** Its exit status, null when a signal ended it. */
  status: number | null;
  signal: NodeJS.Signals | null;
}

export interface BenchInstance {
  readonly side: SideName;
  readonly id: string;
  /** performance.now() just before the instance's process was spawned. */
  readonly startedAt: number;
  /**
   * When the marker was first seen on the instance's console/stdout. Rejects
   * (with the end of its output) if the instance ends or fails to start
   * before writing it.
   */
  readonly markerAt: Promise<number>;
  /** Resolves when the instance's process has ended; never rejects (a spawn failure is status null). */
  readonly exited: Promise<InstanceExit>;
  /**
   * The host processes whose memory is the instance's, alive now: the
   * spawned process and all its descendants (for runc: `runc run` and the
   * container's processes; for the VMMs: the VMM process).
   */
  pids(): number[];
  /**
   * For VMMs: the process holding guest RAM and the RAM's size in bytes (its
   * mapping(s) of that size are guest memory, the rest is the VMM's own
   * overhead, as Firecracker measures it). Undefined for containers.
   */
  readonly vmm?: { pid: number; guestMemoryBytes: number };
  /** Everything the instance printed so far (stdout and stderr), for error messages. */
  output(): string;
  /** Ends the instance if it still runs and releases what it holds (container state); resolves once it is gone. Idempotent. */
  stop(): Promise<void>;
}

export interface BenchSide {
  readonly name: SideName;
  /** How tables name the side, e.g. "QEMU microvm". */
  readonly label: string;
  /**
   * Null when this side can run here, else one line saying why not (missing
   * program, no root for runc, no usable KVM); the benchmarks skip it and
   * print the reason. May prepare what the side needs (the OCI bundle, the
   * cgroup mount), once.
   */
  unavailable(): Promise<string | null>;
  /** Spawns one instance; ids must be unique among running instances of a side. */
  start(id: string, options: StartOptions): BenchInstance;
}
