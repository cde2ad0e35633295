// `mvm __vmm NAME`: the VMM process of a detached microVM, started by
// `mvm run -d` (src/fleet/detach.ts), never by hand; hidden from the help.
import type { Command } from 'commander';
import { runVmm } from '../../fleet/vmm-process.js';

export function register(program: Command): void {
  program
    .command('__vmm', { hidden: true })
    .argument('<name>', 'the VM, whose vms/<name>/vm.json says what to boot')
    .action(async (name: string) => {
      await runVmm(name);
    });
}
