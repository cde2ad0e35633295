// Markdown building blocks for the report: tables whose cells cannot break
// the table, and the units the report writes numbers in.

/** A cell's text: pipes and line breaks would end the cell or the row. */
export function cell(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

/** A GitHub-flavoured Markdown table; ALIGN per column: 'l' or 'r'. */
export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>, align?: string): string {
  const sep = header.map((_, i) => ((align ?? '').charAt(i) === 'r' ? '---:' : '---'));
  const line = (cells: readonly string[]) => `| ${cells.map(cell).join(' | ')} |`;
  return [line(header), `|${sep.join('|')}|`, ...rows.map(line)].join('\n');
}

/** Milliseconds as "850 ms" or "2.41 s". */
export function ms(value: number): string {
  if (value >= 1000) return `${(value / 1000).toFixed(2)} s`;
  if (value >= 10) return `${value.toFixed(0)} ms`;
  return `${value.toFixed(1)} ms`;
}

const KiB = 1024;
const MiB = KiB * 1024;
const GiB = MiB * 1024;

export function bytes(value: number): string {
  if (value >= GiB) return `${(value / GiB).toFixed(2)} GiB`;
  if (value >= MiB) return `${(value / MiB).toFixed(value >= 10 * MiB ? 1 : 2)} MiB`;
  return `${(value / KiB).toFixed(0)} KiB`;
}

export function mib(value: number): string {
  return `${value.toFixed(value >= 100 ? 0 : 1)} MiB`;
}

export function ratio(value: number): string {
  return value >= 10 ? `${value.toFixed(0)}×` : `${value.toFixed(value >= 1 ? 1 : 2)}×`;
}

/** The date part of an ISO time, for "measured on". */
export function day(iso: string): string {
  return iso.slice(0, 10);
}
