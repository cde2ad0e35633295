// The last lines the guest printed, kept so a crash report can show them.

/** Bytes of console output remembered; a few screens of kernel messages. */
const TAIL_BYTES = 8 * 1024;

export class ConsoleTail {
  private chunks: Uint8Array[] = [];
  private size = 0;

  push(bytes: Uint8Array): void {
    this.chunks.push(Uint8Array.from(bytes));
    this.size += bytes.length;
    while (this.size - (this.chunks[0]?.length ?? 0) >= TAIL_BYTES) {
      this.size -= this.chunks.shift()!.length;
    }
  }

  /** The last `count` non-empty lines, control characters removed. */
  lastLines(count: number): string[] {
    const text = Buffer.concat(this.chunks).toString('utf8');
    return text
      .split(/\r?\n/)
      .map((line) => line.replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '').trimEnd())
      .filter((line) => line.length > 0)
      .slice(-count);
  }
}
