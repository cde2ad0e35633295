// mvm image resize [--shrink] [-f raw|qcow2] FILE [+|-]SIZE
import type { Command } from 'commander';
import { resizeImage } from '../../../disk/resize.js';
import { formatSize } from '../../../units/size.js';
import { formatOption } from './options.js';

export function registerResize(image: Command): void {
  image
    .command('resize')
    .description('change the virtual size: SIZE (10G), +SIZE or -SIZE; shrinking needs --shrink')
    .argument('<file>')
    .argument('<size>', 'new size, or +/- a size (write -- before a negative one: resize --shrink IMG -- -1G)')
    .option('--shrink', 'allow making the image smaller (data past the new end is lost)')
    .option('-f, --format <fmt>', 'raw or qcow2 (probed if omitted)')
    .action(async (file: string, size: string, o: { shrink?: boolean; format?: string }) => {
      const { from, to } = await resizeImage(file, size, { shrink: o.shrink, format: formatOption(o.format, 'format') });
      process.stdout.write(`Image resized from ${formatSize(from)} to ${formatSize(to)}.\n`);
    });
}
