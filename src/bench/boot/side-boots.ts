// The boot benchmark's measuring loop over the sides (mvm, QEMU microvm,
// runc), run where they can all run: each instance is a fresh process timed
// from its spawn to its init's marker and to its exit. `parallel` instances of
// a side start at once; the sides take turns batch by batch, starting from a
// different side each time, so slow phases of a shared machine hit all alike.
import { describeFailure, MVM_CLI, timeProcess } from '../harness.js';
import type { Progress } from '../progress.js';
import { outputTail } from '../sides/process-instance.js';
import { InstanceRegistry } from '../sides/teardown.js';
import type { BenchSide, SideName } from '../sides/side.js';
import { parseMvmTiming, type MvmTiming } from './contenders.js';

/** One instance: spawn → marker and spawn → exit, plus mvm's own --timing figures. */
export interface SideBoot {
  markerMs: number;
  exitMs: number;
  timing?: MvmTiming;
}

export interface SideBootPlan {
  sides: readonly BenchSide[];
  runs: number;
  parallel: number;
  /** Untimed boots per side first (default 1): the first read of the kernel, initramfs and runc's root (over 9p in the helper) is no side's cost. */
  warmups?: number;
  progress?: Progress;
}

export interface SideBootSamples {
  boots: Partial<Record<SideName, SideBoot[]>>;
  /** `mvm run --help` wall times: Node start + loading the modules `mvm run` uses (present when mvm was measured). */
  cliLoadMs: number[];
}

/** Node start plus module loading is sampled every this many batches (it costs a Node start: seconds in the helper). */
const CLI_LOAD_EVERY = 2;

const DEFAULT_WARMUPS = 1;

/** Total progress steps for a plan: the untimed boots, the timed ones, and the CLI load samples. */
export function plannedSteps(plan: Pick<SideBootPlan, 'sides' | 'runs' | 'parallel' | 'warmups'>): number {
  const batches = Math.ceil(plan.runs / plan.parallel);
  const cliLoads = plan.sides.some((s) => s.name === 'mvm') ? Math.ceil(batches / CLI_LOAD_EVERY) : 0;
  return plan.sides.length * ((plan.warmups ?? DEFAULT_WARMUPS) + plan.runs) + cliLoads;
}

/** Starts COUNT instances of SIDE at once and waits for all; throws with the first failure. */
async function bootBatch(side: BenchSide, count: number, idPrefix: string, registry: InstanceRegistry): Promise<SideBoot[]> {
  const instances = Array.from({ length: count }, (_, k) => registry.add(side.start(`${idPrefix}-${k}`, { workload: 'marker' })));
  try {
    return await Promise.all(
      instances.map(async (instance) => {
        const markerAt = await instance.markerAt;
        const exit = await instance.exited;
        if (exit.status !== 0) {
          throw new Error(
            `${side.label} instance ${instance.id} ${exit.signal ? `was killed by ${exit.signal}` : `exited with status ${exit.status}`} after its marker: ${outputTail(instance.output())}`,
          );
        }
        const boot: SideBoot = { markerMs: markerAt - instance.startedAt, exitMs: exit.at - instance.startedAt };
        if (side.name === 'mvm') boot.timing = parseMvmTiming(instance.output());
        return boot;
      }),
    );
  } finally {
    await Promise.all(instances.map((i) => i.stop()));
  }
}

async function timeCliLoad(): Promise<number> {
  const run = await timeProcess(process.execPath, [MVM_CLI, 'run', '--help']);
  if (run.status !== 0) throw new Error(describeFailure('mvm run --help', run));
  return run.wallMs;
}

export async function runSideBoots(plan: SideBootPlan): Promise<SideBootSamples> {
  const registry = new InstanceRegistry((text) => process.stderr.write(`\nmvm bench: ${text}\n`));
  const samples: SideBootSamples = { boots: {}, cliLoadMs: [] };
  const tag = `${process.pid}`;
  try {
    for (let w = 0; w < (plan.warmups ?? DEFAULT_WARMUPS); w++) {
      for (const side of plan.sides) {
        plan.progress?.show(`${side.label}: warm-up`);
        await bootBatch(side, 1, `warm-${side.name}-${tag}-${w}`, registry);
        plan.progress?.step(`${side.label}: warm-up`);
      }
    }
    const batches = Math.ceil(plan.runs / plan.parallel);
    for (let b = 0; b < batches; b++) {
      const count = Math.min(plan.parallel, plan.runs - b * plan.parallel);
      for (let s = 0; s < plan.sides.length; s++) {
        const side = plan.sides[(b + s) % plan.sides.length]!;
        plan.progress?.show(`${side.label}: ${count} at once`);
        const boots = await bootBatch(side, count, `boot-${side.name}-${tag}-${b}`, registry);
        samples.boots[side.name] ??= [];
        samples.boots[side.name]!.push(...boots);
        plan.progress?.step(`${side.label}`, count);
      }
      // Interleaved with the boots, so it sees the same load on a shared machine.
      if (plan.sides.some((s) => s.name === 'mvm') && b % CLI_LOAD_EVERY === 0) {
        plan.progress?.show('mvm run --help (Node + modules)');
        samples.cliLoadMs.push(await timeCliLoad());
        plan.progress?.step('mvm run --help');
      }
    }
  } finally {
    await registry.dispose();
    plan.progress?.clear();
  }
  return samples;
}
