// A line chart: one polyline with point markers per series over a shared x
// axis (instance count) — disk used against the number of instances, or boot
// time against instances already running.
import { LEGEND_ROW_HEIGHT, PALETTE, el, formatValue, legend, legendRows, linearScale, logScale, svgDocument, text } from './svg-base.js';

export interface LineChart {
  title: string;
  xAxis: string;
  yAxis: string;
  series: ReadonlyArray<{ name: string; points: ReadonlyArray<readonly [number, number]> }>;
  /** A logarithmic y axis (values must be > 0): for series that differ by orders of magnitude. */
  logY?: boolean;
}

const WIDTH = 760;
const PLOT_HEIGHT = 310;
const LEFT = 70;
const RIGHT = 30;
/** Below the title, above the legend. */
const LEGEND_TOP = 40;
const BOTTOM = 56;

export function lineSvg(chart: LineChart): string {
  const series = chart.series.filter((s) => s.points.length > 0);
  const points = series.flatMap((s) => [...s.points]);
  if (points.length === 0) throw new RangeError(`${chart.title}: no points to draw`);
  if (points.some(([px, py]) => !Number.isFinite(px) || !Number.isFinite(py) || (chart.logY && py <= 0))) {
    throw new RangeError(`${chart.title}: points must be finite${chart.logY ? ' and above 0 on a log axis' : ''}`);
  }
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  const names = series.map((s) => s.name);
  const plotTop = LEGEND_TOP + legendRows(LEFT, WIDTH - RIGHT, names) * LEGEND_ROW_HEIGHT;
  const bottom = plotTop + PLOT_HEIGHT;
  const height = bottom + BOTTOM;
  const x = linearScale(Math.min(0, ...xs), Math.max(...xs), LEFT, WIDTH - RIGHT, 5, xs.every(Number.isInteger));
  const y = chart.logY ? logScale(Math.min(...ys), Math.max(...ys), bottom, plotTop) : linearScale(0, Math.max(...ys), bottom, plotTop);
  const body: string[] = [...legend(LEFT, LEGEND_TOP, names, WIDTH - RIGHT)];
  for (const t of x.ticks) {
    body.push(el('line', { x1: x(t), x2: x(t), y1: plotTop, y2: bottom, stroke: '#eeeeee' }));
    body.push(text(x(t), bottom + 16, formatValue(t), { 'text-anchor': 'middle' }));
  }
  for (const t of y.ticks) {
    body.push(el('line', { x1: LEFT, x2: WIDTH - RIGHT, y1: y(t), y2: y(t), stroke: '#dddddd' }));
    body.push(text(LEFT - 6, y(t) + 4, formatValue(t), { 'text-anchor': 'end' }));
  }
  body.push(text((LEFT + WIDTH - RIGHT) / 2, bottom + 38, chart.xAxis, { 'text-anchor': 'middle' }));
  body.push(
    text(16, (plotTop + bottom) / 2, `${chart.yAxis}${y.log ? ' (log scale)' : ''}`, {
      'text-anchor': 'middle',
      transform: `rotate(-90 16 ${(plotTop + bottom) / 2})`,
    }),
  );
  series.forEach((s, i) => {
    const colour = PALETTE[i % PALETTE.length]!;
    const parts = [
      el('polyline', {
        class: 'series',
        points: s.points.map(([px, py]) => `${x(px).toFixed(1)},${y(py).toFixed(1)}`).join(' '),
        fill: 'none',
        stroke: colour,
        'stroke-width': 2,
      }),
    ];
    for (const [px, py] of s.points) parts.push(el('circle', { cx: x(px), cy: y(py), r: 3, fill: colour }));
    body.push(el('g', { class: 'line' }, parts));
  });
  return svgDocument(WIDTH, height, chart.title, body);
}
