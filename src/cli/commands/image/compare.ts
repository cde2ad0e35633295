// mvm image compare [-f FMT] [-F FMT] [-s] [-q] A B — exit 0 identical, 1 different, 2 error (qemu-img's codes).
import type { Command } from 'commander';
import { UserError } from '../../../errors.js';
import { describeError } from '../../errors.js';
import type { SyncDisk } from '../../../disk/backend.js';
import { compareImages } from '../../../disk/compare.js';
import { openSync } from '../../../disk/open.js';
import { formatOption } from './options.js';

const EXIT_DIFFERENT = 1;
const EXIT_ERROR = 2;

export function registerCompare(image: Command): void {
  image
    .command('compare')
    .description('check whether two images read the same (any formats, backing chains followed)')
    .argument('<a>')
    .argument('<b>')
    .option('-f, --format <fmt>', 'format of A (probed if omitted)')
    .option('-F, --format-b <fmt>', 'format of B (probed if omitted)')
    .option('-s, --strict', 'images of different sizes differ, even if the extra part is zeros')
    .option('-q, --quiet', 'print nothing; the exit status says it')
    .action((a: string, b: string, o: { format?: string; formatB?: string; strict?: boolean; quiet?: boolean }) => {
      const say = (line: string): void => {
        if (!o.quiet) process.stdout.write(`${line}\n`);
      };
      const disks: SyncDisk[] = [];
      let result: ReturnType<typeof compareImages>;
      try {
        disks.push(openSync(a, { readOnly: true, format: formatOption(o.format, 'format') }));
        disks.push(openSync(b, { readOnly: true, format: formatOption(o.formatB, 'format') }));
        if (o.strict && disks[0]!.size !== disks[1]!.size) {
          say('Strict mode: Image size mismatch!');
          process.exitCode = EXIT_DIFFERENT;
          return;
        }
        result = compareImages(disks[0]!, disks[1]!);
      } catch (err) {
        // Anything that stops the comparison is exit 2, as qemu-img has it, so scripts can tell it from "different".
        throw new UserError(describeError(err).message, EXIT_ERROR);
      } finally {
        for (const d of disks) d.closeSync();
      }
      if (result.sizeMismatch) say('Warning: Image size mismatch!');
      if (result.mismatchAt !== undefined) {
        say(`Content mismatch at offset ${result.mismatchAt}!`);
        process.exitCode = EXIT_DIFFERENT;
      } else say('Images are identical.');
    });
}
