// Guest misbehaviour is counted and reported, never fatal (design rule 3).
// Only the first few of each device's warnings reach stderr, so a guest that
// loops on a bad request cannot flood the host's terminal or logs.

/** Warnings printed per device before the rest are only counted. */
const PRINTED_WARNINGS = 10;

export type WarningSink = (line: string) => void;

let sink: WarningSink = (line) => process.stderr.write(`mvm: ${line}\n`);

/** Redirects warnings (specs collect them instead of printing). Returns the previous sink. */
export function setWarningSink(next: WarningSink): WarningSink {
  const previous = sink;
  sink = next;
  return previous;
}

/** Prints a line another thread's GuestErrors let through (it did the counting and limiting). */
export function emitWarning(line: string): void {
  sink(line);
}

export class GuestErrors {
  /** Every warning, printed or not. */
  count = 0;

  constructor(private readonly device: string) {}

  warn(message: string): void {
    this.count++;
    if (this.count <= PRINTED_WARNINGS) sink(`${this.device}: ${message}`);
    else if (this.count === PRINTED_WARNINGS + 1) sink(`${this.device}: further guest errors are only counted`);
  }
}
