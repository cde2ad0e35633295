// The front-end side of one vhost-user connection: requests go out one at a
// time and each reply is read in full before the next request, each check
// done by protocol.ts. Protocol features are negotiated, never assumed: only
// what the back-end offers and mvm implements (REPLY_ACK) is switched on.
//
// The back-end is another program and is not trusted: a reply that is late
// (the socket's timeout), short, of the wrong type or size, or carries
// descriptors, breaks the connection for good (VhostUserError), and the
// caller turns that into a device error. Nothing the back-end sends is used
// as an address or a length here.
import { close } from '../../../sys/libc.js';
import { SyscallError, errnoName } from '../../../sys/syscall-error.js';
import { UnixSocket } from '../../../sys/unix-socket.js';
import {
  F_PROTOCOL_FEATURES,
  HEADER_BYTES,
  type Message,
  PAYLOAD_BYTES,
  PROTOCOL_F_REPLY_ACK,
  ProtocolError,
  Request,
  SUPPORTED_PROTOCOL_FEATURES,
  checkReplyHeader,
  decodeU64,
  decodeVringState,
  encodeNoPayload,
  encodeU64,
} from './protocol.js';

/** The connection to a back-end failed; the message says how, in one sentence. */
export class VhostUserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VhostUserError';
  }
}

/** What the handshake learnt. */
export interface Handshake {
  /** The back-end's virtio features (GET_FEATURES), bit 30 (protocol features) included. */
  readonly features: bigint;
  /** Protocol features both sides use. */
  readonly protocolFeatures: bigint;
}

export class VhostUserFrontend {
  private broken: string | undefined;
  private protocolFeatures = 0n;

  constructor(
    private readonly socket: UnixSocket,
    /** Names the back-end in messages ("virtiofsd for /srv/data"). */
    private readonly peer: string,
    private readonly timeoutMs: number,
  ) {}

  static connect(path: string, peer: string, timeoutMs: number): VhostUserFrontend {
    return new VhostUserFrontend(UnixSocket.connect(path, timeoutMs), peer, timeoutMs);
  }

  get fd(): number {
    return this.socket.fd;
  }

  /** Why the connection is unusable, once it is. */
  get failure(): string | undefined {
    return this.broken;
  }

  get replyAck(): boolean {
    return (this.protocolFeatures & PROTOCOL_F_REPLY_ACK) !== 0n;
  }

  /** GET_FEATURES, the protocol-feature negotiation when offered, then SET_OWNER. */
  handshake(): Handshake {
    const features = this.query(encodeNoPayload(Request.GET_FEATURES), PAYLOAD_BYTES.u64, decodeU64);
    if (features & F_PROTOCOL_FEATURES) {
      const offered = this.query(encodeNoPayload(Request.GET_PROTOCOL_FEATURES), PAYLOAD_BYTES.u64, decodeU64);
      const accepted = offered & SUPPORTED_PROTOCOL_FEATURES;
      // SET_PROTOCOL_FEATURES itself is never acknowledged: REPLY_ACK is not in force until it is done.
      this.send(encodeU64(Request.SET_PROTOCOL_FEATURES, accepted));
      this.protocolFeatures = accepted;
    }
    this.request(encodeNoPayload(Request.SET_OWNER, this.replyAck));
    return { features, protocolFeatures: this.protocolFeatures };
  }

  /**
   * Sends a request that has no reply of its own; with REPLY_ACK the message
   * must have been encoded with need-reply set (`replyAck`) and the back-end's
   * status is checked.
   */
  request(message: Message): void {
    if (!this.replyAck) {
      this.send(message);
      return;
    }
    const request = requestOf(message);
    const status = this.query(message, PAYLOAD_BYTES.u64, decodeU64);
    if (status !== 0n) this.fail(`refused request ${request} (status ${status})`);
  }

  /** GET_VRING_BASE: stops queue `index` and returns where the back-end got to in the available ring. */
  getVringBase(message: Message, index: number): number {
    return this.query(message, PAYLOAD_BYTES.vringState, (p) => decodeVringState(p, index));
  }

  /** Sends a request and reads its reply, `payloadBytes` long, decoded by `decode`. */
  query<T>(message: Message, payloadBytes: number, decode: (payload: Uint8Array) => T): T {
    this.send(message);
    const request = requestOf(message);
    // The header first: a reply announcing another size is refused before waiting for bytes that may never come.
    const header = this.receiveExactly(HEADER_BYTES, request);
    try {
      checkReplyHeader(header, request, payloadBytes);
      return decode(this.receiveExactly(payloadBytes, request));
    } catch (err) {
      if (err instanceof ProtocolError) this.fail(`answered garbage: ${err.message}`);
      throw err;
    }
  }

  /**
   * Without waiting: why the back-end cannot be used any more (it hung up, or
   * spoke when it had not been asked), or undefined when all is quiet.
   */
  checkIdle(): string | undefined {
    if (this.broken) return this.broken;
    const state = this.socket.poll();
    if (state === 'nothing') return undefined;
    this.broken = `${this.peer} ${state === 'closed' ? 'closed the connection' : 'sent a message nobody asked for'}`;
    return this.broken;
  }

  /** The back-end is known to be gone (its process exited): every later call fails with `why`. */
  markFailed(why: string): void {
    this.broken ??= `${this.peer} ${why}`;
  }

  close(): void {
    this.broken ??= 'closed';
    this.socket.close();
  }

  private send(message: Message): void {
    this.checkUsable();
    try {
      this.socket.send(message.bytes, message.fds);
    } catch (err) {
      this.fail(`cannot be sent request ${requestOf(message)}: ${describe(err, this.timeoutMs)}`);
    }
  }

  /** Reads exactly `length` bytes; a reply split over several reads is put together, one with descriptors is refused. */
  private receiveExactly(length: number, request: number): Uint8Array {
    const out = new Uint8Array(length);
    let have = 0;
    while (have < length) {
      let got: { length: number; fds: number[] };
      try {
        got = this.socket.receive(out, have, length - have);
      } catch (err) {
        this.fail(`did not answer request ${request}: ${describe(err, this.timeoutMs)}`);
      }
      if (got.fds.length > 0) {
        for (const fd of got.fds) close(fd);
        this.fail(`attached ${got.fds.length} descriptor(s) to its reply to request ${request}`);
      }
      if (got.length === 0)
        this.fail(`closed the connection before answering request ${request}${have > 0 ? ` (after ${have} of ${length} bytes)` : ''}`);
      have += got.length;
    }
    return out;
  }

  private checkUsable(): void {
    if (this.broken) throw new VhostUserError(this.broken);
  }

  private fail(what: string): never {
    this.broken = `${this.peer} ${what}`;
    throw new VhostUserError(this.broken);
  }
}

function requestOf(message: Message): number {
  return new DataView(message.bytes.buffer, message.bytes.byteOffset, 4).getUint32(0, true);
}

function describe(err: unknown, timeoutMs: number): string {
  if (err instanceof SyscallError) {
    if (err.errno === 11) return `no answer within ${timeoutMs} ms`;
    return errnoName(err.errno);
  }
  return err instanceof Error ? err.message : String(err);
}
