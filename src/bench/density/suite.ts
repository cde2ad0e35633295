// The density benchmark: for each side in turn, keep starting idle instances
// (one at a time, each waiting for its marker) and keep them all running,
// until stop-rule.ts says stop; then record how many were up, why it
// stopped, how much MemAvailable they took, and stop them all before the
// next side starts. Runs where the sides run (inside the helper VM on a PVM
// host: its memory and CPUs are the machine being filled).
import * as os from 'node:os';
import { performance } from 'node:perf_hooks';
import type { BenchEnvironment } from '../sides/environment.js';
import type { BenchInstance, BenchSide, SideName } from '../sides/side.js';
import { percentile, summarize, type Summary } from '../stats.js';
import { readMemInfo } from './meminfo.js';
import { shouldStop, type StopReason } from './stop-rule.js';

/** An instance that has not written its marker after this long counts as failed (the machine is past saturation). */
const INSTANCE_START_LIMIT_MS = 120_000;
/** After the last instance is up, memory is read once more after this pause (guests still settling). */
const SETTLE_MS = 2_000;
/** Between sides, after every instance has gone: the kernel gives back their memory. */
const BETWEEN_SIDES_MS = 2_000;
const GiB = 1024 ** 3;

export interface DensityPlan {
  /** Every side in table order, with null or why it cannot run here (reported, not measured). */
  sides: ReadonlyArray<{ side: BenchSide; unavailable: string | null }>;
  maxInstances: number;
  /** Per side. */
  budgetMs: number;
  progress?: (event: DensityProgress) => void;
  /** The pauses after the last start and between sides (default SETTLE_MS, BETWEEN_SIDES_MS); specs with fake sides use 0. */
  settleMs?: number;
}

/** 'up': one more instance is running; 'done': a side stopped early, `skipped` steps of the cap were never taken; 'note': a line to show. */
export interface DensityProgress {
  kind: 'up' | 'done' | 'note';
  text: string;
  skipped?: number;
}

export interface DensitySample {
  /** Start → marker. */
  bootMs: number;
  /** MemAvailable just after this instance's marker. */
  memAvailableBytes: number;
  /** Since the side's first start. */
  atMs: number;
}

export interface DensitySideResult {
  side: SideName;
  label: string;
  unavailable?: string;
  /** Instances running (marker seen) when it stopped. */
  reached: number;
  stop?: { reason: StopReason; detail: string };
  samples: DensitySample[];
  bootMs?: Summary & { p99: number };
  memAvailableBeforeBytes?: number;
  memAvailableAfterBytes?: number;
  /** MemAvailable taken per running instance (before − after) / reached. */
  bytesPerInstance?: number;
  /** 1 GiB / bytesPerInstance. */
  instancesPerGiB?: number;
  elapsedMs?: number;
}

export interface DensityResult {
  benchmark: 'density';
  started: string;
  finished: string;
  /** Where it ran: inside mvm's helper VM (nested KVM under software emulation) or natively. */
  environment: BenchEnvironment;
  hostname: string;
  memTotalBytes: number;
  maxInstances: number;
  budgetSeconds: number;
  sides: DensitySideResult[];
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Start → marker of INSTANCE, or an error when it fails or takes longer than the limit. */
async function bootTime(instance: BenchInstance): Promise<number> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${instance.side} instance ${instance.id} wrote no marker within ${INSTANCE_START_LIMIT_MS / 1000} s`)),
      INSTANCE_START_LIMIT_MS,
    );
  });
  try {
    return (await Promise.race([instance.markerAt, limit])) - instance.startedAt;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * One instance started and left to exit before the fill: the first start of a
 * side pays cold caches (and runc's one-time rootfs unpack), which would make
 * the "first instances" the boot-time rule compares against look slow.
 */
async function warmUp(side: BenchSide): Promise<void> {
  const instance = side.start(`density-warmup-${process.pid}`, { workload: 'marker' });
  try {
    await bootTime(instance);
  } finally {
    await instance.stop();
  }
}

async function fillWith(side: BenchSide, plan: DensityPlan): Promise<DensitySideResult> {
  plan.progress?.({ kind: 'note', text: `${side.label}: warm-up start (not counted)` });
  try {
    await warmUp(side);
  } catch (err) {
    // A side that cannot start one instance is reported as stopped by that failure, and the other sides still run.
    const detail = `warm-up: ${err instanceof Error ? err.message : String(err)}`;
    plan.progress?.({ kind: 'done', text: `${side.label}: ${detail}`, skipped: plan.maxInstances });
    return { side: side.name, label: side.label, reached: 0, stop: { reason: 'failed', detail }, samples: [] };
  }
  const running: BenchInstance[] = [];
  const samples: DensitySample[] = [];
  const before = readMemInfo();
  const t0 = performance.now();
  let stop: DensitySideResult['stop'];
  try {
    while (stop === undefined) {
      const instance = side.start(`density-${process.pid}-${running.length + 1}`, { workload: 'idle' });
      running.push(instance);
      let bootMs: number;
      try {
        bootMs = await bootTime(instance);
      } catch (err) {
        running.pop();
        await instance.stop();
        stop = { reason: 'failed', detail: err instanceof Error ? err.message : String(err) };
        break;
      }
      const mem = readMemInfo();
      samples.push({ bootMs, memAvailableBytes: mem.availableBytes, atMs: performance.now() - t0 });
      plan.progress?.({
        kind: 'up',
        text: `${side.label}: ${running.length} up, boot ${(bootMs / 1000).toFixed(2)} s, MemAvailable ${Math.round((100 * mem.availableBytes) / mem.totalBytes)} %`,
      });
      stop =
        shouldStop({
          bootMs: samples.map((s) => s.bootMs),
          memAvailableBytes: mem.availableBytes,
          memTotalBytes: mem.totalBytes,
          maxInstances: plan.maxInstances,
          elapsedMs: performance.now() - t0,
          budgetMs: plan.budgetMs,
        }) ?? undefined;
    }
    plan.progress?.({
      kind: 'done',
      text: `${side.label}: ${running.length} up, stopped: ${stop?.detail ?? '?'}`,
      skipped: plan.maxInstances - running.length,
    });
    await sleep(plan.settleMs ?? SETTLE_MS);
    const after = readMemInfo();
    const reached = running.length;
    const taken = before.availableBytes - after.availableBytes;
    const result: DensitySideResult = {
      side: side.name,
      label: side.label,
      reached,
      stop,
      samples,
      elapsedMs: performance.now() - t0,
      memAvailableBeforeBytes: before.availableBytes,
      memAvailableAfterBytes: after.availableBytes,
    };
    if (samples.length > 0) {
      const bootMs = samples.map((s) => s.bootMs);
      result.bootMs = { ...summarize(bootMs), p99: percentile(bootMs, 99) };
    }
    // Other work on the machine can give memory back meanwhile: a non-positive drop says nothing per instance.
    if (reached > 0 && taken > 0) {
      result.bytesPerInstance = taken / reached;
      result.instancesPerGiB = GiB / result.bytesPerInstance;
    }
    return result;
  } finally {
    await Promise.all(running.map((instance) => instance.stop()));
  }
}

export async function runDensitySuite(plan: DensityPlan, environment: BenchEnvironment): Promise<DensityResult> {
  if (!Number.isInteger(plan.maxInstances) || plan.maxInstances < 1) throw new RangeError('the cap must be a whole number of at least 1');
  const started = new Date();
  const sides: DensitySideResult[] = [];
  let measuredOne = false;
  for (const { side, unavailable } of plan.sides) {
    if (unavailable !== null) {
      plan.progress?.({ kind: 'note', text: `${side.label}: not measured (${unavailable})` });
      sides.push({ side: side.name, label: side.label, unavailable, reached: 0, samples: [] });
      continue;
    }
    if (measuredOne) await sleep(plan.settleMs ?? BETWEEN_SIDES_MS);
    measuredOne = true;
    sides.push(await fillWith(side, plan));
  }
  return {
    benchmark: 'density',
    started: started.toISOString(),
    finished: new Date().toISOString(),
    environment,
    hostname: os.hostname(),
    memTotalBytes: readMemInfo().totalBytes,
    maxInstances: plan.maxInstances,
    budgetSeconds: plan.budgetMs / 1000,
    sides,
  };
}
