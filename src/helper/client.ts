// What the rest of mvm calls to run a command inside the helper VM.
//
//   runViaHelperIfNeeded(argv)  for commands that boot Linux guests (mvm run):
//     null when this host runs guests itself, else the exit status of the same
//     mvm command run inside the helper, after a one-line notice.
//   runInHelper(kind, argv)     always through the helper (mvm helper exec).
//
// The local terminal is put in raw mode when stdin is a TTY (keys, Ctrl-C
// included, go to the remote command, which sees MVM_INTERACTIVE=1) and is
// restored on every way out, signals included.
import { constants as osConstants } from 'node:os';
import { UserError } from '../errors.js';
import { RemoteCommand, type RemoteResult } from './connection.js';
import { decideHelper, detectHostKvm, helperPolicy, insideHelper } from './host-kvm.js';
import { ensureHelper, stopHelper } from './lifecycle.js';
import {
  FORWARDABLE_SIGNALS,
  PROTOCOL_VERSION,
  type ExitStatus,
  type ForwardableSignal,
  type HelperRequest,
  type RequestKind,
  type TerminalSize,
} from './protocol.js';

export { detectHostKvm, decideHelper, describeKvmKind, helperPolicy, insideHelper } from './host-kvm.js';
export type { HostKvm, KvmKind } from './host-kvm.js';

/** Shell convention for "killed by signal N": 128 + N. */
const SIGNAL_EXIT_BASE = 128;

/** Variables that describe the user's session and mvm's configuration; the rest of the host env stays home. */
const FORWARDED_ENV = [
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'TERM',
  'COLORTERM',
  'LANG',
  'LC_ALL',
  'LC_CTYPE',
  'TZ',
  'NO_COLOR',
  'FORCE_COLOR',
  'TMPDIR',
];
/** MVM_* variables go along too, except the ones about the helper itself. */
const NOT_FORWARDED_MVM = new Set(['MVM_IN_HELPER', 'MVM_HELPER', 'MVM_INTERACTIVE']);

export function forwardedEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) continue;
    const isMvm = name.startsWith('MVM_') && !NOT_FORWARDED_MVM.has(name);
    if (isMvm || FORWARDED_ENV.includes(name)) out[name] = value;
  }
  return out;
}

/** The exit status a shell would report for this remote status. */
export function exitCodeOf(status: ExitStatus): number {
  if (status.code !== null) return status.code;
  const number = status.signal ? (osConstants.signals as Record<string, number>)[status.signal] : undefined;
  return SIGNAL_EXIT_BASE + (number ?? 0);
}

function terminalSize(): TerminalSize | null {
  const { columns, rows } = process.stdout;
  return process.stdout.isTTY && columns > 0 && rows > 0 ? { cols: columns, rows } : null;
}

/**
 * After a signal has been forwarded, the remote command gets this long to
 * end before mvm stops waiting for it (a second signal stops waiting at once):
 * a helper too busy to answer must not make mvm itself unkillable.
 */
const SIGNAL_GRACE_MS = 3000;

interface StreamOutcome {
  readonly result: RemoteResult;
  /** The first signal this process received while streaming, if any. */
  readonly interruptedBy: ForwardableSignal | null;
}

/** Streams this process's stdio to a started remote command until it ends. */
async function streamThrough(remote: RemoteCommand, interactive: boolean): Promise<StreamOutcome> {
  const stdin = process.stdin;
  const onData = (chunk: Buffer): void => remote.writeStdin(chunk);
  const onEnd = (): void => remote.endStdin();
  const onResize = (): void => {
    const size = terminalSize();
    if (size) remote.resize(size);
  };
  let interruptedBy: ForwardableSignal | null = null;
  const signalHandlers = FORWARDABLE_SIGNALS.map((signal) => {
    const handler = (): void => {
      remote.signal(signal);
      if (interruptedBy !== null) {
        remote.abort();
        return;
      }
      interruptedBy = signal;
      setTimeout(() => remote.abort(), SIGNAL_GRACE_MS).unref();
    };
    process.on(signal, handler);
    return [signal, handler] as const;
  });
  const restoreTerminal = (): void => {
    if (interactive && stdin.isTTY) stdin.setRawMode(false);
  };
  // 'exit' covers process.exit() anywhere else; the signal handlers above
  // keep a signal from killing us before the remote command has ended.
  process.on('exit', restoreTerminal);
  // Raw only once the command runs: while the helper is still busy starting
  // it, Ctrl-C must stay a signal that can end the wait (see SIGNAL_GRACE_MS).
  let finished = false;
  void remote.started.then(() => {
    if (interactive && !finished) stdin.setRawMode(true);
  });
  stdin.on('data', onData);
  stdin.on('end', onEnd);
  process.stdout.on('resize', onResize);
  try {
    const result = await remote.done;
    return { result, interruptedBy };
  } finally {
    finished = true;
    restoreTerminal();
    process.off('exit', restoreTerminal);
    stdin.off('data', onData);
    stdin.off('end', onEnd);
    stdin.pause(); // or an open stdin would keep this process alive
    process.stdout.off('resize', onResize);
    for (const [signal, handler] of signalHandlers) process.off(signal, handler);
  }
}

function buildRequest(kind: RequestKind, argv: readonly string[], token: string, interactive: boolean): HelperRequest {
  return {
    version: PROTOCOL_VERSION,
    token,
    kind,
    argv: [...argv],
    cwd: process.cwd(),
    env: forwardedEnv(process.env),
    interactive,
    terminal: terminalSize(),
  };
}

/**
 * Runs `argv` inside the helper VM (kind mvm: as an mvm command; exec: as a
 * program) with this process's stdio, and resolves to its exit status.
 *
 * An mvm command on a terminal gets raw mode and MVM_INTERACTIVE=1: it drives
 * its own console (the guest echoes and edits lines). A plain program keeps
 * the terminal cooked - local echo, line editing, Ctrl-C becoming SIGINT that
 * is forwarded - because its stdin inside is a pipe that cannot do any of it.
 */
export async function runInHelper(kind: 'mvm' | 'exec', argv: readonly string[]): Promise<number> {
  const interactive = kind === 'mvm' && process.stdin.isTTY === true;
  // A helper can power itself off (idle) between our look and our request;
  // a connection dropped before the command started is then retried once.
  for (let attempt = 0; attempt < 2; attempt++) {
    const helper = await ensureHelper();
    const remote = new RemoteCommand(helper.state.hostPort, buildRequest(kind, argv, helper.token, interactive), {
      stdout: process.stdout,
      stderr: process.stderr,
    });
    const { result, interruptedBy } = await streamThrough(remote, interactive);
    if (result.kind === 'dropped' && interruptedBy !== null) {
      return exitCodeOf({ code: null, signal: interruptedBy });
    }
    switch (result.kind) {
      case 'exit':
        return exitCodeOf(result.status);
      case 'refused':
        throw new UserError(`the helper VM refused the request: ${result.message}`);
      case 'pong':
        throw new UserError('the helper VM answered a command with a ping reply');
      case 'dropped':
        if (result.accepted) throw new UserError(`lost the connection to the helper VM: ${result.reason}`);
        // Powered off (idle) or wedged: stop that one, the next round starts afresh.
        if (attempt === 0) await stopHelper(helper.files, helper.state.pid);
    }
  }
  throw new UserError('the helper VM closed the connection before running the command (see mvm helper status)');
}

/**
 * For commands that boot Linux guests: null when this host can run them
 * directly (the caller goes on locally), otherwise the exit status of the
 * same mvm command (`argv` without node and the script) run in the helper.
 */
export async function runViaHelperIfNeeded(argv: readonly string[]): Promise<number | null> {
  const decision = decideHelper(detectHostKvm(), helperPolicy(), insideHelper());
  if (decision.notice) process.stderr.write(`${decision.notice}\n`);
  if (!decision.useHelper) return null;
  return runInHelper('mvm', argv);
}
