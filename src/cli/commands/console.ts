// `mvm console NAME`: attach this terminal to a detached VM's console;
// Ctrl-] detaches and leaves the VM running.
import type { Command } from 'commander';
import { openConsole, relayConsole } from '../../fleet/console-attach.js';
import { apiSocketPath, isFinalShownState, shownState } from '../../fleet/liveness.js';
import { findVm } from '../../fleet/lookup.js';
import { ApiUnreachable } from '../../api/client.js';
import { UserError } from '../../errors.js';

/** Like a shell's status for a command ended by a signal (128 + SIGINT/SIGTERM's usual 2). */
const EXIT_SIGNALLED = 130;

export function register(program: Command): void {
  program
    .command('console')
    .description("attach to a detached VM's console (Ctrl-] detaches, the VM keeps running)")
    .argument('<name>', 'the VM')
    .action(async (name: string) => {
      const entry = findVm(name);
      const shown = await shownState(entry);
      if (isFinalShownState(shown.state)) {
        throw new UserError(`VM ${name} is not running (${shown.reason ? `${shown.state}: ${shown.reason}` : shown.state}); see mvm logs ${name}`);
      }
      let connection: Awaited<ReturnType<typeof openConsole>>;
      try {
        connection = await openConsole(apiSocketPath(entry));
      } catch (err) {
        if (err instanceof ApiUnreachable) throw new UserError(`cannot attach to ${name}: ${err.message}`);
        throw err;
      }
      if ((await relayConsole(connection.socket, connection.head, name)) === 'signal') process.exitCode = EXIT_SIGNALLED;
    });
}
