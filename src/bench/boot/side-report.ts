// The boot benchmark's printed form: a p50/p90/p99 table per side, mvm's
// breakdown, ratios of medians, the skipped sides and where it all ran.
import { formatRatios } from '../harness-report.js';
import { GUEST_CPUS, GUEST_MEMORY_MIB } from './contenders.js';
import { formatNumber, formatPercentileTable, type PercentileRow } from '../percentile-table.js';
import type { BootSidesResult } from './side-summary.js';

export function bootSideRows(result: BootSidesResult): PercentileRow[] {
  const rows: PercentileRow[] = [];
  for (const s of result.sides) {
    rows.push({ label: `${s.label}: spawn → marker`, unit: 'ms', summary: s.markerMs });
    rows.push({ label: `${s.label}: spawn → exit`, unit: 'ms', summary: s.exitMs });
  }
  const b = result.mvmBreakdown;
  if (b) {
    rows.push({ label: 'mvm: Node + modules (mvm run --help)', unit: 'ms', summary: b.nodeAndModulesMs });
    rows.push({ label: 'mvm: VMM setup (action → first KVM_RUN)', unit: 'ms', summary: b.vmmSetupMs });
    rows.push({ label: 'mvm: kernel (first KVM_RUN → init starts)', unit: 'ms', summary: b.kernelToInitMs });
    if (b.actionToStopMs) rows.push({ label: 'mvm: action → VM stopped', unit: 'ms', summary: b.actionToStopMs });
  }
  return rows;
}

export function formatBootSides(result: BootSidesResult): string {
  const parts = [
    `boot: ${result.runs} instance(s) per side, ${result.parallel} at a time, ${result.environment.description}`,
    '',
    formatPercentileTable(bootSideRows(result)),
  ];
  const b = result.mvmBreakdown;
  if (b) {
    parts.push(
      '',
      `mvm's spawn → marker, medians: Node + modules ${formatNumber(b.nodeAndModulesMs.median)} ms → VMM setup ${formatNumber(b.vmmSetupMs.median)} ms → kernel ${formatNumber(b.kernelToInitMs.median)} ms → init to marker ≈ ${formatNumber(b.initToMarkerMs)} ms (the rest)`,
    );
  }
  if (result.ratios.length > 0) parts.push('', 'ratios of medians:', formatRatios(result.ratios));
  for (const s of result.skipped) parts.push(`skipped ${s.side}: ${s.reason}`);
  parts.push('', `VMs boot the same kernel + initramfs, ${GUEST_CPUS} vCPU, ${GUEST_MEMORY_MIB} MiB, command line:\n  ${result.kernelCmdline}`);
  parts.push(`runc runs that initramfs unpacked as its root, the same /init, the command in MVM_CMD, memory limit ${GUEST_MEMORY_MIB} MiB`);
  return parts.join('\n');
}
