#!/usr/bin/env node
// mvm-runtime: an OCI runtime (the runc command line, as podman's conmon and
// containerd's runc shim call it) whose containers are mvm microVMs.
//
//   mvm-runtime [--root DIR] [--log FILE] [--log-format text|json] [--systemd-cgroup] COMMAND …
//     create --bundle DIR [--pid-file FILE] [--console-socket SOCK] ID
//     start ID | state ID | kill [--all] ID [SIGNAL] | delete [--force] ID
//     features | --version
//
// A failure is one line on stderr (and in the --log file, as JSON with
// --log-format json, which engines read back) and exit status 1.
import { appendFileSync } from 'node:fs';
import { UserError } from '../errors.js';
import { create, kill, OCI_VERSION, remove, start, state } from './lifecycle.js';
import { runShim } from './shim.js';
import { DEFAULT_STATE_ROOT, StateStore } from './state-store.js';

const RUNTIME_VERSION = '0.1.0';

interface Globals {
  root: string;
  log: string | undefined;
  logFormat: 'text' | 'json';
}

/** Options that take a value; every other option is a flag. */
const VALUED = new Set([
  '--root',
  '--log',
  '--log-format',
  '--criu',
  '--rootless',
  '--bundle',
  '-b',
  '--pid-file',
  '--console-socket',
  '--preserve-fds',
]);
/** Accepted and ignored: they choose things a microVM has no use for (cgroup managers, keyrings, pivot_root). */
const IGNORED = new Set(['--systemd-cgroup', '--debug', '--criu', '--rootless', '--no-pivot', '--no-new-keyring', '--preserve-fds']);

interface Parsed {
  options: Map<string, string | true>;
  operands: string[];
}

/** Splits argv into options (--name value, --name=value, flags) and operands, in any order. */
function parseArgs(argv: readonly string[], stopAtOperand: boolean): { parsed: Parsed; rest: string[] } {
  const options = new Map<string, string | true>();
  const operands: string[] = [];
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      operands.push(...argv.slice(i + 1));
      i = argv.length;
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      if (stopAtOperand) break;
      operands.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    if (VALUED.has(name)) {
      const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined) throw new UserError(`${name} needs a value`);
      options.set(name, value);
    } else {
      options.set(name, true);
    }
  }
  return { parsed: { options, operands }, rest: argv.slice(i) };
}

function only(parsed: Parsed, known: readonly string[], command: string): void {
  for (const name of parsed.options.keys()) {
    if (!known.includes(name) && !IGNORED.has(name)) throw new UserError(`${command}: unknown option ${name}`);
  }
}

function oneId(parsed: Parsed, command: string, extra = 0): string {
  const id = parsed.operands[0];
  if (id === undefined || parsed.operands.length > 1 + extra) throw new UserError(`${command} takes a container ID${extra ? ' and a signal' : ''}`);
  return id;
}

function logLine(globals: Globals, level: 'error' | 'warning', message: string): void {
  if (globals.log === undefined) return;
  const line =
    globals.logFormat === 'json'
      ? JSON.stringify({ level, msg: message, time: new Date().toISOString() })
      : `${new Date().toISOString()} ${level}: ${message}`;
  try {
    appendFileSync(globals.log, `${line}\n`);
  } catch {
    // A log we cannot write must not hide the message on stderr.
  }
}

function features(): Record<string, unknown> {
  return {
    ociVersionMin: '1.0.0',
    ociVersionMax: '1.1.0',
    hooks: [],
    mountOptions: ['ro', 'rw', 'bind', 'rbind', 'nosuid', 'nodev', 'noexec', 'private', 'rprivate'],
    linux: { namespaces: [], capabilities: [], cgroup: { v1: false, v2: false, systemd: false }, seccomp: { enabled: false } },
    annotations: { 'org.mvm.runtime': 'microvm' },
  };
}

async function run(argv: readonly string[], globals: Globals): Promise<void> {
  const { parsed: global, rest } = parseArgs(argv, true);
  if (global.options.has('--version') || global.options.has('-v')) {
    process.stdout.write(`mvm-runtime version ${RUNTIME_VERSION}\nspec: ${OCI_VERSION}\n`);
    return;
  }
  only(global, ['--root', '--log', '--log-format', '--help', '-h'], 'mvm-runtime');
  const root = global.options.get('--root');
  if (typeof root === 'string') globals.root = root;
  const log = global.options.get('--log');
  if (typeof log === 'string') globals.log = log;
  const format = global.options.get('--log-format');
  if (format !== undefined) {
    if (format !== 'text' && format !== 'json') throw new UserError(`--log-format must be text or json, not "${String(format)}"`);
    globals.logFormat = format;
  }
  const [command, ...args] = rest;
  if (command === undefined || global.options.has('--help') || global.options.has('-h')) {
    process.stdout.write('usage: mvm-runtime [--root DIR] [--log FILE] [--log-format text|json] create|start|state|kill|delete|features …\n');
    if (command === undefined && !global.options.has('--help') && !global.options.has('-h')) throw new UserError('no command given');
    return;
  }
  const store = new StateStore(globals.root);
  const { parsed } = parseArgs(args, false);
  switch (command) {
    case 'create': {
      only(parsed, ['--bundle', '-b', '--pid-file', '--console-socket'], command);
      const bundle = parsed.options.get('--bundle') ?? parsed.options.get('-b') ?? '.';
      await create(store, {
        id: oneId(parsed, command),
        bundle: String(bundle),
        pidFile: optional(parsed, '--pid-file'),
        consoleSocket: optional(parsed, '--console-socket'),
        runtimeEntry: process.argv[1]!,
        warn: (message) => {
          logLine(globals, 'warning', message);
          if (globals.log === undefined) process.stderr.write(`mvm-runtime: warning: ${message}\n`);
        },
      });
      return;
    }
    case 'start':
      only(parsed, [], command);
      await start(store, oneId(parsed, command));
      return;
    case 'state':
      only(parsed, [], command);
      process.stdout.write(`${JSON.stringify(state(store, oneId(parsed, command)), null, 2)}\n`);
      return;
    case 'kill':
      // --all: the container is one process tree inside one VM; the signal reaches all of it the same way.
      only(parsed, ['--all', '-a'], command);
      kill(store, oneId(parsed, command, 1), parsed.operands[1] ?? 'SIGTERM');
      return;
    case 'delete':
      only(parsed, ['--force', '-f'], command);
      await remove(store, oneId(parsed, command), parsed.options.has('--force') || parsed.options.has('-f'));
      return;
    case 'features':
      process.stdout.write(`${JSON.stringify(features(), null, 2)}\n`);
      return;
    case '__shim':
      runShim(oneId(parsed, command));
      return;
    default:
      throw new UserError(`unknown command "${command}" (create, start, state, kill, delete, features)`);
  }
}

function optional(parsed: Parsed, name: string): string | undefined {
  const value = parsed.options.get(name);
  return typeof value === 'string' ? value : undefined;
}

const globals: Globals = { root: DEFAULT_STATE_ROOT, log: undefined, logFormat: 'text' };
run(process.argv.slice(2), globals).catch((error: unknown) => {
  const message = error instanceof UserError ? error.message : `internal error: ${(error as Error).stack ?? String(error)}`;
  logLine(globals, 'error', message.split('\n')[0]!);
  process.stderr.write(`mvm-runtime: ${message.split('\n')[0]}\n`);
  process.exit(1);
});
