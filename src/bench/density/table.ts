// The density result as a terminal table: per side, how many instances were
// up, why it stopped, their boot times and what each took of MemAvailable.
import type { DensityResult } from './suite.js';

const MiB = 1024 * 1024;

/** Short names for the stop reasons, as tables show them. */
export const STOP_LABELS = {
  memory: 'MemAvailable < 10 %',
  'boot-time': 'p99 boot doubled',
  cap: 'cap (--max)',
  budget: 'time budget',
  failed: 'an instance failed',
} as const;

export function densityTable(result: DensityResult): string {
  const header = ['', 'instances up', 'stopped by', 'boot p50', 'boot p99', 'MiB each', 'per GiB'];
  const rows = result.sides
    .filter((s) => s.unavailable === undefined)
    .map((s) => [
      s.label,
      String(s.reached),
      s.stop ? STOP_LABELS[s.stop.reason] : '',
      s.bootMs ? `${(s.bootMs.median / 1000).toFixed(2)} s` : '–',
      s.bootMs ? `${(s.bootMs.p99 / 1000).toFixed(2)} s` : '–',
      s.bytesPerInstance !== undefined ? (s.bytesPerInstance / MiB).toFixed(1) : '–',
      s.instancesPerGiB !== undefined ? s.instancesPerGiB.toFixed(1) : '–',
    ]);
  const widths = header.map((h, i) =>
    Math.max(h.length, ...rows.map((r) => r[i]!.length), ...result.sides.map((s) => (i === 0 ? s.label.length : 0))),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  const notes = result.sides.flatMap((s) =>
    s.unavailable !== undefined ? [`${s.label}: not measured: ${s.unavailable}`] : s.stop ? [`${s.label}: ${s.stop.detail}`] : [],
  );
  return [line(header), ...rows.map(line), '', ...notes].join('\n');
}
