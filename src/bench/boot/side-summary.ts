// The boot benchmark's result from the raw samples: p50/p90/p99 per side for
// spawn → marker and spawn → exit, ratios of medians between every pair of
// sides, and for mvm the breakdown of its boot. This is the JSON `mvm bench
// boot` writes (images/out/bench/boot.json), raw samples included for charts.
import { ratioOfMedians, summarize, type Summary } from '../stats.js';
import type { BenchEnvironment } from '../sides/environment.js';
import type { SideName } from '../sides/side.js';
import type { MvmTiming } from './contenders.js';
import type { SideBoot, SideBootSamples } from './side-boots.js';

export interface SideBootSummary {
  side: SideName;
  label: string;
  /** Spawn → the init's marker on the console / stdout. */
  markerMs: Summary;
  /** Spawn → the process has exited (the instance is gone). */
  exitMs: Summary;
}

/**
 * mvm's boot in its parts, medians in ms: Node start + module loading
 * (`mvm run --help`), VMM setup (action start → first KVM_RUN), kernel up to
 * the init's first command (first KVM_RUN → boot-complete signal), and what is
 * left up to the marker (init → busybox init → session → echo → console; an
 * estimate: spawn → marker minus the other three medians).
 */
export interface MvmBootBreakdown {
  nodeAndModulesMs: Summary;
  vmmSetupMs: Summary;
  kernelToInitMs: Summary;
  initToMarkerMs: number;
  /** Action start → VM stopped (mvm's own `ran`). */
  actionToStopMs?: Summary;
}

export interface Ratio {
  label: string;
  value: number;
  goal?: string;
}

export interface BootSidesResult {
  environment: BenchEnvironment;
  kernelCmdline: string;
  runs: number;
  parallel: number;
  sides: SideBootSummary[];
  skipped: Array<{ side: SideName; reason: string }>;
  mvmBreakdown?: MvmBootBreakdown;
  ratios: Ratio[];
  /** Every timed instance, per side, for distributions. */
  samples: Partial<Record<SideName, SideBoot[]>>;
}

function timingSummary(boots: readonly SideBoot[], key: keyof MvmTiming): Summary | undefined {
  const values = boots.map((b) => b.timing?.[key]);
  return values.length > 0 && values.every((v): v is number => v !== undefined) ? summarize(values) : undefined;
}

function mvmBreakdown(boots: readonly SideBoot[], cliLoadMs: readonly number[], marker: Summary): MvmBootBreakdown | undefined {
  const vmmSetupMs = timingSummary(boots, 'vmmSetupMs');
  const kernelToInitMs = timingSummary(boots, 'kernelInitMs');
  if (!vmmSetupMs || !kernelToInitMs || cliLoadMs.length === 0) return undefined;
  const nodeAndModulesMs = summarize(cliLoadMs);
  const breakdown: MvmBootBreakdown = {
    nodeAndModulesMs,
    vmmSetupMs,
    kernelToInitMs,
    initToMarkerMs: marker.median - nodeAndModulesMs.median - vmmSetupMs.median - kernelToInitMs.median,
  };
  const ran = timingSummary(boots, 'ranMs');
  if (ran) breakdown.actionToStopMs = ran;
  return breakdown;
}

export interface SummaryInput {
  environment: BenchEnvironment;
  kernelCmdline: string;
  runs: number;
  parallel: number;
  labels: ReadonlyArray<{ side: SideName; label: string }>;
  skipped: Array<{ side: SideName; reason: string }>;
  samples: SideBootSamples;
}

/** The goals for spawn → marker between two sides (a restore: faster than runc, a tenth of QEMU's cold boot). */
const BOOT_GOALS: Readonly<Record<string, string>> = { 'mvm/qemu': '≤ 0.5', 'mvm-restore/qemu': '≤ 0.1', 'mvm-restore/runc': '< 1' };

export function summarizeSideBoots(input: SummaryInput): BootSidesResult {
  const sides: SideBootSummary[] = [];
  for (const { side, label } of input.labels) {
    const boots = input.samples.boots[side];
    if (!boots || boots.length === 0) continue;
    sides.push({ side, label, markerMs: summarize(boots.map((b) => b.markerMs)), exitMs: summarize(boots.map((b) => b.exitMs)) });
  }
  const ratios: Ratio[] = [];
  for (let i = 0; i < sides.length; i++) {
    for (let j = i + 1; j < sides.length; j++) {
      const a = sides[i]!;
      const b = sides[j]!;
      const goal = BOOT_GOALS[`${a.side}/${b.side}`];
      ratios.push({ label: `spawn → marker, ${a.label} / ${b.label}`, value: ratioOfMedians(a.markerMs, b.markerMs), ...(goal ? { goal } : {}) });
      ratios.push({ label: `spawn → exit, ${a.label} / ${b.label}`, value: ratioOfMedians(a.exitMs, b.exitMs) });
    }
  }
  const result: BootSidesResult = {
    environment: input.environment,
    kernelCmdline: input.kernelCmdline,
    runs: input.runs,
    parallel: input.parallel,
    sides,
    skipped: input.skipped,
    ratios,
    samples: input.samples.boots,
  };
  const mvm = sides.find((s) => s.side === 'mvm');
  const mvmBoots = input.samples.boots.mvm;
  if (mvm && mvmBoots) {
    const breakdown = mvmBreakdown(mvmBoots, input.samples.cliLoadMs, mvm.markerMs);
    if (breakdown) result.mvmBreakdown = breakdown;
  }
  return result;
}
