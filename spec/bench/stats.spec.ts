// The benchmark statistics: medians, nearest-rank percentiles, summaries.
import { expect } from 'chai';
import { median, percentile, ratioOfMedians, summarize } from '../../src/bench/stats.js';
import { formatRatios, formatTable } from '../../src/bench/harness-report.js';

describe('bench statistics', () => {
  it('takes the middle sample, or the mean of the two middle ones, whatever the input order', () => {
    expect(median([5, 1, 3])).to.equal(3);
    expect(median([4, 1, 3, 2])).to.equal(2.5);
    expect(median([7])).to.equal(7);
  });

  it('uses nearest-rank percentiles: p90 of 10 samples is the 9th smallest, of 9 samples the largest', () => {
    const ten = [10, 1, 9, 2, 8, 3, 7, 4, 6, 5];
    expect(percentile(ten, 90)).to.equal(9);
    expect(percentile(ten, 100)).to.equal(10);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9], 90)).to.equal(9);
  });

  it('gives p99 as the 99th of 100 samples and the largest of fewer, always ordered p50 ≤ p90 ≤ p99', () => {
    const hundred = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(summarize(hundred)).to.include({ median: 50.5, p90: 90, p99: 99, max: 100 });
    const s = summarize([5, 1, 4, 2, 3]);
    expect(s.p99).to.equal(5);
    expect(s.median).to.be.at.most(s.p90);
    expect(s.p90).to.be.at.most(s.p99);
  });

  it('summarizes count, median, p90, p99, min and max, and divides medians for ratios', () => {
    const s = summarize([3, 1, 2, 10]);
    expect(s).to.deep.equal({ n: 4, median: 2.5, p90: 10, p99: 10, min: 1, max: 10 });
    expect(ratioOfMedians(summarize([2, 4, 6]), summarize([1, 2, 3]))).to.equal(2);
  });

  it('refuses empty or non-finite samples and impossible percentiles instead of reporting NaN', () => {
    expect(() => median([])).to.throw(RangeError);
    expect(() => summarize([1, Number.NaN])).to.throw(RangeError);
    expect(() => percentile([1, 2], 0)).to.throw(RangeError);
    expect(() => percentile([1, 2], 101)).to.throw(RangeError);
  });

  it('prints one aligned table row per quantity, and ratios with their goals', () => {
    const table = formatTable([
      { label: 'short', unit: 'µs', summary: summarize([1, 2, 3]) },
      { label: 'a much longer label', unit: 'ms', summary: summarize([100, 200, 300]) },
    ]).split('\n');
    expect(table).to.have.length(3);
    expect(table[0]).to.match(/median +p90 +min–max$/);
    expect(table[1]).to.match(/^short +µs +3 +2\.00 +3\.00 +1\.00–3\.00$/);
    expect(table[2]).to.match(/^a much longer label +ms +3 +200 +300 +100–300$/);
    expect(table[1]!.indexOf('µs')).to.equal(table[2]!.indexOf('ms'));
    expect(formatRatios([{ label: 'koffi/C', value: 1.234, goal: '≤ 1.1' }])).to.equal('koffi/C  1.23×   (goal ≤ 1.1)');
  });
});
