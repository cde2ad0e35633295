// A grouped horizontal bar chart: one group per category (a side), one bar
// per series (a way of measuring memory), the value written at the bar's end.
// A missing value (a series that does not apply to a side) leaves a gap.
import { CHAR_WIDTH, LEGEND_ROW_HEIGHT, PALETTE, el, formatValue, legend, legendRows, linearScale, svgDocument, text } from './svg-base.js';

export interface BarChart {
  title: string;
  axis: string;
  categories: readonly string[];
  series: ReadonlyArray<{ name: string; values: ReadonlyArray<number | undefined> }>;
}

const WIDTH = 760;
const BAR_HEIGHT = 16;
const GROUP_GAP = 18;
/** Below the title, above the legend. */
const LEGEND_TOP = 40;
const BOTTOM = 50;
/** Room for the value written after the longest bar. */
const RIGHT = 70;

export function barSvg(chart: BarChart): string {
  const values = chart.series.flatMap((s) => s.values).filter((v): v is number => v !== undefined);
  if (values.length === 0) throw new RangeError(`${chart.title}: no values to draw`);
  if (values.some((v) => !Number.isFinite(v) || v < 0)) throw new RangeError(`${chart.title}: bar values must be finite and not negative`);
  const left = Math.max(...chart.categories.map((c) => c.length)) * CHAR_WIDTH + 24;
  const names = chart.series.map((s) => s.name);
  const plotTop = LEGEND_TOP + legendRows(left, WIDTH - RIGHT, names) * LEGEND_ROW_HEIGHT;
  const groupHeight = chart.series.length * BAR_HEIGHT + GROUP_GAP;
  const plotBottom = plotTop + chart.categories.length * groupHeight;
  const height = plotBottom + BOTTOM;
  const x = linearScale(0, Math.max(...values), left, WIDTH - RIGHT);
  const body: string[] = [...legend(left, LEGEND_TOP, names, WIDTH - RIGHT)];
  for (const t of x.ticks) {
    body.push(el('line', { x1: x(t), x2: x(t), y1: plotTop, y2: plotBottom, stroke: '#dddddd' }));
    body.push(text(x(t), plotBottom + 16, formatValue(t), { 'text-anchor': 'middle' }));
  }
  body.push(text((left + WIDTH - RIGHT) / 2, plotBottom + 38, chart.axis, { 'text-anchor': 'middle' }));
  chart.categories.forEach((category, c) => {
    const top = plotTop + c * groupHeight + GROUP_GAP / 2;
    const parts = [text(left - 10, top + (chart.series.length * BAR_HEIGHT) / 2 + 4, category, { 'text-anchor': 'end' })];
    chart.series.forEach((series, s) => {
      const v = series.values[c];
      if (v === undefined) return;
      const y = top + s * BAR_HEIGHT;
      parts.push(
        el('rect', { class: 'bar', x: x(0), y: y + 1, width: Math.max(1, x(v) - x(0)), height: BAR_HEIGHT - 2, fill: PALETTE[s % PALETTE.length] }),
      );
      parts.push(text(x(v) + 4, y + BAR_HEIGHT - 4, formatValue(v), { 'font-size': 10 }));
    });
    body.push(el('g', { class: 'group' }, parts));
  });
  return svgDocument(WIDTH, height, chart.title, body);
}
