// The host end of one request to the helper daemon: connects to the
// forwarded port on 127.0.0.1, sends the REQUEST frame and turns the frames
// that come back into output writes and a result.
import { connect, type Socket } from 'node:net';
import type { Writable } from 'node:stream';
import {
  encodeChunked,
  encodeFrame,
  encodeJsonFrame,
  FrameDecoder,
  FrameType,
  parseJsonPayload,
  PROTOCOL_VERSION,
  type ExitStatus,
  type ForwardableSignal,
  type HelperRequest,
  type PingReply,
  type TerminalSize,
} from './protocol.js';

/** The daemon is only ever reachable through QEMU's loopback-bound port forward. */
export const HELPER_HOST = '127.0.0.1';

export type RemoteResult =
  | { readonly kind: 'exit'; readonly status: ExitStatus }
  | { readonly kind: 'pong'; readonly reply: PingReply }
  | { readonly kind: 'refused'; readonly message: string }
  /** The connection ended without a result; `accepted` says whether the command had started. */
  | { readonly kind: 'dropped'; readonly accepted: boolean; readonly reason: string };

export interface RemoteOutput {
  readonly stdout: Writable;
  readonly stderr: Writable;
}

export class RemoteCommand {
  readonly done: Promise<RemoteResult>;
  /** Resolves when the daemon has started the command (never, if it does not). */
  readonly started: Promise<void>;
  private readonly socket: Socket;
  private accepted = false;
  private markStarted: () => void = () => undefined;

  constructor(port: number, request: HelperRequest, output: RemoteOutput | null) {
    this.started = new Promise<void>((resolve) => {
      this.markStarted = resolve;
    });
    this.socket = connect({ host: HELPER_HOST, port });
    this.socket.setNoDelay(true);
    this.socket.write(encodeJsonFrame(FrameType.Request, request));
    this.done = new Promise<RemoteResult>((resolve) => {
      const decoder = new FrameDecoder();
      let result: RemoteResult | null = null;
      let failure = 'the helper closed the connection';
      const write = (stream: Writable, data: Buffer): void => {
        // Backpressure: stop reading the helper until the terminal catches up.
        if (!stream.write(data)) {
          this.socket.pause();
          stream.once('drain', () => this.socket.resume());
        }
      };
      this.socket.on('data', (chunk: Buffer) => {
        try {
          for (const frame of decoder.push(chunk)) {
            switch (frame.type) {
              case FrameType.Accepted:
                this.accepted = true;
                this.markStarted();
                break;
              case FrameType.Stdout:
                if (output) write(output.stdout, frame.payload);
                break;
              case FrameType.Stderr:
                if (output) write(output.stderr, frame.payload);
                break;
              case FrameType.Exit:
                result = { kind: 'exit', status: parseJsonPayload(frame) as ExitStatus };
                break;
              case FrameType.Pong:
                result = { kind: 'pong', reply: parseJsonPayload(frame) as PingReply };
                break;
              case FrameType.Error: {
                const { message } = parseJsonPayload(frame) as { message?: unknown };
                result = { kind: 'refused', message: typeof message === 'string' ? message : 'request refused' };
                break;
              }
              default:
                throw new Error(`unexpected frame type ${frame.type} from the helper`);
            }
          }
        } catch (err) {
          failure = err instanceof Error ? err.message : String(err);
          this.socket.destroy();
        }
      });
      this.socket.on('error', (err) => {
        failure = err.message;
      });
      this.socket.on('close', () => resolve(result ?? { kind: 'dropped', accepted: this.accepted, reason: failure }));
    });
  }

  writeStdin(data: Buffer): void {
    if (this.socket.writable) for (const frame of encodeChunked(FrameType.Stdin, data)) this.socket.write(frame);
  }

  endStdin(): void {
    if (this.socket.writable) this.socket.write(encodeFrame(FrameType.StdinEnd));
  }

  resize(size: TerminalSize): void {
    if (this.socket.writable) this.socket.write(encodeJsonFrame(FrameType.Resize, size));
  }

  signal(signal: ForwardableSignal): void {
    if (this.socket.writable) this.socket.write(encodeJsonFrame(FrameType.Signal, { signal }));
  }

  /** Stops talking to the helper (the daemon hangs the command up). */
  abort(): void {
    this.socket.destroy();
  }
}

/** How long the daemon gets to answer a connect request. */
const CONNECT_ANSWER_TIMEOUT_MS = 10_000;

/**
 * A stream joined to the unix socket `path` inside the helper VM (the
 * daemon's 'connect' request): once this resolves, the socket carries raw
 * bytes both ways. Rejects with the daemon's reason when it refuses.
 */
export function openHelperStream(port: number, token: string, path: string, env: Readonly<Record<string, string>> = {}): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: HELPER_HOST, port, allowHalfOpen: true });
    socket.setNoDelay(true);
    const request: HelperRequest = {
      version: PROTOCOL_VERSION,
      token,
      kind: 'connect',
      argv: [path],
      cwd: '/',
      env,
      interactive: false,
      terminal: null,
    };
    socket.write(encodeJsonFrame(FrameType.Request, request));
    const decoder = new FrameDecoder();
    const fail = (message: string): void => {
      socket.destroy();
      reject(new Error(message));
    };
    const timer = setTimeout(() => fail(`the helper VM did not answer within ${CONNECT_ANSWER_TIMEOUT_MS} ms`), CONNECT_ANSWER_TIMEOUT_MS);
    const onData = (chunk: Buffer): void => {
      let frame: ReturnType<typeof decoder.push>[number] | undefined;
      try {
        [frame] = decoder.push(chunk, 1);
      } catch (err) {
        clearTimeout(timer);
        fail(err instanceof Error ? err.message : String(err));
        return;
      }
      if (!frame) return;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
      if (frame.type === FrameType.Accepted) {
        socket.pause();
        const rest = decoder.takeRemainder();
        if (rest.length > 0) socket.unshift(rest);
        resolve(socket);
      } else if (frame.type === FrameType.Error) {
        const { message } = parseJsonPayload(frame) as { message?: unknown };
        fail(`the helper VM refused: ${typeof message === 'string' ? message : 'no reason given'}`);
      } else {
        fail(`unexpected frame type ${frame.type} from the helper`);
      }
    };
    const onError = (err: Error): void => {
      clearTimeout(timer);
      fail(`cannot reach the helper VM: ${err.message}`);
    };
    const onClose = (): void => {
      clearTimeout(timer);
      fail('the helper VM closed the connection');
    };
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
  });
}
