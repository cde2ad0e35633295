// The host side of virtio-vsock on AF_UNIX sockets, behaving like
// Firecracker's (docs/vsock.md there):
//   - host-initiated: a host program connects to the VM's socket PATH and
//     writes "CONNECT <port>\n"; once the guest accepts, it reads
//     "OK <hostport>\n" and the bytes flow both ways;
//   - guest-initiated: a guest connecting to host port P reaches the host
//     program listening on the unix socket "PATH_P".
import { existsSync, lstatSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import type { HostStream, IncomingHandler, StreamEvents, VsockBackend } from './host-stream.js';

/** "CONNECT 4294967295\n" is 19 bytes; a longer first line is not a request. */
const MAX_REQUEST_LINE = 32;
const REQUEST = /^CONNECT ([0-9]{1,10})$/;
const MAX_PORT = 0xffff_ffff;

/** A net.Socket as a HostStream; events arriving before attach() are replayed to it. */
class SocketStream implements HostStream {
  private events: StreamEvents | undefined;
  private readonly early: (() => void)[] = [];

  constructor(
    private readonly socket: net.Socket,
    initial?: Uint8Array,
  ) {
    if (initial && initial.length > 0) this.early.push(() => this.events!.data(initial));
    socket.on('connect', () => this.emit((e) => e.connected()));
    socket.on('data', (chunk: Buffer) => this.emit((e) => e.data(new Uint8Array(chunk))));
    socket.on('end', () => this.emit((e) => e.ended()));
    // 'close' follows every error, so the error itself needs no handling beyond not throwing.
    socket.on('error', () => {});
    socket.on('close', () => this.emit((e) => e.closed()));
  }

  private emit(call: (events: StreamEvents) => void): void {
    if (this.events) call(this.events);
    else this.early.push(() => call(this.events!));
  }

  attach(events: StreamEvents): void {
    this.events = events;
    for (const replay of this.early.splice(0)) replay();
  }

  write(data: Uint8Array, flushed: () => void): void {
    if (this.socket.destroyed) return;
    this.socket.write(data, (err) => {
      if (!err) flushed();
    });
  }

  endWrite(): void {
    if (!this.socket.destroyed) this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }
}

/** A stream that never connects: the device answers the guest with an RST. */
class RefusedStream implements HostStream {
  attach(events: StreamEvents): void {
    queueMicrotask(() => events.closed());
  }
  write(): void {}
  endWrite(): void {}
  destroy(): void {}
  pause(): void {}
  resume(): void {}
}

export interface UnixSocketBackendOptions {
  /**
   * Set where guest-initiated connections cannot reach PATH_<port> (a VM run
   * inside the helper VM whose PATH is relayed from the host: the relay only
   * carries host-to-guest connections). Each such connection is refused and
   * this reason goes to onError, so the failure is not silent.
   */
  readonly refuseGuestConnections?: (port: number) => string;
}

export class UnixSocketBackend implements VsockBackend {
  private handler: IncomingHandler | undefined;
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  /** Listens on `path` at once; a stale socket file left by an earlier run is replaced. */
  constructor(
    readonly path: string,
    private readonly onError: (message: string) => void = () => {},
    private readonly options: UnixSocketBackendOptions = {},
  ) {
    if (existsSync(path)) {
      if (!lstatSync(path).isSocket()) throw new Error(`${path} exists and is not a socket`);
      unlinkSync(path);
    }
    this.server = net.createServer({ allowHalfOpen: true }, (socket) => this.accept(socket));
    this.server.on('error', (err) => this.onError(`vsock socket ${path}: ${err.message}`));
    this.server.listen(path);
  }

  /** Resolves once the socket accepts connections (specs wait for it). */
  listening(): Promise<void> {
    return this.server.listening ? Promise.resolve() : new Promise((resolve) => this.server.once('listening', () => resolve()));
  }

  connect(port: number): HostStream {
    if (this.options.refuseGuestConnections) {
      this.onError(`vsock: ${this.options.refuseGuestConnections(port)}`);
      return new RefusedStream();
    }
    const socket = net.createConnection({ path: `${this.path}_${port}`, allowHalfOpen: true });
    this.track(socket);
    return new SocketStream(socket);
  }

  onIncoming(handler: IncomingHandler): void {
    this.handler = handler;
  }

  close(): void {
    this.server.close();
    for (const s of this.sockets) s.destroy();
    try {
      unlinkSync(this.path);
    } catch {
      // Already gone.
    }
  }

  private track(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
  }

  /** Reads the "CONNECT <port>\n" line, then hands the socket to the device. */
  private accept(socket: net.Socket): void {
    this.track(socket);
    socket.on('error', () => {});
    let line = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      line = Buffer.concat([line, chunk]);
      const newline = line.indexOf(0x0a);
      if (newline < 0) {
        if (line.length > MAX_REQUEST_LINE) socket.destroy();
        return;
      }
      socket.off('data', onData);
      const match = REQUEST.exec(line.subarray(0, newline).toString('latin1'));
      const port = match ? Number(match[1]) : NaN;
      if (!match || port > MAX_PORT || !this.handler) {
        socket.destroy();
        return;
      }
      const stream = new SocketStream(socket, new Uint8Array(line.subarray(newline + 1)));
      this.handler(port, stream, (hostPort) => {
        if (!socket.destroyed) socket.write(`OK ${hostPort}\n`);
      });
    };
    socket.on('data', onData);
  }
}
