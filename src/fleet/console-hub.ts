// Where a detached VM's console goes: every byte the guest prints is appended
// to console.log (what `mvm logs` reads) and sent to every attached client
// (`mvm console`, GET /console upgraded); what any client types goes to the
// guest. Clients come and go; the VM never waits for one.
import { closeSync, openSync, writeSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import { OutputBatcher } from '../vmm/output-batcher.js';

/**
 * console.log stops growing here: a guest printing in a loop must not fill
 * the host's disk. One line says so; the VM itself runs on.
 */
export const CONSOLE_LOG_LIMIT_BYTES = 64 * 1024 * 1024;
/**
 * Output queued for one slow client beyond which it is dropped (its socket
 * closed): a client that stops reading must not make the VMM buffer without end.
 */
export const CLIENT_BACKLOG_LIMIT_BYTES = 4 * 1024 * 1024;

export class ConsoleHub {
  private readonly fd: number;
  private written = 0;
  private truncated = false;
  private readonly logBatch = new OutputBatcher((data) => this.appendToLog(data));
  private readonly clients = new Set<Duplex>();

  /** `toGuest` receives client input. */
  constructor(
    logPath: string,
    private readonly toGuest: (bytes: Uint8Array) => void,
    private readonly logLimit = CONSOLE_LOG_LIMIT_BYTES,
  ) {
    this.fd = openSync(logPath, 'a', 0o600);
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /** Guest output: to the clients now, to the log at the end of this turn of the event loop (one write per burst). */
  output(bytes: Uint8Array): void {
    const copy = Uint8Array.from(bytes);
    for (const client of this.clients) {
      if (client.writableLength > CLIENT_BACKLOG_LIMIT_BYTES) {
        client.destroy();
        continue;
      }
      client.write(copy);
    }
    this.logBatch.push(copy);
  }

  /** Writes queued output to console.log now (the VMM calls it before ending the process). */
  flush(): void {
    this.logBatch.flush();
  }

  private appendToLog(batch: Buffer): void {
    let data = batch;
    if (this.truncated) return;
    const room = this.logLimit - this.written;
    if (data.length > room) {
      data = Buffer.concat([
        data.subarray(0, Math.max(0, room)),
        Buffer.from(`\n[mvm: console.log reached ${this.logLimit} bytes; later output is not kept]\n`),
      ]);
      this.truncated = true;
    }
    let offset = 0;
    while (offset < data.length) offset += writeSync(this.fd, data, offset, data.length - offset);
    this.written += data.length;
  }

  /** A client's connection (after the upgrade): its bytes go to the guest, guest output to it. */
  attach(client: Duplex, head: Buffer = Buffer.alloc(0)): void {
    this.clients.add(client);
    if (head.length > 0) this.toGuest(head);
    client.on('data', (chunk: Buffer) => this.toGuest(chunk));
    const forget = (): void => {
      this.clients.delete(client);
    };
    client.on('close', forget);
    client.on('error', () => client.destroy());
    client.on('end', () => client.end());
  }

  /** Flushes the log and closes every client (the VM has ended). */
  close(): void {
    this.flush();
    for (const client of this.clients) client.end();
    this.clients.clear();
    closeSync(this.fd);
  }
}
