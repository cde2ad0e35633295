// The host side of the vsock end-to-end spec (vsock-e2e.spec.ts). Boots one
// guest with `mvm run --vsock cid=N,uds=PATH`, checks both directions with
// it, and prints one JSON line (DriverResult) for the spec:
//   guest -> host: the guest's `mvm-vsock connect 2 6000` reaches the
//     listener on PATH_6000, which answers at once;
//   host -> guest: connect to PATH, "CONNECT 5000\n", read "OK <port>\n",
//     send 1 MiB to the guest's `mvm-vsock listen 5000 1` echo, read it back;
//     the listener then exits and the guest's command with it.
// Run where the VMM runs (inside the helper VM on hosts like PVM, sockets
// under its local /run: 9p cannot hold a listening socket), or on such a host
// itself, where `mvm run` relays PATH into the helper and guest -> host
// connections are refused with a line on mvm's stderr.
// Usage: node vsock-e2e-driver.js
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MVM_BIN } from '../helpers/mvm-cli.js';

const MVM_CLI = MVM_BIN;
export const GUEST_CID = 7;
export const GUEST_PORT = 5000;
export const HOST_PORT = 6000;
/** A host port without a PATH_<port> listener. */
export const UNSERVED_HOST_PORT = 6001;
/** Several times the device's initial credit window, so flow control has to work. */
export const ECHO_BYTES = 1 << 20;
export const GUEST_PAYLOAD = 'guest-to-host-payload';
export const HOST_REPLY_PREFIX = 'host-reply:';
/** What mvm-vsock prints (to the console) once its listener is bound. */
const GUEST_LISTENING = `mvm-vsock: listening on port ${GUEST_PORT}`;
/** The guest run, echo included, under software emulation on a loaded machine. */
const RUN_LIMIT_MS = 240_000;

export interface DriverResult {
  /** The unix socket PATH given to --vsock. */
  uds: string;
  /** "OK <port>" as read from PATH after CONNECT. */
  okLine: string;
  sentSha256: string;
  echoedSha256: string;
  echoedBytes: number;
  /** What the host listener on PATH_6000 received from the guest. */
  hostReceived: string;
  mvmStatus: number | null;
  mvmStdout: string;
  mvmStderr: string;
  /** Set when the host -> guest side failed. */
  error?: string;
}

/** The guest's command: connections to the host first, then one echo for the host in the foreground. */
export function guestScript(): string {
  return [
    `echo ${GUEST_PAYLOAD} | mvm-vsock connect 2 ${HOST_PORT}; echo GUEST-CONNECT-STATUS=$?`,
    // The tool's error paths: nobody listens on PATH_<port> (the host resets), and bad usage.
    `mvm-vsock connect 2 ${UNSERVED_HOST_PORT} </dev/null; echo UNSERVED-STATUS=$?`,
    'mvm-vsock listen 12x; echo USAGE-STATUS=$?',
    `mvm-vsock listen ${GUEST_PORT} 1`,
  ].join('\n');
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** Host -> guest: CONNECT, OK, then ECHO_BYTES out and the same number back. */
function echoThroughGuest(path: string, payload: Buffer): Promise<{ okLine: string; echoed: Buffer }> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection({ path, allowHalfOpen: true });
    let received = Buffer.alloc(0);
    let okLine: string | undefined;
    socket.on('error', reject);
    socket.on('connect', () => socket.write(`CONNECT ${GUEST_PORT}\n`));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (okLine === undefined) {
        const newline = received.indexOf(0x0a);
        if (newline < 0) return;
        okLine = received.subarray(0, newline).toString('latin1');
        received = received.subarray(newline + 1);
        // The payload goes out only after OK: bytes before it would be part of the request.
        socket.end(payload);
      }
    });
    socket.on('end', () => resolve({ okLine: okLine ?? '', echoed: received }));
  });
}

/** The listener on PATH_<HOST_PORT>: hands what the guest sent to `received` and answers. */
function hostListener(path: string, received: (text: string) => void): net.Server {
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    let data = '';
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => (data += chunk.toString('utf8')));
    socket.on('end', () => {
      received(data);
      socket.end(`${HOST_REPLY_PREFIX}${data.trim()}\n`);
    });
  });
  server.listen(path);
  return server;
}

async function main(): Promise<void> {
  // /run inside the helper is a local tmpfs; elsewhere the temporary directory is local.
  const base = process.env['MVM_IN_HELPER'] === '1' ? '/run' : tmpdir();
  const dir = mkdtempSync(join(base, 'mvm-vsock-e2e-'));
  const uds = join(dir, 'v.sock');
  const result: DriverResult = {
    uds,
    okLine: '',
    sentSha256: '',
    echoedSha256: '',
    echoedBytes: 0,
    hostReceived: '',
    mvmStatus: null,
    mvmStdout: '',
    mvmStderr: '',
  };
  const listener = hostListener(`${uds}_${HOST_PORT}`, (text) => (result.hostReceived = text));

  const mvm = spawn(process.execPath, [MVM_CLI, 'run', '--vsock', `cid=${GUEST_CID},uds=${uds}`, '--', 'sh', '-c', guestScript()], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const limit = setTimeout(() => mvm.kill('SIGKILL'), RUN_LIMIT_MS);
  let echo: Promise<void> | undefined;
  mvm.stderr.on('data', (chunk: Buffer) => (result.mvmStderr += chunk.toString('utf8')));
  mvm.stdout.on('data', (chunk: Buffer) => {
    result.mvmStdout += chunk.toString('utf8');
    if (echo === undefined && result.mvmStdout.includes(GUEST_LISTENING)) {
      const payload = randomBytes(ECHO_BYTES);
      result.sentSha256 = sha256(payload);
      echo = echoThroughGuest(uds, payload).then(
        ({ okLine, echoed }) => {
          result.okLine = okLine;
          result.echoedBytes = echoed.length;
          result.echoedSha256 = sha256(echoed);
        },
        (err: Error) => {
          result.error = `host -> guest: ${err.message}`;
        },
      );
    }
  });
  result.mvmStatus = await new Promise<number | null>((resolve) => mvm.on('close', (status) => resolve(status)));
  clearTimeout(limit);
  await echo;
  listener.close();
  rmSync(dir, { recursive: true, force: true });
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

// Only when run as a program: the spec imports the constants.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`vsock-e2e-driver: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
