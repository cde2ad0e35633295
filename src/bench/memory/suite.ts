// The memory benchmark: N idle instances of each side (started at once,
// marker seen, then left idle a few seconds), one side at a time so the drop
// in MemAvailable belongs to that side alone. Per instance: the PSS sum of
// its processes, and for the VMMs the split of the VMM process into guest RAM
// and the VMM's own overhead. Per side: the MemAvailable drop divided by N.
// Everything is stopped before the next side starts, and on any way out.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Progress } from '../progress.js';
import type { BenchSide, SideName } from '../sides/side.js';
import { outputTail } from '../sides/process-instance.js';
import { InstanceRegistry } from '../sides/teardown.js';
import { cpuPercent, sumCpuTicks } from './proc-cpu.js';
import { commandName, memAvailableKiB, pssKiB, readVmmOverhead, type VmmOverhead } from './proc-memory.js';

/** Idle time after the last marker before measuring: lets boot-time allocations settle (page cache, freed init memory). */
export const IDLE_SETTLE_MS = 3_000;
/** Pause after stopping a side's instances before the next side's "before": freed memory shows in MemAvailable at once, but exiting processes take a moment. */
const AFTER_STOP_MS = 1_000;
/**
 * Window over which an idle instance's host CPU time is read, after the
 * settle time: long enough for once-a-second guest and VMM timers to show
 * (USER_HZ gives 10 ms steps, 1 % of a core over it is 10 ticks).
 */
export const IDLE_CPU_WINDOW_MS = 10_000;

export interface ProcessMemory {
  pid: number;
  command: string;
  pssKiB: number;
}

export interface InstanceMemory {
  id: string;
  /** Sum of the PSS of the instance's processes. */
  pssKiB: number;
  processes: ProcessMemory[];
  /** VMM sides: the VMM process split into guest RAM and its own overhead. */
  vmm?: VmmOverhead;
  /** Host CPU of the instance's processes over the idle window, percent of one core. */
  idleCpuPercent: number;
}

export interface SideMemory {
  side: SideName;
  label: string;
  count: number;
  instances: InstanceMemory[];
  memAvailableBeforeKiB: number;
  memAvailableAfterKiB: number;
  /** (before − after) / count. */
  memAvailableDropPerInstanceKiB: number;
}

export interface MemoryPlan {
  sides: readonly BenchSide[];
  count: number;
  progress?: Progress;
  idleMs?: number;
  idleCpuWindowMs?: number;
}

function measureInstance(instance: ReturnType<BenchSide['start']>, idleCpuPercent: number): InstanceMemory {
  const processes: ProcessMemory[] = [];
  for (const pid of instance.pids()) {
    const pss = pssKiB(pid);
    if (pss !== undefined) processes.push({ pid, command: commandName(pid), pssKiB: pss });
  }
  if (processes.length === 0) throw new Error(`${instance.side} instance ${instance.id} has no processes left to measure`);
  const result: InstanceMemory = { id: instance.id, pssKiB: processes.reduce((t, p) => t + p.pssKiB, 0), processes, idleCpuPercent };
  if (instance.vmm) {
    const overhead = readVmmOverhead(instance.vmm.pid, instance.vmm.guestMemoryBytes);
    if (overhead) result.vmm = overhead;
  }
  return result;
}

async function measureSide(side: BenchSide, plan: MemoryPlan, registry: InstanceRegistry): Promise<SideMemory> {
  const before = memAvailableKiB();
  const instances = Array.from({ length: plan.count }, (_, k) =>
    registry.add(side.start(`mem-${side.name}-${process.pid}-${k}`, { workload: 'idle' })),
  );
  try {
    plan.progress?.show(`${side.label}: starting ${plan.count}`);
    await Promise.all(
      instances.map(async (i) => {
        await i.markerAt;
        plan.progress?.step(`${side.label}: idle instances up`);
      }),
    );
    plan.progress?.show(`${side.label}: idle ${Math.round((plan.idleMs ?? IDLE_SETTLE_MS) / 1000)} s`);
    await sleep(plan.idleMs ?? IDLE_SETTLE_MS);
    const windowMs = plan.idleCpuWindowMs ?? IDLE_CPU_WINDOW_MS;
    plan.progress?.show(`${side.label}: idle CPU over ${Math.round(windowMs / 1000)} s`);
    const cpuBefore = instances.map((i) => ({ ticks: sumCpuTicks(i.pids()), at: performance.now() }));
    await sleep(windowMs);
    const idleCpu = instances.map((i, k) => cpuPercent(cpuBefore[k]!.ticks, sumCpuTicks(i.pids()), performance.now() - cpuBefore[k]!.at));
    const measured = instances.map((i, k) => measureInstance(i, idleCpu[k]!));
    const after = memAvailableKiB();
    for (const i of instances) {
      // An idle instance that ended by itself was not idle: its numbers would be too small.
      if (i.pids().length === 0) throw new Error(`${side.label} instance ${i.id} ended while idle: ${outputTail(i.output())}`);
    }
    return {
      side: side.name,
      label: side.label,
      count: plan.count,
      instances: measured,
      memAvailableBeforeKiB: before,
      memAvailableAfterKiB: after,
      memAvailableDropPerInstanceKiB: (before - after) / plan.count,
    };
  } finally {
    plan.progress?.show(`${side.label}: stopping`);
    await Promise.all(instances.map((i) => i.stop()));
    await sleep(AFTER_STOP_MS);
  }
}

export async function runMemoryBench(plan: MemoryPlan): Promise<SideMemory[]> {
  const registry = new InstanceRegistry((text) => process.stderr.write(`\nmvm bench: ${text}\n`));
  const results: SideMemory[] = [];
  try {
    for (const side of plan.sides) results.push(await measureSide(side, plan, registry));
  } finally {
    await registry.dispose();
    plan.progress?.clear();
  }
  return results;
}
