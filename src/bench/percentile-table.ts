// The side-by-side benchmarks' table: p50, p90 and p99 per row (the issue
// asks for tails, not only medians), min–max, columns aligned.
import type { Summary } from './stats.js';

export interface PercentileRow {
  label: string;
  unit: string;
  summary: Summary;
}

export function formatNumber(value: number): string {
  const abs = Math.abs(value);
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

/** Aligned text columns: the first left-aligned, the rest right-aligned. */
export function alignColumns(header: readonly string[], cells: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? '').length)));
  const line = (c: readonly string[]) =>
    c
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...cells.map(line)].join('\n');
}

export function formatPercentileTable(rows: readonly PercentileRow[]): string {
  const cells = rows.map((r) => [
    r.label,
    r.unit,
    String(r.summary.n),
    formatNumber(r.summary.median),
    formatNumber(r.summary.p90),
    formatNumber(r.summary.p99),
    `${formatNumber(r.summary.min)}–${formatNumber(r.summary.max)}`,
  ]);
  return alignColumns(['', 'unit', 'n', 'p50', 'p90', 'p99', 'min–max'], cells);
}
