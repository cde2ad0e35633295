// The boot benchmark's table: one row per measured quantity, labelled with
// where it ran, so the printed table and the JSON say the same thing.
import type { ReportRow } from '../harness-report.js';
import type { ExitLoopResult } from '../exit-loop/suite.js';
import type { BootResult, MvmBootSummary } from './suite.js';

const placeName = (where: 'host' | 'helper') => (where === 'helper' ? 'in helper VM' : 'on host');

export function exitLoopRows(result: ExitLoopResult): ReportRow[] {
  const where = placeName(result.where);
  return [
    { label: `VM exit round trip, C (${where})`, unit: 'µs', summary: result.c },
    { label: `VM exit round trip, koffi (${where})`, unit: 'µs', summary: result.koffi },
  ];
}

function mvmRows(title: string, s: MvmBootSummary): ReportRow[] {
  const rows: ReportRow[] = [
    { label: `${title}: spawn → guest marker`, unit: 'ms', summary: s.markerMs },
    { label: `${title}: spawn → exit`, unit: 'ms', summary: s.wallMs },
  ];
  const timing: Array<[keyof MvmBootSummary, string]> = [
    ['bootToUserspaceMs', 'action start → boot-complete'],
    ['vmmSetupMs', 'VMM setup (action start → first KVM_RUN)'],
    ['kernelInitMs', 'kernel + init (first KVM_RUN → boot-complete)'],
    ['ranMs', 'action start → VM stopped'],
  ];
  for (const [key, label] of timing) {
    const summary = s[key];
    if (summary) rows.push({ label: `${title}: ${label}`, unit: 'ms', summary });
  }
  return rows;
}

export function bootRows(result: BootResult): ReportRow[] {
  const where = placeName(result.location);
  return [
    ...mvmRows(`mvm run, fresh process (${where})`, result.mvm),
    { label: `mvm run --help, Node + run's modules (${where})`, unit: 'ms', summary: result.cliLoadMs },
    { label: `QEMU microvm (${where}): spawn → guest marker`, unit: 'ms', summary: result.qemuMicrovm.markerMs },
    { label: `QEMU microvm (${where}): spawn → exit`, unit: 'ms', summary: result.qemuMicrovm.wallMs },
    ...(result.mvmFromHost ? mvmRows('mvm run from host via helper', result.mvmFromHost) : []),
  ];
}
