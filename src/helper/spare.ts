// A warm spare: a node process inside the helper VM that has already paid
// node's start-up (about 3 s under emulation) and loaded mvm's command
// modules, and now waits for one request over its IPC channel. It then
// becomes that mvm command: same argv, cwd, environment and stdio, as if it
// had just been started, and exits when the command is done.
//
// Only the daemon starts this file (src/helper/spare-pool.ts).
import { CLI_ENTRY } from '../runtime/build-layout.js';
import type { SpareMessage } from './spare-messages.js';

function setTerminalSize(cols: number, rows: number): void {
  // stdout is a pipe here; commands that size their output ask these.
  for (const stream of [process.stdout, process.stderr]) {
    Object.defineProperty(stream, 'columns', { value: cols, configurable: true, writable: true });
    Object.defineProperty(stream, 'rows', { value: rows, configurable: true, writable: true });
  }
  process.stdout.emit('resize');
}

async function becomeCommand(message: Extract<SpareMessage, { type: 'run' }>): Promise<void> {
  // Only the resize messages still matter; they must not keep us alive.
  process.channel?.unref();
  for (const name of Object.keys(process.env)) delete process.env[name];
  Object.assign(process.env, message.env);
  try {
    process.chdir(message.cwd);
  } catch {
    process.stderr.write(`mvm: the working directory ${message.cwd} does not exist inside the helper VM\n`);
    process.exit(1);
  }
  if (message.terminal) setTerminalSize(message.terminal.cols, message.terminal.rows);
  process.argv = [process.execPath, CLI_ENTRY, ...message.argv];
  await import(CLI_ENTRY);
}

process.on('message', (raw: unknown) => {
  const message = raw as SpareMessage;
  if (message.type === 'run') {
    becomeCommand(message).catch((err: unknown) => {
      process.stderr.write(`mvm: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(70);
    });
  } else if (message.type === 'resize') {
    setTerminalSize(message.cols, message.rows);
  }
});

// Loading the command modules now (commander, every command, the KVM layer
// they import) is what makes the request fast later: the CLI entry's own
// imports then come from the module cache.
try {
  await import('commander');
  // A process entry point that becomes the CLI: it may import src/cli (scripts/check-layers.mjs).
  const commands = await import('../cli/commands/index.js');
  await commands.loadAllCommandModules();
} catch (err) {
  // A half-written build (tsc running right now) or a broken module: the
  // daemon starts another spare; one that keeps failing is not retried.
  process.stderr.write(`mvm spare: preloading failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
process.send?.({ type: 'ready' } satisfies SpareMessage);
