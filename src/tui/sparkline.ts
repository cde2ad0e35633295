// Unicode block sparklines (▁▂▃▄▅▆▇█): a history in one text line, without
// a charting library. Each sample is one column, scaled to the largest value
// shown (or a given ceiling such as 100 %), newest on the right.

const BLOCKS = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'] as const;

/**
 * The newest `width` samples as blocks, right-aligned (blank columns on the
 * left while the history is shorter than the line). `ceiling` is the value
 * a full block stands for; by default the largest sample, so a quiet VM's
 * small wiggles stay visible. All-zero history is a flat line of ▁.
 */
export function sparkline(values: readonly number[], width: number, ceiling?: number): string {
  if (width <= 0) return '';
  const shown = values.slice(Math.max(0, values.length - width)).map((v) => (Number.isFinite(v) && v > 0 ? v : 0));
  const top = ceiling !== undefined && ceiling > 0 ? ceiling : Math.max(0, ...shown);
  const line = shown.map((v) => {
    if (top === 0) return BLOCKS[0];
    const level = Math.round((Math.min(v, top) / top) * (BLOCKS.length - 1));
    return BLOCKS[level];
  });
  return ' '.repeat(width - line.length) + line.join('');
}
