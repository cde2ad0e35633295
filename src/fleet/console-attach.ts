// `mvm console NAME`: attaches this terminal to a detached VM's console
// through its API (GET /console upgraded to the mvm-console protocol, then raw
// bytes both ways). The terminal is raw while attached — every key goes to the
// guest — and Ctrl-] detaches, leaving the VM running (unlike foreground
// `mvm run`, where it stops the VM). The terminal is restored on every way out.
import { request } from 'node:http';
import type { Duplex } from 'node:stream';
import { ApiUnreachable, DEFAULT_API_TIMEOUT_MS } from '../api/client.js';
import { API_PATHS, CONSOLE_UPGRADE_PROTOCOL } from '../api/schema.js';
import { UserError } from '../errors.js';
import { CONSOLE_ESCAPE_NAME, ConsoleIo } from '../vmm/console-io.js';

/** Why an attachment ended. */
export type ConsoleEnd = 'detached' | 'vm-stopped' | 'signal';

/** Connects and upgrades; the socket then carries raw console bytes, `head` the first ones already read. */
export function openConsole(socketPath: string, timeoutMs: number = DEFAULT_API_TIMEOUT_MS): Promise<{ socket: Duplex; head: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({
      socketPath,
      method: 'GET',
      path: API_PATHS.console,
      headers: { connection: 'Upgrade', upgrade: CONSOLE_UPGRADE_PROTOCOL },
      timeout: timeoutMs,
    });
    req.on('upgrade', (_res, socket, head) => {
      // The timeout was for the handshake; an attached console may stay quiet for hours.
      socket.setTimeout(0);
      resolve({ socket, head });
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        let detail = `HTTP ${res.statusCode}`;
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { error?: unknown };
          if (typeof body.error === 'string') detail = body.error;
        } catch {
          /* not JSON: the status says enough */
        }
        reject(new UserError(`the VM refused the console attach: ${detail}`));
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err: NodeJS.ErrnoException) => reject(new ApiUnreachable(socketPath, err.code ?? err.message)));
    req.end();
  });
}

const SIGNALS = ['SIGTERM', 'SIGHUP', 'SIGINT'] as const;

/** Relays stdin/stdout to the console socket until Ctrl-], the VM's end, or a signal. */
export function relayConsole(socket: Duplex, head: Buffer, name: string): Promise<ConsoleEnd> {
  return new Promise((resolve) => {
    let ended = false;
    const io = new ConsoleIo({
      forwardInput: true,
      // Ctrl-] is looked for even when stdin is a pipe, so scripts can detach too.
      interactive: true,
      onInput: (bytes) => socket.write(bytes),
      onEscape: () => finish('detached'),
    });
    const onSignal = (): void => finish('signal');
    const onExit = (): void => io.release();
    function finish(how: ConsoleEnd): void {
      if (ended) return;
      ended = true;
      io.release();
      process.off('exit', onExit);
      for (const signal of SIGNALS) process.off(signal, onSignal);
      socket.destroy();
      // Otherwise the open stdin keeps this process alive after the attachment.
      process.stdin.destroy();
      const message =
        how === 'detached' ? `detached from ${name} (it keeps running)` : how === 'vm-stopped' ? `${name} stopped` : 'detached (signal)';
      process.stderr.write(`\r\nmvm: ${message}\n`);
      resolve(how);
    }
    // Restores the terminal even if something throws past us.
    process.on('exit', onExit);
    for (const signal of SIGNALS) process.on(signal, onSignal);
    socket.on('data', (chunk: Buffer) => io.write(chunk));
    socket.on('end', () => finish('vm-stopped'));
    socket.on('close', () => finish('vm-stopped'));
    socket.on('error', () => finish('vm-stopped'));
    process.stderr.write(`mvm: attached to ${name}; ${CONSOLE_ESCAPE_NAME} detaches (the VM keeps running)\r\n`);
    if (head.length > 0) io.write(head);
    io.attach();
  });
}
