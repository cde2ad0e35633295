// `mvm top`: a live dashboard of the detached microVMs (src/tui), like top
// or ctop. It reads only the VMs' API sockets (found through the runtime
// directory's vms/ listing), so it runs on the host even when the VMs live
// inside the helper VM: nothing is forwarded.
import type { Command } from 'commander';
import { CLI_ENTRY } from '../../runtime/build-layout.js';
import { Dashboard } from '../../tui/dashboard.js';
import { DEFAULT_POLL_INTERVAL_MS, StatsSource } from '../../tui/stats-source.js';
import { UserError } from '../../errors.js';
import { describeError } from '../errors.js';

/** Faster than this the dashboard's own polling would show up in the VMs' CPU %; slower is a screensaver. */
const MIN_INTERVAL_S = 0.2;
const MAX_INTERVAL_S = 60;
const MS_PER_SECOND = 1000;
const EXIT_USAGE = 2;

function parseInterval(text: string): number {
  const seconds = Number(text);
  if (!Number.isFinite(seconds) || seconds < MIN_INTERVAL_S || seconds > MAX_INTERVAL_S) {
    throw new UserError(`--interval must be a number of seconds from ${MIN_INTERVAL_S} to ${MAX_INTERVAL_S}, not "${text}"`, EXIT_USAGE);
  }
  return seconds * MS_PER_SECOND;
}

export function register(program: Command): void {
  program
    .command('top')
    .description('live dashboard of the detached microVMs: CPU, memory, exits, disk and net rates (keys: ↑/↓ s c q)')
    .option('-i, --interval <seconds>', 'time between refreshes', String(DEFAULT_POLL_INTERVAL_MS / MS_PER_SECOND))
    .action(async (options: { interval: string }) => {
      const intervalMs = parseInterval(options.interval);
      if (!process.stdout.isTTY || !process.stdin.isTTY) {
        throw new UserError('mvm top needs a terminal; for a listing in scripts use mvm ps (or mvm ps --json)', EXIT_USAGE);
      }
      const cliPath = CLI_ENTRY;
      const dashboard = new Dashboard({
        source: new StatsSource({ intervalMs }),
        cliPath,
        describe: (err) => describeError(err).message,
      });
      const status = await dashboard.run();
      // Exit now: an idle keep-alive socket to a VM's API must not hold the terminal for seconds.
      process.exit(status);
    });
}
