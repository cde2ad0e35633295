// `mvm inspect NAME…`: everything known about detached VMs, as a JSON array
// (like `docker inspect`): vm.json, state.json, the shown state, and the live
// info and stats from the API when it answers.
import type { Command } from 'commander';
import { inspectVm, type VmInspection } from '../../fleet/inspect.js';
import { forEachVm } from '../../fleet/lookup.js';

export function register(program: Command): void {
  program
    .command('inspect')
    .description('print everything known about detached VMs as JSON (record, state, live info and stats)')
    .argument('<name...>', 'the VMs')
    .action(async (names: string[]) => {
      const found: VmInspection[] = [];
      process.exitCode = await forEachVm(names, async (entry) => {
        found.push(await inspectVm(entry));
      });
      process.stdout.write(`${JSON.stringify(found, null, 2)}\n`);
    });
}
