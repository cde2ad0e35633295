// A one-line progress bar on stderr for benchmarks that take minutes: only
// on a terminal (or when the caller forces it: a benchmark forwarded into the
// helper VM writes to a pipe, but the user's terminal is at its other end),
// redrawn in place, erased when done so the results print on a clean line.

/** Characters between the brackets. */
const BAR_WIDTH = 30;
/** Set by `mvm bench` when it forwards a benchmark into the helper VM from a terminal. */
export const FORCE_PROGRESS_ENV = 'MVM_BENCH_PROGRESS';

export function progressWanted(stream: NodeJS.WriteStream = process.stderr, env: NodeJS.ProcessEnv = process.env): boolean {
  return stream.isTTY === true || env[FORCE_PROGRESS_ENV] === '1';
}

/** The bar as text: "[#####.....]  5/10 label". */
export function renderProgress(done: number, total: number, label: string): string {
  const fraction = total > 0 ? Math.min(1, Math.max(0, done / total)) : 1;
  const filled = Math.round(fraction * BAR_WIDTH);
  return `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${String(done).padStart(String(total).length)}/${total} ${label}`;
}

export class Progress {
  private done = 0;
  private shown = false;

  constructor(
    private readonly total: number,
    private readonly enabled: boolean = progressWanted(),
    private readonly out: NodeJS.WritableStream = process.stderr,
  ) {}

  /** Counts N more steps done and redraws with LABEL (what is running now). */
  step(label: string, n = 1): void {
    this.done += n;
    this.show(label);
  }

  /** Redraws with a new label without counting a step. */
  show(label: string): void {
    if (!this.enabled) return;
    this.out.write(`\r\x1b[2K${renderProgress(this.done, this.total, label)}`);
    this.shown = true;
  }

  /** Erases the bar (results and messages follow on a clean line). */
  clear(): void {
    if (this.enabled && this.shown) this.out.write('\r\x1b[2K');
    this.shown = false;
  }
}
