// `mvm ps`: the detached VMs (mvm run -d), like `docker ps`. Reads only the VM
// directories and probes each VMM (pid or API socket), so a VMM that died is
// shown as dead with the reason, never as running.
import type { Command } from 'commander';
import { listVms } from '../../fleet/registry.js';
import { formatPsTable, isShownByDefault, psRows } from '../../fleet/ps-table.js';

interface PsOptions {
  all?: boolean;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command('ps')
    .description('list detached VMs (mvm run -d): name, state, vCPUs, memory, uptime, boot time, pid')
    .option('-a, --all', 'also show VMs that have exited or failed')
    .option('--json', 'print a JSON array (every field, sizes in bytes, times in ms)')
    .action(async (options: PsOptions) => {
      const rows = (await psRows(listVms())).filter((row) => options.all || isShownByDefault(row));
      process.stdout.write(options.json ? `${JSON.stringify(rows, null, 2)}\n` : formatPsTable(rows));
    });
}
