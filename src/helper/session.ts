// One request inside the helper VM: a child process (a warm spare turned mvm
// command, or an arbitrary command) wired to one client connection. Output
// goes out as STDOUT/STDERR frames with backpressure; STDIN, RESIZE and
// SIGNAL frames come in; the exit status is the last frame.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import {
  encodeChunked,
  encodeJsonFrame,
  FrameType,
  isForwardableSignal,
  parseJsonPayload,
  type ExitStatus,
  type Frame,
  type HelperRequest,
} from './protocol.js';
import type { SparePool } from './spare-pool.js';
import type { SpareMessage } from './spare-messages.js';

/** What a shell reports for a command that could not be found or started. */
const EXIT_CANNOT_EXECUTE = 127;
/** After a client disconnects its command gets SIGHUP, then this long before SIGKILL. */
const HANGUP_GRACE_MS = 5000;

/** The environment a request's command runs with inside the helper. */
export function requestEnv(base: Readonly<Record<string, string>>, request: HelperRequest): Record<string, string> {
  const env: Record<string, string> = { ...base, ...request.env };
  env.MVM_IN_HELPER = '1'; // the command must run here, never ask for a helper again
  if (request.interactive) env.MVM_INTERACTIVE = '1';
  else delete env.MVM_INTERACTIVE;
  if (request.terminal) {
    env.COLUMNS = String(request.terminal.cols);
    env.LINES = String(request.terminal.rows);
  }
  return env;
}

export class Session {
  private child: ChildProcess | null = null;
  private finished = false;
  private pendingInput: Frame[] = [];

  constructor(
    private readonly socket: Socket,
    private readonly request: HelperRequest,
    private readonly baseEnv: Readonly<Record<string, string>>,
    private readonly onDone: () => void,
  ) {
    socket.on('close', () => this.clientGone());
  }

  async start(spares: SparePool): Promise<void> {
    const env = requestEnv(this.baseEnv, this.request);
    if (this.request.kind === 'mvm') {
      const spare = await spares.take();
      if (spare === null) return this.fail('no node process could be started inside the helper VM');
      if (this.socket.destroyed) {
        // The client gave up while waiting for the spare: run nothing for nobody.
        spare.kill('SIGKILL');
        return this.fail('client gone');
      }
      const run: SpareMessage = { type: 'run', argv: this.request.argv, cwd: this.request.cwd, env, terminal: this.request.terminal };
      spare.send(run);
      this.attach(spare);
    } else {
      if (this.socket.destroyed) return this.fail('client gone');
      const [command, ...args] = this.request.argv;
      this.attach(spawn(command, args, { cwd: this.request.cwd, env, stdio: ['pipe', 'pipe', 'pipe'] }));
    }
    this.socket.write(encodeJsonFrame(FrameType.Accepted, { version: 1 }));
    for (const frame of this.pendingInput) this.onFrame(frame);
    this.pendingInput = [];
  }

  private attach(child: ChildProcess): void {
    this.child = child;
    this.pump(child.stdout, FrameType.Stdout);
    this.pump(child.stderr, FrameType.Stderr);
    child.stdin?.on('error', () => {
      // EPIPE: the command stopped reading; its input is of no use any more.
    });
    child.once('error', (err: NodeJS.ErrnoException) => {
      const what = this.request.argv[0];
      this.send(FrameType.Stderr, Buffer.from(`mvm helper: cannot run ${what}: ${err.code ?? err.message}\n`));
      this.finish({ code: EXIT_CANNOT_EXECUTE, signal: null });
    });
    // 'close' waits for stdout and stderr to drain, so no output is lost.
    child.once('close', (code, signal) => this.finish({ code, signal }));
  }

  private pump(stream: Readable | null, type: FrameType): void {
    if (!stream) return;
    stream.on('data', (chunk: Buffer) => {
      if (!this.send(type, chunk)) {
        stream.pause();
        this.socket.once('drain', () => stream.resume());
      }
    });
    stream.resume();
  }

  private send(type: FrameType, data: Buffer): boolean {
    if (this.socket.destroyed) return true;
    let flushed = true;
    for (const frame of encodeChunked(type, data)) flushed = this.socket.write(frame) && flushed;
    return flushed;
  }

  /** Frames after REQUEST. Input that arrives before the child exists waits. */
  onFrame(frame: Frame): void {
    const child = this.child;
    if (child === null) {
      this.pendingInput.push(frame);
      return;
    }
    switch (frame.type) {
      case FrameType.Stdin:
        if (child.stdin && !child.stdin.destroyed) child.stdin.write(frame.payload);
        break;
      case FrameType.StdinEnd:
        child.stdin?.end();
        break;
      case FrameType.Resize: {
        const size = parseJsonPayload(frame) as { cols?: unknown; rows?: unknown };
        if (typeof size.cols === 'number' && typeof size.rows === 'number' && child.connected) {
          child.send({ type: 'resize', cols: size.cols, rows: size.rows } satisfies SpareMessage);
        }
        break;
      }
      case FrameType.Signal: {
        const { signal } = parseJsonPayload(frame) as { signal?: unknown };
        if (isForwardableSignal(signal)) child.kill(signal);
        break;
      }
      default:
        this.fail(`unexpected frame type ${frame.type} from the client`);
    }
  }

  fail(message: string): void {
    if (this.finished) return;
    this.finished = true;
    if (!this.socket.destroyed) this.socket.end(encodeJsonFrame(FrameType.Error, { message }));
    this.onDone();
  }

  private finish(status: ExitStatus): void {
    if (this.finished) return;
    this.finished = true;
    if (!this.socket.destroyed) this.socket.end(encodeJsonFrame(FrameType.Exit, status));
    this.onDone();
  }

  /** The client went away: hang the command up, as a closed terminal would. */
  private clientGone(): void {
    const child = this.child;
    if (this.finished || child === null || child.exitCode !== null) return;
    child.kill('SIGHUP');
    const timer = setTimeout(() => child.kill('SIGKILL'), HANGUP_GRACE_MS);
    timer.unref();
    child.once('close', () => clearTimeout(timer));
  }
}
