// The VM-exit round trip's rows in `mvm bench boot`'s table, labelled with
// where the loop ran, so the printed table and the JSON say the same thing.
import type { ReportRow } from '../harness-report.js';
import type { ExitLoopResult } from '../exit-loop/suite.js';

const placeName = (where: 'host' | 'helper') => (where === 'helper' ? 'in helper VM' : 'on host');

export function exitLoopRows(result: ExitLoopResult): ReportRow[] {
  const where = placeName(result.where);
  return [
    { label: `VM exit round trip, C (${where})`, unit: 'µs', summary: result.c },
    { label: `VM exit round trip, koffi (${where})`, unit: 'µs', summary: result.koffi },
  ];
}
