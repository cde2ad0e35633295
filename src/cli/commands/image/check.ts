// mvm image check [-r leaks|all] [--json] FILE — exit 0 clean, 1 check failed, 2 corrupt, 3 leaks only.
import type { Command } from 'commander';
import { UserError } from '../../../errors.js';
import { refuseIfInUse } from '../../../disk/image-lock.js';
import { probeFormat } from '../../../disk/open.js';
import type { RepairMode } from '../../../disk/qcow2/check.js';
import { checkImage } from '../../../disk/qcow2/check.js';

/** qemu-img's exit codes, which scripts already understand. */
const EXIT_CHECK_FAILED = 1;
const EXIT_CORRUPT = 2;
const EXIT_LEAKS = 3;
const EXIT_NOT_SUPPORTED = 63;

export function registerCheck(image: Command): void {
  image
    .command('check')
    .description('check a qcow2 image for leaked clusters and corruption, optionally repairing it')
    .argument('<file>')
    .option('-r, --repair <mode>', 'leaks or all')
    .option('--json', 'machine-readable output')
    .option('--output <fmt>', 'human or json')
    .action(async (file: string, o: { repair?: string; json?: boolean; output?: string }) => {
      if (o.repair !== undefined && o.repair !== 'leaks' && o.repair !== 'all') throw new UserError('-r takes "leaks" or "all"');
      if (probeFormat(file) !== 'qcow2') throw new UserError(`${file}: only qcow2 images can be checked`, EXIT_NOT_SUPPORTED);
      if (o.repair !== undefined) await refuseIfInUse(file);
      let r: ReturnType<typeof checkImage>;
      try {
        r = checkImage(file, (o.repair ?? 'none') as RepairMode);
      } catch (err) {
        if (err instanceof UserError) throw new UserError(`check failed: ${err.message}`, EXIT_CHECK_FAILED);
        throw err;
      }
      if (o.json || o.output === 'json') {
        process.stdout.write(
          `${JSON.stringify(
            {
              filename: file,
              format: 'qcow2',
              'check-errors': 0,
              corruptions: r.corruptions,
              leaks: r.leaks,
              'corruptions-fixed': r.repairedCorruptions,
              'leaks-fixed': r.repairedLeaks,
              'allocated-clusters': r.allocatedClusters,
              'total-clusters': r.totalClusters,
              'image-end-offset': r.imageEndOffset,
            },
            null,
            2,
          )}\n`,
        );
      } else {
        const out: string[] = [];
        if (r.repairedLeaks || r.repairedCorruptions) out.push(`Repaired ${r.repairedLeaks} leaks and ${r.repairedCorruptions} corruptions.`);
        for (const m of r.messages) out.push(m);
        if (r.corruptions)
          out.push(`${r.corruptions} errors were found on the image.`, 'Data may be corrupted, or further writes to the image may corrupt it.');
        if (r.leaks) out.push(`${r.leaks} leaked clusters were found on the image.`, 'This means waste of disk space, but no harm to data.');
        if (!r.corruptions && !r.leaks) out.push('No errors were found on the image.');
        out.push(`${r.allocatedClusters} clusters in use; image end offset: ${r.imageEndOffset}`);
        process.stdout.write(`${out.join('\n')}\n`);
      }
      if (r.corruptions) process.exitCode = EXIT_CORRUPT;
      else if (r.leaks) process.exitCode = EXIT_LEAKS;
    });
}
