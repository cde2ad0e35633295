// A unix socket on the host that stands for a unix socket inside the helper
// VM: every connection to `hostPath` is joined, through the helper daemon's
// 'connect' request, to a new connection to `helperPath` in there. Used for a
// detached VM's api.sock (src/fleet/api-relay.ts) and for other sockets that
// must listen on the helper's local /run (9p shares cannot hold them).
import { chmodSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { openHelperStream } from './connection.js';
import { findRunningHelper } from './lifecycle.js';

/** Owner-only, like the socket it stands for. */
export const RELAY_SOCKET_MODE = 0o600;

/** Opens a raw stream to a unix socket inside the helper. */
export type HelperConnector = (helperPath: string) => Promise<Socket>;

/** Through the helper this tree's mvm commands use (found afresh for each connection). */
export const connectViaRunningHelper: HelperConnector = (helperPath) => {
  const helper = findRunningHelper();
  if (helper === null) return Promise.reject(new Error('the helper VM is not running'));
  return openHelperStream(helper.state.hostPort, helper.token, helperPath);
};

export interface SocketRelay {
  readonly hostPath: string;
  readonly helperPath: string;
  /** Connections being relayed now. */
  readonly activeConnections: number;
  /** Stops listening, drops every relayed connection and removes the host socket. */
  close(): void;
}

/** Joins two streams both ways; a half-close on one side reaches the other. */
function join(client: Socket, upstream: Socket): void {
  client.pipe(upstream);
  upstream.pipe(client);
  client.on('error', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
  // The client can take nothing more once closed; the other way round, end
  // (not destroy) so what the pipe still holds reaches the client first.
  client.on('close', () => upstream.destroy());
  upstream.on('close', () => client.end());
  client.resume();
}

/**
 * Listens on `hostPath` (mode 0600; a stale file there is replaced) and relays
 * each connection to `helperPath` inside the helper. A connection the helper
 * refuses is closed at once (the reason goes to `onError`).
 */
export function relayHostSocket(
  hostPath: string,
  helperPath: string,
  options: { connect?: HelperConnector; onError?: (message: string) => void } = {},
): Promise<SocketRelay> {
  const connectUpstream = options.connect ?? connectViaRunningHelper;
  const onError = options.onError ?? (() => undefined);
  const open = new Set<Socket>();
  const clients = new Set<Socket>();
  const server: Server = createServer({ allowHalfOpen: true }, (client) => {
    client.pause();
    open.add(client);
    clients.add(client);
    client.on('close', () => {
      open.delete(client);
      clients.delete(client);
    });
    client.on('error', () => client.destroy());
    connectUpstream(helperPath).then(
      (upstream) => {
        if (client.destroyed) {
          upstream.destroy();
          return;
        }
        open.add(upstream);
        upstream.on('close', () => open.delete(upstream));
        join(client, upstream);
      },
      (err: unknown) => {
        onError(`relaying a connection to ${helperPath}: ${err instanceof Error ? err.message : String(err)}`);
        client.destroy();
      },
    );
  });
  rmSync(hostPath, { force: true });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(hostPath, () => {
      server.off('error', reject);
      chmodSync(hostPath, RELAY_SOCKET_MODE);
      resolve({
        hostPath,
        helperPath,
        get activeConnections() {
          return clients.size;
        },
        close() {
          server.close();
          for (const socket of open) socket.destroy();
          open.clear();
          rmSync(hostPath, { force: true });
        },
      });
    });
  });
}
