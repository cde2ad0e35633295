// mvm image rebase -b BACKING [-F FMT] [-u] FILE
import type { Command } from 'commander';
import { rebaseImage } from '../../../disk/rebase.js';
import { formatOption } from './options.js';

export function registerRebase(image: Command): void {
  image
    .command('rebase')
    .description('change the backing file of an overlay, keeping its contents (or only the name with -u)')
    .argument('<file>')
    .requiredOption('-b, --backing <base>', 'new backing file ("" for none)')
    .option('-F, --backing-format <fmt>', 'format of the new backing file')
    .option('-u, --unsafe', 'only rewrite the backing file name')
    .action(async (file: string, o: { backing: string; backingFormat?: string; unsafe?: boolean }) => {
      await rebaseImage(file, o.backing || undefined, { format: formatOption(o.backingFormat, 'backing format'), unsafe: o.unsafe });
    });
}
