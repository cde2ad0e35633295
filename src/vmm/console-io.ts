// Connects the guest's serial console to this process's stdio. Output is
// batched and written with writeSync, so nothing is lost when the VMM ends
// with _exit. In interactive mode the host terminal is put in raw mode (every
// key goes to the guest, Ctrl-C included) and one escape key stops the VM;
// the terminal is restored on every way out.
import { writeSync } from 'node:fs';
import { OutputBatcher } from './output-batcher.js';

/** Ctrl-], the escape of telnet and virsh console: rarely needed inside a guest. */
export const CONSOLE_ESCAPE_BYTE = 0x1d;
export const CONSOLE_ESCAPE_NAME = 'Ctrl-]';

export interface ConsoleOptions {
  /** Forward stdin to the guest. */
  forwardInput: boolean;
  /** stdin is a terminal to put in raw mode, or a stream a remote terminal feeds. */
  interactive: boolean;
  onInput(bytes: Uint8Array): void;
  onEscape(): void;
}

export class ConsoleIo {
  private readonly output = new OutputBatcher((data) => writeAll(1, data));
  private rawMode = false;

  constructor(private readonly options: ConsoleOptions) {}

  attach(): void {
    if (!this.options.forwardInput) return;
    const stdin = process.stdin;
    if (this.options.interactive && stdin.isTTY) {
      stdin.setRawMode(true);
      this.rawMode = true;
    }
    stdin.on('data', (chunk: Buffer) => this.input(chunk));
    stdin.on('error', () => undefined);
    stdin.resume();
  }

  /** Queues guest output; it is written at the end of this turn of the event loop. */
  write(bytes: Uint8Array): void {
    this.output.push(bytes);
  }

  flush(): void {
    this.output.flush();
  }

  /** Flushes output and gives the terminal back its normal mode. Safe to call twice. */
  release(): void {
    this.flush();
    if (this.rawMode && process.stdin.isTTY) {
      process.stdin.setRawMode(false);
      this.rawMode = false;
    }
  }

  private input(chunk: Buffer): void {
    if (this.options.interactive) {
      const escapeAt = chunk.indexOf(CONSOLE_ESCAPE_BYTE);
      if (escapeAt >= 0) {
        if (escapeAt > 0) this.options.onInput(chunk.subarray(0, escapeAt));
        this.options.onEscape();
        return;
      }
    }
    this.options.onInput(chunk);
  }
}

/** writeSync until everything is written; retries on EAGAIN (a non-blocking pipe that is full). */
export function writeAll(fd: number, data: Uint8Array): void {
  let offset = 0;
  while (offset < data.length) {
    try {
      offset += writeSync(fd, data, offset, data.length - offset);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') continue;
      if ((err as NodeJS.ErrnoException).code === 'EPIPE') return;
      throw err;
    }
  }
}
