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
/** Beyond the boots: Node starting inside the helper, `mvm --version` samples. */
const MEASURE_OVERHEAD_MS = 120_000;

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
  /** `mvm --version`: Node start + loading mvm's modules, the part of a cold `mvm run` before its action starts. */
  cliLoadMs: Summary;
  /** Only with the helper: `mvm run` started on this host, served by the helper's already-running mvm process. */
  mvmFromHost?: MvmBootSummary;
  /** Why the from-host boots could not be measured (the rest of the result still stands). */
  mvmFromHostError?: string;
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

/** `mvm run` from this host, which forwards it to the helper VM: the path users take here. */
async function bootFromHost(plan: BootPlan): Promise<MvmBootSummary> {
  const runs: Array<BootRun & MvmTiming> = [];
  // Untimed first boot: the helper's warm process may still be starting.
  for (let i = 0; i <= plan.runs; i++) {
    const run = requireMarker('mvm run (from the host, through the helper)',
      await timeProcess(process.execPath, mvmRunArgs(plan.files), { marker: BENCH_MARKER, limitMs: LIMIT_PER_BOOT_MS * 2 }));
    if (i > 0) runs.push({ wallMs: run.wallMs, markerMs: run.markerMs, ...parseMvmTiming(run.stderr) });
  }
  return summarizeMvm(runs);
}

export async function runBootSuite(plan: BootPlan): Promise<BootResult> {
  const location = linuxGuestLocation();
  const measureArgs = [MEASURE, '--runs', String(plan.runs), '--kernel', plan.files.kernel, '--initrd', plan.files.initrd];
  const [command, args] = location === 'helper' ? inHelper(process.execPath, measureArgs) : [process.execPath, measureArgs];
  const limit = (plan.runs + 1) * 2 * LIMIT_PER_BOOT_MS + MEASURE_OVERHEAD_MS;
  const samples = parseBootSamples(await runForResult(`boot measurement (${location})`, command, args, limit));

  const mvm = summarizeMvm(samples.mvm);
  const qemuMicrovm = { wallMs: summarize(samples.qemu.map((r) => r.wallMs)), markerMs: summarize(samples.qemu.map((r) => r.markerMs)) };
  const result: BootResult = {
    location, kernelCmdline: benchCmdline(), mvm, qemuMicrovm, cliLoadMs: summarize(samples.cliLoadMs), ratios: [],
  };
  result.ratios.push(
    { label: 'boot to marker, process spawn → guest marker, mvm/QEMU', value: ratioOfMedians(mvm.markerMs, qemuMicrovm.markerMs), goal: '≤ 0.5' },
    { label: 'whole process, spawn → exit, mvm/QEMU', value: ratioOfMedians(mvm.wallMs, qemuMicrovm.wallMs) },
  );
  if (mvm.ranMs) {
    result.ratios.push({ label: 'mvm without Node start (action → VM stop) / QEMU spawn → exit', value: ratioOfMedians(mvm.ranMs, qemuMicrovm.wallMs) });
  }
  if (location === 'helper') {
    try {
      result.mvmFromHost = await bootFromHost(plan);
    } catch (err) {
      result.mvmFromHostError = err instanceof Error ? err.message : String(err);
    }
    if (result.mvmFromHost?.ranMs) {
      result.ratios.push({ label: 'mvm from host, warm helper process (action → VM stop) / QEMU spawn → exit', value: ratioOfMedians(result.mvmFromHost.ranMs, qemuMicrovm.wallMs) });
    }
  }
  return result;
}
