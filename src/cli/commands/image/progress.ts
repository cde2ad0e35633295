// A one-line progress bar redrawn in place, like `qemu-img convert -p`.
import type { WriteStream } from 'node:tty';

/** Redraw at most this often, so a fast convert does not spend its time printing. */
const REDRAW_MS = 100;
const WIDTH = 40;

export class ProgressBar {
  private last = -Infinity;

  constructor(private readonly out: NodeJS.WriteStream | WriteStream) {}

  update(fraction: number): void {
    const now = Date.now();
    if (now - this.last < REDRAW_MS && fraction < 1) return;
    this.last = now;
    const filled = Math.round(fraction * WIDTH);
    this.out.write(`\r    [${'#'.repeat(filled)}${' '.repeat(WIDTH - filled)}] ${(fraction * 100).toFixed(2).padStart(6)}%`);
  }

  done(): void {
    this.out.write('\n');
  }
}
