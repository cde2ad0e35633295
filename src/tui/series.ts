// A fixed-capacity series of samples, oldest first: the history a sparkline
// draws. Bounded so a dashboard left open for days holds minutes, not days.

export class BoundedSeries {
  private readonly values: number[] = [];

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`a series needs a capacity of at least 1, not ${capacity}`);
  }

  push(value: number): void {
    this.values.push(value);
    if (this.values.length > this.capacity) this.values.splice(0, this.values.length - this.capacity);
  }

  /** The newest `count` samples (all of them when there are fewer), oldest first. */
  latest(count: number = this.capacity): readonly number[] {
    return this.values.slice(Math.max(0, this.values.length - count));
  }

  get length(): number {
    return this.values.length;
  }
}
