// Small, made-up results of the five benchmarks in the shapes they write
// (typed by the benchmarks' own result types, so a change of shape fails to
// compile here), for the report specs. The numbers are invented: the specs
// check the report's structure, never these values' realism.
import type { BootFile, DensityFile, DiskFile, GuestDiskFile, MemoryFile } from '../../src/bench/report/inputs.js';
import type { RateSummary } from '../../src/bench/guest-disk/suite.js';
import { WORKLOADS, type Workload } from '../../src/bench/guest-disk/workload.js';
import type { BenchEnvironment } from '../../src/bench/sides/environment.js';
import { summarize } from '../../src/bench/stats.js';

const MiB = 1024 * 1024;
const STARTED = '2026-11-23T23:00:00.000Z';
const FINISHED = '2026-11-23T23:05:00.000Z';

export const HELPER_ENVIRONMENT: BenchEnvironment = {
  where: 'helper',
  description: "inside mvm's helper VM (test fixture)",
  kernelRelease: '6.1.0-test',
  cpus: 2,
  memTotalMiB: 3915,
};

const BOOT_SAMPLES = {
  mvm: [5200, 5600, 6100, 5900, 5400],
  qemu: [1500, 1450, 3400, 1600, 1550],
  runc: [420, 380, 1300, 400, 390],
};

export function bootFixture(): BootFile {
  const sides = (['mvm', 'qemu', 'runc'] as const).map((side) => ({
    side,
    label: side === 'qemu' ? 'QEMU microvm' : side,
    markerMs: summarize(BOOT_SAMPLES[side]),
    exitMs: summarize(BOOT_SAMPLES[side].map((v) => v + 300)),
  }));
  return {
    benchmark: 'boot',
    started: STARTED,
    finished: FINISHED,
    boot: {
      environment: HELPER_ENVIRONMENT,
      kernelCmdline: 'console=hvc0 quiet',
      runs: 5,
      parallel: 1,
      sides,
      skipped: [],
      ratios: [{ label: 'spawn → marker, mvm / QEMU microvm', value: 3.6, goal: '≤ 0.5' }],
      samples: {
        mvm: BOOT_SAMPLES.mvm.map((m) => ({ markerMs: m, exitMs: m + 300 })),
        qemu: BOOT_SAMPLES.qemu.map((m) => ({ markerMs: m, exitMs: m + 300 })),
        runc: BOOT_SAMPLES.runc.map((m) => ({ markerMs: m, exitMs: m + 300 })),
      },
    },
  };
}

export function memoryFixture(): MemoryFile {
  const side = (name: 'mvm' | 'qemu' | 'runc', label: string, pss: number, drop: number, vm: boolean) => ({
    side: name,
    label,
    count: 2,
    pssMiB: summarize([pss, pss + 1]),
    memAvailableDropPerInstanceMiB: drop,
    ...(vm ? { vmmOverheadRssMiB: summarize([40, 41]), guestRssMiB: summarize([25, 26]) } : {}),
    raw: {
      side: name,
      label,
      count: 2,
      instances: [],
      memAvailableBeforeKiB: 3_000_000,
      memAvailableAfterKiB: 2_900_000,
      memAvailableDropPerInstanceKiB: drop * 1024,
    },
  });
  return {
    benchmark: 'memory',
    started: STARTED,
    finished: FINISHED,
    environment: HELPER_ENVIRONMENT,
    count: 2,
    guestMemoryMiB: 256,
    idleMs: 3000,
    sides: [side('mvm', 'mvm', 66, 70, true), side('qemu', 'QEMU microvm', 48, 44, true), side('runc', 'runc', 7, 8, false)],
    skipped: [],
  };
}

export function diskFixture(): DiskFile {
  const kind = (
    k: 'qcow2-overlay' | 'full-copy' | 'sparse-copy' | 'overlayfs',
    before: number,
    after: number,
    shared: number,
    world: 'vm' | 'container',
  ) => {
    const instances = [1, 2].map(() => ({
      cloneMs: 1.5,
      before: { allocatedBytes: before, apparentBytes: before },
      after: { allocatedBytes: after, apparentBytes: after },
      writeMs: 10,
    }));
    return {
      kind: k,
      label: k,
      how: `made as ${k}`,
      world,
      sharedBaseBytes: shared,
      instances,
      cloneMs: summarize([1.5, 1.5]),
      allocatedBefore: summarize([before, before]),
      allocatedAfter: summarize([after, after]),
      totalAllocatedByCount: [shared + after, shared + 2 * after],
    };
  };
  return {
    benchmark: 'disk',
    started: STARTED,
    finished: FINISHED,
    hostname: 'test-host',
    filesystem: 'ext4',
    count: 2,
    writeBytes: 4 * MiB,
    writeVia: 'backend',
    base: {
      qcow2: '/images/rootfs.qcow2',
      virtualBytes: 64 * MiB,
      qcow2Allocated: 3 * MiB,
      rawAllocated: 2.3 * MiB,
      rawApparent: 64 * MiB,
      treeAllocated: 2 * MiB,
    },
    sides: [
      kind('qcow2-overlay', 192 * 1024, 4.7 * MiB, 3 * MiB, 'vm'),
      kind('full-copy', 64 * MiB, 64 * MiB, 0, 'vm'),
      kind('sparse-copy', 2.3 * MiB, 6.3 * MiB, 0, 'vm'),
      kind('overlayfs', 12 * 1024, 4 * MiB, 2 * MiB, 'container'),
    ],
  };
}

export function densityFixture(): DensityFile {
  const side = (name: 'mvm' | 'qemu' | 'runc', label: string, boots: number[], perInstance: number) => ({
    side: name,
    label,
    reached: boots.length,
    stop: { reason: 'cap' as const, detail: `--max ${boots.length} reached (a chosen cap, not this machine's limit)` },
    samples: boots.map((b, i) => ({ bootMs: b, memAvailableBytes: 3e9 - i * perInstance, atMs: (i + 1) * 1000 })),
    bootMs: { ...summarize(boots) },
    memAvailableBeforeBytes: 3e9,
    memAvailableAfterBytes: 3e9 - boots.length * perInstance,
    bytesPerInstance: perInstance,
    instancesPerGiB: 1024 ** 3 / perInstance,
    elapsedMs: 9000,
  });
  return {
    benchmark: 'density',
    started: STARTED,
    finished: FINISHED,
    environment: HELPER_ENVIRONMENT,
    hostname: 'helper',
    memTotalBytes: 3915 * MiB,
    maxInstances: 3,
    budgetSeconds: 150,
    sides: [
      side('mvm', 'mvm', [6000, 5200, 6200], 70 * MiB),
      side('qemu', 'QEMU microvm', [1500, 1400, 1600], 44 * MiB),
      side('runc', 'runc', [400, 350, 380], 8 * MiB),
    ],
  };
}

export function guestDiskFixture(): GuestDiskFile {
  const rates = (seq: number, rand: number): Record<Workload, RateSummary> =>
    Object.fromEntries(
      WORKLOADS.map((w) => [
        w,
        w.startsWith('seq')
          ? { unit: 'MB/s', summary: summarize([seq, seq * 1.1, seq * 0.9]) }
          : { unit: 'ops/s', summary: summarize([rand, rand * 1.1, rand * 0.9]) },
      ]),
    ) as Record<Workload, RateSummary>;
  return {
    benchmark: 'guest-disk',
    started: STARTED,
    finished: FINISHED,
    location: 'helper',
    size: { regionMib: 16, sequentialBlocks: 16, randomOps: 500 },
    rounds: 3,
    imageDir: '/run/x',
    samples: { mvm: { raw: [], qcow2: [] }, qemu: { raw: [], qcow2: [] } },
    rates: { mvm: { raw: rates(30, 270), qcow2: rates(28, 260) }, qemu: { raw: rates(190, 750), qcow2: rates(170, 720) } },
    ratios: [],
  };
}
