// A VsockBackend without sockets for the vsock specs: the spec plays the host
// programs by calling the recorded event handlers directly.
import type { HostStream, IncomingHandler, StreamEvents, VsockBackend } from '../../../src/devices/virtio/vsock/host-stream.js';

export class FakeStream implements HostStream {
  events: StreamEvents | undefined;
  written: number[] = [];
  /** Flush callbacks held back when autoFlush is off. */
  unflushed: (() => void)[] = [];
  autoFlush = true;
  writeEnded = false;
  destroyed = false;
  paused = false;
  accepted: number | undefined;

  attach(events: StreamEvents): void {
    this.events = events;
  }
  write(data: Uint8Array, flushed: () => void): void {
    this.written.push(...data);
    if (this.autoFlush) flushed();
    else this.unflushed.push(flushed);
  }
  endWrite(): void {
    this.writeEnded = true;
  }
  destroy(): void {
    this.destroyed = true;
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
}

export class FakeHost implements VsockBackend {
  connects: { port: number; stream: FakeStream }[] = [];
  incoming: IncomingHandler | undefined;

  connect(port: number): HostStream {
    const stream = new FakeStream();
    this.connects.push({ port, stream });
    return stream;
  }
  onIncoming(handler: IncomingHandler): void {
    this.incoming = handler;
  }
  close(): void {}

  /** A host program asks for guest port `port`. */
  hostConnects(port: number): FakeStream {
    const stream = new FakeStream();
    this.incoming!(port, stream, (hostPort) => {
      stream.accepted = hostPort;
    });
    return stream;
  }
}
