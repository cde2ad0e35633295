// Printing a benchmark's results as an aligned table and saving them as JSON
// (under images/out/bench/, which is not committed) for notes to quote.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Summary } from './stats.js';

/** One table row: a measured quantity, its unit and its summary. */
export interface ReportRow {
  label: string;
  unit: string;
  summary: Summary;
}

function formatNumber(value: number): string {
  const abs = Math.abs(value);
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

/** Median, p90 and min–max per row, columns aligned. */
export function formatTable(rows: readonly ReportRow[]): string {
  const cells = rows.map((r) => [
    r.label,
    r.unit,
    String(r.summary.n),
    formatNumber(r.summary.median),
    formatNumber(r.summary.p90),
    `${formatNumber(r.summary.min)}–${formatNumber(r.summary.max)}`,
  ]);
  const header = ['', 'unit', 'n', 'median', 'p90', 'min–max'];
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: readonly string[]) =>
    c
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...cells.map(line)].join('\n');
}

/** "name  1.23×" lines for ratios of medians. */
export function formatRatios(ratios: ReadonlyArray<{ label: string; value: number; goal?: string }>): string {
  const width = Math.max(0, ...ratios.map((r) => r.label.length));
  return ratios.map((r) => `${r.label.padEnd(width)}  ${r.value.toFixed(2)}×${r.goal ? `   (goal ${r.goal})` : ''}`).join('\n');
}

/** Writes VALUE as indented JSON, creating the directory; returns the path written. */
export function writeJsonReport(file: string, value: unknown): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
  return file;
}
