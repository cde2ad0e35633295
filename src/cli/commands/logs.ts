// `mvm logs [-f] NAME`: what the guest wrote to its console (console.log in
// the VM's directory); -f keeps following until the VM stops.
import type { Command } from 'commander';
import { join } from 'node:path';
import { copyLog, STDOUT_SINK, vmIsOver } from '../../fleet/log-follow.js';
import { findVm } from '../../fleet/lookup.js';
import { readVm } from '../../fleet/registry.js';
import { VM_FILES } from '../../fleet/vm-dir.js';

export function register(program: Command): void {
  program
    .command('logs')
    .description("print a detached VM's console output")
    .argument('<name>', 'the VM')
    .option('-f, --follow', 'keep printing new output until the VM stops')
    .action(async (name: string, options: { follow?: boolean }) => {
      const entry = findVm(name);
      const path = join(entry.dir, VM_FILES.console);
      await copyLog(path, STDOUT_SINK, options.follow ? { isOver: vmIsOver(() => readVm(name)) } : false);
    });
}
