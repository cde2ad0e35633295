// The report's SVG charts: well-formed XML (checked by an XML parser, not by
// matching text), the elements each chart promises (a dot per sample, a bar
// per value, a line per series), labels escaped whatever they contain, and
// one clear error for data that cannot be drawn.
import { expect } from 'chai';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { escapeXml, logTicks, niceTicks } from '../../src/bench/report/svg-base.js';
import { barSvg } from '../../src/bench/report/svg-bars.js';
import { distributionSvg } from '../../src/bench/report/svg-distribution.js';
import { lineSvg } from '../../src/bench/report/svg-lines.js';

type Node = Record<string, unknown>;

/** Parses SVG text after checking it is well-formed; returns the <svg> element (arrays for every element). */
function parseSvg(svg: string): Node {
  expect(XMLValidator.validate(svg), 'well-formed XML').to.equal(true);
  const parser = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: '@',
    isArray: (name, _path, _leaf, isAttribute) => !isAttribute && name !== 'svg',
  });
  return (parser.parse(svg) as { svg: Node }).svg;
}

/** Every element named NAME anywhere below NODE. */
function all(node: unknown, name: string): Node[] {
  if (Array.isArray(node)) return node.flatMap((n) => all(n, name));
  if (typeof node !== 'object' || node === null) return [];
  const out: Node[] = [];
  for (const [key, value] of Object.entries(node as Node)) {
    if (key === name) out.push(...((Array.isArray(value) ? value : [value]) as Node[]));
    if (!key.startsWith('@')) out.push(...all(value, name));
  }
  return out;
}

/** The text content of every <text> element below NODE. */
function texts(node: unknown): string[] {
  return all(node, 'text').map((t) => (typeof t === 'object' ? String(t['#text'] ?? '') : String(t)));
}

const HOSTILE = 'a <b> & "c" \'d\' \u0001';

describe('bench report SVG charts', () => {
  it('escapes the five XML specials and drops characters XML 1.0 forbids', () => {
    expect(escapeXml(`<a href="x">&'</a>\u0000\u001f`)).to.equal('&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;');
  });

  it('picks round ticks that cover the range, linear and logarithmic', () => {
    const ticks = niceTicks(3, 97, 5);
    expect(ticks[0]).to.be.at.most(3);
    expect(ticks.at(-1)).to.be.at.least(97);
    expect(ticks).to.deep.equal([0, 20, 40, 60, 80, 100]);
    expect(logTicks(30, 7000)).to.deep.equal([10, 100, 1000, 10000]);
  });

  it('draws a distribution: a row per side with a dot per sample, a box, a median, p90 and p99 marks; log axis over a wide span', () => {
    const svg = parseSvg(
      distributionSvg({
        title: `boot ${HOSTILE}`,
        axis: 'milliseconds',
        rows: [
          { label: 'mvm', samples: [5200, 5400, 6100, 5000] },
          { label: HOSTILE, samples: [120, 130, 90] },
          { label: 'empty', samples: [] },
        ],
      }),
    );
    expect(svg['@xmlns']).to.equal('http://www.w3.org/2000/svg');
    expect(all(svg, 'title')).to.have.length(1);
    const rows = all(svg, 'g').filter((g) => g['@class'] === 'row');
    expect(rows, 'the empty row is left out').to.have.length(2);
    expect(all(rows[0], 'circle')).to.have.length(4);
    expect(all(rows[1], 'circle')).to.have.length(3);
    for (const row of rows) {
      expect(all(row, 'rect').filter((r) => r['@class'] === 'box')).to.have.length(1);
      expect(all(row, 'line').map((l) => l['@class'])).to.include.members(['median', 'p90', 'p99']);
    }
    expect(texts(svg)).to.include(HOSTILE.replace('\u0001', '').trim());
    expect(texts(svg).join(' ')).to.include('log scale');
  });

  it('draws grouped bars: one per value, gaps where a series does not apply', () => {
    const svg = parseSvg(
      barSvg({
        title: 'memory',
        axis: 'MiB',
        categories: ['mvm', 'QEMU microvm', 'runc'],
        series: [
          { name: 'PSS', values: [60, 45, 8] },
          { name: 'guest RAM touched', values: [30, 28, undefined] },
        ],
      }),
    );
    expect(all(svg, 'g').filter((g) => g['@class'] === 'group')).to.have.length(3);
    const bars = all(svg, 'rect').filter((r) => r['@class'] === 'bar');
    expect(bars).to.have.length(5);
    for (const bar of bars) expect(Number(bar['@width'])).to.be.greaterThan(0);
    expect(texts(svg)).to.include.members(['PSS', 'guest RAM touched', 'runc']);
  });

  it('draws lines: a polyline with a point per (x, y) for each series, whole-number ticks for counts', () => {
    const svg = parseSvg(
      lineSvg({
        title: 'disk',
        xAxis: 'instances',
        yAxis: 'MiB',
        series: [
          {
            name: 'qcow2',
            points: [
              [1, 4],
              [2, 8],
              [3, 12],
            ],
          },
          {
            name: 'copy',
            points: [
              [1, 64],
              [2, 128],
              [3, 192],
            ],
          },
        ],
      }),
    );
    const lines = all(svg, 'g').filter((g) => g['@class'] === 'line');
    expect(lines).to.have.length(2);
    for (const line of lines) {
      expect(all(line, 'polyline')).to.have.length(1);
      expect(String(all(line, 'polyline')[0]!['@points']).split(' ')).to.have.length(3);
      expect(all(line, 'circle')).to.have.length(3);
    }
    expect(texts(svg)).to.not.include('0.5');
  });

  it('refuses data it cannot draw with one clear error', () => {
    expect(() => distributionSvg({ title: 'none', axis: 'ms', rows: [{ label: 'a', samples: [] }] })).to.throw(RangeError, /no samples/);
    expect(() => barSvg({ title: 'neg', axis: 'MiB', categories: ['a'], series: [{ name: 's', values: [-1] }] })).to.throw(
      RangeError,
      /not negative/,
    );
    expect(() => lineSvg({ title: 'nan', xAxis: 'x', yAxis: 'y', series: [{ name: 's', points: [[1, Number.NaN]] }] })).to.throw(
      RangeError,
      /finite/,
    );
    expect(() => lineSvg({ title: 'log0', xAxis: 'x', yAxis: 'y', logY: true, series: [{ name: 's', points: [[1, 0]] }] })).to.throw(
      RangeError,
      /above 0/,
    );
  });
});
