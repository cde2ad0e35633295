// The wire format between mvm on the host and the daemon in the helper VM.
//
// One TCP connection carries one request. Both directions are a sequence of
// frames: a 1-byte type, a 4-byte big-endian payload length, the payload.
// The client's first frame is REQUEST (JSON, with the token); the daemon
// answers ACCEPTED or ERROR, then both sides stream until the daemon sends
// EXIT and closes. Several requests run at once simply as several connections.

export const FrameType = {
  /** client → daemon, JSON HelperRequest; always the first frame. */
  Request: 1,
  /** client → daemon, bytes for the command's stdin. */
  Stdin: 2,
  /** client → daemon, empty: stdin reached end of file. */
  StdinEnd: 3,
  /** client → daemon, JSON {cols, rows}: the terminal was resized. */
  Resize: 4,
  /** client → daemon, JSON {signal}: deliver a signal to the command. */
  Signal: 5,
  /** daemon → client, JSON {version}: the request was authenticated and started. */
  Accepted: 16,
  /** daemon → client, the command's stdout bytes. */
  Stdout: 17,
  /** daemon → client, the command's stderr bytes. */
  Stderr: 18,
  /** daemon → client, JSON ExitStatus; the last frame. */
  Exit: 19,
  /** daemon → client, JSON {message}: the request was refused; the last frame. */
  Error: 20,
  /** daemon → client, JSON reply to a ping request; the last frame. */
  Pong: 21,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

const KNOWN_TYPES = new Set<number>(Object.values(FrameType));

const HEADER_BYTES = 5;
/**
 * Largest payload accepted. Stream chunks are far smaller (a pipe read is at
 * most 64 KiB); the cap stops a corrupt or hostile length from making the
 * reader buffer gigabytes.
 */
export const MAX_FRAME_PAYLOAD = 1024 * 1024;

/** Bumped whenever frames or request fields change incompatibly. */
export const PROTOCOL_VERSION = 1;

export interface Frame {
  readonly type: FrameType;
  readonly payload: Buffer;
}

export interface TerminalSize {
  readonly cols: number;
  readonly rows: number;
}

/**
 * mvm      run the mvm CLI with argv (in the warm spare node process)
 * exec     run argv[0] with arguments argv[1..] (tests, benchmarks)
 * ping     report the daemon's state (stopping is QEMU's SIGTERM, from the host)
 * connect  connect this stream to the unix socket argv[0] inside the helper
 *          (only below /run/mvm/: detached VMs' API and vsock sockets); after
 *          ACCEPTED the connection carries raw bytes both ways, no more frames
 */
export type RequestKind = 'mvm' | 'exec' | 'ping' | 'connect';

export interface HelperRequest {
  readonly version: number;
  readonly token: string;
  readonly kind: RequestKind;
  readonly argv: readonly string[];
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  readonly interactive: boolean;
  readonly terminal: TerminalSize | null;
}

export interface ExitStatus {
  /** The exit code, or null when the command died of a signal. */
  readonly code: number | null;
  readonly signal: string | null;
}

export interface PingReply {
  readonly version: number;
  readonly kernel: string;
  readonly uptimeSeconds: number;
  readonly activeRequests: number;
  readonly spareReady: boolean;
  readonly idleSeconds: number;
  /** Detached VMMs alive inside (undefined from a daemon older than this field: unknown). */
  readonly liveVmms?: number;
}

export function encodeFrame(type: FrameType, payload: Buffer | string = Buffer.alloc(0)): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  if (body.length > MAX_FRAME_PAYLOAD) throw new RangeError(`frame payload of ${body.length} bytes exceeds ${MAX_FRAME_PAYLOAD}`);
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt8(type, 0);
  header.writeUInt32BE(body.length, 1);
  return Buffer.concat([header, body]);
}

export function encodeJsonFrame(type: FrameType, value: unknown): Buffer {
  return encodeFrame(type, JSON.stringify(value));
}

/** A chunk of a large buffer as frames no bigger than MAX_FRAME_PAYLOAD. */
export function encodeChunked(type: FrameType, data: Buffer): Buffer[] {
  const frames: Buffer[] = [];
  for (let at = 0; at < data.length; at += MAX_FRAME_PAYLOAD) {
    frames.push(encodeFrame(type, data.subarray(at, at + MAX_FRAME_PAYLOAD)));
  }
  return frames;
}

export class ProtocolError extends Error {
  override name = 'ProtocolError';
}

/** Turns a byte stream into frames; feed it every chunk the socket delivers. */
export class FrameDecoder {
  private pending: Buffer = Buffer.alloc(0);

  /** The whole frames decoded so far, at most `limit` (the rest stays buffered for the next call or takeRemainder). */
  push(chunk: Buffer, limit = Infinity): Frame[] {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const frames: Frame[] = [];
    while (this.pending.length >= HEADER_BYTES && frames.length < limit) {
      const type = this.pending.readUInt8(0);
      const length = this.pending.readUInt32BE(1);
      if (!KNOWN_TYPES.has(type)) throw new ProtocolError(`unknown frame type ${type}`);
      if (length > MAX_FRAME_PAYLOAD) throw new ProtocolError(`frame length ${length} exceeds ${MAX_FRAME_PAYLOAD}`);
      if (this.pending.length < HEADER_BYTES + length) break;
      frames.push({ type: type as FrameType, payload: this.pending.subarray(HEADER_BYTES, HEADER_BYTES + length) });
      this.pending = this.pending.subarray(HEADER_BYTES + length);
    }
    return frames;
  }

  /** Hands over the bytes after the last whole frame (a stream switching to raw bytes after a frame). */
  takeRemainder(): Buffer {
    const rest = this.pending;
    this.pending = Buffer.alloc(0);
    return rest;
  }

  /** Bytes of an unfinished frame; non-zero at end of stream means truncation. */
  get bufferedBytes(): number {
    return this.pending.length;
  }
}

/** Parses a JSON payload, turning malformed input into a ProtocolError. */
export function parseJsonPayload(frame: Frame): unknown {
  try {
    return JSON.parse(frame.payload.toString('utf8'));
  } catch {
    throw new ProtocolError(`frame of type ${frame.type} does not carry valid JSON`);
  }
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

function isPositiveInt(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value > 0 && value < 100_000;
}

/** Validates a REQUEST payload field by field; the daemon trusts nothing else. */
export function parseRequest(value: unknown): HelperRequest {
  if (typeof value !== 'object' || value === null) throw new ProtocolError('request is not an object');
  const r = value as Record<string, unknown>;
  if (r.version !== PROTOCOL_VERSION)
    throw new ProtocolError(`protocol version ${String(r.version)} is not ${PROTOCOL_VERSION}; restart the helper (mvm helper stop)`);
  if (typeof r.token !== 'string') throw new ProtocolError('request has no token');
  if (r.kind !== 'mvm' && r.kind !== 'exec' && r.kind !== 'ping' && r.kind !== 'connect') {
    throw new ProtocolError(`unknown request kind ${String(r.kind)}`);
  }
  if (!isStringArray(r.argv)) throw new ProtocolError('request argv must be an array of strings');
  if (r.kind === 'exec' && r.argv.length === 0) throw new ProtocolError('exec request has an empty argv');
  if (r.kind === 'connect' && r.argv.length !== 1) throw new ProtocolError('connect request must name exactly one socket path');
  if (typeof r.cwd !== 'string' || !r.cwd.startsWith('/')) throw new ProtocolError('request cwd must be an absolute path');
  if (typeof r.env !== 'object' || r.env === null || Array.isArray(r.env)) throw new ProtocolError('request env must be an object');
  const env: Record<string, string> = {};
  for (const [name, val] of Object.entries(r.env as Record<string, unknown>)) {
    if (typeof val !== 'string') throw new ProtocolError(`request env ${name} is not a string`);
    env[name] = val;
  }
  if (typeof r.interactive !== 'boolean') throw new ProtocolError('request interactive must be a boolean');
  let terminal: TerminalSize | null = null;
  if (r.terminal !== null && r.terminal !== undefined) {
    const t = r.terminal as Record<string, unknown>;
    if (!isPositiveInt(t.cols) || !isPositiveInt(t.rows)) throw new ProtocolError('request terminal size is invalid');
    terminal = { cols: t.cols, rows: t.rows };
  }
  return { version: PROTOCOL_VERSION, token: r.token, kind: r.kind, argv: r.argv, cwd: r.cwd, env, interactive: r.interactive, terminal };
}

/** Signals a client may forward; anything else is refused. */
export const FORWARDABLE_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const;
export type ForwardableSignal = (typeof FORWARDABLE_SIGNALS)[number];

export function isForwardableSignal(value: unknown): value is ForwardableSignal {
  return typeof value === 'string' && (FORWARDABLE_SIGNALS as readonly string[]).includes(value);
}
