// The memory benchmark's result: per side, per-instance PSS (p50/p90/p99),
// the MemAvailable drop per instance, and for the VMMs their own overhead
// beside guest RAM, in MiB. Raw per-instance figures stay in the JSON.
import { alignColumns, formatNumber } from '../percentile-table.js';
import type { BenchEnvironment } from '../sides/environment.js';
import type { SideName } from '../sides/side.js';
import { summarize, type Summary } from '../stats.js';
import type { SideMemory } from './suite.js';

const KiB_PER_MiB = 1024;

export interface SideMemorySummary {
  side: SideName;
  label: string;
  count: number;
  /** PSS sum of an instance's processes, MiB. */
  pssMiB: Summary;
  /** Drop in MemAvailable over the side's N instances, divided by N, MiB. */
  memAvailableDropPerInstanceMiB: number;
  /** VMMs: RSS of the VMM process's non-guest mappings, MiB. */
  vmmOverheadRssMiB?: Summary;
  /** VMMs: PSS of the VMM process's non-guest mappings (shared libraries divided among their users), MiB. */
  vmmOverheadPssMiB?: Summary;
  /** VMMs: resident guest RAM (what the idle guest has touched), MiB. */
  guestRssMiB?: Summary;
  /** Host CPU of an idle instance's processes, percent of one core (absent from results saved before it was measured). */
  idleCpuPercent?: Summary;
  raw: SideMemory;
}

export interface MemoryResult {
  environment: BenchEnvironment;
  count: number;
  guestMemoryMiB: number;
  idleMs: number;
  /** Absent from results saved before idle CPU was measured. */
  idleCpuWindowMs?: number;
  sides: SideMemorySummary[];
  skipped: Array<{ side: SideName; reason: string }>;
}

const mib = (kib: number) => kib / KiB_PER_MiB;

export function summarizeSideMemory(raw: SideMemory): SideMemorySummary {
  const summary: SideMemorySummary = {
    side: raw.side,
    label: raw.label,
    count: raw.count,
    pssMiB: summarize(raw.instances.map((i) => mib(i.pssKiB))),
    memAvailableDropPerInstanceMiB: mib(raw.memAvailableDropPerInstanceKiB),
    idleCpuPercent: summarize(raw.instances.map((i) => i.idleCpuPercent)),
    raw,
  };
  const vmm = raw.instances.map((i) => i.vmm);
  if (vmm.length > 0 && vmm.every((v) => v !== undefined)) {
    summary.vmmOverheadRssMiB = summarize(vmm.map((v) => mib(v!.overheadRssKiB)));
    summary.vmmOverheadPssMiB = summarize(vmm.map((v) => mib(v!.overheadPssKiB)));
    summary.guestRssMiB = summarize(vmm.map((v) => mib(v!.guestRssKiB)));
  }
  return summary;
}

/** mvm's figure over QEMU microvm's, or undefined when either is missing or QEMU's is zero. */
export function mvmOverQemu(sides: readonly SideMemorySummary[], figure: (s: SideMemorySummary) => number | undefined): number | undefined {
  const mvm = sides.find((s) => s.side === 'mvm');
  const qemu = sides.find((s) => s.side === 'qemu');
  if (!mvm || !qemu) return undefined;
  const a = figure(mvm);
  const b = figure(qemu);
  return a === undefined || b === undefined || b === 0 ? undefined : a / b;
}

/** The goal rows that this benchmark measures, each ratio beside its goal. */
function goalLines(sides: readonly SideMemorySummary[]): string[] {
  const rows: Array<[string, number | undefined]> = [
    ['VMM overhead PSS p50, mvm / QEMU (goal ≤ 1.0×)', mvmOverQemu(sides, (s) => s.vmmOverheadPssMiB?.median)],
    ['VMM overhead RSS p50, mvm / QEMU', mvmOverQemu(sides, (s) => s.vmmOverheadRssMiB?.median)],
    ['idle CPU p50, mvm / QEMU (goal ≤ 1.0×)', mvmOverQemu(sides, (s) => s.idleCpuPercent?.median)],
  ];
  const shown = rows.filter(([, ratio]) => ratio !== undefined);
  return shown.length === 0 ? [] : ['', ...shown.map(([what, ratio]) => `${what}: ${formatNumber(ratio!)}×`)];
}

export function formatMemoryResult(result: MemoryResult): string {
  const cells = result.sides.map((s) => [
    s.label,
    String(s.count),
    formatNumber(s.pssMiB.median),
    formatNumber(s.pssMiB.p99),
    formatNumber(s.memAvailableDropPerInstanceMiB),
    s.vmmOverheadRssMiB ? formatNumber(s.vmmOverheadRssMiB.median) : '–',
    s.vmmOverheadPssMiB ? formatNumber(s.vmmOverheadPssMiB.median) : '–',
    s.guestRssMiB ? formatNumber(s.guestRssMiB.median) : '–',
    s.idleCpuPercent ? formatNumber(s.idleCpuPercent.median) : '–',
  ]);
  const lines = [
    `memory: ${result.count} idle instance(s) per side (marker seen, then ${Math.round(result.idleMs / 1000)} s idle), ${result.environment.description}`,
    '',
    alignColumns(
      [
        'MiB per instance',
        'n',
        'PSS p50',
        'PSS p99',
        'MemAvailable drop',
        'VMM overhead RSS p50',
        'VMM overhead PSS p50',
        'guest RAM resident p50',
        'idle CPU % p50',
      ],
      cells,
    ),
    '',
    `PSS: all of an instance's processes (runc: \`runc run\` and the container's); MemAvailable drop: /proc/meminfo before − after, ÷ n.`,
    `VMM overhead: RSS (and PSS) of the VMM process's mappings other than its ${result.guestMemoryMiB} MiB guest RAM (Firecracker's "non-guest mappings").`,
    `idle CPU: utime + stime of an instance's processes over ${Math.round((result.idleCpuWindowMs ?? 0) / 1000)} s of idle time after that, % of one core.`,
    ...goalLines(result.sides),
  ];
  for (const s of result.skipped) lines.push(`skipped ${s.side}: ${s.reason}`);
  return lines.join('\n');
}
