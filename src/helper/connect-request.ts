// The daemon's 'connect' request: joins a host client's TCP stream to a unix
// socket inside the helper VM, so host tools reach detached VMs' sockets,
// which can only listen on the helper's local /run (9p shares cannot hold
// them). The token already proved the client is the helper's owner; the path
// is still confined to the VMM socket root, so the request can never become a
// way to reach the helper's other sockets (systemd's, say).
import { realpathSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { posix } from 'node:path';
import { encodeJsonFrame, FrameType } from './protocol.js';
import { HELPER_RUN_DIR } from './vmm-activity.js';

/** sun_path holds 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH_BYTES = 107;

/** Why `path` may not be connected to, or null when it may (checked as text; see resolvedInside for links). */
export function refuseConnectPath(path: string, root: string = HELPER_RUN_DIR): string | null {
  if (!path.startsWith('/')) return `${path} is not an absolute path`;
  if (path.includes('\0')) return 'the path contains a NUL byte';
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) return `${path} is too long for a unix socket`;
  if (posix.normalize(path) !== path || path.split('/').includes('..')) return `${path} is not a normalized path`;
  if (!path.startsWith(`${root}/`)) return `only sockets below ${root}/ may be connected to, not ${path}`;
  return null;
}

/** True when `path`, with every symbolic link resolved, still lies below `root`. */
function resolvedInside(path: string, root: string): boolean {
  try {
    return realpathSync(path).startsWith(`${root}/`);
  } catch {
    return false;
  }
}

/**
 * Connects `client` (its REQUEST frame already read; `leftover` is whatever
 * came after it) to the unix socket `path`. Answers ACCEPTED once connected,
 * then relays raw bytes both ways; or ERROR with the reason. `onDone` runs
 * once when the client connection has closed.
 */
export function connectClientToSocket(client: Socket, path: string, leftover: Buffer, onDone: () => void, root: string = HELPER_RUN_DIR): void {
  client.once('close', onDone);
  const refusal = refuseConnectPath(path, root) ?? (resolvedInside(path, root) ? null : `${path} does not exist or leads outside ${root}/`);
  if (refusal !== null) {
    client.end(encodeJsonFrame(FrameType.Error, { message: refusal }));
    return;
  }
  client.pause();
  // A host program that half-closes (EOF on its side) must still get the answer.
  client.allowHalfOpen = true;
  const upstream: Socket = connect({ path, allowHalfOpen: true });
  let connected = false;
  upstream.once('connect', () => {
    connected = true;
    client.write(encodeJsonFrame(FrameType.Accepted, { version: 1 }));
    if (leftover.length > 0) upstream.write(leftover);
    client.pipe(upstream);
    upstream.pipe(client);
    client.resume();
  });
  upstream.on('error', (err: NodeJS.ErrnoException) => {
    if (connected) client.destroy();
    else client.end(encodeJsonFrame(FrameType.Error, { message: `cannot connect to ${path}: ${err.code ?? err.message}` }));
  });
  client.on('error', () => upstream.destroy());
  client.on('close', () => upstream.destroy());
  upstream.on('close', () => {
    if (connected) client.end();
  });
}
