// `mvm stop NAME…`: asks each guest to power off, forces it after the
// timeout, and waits until it is over; prints each name, like `docker stop`.
import type { Command } from 'commander';
import { DEFAULT_STOP_TIMEOUT_MS } from '../../api/schema.js';
import { forEachVm } from '../../fleet/lookup.js';
import { stopVm } from '../../fleet/vm-control.js';
import { UserError } from '../../errors.js';

const MS_PER_SECOND = 1000;
/** Long enough for any shutdown; a longer wait is a typo. */
const MAX_TIMEOUT_SECONDS = 3600;

function parseTimeout(text: string): number {
  const seconds = Number(text);
  if (text.trim() === '' || !Number.isFinite(seconds) || seconds < 0 || seconds > MAX_TIMEOUT_SECONDS) {
    throw new UserError(`-t must be a number of seconds from 0 to ${MAX_TIMEOUT_SECONDS}, not "${text}"`, 2);
  }
  return Math.round(seconds * MS_PER_SECOND);
}

export function register(program: Command): void {
  program
    .command('stop')
    .description('stop detached VMs gracefully: ask the guest to power off, force it after the timeout')
    .argument('<name...>', 'the VMs to stop')
    .option(
      '-t, --time <seconds>',
      `how long the guest may take to power off before it is forced (default ${DEFAULT_STOP_TIMEOUT_MS / MS_PER_SECOND})`,
    )
    .action(async (names: string[], options: { time?: string }) => {
      const timeoutMs = options.time === undefined ? DEFAULT_STOP_TIMEOUT_MS : parseTimeout(options.time);
      process.exitCode = await forEachVm(names, async (entry) => {
        await stopVm(entry, timeoutMs);
        process.stdout.write(`${entry.name}\n`);
      });
    });
}
