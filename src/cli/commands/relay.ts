// `mvm __relay NAME`: the host-side relay of a detached VM's API socket when
// its VMM runs inside the helper VM, started by `mvm run -d`
// (src/fleet/api-relay.ts), never by hand; hidden from the help.
import type { Command } from 'commander';
import { runApiRelay } from '../../fleet/api-relay.js';

export function register(program: Command): void {
  program
    .command('__relay', { hidden: true })
    .argument('<name>', 'the VM whose vms/<name>/api.sock to relay')
    .action(async (name: string) => {
      await runApiRelay(name);
    });
}
