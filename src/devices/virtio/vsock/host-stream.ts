// What the vsock device needs from the host side of one connection, so the
// device and its specs do not depend on sockets: a byte stream with flow
// control, and the backend that opens and accepts such streams.

export interface StreamEvents {
  /** An outgoing stream (guest-initiated) is connected. */
  connected(): void;
  data(chunk: Uint8Array): void;
  /** The host program will send no more (it shut down its write side). */
  ended(): void;
  /** The stream is gone (closed, reset or failed to connect). */
  closed(): void;
}

export interface HostStream {
  /** Receives the stream's events from now on. */
  attach(events: StreamEvents): void;
  /** Queues bytes for the host program; `flushed` runs once the host side took them. */
  write(data: Uint8Array, flushed: () => void): void;
  /** The guest will send no more. */
  endWrite(): void;
  destroy(): void;
  /** Stops / restarts the data events (host-side backpressure). */
  pause(): void;
  resume(): void;
}

/** A host program asked for a connection to guest port `port`. */
export type IncomingHandler = (port: number, stream: HostStream, accepted: (hostPort: number) => void) => void;

export interface VsockBackend {
  /** Opens a stream to the host program serving host port `port` (guest-initiated connection). */
  connect(port: number): HostStream;
  /** Where host-initiated connections go. */
  onIncoming(handler: IncomingHandler): void;
  close(): void;
}
