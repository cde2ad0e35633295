// Order statistics shared by mvm's benchmarks: medians, not means, because a
// machine shared with other work produces outliers on the slow side only.

export interface Summary {
  /** How many samples. */
  n: number;
  median: number;
  /** 90th percentile (nearest rank). */
  p90: number;
  /** 99th percentile (nearest rank): the largest sample below 100 samples, so a tail figure, not a stable one. */
  p99: number;
  min: number;
  max: number;
}

function sorted(values: readonly number[]): number[] {
  if (values.length === 0) throw new RangeError('no samples to summarize');
  if (!values.every(Number.isFinite)) throw new RangeError('samples must be finite numbers');
  return [...values].sort((a, b) => a - b);
}

export function median(values: readonly number[]): number {
  const s = sorted(values);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Nearest-rank percentile: the smallest sample with at least `p` % of the samples at or below it. */
export function percentile(values: readonly number[], p: number): number {
  if (!(p > 0 && p <= 100)) throw new RangeError(`percentile must be in (0, 100], not ${p}`);
  const s = sorted(values);
  return s[Math.ceil((p / 100) * s.length) - 1]!;
}

export function summarize(values: readonly number[]): Summary {
  const s = sorted(values);
  return { n: s.length, median: median(s), p90: percentile(s, 90), p99: percentile(s, 99), min: s[0]!, max: s[s.length - 1]! };
}

/** a / b of two medians, the form every ratio in the reports takes. */
export function ratioOfMedians(a: Summary, b: Summary): number {
  return a.median / b.median;
}
