// `mvm kill NAME…`: stops each VM at once, without asking the guest (its
// disks get no clean shutdown); prints each name, like `docker kill`.
import type { Command } from 'commander';
import { forEachVm } from '../../fleet/lookup.js';
import { killVm } from '../../fleet/vm-control.js';

export function register(program: Command): void {
  program
    .command('kill')
    .description('stop detached VMs at once, without a guest shutdown')
    .argument('<name...>', 'the VMs to kill')
    .action(async (names: string[]) => {
      process.exitCode = await forEachVm(names, async (entry) => {
        await killVm(entry);
        process.stdout.write(`${entry.name}\n`);
      });
    });
}
