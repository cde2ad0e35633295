// A distribution chart: one row per side, every sample as a dot (a strip
// plot: with tens of samples the dots are the data) over a box from the 25th
// to the 75th percentile with the median as a bar, and the p90 and p99 marked.
// The axis turns logarithmic when the rows span more than a factor of 20, so
// a container's milliseconds and a VM's seconds both stay readable.
import { percentile } from '../stats.js';
import { CHAR_WIDTH, PALETTE, el, formatValue, linearScale, logScale, svgDocument, text } from './svg-base.js';

export interface DistributionRow {
  label: string;
  samples: readonly number[];
}

export interface DistributionChart {
  title: string;
  /** Axis label, with the unit. */
  axis: string;
  rows: readonly DistributionRow[];
}

const WIDTH = 760;
const ROW_HEIGHT = 54;
const TOP = 40;
const BOTTOM = 56;
const RIGHT = 30;
/** Spread of the dots across a row, so equal values do not hide each other. */
const JITTER = 14;
/** Above this max/min the axis is logarithmic. */
const LOG_SPAN = 20;

/** A fixed pseudo-random offset per sample index: the same file every run for the same data. */
function jitter(i: number): number {
  const x = Math.sin(i * 12.9898) * 43758.5453;
  return (x - Math.floor(x) - 0.5) * JITTER;
}

export function distributionSvg(chart: DistributionChart): string {
  const rows = chart.rows.filter((r) => r.samples.length > 0);
  if (rows.length === 0) throw new RangeError(`${chart.title}: no samples to draw`);
  const all = rows.flatMap((r) => [...r.samples]);
  const min = Math.min(...all);
  const max = Math.max(...all);
  // Room for the label or the median line under it, whichever is longer.
  const left = Math.max(...rows.map((r) => Math.max(r.label.length, 24 * 0.8))) * CHAR_WIDTH + 24;
  const height = TOP + rows.length * ROW_HEIGHT + BOTTOM;
  const plotBottom = TOP + rows.length * ROW_HEIGHT;
  const useLog = min > 0 && max / min > LOG_SPAN;
  const x = useLog ? logScale(min, max, left, WIDTH - RIGHT) : linearScale(Math.min(0, min), max, left, WIDTH - RIGHT);
  const body: string[] = [];
  for (const t of x.ticks) {
    body.push(el('line', { x1: x(t), x2: x(t), y1: TOP, y2: plotBottom, stroke: '#dddddd' }));
    body.push(text(x(t), plotBottom + 16, formatValue(t), { 'text-anchor': 'middle' }));
  }
  body.push(text((left + WIDTH - RIGHT) / 2, plotBottom + 38, `${chart.axis}${x.log ? ' (log scale)' : ''}`, { 'text-anchor': 'middle' }));
  rows.forEach((row, i) => {
    const colour = PALETTE[i % PALETTE.length]!;
    const mid = TOP + i * ROW_HEIGHT + ROW_HEIGHT / 2;
    const q1 = percentile(row.samples, 25);
    const q2 = percentile(row.samples, 50);
    const q3 = percentile(row.samples, 75);
    const parts: string[] = [text(left - 10, mid + 4, row.label, { 'text-anchor': 'end' })];
    parts.push(
      el('rect', {
        class: 'box',
        x: x(q1),
        y: mid - 12,
        width: Math.max(1, x(q3) - x(q1)),
        height: 24,
        fill: colour,
        'fill-opacity': 0.15,
        stroke: colour,
      }),
    );
    parts.push(el('line', { class: 'median', x1: x(q2), x2: x(q2), y1: mid - 14, y2: mid + 14, stroke: colour, 'stroke-width': 3 }));
    row.samples.forEach((v, k) => {
      parts.push(el('circle', { class: 'sample', cx: x(v), cy: mid + jitter(k), r: 2.5, fill: colour, 'fill-opacity': 0.7 }));
    });
    for (const [name, p] of [
      ['p90', 90],
      ['p99', 99],
    ] as const) {
      const v = percentile(row.samples, p);
      parts.push(el('line', { class: name, x1: x(v), x2: x(v), y1: mid - 18, y2: mid - 13, stroke: '#333333', 'stroke-width': 1.5 }));
      // p90's label left of its tick, p99's right of its: close percentiles keep readable labels.
      parts.push(text(x(v) + (p === 90 ? -2 : 2), mid - 17, name, { 'text-anchor': p === 90 ? 'end' : 'start', 'font-size': 9, fill: '#333333' }));
    }
    parts.push(
      text(left - 10, mid + 17, `median ${formatValue(q2)}, n=${row.samples.length}`, { 'text-anchor': 'end', 'font-size': 10, fill: '#555555' }),
    );
    body.push(el('g', { class: 'row' }, parts));
  });
  return svgDocument(WIDTH, height, chart.title, body);
}
