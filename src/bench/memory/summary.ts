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
  /** VMMs: resident guest RAM (what the idle guest has touched), MiB. */
  guestRssMiB?: Summary;
  raw: SideMemory;
}

export interface MemoryResult {
  environment: BenchEnvironment;
  count: number;
  guestMemoryMiB: number;
  idleMs: number;
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
    raw,
  };
  const vmm = raw.instances.map((i) => i.vmm);
  if (vmm.length > 0 && vmm.every((v) => v !== undefined)) {
    summary.vmmOverheadRssMiB = summarize(vmm.map((v) => mib(v!.overheadRssKiB)));
    summary.guestRssMiB = summarize(vmm.map((v) => mib(v!.guestRssKiB)));
  }
  return summary;
}

export function formatMemoryResult(result: MemoryResult): string {
  const cells = result.sides.map((s) => [
    s.label,
    String(s.count),
    formatNumber(s.pssMiB.median),
    formatNumber(s.pssMiB.p99),
    formatNumber(s.memAvailableDropPerInstanceMiB),
    s.vmmOverheadRssMiB ? formatNumber(s.vmmOverheadRssMiB.median) : '–',
    s.guestRssMiB ? formatNumber(s.guestRssMiB.median) : '–',
  ]);
  const lines = [
    `memory: ${result.count} idle instance(s) per side (marker seen, then ${Math.round(result.idleMs / 1000)} s idle), ${result.environment.description}`,
    '',
    alignColumns(['MiB per instance', 'n', 'PSS p50', 'PSS p99', 'MemAvailable drop', 'VMM overhead RSS p50', 'guest RAM resident p50'], cells),
    '',
    `PSS: all of an instance's processes (runc: \`runc run\` and the container's); MemAvailable drop: /proc/meminfo before − after, ÷ n.`,
    `VMM overhead: RSS of the VMM process's mappings other than its ${result.guestMemoryMiB} MiB guest RAM (Firecracker's "non-guest mappings").`,
  ];
  for (const s of result.skipped) lines.push(`skipped ${s.side}: ${s.reason}`);
  return lines.join('\n');
}
