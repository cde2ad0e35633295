// mvm image commit FILE
import type { Command } from 'commander';
import { commitImage } from '../../../disk/commit.js';
import { formatSize } from '../../../units/size.js';

export function registerCommit(image: Command): void {
  image
    .command('commit')
    .description("write an overlay's changes into its backing file and empty the overlay")
    .argument('<file>')
    .action(async (file: string) => {
      const { bytes } = await commitImage(file);
      process.stdout.write(`Image committed (${formatSize(bytes)}).\n`);
    });
}
