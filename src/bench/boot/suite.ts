// The boot benchmark, driven from the machine mvm is run on: measure.ts where
// Linux guests can run (inside the helper VM on hosts like PVM), plus, on such
// hosts, `mvm run` from here as users run it (forwarded to the helper's warm
// mvm process). Summaries are medians with p90 and min–max; ratios are of
// medians from this one run.
import { fileURLToPath } from 'node:url';
import { inHelper, requireMarker, linuxGuestLocation, runForResult, timeProcess } from '../harness.js';
import { ratioOfMedians, summarize, type Summary } from '../stats.js';
import { BENCH_MARKER, benchCmdline, mvmRunArgs, parseMvmTiming, type GuestFiles, type MvmTiming } from './contenders.js';
import { parseBootSamples, type BootRun } from './samples.js';

const MEASURE = fileURLToPath(new URL('./measure.js', import.meta.url));
/** Generous per boot: under the helper's software-emulated CPU, on a shared machine, one boot can take 20 s. */
const LIMIT_PER_BOOT_MS = 60_000;
/** Beyond the boots: Node starting inside the helper, `mvm run --help` samples. */
const MEASURE_OVERHEAD_MS = 120_000;

/** What `mvm helper exec` says when the helper VM went away under it. */
const HELPER_LOST = /lost the connection to the helper VM/;

export interface BootPlan {
  runs: number;
  files: GuestFiles;
}

type TimingSummaries = Partial<Record<keyof MvmTiming, Summary>>;

export interface MvmBootSummary extends TimingSummaries {
  wallMs: Summary;
  markerMs: Summary;
}

export interface BootResult {
  /** Where the cold boots ran: 'helper' = inside the helper VM (nested KVM under software emulation). */
  location: 'host' | 'helper';
  kernelCmdline: string;
  /** `mvm run` as a fresh process each time, next to the QEMU boots. */
  mvm: MvmBootSummary;
  qemuMicrovm: { wallMs: Summary; markerMs: Summary };
  /** `mvm run --help`: Node start + loading run's modules, the part of a cold `mvm run` before its action starts. */
  cliLoadMs: Summary;
  /** Only with the helper: `mvm run` started on this host, served by the helper's already-running mvm process. */
  mvmFromHost?: MvmBootSummary;
  /** From-host runs discarded because they carried another request's output (see bootFromHost). */
  mvmFromHostForeignRuns?: number;
  /** Why the from-host boots could not be measured (the rest of the result still stands). */
  mvmFromHostError?: string;
  /**
   * The VMM's own share from process start: Node start + module loading
   * (`mvm run --help`, median) plus VMM setup (action start → first KVM_RUN,
   * median). A sum of medians, so an estimate; mvm's --timing starts at its action.
   */
  processStartToFirstKvmRunMs?: number;
  ratios: Array<{ label: string; value: number; goal?: string }>;
}

function summarizeMvm(runs: ReadonlyArray<BootRun & MvmTiming>): MvmBootSummary {
  const result: MvmBootSummary = { wallMs: summarize(runs.map((r) => r.wallMs)), markerMs: summarize(runs.map((r) => r.markerMs)) };
  for (const key of ['bootToUserspaceMs', 'vmmSetupMs', 'kernelInitMs', 'ranMs'] as const) {
    const values = runs.map((r) => r[key]);
    if (values.every((v): v is number => v !== undefined)) result[key] = summarize(values);
  }
  return result;
}

/**
 * A from-host run that printed neither the marker nor a --timing line carried
 * some other request's output, not this one's: the helper daemon can hand one
 * warm mvm process to two requests that arrive together (reported against
 * src/helper/spare-pool.ts). Such runs are discarded and counted, up to this many.
 */
const MAX_FOREIGN_RUNS = 5;

/** `mvm run` from this host, which forwards it to the helper VM: the path users take here. */
async function bootFromHost(plan: BootPlan): Promise<{ summary: MvmBootSummary; foreignRuns: number }> {
  const runs: Array<BootRun & MvmTiming> = [];
  let foreignRuns = 0;
  // One untimed boot first: the helper's warm process may still be starting.
  for (let i = 0; i <= plan.runs;) {
    const run = await timeProcess(process.execPath, mvmRunArgs(plan.files), { marker: BENCH_MARKER, limitMs: LIMIT_PER_BOOT_MS * 2 });
    const timing = parseMvmTiming(run.stderr);
    if (run.markerMs === undefined && timing.ranMs === undefined && foreignRuns < MAX_FOREIGN_RUNS) {
      foreignRuns++;
      continue;
    }
    const checked = requireMarker('mvm run (from the host, through the helper)', run);
    if (i > 0) runs.push({ wallMs: checked.wallMs, markerMs: checked.markerMs, ...timing });
    i++;
  }
  return { summary: summarizeMvm(runs), foreignRuns };
}

export async function runBootSuite(plan: BootPlan): Promise<BootResult> {
  const location = linuxGuestLocation();
  const measureArgs = [MEASURE, '--runs', String(plan.runs), '--kernel', plan.files.kernel, '--initrd', plan.files.initrd];
  const [command, args] = location === 'helper' ? inHelper(process.execPath, measureArgs) : [process.execPath, measureArgs];
  const limit = (plan.runs + 1) * 2 * LIMIT_PER_BOOT_MS + MEASURE_OVERHEAD_MS;
  const measure = () => runForResult(`boot measurement (${location})`, command, args, limit);
  let output: string;
  try {
    output = await measure();
  } catch (err) {
    // Someone else stopping or restarting the shared helper VM ends the measurement; one more try, then give up.
    if (location !== 'helper' || !HELPER_LOST.test(String(err))) throw err;
    output = await measure();
  }
  const samples = parseBootSamples(output);

  const mvm = summarizeMvm(samples.mvm);
  const qemuMicrovm = { wallMs: summarize(samples.qemu.map((r) => r.wallMs)), markerMs: summarize(samples.qemu.map((r) => r.markerMs)) };
  const result: BootResult = {
    location, kernelCmdline: benchCmdline(), mvm, qemuMicrovm, cliLoadMs: summarize(samples.cliLoadMs), ratios: [],
  };
  if (mvm.vmmSetupMs) result.processStartToFirstKvmRunMs = result.cliLoadMs.median + mvm.vmmSetupMs.median;
  result.ratios.push(
    { label: 'boot to marker, process spawn → guest marker, mvm/QEMU', value: ratioOfMedians(mvm.markerMs, qemuMicrovm.markerMs), goal: '≤ 0.5' },
    { label: 'whole process, spawn → exit, mvm/QEMU', value: ratioOfMedians(mvm.wallMs, qemuMicrovm.wallMs) },
  );
  if (mvm.ranMs) {
    result.ratios.push({ label: 'mvm without Node start (action → VM stop) / QEMU spawn → exit', value: ratioOfMedians(mvm.ranMs, qemuMicrovm.wallMs) });
  }
  if (location === 'helper') {
    try {
      const fromHost = await bootFromHost(plan);
      result.mvmFromHost = fromHost.summary;
      result.mvmFromHostForeignRuns = fromHost.foreignRuns;
    } catch (err) {
      result.mvmFromHostError = err instanceof Error ? err.message : String(err);
    }
    if (result.mvmFromHost?.ranMs) {
      result.ratios.push({ label: 'mvm from host, warm helper process (action → VM stop) / QEMU spawn → exit', value: ratioOfMedians(result.mvmFromHost.ranMs, qemuMicrovm.wallMs) });
    }
  }
  return result;
}
