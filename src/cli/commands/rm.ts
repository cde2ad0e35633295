// `mvm rm [-f] NAME…`: removes stopped VMs — their directory, console log and
// throw-away disk overlays; a disk attached as persistent or read-only is the
// user's and is never deleted. A running VM is refused unless -f (which kills it).
import type { Command } from 'commander';
import { isFinalShownState, shownState } from '../../fleet/liveness.js';
import { forEachVm } from '../../fleet/lookup.js';
import { readVm, type VmEntry } from '../../fleet/registry.js';
import { killVm, removeVmFiles, stopRelay } from '../../fleet/vm-control.js';
import { UserError } from '../../errors.js';

/** Kills the VM; one that ended on its own meanwhile is fine too. */
async function killUnlessOver(entry: VmEntry): Promise<void> {
  try {
    await killVm(entry);
  } catch (err) {
    if (!(err instanceof UserError) || !isFinalShownState((await shownState(readVm(entry.name))).state)) throw err;
  }
}

export function register(program: Command): void {
  program
    .command('rm')
    .description('remove stopped detached VMs and their throw-away overlays (never a persistent disk)')
    .argument('<name...>', 'the VMs to remove')
    .option('-f, --force', 'kill a VM that is still running, then remove it')
    .action(async (names: string[], options: { force?: boolean }) => {
      process.exitCode = await forEachVm(names, async (entry) => {
        const shown = await shownState(entry);
        if (!isFinalShownState(shown.state)) {
          if (!options.force) throw new UserError(`VM ${entry.name} is ${shown.state}: stop it first (mvm stop ${entry.name}) or use mvm rm -f`);
          // Not yet a VMM to kill (run -d is still creating it): removing the directory is all there is.
          if (entry.status !== null) await killUnlessOver(entry);
        }
        stopRelay(entry);
        for (const path of removeVmFiles(entry)) {
          process.stderr.write(`mvm: kept ${path}: it is a disk attached persistent or read-only\n`);
        }
        process.stdout.write(`${entry.name}\n`);
      });
    });
}
