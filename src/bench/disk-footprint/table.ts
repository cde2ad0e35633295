// The disk-footprint result as a terminal table: per kind of instance, the
// time to make one and its bytes on disk before and after its write.
import type { DiskResult } from './suite.js';

const KiB = 1024;
const MiB = KiB * 1024;

/** Bytes in the unit a reader takes in at a glance (KiB below 1 MiB, MiB above). */
export function formatBytes(bytes: number): string {
  if (bytes < MiB) return `${(bytes / KiB).toFixed(bytes < 10 * KiB ? 1 : 0)} KiB`;
  return `${(bytes / MiB).toFixed(bytes < 10 * MiB ? 2 : 1)} MiB`;
}

export function formatMs(ms: number): string {
  return ms >= 100 ? `${ms.toFixed(0)} ms` : ms >= 1 ? `${ms.toFixed(1)} ms` : `${(ms * 1000).toFixed(0)} µs`;
}

export function diskTable(result: DiskResult): string {
  const header = ['', 'clone (median)', 'on disk, new', 'after write', `${result.count} instances + base`];
  const measured = result.sides.filter((s) => s.unavailable === undefined);
  const rows = measured.map((s) => [
    s.label,
    formatMs(s.cloneMs!.median),
    formatBytes(s.allocatedBefore!.median),
    formatBytes(s.allocatedAfter!.median),
    formatBytes(s.totalAllocatedByCount.at(-1)!),
  ]);
  const widths = header.map((h, i) =>
    Math.max(h.length, ...rows.map((r) => r[i]!.length), ...result.sides.map((s) => (i === 0 ? s.label.length : 0))),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  const skipped = result.sides.filter((s) => s.unavailable !== undefined).map((s) => `${s.label.padEnd(widths[0]!)}  not measured: ${s.unavailable}`);
  return [line(header), ...rows.map(line), ...skipped].join('\n');
}
