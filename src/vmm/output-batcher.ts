// Guest console output arrives a few bytes per VM exit; writing each piece
// would cost a system call per byte on the serial console. The batcher keeps
// the pieces of one turn of the event loop and hands them over as one buffer.
export class OutputBatcher {
  private pending: Uint8Array[] = [];
  private flushScheduled = false;

  /** `sink` receives each batch (never empty). */
  constructor(private readonly sink: (data: Buffer) => void) {}

  /** Queues a copy of `bytes` (the caller may reuse its buffer) for the end of this turn. */
  push(bytes: Uint8Array): void {
    this.pending.push(Uint8Array.from(bytes));
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Hands over what is queued now (before the process ends, say). */
  flush(): void {
    this.flushScheduled = false;
    if (this.pending.length === 0) return;
    const data = Buffer.concat(this.pending);
    this.pending = [];
    this.sink(data);
  }
}
