// The pieces every chart of the benchmark report is drawn with: XML escaping,
// elements as strings, the document frame, axis ticks and number labels. No
// chart library: the charts are a few rectangles, lines and texts, and a
// dependency would outweigh them.

/** Series colours, distinguishable in print and for the common colour-vision deficiencies (Okabe–Ito). */
export const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#F0E442', '#000000'] as const;
export const FONT_SIZE = 12;
/** Roughly how wide a character of the chart font is, for laying out labels (no text measuring in a string). */
export const CHAR_WIDTH = 7.5;

const XML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

/** Text safe inside an element or an attribute; also drops characters XML 1.0 forbids. */
export function escapeXml(text: string): string {
  return text.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '').replace(/[&<>"']/g, (c) => XML_ESCAPES[c]!);
}

export type Attributes = Record<string, string | number | undefined>;

function attributes(attrs: Attributes): string {
  return Object.entries(attrs)
    .filter((entry): entry is [string, string | number] => entry[1] !== undefined)
    .map(([name, value]) => ` ${name}="${escapeXml(typeof value === 'number' ? round(value) : value)}"`)
    .join('');
}

/** Coordinates to 0.1 px: enough for the eye, short files. */
function round(value: number): string {
  if (!Number.isFinite(value)) throw new RangeError(`a chart coordinate is not a finite number: ${value}`);
  return String(Math.round(value * 10) / 10);
}

/** An element; CHILDREN are already-built markup, TEXT is escaped. */
export function el(name: string, attrs: Attributes = {}, children: readonly string[] = []): string {
  return children.length === 0 ? `<${name}${attributes(attrs)}/>` : `<${name}${attributes(attrs)}>${children.join('')}</${name}>`;
}

export function text(x: number, y: number, content: string, attrs: Attributes = {}): string {
  return `<text${attributes({ x, y, ...attrs })}>${escapeXml(content)}</text>`;
}

/** The whole SVG file: a title (read by screen readers and shown as a tooltip), a white background, then BODY. */
export function svgDocument(width: number, height: number, title: string, body: readonly string[]): string {
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" font-family="sans-serif" font-size="${FONT_SIZE}">`,
    `<title>${escapeXml(title)}</title>`,
    el('rect', { x: 0, y: 0, width, height, fill: '#ffffff' }),
    text(width / 2, 20, title, { 'text-anchor': 'middle', 'font-size': FONT_SIZE + 2, 'font-weight': 'bold' }),
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

/** About COUNT round tick values (1, 2, 5 × 10^k steps) covering [min, max]. */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!(max > min)) max = min + 1;
  const rough = (max - min) / count;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough)!;
  const ticks: number[] = [];
  for (let v = Math.floor(min / step) * step; v <= max + step / 2; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

/** Powers of ten, with 2 and 5 between them when the range is short, covering [min, max] (both > 0). */
export function logTicks(min: number, max: number): number[] {
  const lo = Math.floor(Math.log10(min));
  const hi = Math.ceil(Math.log10(max));
  const multipliers = hi - lo <= 2 ? [1, 2, 5] : [1];
  const ticks: number[] = [];
  for (let p = lo; p <= hi; p++) for (const m of multipliers) ticks.push(Number((m * 10 ** p).toPrecision(12)));
  return ticks.filter((t) => t >= 10 ** lo && t <= 10 ** hi);
}

/** A number as an axis or bar label: few digits, no trailing zeros. */
export function formatValue(value: number): string {
  const abs = Math.abs(value);
  if (abs >= 1000) return value.toFixed(0);
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return String(Number(value.toFixed(1)));
  if (abs >= 1) return String(Number(value.toFixed(2)));
  return String(Number(value.toPrecision(2)));
}

/** A linear or logarithmic map from data values to pixels. */
export interface Scale {
  (value: number): number;
  ticks: number[];
  log: boolean;
}

/** INTEGERS: only whole-number ticks (counts of instances). */
export function linearScale(min: number, max: number, from: number, to: number, tickCount = 5, integers = false): Scale {
  const ticks = integers ? niceTicks(min, max, tickCount).filter(Number.isInteger) : niceTicks(min, max, tickCount);
  const lo = Math.min(min, ticks[0]!);
  const hi = Math.max(max, ticks.at(-1)!);
  const scale = ((v: number) => from + ((v - lo) / (hi - lo || 1)) * (to - from)) as Scale;
  scale.ticks = ticks;
  scale.log = false;
  return scale;
}

export function logScale(min: number, max: number, from: number, to: number): Scale {
  const ticks = logTicks(min, max);
  const lo = Math.log10(ticks[0]!);
  const hi = Math.log10(ticks.at(-1)!);
  const scale = ((v: number) => from + ((Math.log10(v) - lo) / (hi - lo || 1)) * (to - from)) as Scale;
  scale.ticks = ticks;
  scale.log = true;
  return scale;
}

/** Vertical distance between legend rows. */
export const LEGEND_ROW_HEIGHT = 16;

function legendItemWidth(name: string): number {
  return 14 + name.length * CHAR_WIDTH + 18;
}

/** How many rows a legend of NAMES needs between x and maxX. */
export function legendRows(x: number, maxX: number, names: readonly string[]): number {
  let rows = 1;
  let at = x;
  for (const name of names) {
    if (at > x && at + legendItemWidth(name) > maxX) {
      rows++;
      at = x;
    }
    at += legendItemWidth(name);
  }
  return rows;
}

/** Colour swatches and names from (x, y), wrapped into rows before maxX (as legendRows counts them). */
export function legend(x: number, y: number, names: readonly string[], maxX: number): string[] {
  const out: string[] = [];
  let at = x;
  let row = y;
  names.forEach((name, i) => {
    if (at > x && at + legendItemWidth(name) > maxX) {
      row += LEGEND_ROW_HEIGHT;
      at = x;
    }
    out.push(el('rect', { x: at, y: row - 9, width: 10, height: 10, fill: PALETTE[i % PALETTE.length] }));
    out.push(text(at + 14, row, name));
    at += legendItemWidth(name);
  });
  return [el('g', { class: 'legend' }, out)];
}
